// An image's superpixels, as the server stores them: an RGB PNG at the image's size whose
// pixel (R, G, B) holds the superpixel id R + 256·G + 65536·B. Decoded once, then indexed by
// id (CSR: the flat pixel indices of each superpixel lie together), so painting a region
// touches only its own pixels. The editor and the review page share this module.

export const SUPERPIXELS_NOT_READY = "Superpixels are still being computed";

/** The server has no superpixels for this image yet (it answers 404 while they are computed). */
export class SuperpixelsNotReady extends Error {
  constructor() { super(SUPERPIXELS_NOT_READY); }
}

export class Superpixels {
  #offsets; // Int32Array(count + 1): superpixel id's pixels are #pixels[#offsets[id] .. #offsets[id + 1])
  #pixels; // Int32Array(width * height): flat pixel indices, grouped by id, ascending within an id
  #bounds; // Int32Array(4 * count): x0, y0, x1, y1 (exclusive) per id, filled on first use
  #hasBounds; // Uint8Array(count)

  /** @param {Int32Array} labels one superpixel id per pixel, row by row */
  constructor(width, height, labels) {
    if (labels.length !== width * height) throw new Error("The superpixel ids do not match the size.");
    let max = -1;
    for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
    if (max >= labels.length) throw new Error(`Superpixel id ${max} is larger than the image has pixels.`);
    this.width = width;
    this.height = height;
    this.labels = labels;
    this.count = max + 1;
    // Counting sort: sizes, then prefix sums, then every pixel into its id's slot.
    const offsets = new Int32Array(this.count + 1);
    for (let i = 0; i < labels.length; i++) offsets[labels[i] + 1]++;
    for (let id = 0; id < this.count; id++) offsets[id + 1] += offsets[id];
    const next = offsets.slice(0, this.count);
    const pixels = new Int32Array(labels.length);
    for (let i = 0; i < labels.length; i++) pixels[next[labels[i]]++] = i;
    this.#offsets = offsets;
    this.#pixels = pixels;
    this.#bounds = new Int32Array(4 * this.count);
    this.#hasBounds = new Uint8Array(this.count);
  }

  /** The superpixel id at image pixel (x, y), or -1 outside the image. */
  idAt(x, y) {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return -1;
    return this.labels[y * this.width + x];
  }

  /** The flat pixel indices (y · width + x) of superpixel `id`, ascending; a view, do not write to it. */
  pixelsOf(id) {
    if (!(id >= 0 && id < this.count)) return this.#pixels.subarray(0, 0);
    return this.#pixels.subarray(this.#offsets[id], this.#offsets[id + 1]);
  }

  sizeOf(id) { return id >= 0 && id < this.count ? this.#offsets[id + 1] - this.#offsets[id] : 0; }

  /** The bounding box of superpixel `id`: {x0, y0, x1, y1}, x1 and y1 exclusive (empty for an unused id). */
  boundsOf(id) {
    const b = this.#bounds, at = 4 * id;
    if (!this.#hasBounds[id]) {
      const pixels = this.pixelsOf(id), width = this.width;
      let x0 = width, x1 = -1;
      for (let k = 0; k < pixels.length; k++) {
        const x = pixels[k] % width;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
      }
      // Pixels are ascending, so the first and last give the rows.
      b[at] = x0; b[at + 1] = pixels.length ? Math.floor(pixels[0] / width) : 0;
      b[at + 2] = x1 + 1; b[at + 3] = pixels.length ? Math.floor(pixels[pixels.length - 1] / width) + 1 : 0;
      this.#hasBounds[id] = 1;
    }
    return { x0: b[at], y0: b[at + 1], x1: b[at + 2], y1: b[at + 3] };
  }
}

/** Ids from RGBA bytes (as getImageData gives them): R + 256·G + 65536·B. */
export function idsFromRgba(rgba) {
  const labels = new Int32Array(rgba.length >> 2);
  for (let i = 0, j = 0; i < labels.length; i++, j += 4) labels[i] = rgba[j] | (rgba[j + 1] << 8) | (rgba[j + 2] << 16);
  return labels;
}

/**
 * Decode a PNG blob to RGBA bytes with no colour management: createImageBitmap skips the
 * colour-space conversion (gamma, ICC) and premultiplication, and a canvas made for reading
 * keeps its pixels on the CPU, so getImageData returns the file's bytes.
 */
async function decodeRgba(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const { width, height } = bitmap;
  const canvas = typeof OffscreenCanvas === "function"
    ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement("canvas"), { width, height });
  const context = canvas.getContext("2d", { willReadFrequently: true, alpha: false });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { width, height, rgba: context.getImageData(0, 0, width, height).data };
}

/**
 * Fetch and index an image's superpixels. Resolves to a Superpixels: {width, height, count,
 * labels, pixelsOf(id), idAt(x, y), boundsOf(id), sizeOf(id)}. Throws SuperpixelsNotReady on 404.
 */
export async function loadSuperpixels(url, { signal } = {}) {
  const response = await fetch(url, { credentials: "same-origin", signal });
  if (response.status === 404) throw new SuperpixelsNotReady();
  if (!response.ok) throw new Error(`Loading the superpixels failed (${response.status}).`);
  const { width, height, rgba } = await decodeRgba(await response.blob());
  return new Superpixels(width, height, idsFromRgba(rgba));
}
