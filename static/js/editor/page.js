// The editor page: wires the toolbar, palette, status line, conflict banner and help overlay
// to one Editor and one MaskStore. Everything page-specific lives here, not in the editor.
import { MaskStore, SaveConflict } from "./api.js";
import { Editor } from "./editor.js";
import { bindShortcuts, SHORTCUTS } from "./keyboard.js";
import { loadSuperpixels, SuperpixelsNotReady } from "./superpixels.js";
import { bindWindow } from "./window.js";

export const SUPERPIXELS_LOADING = "Loading the superpixels…";
const SUPERPIXELS_RETRY_MS = [5_000, 10_000, 20_000, 40_000, 60_000]; // then every minute

export class EditorPage {
  #island;
  #config;
  #teardowns = [];
  #superpixelsAbort = new AbortController();
  editor;
  store;
  superpixels = null;
  baseVersion = 0;
  saving = false;
  lastSave = null;

  constructor(island) {
    this.#island = island;
    this.#config = JSON.parse(island.querySelector("script[type=\"application/json\"]").textContent);
    const config = this.#config;
    const csrfToken = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    this.editor = new Editor(this.#el("[data-viewport]"), {
      width: config.width, height: config.height, classes: config.classes,
      unpainted: config.unpainted, readOnly: !config.canEdit, imageUrl: config.urls.image,
    });
    this.store = new MaskStore({ urls: config.urls, csrfToken, width: config.width, height: config.height });
    this.#bindControls();
    this.#bindEditorEvents();
    if (config.window) {
      const show = (url) => this.editor.setImageUrl(url);
      this.#teardowns.push(bindWindow(this.#el("[data-editor-controls]"), config.window, config.urls.image, show));
    }
    this.#teardowns.push(bindShortcuts(document, this.#shortcutHandlers()), this.#guardUnload());
    this.#buildHelp();
    this.#loadCurrent();
    this.#loadSuperpixels();
  }

  destroy() {
    this.#superpixelsAbort.abort();
    for (const teardown of this.#teardowns.splice(0)) teardown();
    this.editor.destroy();
  }

  // ------------------------------------------------------------------ server round trips

  async #loadCurrent(message = "") {
    this.#island.removeAttribute("data-ready");
    this.#status("Loading the mask…");
    try {
      const { labels, version, source } = await this.store.load();
      this.editor.load(labels);
      this.baseVersion = version;
      this.#status(message || (version ? `Version ${version} (${source}).` : "No mask yet: start painting."));
      this.#island.setAttribute("data-ready", "");
    } catch (error) {
      this.#status(error.message, "error");
    }
  }

  /** Fetch the image's superpixels in the background; while the server computes them, try again later. */
  async #loadSuperpixels(attempt = 0) {
    const url = this.#config.urls.superpixels;
    if (!url || !this.#config.canEdit) { this.#showSuperpixels(""); return; } // nothing to paint with them
    const signal = this.#superpixelsAbort.signal;
    this.#showSuperpixels(SUPERPIXELS_LOADING);
    try {
      const superpixels = await loadSuperpixels(url, { signal });
      this.editor.setSuperpixels(superpixels);
      this.superpixels = superpixels;
      this.#showSuperpixels("");
      this.#island.setAttribute("data-superpixels", String(superpixels.count));
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof SuperpixelsNotReady) {
        this.#showSuperpixels(error.message);
        const delay = SUPERPIXELS_RETRY_MS[Math.min(attempt, SUPERPIXELS_RETRY_MS.length - 1)];
        const timer = setTimeout(() => this.#loadSuperpixels(attempt + 1), delay);
        signal.addEventListener("abort", () => clearTimeout(timer));
      } else {
        this.#showSuperpixels(error.message);
      }
    }
  }

  #cleanup(action) {
    const editor = this.editor;
    const name = editor.classIndex === this.#config.unpainted ? "“unpainted”"
      : `“${this.#config.classes.find((c) => c.index === editor.classIndex)?.name ?? editor.classIndex}”`;
    if (action === "holes") {
      const changed = editor.fillHoles();
      this.#status(changed ? `Filled ${changed.toLocaleString("en")} pixels of holes in ${name}.` : `${name} has no holes.`);
    } else {
      const input = this.#el("[data-island-size]");
      const minSize = Math.max(1, Math.min(Number(input.max) || 1e9, Math.round(Number(input.value)) || 1));
      input.value = String(minSize);
      this.#el("[data-viewport]").focus({ preventScroll: true }); // the shortcuts work again
      const changed = editor.removeIslands(minSize);
      this.#status(changed ? `Removed ${changed.toLocaleString("en")} pixels of ${name} islands under ${minSize} px.`
        : `${name} has no islands under ${minSize} px.`);
    }
  }

  async save({ andNext = false } = {}) {
    if (!this.#config.canEdit || this.saving) return;
    this.saving = true;
    this.#setBusy(true);
    this.#status("Saving…");
    const stateId = this.editor.stateId; // save() reads the labels before its first await
    const editingSeconds = this.editor.editingSeconds;
    try {
      const result = await this.store.save(this.editor.labels, { baseVersion: this.baseVersion, editingSeconds });
      this.lastSave = result;
      this.baseVersion = result.version;
      this.editor.resetClock(editingSeconds);
      this.editor.markSaved(result.version, stateId);
      this.#status(`Saved as version ${result.version}.`, "ok");
      if (andNext) window.location.assign(this.#config.urls.next);
    } catch (error) {
      if (error instanceof SaveConflict) {
        this.editor.resetClock(editingSeconds); // that time is stored with the conflict version
        this.#showConflict(error);
      } else {
        this.#status(error.message, "error");
      }
    } finally {
      this.saving = false;
      this.#setBusy(false);
    }
  }

  async #prefill() {
    this.#status("Asking the model for a starting mask…");
    this.#setBusy(true);
    try {
      const { labels, source } = await this.store.prefill();
      this.editor.replaceAll(labels);
      const origin = source === "prediction" ? "the active model's prediction" : `the latest ${source} mask`;
      this.#status(`Started from ${origin}. Undo (Ctrl+Z) goes back.`, "ok");
    } catch (error) {
      this.#status(error.message, "error");
    } finally {
      this.#setBusy(false);
    }
  }

  #showConflict(conflict) {
    const banner = this.#el("[data-conflict]");
    this.#el("[data-conflict-message]").textContent = conflict.message;
    banner.hidden = false;
    this.#status("Not saved as the current mask: someone else saved first.", "error");
    const close = () => { banner.hidden = true; };
    this.#el("[data-reload-theirs]").onclick = () => {
      close();
      this.#loadCurrent(`Loaded their version ${conflict.currentVersion}; yours is kept as version ${conflict.savedVersion}.`);
    };
    this.#el("[data-keep-editing]").onclick = () => {
      close();
      this.baseVersion = conflict.currentVersion;
      this.#status(`Keep editing: your next save replaces version ${conflict.currentVersion}.`);
    };
  }

  // ------------------------------------------------------------------ controls

  #bindControls() {
    const editor = this.editor;
    const on = (selector, type, handler) => {
      for (const el of this.#island.querySelectorAll(selector)) {
        el.addEventListener(type, handler);
        this.#teardowns.push(() => el.removeEventListener(type, handler));
      }
    };
    // Buttons must not keep the focus: Space and Enter belong to the canvas.
    on("[data-editor-controls] button", "pointerdown", (event) => event.preventDefault());
    on("[data-tool]", "click", (event) => editor.setTool(event.currentTarget.dataset.tool));
    on("[data-class-index]", "click", (event) => editor.setClass(Number(event.currentTarget.dataset.classIndex)));
    on("[data-size]", "input", (event) => editor.setSize(Number(event.currentTarget.value)));
    on("[data-opacity]", "input", (event) => editor.setOpacity(Number(event.currentTarget.value) / 100));
    on("[data-show-mask]", "change", (event) => editor.setMaskVisible(event.currentTarget.checked));
    on("[data-fit]", "click", () => editor.fit());
    on("[data-undo]", "click", () => editor.undo());
    on("[data-redo]", "click", () => editor.redo());
    on("[data-save]", "click", () => this.save());
    on("[data-save-next]", "click", () => this.save({ andNext: true }));
    on("[data-prefill]", "click", () => this.#prefill());
    on("[data-only-unpainted]", "change", (event) => editor.setOnlyUnpainted(event.currentTarget.checked));
    editor.setOnlyUnpainted(this.#el("[data-only-unpainted]").checked); // a reload may keep the box ticked
    on("[data-fill-holes]", "click", () => this.#cleanup("holes"));
    on("[data-remove-islands]", "click", () => this.#cleanup("islands"));
    on("[data-island-size]", "keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); this.#cleanup("islands"); }
    });
    on("[data-help-open]", "click", () => this.#toggleHelp());
    editor.setOpacity(Number(this.#el("[data-opacity]").value) / 100);
    this.#el("[data-size]").value = String(editor.size);
    this.#showTool();
    this.#showHistory();
  }

  #bindEditorEvents() {
    this.editor.addEventListener("toolchange", () => this.#showTool());
    this.editor.addEventListener("dirty", (event) => {
      const dirty = event.detail.dirty;
      this.#island.toggleAttribute("data-dirty", dirty);
      this.#el("[data-unsaved]").hidden = !dirty;
      document.title = (dirty ? "● " : "") + document.title.replace(/^● /, "");
      this.#showHistory();
    });
  }

  #shortcutHandlers() {
    const editor = this.editor;
    const classes = this.#config.classes;
    return {
      class: (event, position) => { if (classes[position]) editor.setClass(classes[position].index); },
      brush: () => editor.setTool("brush"),
      eraser: () => editor.setTool("eraser"),
      polygon: () => editor.setTool("polygon"),
      fill: () => editor.setTool("fill"),
      superpixel: () => editor.setTool("superpixel"),
      smaller: () => editor.stepSize(-1),
      larger: () => editor.stepSize(1),
      toggleMask: () => { this.#el("[data-show-mask]").checked = editor.toggleMask(); },
      fit: () => editor.fit(),
      undo: () => editor.undo(),
      redo: () => editor.redo(),
      save: () => this.save(),
      closePolygon: () => editor.closePolygon(),
      cancel: () => { const help = this.#el("[data-help]"); if (help.open) help.close(); else editor.cancelPolygon(); },
      dropPoint: () => editor.dropPolygonPoint(),
      help: () => this.#toggleHelp(),
    };
  }

  #guardUnload() {
    const onBeforeUnload = (event) => {
      if (!this.#config.canEdit || !this.editor.isDirty) return;
      event.preventDefault();
      event.returnValue = ""; // older browsers need it to ask
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }

  // ------------------------------------------------------------------ showing state

  #showTool() {
    const { tool, classIndex, size } = this.editor;
    for (const el of this.#island.querySelectorAll("[data-tool]")) el.setAttribute("aria-pressed", String(el.dataset.tool === tool));
    for (const el of this.#island.querySelectorAll("[data-class-index]")) {
      el.setAttribute("aria-pressed", String(Number(el.dataset.classIndex) === classIndex));
    }
    this.#island.dataset.tool = tool;
    this.#island.dataset.currentClass = String(classIndex);
    this.#el("[data-size]").value = String(size);
    this.#el("[data-size-value]").textContent = `${size} px`;
  }

  #showHistory() {
    this.#el("[data-undo]").disabled = !this.editor.canUndo;
    this.#el("[data-redo]").disabled = !this.editor.canRedo;
  }

  /** Enable the superpixel tool once they are loaded; otherwise say why not. */
  #showSuperpixels(reason) {
    const button = this.#el("[data-tool='superpixel']");
    if (!button) return;
    button.disabled = Boolean(reason) || !this.#config.canEdit;
    button.title = reason || button.dataset.title;
  }

  #setBusy(busy) {
    if (!this.#config.canEdit) return;
    for (const el of this.#island.querySelectorAll("[data-save], [data-save-next], [data-prefill]")) el.disabled = busy;
  }

  #status(text, kind = "") {
    const status = this.#el("[data-status]");
    status.textContent = text;
    status.className = `editor-status ${kind}`;
  }

  #buildHelp() {
    const rows = SHORTCUTS.filter((s) => s.help).map((s) => {
      const row = document.createElement("tr");
      const keys = document.createElement("td");
      const kbd = document.createElement("kbd");
      kbd.textContent = s.label;
      keys.append(kbd);
      const help = document.createElement("td");
      help.textContent = s.help;
      row.append(keys, help);
      return row;
    });
    this.#el("[data-help-rows]").replaceChildren(...rows);
  }

  #toggleHelp() {
    const dialog = this.#el("[data-help]");
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  #el(selector) { return this.#island.querySelector(selector); }
}
