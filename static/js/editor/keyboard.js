// Keyboard shortcuts as data: the page binds actions by name, the help overlay lists them.
export const SHORTCUTS = [
  { keys: ["1"], label: "1–9, 0", action: "class", help: "Choose class 1–10 of the palette" },
  { keys: ["b"], label: "B", action: "brush", help: "Brush" },
  { keys: ["e"], label: "E", action: "eraser", help: "Eraser (paints “unpainted”)" },
  { keys: ["p"], label: "P", action: "polygon", help: "Polygon: click points; double-click, Enter or the first point closes" },
  { keys: ["g"], label: "G", action: "fill", help: "Fill the connected region under the cursor" },
  { keys: ["s"], label: "S", action: "superpixel", help: "Superpixel: click paints the region under the cursor, drag paints every region it crosses" },
  { keys: ["["], label: "[ ]", action: "smaller", help: "Brush smaller / larger" },
  { keys: ["]"], label: "", action: "larger", help: "" },
  { keys: ["h"], label: "H", action: "toggleMask", help: "Show or hide the mask" },
  { keys: ["f"], label: "F", action: "fit", help: "Fit the image to the screen" },
  { keys: ["ctrl+z"], label: "Ctrl+Z", action: "undo", help: "Undo" },
  { keys: ["ctrl+shift+z", "ctrl+y"], label: "Ctrl+Shift+Z, Ctrl+Y", action: "redo", help: "Redo" },
  { keys: ["ctrl+s"], label: "Ctrl+S", action: "save", help: "Save" },
  { keys: ["Enter"], label: "Enter", action: "closePolygon", help: "Close the polygon" },
  { keys: ["Escape"], label: "Esc", action: "cancel", help: "Drop the polygon / close this help" },
  { keys: ["Backspace"], label: "Backspace", action: "dropPoint", help: "Remove the polygon's last point" },
  { keys: ["?"], label: "?", action: "help", help: "This help" },
];

const BY_KEY = new Map(SHORTCUTS.flatMap((s) => s.keys.map((k) => [k, s.action])));

function keyName(event) {
  const ctrl = event.ctrlKey || event.metaKey;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (ctrl) return `ctrl+${event.shiftKey ? "shift+" : ""}${key}`;
  return event.key === "?" ? "?" : key;
}

function typingInField(event) {
  const el = event.target;
  return el instanceof HTMLElement && (el.isContentEditable || el.matches("input:not([type=range]):not([type=checkbox]), textarea, select"));
}

/**
 * Call handlers[action](event, detail) for shortcut keys on `target`; returns the teardown.
 * Number keys call handlers.class with the palette position (0-based; key 0 is the tenth).
 */
export function bindShortcuts(target, handlers) {
  function onKeyDown(event) {
    if (typingInField(event) || event.altKey) return;
    if (!event.ctrlKey && !event.metaKey && /^[0-9]$/.test(event.key)) {
      handlers.class?.(event, event.key === "0" ? 9 : Number(event.key) - 1);
      event.preventDefault();
      return;
    }
    const action = BY_KEY.get(keyName(event));
    if (action && handlers[action]) {
      event.preventDefault();
      handlers[action](event);
    }
  }
  target.addEventListener("keydown", onKeyDown);
  return () => target.removeEventListener("keydown", onKeyDown);
}
