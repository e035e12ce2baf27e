// Painting on the label map with integer math only: no anti-aliasing, so every pixel
// written is exactly one class index.

const discCache = new Map();

/** Half-widths of a disc of diameter `size`, row by row: offset (dx, dy) is inside when 4(dx²+dy²) <= size². */
export function discSpans(size) {
  let spans = discCache.get(size);
  if (spans) return spans;
  const limit = size * size;
  const reach = Math.floor(size / 2);
  spans = new Int32Array(2 * reach + 1);
  for (let dy = -reach; dy <= reach; dy++) {
    let half = reach;
    while (half > 0 && 4 * (half * half + dy * dy) > limit) half--;
    spans[dy + reach] = half;
  }
  discCache.set(size, spans);
  return spans;
}

export function paintDisc(map, cx, cy, size, value, dirty) {
  const spans = discSpans(size);
  const reach = (spans.length - 1) >> 1;
  for (let i = 0; i < spans.length; i++) map.fillSpan(cy + i - reach, cx - spans[i], cx + spans[i], value, dirty);
}

/** Discs at every pixel of the Bresenham line from (x0, y0) to (x1, y1), integer pixels. */
export function paintSegment(map, x0, y0, x1, y1, size, value, dirty) {
  const dx = Math.abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const dy = -Math.abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    paintDisc(map, x0, y0, size, value, dirty);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

/**
 * Scanline fill of a polygon (even-odd rule). A pixel is filled when its centre is inside;
 * vertices are in image coordinates (pixel centres are at +0.5).
 */
export function fillPolygon(map, points, value, dirty) {
  if (points.length < 3) return;
  let minY = Infinity, maxY = -Infinity;
  for (const p of points) { minY = Math.min(minY, p.y); maxY = Math.max(maxY, p.y); }
  const yStart = Math.max(0, Math.ceil(minY - 0.5));
  const yEnd = Math.min(map.height - 1, Math.floor(maxY - 0.5));
  const crossings = [];
  for (let y = yStart; y <= yEnd; y++) {
    const yc = y + 0.5;
    crossings.length = 0;
    for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
      const a = points[i], b = points[j];
      if ((a.y <= yc && yc < b.y) || (b.y <= yc && yc < a.y)) {
        crossings.push(a.x + ((yc - a.y) * (b.x - a.x)) / (b.y - a.y));
      }
    }
    crossings.sort((p, q) => p - q);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      // Pixels whose centre x + 0.5 lies in [left, right).
      const first = Math.ceil(crossings[k] - 0.5);
      const last = Math.ceil(crossings[k + 1] - 0.5) - 1;
      map.fillSpan(y, first, last, value, dirty);
    }
  }
}

/** Fill the 4-connected region of (x, y)'s class with `value`, scanline by scanline. */
export function floodFill(map, x, y, value, dirty) {
  const { width, height, data } = map;
  if (x < 0 || y < 0 || x >= width || y >= height) return false;
  const target = data[y * width + x];
  if (target === value) return false;
  const stack = [x, y];
  while (stack.length) {
    const sy = stack.pop(), sx = stack.pop();
    const row = sy * width;
    if (data[row + sx] !== target) continue;
    let left = sx, right = sx;
    while (left > 0 && data[row + left - 1] === target) left--;
    while (right < width - 1 && data[row + right + 1] === target) right++;
    map.fillSpan(sy, left, right, value, dirty);
    for (const ny of [sy - 1, sy + 1]) {
      if (ny < 0 || ny >= height) continue;
      const nrow = ny * width;
      let inRun = false;
      for (let nx = left; nx <= right; nx++) {
        const matches = data[nrow + nx] === target;
        if (matches && !inRun) stack.push(nx, ny);
        inRun = matches;
      }
    }
  }
  return true;
}

/**
 * Paint superpixel `id` with `value`, touching only its own pixels. With `onlyOver` set
 * (a class index), only pixels holding that value change. Adds the superpixel's box to
 * `dirty` when a pixel changed; returns the number of pixels changed.
 */
export function paintSuperpixel(map, superpixels, id, value, dirty, onlyOver = null) {
  const pixels = superpixels.pixelsOf(id);
  const data = map.data;
  let changed = 0;
  if (onlyOver === null) {
    for (let k = 0; k < pixels.length; k++) {
      const p = pixels[k];
      if (data[p] !== value) { data[p] = value; changed++; }
    }
  } else if (onlyOver !== value) {
    for (let k = 0; k < pixels.length; k++) {
      const p = pixels[k];
      if (data[p] === onlyOver) { data[p] = value; changed++; }
    }
  }
  if (changed) {
    const b = superpixels.boundsOf(id);
    dirty.addSpan(b.y0, b.x0, b.x1 - 1);
    dirty.addSpan(b.y1 - 1, b.x0, b.x1 - 1);
  }
  return changed;
}

/** Call visit(x, y) for every pixel of the Bresenham line from (x0, y0) to (x1, y1). */
export function eachLinePixel(x0, y0, x1, y1, visit) {
  const dx = Math.abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const dy = -Math.abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    visit(x0, y0);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}
