"""Editor speed on a 4000x3000 image, measured inside Chromium with performance.now().

Starts its own Django server on 127.0.0.1 with a temporary SQLite database and media folder,
imports one 4000x3000 image (its superpixels computed through superpixels_compute), opens
the editor and times: loading, one long brush stroke (label-map writes per pointer move and
the overlay's dirty-rectangle renders), a flood fill of most of the image, its undo, and a
save (PNG encoding in the page plus the request). Then the superpixel tool: decoding and
indexing the superpixels, click-to-painted of single clicks (label-map writes plus the
overlay render of the superpixel's box), a drag across about 20 superpixels, and the
clean-up actions (fill holes, remove islands) on a mask of blobs with holes and specks.

    .venv/bin/python bench/editor_browser.py [--width 4000 --height 3000] [--write-docs]

Prints JSON; --write-docs puts the figures into the "Editor" section of docs/benchmarks.md.
"""

import argparse
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from report import docs_section_replace  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COMMAND = ".venv/bin/python bench/editor_browser.py --write-docs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--brush", type=int, default=40, help="brush diameter in image pixels")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segloop-bench-") as data_dir:
        os.environ.update(SEGLOOP_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="webapp.settings", DEBUG="true")
        os.environ.pop("DATABASE_URL", None)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        image, session_key, superpixels_s = _fixture(args.width, args.height)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(base)
            figures = _measure(base, image, session_key, args)
            figures["superpixels"]["compute_s"] = round(superpixels_s, 2)
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(json.dumps(figures, indent=2))
    if args.write_docs:
        _write_docs(figures)
    return 0


def _fixture(width: int, height: int):
    """A user, a CamVid-like project and one smooth 4000x3000 JPEG (what a camera gives)."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from PIL import Image as PILImage

    from webapp.images.services import image_import
    from webapp.images.superpixels import superpixels_compute
    from webapp.projects.services import ClassSpec, project_create

    user = get_user_model().objects.create_user(username="bench", password="bench-password-1")
    names = ["sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian", "bicyclist"]
    project = project_create(
        owner=user, name="Bench", classes=[*map(ClassSpec, names), ClassSpec("void", is_ignore=True)]
    )
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([(xs * 255 // width), (ys * 255 // height), ((xs + ys) * 255 // (width + height))], axis=-1)
    buffer = io.BytesIO()
    PILImage.fromarray(rgb.astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    image = image_import(project=project, name="bench.jpg", data=buffer.getvalue(), uploaded_by=user)
    started = time.perf_counter()
    superpixels_compute(image=image)
    superpixels_s = time.perf_counter() - started
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return image, session.session_key, superpixels_s


def _measure(base: str, image, session_key: str, args) -> dict:
    from playwright.sync_api import sync_playwright

    url = f"{base}/projects/{image.project_id}/images/{image.id}/edit/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": session_key, "url": base}])
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("[data-editor][data-ready]", timeout=120_000)
        load_s = time.perf_counter() - started
        page.locator("[data-size]").fill(str(args.brush))
        page.keyboard.press("2")
        box = page.locator("[data-viewport]").bounding_box()
        # One long stroke: 200 pointer moves across the image, each painting a segment.
        page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.7, steps=200)
        page.mouse.up()
        page.wait_for_timeout(100)  # let the last frame render
        stroke = page.evaluate("document.querySelector('[data-editor]').editorPage.editor.stats")
        # Fill most of the image (the unpainted region around the stroke), then undo it.
        page.keyboard.press("g")
        page.keyboard.press("1")
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.1)
        fill = page.evaluate("document.querySelector('[data-editor]').editorPage.editor.stats.lastStroke")
        undo_ms = page.evaluate("""() => { const e = document.querySelector('[data-editor]').editorPage.editor;
            const t = performance.now(); e.undo(); return performance.now() - t; }""")
        save = page.evaluate("""async () => { const p = document.querySelector('[data-editor]').editorPage;
            const t = performance.now(); await p.save(); return {totalMs: performance.now() - t, ...p.lastSave}; }""")
        superpixels = _measure_superpixels(page, args)
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "segloop-editor-bench.png"))
        browser.close()
    last = stroke["lastStroke"]
    return {
        "image": f"{image.width}x{image.height}",
        "brush_px": args.brush,
        "load_s": round(load_s, 2),
        "stroke": {
            "pointer_moves": last["moves"],
            "apply_total_ms": round(last["applyMs"], 1),
            "apply_mean_ms_per_move": round(last["applyMs"] / last["moves"], 3),
            "apply_max_ms_per_move": round(last["maxMoveMs"], 2),
            "dirty_rect": f"{last['width']}x{last['height']}",
            "renders": stroke["renders"],
            "render_mean_ms": round(stroke["renderMs"] / max(1, stroke["renders"]), 2),
            "render_max_ms": round(stroke["maxRenderMs"], 2),
        },
        "fill": {"dirty_rect": f"{fill['width']}x{fill['height']}", "apply_ms": round(fill["applyMs"], 1)},
        "undo_fill_ms": round(undo_ms, 1),
        "save": {
            "total_ms": round(save["totalMs"], 1),
            "encode_ms": round(save["encodeMs"], 1),
            "request_ms": round(save["requestMs"], 1),
            "png_bytes": save["bytes"],
            "version": save["version"],
        },
        "superpixels": superpixels,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), headless Chromium",
    }


EDITOR = "document.querySelector('[data-editor]').editorPage.editor"
NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
RESET_RENDER_STATS = (
    f"() => Object.assign({EDITOR}.stats, {{renders: 0, renderMs: 0, maxRenderMs: 0, lastRender: null}})"
)


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _measure_superpixels(page, args) -> dict:
    """The superpixel tool and the clean-up actions, after the brush figures."""
    page.wait_for_selector("[data-editor][data-superpixels]", timeout=120_000)
    load = page.evaluate("""async () => {
        const page = document.querySelector('[data-editor]').editorPage;
        const { loadSuperpixels } = await import('/static/js/editor/superpixels.js');
        const url = JSON.parse(document.querySelector('[data-editor] script[type="application/json"]').textContent).urls.superpixels;
        const started = performance.now();
        const again = await loadSuperpixels(url);  // the file comes from the browser's cache now
        return {ms: performance.now() - started, count: page.superpixels.count, same: again.count === page.superpixels.count};
    }""")
    box = page.locator("canvas[data-overlay]").bounding_box()
    scale = box["width"] / args.width

    def screen(x, y):
        return box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale

    page.keyboard.press("s")
    page.keyboard.press("3")
    # Single clicks on 20 superpixels across the image: writes on pointerdown, then the frame
    # that renders the superpixel's box; the undo step is recorded on pointerup.
    clicks = []
    for k in range(20):
        x, y = args.width * (0.08 + 0.84 * (k % 5) / 4), args.height * (0.1 + 0.8 * (k // 5) / 3)
        page.evaluate(RESET_RENDER_STATS)
        page.mouse.move(*screen(x, y))
        page.mouse.down()
        page.evaluate(NEXT_FRAME)
        render = page.evaluate(f"{EDITOR}.stats.lastRender")
        page.mouse.up()
        stroke = page.evaluate(f"{EDITOR}.stats.lastStroke")
        if render is None or stroke["tool"] != "superpixel":
            continue  # that superpixel was painted already
        clicks.append(
            {
                "apply": stroke["applyMs"],
                "render": render["ms"],
                "commit": stroke["commitMs"],
                "to_frame": render["end"] - stroke["startedAt"],
                "box": stroke["width"] * stroke["height"],
            }
        )
    # A drag across about 20 superpixels (their mean width times 20), in one class not yet used.
    side = (args.width * args.height / load["count"]) ** 0.5
    page.keyboard.press("4")
    page.evaluate(RESET_RENDER_STATS)
    start = (args.width * 0.3, args.height * 0.55)
    page.mouse.move(*screen(*start))
    page.mouse.down()
    page.mouse.move(*screen(start[0] + 19.5 * side, start[1]), steps=40)
    page.mouse.up()
    page.evaluate(NEXT_FRAME)
    drag = page.evaluate(f"{EDITOR}.stats")
    cleanup = page.evaluate(f"""async () => {{
        const editor = {EDITOR};
        const frame = {NEXT_FRAME};
        // Blobs of the current class (pedestrian) with holes of other classes and unpainted
        // pixels, plus specks: a seeded mask, put in as one undoable step.
        const w = editor.width, h = editor.height, labels = new Uint8Array(w * h).fill(11);
        let seed = 12345;
        const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
        const disc = (cx, cy, r, value) => {{
            for (let y = Math.max(0, cy - r); y <= Math.min(h - 1, cy + r); y++) {{
                const half = Math.floor(Math.sqrt(r * r - (y - cy) * (y - cy)));
                labels.fill(value, y * w + Math.max(0, cx - half), y * w + Math.min(w - 1, cx + half) + 1);
            }}
        }};
        for (let k = 0; k < 24; k++) disc(Math.floor(random() * w), Math.floor(random() * h), 150 + Math.floor(random() * 350), 9);
        for (let k = 0; k < 600; k++) disc(Math.floor(random() * w), Math.floor(random() * h), 3 + Math.floor(random() * 30), random() < 0.5 ? 11 : 3);
        for (let k = 0; k < 3000; k++) disc(Math.floor(random() * w), Math.floor(random() * h), Math.floor(random() * 8), 9);
        editor.setClass(9);
        editor.replaceAll(labels);
        await frame();
        const out = {{}};
        for (const [name, run] of [["fill_holes", () => editor.fillHoles()], ["remove_islands", () => editor.removeIslands(100)]]) {{
            Object.assign(editor.stats, {{renders: 0, renderMs: 0, maxRenderMs: 0, lastRender: null}});
            const started = performance.now();
            const pixels = run();
            const returned = performance.now() - started;
            await frame();
            const last = editor.stats.lastStroke, render = editor.stats.lastRender;
            const undoStarted = performance.now();
            editor.undo();
            const undoMs = performance.now() - undoStarted;
            editor.redo();
            await frame();
            out[name] = {{pixels, apply_ms: last.applyMs, commit_ms: last.commitMs, render_ms: render.ms,
                          total_ms: returned + render.ms, dirty_rect: `${{last.width}}x${{last.height}}`, undo_ms: undoMs}};
        }}
        return out;
    }}""")
    last = drag["lastStroke"]
    r = lambda value, digits=2: round(value, digits)  # noqa: E731
    return {
        "count": load["count"],
        "mean_region_px": round(args.width * args.height / load["count"]),
        "load_decode_index_ms": r(load["ms"], 1),
        "click": {
            "clicks": len(clicks),
            "to_painted_median_ms": r(_median([c["apply"] + c["render"] for c in clicks])),
            "to_painted_max_ms": r(max(c["apply"] + c["render"] for c in clicks)),
            "apply_median_ms": r(_median([c["apply"] for c in clicks]), 3),
            "render_median_ms": r(_median([c["render"] for c in clicks])),
            "commit_on_release_median_ms": r(_median([c["commit"] for c in clicks]), 3),
            "to_frame_median_ms": r(_median([c["to_frame"] for c in clicks])),
            "box_median_px": round(_median([c["box"] for c in clicks])),
        },
        "drag": {
            "regions": last.get("regions"),
            "pointer_moves": last["moves"],
            "apply_total_ms": r(last["applyMs"]),
            "apply_max_ms_per_move": r(last["maxMoveMs"]),
            "renders": drag["renders"],
            "render_mean_ms": r(drag["renderMs"] / max(1, drag["renders"])),
            "render_max_ms": r(drag["maxRenderMs"]),
            "commit_ms": r(last["commitMs"]),
            "dirty_rect": f"{last['width']}x{last['height']}",
        },
        "fill_holes": {k: (r(v, 1) if isinstance(v, float) else v) for k, v in cleanup["fill_holes"].items()},
        "remove_islands": {k: (r(v, 1) if isinstance(v, float) else v) for k, v in cleanup["remove_islands"].items()},
    }


def _write_docs(figures: dict) -> None:
    s, f, save = figures["stroke"], figures["fill"], figures["save"]
    sp = figures["superpixels"]
    click, drag, holes, islands = sp["click"], sp["drag"], sp["fill_holes"], sp["remove_islands"]
    section = f"""## Editor

Measured in headless Chromium with `performance.now()` inside the page, on a {figures["image"]} image
({figures["machine"]}). Command:

    {COMMAND}

| What | Time |
|---|---|
| Open the editor until the mask is loaded and shown | {figures["load_s"]} s |
| Brush stroke ({figures["brush_px"]} px, {s["pointer_moves"]} pointer moves): label-map writes per move | mean {s["apply_mean_ms_per_move"]} ms, max {s["apply_max_ms_per_move"]} ms |
| Overlay re-render of the dirty rectangle per frame ({s["renders"]} frames) | mean {s["render_mean_ms"]} ms, max {s["render_max_ms"]} ms |
| Flood fill of the unpainted region around the stroke (dirty rectangle {f["dirty_rect"]}) | {f["apply_ms"]} ms |
| Undo of that fill | {figures["undo_fill_ms"]} ms |
| Save: PNG encoding in the page | {save["encode_ms"]} ms ({save["png_bytes"]:,} bytes) |
| Save: request until the server answered (decode, check, store) | {save["request_ms"]} ms |
| Save in total | {save["total_ms"]} ms |
| Superpixels ({sp["count"]:,} regions of {sp["mean_region_px"]} px on average): computed by `superpixels_compute` | {sp["compute_s"]} s |
| Superpixels: fetched from the browser cache, decoded and indexed in the page | {sp["load_decode_index_ms"]} ms |
| Superpixel click to painted: label-map writes plus the overlay render of its box (median, max of {click["clicks"]} clicks) | {click["to_painted_median_ms"]} ms, {click["to_painted_max_ms"]} ms |
| Superpixel drag across {drag["regions"]} regions: writes per pointer move (max), overlay render per frame (max) | {drag["apply_max_ms_per_move"]} ms, {drag["render_max_ms"]} ms |
| Fill holes of one class ({holes["pixels"]:,} pixels changed, dirty rectangle {holes["dirty_rect"]}): writes, undo step, render | {holes["apply_ms"]} + {holes["commit_ms"]} + {holes["render_ms"]} ms |
| Remove islands under 100 px ({islands["pixels"]:,} pixels changed): writes, undo step, render | {islands["apply_ms"]} + {islands["commit_ms"]} + {islands["render_ms"]} ms |
"""
    docs_section_replace(section, heading="## Editor")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/login/", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("The Django server did not start.")


if __name__ == "__main__":
    sys.exit(main())
