// The window control of 16-bit and float images: which values show as black and as white.
// The server renders the chosen window from the original's full-depth values (images:display,
// a GET that stores nothing); the stored window (config.window.low/high) is the one the display
// file, the thumbnails and the models use, so this is a view setting only.

export const SLIDER_STEPS = 1000;

/**
 * Build the control at the end of `parent` and call `show(url)` with each window's image URL.
 * @param {HTMLElement} parent
 * @param {{low: number, high: number, min: number, max: number, url: string}} window_ from the editor config
 * @param {string} storedUrl the display file (the stored window), shown when the stored window is chosen
 * @param {(url: string) => void} show
 * @returns {() => void} teardown
 */
export function bindWindow(parent, window_, storedUrl, show) {
  const { min, max } = window_;
  const section = element("section", { className: "card window-control" });
  section.dataset.window = "";
  section.append(element("h2", { textContent: "Window" }));
  const rows = [["Black at", "low", window_.low], ["White at", "high", window_.high]].map(([label, key, value]) => {
    const slider = element("input", { type: "range", min: "0", max: String(SLIDER_STEPS), step: "1" });
    const number = element("input", { type: "number", step: "any", min: String(min), max: String(max) });
    slider.dataset[key] = "";
    number.dataset[`${key}Value`] = "";
    number.setAttribute("aria-label", `${label} (value)`);
    const row = element("label", { className: "slider" });
    row.append(`${label} `, number, slider);
    section.append(row);
    return { slider, number, value };
  });
  const reset = element("button", { type: "button", textContent: "Reset window" });
  const buttons = element("div", { className: "row" });
  buttons.append(reset);
  section.append(buttons, element("p", { className: "muted small",
    textContent: `Values ${format(min)} to ${format(max)}. The view only: masks and models use the stored window.` }));
  parent.append(section);

  const toSlider = (value) => Math.round(((value - min) / (max - min || 1)) * SLIDER_STEPS);
  const fromSlider = (step) => (step >= SLIDER_STEPS ? max : step <= 0 ? min : min + ((max - min) * step) / SLIDER_STEPS);
  const clamp = (value) => Math.min(max, Math.max(min, value));
  const sync = () => {
    for (const row of rows) { row.slider.value = String(toSlider(row.value)); row.number.value = String(row.value); }
  };
  const apply = () => {
    const [low, high] = rows.map((row) => row.value);
    if (!(low < high)) { sync(); return; }
    const stored = low === window_.low && high === window_.high;
    section.dataset.window = stored ? "" : `${low},${high}`;
    show(stored ? storedUrl : `${window_.url}?${new URLSearchParams({ min: String(low), max: String(high) })}`);
  };
  const teardowns = [];
  const on = (target, type, handler) => {
    target.addEventListener(type, handler);
    teardowns.push(() => target.removeEventListener(type, handler));
  };
  rows.forEach((row, i) => {
    const other = rows[1 - i];
    const accept = (value) => {
      // Keep low below high: a slider pushed past the other one stops just short of it.
      const limit = i === 0 ? Math.min(value, other.value) : Math.max(value, other.value);
      row.value = limit === other.value ? row.value : clamp(limit);
    };
    on(row.slider, "input", () => { accept(fromSlider(Number(row.slider.value))); row.number.value = String(row.value); });
    on(row.slider, "change", () => { sync(); apply(); });
    on(row.number, "change", () => {
      const value = Number(row.number.value);
      if (Number.isFinite(value)) accept(value);
      sync();
      apply();
    });
  });
  on(reset, "click", () => { rows[0].value = window_.low; rows[1].value = window_.high; sync(); apply(); });
  sync();
  return () => { for (const teardown of teardowns.splice(0)) teardown(); section.remove(); };
}

function element(tag, properties) {
  return Object.assign(document.createElement(tag), properties);
}

function format(value) {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}
