// Clean-up of one class on the label map: fill its holes, remove its small islands.
//
// Connected components by runs, with no recursion and typed arrays only: one scanline pass
// cuts every row into alternating runs of "the class" and "not the class", then union-find
// joins each run to the touching runs of the row above. The pixels are read once (about
// 25 ms on 4000x3000); the rest is O(runs), a few tens of thousands on a real mask. (A
// scanline flood fill reads every pixel several times: it took 3-4x as long on the bench's
// mask, cold JIT included.)
//
// The class is taken as 8-connected and everything else as 4-connected, the usual pairing
// of digital topology: a hole is what the class encloses even through diagonal corners, and
// an island is a piece of the class that touches no other piece, not even at a corner.
// scipy's binary_fill_holes and label with a 3x3 structure agree (tested).

/**
 * The rows of `data` cut into runs of `value` / not `value`, alternating. Run k starts at
 * column x0s[k]; row y holds runs rowStart[y] .. rowStart[y + 1] - 1, the first of them of
 * the class when firstIn[y] is 1.
 */
function cutRuns(data, width, height, value) {
  let x0s = new Int32Array(Math.max(1024, 4 * height));
  let n = 0;
  const rowStart = new Int32Array(height + 1);
  const firstIn = new Uint8Array(height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    rowStart[y] = n;
    let inside = data[row] === value;
    firstIn[y] = inside ? 1 : 0;
    for (let x = 0; x < width; inside = !inside) {
      if (n === x0s.length) {
        const grown = new Int32Array(2 * n);
        grown.set(x0s);
        x0s = grown;
      }
      x0s[n++] = x;
      if (inside) while (x < width && data[row + x] === value) x++;
      else while (x < width && data[row + x] !== value) x++;
    }
  }
  rowStart[height] = n;
  return { x0s, n, rowStart, firstIn };
}

function find(parent, k) {
  while (parent[k] !== k) {
    parent[k] = parent[parent[k]];
    k = parent[k];
  }
  return k;
}

/**
 * Components of the runs: calls visit(y, x0, x1, inside, root) for every run afterwards,
 * with `size` (pixels) and `border` (touches the image edge) filled in per root.
 */
function eachRun(map, value, visit) {
  const { width, height, data } = map;
  const { x0s, n, rowStart, firstIn } = cutRuns(data, width, height, value);
  const end = (k, y) => (k + 1 < rowStart[y + 1] ? x0s[k + 1] : width) - 1;
  const parent = new Int32Array(n);
  for (let k = 0; k < n; k++) parent[k] = k;
  for (let y = 1; y < height; y++) {
    const prevStart = rowStart[y - 1], prevEnd = rowStart[y];
    let i = prevStart;
    for (let k = rowStart[y]; k < rowStart[y + 1]; k++) {
      const x0 = x0s[k], x1 = end(k, y);
      const inside = (firstIn[y] ^ ((k - rowStart[y]) & 1)) === 1;
      while (i < prevEnd && end(i, y - 1) < x0 - 1) i++;
      // Runs of the row above within one column of this one: diagonal neighbours for the class.
      for (let j = i; j < prevEnd && x0s[j] <= x1 + 1; j++) {
        if (((firstIn[y - 1] ^ ((j - prevStart) & 1)) === 1) !== inside) continue;
        if (!inside && (x0s[j] > x1 || end(j, y - 1) < x0)) continue; // not the class: 4-connected
        const a = find(parent, j), b = find(parent, k);
        if (a < b) parent[b] = a;
        else if (b < a) parent[a] = b;
      }
    }
  }
  const size = new Float64Array(n);
  const border = new Uint8Array(n);
  for (let y = 0; y < height; y++) {
    const edgeRow = y === 0 || y === height - 1;
    for (let k = rowStart[y]; k < rowStart[y + 1]; k++) {
      const root = (parent[k] = find(parent, k));
      const x0 = x0s[k], x1 = end(k, y);
      size[root] += x1 - x0 + 1;
      if (edgeRow || x0 === 0 || x1 === width - 1) border[root] = 1;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let k = rowStart[y]; k < rowStart[y + 1]; k++) {
      const inside = (firstIn[y] ^ ((k - rowStart[y]) & 1)) === 1;
      visit(y, x0s[k], end(k, y), inside, parent[k], size, border);
    }
  }
}

/**
 * Give class `value` to every region of other pixels (any classes, unpainted included) that
 * the class encloses: the 4-connected components of non-`value` pixels that do not touch the
 * image border. Returns the number of pixels changed; their box goes into `dirty`.
 */
export function fillHoles(map, value, dirty) {
  let changed = 0;
  eachRun(map, value, (y, x0, x1, inside, root, size, border) => {
    if (inside || border[root]) return;
    map.fillSpan(y, x0, x1, value, dirty);
    changed += x1 - x0 + 1;
  });
  return changed;
}

/**
 * Make `unpainted` every 8-connected component of class `value` smaller than `minSize`
 * pixels. Returns the number of pixels changed; their box goes into `dirty`.
 */
export function removeIslands(map, value, minSize, unpainted, dirty) {
  if (value === unpainted) return 0;
  let changed = 0;
  eachRun(map, value, (y, x0, x1, inside, root, size) => {
    if (!inside || size[root] >= minSize) return;
    map.fillSpan(y, x0, x1, unpainted, dirty);
    changed += x1 - x0 + 1;
  });
  return changed;
}
