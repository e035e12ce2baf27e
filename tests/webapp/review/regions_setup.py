"""A queued item made for review by region, shared by the service and browser tests.

The image's superpixels are computed by the real service; the maps are then crafted on them,
so which regions are doubtful, and in which order, is known: A (confidence 0.2), B (0.5),
C (0.8) are under tau, D is sure but the teachers disagree on all of it, E is sure and they
disagree on under half of it (not doubtful). Every other region is sure. The pseudo-label is
road; the SU teacher says stripes of x, the RU teacher stripes of y (several classes per
region, so taking a teacher's label is not one class).
"""

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from webapp.images.services import image_import
from webapp.images.superpixels import superpixels_compute, superpixels_read
from webapp.review.models import ReviewItem
from webapp.training.models import ModelVersion, RunTrigger, TrainingRun
from webapp.training.pseudo import Routing, pseudo_label_store

W, H = 160, 120
BACKGROUND, ROAD, CAR, VOID = 0, 1, 2, 3
CONFIDENCE = {"A": 0.2, "B": 0.5, "C": 0.8}
REGION_IDS = {"A": 3, "B": 0, "C": 5, "D": 7, "E": 8}  # ids 0..n-1 all exist (ml.superpixels)


@dataclass
class RegionItem:
    item: ReviewItem
    superpixels: np.ndarray
    pseudo: np.ndarray
    su: np.ndarray
    ru: np.ndarray
    ids: dict  # name -> region id

    def where(self, name: str) -> np.ndarray:
        return self.superpixels == self.ids[name]

    def pixel_in(self, name: str) -> tuple[int, int]:
        """(x, y) of a pixel of the region, as far from its outline as possible."""
        inside = self.where(name)
        ys, xs = np.nonzero(inside)
        # distance to the region's border, by erosion steps
        depth = inside.astype(np.int32)
        current = inside.copy()
        while current.any():
            eroded = current.copy()
            eroded[1:, :] &= current[:-1, :]
            eroded[:-1, :] &= current[1:, :]
            eroded[:, 1:] &= current[:, :-1]
            eroded[:, :-1] &= current[:, 1:]
            eroded[0, :] = eroded[-1, :] = False
            eroded[:, 0] = eroded[:, -1] = False
            depth += eroded
            current = eroded
        y, x = np.unravel_index(np.argmax(np.where(inside, depth, -1)), inside.shape)
        return int(x), int(y)


def block_image(project, user, *, seed: int = 0):
    """An image of flat colour blocks (27x24 pixels): SLIC follows their edges (about 25
    regions), where on noise it makes one."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:H, 0:W]
    rgb = rng.integers(0, 256, (6, 6, 3))[ys // 24, xs // 27].astype(np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="PNG")
    return image_import(project=project, name=f"blocks{seed}.png", data=buffer.getvalue(), uploaded_by=user)


def region_item(project, image, *, tau: float = 0.95) -> RegionItem:
    assert superpixels_compute(image=image)
    superpixels = superpixels_read(image)
    assert superpixels.max() + 1 > max(REGION_IDS.values())
    ids = dict(REGION_IDS)
    confidence = np.ones((H, W), np.float32)
    for name, value in CONFIDENCE.items():
        confidence[superpixels == ids[name]] = value
    disagreement = superpixels == ids["D"]
    e_pixels = np.flatnonzero(superpixels == ids["E"])
    disagreement.flat[e_pixels[: len(e_pixels) * 2 // 5]] = True
    ys, xs = np.mgrid[0:H, 0:W]
    pseudo = np.full((H, W), ROAD, np.uint8)
    su = ((xs // 7) % 3).astype(np.uint8)
    ru = ((ys // 5) % 3).astype(np.uint8)
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.PAGE, status="succeeded", config={"tau": tau})
    version = ModelVersion.objects.create(project=project, run=run, number=run.pk, student_path="unused.pt")
    mask = pseudo_label_store(
        image=image,
        run=run,
        version=version,
        tau=tau,
        scores={"mean_confidence": 0.4, "confident_fraction": 0.7, "disagreement": float(disagreement.mean())},
        pred=pseudo,
        confidence=confidence,
        disagreement=disagreement,
        su_pred=su,
        ru_pred=ru,
        routing=Routing(threshold=0.9),
    )
    item = ReviewItem.objects.get(pseudo_mask=mask)
    return RegionItem(item=item, superpixels=superpixels, pseudo=pseudo, su=su, ru=ru, ids=ids)
