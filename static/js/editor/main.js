// Starts an editor on every [data-editor] island that htmx loads, and stops it when htmx
// removes the island.
import { EditorPage } from "./page.js";

function start(root) {
  const islands = root.matches?.("[data-editor]") ? [root] : [...(root.querySelectorAll?.("[data-editor]") ?? [])];
  for (const island of islands) {
    if (!island.editorPage) island.editorPage = new EditorPage(island);
  }
}

if (window.htmx) {
  window.htmx.onLoad(start);
} else {
  start(document);
}

document.addEventListener("htmx:beforeCleanupElement", (event) => {
  const island = event.target;
  if (island.editorPage) {
    island.editorPage.destroy();
    island.editorPage = null;
  }
});
