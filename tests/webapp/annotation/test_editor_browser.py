"""The editor in real Chromium: painting, undo, saving, conflicts, read-only reviewers, shortcuts.

Every check on painting reads the mask the server stored (mask_read of the current mask).
"""

import numpy as np
import pytest
from django.urls import reverse

from webapp.annotation import services, views
from webapp.images.services import mask_read

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

W, H = 200, 150
VOID, BACKGROUND, ROAD, CAR = 3, 0, 1, 2


def editor_url(live_server, image):
    path = reverse("annotation:editor", kwargs={"project_id": image.project_id, "image_id": image.id})
    return live_server.url + path


def open_editor(page, live_server, image):
    page.goto(editor_url(live_server, image))
    page.wait_for_selector("[data-editor][data-ready]")
    return page


def screen(page, x, y):
    """Client coordinates of the centre of image pixel (x, y)."""
    box = page.locator("canvas[data-overlay]").bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / W, box["y"] + (y + 0.5) * box["height"] / H


def click_pixel(page, x, y):
    page.mouse.click(*screen(page, x, y))


def drag(page, points):
    page.mouse.move(*screen(page, *points[0]))
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(*screen(page, x, y), steps=8)
    page.mouse.up()


def editor_value(page, x, y):
    return page.evaluate(f"document.querySelector('[data-editor]').editorPage.editor.labels[{y * W + x}]")


def save_and_wait(page, expected_status):
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "text => document.querySelector('[data-status]').textContent.includes(text)", arg=expected_status
    )


def distance_to_segment(shape, a, b):
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    (ax, ay), (bx, by) = a, b
    t = np.clip(((xs - ax) * (bx - ax) + (ys - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
    return np.hypot(xs - (ax + t * (bx - ax)), ys - (ay + t * (by - ay)))


def test_brush_polygon_fill_and_undo_are_saved_exactly(page_for, live_server, member, make_image):
    image = make_image(W, H)
    page = open_editor(page_for(member), live_server, image)
    size = 9
    page.locator("[data-size]").fill(str(size))
    # Brush: key 2 is the second class of the palette, road.
    page.keyboard.press("b")
    page.keyboard.press("2")
    stroke = [(20, 100), (60, 110), (100, 100)]
    drag(page, stroke)
    # Polygon: key 3 is car; the vertices sit on pixel centres, closed by clicking the first point.
    page.keyboard.press("p")
    page.keyboard.press("3")
    for x, y in [(120, 20), (180, 20), (180, 60), (120, 60), (120, 20)]:
        click_pixel(page, x, y)
    # Fill the car rectangle with background (key 1), then fill all the void with background and undo that.
    page.keyboard.press("g")
    page.keyboard.press("1")
    click_pixel(page, 150, 40)
    click_pixel(page, 5, 5)
    assert editor_value(page, 5, 5) == BACKGROUND
    page.keyboard.press("Control+z")
    assert editor_value(page, 5, 5) == VOID
    assert page.locator("[data-unsaved]").is_visible()
    save_and_wait(page, "Saved as version 1")
    assert not page.locator("[data-unsaved]").is_visible()

    image.refresh_from_db()
    saved = mask_read(image.current_mask)
    assert saved.shape == (H, W)
    assert set(np.unique(saved)) <= {VOID, BACKGROUND, ROAD, CAR}  # nothing anti-aliased
    expected_rect = np.zeros((H, W), dtype=bool)
    expected_rect[20:60, 120:180] = True  # the polygon's pixels, then filled with background
    assert (saved[expected_rect] == BACKGROUND).all()
    near = np.minimum(distance_to_segment(saved.shape, *stroke[:2]), distance_to_segment(saved.shape, *stroke[1:]))
    assert (saved[near <= size / 2 - 1] == ROAD).all()
    assert (saved[(near > size / 2 + 1) & ~expected_rect] == VOID).all()
    assert set(np.unique(saved[(near <= size / 2 + 1) & ~expected_rect])) <= {ROAD, VOID}
    assert image.current_mask.editing_seconds > 0
    assert page.js_errors == []


def test_second_save_from_a_stale_version_shows_the_conflict(page_for, live_server, member, owner, make_image):
    image = make_image(W, H, mask=np.full((H, W), VOID))  # version 1
    first = open_editor(page_for(member), live_server, image)
    second = open_editor(page_for(owner), live_server, image)
    for page, key, pixel in [(first, "2", (30, 30)), (second, "3", (150, 100))]:
        page.keyboard.press("g")
        page.keyboard.press(key)
        click_pixel(page, *pixel)
    save_and_wait(first, "Saved as version 2")
    save_and_wait(second, "someone else saved first")
    banner = second.locator("[data-conflict]")
    assert banner.is_visible()
    assert banner.locator("[data-conflict-message]").text_content() == (
        "Someone saved this mask (version 2) after you opened version 1. Your version is kept in the "
        "history as version 3; reload to see theirs, or keep editing."
    )
    image.refresh_from_db()
    assert image.current_mask.version == 2
    history = {m.version: (m.author, m.is_conflict) for m in image.masks.all()}
    assert history == {1: (owner, False), 2: (member, False), 3: (owner, True)}
    assert (mask_read(image.masks.get(version=3)) == CAR).all()

    # Keep editing: the next save replaces the current version.
    second.locator("[data-keep-editing]").click()
    assert not banner.is_visible()
    save_and_wait(second, "Saved as version 4")
    image.refresh_from_db()
    assert image.current_mask.version == 4 and (mask_read(image.current_mask) == CAR).all()

    # The first page is stale now: it reloads theirs and shows it, with nothing unsaved.
    click_pixel(first, 5, 5)  # fill tool, road: no change (already road)
    first.keyboard.press("e")
    drag(first, [(10, 10), (20, 10)])
    save_and_wait(first, "someone else saved first")
    first.locator("[data-reload-theirs]").click()
    first.wait_for_selector("[data-editor][data-ready]")
    assert editor_value(first, 10, 10) == CAR
    assert first.get_attribute("[data-editor]", "data-dirty") is None
    assert first.js_errors == [] and second.js_errors == []


def test_reviewer_sees_the_mask_read_only_and_cannot_save(page_for, live_server, reviewer, make_image):
    image = make_image(W, H)
    page = open_editor(page_for(reviewer), live_server, image)
    assert page.locator("[data-save]").is_disabled()
    assert page.locator("[data-save-next]").is_disabled()
    assert page.locator("[data-read-only]").is_visible()
    page.keyboard.press("g")
    click_pixel(page, 10, 10)
    page.keyboard.press("Control+s")
    assert editor_value(page, 10, 10) == VOID
    answer = page.evaluate("""async () => {
        const island = document.querySelector('[data-editor]');
        const config = JSON.parse(island.querySelector('script[type="application/json"]').textContent);
        const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
        const pngModule = await import('/static/js/editor/png.js');
        const png = await pngModule.encodeIndexPng(island.editorPage.editor.labels, config.width, config.height);
        const form = new FormData();
        form.append('mask', png, 'mask.png');
        form.append('base_version', '0');
        const response = await fetch(config.urls.save, {method: 'POST', body: form, headers: {'X-CSRFToken': token}});
        return {status: response.status, body: await response.json()};
    }""")
    assert answer == {"status": 403, "body": {"error": views.SAVE_NEEDS_ANNOTATOR}}
    assert not image.masks.exists()


def test_keyboard_shortcuts_choose_classes_tools_undo_redo_and_help(page_for, live_server, member, make_image):
    image = make_image(W, H)
    page = open_editor(page_for(member), live_server, image)
    island = page.locator("[data-editor]")
    page.keyboard.press("3")
    assert island.get_attribute("data-current-class") == str(CAR)
    assert page.locator("button[data-class-index='2']").get_attribute("aria-pressed") == "true"
    page.keyboard.press("4")
    assert island.get_attribute("data-current-class") == str(VOID)
    page.keyboard.press("1")
    assert island.get_attribute("data-current-class") == str(BACKGROUND)
    for key, tool in [("e", "eraser"), ("p", "polygon"), ("g", "fill"), ("b", "brush")]:
        page.keyboard.press(key)
        assert island.get_attribute("data-tool") == tool
    size = int(page.locator("[data-size]").input_value())
    page.keyboard.press("]")
    assert int(page.locator("[data-size]").input_value()) > size
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert int(page.locator("[data-size]").input_value()) < size

    page.keyboard.press("g")
    click_pixel(page, 50, 50)
    assert editor_value(page, 50, 50) == BACKGROUND and island.get_attribute("data-dirty") == ""
    page.keyboard.press("Control+z")
    assert editor_value(page, 50, 50) == VOID and island.get_attribute("data-dirty") is None
    page.keyboard.press("Control+Shift+z")
    assert editor_value(page, 50, 50) == BACKGROUND
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+y")
    assert editor_value(page, 50, 50) == BACKGROUND

    page.keyboard.press("h")
    assert page.locator("canvas[data-overlay]").is_hidden()
    page.keyboard.press("h")
    assert page.locator("canvas[data-overlay]").is_visible()

    page.locator("[data-prefill]").click()
    page.wait_for_function(
        "text => document.querySelector('[data-status]').textContent === text", arg=services.NOTHING_TO_PREFILL
    )

    page.keyboard.press("?")
    help_dialog = page.locator("dialog[data-help]")
    assert help_dialog.is_visible() and "Undo" in help_dialog.text_content()
    page.keyboard.press("Escape")
    assert help_dialog.is_hidden()
    assert page.js_errors == []


def test_index_pngs_round_trip_exactly_through_the_pages_encoder_and_decoder(page_for, live_server, member, make_image):
    """Every value 0..255 survives: JS encoder -> PIL, PIL -> JS decoder, and PIL -> <img> -> canvas."""
    from tests.conftest import mask_png

    values = (np.arange(W * H) * 7919 % 256).astype(np.uint8).reshape(H, W)
    image = make_image(W, H)
    page = open_editor(page_for(member), live_server, image)
    result = page.evaluate(
        """async ([pilPng, width, height]) => {
        const png = await import('/static/js/editor/png.js');
        const bytes = Uint8Array.from(atob(pilPng), c => c.charCodeAt(0));
        const decoded = await png.decodeIndexPng(bytes.buffer);
        const encoded = new Uint8Array(await (await png.encodeIndexPng(decoded.labels, width, height)).arrayBuffer());
        const img = new Image();
        img.src = URL.createObjectURL(new Blob([bytes], {type: 'image/png'}));
        await img.decode();
        const canvas = new OffscreenCanvas(width, height);
        const context = canvas.getContext('2d');
        context.drawImage(img, 0, 0);
        const rgba = context.getImageData(0, 0, width, height).data;
        const red = Array.from({length: width * height}, (_, i) => rgba[4 * i]);
        return {decoded: Array.from(decoded.labels), reencoded: btoa(String.fromCharCode(...encoded)), red};
    }""",
        [__import__("base64").b64encode(mask_png(values)).decode(), W, H],
    )
    assert np.array_equal(np.array(result["decoded"], dtype=np.uint8).reshape(H, W), values)
    import base64
    import io

    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(base64.b64decode(result["reencoded"]))) as reencoded:
        assert reencoded.mode == "L"
        assert np.array_equal(np.array(reencoded), values)
    # Drawing a grayscale PNG without gamma or ICC through <img> is exact in Chromium as well.
    assert np.array_equal(np.array(result["red"], dtype=np.uint8).reshape(H, W), values)


def test_polygon_closes_with_enter_or_double_click(page_for, live_server, member, make_image):
    image = make_image(W, H)
    page = open_editor(page_for(member), live_server, image)
    page.keyboard.press("p")
    page.keyboard.press("2")
    for x, y in [(10, 10), (60, 10), (10, 60)]:
        click_pixel(page, x, y)
    page.keyboard.press("Enter")
    page.keyboard.press("3")
    for x, y in [(100, 100), (150, 100)]:
        click_pixel(page, x, y)
    page.mouse.dblclick(*screen(page, 100, 140))
    assert page.evaluate("document.querySelector('[data-editor]').editorPage.editor.polygonPoints") == 0
    assert (editor_value(page, 20, 20), editor_value(page, 55, 55)) == (ROAD, VOID)
    assert (editor_value(page, 110, 120), editor_value(page, 145, 135)) == (CAR, VOID)


def test_wheel_zooms_around_the_cursor_space_drag_pans_and_f_fits(page_for, live_server, member, make_image):
    image = make_image(W, H)
    page = open_editor(page_for(member), live_server, image)
    fitted = page.locator("canvas[data-overlay]").bounding_box()
    cursor = screen(page, 50, 40)
    page.mouse.move(*cursor)
    page.mouse.wheel(0, -300)
    zoomed = page.locator("canvas[data-overlay]").bounding_box()
    assert zoomed["width"] > fitted["width"] * 1.5
    # The pixel under the cursor stays under it.
    x = (cursor[0] - zoomed["x"]) / zoomed["width"] * W
    y = (cursor[1] - zoomed["y"]) / zoomed["height"] * H
    assert abs(x - 50.5) < 0.5 and abs(y - 40.5) < 0.5
    page.keyboard.down(" ")
    page.mouse.down()
    page.mouse.move(cursor[0] + 80, cursor[1] + 30, steps=4)
    page.mouse.up()
    page.keyboard.up(" ")
    panned = page.locator("canvas[data-overlay]").bounding_box()
    assert (round(panned["x"] - zoomed["x"]), round(panned["y"] - zoomed["y"])) == (80, 30)
    assert page.get_attribute("[data-editor]", "data-dirty") is None  # panning painted nothing
    page.mouse.move(cursor[0], cursor[1])
    page.mouse.down(button="middle")
    page.mouse.move(cursor[0] - 20, cursor[1], steps=2)
    page.mouse.up(button="middle")
    assert round(page.locator("canvas[data-overlay]").bounding_box()["x"] - panned["x"]) == -20
    page.keyboard.press("f")
    assert page.locator("canvas[data-overlay]").bounding_box() == pytest.approx(fitted)


def test_undo_and_redo_hold_at_least_100_steps(page_for, live_server, member):
    page = page_for(member)
    page.goto(live_server.url + reverse("login"))
    restored = page.evaluate("""async () => {
        const { LabelMap, DirtyRect } = await import('/static/js/editor/labelmap.js');
        const { History } = await import('/static/js/editor/history.js');
        const { paintDisc } = await import('/static/js/editor/tools.js');
        const map = new LabelMap(300, 200);
        const committed = new LabelMap(300, 200);
        const history = new History();
        const states = [map.data.slice()];
        for (let i = 0; i < 120; i++) {
            const dirty = new DirtyRect();
            paintDisc(map, (i * 37) % 300, (i * 53) % 200, 5 + (i % 30), 1 + (i % 5), dirty);
            history.push(dirty, committed.readRect(dirty));
            committed.copyRectFrom(map, dirty);
            states.push(map.data.slice());
        }
        const same = (a, b) => a.every((v, i) => v === b[i]);
        let undone = 0;
        while (history.undo(map)) { undone++; if (!same(map.data, states[120 - undone])) return 'undo ' + undone; }
        let redone = 0;
        while (history.redo(map)) { redone++; if (!same(map.data, states[redone])) return 'redo ' + redone; }
        return [undone, redone];
    }""")
    assert restored == [120, 120]
