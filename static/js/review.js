// Review queue: overlay toggles, keyboard shortcuts (a accept, r reject, e edit, n next,
// t cycle overlay) and a timer of the time spent on the item, sent with the decision.
// "Review by region" (./review/regions.js) takes over 1, 2, p, k, c, Tab, a and f while its
// panel is open; the page remembers the mode for the next item.
import { RegionReview } from "./review/regions.js";

const item = document.getElementById("review-item");
const BY_REGION = "segloop.review.byRegion";

if (item) {
  const started = performance.now();
  const layers = [...item.querySelectorAll("img.layer")];
  const buttons = [...item.querySelectorAll(".layer-tabs button")];
  const order = buttons.map((b) => b.dataset.show);

  function show(name) {
    layers.forEach((img) => { img.hidden = img.dataset.layer !== name; });
    buttons.forEach((b) => b.classList.toggle("active", b.dataset.show === name));
  }
  buttons.forEach((b) => b.addEventListener("click", () => show(b.dataset.show)));

  document.querySelectorAll("#accept-form, #reject-form").forEach((form) => {
    form.addEventListener("submit", () => {
      form.elements.seconds.value = ((performance.now() - started) / 1000).toFixed(1);
    });
  });

  function submit(id) {
    const form = document.getElementById(id);
    if (form) form.requestSubmit();
  }

  const panel = document.getElementById("region-panel");
  const toggle = document.getElementById("region-mode-toggle");
  const regions = panel ? new RegionReview({ panel, canvas: item.querySelector("canvas[data-regions]") }) : null;

  function byRegion(on) {
    toggle.setAttribute("aria-pressed", String(on));
    item.classList.toggle("by-region", on); // a, the whole-image accept's key, now accepts the rest
    localStorage.setItem(BY_REGION, on ? "1" : "");
    if (on) {
      // The canvas previews the pseudo-label with the choices: the labels layer would double it.
      if (buttons.find((b) => b.classList.contains("active"))?.dataset.show === "labels") show("");
      regions.open().catch(() => {}); // the panel shows why
    } else {
      regions.close();
      show("labels");
    }
  }
  if (regions) {
    toggle.addEventListener("click", () => byRegion(!regions.active));
    if (localStorage.getItem(BY_REGION)) byRegion(true);
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input:not([type=radio]), textarea, select, [contenteditable]")) return;
    if (regions?.handleKey(event)) {
      event.preventDefault();
      return;
    }
    const key = event.key.toLowerCase();
    if (key === "a") submit("accept-form");
    else if (key === "r") submit("reject-form");
    else if (key === "n") submit("skip-form");
    else if (key === "e") document.getElementById("edit-link")?.click();
    else if (key === "t") {
      const current = buttons.find((b) => b.classList.contains("active"))?.dataset.show ?? "";
      show(order[(order.indexOf(current) + 1) % order.length]);
    } else return;
    event.preventDefault();
  });
}
