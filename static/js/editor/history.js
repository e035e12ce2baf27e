// Undo and redo as patches: each step keeps only the labels of the rectangle it touched.
// Undo swaps the patch with the map, so the same entry then serves as the redo step.
const PACK_FROM = 64 * 1024; // patches this large are run-length packed (label maps compress well)

function pack(data) {
  if (data.length < PACK_FROM) return { raw: data, bytes: data.length };
  let runs = 1;
  for (let i = 1; i < data.length; i++) if (data[i] !== data[i - 1]) runs++;
  if (runs * 5 >= data.length) return { raw: data, bytes: data.length };
  const values = new Uint8Array(runs), lengths = new Uint32Array(runs);
  let run = 0, start = 0;
  for (let i = 1; i <= data.length; i++) {
    if (i === data.length || data[i] !== data[i - 1]) {
      values[run] = data[start]; lengths[run] = i - start; run++; start = i;
    }
  }
  return { values, lengths, length: data.length, bytes: runs * 5 };
}

function unpack(packed) {
  if (packed.raw) return packed.raw;
  const out = new Uint8Array(packed.length);
  for (let i = 0, at = 0; i < packed.values.length; i++) {
    out.fill(packed.values[i], at, at + packed.lengths[i]);
    at += packed.lengths[i];
  }
  return out;
}

let nextId = 1;

export class History {
  #undo = [];
  #redo = [];
  #limit;
  #budget;

  constructor({ limit = 300, budgetBytes = 768 * 1024 * 1024 } = {}) {
    this.#limit = limit;
    this.#budget = budgetBytes;
  }

  get canUndo() { return this.#undo.length > 0; }
  get canRedo() { return this.#redo.length > 0; }
  get depth() { return this.#undo.length; }
  /** Identifies the state reached: the id of the last step applied (0 at the start). */
  get stateId() { return this.#undo.length ? this.#undo[this.#undo.length - 1].id : 0; }

  /** Record a step: `rect` and the labels it held before. */
  push(rect, before) {
    this.#undo.push({ id: nextId++, rect: rect.copy(), patch: pack(before) });
    this.#redo.length = 0;
    this.#trim();
  }

  /** Undo the last step on `map`; returns the rectangle that changed, or null. */
  undo(map) { return this.#swap(map, this.#undo, this.#redo); }
  redo(map) { return this.#swap(map, this.#redo, this.#undo); }

  clear() { this.#undo.length = 0; this.#redo.length = 0; }

  #swap(map, from, to) {
    const entry = from.pop();
    if (!entry) return null;
    const current = map.readRect(entry.rect);
    map.writeRect(entry.rect, unpack(entry.patch));
    entry.patch = pack(current);
    to.push(entry);
    return entry.rect;
  }

  // Keep at least 100 steps; beyond that drop the oldest when memory runs over the budget.
  #trim() {
    while (this.#undo.length > this.#limit) this.#undo.shift();
    let bytes = this.#undo.reduce((sum, e) => sum + e.patch.bytes, 0);
    while (this.#undo.length > 100 && bytes > this.#budget) bytes -= this.#undo.shift().patch.bytes;
  }
}
