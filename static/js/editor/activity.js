// Active editing time: the page is visible and focused and the pointer or keys are in use.
// Gaps longer than IDLE_MS between inputs count as a break, not as work.
const IDLE_MS = 30_000;
const INPUTS = ["pointerdown", "pointermove", "keydown", "wheel"];

export class ActivityClock {
  #total = 0;
  #last = null;
  #teardown;

  constructor(target = window) {
    const onInput = () => this.#touch(performance.now());
    const onAway = () => { this.#last = null; };
    const onVisibility = () => { if (document.hidden) onAway(); };
    for (const type of INPUTS) target.addEventListener(type, onInput, { passive: true, capture: true });
    window.addEventListener("blur", onAway);
    document.addEventListener("visibilitychange", onVisibility);
    this.#teardown = () => {
      for (const type of INPUTS) target.removeEventListener(type, onInput, { capture: true });
      window.removeEventListener("blur", onAway);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }

  get seconds() { return this.#total / 1000; }

  /** Forget `seconds` of counted time (they were sent with a save); all of it by default. */
  reset(seconds = Infinity) { this.#total = Math.max(0, this.#total - seconds * 1000); }

  destroy() { this.#teardown(); }

  #touch(now) {
    if (document.hidden || !document.hasFocus()) { this.#last = null; return; }
    if (this.#last !== null && now - this.#last <= IDLE_MS) this.#total += now - this.#last;
    this.#last = now;
  }
}
