// Zoom and pan as a CSS transform on the stage that holds the image and the overlay, so
// moving around never repaints pixels. screenToImage is the one place where screen
// coordinates become image pixels.
const MIN_SCALE = 0.02;
const MAX_SCALE = 40;

export class Viewport {
  #container;
  #stage;
  #width;
  #height;
  scale = 1;
  tx = 0;
  ty = 0;

  constructor(container, stage, width, height) {
    this.#container = container;
    this.#stage = stage;
    this.#width = width;
    this.#height = height;
  }

  /** Image coordinates (floats; pixel (i, j) spans [i, i+1)) under a client point. */
  screenToImage(clientX, clientY) {
    const box = this.#container.getBoundingClientRect();
    return { x: (clientX - box.left - this.tx) / this.scale, y: (clientY - box.top - this.ty) / this.scale };
  }

  /** Container-relative position of an image point (for drawing the cursor and polygon). */
  imageToContainer(x, y) {
    return { x: x * this.scale + this.tx, y: y * this.scale + this.ty };
  }

  zoomAt(clientX, clientY, factor) {
    const box = this.#container.getBoundingClientRect();
    const px = clientX - box.left, py = clientY - box.top;
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    this.tx = px - ((px - this.tx) * scale) / this.scale;
    this.ty = py - ((py - this.ty) * scale) / this.scale;
    this.scale = scale;
    this.apply();
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.apply();
  }

  fit() {
    const box = this.#container.getBoundingClientRect();
    const margin = 16;
    this.scale = Math.max(MIN_SCALE, Math.min((box.width - margin) / this.#width, (box.height - margin) / this.#height));
    this.tx = (box.width - this.#width * this.scale) / 2;
    this.ty = (box.height - this.#height * this.scale) / 2;
    this.apply();
  }

  apply() {
    this.#stage.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    // Crisp label pixels when zoomed in; smooth image when zoomed out.
    this.#stage.classList.toggle("pixelated", this.scale >= 2);
  }
}
