// Talks to the server about one image's mask: load, prefill and save (with conflicts).
import { decodeIndexPng, encodeIndexPng } from "./png.js";

export class SaveConflict extends Error {
  constructor({ error, current_version, saved_version }) {
    super(error);
    this.currentVersion = current_version;
    this.savedVersion = saved_version;
  }
}

export class MaskStore {
  #urls;
  #csrfToken;
  #width;
  #height;

  constructor({ urls, csrfToken, width, height }) {
    this.#urls = urls;
    this.#csrfToken = csrfToken;
    this.#width = width;
    this.#height = height;
  }

  /** The current mask: {labels, version}. */
  load() { return this.#fetchMask(this.#urls.mask); }

  /** A model's starting mask: {labels, version, source}; throws with the server's message when there is none. */
  prefill() { return this.#fetchMask(this.#urls.prefill); }

  /**
   * Store the labels as a new version based on `baseVersion`. Resolves to {version, encodeMs,
   * requestMs}; throws SaveConflict (the labels are stored as a conflict version) or Error.
   */
  async save(labels, { baseVersion, editingSeconds }) {
    const started = performance.now();
    const png = await encodeIndexPng(labels, this.#width, this.#height);
    const encoded = performance.now();
    const form = new FormData();
    form.append("mask", png, "mask.png");
    form.append("base_version", String(baseVersion));
    form.append("editing_seconds", editingSeconds.toFixed(1));
    const response = await fetch(this.#urls.save, {
      method: "POST", body: form, credentials: "same-origin",
      headers: { "X-CSRFToken": this.#csrfToken, Accept: "application/json" },
    });
    const body = await this.#json(response);
    if (response.status === 409) throw new SaveConflict(body);
    if (!response.ok) throw new Error(body.error || `Saving failed (${response.status}).`);
    return { version: body.version, encodeMs: encoded - started, requestMs: performance.now() - encoded, bytes: png.size };
  }

  async #fetchMask(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error((await this.#json(response)).error || `Loading the mask failed (${response.status}).`);
    const { width, height, labels } = await decodeIndexPng(await response.arrayBuffer());
    if (width !== this.#width || height !== this.#height) {
      throw new Error(`The mask is ${width}x${height} pixels but the image is ${this.#width}x${this.#height}.`);
    }
    return {
      labels,
      version: Number(response.headers.get("X-Mask-Version") || 0),
      source: response.headers.get("X-Mask-Source") || "",
    };
  }

  async #json(response) {
    try {
      return await response.json();
    } catch {
      return { error: `The server answered ${response.status} ${response.statusText}.` };
    }
  }
}
