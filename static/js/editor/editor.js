// The canvas editor: paints class indices into a label map and shows it over the image.
// It knows nothing of the page around it: it emits `dirty`, `strokeend`, `toolchange`,
// `saved` and `error` events, and the page decides what to show.
import { ActivityClock } from "./activity.js";
import { History } from "./history.js";
import { DirtyRect, LabelMap } from "./labelmap.js";
import { buildPalette, OverlayRenderer } from "./overlay.js";
import { fillHoles, removeIslands } from "./cleanup.js";
import { eachLinePixel, fillPolygon, floodFill, paintDisc, paintSegment, paintSuperpixel } from "./tools.js";
import { Viewport } from "./viewport.js";

export const TOOLS = ["brush", "eraser", "polygon", "fill", "superpixel"];
const MIN_SIZE = 1;
const MAX_SIZE = 400;
const CLOSE_RADIUS_PX = 8; // clicking this close to the first point closes the polygon

export class Editor extends EventTarget {
  #container;
  #stage;
  #overlayCanvas;
  #uiCanvas;
  #map;
  #committed; // the labels as of the last finished step: the "before" of the next patch
  #renderer;
  #history = new History();
  #viewport;
  #clock;
  #readOnly;
  #unpainted;
  #tool = "brush";
  #classIndex;
  #size = 15;
  #stroke = null; // {dirty, last: {x, y}} while a brush, eraser or superpixel stroke is down
  #superpixels = null; // a Superpixels (superpixels.js) once the page has loaded them
  #onlyUnpainted = false; // the superpixel tool changes only unpainted pixels
  #polygon = []; // points of the polygon being drawn, image coordinates
  #pan = null; // {x, y} of the last pointer position while panning
  #spaceHeld = false;
  #cursor = null; // last pointer position in image coordinates
  #pendingRender = new DirtyRect();
  #frame = 0;
  #savedState = 0;
  #teardowns = [];
  stats = { strokes: 0, lastStroke: null, renders: 0, renderMs: 0, maxRenderMs: 0, lastRender: null };

  /**
   * @param {HTMLElement} container the element the image is shown in (gets the pointer events)
   * @param {{width, height, classes, unpainted, readOnly}} options
   */
  constructor(container, { width, height, classes, unpainted, readOnly = false, imageUrl }) {
    super();
    this.#container = container;
    this.#readOnly = readOnly;
    this.#unpainted = unpainted;
    this.#classIndex = classes.find((c) => c.index !== unpainted)?.index ?? unpainted;
    this.#stage = container.querySelector("[data-stage]");
    this.#overlayCanvas = container.querySelector("canvas[data-overlay]");
    this.#uiCanvas = container.querySelector("canvas[data-ui]");
    const image = this.#stage.querySelector("img");
    image.width = width;
    image.height = height;
    if (imageUrl) image.src = imageUrl;
    this.#map = new LabelMap(width, height, new Uint8Array(width * height).fill(unpainted));
    this.#committed = new LabelMap(width, height, this.#map.data.slice());
    this.#renderer = new OverlayRenderer(this.#overlayCanvas, this.#map, buildPalette(classes, unpainted));
    this.#viewport = new Viewport(container, this.#stage, width, height);
    this.#clock = new ActivityClock(container.ownerDocument.defaultView);
    this.#teardowns.push(this.#bindPointer(), this.#bindSpace(), this.#watchSize(), () => this.#clock.destroy());
    this.#viewport.fit();
    this.#renderAll();
  }

  /** Show another picture of the same image under the mask (the window control of 16-bit images). */
  setImageUrl(url) {
    this.#stage.querySelector("img").src = url;
  }

  // ------------------------------------------------------------------ state the page reads

  get width() { return this.#map.width; }
  get height() { return this.#map.height; }
  get labels() { return this.#map.data; }
  get tool() { return this.#tool; }
  get classIndex() { return this.#classIndex; }
  get size() { return this.#size; }
  get readOnly() { return this.#readOnly; }
  get isDirty() { return this.#history.stateId !== this.#savedState; }
  get canUndo() { return this.#history.canUndo; }
  get canRedo() { return this.#history.canRedo; }
  get editingSeconds() { return this.#clock.seconds; }
  get scale() { return this.#viewport.scale; }
  get hasSuperpixels() { return this.#superpixels !== null; }
  get onlyUnpainted() { return this.#onlyUnpainted; }

  // ------------------------------------------------------------------ commands

  setTool(tool) {
    if (!TOOLS.includes(tool)) throw new Error(`Unknown tool ${tool}`);
    if (tool === "superpixel" && !this.#superpixels) return;
    if (tool !== "polygon") this.cancelPolygon();
    this.#tool = tool;
    this.#emitToolChange();
    this.#drawUi();
  }

  setClass(index) {
    this.#classIndex = index;
    if (this.#tool === "eraser") this.#tool = "brush";
    this.#emitToolChange();
  }

  setSize(size) {
    this.#size = Math.min(MAX_SIZE, Math.max(MIN_SIZE, Math.round(size)));
    this.#emitToolChange();
    this.#drawUi();
  }

  /** One step smaller or larger, in steps that feel even at every size. */
  stepSize(direction) {
    const step = Math.max(1, Math.round(this.#size * 0.15));
    this.setSize(this.#size + direction * step);
  }

  /** The image's superpixels (a Superpixels of the image's size): enables the superpixel tool. */
  setSuperpixels(superpixels) {
    if (superpixels.width !== this.width || superpixels.height !== this.height) {
      throw new Error(`The superpixels are ${superpixels.width}x${superpixels.height} pixels; the image is ${this.width}x${this.height}.`);
    }
    this.#superpixels = superpixels;
    this.#emitToolChange();
  }

  /** With `only` set, the superpixel tool paints only pixels that are still unpainted. */
  setOnlyUnpainted(only) {
    this.#onlyUnpainted = Boolean(only);
    this.#emitToolChange();
  }

  /** Fill the holes of the current class (one undoable step); returns the pixels changed. */
  fillHoles() {
    return this.#cleanup("fill-holes", (dirty) => fillHoles(this.#map, this.#classIndex, dirty));
  }

  /** Unpaint the current class's islands under `minSize` pixels (one undoable step); returns the pixels changed. */
  removeIslands(minSize) {
    return this.#cleanup("remove-islands", (dirty) => removeIslands(this.#map, this.#classIndex, minSize, this.#unpainted, dirty));
  }

  setMaskVisible(visible) { this.#overlayCanvas.hidden = !visible; }
  toggleMask() { this.setMaskVisible(this.#overlayCanvas.hidden); return !this.#overlayCanvas.hidden; }
  setOpacity(opacity) { this.#overlayCanvas.style.opacity = String(opacity); }
  fit() { this.#viewport.fit(); this.#drawUi(); }

  undo() { this.#applyHistory(this.#history.undo(this.#map)); }
  redo() { this.#applyHistory(this.#history.redo(this.#map)); }

  /** Replace the labels with a freshly loaded mask: clean, with no history. */
  load(labels) {
    this.#checkSize(labels);
    this.#map.data.set(labels);
    this.#committed.data.set(labels);
    this.#history.clear();
    this.#savedState = this.#history.stateId;
    this.#renderAll();
    this.#emitDirty();
  }

  /** Replace the labels as one undoable step (a model's prefill). */
  replaceAll(labels) {
    this.#checkSize(labels);
    this.#map.data.set(labels);
    this.#commit(DirtyRect.full(this.width, this.height), "prefill", 0);
  }

  /** Identifies the labels now held; pass it back to markSaved once they are stored. */
  get stateId() { return this.#history.stateId; }

  /** The labels of state `stateId` were stored as `version`: that state is the clean one now. */
  markSaved(version, stateId = this.#history.stateId) {
    this.#savedState = stateId;
    this.#emitDirty();
    this.dispatchEvent(new CustomEvent("saved", { detail: { version } }));
  }

  /** `seconds` of editing time were stored with a version (even a conflicting one). */
  resetClock(seconds) { this.#clock.reset(seconds); }

  closePolygon() {
    const points = this.#polygon;
    this.#polygon = [];
    if (points.length >= 3 && !this.#readOnly) {
      const started = performance.now();
      const dirty = new DirtyRect();
      fillPolygon(this.#map, points, this.#classIndex, dirty);
      this.#commit(dirty, "polygon", performance.now() - started);
    }
    this.#drawUi();
  }

  cancelPolygon() { this.#polygon = []; this.#drawUi(); }
  dropPolygonPoint() { this.#polygon.pop(); this.#drawUi(); }
  get polygonPoints() { return this.#polygon.length; }

  destroy() {
    cancelAnimationFrame(this.#frame);
    for (const teardown of this.#teardowns.splice(0)) teardown();
  }

  // ------------------------------------------------------------------ painting

  #paintValue() { return this.#tool === "eraser" ? this.#unpainted : this.#classIndex; }

  #pixel(point) { return { x: Math.floor(point.x), y: Math.floor(point.y) }; }

  #strokeBegin(point) {
    const started = performance.now();
    const p = this.#pixel(point);
    this.#stroke = { dirty: new DirtyRect(), last: p, applyMs: 0, moves: 0, maxMoveMs: 0, startedAt: started };
    const segment = new DirtyRect();
    if (this.#tool === "superpixel") {
      this.#stroke.visited = new Uint8Array(this.#superpixels.count);
      this.#stroke.regions = 0;
      this.#paintRegionAt(p.x, p.y, segment);
    } else {
      paintDisc(this.#map, p.x, p.y, this.#size, this.#paintValue(), segment);
    }
    this.#strokeAdd(segment, performance.now() - started);
  }

  /** Paint the superpixel under (x, y) unless this stroke has painted it already. */
  #paintRegionAt(x, y, dirty) {
    const stroke = this.#stroke;
    const id = this.#superpixels.idAt(x, y);
    if (id < 0 || stroke.visited[id]) return;
    stroke.visited[id] = 1;
    stroke.regions += 1;
    const onlyOver = this.#onlyUnpainted ? this.#unpainted : null;
    paintSuperpixel(this.#map, this.#superpixels, id, this.#classIndex, dirty, onlyOver);
  }

  #strokeMove(points) {
    const started = performance.now();
    const segment = new DirtyRect();
    const value = this.#paintValue();
    for (const point of points) {
      const p = this.#pixel(point);
      const last = this.#stroke.last;
      if (p.x === last.x && p.y === last.y) continue;
      if (this.#stroke.visited) {
        eachLinePixel(last.x, last.y, p.x, p.y, (x, y) => this.#paintRegionAt(x, y, segment));
      } else {
        paintSegment(this.#map, last.x, last.y, p.x, p.y, this.#size, value, segment);
      }
      this.#stroke.last = p;
    }
    this.#strokeAdd(segment, performance.now() - started);
  }

  #strokeAdd(segment, ms) {
    const stroke = this.#stroke;
    stroke.dirty.addRect(segment);
    stroke.applyMs += ms;
    stroke.moves += 1;
    stroke.maxMoveMs = Math.max(stroke.maxMoveMs, ms);
    this.#scheduleRender(segment);
  }

  #strokeEnd() {
    const stroke = this.#stroke;
    this.#stroke = null;
    this.#commit(stroke.dirty, this.#tool, stroke.applyMs, stroke);
  }

  #cleanup(tool, apply) {
    if (this.#readOnly) return 0;
    const started = performance.now();
    const dirty = new DirtyRect();
    const changed = apply(dirty);
    this.#commit(dirty, tool, performance.now() - started, null, { pixels: changed });
    return changed;
  }

  #fillAt(point) {
    const started = performance.now();
    const p = this.#pixel(point);
    const dirty = new DirtyRect();
    if (floodFill(this.#map, p.x, p.y, this.#classIndex, dirty)) this.#commit(dirty, "fill", performance.now() - started);
  }

  #polygonClick(point, clientX, clientY) {
    // Vertices sit on pixel centres, so the filled pixels follow from the pixels clicked.
    const p = this.#pixel(point);
    const vertex = { x: p.x + 0.5, y: p.y + 0.5 };
    const points = this.#polygon;
    if (points.length >= 3) {
      const first = this.#viewport.imageToContainer(points[0].x, points[0].y);
      const box = this.#container.getBoundingClientRect();
      if (Math.hypot(clientX - box.left - first.x, clientY - box.top - first.y) <= CLOSE_RADIUS_PX) {
        this.closePolygon();
        return;
      }
    }
    const last = points[points.length - 1];
    if (!last || last.x !== vertex.x || last.y !== vertex.y) points.push(vertex);
    this.#drawUi();
  }

  /** A finished step: record the patch of what it changed, render, tell the page. */
  #commit(dirty, tool, applyMs, stroke = null, extra = {}) {
    if (dirty.isEmpty) return;
    const started = performance.now();
    this.#history.push(dirty, this.#committed.readRect(dirty));
    this.#committed.copyRectFrom(this.#map, dirty);
    const commitMs = performance.now() - started;
    this.#scheduleRender(dirty);
    this.stats.strokes += 1;
    this.stats.lastStroke = {
      tool, applyMs, commitMs, width: dirty.width, height: dirty.height,
      moves: stroke?.moves ?? 1, maxMoveMs: stroke?.maxMoveMs ?? applyMs,
      startedAt: stroke?.startedAt ?? started - applyMs, ...extra,
    };
    if (stroke?.regions !== undefined) this.stats.lastStroke.regions = stroke.regions;
    this.dispatchEvent(new CustomEvent("strokeend", { detail: { ...this.stats.lastStroke } }));
    this.#emitDirty();
  }

  #applyHistory(rect) {
    if (!rect) return;
    this.#committed.copyRectFrom(this.#map, rect);
    this.#scheduleRender(rect);
    this.#emitDirty();
  }

  #checkSize(labels) {
    if (labels.length !== this.#map.data.length) {
      throw new Error(`The mask has ${labels.length} pixels; the image has ${this.#map.data.length}.`);
    }
  }

  // ------------------------------------------------------------------ rendering

  #scheduleRender(rect) {
    this.#pendingRender.addRect(rect);
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      const started = performance.now();
      const rect = this.#pendingRender.copy();
      this.#pendingRender.clear();
      this.#renderer.render(rect);
      const ended = performance.now();
      const ms = ended - started;
      this.stats.lastRender = { ms, end: ended, width: rect.width, height: rect.height };
      this.stats.renders += 1;
      this.stats.renderMs += ms;
      this.stats.maxRenderMs = Math.max(this.stats.maxRenderMs, ms);
    });
  }

  #renderAll() {
    this.#pendingRender.clear();
    this.#renderer.render(DirtyRect.full(this.width, this.height));
  }

  /** The cursor outline and the polygon in progress, on a screen-sized canvas. */
  #drawUi() {
    const canvas = this.#uiCanvas;
    const ratio = window.devicePixelRatio || 1;
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, canvas.width, canvas.height);
    const view = this.#viewport;
    if (this.#polygon.length) {
      context.beginPath();
      for (const p of this.#polygon) {
        const s = view.imageToContainer(p.x, p.y);
        context.lineTo(s.x, s.y);
      }
      if (this.#cursor) {
        const c = this.#pixel(this.#cursor);
        const s = view.imageToContainer(c.x + 0.5, c.y + 0.5);
        context.lineTo(s.x, s.y);
      }
      context.strokeStyle = "#fff";
      context.lineWidth = 3;
      context.stroke();
      context.strokeStyle = "#111";
      context.lineWidth = 1;
      context.stroke();
      const first = view.imageToContainer(this.#polygon[0].x, this.#polygon[0].y);
      context.fillStyle = "#ffcc00";
      context.fillRect(first.x - 4, first.y - 4, 8, 8);
    }
    if (this.#cursor && !this.#readOnly && (this.#tool === "brush" || this.#tool === "eraser")) {
      const c = this.#pixel(this.#cursor);
      const s = view.imageToContainer(c.x + 0.5, c.y + 0.5);
      context.beginPath();
      context.arc(s.x, s.y, Math.max(2, (this.#size / 2) * view.scale), 0, 2 * Math.PI);
      context.strokeStyle = "#fff";
      context.lineWidth = 2;
      context.stroke();
      context.strokeStyle = "#000";
      context.lineWidth = 1;
      context.stroke();
    }
  }

  #watchSize() {
    const resize = () => {
      const ratio = window.devicePixelRatio || 1;
      const box = this.#container.getBoundingClientRect();
      this.#uiCanvas.width = Math.round(box.width * ratio);
      this.#uiCanvas.height = Math.round(box.height * ratio);
      this.#drawUi();
    };
    const observer = new ResizeObserver(resize);
    observer.observe(this.#container);
    resize();
    return () => observer.disconnect();
  }

  // ------------------------------------------------------------------ input

  /** Pointer and wheel handling on the container; returns its teardown. */
  #bindPointer() {
    const container = this.#container;
    const onDown = (event) => {
      container.focus({ preventScroll: true });
      if (event.button === 1 || (event.button === 0 && this.#spaceHeld)) {
        this.#pan = { x: event.clientX, y: event.clientY };
        container.setPointerCapture(event.pointerId);
        container.classList.add("panning");
        event.preventDefault();
        return;
      }
      if (event.button !== 0 || this.#readOnly) return;
      const point = this.#viewport.screenToImage(event.clientX, event.clientY);
      this.#cursor = point;
      if (this.#tool === "brush" || this.#tool === "eraser" || this.#tool === "superpixel") {
        container.setPointerCapture(event.pointerId);
        this.#strokeBegin(point);
      } else if (this.#tool === "fill") {
        this.#fillAt(point);
      } else if (this.#tool === "polygon") {
        this.#polygonClick(point, event.clientX, event.clientY);
      }
      event.preventDefault();
    };
    const onMove = (event) => {
      if (this.#pan) {
        this.#viewport.panBy(event.clientX - this.#pan.x, event.clientY - this.#pan.y);
        this.#pan = { x: event.clientX, y: event.clientY };
        this.#drawUi();
        return;
      }
      const events = this.#stroke && event.getCoalescedEvents ? event.getCoalescedEvents() : [];
      const points = (events.length ? events : [event]).map((e) => this.#viewport.screenToImage(e.clientX, e.clientY));
      this.#cursor = points[points.length - 1];
      if (this.#stroke) this.#strokeMove(points);
      this.#drawUi();
    };
    const onUp = (event) => {
      if (this.#pan) {
        this.#pan = null;
        container.classList.remove("panning");
      } else if (this.#stroke) {
        this.#strokeEnd();
      }
      if (container.hasPointerCapture(event.pointerId)) container.releasePointerCapture(event.pointerId);
    };
    const onLeave = () => { if (!this.#stroke) { this.#cursor = null; this.#drawUi(); } };
    const onDoubleClick = (event) => {
      if (this.#tool === "polygon") { this.closePolygon(); event.preventDefault(); }
    };
    const onWheel = (event) => {
      event.preventDefault();
      const lines = event.deltaMode === 1 ? 40 : 1;
      this.#viewport.zoomAt(event.clientX, event.clientY, Math.exp(-event.deltaY * lines * 0.0015));
      this.#drawUi();
    };
    const block = (event) => event.preventDefault();
    const listeners = [
      ["pointerdown", onDown], ["pointermove", onMove], ["pointerup", onUp], ["pointercancel", onUp],
      ["pointerleave", onLeave], ["dblclick", onDoubleClick], ["wheel", onWheel, { passive: false }],
      ["contextmenu", block], ["auxclick", block],
    ];
    for (const [type, listener, options] of listeners) container.addEventListener(type, listener, options);
    return () => { for (const [type, listener] of listeners) container.removeEventListener(type, listener); };
  }

  /** Space held down turns dragging into panning; returns its teardown. */
  #bindSpace() {
    const doc = this.#container.ownerDocument;
    const onKey = (event) => {
      if (event.key !== " " || event.target.matches?.("input:not([type=range]), textarea, select")) return;
      this.#spaceHeld = event.type === "keydown";
      this.#container.classList.toggle("pan-ready", this.#spaceHeld);
      event.preventDefault();
    };
    doc.addEventListener("keydown", onKey);
    doc.addEventListener("keyup", onKey);
    return () => { doc.removeEventListener("keydown", onKey); doc.removeEventListener("keyup", onKey); };
  }

  #emitDirty() { this.dispatchEvent(new CustomEvent("dirty", { detail: { dirty: this.isDirty } })); }

  #emitToolChange() {
    this.dispatchEvent(new CustomEvent("toolchange", { detail: { tool: this.#tool, classIndex: this.#classIndex, size: this.#size } }));
  }
}
