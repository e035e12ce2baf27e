"""The simulated humans: the cost of their work (model and sources in bench/hitl/__init__.py),
the reviewer who corrects queue items whole or by region, the random labeller and round 0's
seed labels.

The reviewer saves through mask_save, the editor's own save path, and relies on the app's
mask-saved hook (review's reaction to a human mask) to close the leased item as corrected;
a round stops with MASK_HOOK_MISSED if the hook did not run. Django and webapp imports sit
inside the functions (see bench/hitl/app.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from ml.superpixels import region_majority

from .app import actors, changed_pixels, image_size, pick_kind, seed_labels
from .config import (
    OUTSIDE_QUEUE,
    REGION,
    REGION_REVIEWERS,
    SCRATCH,
    SECONDS_PER_CLICK,
    SECONDS_PER_IMAGE_FROM_SCRATCH,
    SECONDS_PER_KEPT_REGION,
    TAU_DEFAULT,
    VOID,
    WHOLE,
)
from .data import ground_truth
from .state import SimulationState

MASK_HOOK_MISSED = (
    "Review item {item} is {status} after its reviewer saved a human mask: the app's "
    "mask-saved hook did not close it as corrected."
)


def paint_seconds(pixels: int, area: int) -> float:
    """Estimated seconds to paint `pixels` of an image of `area` pixels (cost model in bench/hitl/__init__.py)."""
    return SECONDS_PER_IMAGE_FROM_SCRATCH * pixels / area if area else 0.0


def scratch_seconds(gt: np.ndarray) -> float:
    """Painting an image from scratch: every non-void pixel."""
    return paint_seconds(int((gt != VOID).sum()), gt.size)


@dataclass(frozen=True)
class RegionFix:
    """What the region reviewer did to one item: the mask it saves and what that cost."""

    mask: np.ndarray  # uint8 H,W
    regions: int  # the image's superpixels
    regions_checked: int  # the doubtful ones, each looked at
    clicks: int  # doubtful regions given their dominant ground-truth class
    brush_pixels: int  # non-void pixels still wrong in doubtful regions after the clicks, painted
    left_wrong_pixels: int  # non-void pixels still wrong in the saved mask (confident regions; clicks only: all)

    @property
    def seconds(self) -> float:
        return (
            self.clicks * SECONDS_PER_CLICK
            + (self.regions_checked - self.clicks) * SECONDS_PER_KEPT_REGION
            + paint_seconds(self.brush_pixels, self.mask.size)
        )


def region_fix(
    *,
    superpixels: np.ndarray,
    pseudo: np.ndarray,
    gt: np.ndarray,
    confidence: np.ndarray,
    disagreement: np.ndarray,
    tau: float,
    paint: bool = True,
) -> RegionFix:
    """The simulated region reviewer on one item (all maps H,W).

    superpixels: int32 ids 0..n-1; pseudo, gt: uint8 classes (gt's VOID not counted);
    confidence: uint8 0-255 (the fused teachers' confidence); disagreement: uint8 (255 where
    the teachers disagree). The doubtful regions are the review page's
    (webapp.review.regions.doubtful_regions). Each doubtful region whose dominant
    ground-truth class differs from the pseudo-label's gets that class (one click); then the
    doubtful regions' remaining wrong pixels are painted with the ground truth. paint=False is
    the clicks-only reviewer (Cai et al.'s dominant-class labels, the editor's superpixel
    tool): those pixels stay as the click left them, wrong, and cost nothing."""
    from webapp.review.regions import doubtful_regions

    n = int(superpixels.max()) + 1
    doubtful = np.zeros(n, dtype=bool)
    regions = doubtful_regions(superpixels=superpixels, confidence=confidence, disagreement=disagreement, tau=tau)
    doubtful[[r.id for r in regions]] = True
    truth = region_majority(superpixels, gt, n, ignore_index=VOID)
    guess = region_majority(superpixels, pseudo, n, ignore_index=VOID)
    click = doubtful & (truth >= 0) & (truth != guess)
    mask = np.array(pseudo, dtype=np.uint8, copy=True)
    clicked = click[superpixels]
    mask[clicked] = truth[superpixels[clicked]]
    in_doubt = doubtful[superpixels]
    wrong = mask != gt
    counted = gt != VOID
    if paint:
        brush = int((in_doubt & wrong & counted).sum())
        painted = in_doubt & wrong  # as the whole reviewer: void pixels take the ground truth for free
        mask[painted] = gt[painted]
    else:
        brush = 0
    left = int((mask != gt)[counted].sum())
    return RegionFix(
        mask=mask,
        regions=n,
        regions_checked=int(doubtful.sum()),
        clicks=int(click.sum()),
        brush_pixels=brush,
        left_wrong_pixels=left,
    )


def _gray(field) -> np.ndarray | None:
    """One of a review item's 8-bit maps as uint8 H,W (None when it has none)."""
    if not field or not field.storage.exists(field.name):
        return None
    with field.open("rb") as handle, PILImage.open(handle) as png:
        return np.array(png.convert("L"), dtype=np.uint8)


def _item_tau(item) -> float:
    config = item.run.config if item.run_id and item.run is not None else {}
    return float((config or {}).get("tau", TAU_DEFAULT))


def _superpixels(image) -> np.ndarray | None:
    """The image's superpixels: stored by the worker after import, or computed now (None if
    its file cannot be read)."""
    from webapp.images.superpixels import superpixels_compute, superpixels_read

    labels = superpixels_read(image)
    if labels is None:
        try:
            superpixels_compute(image=image)
        except OSError:
            return None
        labels = superpixels_read(image)
    return labels


def _review_by_region(item, pseudo: np.ndarray, gt: np.ndarray, *, paint: bool) -> RegionFix | None:
    """None when the item lacks a map or superpixels (then it is corrected whole)."""
    confidence, disagreement = _gray(item.confidence_map), _gray(item.disagreement_map)
    if confidence is None or disagreement is None or confidence.shape != gt.shape:
        return None
    superpixels = _superpixels(item.image)
    if superpixels is None or superpixels.shape != gt.shape:
        return None
    return region_fix(
        superpixels=superpixels,
        pseudo=pseudo,
        gt=gt,
        confidence=confidence,
        disagreement=disagreement,
        tau=_item_tau(item),
        paint=paint,
    )


def review_round(state: SimulationState, budget: int, accept: int, reviewer_kind: str = WHOLE) -> dict:
    """The reviewer: the next `budget` items in the project's queue order are corrected
    (audits included): the whole ground truth, or by region (reviewer_kind REGION, see the
    docstring of bench/hitl/__init__.py); then the next `accept` are accepted unchecked."""
    from webapp.images.models import Image, ImageStatus
    from webapp.images.services import mask_read, mask_save
    from webapp.review.models import ReviewStatus
    from webapp.review.services import review_item_accept, review_item_next

    project, _, reviewer = actors(state)
    out = {
        "corrected": 0,
        "accepted": 0,
        "pixels_corrected": 0,
        "accepted_wrong_pixels": 0,
        "corrected_outside_queue": 0,
        "corrected_scores": [],
        "pick_kinds": Counter(),
        "reviewer": reviewer_kind,
        "human_seconds": 0.0,
        "clicks": 0,
        "brush_pixels": 0,
        "regions_checked": 0,
        "regions": 0,
        "region_left_wrong_pixels": 0,
        "corrected_whole": 0,
    }
    for _ in range(budget):
        item = review_item_next(project=project, user=reviewer)
        if item is None:
            break
        image = item.image
        gt = ground_truth(state.gt[str(image.pk)], image.width, image.height)
        pseudo = mask_read(item.pseudo_mask)
        by_region = reviewer_kind in REGION_REVIEWERS
        fix = _review_by_region(item, pseudo, gt, paint=reviewer_kind == REGION) if by_region else None
        if fix is None:
            changed = changed_pixels(pseudo, gt)
            array = gt
            out["corrected_whole"] += by_region
            out["brush_pixels"] += changed
            out["human_seconds"] += paint_seconds(changed, gt.size)
        else:
            array = fix.mask
            for key in ("clicks", "brush_pixels", "regions_checked", "regions"):
                out[key] += getattr(fix, key)
            out["region_left_wrong_pixels"] += fix.left_wrong_pixels
            out["human_seconds"] += fix.seconds
        out["pixels_corrected"] += changed_pixels(pseudo, array)
        # The editor's save path: a human mask on top of the pseudo-label; the app's mask hook
        # closes the leased item as corrected, with its pixel error.
        mask_save(image=image, base_version=item.pseudo_mask.version, array=array, author=reviewer)
        item.refresh_from_db()
        if item.status != ReviewStatus.CORRECTED:
            raise RuntimeError(MASK_HOOK_MISSED.format(item=item.pk, status=item.status))
        out["corrected"] += 1
        out["corrected_scores"].append(round(item.score, 4))
        out["pick_kinds"][pick_kind(item)] += 1
    for _ in range(accept):
        item = review_item_next(project=project, user=reviewer)
        if item is None:
            break
        image = item.image
        gt = ground_truth(state.gt[str(image.pk)], image.width, image.height)
        out["accepted_wrong_pixels"] += changed_pixels(mask_read(item.pseudo_mask), gt)
        review_item_accept(item=item, user=reviewer)
        out["accepted"] += 1
        out["pick_kinds"][pick_kind(item)] += 1
    # The queue ran dry: the least confident auto-accepted pseudo-labels, opened in the editor.
    missing = budget - out["corrected"]
    if missing > 0:
        rest = (
            Image.objects.filter(project=project, status=ImageStatus.PSEUDO_LABELED)
            .select_related("current_mask")
            .order_by("current_mask__mean_confidence", "id")[:missing]
        )
        for image in rest:  # no review item, so no maps: corrected whole by either reviewer
            gt = ground_truth(state.gt[str(image.pk)], image.width, image.height)
            changed = changed_pixels(mask_read(image.current_mask), gt)
            out["pixels_corrected"] += changed
            out["brush_pixels"] += changed
            out["human_seconds"] += paint_seconds(changed, gt.size)
            out["corrected_whole"] += reviewer_kind in REGION_REVIEWERS
            mask_save(image=image, base_version=image.mask_version, array=gt, author=reviewer)
            out["corrected"] += 1
            out["corrected_outside_queue"] += 1
            out["pick_kinds"][OUTSIDE_QUEUE] += 1
    return out


def random_round(state: SimulationState, budget: int, seed: int, round_number: int) -> dict:
    """Ground truth for `budget` random images without a human mask (seeded per round)."""
    from webapp.images.models import Image
    from webapp.images.services import mask_read, mask_save
    from webapp.training.selectors import human_labeled_images

    project, _, reviewer = actors(state)
    labeled = set(human_labeled_images(project=project).values_list("pk", flat=True))
    candidates = sorted(int(i) for i in state.gt if int(i) not in labeled)
    rng = np.random.default_rng([seed, round_number])
    chosen = rng.choice(candidates, size=min(budget, len(candidates)), replace=False)
    out = {
        "corrected": 0,
        "accepted": 0,
        "pixels_corrected": 0,
        "pixels_changed_vs_current": 0,
        "pick_kinds": Counter(),
        "reviewer": SCRATCH,
        "human_seconds": 0.0,
    }
    for image in Image.objects.filter(pk__in=[int(i) for i in chosen]).select_related("current_mask"):
        gt = ground_truth(state.gt[str(image.pk)], image.width, image.height)
        out["pixels_corrected"] += int((gt != VOID).sum())  # painted from scratch
        out["human_seconds"] += scratch_seconds(gt)
        if image.current_mask is not None:
            out["pixels_changed_vs_current"] += changed_pixels(mask_read(image.current_mask), gt)
        mask_save(image=image, base_version=image.mask_version, array=gt, author=reviewer)
        out["corrected"] += 1
    return out


def seed_round(state: SimulationState, n: int, seed: int) -> dict:
    """Round 0's labelling: `n` random images painted from scratch."""
    seed_labels(state, n, seed)
    truths = [ground_truth(state.gt[str(i)], *image_size(i)) for i in state.seeded]
    return {
        "corrected": len(state.seeded),
        "accepted": 0,
        "pick_kinds": Counter(),
        "reviewer": SCRATCH,
        "pixels_corrected": sum(int((gt != VOID).sum()) for gt in truths),
        "human_seconds": sum(scratch_seconds(gt) for gt in truths),
    }


def scratch_seconds_of(state: SimulationState, image_ids: Iterable[int | str]) -> float:
    """Painting these images from scratch (the full-supervision line, old round-0 states)."""
    return sum(scratch_seconds(ground_truth(state.gt[str(i)], *image_size(i))) for i in image_ids)
