// Review queue: overlay toggles, keyboard shortcuts (a accept, r reject, e edit, n next,
// t cycle overlay) and a timer of the time spent on the item, sent with the decision.
const item = document.getElementById("review-item");

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

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
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
