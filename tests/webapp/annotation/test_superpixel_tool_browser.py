"""The editor's superpixel tool and clean-up actions in real Chromium.

The image is a grid of flat colour blocks, its superpixels are computed by the service before
the editor opens, and every check reads the mask the server stored after a save (mask_read)
against the labels the server computed.
"""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage
from scipy import ndimage

from webapp.images.services import image_import, mask_read, mask_save
from webapp.images.superpixels import superpixels_compute, superpixels_png, superpixels_read

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

W, H = 128, 96
BLOCK = 32
VOID, BACKGROUND, ROAD, CAR = 3, 0, 1, 2


def blocks_png() -> bytes:
    """4 x 3 flat blocks of clearly different colours: SLIC follows their edges."""
    rng = np.random.default_rng(7)
    colours = rng.permutation(np.array([[r, g, b] for r in (20, 130, 240) for g in (20, 230) for b in (40, 200)]))
    rgb = np.zeros((H, W, 3), np.uint8)
    for k, (by, bx) in enumerate(np.ndindex(H // BLOCK, W // BLOCK)):
        rgb[by * BLOCK : (by + 1) * BLOCK, bx * BLOCK : (bx + 1) * BLOCK] = colours[k]
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def image(project, owner):
    """The block image with its superpixels computed, and no mask yet."""
    image = image_import(project=project, name="blocks.png", data=blocks_png(), uploaded_by=owner)
    superpixels_compute(image=image)
    return image


def server_labels(image) -> np.ndarray:
    """The superpixel ids the server computed and stored."""
    labels = superpixels_read(image)
    assert labels.shape == (H, W)
    return labels


def open_editor(page, live_server, image, superpixels=True):
    page.goto(
        live_server.url + reverse("annotation:editor", kwargs={"project_id": image.project_id, "image_id": image.id})
    )
    page.wait_for_selector("[data-editor][data-ready]")
    if superpixels:
        page.wait_for_selector("[data-editor][data-superpixels]")
    return page


def screen(page, x, y):
    """Client coordinates of the centre of image pixel (x, y)."""
    box = page.locator("canvas[data-overlay]").bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / W, box["y"] + (y + 0.5) * box["height"] / H


def saved_mask(page, image, expected_version) -> np.ndarray:
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "text => document.querySelector('[data-status]').textContent.includes(text)",
        arg=f"Saved as version {expected_version}",
    )
    image.refresh_from_db()
    return mask_read(image.current_mask)


def test_superpixels_decode_to_the_servers_ids_and_index_every_pixel(page_for, live_server, member, image):
    labels = server_labels(image)
    page = open_editor(page_for(member), live_server, image)
    decoded = page.evaluate("""() => {
        const sp = document.querySelector('[data-editor]').editorPage.superpixels;
        const pixels = [];
        for (let id = 0; id < sp.count; id++) pixels.push(Array.from(sp.pixelsOf(id)));
        return {width: sp.width, height: sp.height, count: sp.count, labels: Array.from(sp.labels),
                pixels, idAt: sp.idAt(70, 40), bounds: sp.boundsOf(sp.idAt(70, 40))};
    }""")
    assert (decoded["width"], decoded["height"]) == (W, H)
    assert np.array_equal(np.array(decoded["labels"]).reshape(H, W), labels)
    assert decoded["count"] == labels.max() + 1 > 1
    flat = labels.ravel()
    for region, pixels in enumerate(decoded["pixels"]):
        assert pixels == np.flatnonzero(flat == region).tolist()
    assert decoded["idAt"] == labels[40, 70]
    ys, xs = np.nonzero(labels == labels[40, 70])
    assert decoded["bounds"] == {"x0": xs.min(), "y0": ys.min(), "x1": xs.max() + 1, "y1": ys.max() + 1}
    assert page.js_errors == []


def test_ids_in_all_three_channels_decode_exactly(page_for, live_server, member):
    """The server's PNG encoding of ids up to 70,000 (R, G and B in use) decodes to the same ids."""
    h, w = 250, 300  # more pixels than ids: a map can hold no id beyond its pixel count
    labels = ((np.arange(h * w) * 7919 + 60_000) % 70_001).reshape(h, w).astype(np.int32)
    page = page_for(member)
    # Served from the page's own origin (the Content-Security-Policy allows no blob: fetch).
    page.route(
        "**/test-superpixels.png", lambda route: route.fulfill(body=superpixels_png(labels), content_type="image/png")
    )
    page.goto(live_server.url + reverse("login"))
    decoded = page.evaluate(
        """async () => {
        const { loadSuperpixels } = await import('/static/js/editor/superpixels.js');
        const sp = await loadSuperpixels('/test-superpixels.png');
        return {count: sp.count, labels: Array.from(sp.labels), size: sp.pixelsOf(70000).length};
    }"""
    )
    assert np.array_equal(np.array(decoded["labels"]).reshape(h, w), labels)
    assert decoded["count"] == 70_001 and decoded["size"] == (labels == 70_000).sum()


def test_click_paints_exactly_its_superpixel_and_undo_restores_it(page_for, live_server, member, image):
    labels = server_labels(image)
    page = open_editor(page_for(member), live_server, image)
    island = page.locator("[data-editor]")
    page.keyboard.press("s")
    assert island.get_attribute("data-tool") == "superpixel"
    page.keyboard.press("2")  # road
    page.mouse.click(*screen(page, 50, 45))
    saved = saved_mask(page, image, 1)
    expected = np.where(labels == labels[45, 50], ROAD, VOID)
    assert np.array_equal(saved, expected)
    page.keyboard.press("Control+z")
    assert np.array_equal(saved_mask(page, image, 2), np.full((H, W), VOID))
    page.keyboard.press("Control+Shift+z")
    assert np.array_equal(saved_mask(page, image, 3), expected)
    assert page.js_errors == []


def test_drag_paints_every_superpixel_it_crosses(page_for, live_server, member, image):
    labels = server_labels(image)
    page = open_editor(page_for(member), live_server, image)
    page.keyboard.press("s")
    page.keyboard.press("3")  # car
    y, x0, x1 = 60, 5, 120
    page.mouse.move(*screen(page, x0, y))
    page.mouse.down()
    page.mouse.move(*screen(page, x1, y), steps=6)
    page.mouse.up()
    crossed = np.unique(labels[y, x0 : x1 + 1])
    assert len(crossed) >= 3
    assert page.evaluate("document.querySelector('[data-editor]').editorPage.editor.stats.lastStroke.regions") == len(
        crossed
    )
    assert np.array_equal(saved_mask(page, image, 1), np.where(np.isin(labels, crossed), CAR, VOID))
    # One drag is one step: a single undo takes all of it back.
    page.keyboard.press("Control+z")
    assert page.evaluate("document.querySelector('[data-editor]').editorPage.editor.canUndo") is False
    assert page.js_errors == []


def test_only_unpainted_leaves_painted_pixels_alone(page_for, live_server, member, image):
    labels = server_labels(image)
    before = np.full((H, W), VOID, np.uint8)
    before[30:70, 40:90] = CAR
    before[0:5, :] = BACKGROUND
    mask_save(image=image, base_version=0, array=before, author=member)
    page = open_editor(page_for(member), live_server, image)
    page.locator("[data-only-unpainted]").check()
    page.keyboard.press("s")
    page.keyboard.press("2")
    page.mouse.move(*screen(page, 45, 2))
    page.mouse.down()
    page.mouse.move(*screen(page, 45, 80), steps=5)
    page.mouse.up()
    crossed = np.isin(labels, np.unique(labels[2:81, 45]))
    expected = np.where(crossed & (before == VOID), ROAD, before)
    saved = saved_mask(page, image, 2)
    assert np.array_equal(saved, expected)
    assert (saved[before == CAR] == CAR).all() and (saved == ROAD).any()
    assert page.js_errors == []


def crafted_mask() -> np.ndarray:
    """Road with holes (void, car, a mixed one, one behind a diagonal-only gap, one open to
    the border) and road islands of 1, 12, 60 and 150 pixels (one touching only at a corner)."""
    m = np.full((H, W), VOID, np.uint8)
    m[10:60, 10:70] = ROAD
    m[15:20, 15:20] = VOID  # a void hole
    m[25:35, 20:30] = CAR  # a car hole
    m[40:50, 20:30] = CAR  # a mixed hole: car and void
    m[44:47, 24:27] = VOID
    m[12:20, 60:68] = VOID  # reaches the outside only through diagonal steps: still a hole
    m[11, 68] = VOID
    m[10, 69] = VOID  # on the road's edge: outside
    m[50:60, 50:60] = VOID  # open to the outside through the bottom edge of the road: not a hole
    m[0:8, 100:108] = ROAD  # a 64-pixel island at the border: its void is outside, no hole
    m[70, 5] = ROAD  # 1 px
    m[75:78, 80:84] = ROAD  # 12 px
    m[80:86, 100:110] = ROAD  # 60 px
    m[86, 110] = ROAD  # touches the 60-px island at a corner only: part of it (61 px)
    m[65:80, 20:30] = ROAD  # 150 px
    m[66:69, 23:26] = CAR  # a hole in it: 141 road pixels around a 9-pixel car hole
    return m


def test_fill_holes_and_remove_islands_give_the_expected_masks(page_for, live_server, member, image):
    before = crafted_mask()
    mask_save(image=image, base_version=0, array=before, author=member)
    road = before == ROAD
    holes = ndimage.binary_fill_holes(road) & ~road  # 4-connected background, as in the editor
    filled = np.where(holes, ROAD, before)
    assert holes[15:20, 15:20].all() and holes[12:20, 60:68].all() and holes[11, 68]
    assert not holes[10, 69] and not holes[50:60, 50:60].any()

    components, n = ndimage.label(filled == ROAD, structure=np.ones((3, 3)))
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    small = (sizes < 70) & (np.arange(n + 1) > 0)
    cleaned = np.where(small[components], VOID, filled)
    assert sorted(sizes[1:][small[1:]]) == [1, 12, 61, 64]

    page = open_editor(page_for(member), live_server, image, superpixels=False)
    page.keyboard.press("2")  # road is the current class
    page.locator("[data-fill-holes]").click()
    status = page.locator("[data-status]")
    assert status.text_content() == f"Filled {holes.sum():,} pixels of holes in “road”."
    page.locator("[data-island-size]").fill("70")
    page.locator("[data-remove-islands]").click()
    assert status.text_content() == f"Removed {1 + 12 + 61 + 64} pixels of “road” islands under 70 px."
    assert np.array_equal(saved_mask(page, image, 2), cleaned)

    page.keyboard.press("Control+z")  # islands back
    assert np.array_equal(saved_mask(page, image, 3), filled)
    page.keyboard.press("Control+z")  # holes back
    assert np.array_equal(saved_mask(page, image, 4), before)
    # The default: islands under 100 px, and nothing to do twice.
    page.locator("[data-island-size]").fill("100")
    page.locator("[data-island-size]").press("Enter")  # Enter in the field runs it too
    page.locator("[data-remove-islands]").click()
    assert status.text_content() == "“road” has no islands under 100 px."
    page.locator("[data-fill-holes]").click()
    page.locator("[data-fill-holes]").click()
    assert status.text_content() == "“road” has no holes."
    assert page.js_errors == []


def test_cleanup_matches_scipy_on_random_masks(page_for, live_server, member):
    """fillHoles and removeIslands on random masks (blobs, and speckle full of diagonal
    contacts) equal scipy's answer, for every class."""
    rng = np.random.default_rng(3)
    h, w = 90, 120
    masks = []
    for _ in range(3):
        noise = ndimage.gaussian_filter(rng.random((h, w)), 2.5)
        masks.append(np.digitize(noise, np.quantile(noise, [0.3, 0.55, 0.8])).astype(np.uint8))
    masks.append(np.digitize(rng.random((h, w)), [0.45, 0.6, 0.75]).astype(np.uint8))
    masks.append(np.digitize(ndimage.gaussian_filter(rng.random((h, w)), 0.8), [0.47, 0.5, 0.53]).astype(np.uint8))
    page = page_for(member)
    page.goto(live_server.url + reverse("login"))
    results = page.evaluate(
        """async ([masks, w, h]) => {
        const { LabelMap, DirtyRect } = await import('/static/js/editor/labelmap.js');
        const { fillHoles, removeIslands } = await import('/static/js/editor/cleanup.js');
        const out = [];
        for (const mask of masks) {
            for (let value = 0; value < 4; value++) {
                const holes = new LabelMap(w, h, Uint8Array.from(mask));
                fillHoles(holes, value, new DirtyRect());
                const islands = new LabelMap(w, h, Uint8Array.from(mask));
                removeIslands(islands, value, 40, 3, new DirtyRect());
                out.push([Array.from(holes.data), Array.from(islands.data)]);
            }
        }
        return out;
    }""",
        [[m.ravel().tolist() for m in masks], w, h],
    )
    for k, (holes, islands) in enumerate(results):
        mask, value = masks[k // 4], k % 4
        inside = mask == value
        expected_holes = np.where(ndimage.binary_fill_holes(inside), value, mask)
        assert np.array_equal(np.array(holes).reshape(h, w), expected_holes), (k // 4, value)
        components, n = ndimage.label(inside, structure=np.ones((3, 3)))
        sizes = np.bincount(components.ravel(), minlength=n + 1)
        small = (sizes < 40) & (np.arange(n + 1) > 0)
        expected_islands = mask if value == 3 else np.where(small[components], 3, mask)
        assert np.array_equal(np.array(islands).reshape(h, w), expected_islands), (k // 4, value)


def test_superpixel_tool_waits_while_they_are_computed(page_for, live_server, member, project, owner):
    image = image_import(project=project, name="fresh.png", data=blocks_png(), uploaded_by=owner)
    page = open_editor(page_for(member), live_server, image, superpixels=False)
    button = page.locator("[data-tool='superpixel']")
    page.wait_for_function(
        "() => document.querySelector(\"[data-tool='superpixel']\").title === 'Superpixels are still being computed'"
    )
    assert button.is_disabled()
    page.keyboard.press("s")
    assert page.locator("[data-editor]").get_attribute("data-tool") == "brush"
    assert page.js_errors == []
