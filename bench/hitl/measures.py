"""The project after a round: where the human-touched images come from, and what the app
accepted on its own (share, audited error, true error against the ground truth). Django and
webapp imports sit inside the functions (see bench/hitl/app.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path

from .app import actors, changed_pixels
from .config import OTHER_SEQUENCE, SEQUENCES, VOID
from .data import ground_truth
from .state import SimulationState


def sequence_of(mask_path: str) -> str:
    """The CamVid sequence an image comes from (its file name's prefix)."""
    name = Path(mask_path).name
    return next((s for s in SEQUENCES if name.startswith(s)), OTHER_SEQUENCE)


def touched_by_sequence(state: SimulationState) -> dict[str, int]:
    """Images with a human mask, counted per CamVid sequence."""
    from webapp.training.selectors import human_labeled_images

    project, _, _ = actors(state)
    ids = human_labeled_images(project=project).values_list("pk", flat=True)
    counts = Counter(sequence_of(state.gt[str(i)]) for i in ids)
    return {**dict.fromkeys(SEQUENCES, 0), **counts}


def accepted_true_error(state: SimulationState) -> float | None:
    """Pixel error of every accepted pseudo-label against the ground truth, void ignored,
    weighted by pixels (None when nothing is accepted)."""
    from webapp.images.models import Image, ImageStatus
    from webapp.images.services import mask_read

    project, _, _ = actors(state)
    wrong = counted = 0
    for image in Image.objects.filter(project=project, status=ImageStatus.PSEUDO_LABELED).select_related(
        "current_mask"
    ):
        gt = ground_truth(state.gt[str(image.pk)], image.width, image.height)
        wrong += changed_pixels(mask_read(image.current_mask), gt)
        counted += int((gt != VOID).sum())
    return wrong / counted if counted else None


def auto_accept_measures(state: SimulationState) -> dict:
    """What the app accepted on its own after the round, what it believes about their error
    (audits), and what their error really is (ground truth)."""
    from webapp.review.queue import accepted_error_estimate, review_threshold_effective, unlabeled_share_accepted

    project, _, _ = actors(state)
    accepted, without_human = unlabeled_share_accepted(project=project)
    return {
        "accepted_pseudo_labels": accepted,
        "unlabeled_images": without_human,
        "accepted_share": accepted / without_human if without_human else 0.0,
        "accepted_true_error": accepted_true_error(state),
        "audited_error": asdict(accepted_error_estimate(project=project)),
        "threshold_calibration": project.threshold_calibration,
        "review_threshold_effective": review_threshold_effective(project),
        "target_pixel_error": project.target_pixel_error,
        "audit_share": project.audit_share,
        "touched_by_sequence": touched_by_sequence(state),
    }
