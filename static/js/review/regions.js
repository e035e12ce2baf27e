// Review by region: the item's doubtful superpixels outlined on a canvas over the image, the
// one under the cursor (or reached with Tab) highlighted; 1 takes the SU teacher's label for
// it, 2 the RU teacher's, p (or a click while p is held, or the button) paints it with the
// picked class, k keeps the pseudo-label; "Accept the rest" (a) or "Finish partially" (f)
// sends the decisions, per-region times and keys to the server, which composes the mask.
// The canvas only previews: the server never takes a mask from here.
import { loadSuperpixels, SuperpixelsNotReady } from "../editor/superpixels.js";

const OUTLINE = { doubtful: [250, 204, 21], decided: [34, 197, 94], current: [255, 255, 255] };
const FILL_ALPHA = 150;
const CURRENT_ALPHA = 200;
const MAX_KEYS = 100; // per region, as the server accepts
const SOURCE_KEYS = { su: "1", ru: "2", paint: "p", pseudo: "k" };
// Per region, in #state
const DOUBTFUL = 1, DECIDED = 2, CURRENT = 4;

const STATUS = ({ doubtful, decided }) =>
  `${doubtful} doubtful region${doubtful === 1 ? "" : "s"} outlined; ${decided} region${decided === 1 ? "" : "s"} decided.`;
const NO_DOUBTFUL = "No doubtful region: every region is confident and the teachers agree.";
const NOT_READY = "This image's superpixels are not ready yet: review it as a whole for now.";
const NO_TEACHERS = "This item has no teachers' labels stored: paint the regions or keep the pseudo-label.";
const NO_REGION = "Point at a region, or press Tab to go to the next doubtful one.";
const SOURCE_WORDS = { su: "SU teacher", ru: "RU teacher", paint: "painted", pseudo: "pseudo-label kept" };

async function rgbaOf(url, width, height) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`Loading ${url} failed (${response.status}).`);
  const bitmap = await createImageBitmap(await response.blob(), { premultiplyAlpha: "none", colorSpaceConversion: "none" });
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  return context.getImageData(0, 0, width, height).data;
}

function rgb(hex) {
  const value = parseInt(hex.replace("#", ""), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

/** 1 where a 4-neighbour belongs to another region: each region's inner outline. */
function edges(superpixels) {
  const { width, height, labels } = superpixels;
  const edge = new Uint8Array(labels.length);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const id = labels[i];
      edge[i] = (x > 0 && labels[i - 1] !== id) || (x < width - 1 && labels[i + 1] !== id)
        || (y > 0 && labels[i - width] !== id) || (y < height - 1 && labels[i + width] !== id) ? 1 : 0;
    }
  }
  return edge;
}

export class RegionReview {
  #panel;
  #canvas;
  #context;
  #frame;
  #superpixels = null;
  #edge;
  #layers = {}; // pseudo, su, ru: RGBA bytes in class colours
  #doubtful = []; // region ids, most doubtful first
  #info = new Map(); // id -> {confidence, disagreement}
  #state; // Uint8Array per region: DOUBTFUL | DECIDED | CURRENT
  #decisions = new Map(); // id -> {source, class?}, in the order decided
  #activity = new Map(); // id -> {seconds, keys}
  #current = -1;
  #currentSince = 0;
  #started = 0;
  #teachers = false;
  #paintHeld = false;
  #busy = false;
  #teardown = [];
  ready = null; // resolves when the regions are drawn

  constructor({ panel, canvas }) {
    this.#panel = panel;
    this.#canvas = canvas;
    this.#context = canvas.getContext("2d");
    panel.regionReview = this;
  }

  get active() { return !this.#panel.hidden; }

  /** Show the panel and the canvas; the first call loads the regions. */
  open() {
    this.#panel.hidden = false;
    this.#canvas.hidden = false;
    if (!this.ready) this.ready = this.#load();
    return this.ready;
  }

  close() {
    this.#setCurrent(-1);
    this.#panel.hidden = true;
    this.#canvas.hidden = true;
  }

  async #load() {
    this.#started = performance.now();
    try {
      const response = await fetch(this.#panel.dataset.regionsUrl, { credentials: "same-origin", cache: "no-store" });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `Loading the regions failed (${response.status}).`);
      const { width, height } = body;
      const [superpixels, pseudo, su, ru] = await Promise.all([
        loadSuperpixels(body.superpixels_url),
        rgbaOf(body.layers.labels, width, height),
        body.teachers ? rgbaOf(body.layers.su, width, height) : null,
        body.teachers ? rgbaOf(body.layers.ru, width, height) : null,
      ]);
      if (superpixels.width !== width || superpixels.height !== height) {
        throw new Error("The superpixels do not have the image's size.");
      }
      this.#superpixels = superpixels;
      this.#layers = { pseudo, su, ru };
      this.#teachers = body.teachers;
      this.#edge = edges(superpixels);
      this.#state = new Uint8Array(superpixels.count);
      for (const region of body.regions) {
        this.#doubtful.push(region.id);
        this.#info.set(region.id, region);
        this.#state[region.id] |= DOUBTFUL;
      }
      this.#frame = this.#context.createImageData(width, height);
      this.#drawAll();
      this.#bind();
      this.#panel.querySelectorAll("[data-take='su'], [data-take='ru']").forEach((b) => { b.disabled = !this.#teachers; });
      this.#showStatus(this.#teachers ? "" : NO_TEACHERS);
      this.#panel.dataset.ready = "";
    } catch (error) {
      this.#showError(error instanceof SuperpixelsNotReady ? NOT_READY : error.message);
      this.#panel.querySelector("[data-region-status]").textContent = "";
      throw error;
    }
  }

  #bind() {
    const on = (target, type, handler) => {
      target.addEventListener(type, handler);
      this.#teardown.push(() => target.removeEventListener(type, handler));
    };
    on(this.#canvas, "pointermove", (event) => this.#setCurrent(this.#regionAt(event)));
    on(this.#canvas, "pointerdown", (event) => {
      const id = this.#regionAt(event);
      this.#setCurrent(id);
      if (this.#paintHeld && id >= 0) this.decide("paint", "click");
    });
    on(document, "keyup", (event) => { if (event.key.toLowerCase() === "p") this.#paintHeld = false; });
    on(window, "blur", () => { this.#paintHeld = false; });
    this.#panel.querySelectorAll("[data-take]").forEach((button) => {
      on(button, "click", () => this.decide(button.dataset.take, "button"));
    });
    on(this.#panel.querySelector("[data-next]"), "click", () => this.next(1, "button"));
    this.#panel.querySelectorAll("[data-finish]").forEach((button) => {
      on(button, "click", () => this.finish(button.dataset.finish));
    });
  }

  /** Remove the listeners this review added. */
  destroy() { this.#teardown.splice(0).forEach((undo) => undo()); }

  /** The page's keys while the panel is open; true when the key was this review's. */
  handleKey(event) {
    if (!this.active || !this.#superpixels) return false;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "Tab") this.next(event.shiftKey ? -1 : 1, event.shiftKey ? "shift+tab" : "tab");
    else if (key === "1") this.decide("su", "1");
    else if (key === "2") this.decide("ru", "2");
    else if (key === "k") this.decide("pseudo", "k");
    else if (key === "p") {
      if (!event.repeat) this.decide("paint", "p");
      this.#paintHeld = true;
    } else if (key === "c") this.#cycleClass();
    else if (key === "a") this.finish("accept");
    else if (key === "f") this.finish("partial");
    else return false;
    return true;
  }

  #regionAt(event) {
    const box = this.#canvas.getBoundingClientRect();
    const { width, height } = this.#superpixels;
    const x = Math.floor(((event.clientX - box.left) * width) / box.width);
    const y = Math.floor(((event.clientY - box.top) * height) / box.height);
    return this.#superpixels.idAt(x, y);
  }

  #pickedClass() {
    const input = this.#panel.querySelector("input[name='region-class']:checked");
    return input ? { index: Number(input.value), colour: rgb(input.dataset.color) } : null;
  }

  #cycleClass() {
    const inputs = [...this.#panel.querySelectorAll("input[name='region-class']")];
    const at = inputs.findIndex((input) => input.checked);
    if (inputs.length) inputs[(at + 1) % inputs.length].checked = true;
  }

  /** Decide the current region: source "su" | "ru" | "paint" | "pseudo"; how: the key or "button". */
  decide(source, how) {
    const id = this.#current;
    if (this.#busy) return;
    if (id < 0) return this.#showError(NO_REGION);
    this.#showError("");
    if ((source === "su" || source === "ru") && !this.#teachers) return this.#showError(NO_TEACHERS);
    let decision = { source };
    if (source === "paint") {
      const picked = this.#pickedClass();
      if (!picked) return;
      decision = { source, class: picked.index, colour: picked.colour };
    }
    this.#decisions.delete(id); // re-deciding moves it to the end of the order
    this.#decisions.set(id, decision);
    this.#state[id] |= DECIDED;
    this.#log(id, how);
    this.#drawRegion(id);
    this.#showStatus();
  }

  /** Move to the next (step 1) or previous (-1) doubtful region, the undecided ones first. */
  next(step = 1, how = "tab") {
    const order = this.#doubtful;
    if (!order.length) return;
    const at = order.indexOf(this.#current);
    const from = at >= 0 ? at : step > 0 ? -1 : 0;
    const nth = (k) => order[(((from + step * k) % order.length) + order.length) % order.length];
    let pick = -1;
    for (let k = 1; k <= order.length && pick < 0; k++) if (!this.#decisions.has(nth(k))) pick = nth(k);
    if (pick < 0) pick = nth(1);
    this.#setCurrent(pick);
    this.#log(pick, how);
  }

  #log(id, key) {
    const entry = this.#activityOf(id);
    if (entry.keys.length < MAX_KEYS) entry.keys.push(key);
  }

  #activityOf(id) {
    let entry = this.#activity.get(id);
    if (!entry) this.#activity.set(id, (entry = { seconds: 0, keys: [] }));
    return entry;
  }

  #setCurrent(id) {
    if (id === this.#current) return;
    const now = performance.now();
    const previous = this.#current;
    if (previous >= 0) {
      this.#activityOf(previous).seconds += (now - this.#currentSince) / 1000;
      this.#state[previous] &= ~CURRENT;
      this.#drawRegion(previous);
    }
    this.#current = id;
    this.#currentSince = now;
    if (id >= 0) {
      this.#state[id] |= CURRENT;
      this.#drawRegion(id);
    }
    this.#showCurrent();
  }

  /** Colour every pixel of region `id` into the frame (pixels: its flat indices). */
  #paintPixels(id, pixels) {
    const data = this.#frame.data;
    const state = this.#state[id];
    const decision = this.#decisions.get(id);
    const source = decision ? ({ su: this.#layers.su, ru: this.#layers.ru }[decision.source] ?? null) : null;
    const base = source ?? this.#layers.pseudo;
    const outline = state & CURRENT ? OUTLINE.current : state & DECIDED ? OUTLINE.decided : state & DOUBTFUL ? OUTLINE.doubtful : null;
    const lift = state & CURRENT ? 0.35 : 0;
    const alpha = state & CURRENT ? CURRENT_ALPHA : FILL_ALPHA;
    for (let k = 0; k < pixels.length; k++) {
      const p = pixels[k], o = 4 * p;
      if (outline && this.#edge[p]) {
        data[o] = outline[0]; data[o + 1] = outline[1]; data[o + 2] = outline[2]; data[o + 3] = 255;
        continue;
      }
      let r, g, b, a;
      if (decision && decision.source === "paint") {
        [r, g, b] = decision.colour; a = alpha;
      } else {
        r = base[o]; g = base[o + 1]; b = base[o + 2]; a = base[o + 3] ? alpha : (lift ? 90 : 0);
      }
      data[o] = r + (255 - r) * lift; data[o + 1] = g + (255 - g) * lift; data[o + 2] = b + (255 - b) * lift; data[o + 3] = a;
    }
  }

  #drawRegion(id) {
    if (id < 0 || !this.#frame) return;
    this.#paintPixels(id, this.#superpixels.pixelsOf(id));
    const { x0, y0, x1, y1 } = this.#superpixels.boundsOf(id);
    if (x1 > x0 && y1 > y0) this.#context.putImageData(this.#frame, 0, 0, x0, y0, x1 - x0, y1 - y0);
  }

  #drawAll() {
    for (let id = 0; id < this.#superpixels.count; id++) this.#paintPixels(id, this.#superpixels.pixelsOf(id));
    this.#context.putImageData(this.#frame, 0, 0);
  }

  #showStatus(extra = "") {
    const text = this.#doubtful.length
      ? STATUS({ doubtful: this.#doubtful.length, decided: this.#decisions.size })
      : NO_DOUBTFUL;
    this.#panel.querySelector("[data-region-status]").textContent = extra ? `${text} ${extra}` : text;
  }

  #showCurrent() {
    const line = this.#panel.querySelector("[data-region-current]");
    const id = this.#current;
    if (id < 0) {
      line.textContent = "";
      delete line.dataset.region;
      return;
    }
    const info = this.#info.get(id);
    const decision = this.#decisions.get(id);
    const parts = [`Region ${id}`];
    if (info) {
      const rank = this.#doubtful.indexOf(id) + 1;
      parts.push(`doubtful ${rank} of ${this.#doubtful.length}: confidence ${Math.round(info.confidence * 100)} %, `
        + `teachers disagree on ${Math.round(info.disagreement * 100)} %`);
    }
    if (decision) parts.push(SOURCE_WORDS[decision.source]);
    line.textContent = parts.join(" · ");
    line.dataset.region = String(id);
  }

  #showError(message) {
    const error = this.#panel.querySelector("[data-region-error]");
    error.textContent = message;
    error.hidden = !message;
  }

  /** What the server takes (webapp.review.forms.region_review_parse). */
  payload(mode) {
    if (this.#current >= 0) { // close the current region's clock without leaving it
      const now = performance.now();
      this.#activityOf(this.#current).seconds += (now - this.#currentSince) / 1000;
      this.#currentSince = now;
    }
    const decisions = {};
    for (const [id, { source, class: label }] of this.#decisions) {
      decisions[id] = source === "paint" ? { source, class: label } : { source };
    }
    const regions = {};
    for (const [id, { seconds, keys }] of this.#activity) regions[id] = { seconds: Math.round(seconds * 100) / 100, keys };
    return { mode, decisions, regions, seconds: Math.round((performance.now() - this.#started) / 100) / 10 };
  }

  /** Send the decisions; on success the page moves on to the next item. */
  async finish(mode) {
    if (this.#busy || !this.#superpixels) return;
    this.#busy = true;
    this.#panel.querySelectorAll("button").forEach((b) => { b.dataset.wasDisabled = b.disabled ? "1" : ""; b.disabled = true; });
    this.#showError("");
    try {
      const response = await fetch(this.#panel.dataset.finishUrl, {
        method: "POST", credentials: "same-origin", body: JSON.stringify(this.payload(mode)),
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      });
      let body;
      try {
        body = await response.json();
      } catch {
        body = { error: `The server answered ${response.status} ${response.statusText}.` };
      }
      if (!response.ok) throw new Error(body.error || `Saving failed (${response.status}).`);
      this.#panel.dataset.finished = body.status;
      window.location.assign(body.next);
    } catch (error) {
      this.#showError(error.message);
      this.#panel.querySelectorAll("button").forEach((b) => { b.disabled = b.dataset.wasDisabled === "1"; });
      this.#busy = false;
    }
  }
}

function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch {
    return "";
  }
}
