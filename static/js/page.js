// Colours from the database (class swatches, chart legends) without style="..." attributes,
// which the Content-Security-Policy forbids (style-src 'self'): data-colour="#rrggbb" sets the
// element's --c custom property, which the CSS paints with. A style set through the CSSOM is
// not an inline style, so the policy allows it. Runs on the page and on every htmx swap.

function paint(root) {
  const elements = root.matches?.("[data-colour]") ? [root] : [];
  elements.push(...root.querySelectorAll("[data-colour]"));
  for (const element of elements) element.style.setProperty("--c", element.dataset.colour);
}

if (window.htmx) window.htmx.onLoad(paint);
else paint(document);
