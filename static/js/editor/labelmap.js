// The label map: one class index per image pixel. Everything the editor paints lands here.

/** A growing rectangle of touched pixels; x1, y1 are exclusive. */
export class DirtyRect {
  constructor() { this.clear(); }

  clear() {
    this.x0 = Infinity; this.y0 = Infinity; this.x1 = -Infinity; this.y1 = -Infinity;
    return this;
  }

  get isEmpty() { return this.x1 <= this.x0 || this.y1 <= this.y0; }
  get width() { return this.isEmpty ? 0 : this.x1 - this.x0; }
  get height() { return this.isEmpty ? 0 : this.y1 - this.y0; }

  addSpan(y, x0, x1) { // inclusive x0..x1 on row y
    if (x0 < this.x0) this.x0 = x0;
    if (x1 + 1 > this.x1) this.x1 = x1 + 1;
    if (y < this.y0) this.y0 = y;
    if (y + 1 > this.y1) this.y1 = y + 1;
  }

  addRect(other) {
    if (other.isEmpty) return this;
    this.x0 = Math.min(this.x0, other.x0); this.y0 = Math.min(this.y0, other.y0);
    this.x1 = Math.max(this.x1, other.x1); this.y1 = Math.max(this.y1, other.y1);
    return this;
  }

  copy() { return new DirtyRect().addRect(this); }

  static full(width, height) {
    const rect = new DirtyRect();
    rect.x0 = 0; rect.y0 = 0; rect.x1 = width; rect.y1 = height;
    return rect;
  }
}

export class LabelMap {
  constructor(width, height, data = new Uint8Array(width * height)) {
    if (data.length !== width * height) throw new Error("Label data does not match the image size.");
    this.width = width;
    this.height = height;
    this.data = data;
  }

  get(x, y) { return this.data[y * this.width + x]; }

  /** Paint x0..x1 (inclusive) of row y, clipped to the image; records the span in `dirty`. */
  fillSpan(y, x0, x1, value, dirty) {
    if (y < 0 || y >= this.height) return;
    if (x0 < 0) x0 = 0;
    if (x1 >= this.width) x1 = this.width - 1;
    if (x1 < x0) return;
    const row = y * this.width;
    this.data.fill(value, row + x0, row + x1 + 1);
    dirty?.addSpan(y, x0, x1);
  }

  readRect(rect) {
    const { x0, y0 } = rect, w = rect.width, h = rect.height;
    const out = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      const start = (y0 + y) * this.width + x0;
      out.set(this.data.subarray(start, start + w), y * w);
    }
    return out;
  }

  writeRect(rect, patch) {
    const { x0, y0 } = rect, w = rect.width, h = rect.height;
    for (let y = 0; y < h; y++) this.data.set(patch.subarray(y * w, y * w + w), (y0 + y) * this.width + x0);
  }

  copyRectFrom(other, rect) {
    const w = rect.width;
    for (let y = rect.y0; y < rect.y1; y++) {
      const start = y * this.width + rect.x0;
      this.data.set(other.data.subarray(start, start + w), start);
    }
  }
}
