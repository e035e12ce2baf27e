// Draws the label map in class colours onto a canvas of the image's size, one rectangle at a
// time: a brush dab re-renders only the pixels it touched, never the whole image.

function parseHex(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Colours per class index as 32-bit RGBA words in the platform's byte order (for ImageData). */
export function buildPalette(classes, transparentIndex) {
  const palette = new Uint32Array(256);
  const bytes = new Uint8Array(palette.buffer);
  for (const c of classes) {
    if (c.index === transparentIndex) continue; // unpainted pixels show the image itself
    bytes.set([...parseHex(c.color), 255], c.index * 4);
  }
  return palette;
}

export class OverlayRenderer {
  #context;
  #map;
  #palette;

  constructor(canvas, map, palette) {
    canvas.width = map.width;
    canvas.height = map.height;
    this.#context = canvas.getContext("2d");
    this.#map = map;
    this.#palette = palette;
  }

  render(rect) {
    if (rect.isEmpty) return;
    const { x0, y0 } = rect, w = rect.width, h = rect.height;
    const image = new ImageData(w, h);
    const words = new Uint32Array(image.data.buffer);
    const { data, width } = this.#map;
    const palette = this.#palette;
    for (let y = 0; y < h; y++) {
      const src = (y0 + y) * width + x0;
      const dst = y * w;
      for (let x = 0; x < w; x++) words[dst + x] = palette[data[src + x]];
    }
    this.#context.putImageData(image, x0, y0);
  }
}
