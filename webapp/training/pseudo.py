"""Pseudo-labelling after a successful round, on the same training worker (it needs the GPU
and the teachers it just trained are on local disk): every image without a human mask and not
held by a reviewer gets a label from the fused teachers, in batches, with progress on the run.
Pending review items nobody holds are re-scored too: the queue must follow the newest model,
or its order and labels would stay those of the round that first queued them.

score = mean fused confidence (ml.infer.image_scores "mean_confidence"): it is 1.0 for a
perfectly sure label and falls both where the teachers are unsure and where they disagree
(fused probabilities of two disagreeing teachers are flat). Below the threshold (learned from
what reviewers did: webapp.review.queue.review_threshold_calibrate, else
project.review_threshold) -> review item; at or above -> accepted pseudo-label, with a
training copy whose pixels under tau are ignored, except a random audit_share of them, which
go to the queue as audits. The same pass yields each image's pooled teacher features and its
class-balanced uncertainty, stored with the item, and both teachers' labels (for review by
region: webapp.review.regions); the queue is re-ordered at the end.
"""

import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from ml.calibration import is_audit
from ml.png import gray_png
from ml.vectors import vector_to_bytes
from webapp.images.models import Image, ImageStatus, MaskSource
from webapp.images.services import MaskConflict, MaskScores, mask_save
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.queue import label_class_shares, review_queue_reorder, review_threshold_calibrate
from webapp.review.services import review_item_create, review_item_supersede
from webapp.training.config import project_ignore_index
from webapp.training.files import checkpoint_local, checkpoints_upload, local_path, pseudo_training_copy_path
from webapp.training.models import ModelVersion, TrainingRun

RELABELLED_STATUSES = (ImageStatus.UNLABELED, ImageStatus.PSEUDO_LABELED, ImageStatus.IN_REVIEW)
REVIEW, AUDIT, ACCEPT = "review", "audit", "accept"


def pseudo_batch_size() -> int:
    return settings.SEGLOOP_PSEUDO_BATCH


def images_to_pseudo_label(*, project) -> list[Image]:
    """Unlabeled images and machine-labeled ones (refreshed by the newer model), including
    queued ones; never an image with a human mask, nor one a reviewer holds now."""
    held = ReviewItem.objects.filter(
        project=project, status=ReviewStatus.PENDING, leased_by__isnull=False, lease_expires_at__gt=timezone.now()
    ).values("image_id")
    images = Image.objects.filter(project=project, status__in=RELABELLED_STATUSES).exclude(pk__in=held)
    return list(images.order_by("id"))


def _batches(images: list[Image], size: int):
    """Same-size images stacked together; each batch is one forward per teacher."""
    by_size = defaultdict(list)
    for image in images:
        by_size[(image.width, image.height)].append(image)
    for group in by_size.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]


TEACHERS, STUDENT = "teachers", "student"


def pseudo_labeller(*, run: TrainingRun, version: ModelVersion) -> str:
    """Who labels: the fused teachers, unless the round's teacher gate found the student
    better (then the student, the better network, which is also one forward instead of two)."""
    # From the row: the caller's copy predates the round's record (worker._record_round).
    timings = TrainingRun.objects.only("timings").get(pk=run.pk).timings or {}
    gate = timings.get("gate") or {}
    if version.su_teacher_path and version.ru_teacher_path and gate.get("used", True):
        return TEACHERS
    return STUDENT


def pseudo_label_project(*, run: TrainingRun, version: ModelVersion, should_stop: Callable[[], bool]) -> bool:
    """Label every image in images_to_pseudo_label. Returns False if stopped before the end."""
    # Inside: torch and the ml modules that load it; web processes import this module too
    # (through the training task's worker module), and only workers label.
    import torch

    from ml.checkpoints import load_model
    from ml.features import combine, pooled_encoder_features
    from ml.infer import (
        class_balanced_uncertainty,
        fuse_teachers,
        image_scores,
        image_to_tensor,
        single_model_prediction,
    )
    from ml.runtime import resolve_device

    device = resolve_device(run.config.get("device", "auto"))
    labeller = pseudo_labeller(run=run, version=version)
    if labeller == TEACHERS:
        su, _ = load_model(checkpoint_local(version.su_teacher_path), map_location=device)
        ru, _ = load_model(checkpoint_local(version.ru_teacher_path), map_location=device)
        networks = [su, ru]
    else:
        student, _ = load_model(checkpoint_local(version.student_path), map_location=device)
        networks = [student]
    _record_labeller(run, labeller)
    tau = float(run.config.get("tau", 0.95))
    # The way the teachers were validated (and the gate compared them): whole images unless
    # the config sets a sliding window; bf16 on CPUs that have it, as in training.
    window = run.config.get("eval_window")
    amp = bool(run.config.get("amp", True))
    project = run.project
    routing = Routing(
        threshold=review_threshold_calibrate(project=project).threshold, audit_share=project.audit_share, run_id=run.pk
    )
    shares = label_class_shares(project=project)
    class_share = torch.from_numpy(shares) if shares is not None else None
    images = images_to_pseudo_label(project=project)
    TrainingRun.objects.filter(pk=run.pk).update(pseudo_total=len(images), pseudo_done=0)
    done = 0
    try:
        for batch in _batches(images, pseudo_batch_size()):
            if should_stop():
                return False
            tensors = []
            for image in batch:
                with PILImage.open(local_path(image.pixels_file)) as pil:
                    tensors.append(image_to_tensor(pil.convert("RGB")))
            x = torch.stack(tensors)
            with contextlib.ExitStack() as stack:
                collectors = [stack.enter_context(pooled_encoder_features(net)) for net in networks]
                if labeller == TEACHERS:
                    fused = fuse_teachers(su, ru, x, window=window, amp=amp)
                else:
                    fused = single_model_prediction(student, x, window=window, amp=amp)
            features = combine(*(collector.vectors() for collector in collectors))
            uncertainty = class_balanced_uncertainty(fused.probs, class_share).tolist()
            teacher_labels = labeller == TEACHERS  # review by region offers them only when they won
            for i, image in enumerate(batch):
                scores = image_scores(fused.confidence[i], fused.su_pred[i], fused.ru_pred[i], tau)
                pseudo_label_store(
                    image=image,
                    run=run,
                    version=version,
                    tau=tau,
                    scores=scores,
                    pred=fused.pred[i].cpu().numpy().astype(np.uint8),
                    confidence=fused.confidence[i].float().cpu().numpy(),
                    disagreement=fused.disagreement_map[i].cpu().numpy(),
                    su_pred=fused.su_pred[i].cpu().numpy().astype(np.uint8) if teacher_labels else None,
                    ru_pred=fused.ru_pred[i].cpu().numpy().astype(np.uint8) if teacher_labels else None,
                    routing=routing,
                    features=features[i],
                    class_uncertainty=uncertainty[i],
                )
            done += len(batch)
            TrainingRun.objects.filter(pk=run.pk).update(pseudo_done=done, heartbeat_at=timezone.now())
    finally:
        review_queue_reorder(project=project)  # even when stopped: what was re-scored is ordered
    return True


def _record_labeller(run: TrainingRun, labeller: str) -> None:
    timings = dict(TrainingRun.objects.only("timings").get(pk=run.pk).timings or {})
    timings["pseudo_labeller"] = labeller
    TrainingRun.objects.filter(pk=run.pk).update(timings=timings)


@dataclass(frozen=True)
class Routing:
    """Where a pseudo-label goes: below threshold -> review; at or above -> accepted, except
    the audit draws (ml.calibration.is_audit, keyed by run and image)."""

    threshold: float
    audit_share: float = 0.0
    run_id: int | None = None

    def destination(self, *, score: float, image_id: int) -> str:
        if score < self.threshold:
            return REVIEW
        if is_audit(self.audit_share, f"run{self.run_id}-image{image_id}"):
            return AUDIT
        return ACCEPT


def pseudo_label_store(
    *,
    image: Image,
    run: TrainingRun,
    version: ModelVersion,
    tau: float,
    scores: dict,
    pred: np.ndarray,
    confidence: np.ndarray,
    disagreement: np.ndarray,
    su_pred: np.ndarray | None = None,
    ru_pred: np.ndarray | None = None,
    routing: Routing | None = None,
    features: np.ndarray | None = None,
    class_uncertainty: float | None = None,
):
    """Save one pseudo-label as a Mask version and route it: review item (doubtful, or an
    audit) or accepted label. routing defaults to the project's review_threshold, no audits.
    A review item keeps both teachers' labels (su_pred, ru_pred: H,W uint8 argmaxes) for
    review by region. Returns the mask, or None when a human got to the image first (their
    work stands)."""
    project = run.project
    score = scores["mean_confidence"]
    routing = routing or Routing(threshold=project.review_threshold)
    destination = routing.destination(score=score, image_id=image.pk)
    to_review = destination != ACCEPT
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)  # no join: see images.services._mask_store
        if locked.status not in RELABELLED_STATUSES:
            return None  # labeled by a human since the list was made
        if locked.status == ImageStatus.IN_REVIEW and not review_item_supersede(image=locked):
            return None  # a reviewer took the item since the list was made
        try:
            mask = mask_save(
                image=locked,
                base_version=locked.mask_version,
                array=pred,
                source=MaskSource.PSEUDO,
                status=ImageStatus.IN_REVIEW if to_review else ImageStatus.PSEUDO_LABELED,
                scores=MaskScores(**scores),
                model_version=version,
            )
        except MaskConflict:
            return None
        if to_review:
            review_item_create(
                image=locked,
                mask=mask,
                run=run,
                score=score,
                scores=scores,
                confidence_png=gray_png(np.clip(confidence * 255.0, 0, 255).astype(np.uint8)),
                disagreement_png=gray_png(disagreement.astype(np.uint8) * 255),
                features=None if features is None else vector_to_bytes(features),
                class_uncertainty=class_uncertainty,
                is_audit=destination == AUDIT,
                su_label_png=None if su_pred is None else gray_png(su_pred.astype(np.uint8)),
                ru_label_png=None if ru_pred is None else gray_png(ru_pred.astype(np.uint8)),
            )
        else:
            _write_training_copy(
                project.pk, locked.pk, mask.version, pred, confidence, tau, project_ignore_index(project)
            )
    return mask


def _write_training_copy(project_id, image_id, version, pred, confidence, tau, ignore_index) -> None:
    """Accepted pseudo-labels train with their unconfident pixels (c < tau) ignored."""
    target = pseudo_training_copy_path(project_id=project_id, image_id=image_id, mask_version=version)
    target.parent.mkdir(parents=True, exist_ok=True)
    label = np.where(confidence >= tau, pred, ignore_index).astype(np.uint8)
    partial = target.with_suffix(".part")
    partial.write_bytes(gray_png(label))
    partial.replace(target)
    checkpoints_upload(paths=[target])  # object storage: every worker trains on the same copy
