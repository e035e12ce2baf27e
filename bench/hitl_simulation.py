"""Human-effort benchmark: a simulated team labels CamVid through the app itself.

Everything goes through segloop's own services and a real Celery worker process: a fresh
SQLite database and MEDIA_ROOT in a work directory, the embedded Redis (or REDIS_URL), the
CamVid preset project (void = ignore class), all train images imported without masks, and
training rounds started with ``training_run_start`` as the project admin and run by
``celery -A webapp worker -Q default,training -P solo``. The script polls the TrainingRun row
until the round is over; pseudo-labelling happens inside the run, as in production.

Strategies (same number of human-corrected images per round, ``--budget``):

* ``uncertainty``: a simulated reviewer works the review queue with ``review_item_next``
  (least confident first). The first ``--budget`` items are corrected: the ground-truth mask
  replaces the pseudo-label via ``mask_save`` as a human mask (the app's mask hook then
  closes the item as *corrected*); effort = pixels whose class had to change, void ignored.
  Pseudo-labels at or above the project's review threshold were already accepted by the app
  (the issue's "the rest accepted"); queue items past the budget stay pending for the next
  round, which re-scores them. ``--accept N`` makes the reviewer also accept the next N queue
  items unchecked (a human mask with no pixel edited); off by default, because a rubber stamp
  turns every wrong pixel of a doubtful pseudo-label into ground truth: the first HITL run did
  that and its curve fell (docs/benchmarks.md). If the queue runs dry before
  the budget is spent, the reviewer corrects the least confident auto-accepted pseudo-labels.
* ``random``: the budget goes to images chosen at random (seeded per round) among those
  without a human mask, which get their ground-truth mask; no review queue. Effort = all
  non-void pixels (labelled from scratch).

Human images touched = corrected + accepted-by-human (an accepted item still took a human
look); both are reported separately, cumulatively. Round 0 is the same for both strategies
(``--seed-labels`` randomly seeded human masks, one round of training), so it is trained
once and the work directory is branched from its snapshot.

After every round the active model version's student (``ModelVersion.student_path``) is
evaluated on CamVid val (void ignored, ``ml.metrics.evaluate``) and one JSON line is appended
to ``bench/results/hitl.jsonl``: strategy, round, human images touched / corrected /
accepted, pixels corrected, val mIoU, wall time, the training config and the profile.

State persists in the work directory (default bench/results/hitl_work/, one subfolder per
strategy plus ``seed``), so calls continue where the last one stopped:

    python bench/hitl_simulation.py --strategy uncertainty --rounds 1   # round 0 (+ seed snapshot)
    python bench/hitl_simulation.py --strategy uncertainty --rounds 1   # round 1, 2, ...
    python bench/hitl_simulation.py --strategy random --rounds 2
    python bench/hitl_simulation.py --full-supervision --rounds 5       # the all-labels line, as many rounds
    python bench/hitl_simulation.py --plot                              # docs/hitl.png

Profile: bench/camvid_ssl.py's ``cpu`` profile (240x180, 128 px crops, reduced Swin SU,
ResNet-18 RU, pretrained efficientnet-lite0 student) is reused when that file defines it;
``--set '{"teacher_steps": 40}'`` overrides fields. Because the app pseudo-labels images at
their stored resolution, the reduced resolution is applied at import: images are stored
resized to the profile's long side (bilinear, masks nearest), and val is evaluated at the
same size. ``--profile tiny`` is a seconds-long profile for the smoke test. ``--data`` points
at any folder laid out like CamVid (train/, trainannot/, val/, valannot/).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cpu_info import cpu_model  # bench/ is on sys.path when a script runs

import numpy as np
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "camvid"
DEFAULT_WORK = ROOT / "bench" / "results" / "hitl_work"
DEFAULT_RESULTS = ROOT / "bench" / "results" / "hitl.jsonl"
DEFAULT_PLOT = ROOT / "docs" / "hitl.png"
SSL_RESULTS = ROOT / "bench" / "results" / "camvid_ssl.jsonl"
VOID = 11  # CamVid's "unlabelled", the preset's ignore class
STRATEGIES = ("uncertainty", "random")
ADMIN, REVIEWER = "hitl-admin", "hitl-reviewer"
POLL_S = 5.0  # longest pause between two reads of the run row (short at first)
FULL_SUPERVISION_95 = 0.95
QUARTER = 0.25

# Own small profile, used for "cpu" only if bench/camvid_ssl.py (the label-efficiency
# benchmark) is missing; otherwise its "cpu" profile is reused so the two benches agree.
FALLBACK_CPU_PROFILE = {
    "long_side": 240, "crop_size": 128, "batch_size": 4, "unlabeled_batch_size": 4,
    "teacher_steps": 150, "student_steps": 300, "eval_every": 100000, "save_every": 100, "lr": 1e-3,
    "su_encoder": "swin_tiny_patch4_window7_224",
    "su_kwargs": {"encoder_kwargs": {"embed_dim": 48, "depths": [2, 2, 2, 2], "num_heads": [3, 6, 12, 24]},
                  "decoder_depth": 1},
    "ru_encoder": "resnet18", "ru_kwargs": {"decoder_channels": [128, 64, 32, 16, 16]},
    "student_encoder": "mobilenetv3_small_100", "student_kwargs": {"decoder_channels": [64, 32, 24, 16, 16]},
}
# Seconds-long rounds on 64x48 images, for the smoke test only.
TINY_PROFILE = {
    "long_side": None, "crop_size": 32, "batch_size": 2, "unlabeled_batch_size": 2,
    "teacher_steps": 2, "student_steps": 2, "eval_every": 100000, "save_every": 100,
    "su_encoder": "swin_tiny_patch4_window7_224",
    "su_kwargs": {"encoder_kwargs": {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8]},
                  "decoder_depth": 1},
    "ru_encoder": "resnet18", "ru_kwargs": {"decoder_channels": [16, 16, 16, 16, 16]},
    "student_encoder": "mobilenetv3_small_100", "student_kwargs": {"decoder_channels": [16, 16, 16, 16, 16]},
}


def profile_config(name: str) -> tuple[dict, str]:
    """(TrainConfig fields of the profile, where they came from).

    Rounds train the profile's step counts: the app default's time budget (max_minutes) is
    switched off, so every strategy and round gets the same steps."""
    fixed_steps = {"max_minutes": None}
    if name == "tiny":
        return {**TINY_PROFILE, **fixed_steps}, "bench/hitl_simulation.py TINY_PROFILE"
    try:
        from bench.camvid_ssl import PROFILES
    except Exception:  # noqa: BLE001 - any failure to import it means: use our own
        return {**FALLBACK_CPU_PROFILE, **fixed_steps}, "bench/hitl_simulation.py FALLBACK_CPU_PROFILE"
    return {**PROFILES[name], **fixed_steps}, f"bench/camvid_ssl.py PROFILES[{name!r}]"


# --------------------------------------------------------------------------- environment


class Environment:
    """Django on the state folder's own SQLite + media, a broker, and a real worker."""

    def __init__(self, state_dir: Path, threads: int, device: str = "cpu"):
        self.state_dir = state_dir
        self.threads = threads
        self.device = device
        self.redis = None
        self.own_redis = False
        self.worker = None
        self.worker_log = state_dir / "worker.log"

    def env(self) -> dict:
        return {
            "DATABASE_URL": f"sqlite:///{self.state_dir / 'db.sqlite3'}",
            "MEDIA_ROOT": str(self.state_dir / "media"),
            "SEGLOOP_MODELS_ROOT": str(self.state_dir / "media" / "models"),
            "SEGLOOP_DATA_DIR": str(self.state_dir),
            "SEGLOOP_FILE_CACHE": str(self.state_dir / "file-cache"),
            "SEGLOOP_TRAIN_DEVICE": self.device,
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": str(self.threads),
            "MKL_NUM_THREADS": str(self.threads),
        }

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update(self.env())
        self.own_redis = not os.environ.get("REDIS_URL")
        if self.own_redis:
            os.environ["REDIS_URL"] = f"unix://{self.state_dir / 'redis.sock'}"
        self.start_broker()
        import django

        django.setup()
        import torch
        from django.core.management import call_command

        torch.set_num_threads(self.threads)
        call_command("migrate", verbosity=0)

    def start_broker(self) -> None:
        """The embedded Redis on a socket in the state folder, unless REDIS_URL was given."""
        if self.own_redis and self.redis is None:
            from webapp.embedded_redis import start_embedded_redis

            self.redis = start_embedded_redis(self.state_dir / "redis.sock", self.state_dir / "redis")

    def start_worker(self) -> None:
        if self.worker is not None:
            return
        env = {**os.environ, **self.env()}
        start = self.worker_log.stat().st_size if self.worker_log.exists() else 0
        log = self.worker_log.open("a")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "default,training", "-P", "solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
             "-n", f"hitl-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"The Celery worker exited; see {self.worker_log}")
            if "ready." in self.worker_log.read_text(errors="replace")[start:]:
                return
            time.sleep(0.5)
        raise RuntimeError(f"The Celery worker did not start in 180 s; see {self.worker_log}")

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(timeout=10)
        self.worker = None
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001
            pass
        if self.redis is not None:
            from webapp.embedded_redis import stop_embedded_redis

            stop_embedded_redis(self.redis)
            self.redis = None


# --------------------------------------------------------------------------- data


def _train_files(data: Path, limit: int | None) -> list[Path]:
    files = sorted(p for p in (data / "train").iterdir() if p.suffix.lower() == ".png")
    return files[:limit] if limit else files


def _resized_png(path: Path, long_side: int | None) -> bytes:
    with PILImage.open(path) as im:
        im = im.convert("RGB")
        if long_side and max(im.size) != long_side:
            s = long_side / max(im.size)
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), PILImage.BILINEAR)
        buffer = io.BytesIO()
        im.save(buffer, format="PNG")
    return buffer.getvalue()


def ground_truth(mask_path: str, width: int, height: int) -> np.ndarray:
    """The annotation at the stored image's size (nearest neighbour)."""
    with PILImage.open(mask_path) as im:
        if im.size != (width, height):
            im = im.resize((width, height), PILImage.NEAREST)
        return np.array(im, dtype=np.uint8)


# --------------------------------------------------------------------------- state


def _load_state(state_dir: Path) -> dict | None:
    path = state_dir / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def _save_state(state_dir: Path, state: dict) -> None:
    path = state_dir / "state.json"
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(state, indent=2))
    partial.replace(path)


def _append(results: Path, record: dict) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k not in ("train_config", "per_class_iou")}), flush=True)


def _machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, torch CPU"


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------- app steps


def setup_project(args, train_config: dict, *, with_masks: bool, validation_share: float = 0.0) -> dict:
    """Users, the CamVid project and every train image, through the app's services.

    validation_share: the project's share of images flagged for validation at import (the
    HITL curves use 0: they evaluate on CamVid val and the app holds out one labeled image)."""
    from django.contrib.auth import get_user_model

    from webapp.images.services import image_import
    from webapp.projects.management.commands.create_project import CAMVID_CLASSES
    from webapp.projects.services import membership_set, project_create

    users = get_user_model().objects
    admin = users.create_user(username=ADMIN, password="hitl-admin-pw")
    reviewer = users.create_user(username=REVIEWER, password="hitl-reviewer-pw")
    project = project_create(owner=admin, name="CamVid HITL simulation", classes=CAMVID_CLASSES,
                             review_threshold=args.review_threshold)
    membership_set(project=project, user=reviewer, annotator=True, reviewer=True)
    # By default no train image is held out: the benchmark evaluates on CamVid val itself; the
    # app then holds out one labeled image for its own in-run score.
    project.validation_share = validation_share
    project.training_config = train_config
    project.save(update_fields=["validation_share", "training_config"])

    gt_paths = {}
    files = _train_files(Path(args.data), args.train_limit)
    started = time.monotonic()
    for n, path in enumerate(files, 1):
        mask_path = Path(args.data) / "trainannot" / path.name
        data = _resized_png(path, train_config.get("long_side"))
        mask_data = None
        if with_masks:
            with PILImage.open(io.BytesIO(data)) as im:
                size = im.size
            buffer = io.BytesIO()
            PILImage.fromarray(ground_truth(str(mask_path), *size), mode="L").save(buffer, format="PNG")
            mask_data = buffer.getvalue()
        image = image_import(project=project, name=path.name, data=data, uploaded_by=admin, mask_data=mask_data)
        gt_paths[str(image.pk)] = str(mask_path)
        if n % 50 == 0:
            print(f"imported {n}/{len(files)} images ({time.monotonic() - started:.0f} s)", flush=True)
    return {"project_id": project.pk, "gt": gt_paths}


def seed_labels(state: dict, n: int, seed: int) -> None:
    from webapp.images.models import Image
    from webapp.images.services import mask_save

    project, admin, _ = _actors(state)
    ids = sorted(int(i) for i in state["gt"])
    chosen = np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False)
    for image in Image.objects.filter(pk__in=[int(i) for i in chosen]).order_by("id"):
        gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
        mask_save(image=image, base_version=image.mask_version, array=gt, author=admin)
    state["seeded"] = sorted(int(i) for i in chosen)


def _actors(state: dict):
    from django.contrib.auth import get_user_model

    from webapp.projects.models import Project

    users = get_user_model().objects
    return Project.objects.get(pk=state["project_id"]), users.get(username=ADMIN), users.get(username=REVIEWER)


def _close_orphan_runs(project) -> None:
    """A run left queued/running by a killed earlier call: its worker and broker are gone, so
    mark it failed; the next start resumes from its checkpoints (the app's resume path)."""
    from django.utils import timezone

    from webapp.training.models import ACTIVE_STATUSES, TrainingRun

    n = TrainingRun.objects.filter(project=project, status__in=ACTIVE_STATUSES).update(
        status="failed", error="The HITL simulation was restarted while this run was active.",
        finished_at=timezone.now(),
    )
    if n:
        print(f"marked {n} orphaned run(s) failed; the next run resumes from their checkpoints", flush=True)


def train_and_wait(env: Environment, state: dict, timeout_s: float,
                   on_poll: Callable[[object, float], None] | None = None) -> dict:
    """Start a round as the project admin and poll its row until it ends; ``on_poll(row,
    elapsed_s)`` sees the row at every poll (bench/app_round.py samples the page's estimate)."""
    from webapp.training.models import ACTIVE_STATUSES, RunStatus, RunTrigger, TrainingRun
    from webapp.training.services import training_run_start

    project, admin, _ = _actors(state)
    _close_orphan_runs(project)
    env.start_worker()
    run = training_run_start(project=project, user=admin, trigger=RunTrigger.COMMAND)
    print(f"run {run.pk} queued", flush=True)
    started = time.monotonic()
    last = ""
    while True:
        row = TrainingRun.objects.get(pk=run.pk)
        if on_poll is not None:
            on_poll(row, time.monotonic() - started)
        line = f"run {run.pk}: {row.status} {row.phase} {row.stage} {row.step}/{row.total_steps}"
        if row.phase == "pseudo-labelling":
            line += f" pseudo {row.pseudo_done}/{row.pseudo_total}"
        if line != last:
            print(f"[{time.monotonic() - started:6.0f} s] {line}", flush=True)
            last = line
        if row.status not in ACTIVE_STATUSES:
            break
        if not env.worker_alive():
            raise RuntimeError(f"The worker died during run {run.pk}; see {env.worker_log}")
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"Run {run.pk} did not finish in {timeout_s:.0f} s; see {env.worker_log}")
        time.sleep(min(POLL_S, 0.5 + (time.monotonic() - started) / 10))
    if row.status != RunStatus.SUCCEEDED:
        raise RuntimeError(f"Run {run.pk} ended {row.status}: {row.error}")
    return {
        "run_id": row.pk, "run_wall_s": round(time.monotonic() - started, 1), "timings": row.timings,
        "num_labeled": row.num_labeled, "num_pseudo": row.num_pseudo, "num_unlabeled": row.num_unlabeled,
        "num_validation": row.num_validation, "pseudo_total": row.pseudo_total,
        "weight_sources": row.weight_sources,
    }


def evaluate_active(state: dict, args, train_config: dict) -> dict:
    """The served student (active ModelVersion.student_path) on CamVid val, void ignored."""
    from ml.checkpoints import load_model
    from ml.data import SegmentationDataset, pairs_from_folders, val_loader
    from ml.data.transforms import EvalTransform
    from ml.metrics import evaluate
    from webapp.training.files import models_root
    from webapp.training.selectors import model_version_active

    project, _, _ = _actors(state)
    version = model_version_active(project=project)
    import torch

    device = "cuda" if _device(args) == "auto" and torch.cuda.is_available() else "cpu"
    model, _ = load_model(models_root() / version.student_path, map_location=device)
    pairs = pairs_from_folders(Path(args.data) / "val", Path(args.data) / "valannot")
    if args.val_limit:
        pairs = pairs[: args.val_limit]
    dataset = SegmentationDataset(pairs, num_classes=11, ignore_index=VOID, transform=EvalTransform(VOID),
                                  long_side=train_config.get("long_side"), cache=False)
    names = [c.name for c in project.label_classes.all() if not c.is_ignore]
    metrics = evaluate(model, val_loader(dataset), 11, VOID, device, class_names=names)
    return {"model_version": version.number, "val_miou": metrics["miou"], "val_pixel_accuracy":
            metrics["pixel_accuracy"], "per_class_iou": metrics["per_class_iou"], "val_images": len(pairs)}


def _changed_pixels(before: np.ndarray, gt: np.ndarray) -> int:
    return int(((before != gt) & (gt != VOID)).sum())


def review_round(state: dict, budget: int, accept: int) -> dict:
    """The reviewer: correct the `budget` least confident items, accept the next `accept`."""
    from webapp.images.models import Image, ImageStatus, MaskSource
    from webapp.images.services import mask_read, mask_save
    from webapp.review.models import ReviewStatus
    from webapp.review.services import review_item_accept, review_item_mark_corrected, review_item_next

    project, _, reviewer = _actors(state)
    out = {"corrected": 0, "accepted": 0, "pixels_corrected": 0, "accepted_wrong_pixels": 0,
           "corrected_outside_queue": 0, "corrected_scores": []}
    for _ in range(budget):
        item = review_item_next(project=project, user=reviewer)
        if item is None:
            break
        image = item.image
        gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
        out["pixels_corrected"] += _changed_pixels(mask_read(item.pseudo_mask), gt)
        # The editor's save path: a human mask on top of the pseudo-label. The app's mask hook
        # closes the leased item as corrected; the explicit call covers a hook-less setup.
        mask_save(image=image, base_version=item.pseudo_mask.version, array=gt, author=reviewer,
                  source=MaskSource.HUMAN)
        item.refresh_from_db()
        if item.status == ReviewStatus.PENDING:
            review_item_mark_corrected(item=item, user=reviewer)
        out["corrected"] += 1
        out["corrected_scores"].append(round(item.score, 4))
    for _ in range(accept):
        item = review_item_next(project=project, user=reviewer)
        if item is None:
            break
        image = item.image
        gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
        out["accepted_wrong_pixels"] += _changed_pixels(mask_read(item.pseudo_mask), gt)
        review_item_accept(item=item, user=reviewer)
        out["accepted"] += 1
    # The queue ran dry: the least confident auto-accepted pseudo-labels, opened in the editor.
    missing = budget - out["corrected"]
    if missing > 0:
        rest = (Image.objects.filter(project=project, status=ImageStatus.PSEUDO_LABELED)
                .select_related("current_mask").order_by("current_mask__mean_confidence", "id")[:missing])
        for image in rest:
            gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
            out["pixels_corrected"] += _changed_pixels(mask_read(image.current_mask), gt)
            mask_save(image=image, base_version=image.mask_version, array=gt, author=reviewer)
            out["corrected"] += 1
            out["corrected_outside_queue"] += 1
    return out


def random_round(state: dict, budget: int, seed: int, round_number: int) -> dict:
    """Ground truth for `budget` random images without a human mask (seeded per round)."""
    from webapp.images.models import Image
    from webapp.images.services import mask_read, mask_save
    from webapp.training.selectors import human_labeled_images

    project, _, reviewer = _actors(state)
    labeled = set(human_labeled_images(project=project).values_list("pk", flat=True))
    candidates = sorted(int(i) for i in state["gt"] if int(i) not in labeled)
    rng = np.random.default_rng([seed, round_number])
    chosen = rng.choice(candidates, size=min(budget, len(candidates)), replace=False)
    out = {"corrected": 0, "accepted": 0, "pixels_corrected": 0, "pixels_changed_vs_current": 0}
    for image in Image.objects.filter(pk__in=[int(i) for i in chosen]).select_related("current_mask"):
        gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
        out["pixels_corrected"] += int((gt != VOID).sum())  # painted from scratch
        if image.current_mask is not None:
            out["pixels_changed_vs_current"] += _changed_pixels(mask_read(image.current_mask), gt)
        mask_save(image=image, base_version=image.mask_version, array=gt, author=reviewer)
        out["corrected"] += 1
    return out


# --------------------------------------------------------------------------- rounds


def _record(args, state: dict, strategy: str, round_number: int, work: dict, run: dict, ev: dict,
            wall: float, profile_source: str, train_config: dict) -> dict:
    return {
        "bench": "hitl", "strategy": strategy, "round": round_number,
        "human_images_touched": state["touched"], "human_corrected": state["corrected"],
        "human_accepted": state["accepted"], "pixels_corrected": state["pixels_corrected"],
        "round_corrected": work.get("corrected", 0), "round_accepted": work.get("accepted", 0),
        "round_pixels_corrected": work.get("pixels_corrected", 0),
        "round_detail": {k: v for k, v in work.items() if k not in ("corrected", "accepted", "pixels_corrected")},
        "val_miou": ev["val_miou"], "val_pixel_accuracy": ev["val_pixel_accuracy"],
        "per_class_iou": ev["per_class_iou"], "val_images": ev["val_images"],
        "model_version": ev["model_version"], "wall_s": round(wall, 1), "run": run,
        "profile": args.profile, "profile_source": profile_source, "overrides": json.loads(args.set or "{}"),
        "budget": args.budget, "accept": args.accept, "seed_labels": args.seed_labels, "seed": args.seed,
        "review_threshold": args.review_threshold, "threads": args.threads,
        "train_images": len(state["gt"]), "data": str(args.data),
        "machine": _machine(), "git_commit": _git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "train_config": train_config,
    }


def _seed_dir(args) -> Path:
    return Path(args.work_dir) / "seed"


def _branch_from_seed(args, state_dir: Path, train_config: dict) -> bool:
    """Start a strategy from the shared round-0 snapshot, if one exists."""
    seed = _seed_dir(args)
    if not (seed / "state.json").exists():
        return False
    if _load_state(seed)["train_config"] != train_config:
        raise RuntimeError(f"The round-0 snapshot in {seed} was trained with another profile or --set; "
                           "use another --work-dir for this configuration.")
    shutil.copytree(seed, state_dir, ignore=shutil.ignore_patterns("redis.sock", "redis", "worker.log"))
    return True


def _snapshot_seed(args, state_dir: Path) -> None:
    seed = _seed_dir(args)
    if seed.exists():
        return
    partial = seed.with_name("seed.part")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(state_dir, partial, ignore=shutil.ignore_patterns("redis.sock", "redis", "worker.log"))
    partial.replace(seed)


def run_strategy(args) -> None:
    base, source = profile_config(args.profile)
    train_config = {**base, **json.loads(args.set or "{}")}
    state_dir = Path(args.work_dir) / args.strategy
    branched = False
    if _load_state(state_dir) is None and not state_dir.exists():
        branched = _branch_from_seed(args, state_dir, train_config)
    if _load_state(state_dir) is None and (state_dir / "db.sqlite3").exists():
        raise RuntimeError(f"{state_dir} holds a database but no state.json (an interrupted setup): remove it.")
    env = Environment(state_dir, args.threads, _device(args))
    env.start()
    try:
        state = _load_state(state_dir)
        if branched:
            state["branched_from_seed"] = True
            _save_state(state_dir, state)
            record = dict(state["history"][0], strategy=args.strategy, from_seed_snapshot=True,
                          date=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            _append(Path(args.results), record)
        if state is None:
            state = setup_project(args, train_config, with_masks=False)
            state.update(touched=0, corrected=0, accepted=0, pixels_corrected=0, rounds_done=-1,
                         labelled_round=-1, history=[], train_config=train_config, profile_source=source)
            _save_state(state_dir, state)
        elif state["train_config"] != train_config:
            print("note: the profile/overrides differ from the ones this state started with; "
                  "the project's training config is updated", flush=True)
            project, _, _ = _actors(state)
            project.training_config = train_config
            project.save(update_fields=["training_config"])
            state["train_config"] = train_config
        for _ in range(args.rounds):
            round_number = state["rounds_done"] + 1
            if args.max_rounds is not None and round_number > args.max_rounds:
                print(f"round {round_number} is past --max-rounds {args.max_rounds}; stopping", flush=True)
                break
            if state["labelled_round"] < round_number:
                if round_number == 0:
                    seed_labels(state, args.seed_labels, args.seed)
                    work = {"corrected": len(state["seeded"]), "accepted": 0, "pixels_corrected": sum(
                        int((ground_truth(state["gt"][str(i)], *_size(i)) != VOID).sum()) for i in state["seeded"])}
                elif args.strategy == "uncertainty":
                    work = review_round(state, args.budget, args.accept)
                else:
                    work = random_round(state, args.budget, args.seed, round_number)
                state["corrected"] += work["corrected"]
                state["accepted"] += work["accepted"]
                state["touched"] = state["corrected"] + state["accepted"]
                state["pixels_corrected"] += work["pixels_corrected"]
                state["labelled_round"] = round_number
                state["pending_work"] = work
                state["pending_started"] = time.time()
                _save_state(state_dir, state)
                print(f"round {round_number}: labelling done {work}", flush=True)
            work = state["pending_work"]
            run = train_and_wait(env, state, args.round_timeout)
            ev = evaluate_active(state, args, train_config)
            wall = time.time() - state["pending_started"]  # labelling + training + evaluation
            record = _record(args, state, args.strategy, round_number, work, run, ev, wall, source, train_config)
            state["history"].append(record)
            state["rounds_done"] = round_number
            _save_state(state_dir, state)
            _append(Path(args.results), record)
            if round_number == 0:
                # The worker is idle (its run is over) and this process closes its connections,
                # so the SQLite file is quiescent while the folder is copied.
                from django.db import connections

                connections.close_all()
                _snapshot_seed(args, state_dir)
    finally:
        env.stop()


def _device(args) -> str:
    """The gpu profile trains wherever CUDA is ("auto"); the others on the CPU."""
    return "auto" if args.profile == "gpu" else "cpu"


def _size(image_id) -> tuple[int, int]:
    from webapp.images.models import Image

    image = Image.objects.only("width", "height").get(pk=int(image_id))
    return image.width, image.height


def run_full_supervision(args) -> None:
    """Every train image labeled, trained through the same app path for as many rounds as the
    strategies (each round warm-starts from the last, as theirs do): the reference line at a
    matching training budget. Continues where the last call stopped, like the strategies."""
    base, source = profile_config(args.profile)
    train_config = {**base, **json.loads(args.set or "{}")}
    state_dir = Path(args.work_dir) / "full_supervision"
    if _load_state(state_dir) is None:
        shutil.rmtree(state_dir, ignore_errors=True)  # an interrupted setup starts over
    env = Environment(state_dir, args.threads, _device(args))
    env.start()
    try:
        state = _load_state(state_dir)
        if state is None:
            state = setup_project(args, train_config, with_masks=True)
            state.update(touched=len(state["gt"]), corrected=len(state["gt"]), accepted=0, pixels_corrected=0,
                         rounds_done=-1, history=[], train_config=train_config)
            _save_state(state_dir, state)
        elif state.get("train_config", train_config) != train_config:
            raise RuntimeError(f"{state_dir} was trained with another profile or --set; use another --work-dir.")
        for _ in range(args.rounds):
            round_number = state["rounds_done"] + 1
            if args.max_rounds is not None and round_number > args.max_rounds:
                print(f"round {round_number} is past --max-rounds {args.max_rounds}; stopping", flush=True)
                break
            started = time.time()
            run = train_and_wait(env, state, args.round_timeout)
            ev = evaluate_active(state, args, train_config)
            record = _record(args, state, "full_supervision", round_number, {}, run, ev, time.time() - started,
                             source, train_config)
            state["history"].append(record)
            state["rounds_done"] = round_number
            _save_state(state_dir, state)
            _append(Path(args.results), record)
    finally:
        env.stop()


def run_pool_eval(args) -> None:
    """The whole training pool's labels after each recorded round of a strategy: human masks
    where humans labeled, the served student's prediction everywhere else, against CamVid's
    ground truth. That is the dataset a team takes home, on the distribution of all the
    train sequences (val holds one sequence only)."""
    state_dir = Path(args.work_dir) / args.strategy
    state = _load_state(state_dir)
    if state is None:
        raise RuntimeError(f"{state_dir} holds no simulation to evaluate.")
    env = Environment(state_dir, args.threads)
    env.start()
    try:
        for record in state["history"]:
            _append(Path(args.results), pool_record(state, record, args))
    finally:
        env.stop()


def pool_record(state: dict, record: dict, args) -> dict:
    import torch

    from ml.checkpoints import load_model
    from ml.infer import image_to_tensor, student_predict
    from ml.metrics import ConfusionMatrix
    from webapp.images.models import Image, Mask, MaskSource
    from webapp.training.files import models_root
    from webapp.training.models import ModelVersion, TrainingRun

    project, _, _ = _actors(state)
    run = TrainingRun.objects.get(pk=record["run"]["run_id"])
    labeled = set(Mask.objects.filter(image__project=project, source=MaskSource.HUMAN, created_at__lt=run.created_at)
                  .values_list("image_id", flat=True))
    version = ModelVersion.objects.get(project=project, number=record["model_version"])
    model, _ = load_model(models_root() / version.student_path, map_location="cpu")
    pool, rest = ConfusionMatrix(11, VOID), ConfusionMatrix(11, VOID)
    started = time.monotonic()
    with torch.inference_mode():
        for image in Image.objects.filter(project=project).order_by("id"):
            gt = torch.from_numpy(ground_truth(state["gt"][str(image.pk)], image.width, image.height)[None].astype(np.int64))
            if image.pk in labeled:
                pool.update(gt, gt)
                continue
            with image.file.open("rb") as handle, PILImage.open(handle) as im:
                pred, _ = student_predict(model, image_to_tensor(im)[None])
            pool.update(pred, gt)
            rest.update(pred, gt)
    return {
        "bench": "hitl_pool", "strategy": args.strategy, "round": record["round"],
        "human_images_touched": record["human_images_touched"], "labeled_before_run": len(labeled),
        "pool_miou": pool.miou(), "unlabeled_miou": rest.miou(), "pool_images": len(state["gt"]),
        "model_version": record["model_version"], "hitl_record_date": record["date"],
        "profile": record["profile"], "overrides": record["overrides"], "eval_s": round(time.monotonic() - started, 1),
        "machine": _machine(), "git_commit": _git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------------------------------- results


def load_records(results: Path, profile: str | None = None, overrides: dict | None = None,
                 bench: str = "hitl") -> list[dict]:
    """`bench` records (rounds, or "hitl_pool" scores) of one profile with the same --set
    overrides (None: any)."""
    if not results.exists():
        return []
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("bench") == bench and (profile is None or r.get("profile") == profile)
            and (overrides is None or r.get("overrides", {}) == overrides)]


def full_supervision_miou(results: Path, profile: str, overrides: dict,
                          rounds: int | None = None) -> tuple[float | None, str]:
    """Our own full-supervision line after `rounds` rounds (the strategies' last round: the same
    training budget) or the nearest round below; else bench/camvid_ssl.py's one-round figure."""
    own = [r for r in load_records(results, profile, overrides) if r["strategy"] == "full_supervision"]
    if rounds is not None:
        own = [r for r in own if r["round"] <= rounds] or own
    if own:
        best = max(own, key=lambda r: (r["round"], r["date"]))
        return best["val_miou"], f"bench/hitl_simulation.py --full-supervision, round {best['round']}"
    if SSL_RESULTS.exists() and not overrides:
        for line in reversed(SSL_RESULTS.read_text().splitlines()):
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("config") == "full_supervision" and r.get("profile") == profile and r.get("status") == "completed":
                return r.get("miou"), "bench/results/camvid_ssl.jsonl full_supervision (one round)"
    return None, "not run yet"


def pool_records(results: Path, profile: str, overrides: dict) -> dict[tuple[str, int], dict]:
    """Latest --pool-eval record per (strategy, round)."""
    return {(r["strategy"], r["round"]): r for r in load_records(results, profile, overrides, bench="hitl_pool")}


def _last_round(lines: dict[str, list[dict]]) -> int | None:
    rounds = [r["round"] for rows in lines.values() for r in rows]
    return max(rounds) if rounds else None


def curves(results: Path, profile: str, overrides: dict) -> dict[str, list[dict]]:
    """Latest record per (strategy, round)."""
    latest: dict = {}
    for r in load_records(results, profile, overrides):
        if r["strategy"] in STRATEGIES:
            latest[(r["strategy"], r["round"])] = r
    out = {s: [] for s in STRATEGIES}
    for (strategy, _), r in sorted(latest.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        out[strategy].append(r)
    return out


def table(results: Path, profile: str, overrides: dict) -> str:
    """The rounds as Markdown, "% of full" against full supervision after as many rounds (the
    same training), then the issue's two targets checked on them."""
    lines_by_strategy = curves(results, profile, overrides)
    full, full_source = full_supervision_miou(results, profile, overrides, _last_round(lines_by_strategy))
    pools = pool_records(results, profile, overrides)
    lines = ["| strategy | round | touched | corrected | accepted | pixels corrected | val mIoU | "
             "full supervision, same round | % of full | train pool mIoU (human + student) | round wall (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for strategy, rows in lines_by_strategy.items():
        for r in rows:
            same, _ = full_supervision_miou(results, profile, overrides, r["round"])
            full_cells = f"{100 * same:.1f} | {100 * r['val_miou'] / same:.0f} %" if same else "n/a | n/a"
            pool = pools.get((strategy, r["round"]))
            pool_cell = f"{100 * pool['pool_miou']:.1f}" if pool else "n/a"
            lines.append(
                f"| {strategy} | {r['round']} | {r['human_images_touched']} | {r['human_corrected']} | "
                f"{r['human_accepted']} | {r['pixels_corrected']:,} | {100 * r['val_miou']:.1f} | "
                f"{full_cells} | {pool_cell} | {r['wall_s']:.0f} |"
            )
    lines.append("")
    lines.append(f"Full supervision ({full_source}): " + (f"{100 * full:.1f} % mIoU" if full else "not run yet"))
    lines += ["", *target_verdicts(lines_by_strategy, full)]
    return "\n".join(lines)


def target_verdicts(lines_by_strategy: dict[str, list[dict]], full: float | None) -> list[str]:
    """The issue's targets on the recorded rounds (same round = same budget for both)."""
    review = {r["round"]: r for r in lines_by_strategy.get("uncertainty", [])}
    rand = {r["round"]: r for r in lines_by_strategy.get("random", [])}
    both = sorted(set(review) & set(rand) - {0})  # round 0 is shared
    out = []
    if both:
        wins = [n for n in both if review[n]["val_miou"] > rand[n]["val_miou"]]
        gaps = ", ".join(f"{rand[n]['human_images_touched']}: {100 * (review[n]['val_miou'] - rand[n]['val_miou']):+.1f}"
                         for n in both)
        out.append(f"- Review beats random at every budget: {'yes' if len(wins) == len(both) else 'no'} "
                   f"(review minus random, mIoU points, by images touched: {gaps})")
    if full:
        for strategy, rows in lines_by_strategy.items():
            within = [r for r in rows if r["human_images_touched"] <= QUARTER * r["train_images"]]
            if within:
                best = max(within, key=lambda r: r["val_miou"])
                share = best["val_miou"] / full
                out.append(f"- {strategy}: best within a quarter of the images {100 * best['val_miou']:.1f} "
                           f"({best['human_images_touched']} touched) = {100 * share:.0f} % of full supervision "
                           f"({'meets' if share >= FULL_SUPERVISION_95 else 'misses'} the 95 % target)")
    return out


def plot(results: Path, profile: str, overrides: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines_by_strategy = curves(results, profile, overrides)
    full, _ = full_supervision_miou(results, profile, overrides, _last_round(lines_by_strategy))
    pools = pool_records(results, profile, overrides)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    styles = {"uncertainty": ("tab:blue", "o", "least-confident-first review"),
              "random": ("tab:orange", "s", "random labeling")}
    total = None
    for strategy, rows in lines_by_strategy.items():
        if not rows:
            continue
        total = rows[-1]["train_images"]
        colour, marker, label = styles[strategy]
        ax.plot([r["human_images_touched"] for r in rows], [100 * r["val_miou"] for r in rows],
                color=colour, marker=marker, label=f"{label}, val")
        pool = [pools[(strategy, r["round"])] for r in rows if (strategy, r["round"]) in pools]
        if pool:
            ax.plot([r["human_images_touched"] for r in pool], [100 * r["pool_miou"] for r in pool],
                    color=colour, marker=marker, linestyle="--", markerfacecolor="none",
                    label=f"{label}, train pool labels (human + student)")
    if full is not None:
        ax.axhline(100 * full, color="black", linestyle="-", linewidth=1, label=f"full supervision, val ({100 * full:.1f})")
        ax.axhline(100 * FULL_SUPERVISION_95 * full, color="black", linestyle=":", linewidth=1, label="95 % of full")
    if total:
        ax.axvline(QUARTER * total, color="grey", linestyle="--", linewidth=1, label="a quarter of the images")
    ax.set_xlabel("human images touched (corrected + accepted)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title(f"HITL simulation, profile {profile}" + (f" {json.dumps(overrides)}" if overrides else ""),
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    if total:
        ax.set_xlim(0, max(ax.get_xlim()[1], QUARTER * total * 1.08))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--strategy", choices=STRATEGIES)
    p.add_argument("--rounds", type=int, default=1, help="rounds to run in this call (round 0 = seed)")
    p.add_argument("--max-rounds", type=int, help="never go past this round number")
    p.add_argument("--full-supervision", action="store_true", help="every train image labeled; --rounds rounds like a strategy")
    p.add_argument("--pool-eval", action="store_true",
                   help="with --strategy: score the whole train pool's labels (human + student) after each round")
    p.add_argument("--plot", action="store_true", help=f"write the plot ({DEFAULT_PLOT.relative_to(ROOT)})")
    p.add_argument("--table", action="store_true", help="print the Markdown table of the results file")
    p.add_argument("--budget", type=int, default=12, help="images corrected by humans per round")
    p.add_argument("--accept", type=int, default=0,
                   help="queue items also accepted unchecked per round, after the corrections (default 0)")
    p.add_argument("--seed-labels", type=int, default=12, help="human masks before round 0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--review-threshold", type=float, default=0.9, help="project review threshold (mean confidence)")
    p.add_argument("--profile", choices=("cpu", "gpu", "tiny"), default="cpu")
    p.add_argument("--set", help="JSON of TrainConfig overrides, e.g. '{\"teacher_steps\": 40}'")
    p.add_argument("--threads", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2)),
                   help="torch/OMP threads of the worker and the evaluation (default: half the cores)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="CamVid-like folder: train/, trainannot/, val/, valannot/")
    p.add_argument("--train-limit", type=int, help="import only the first N train images (smoke tests)")
    p.add_argument("--val-limit", type=int, help="evaluate on the first N val images only (smoke tests)")
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--plot-out", type=Path, default=DEFAULT_PLOT)
    p.add_argument("--round-timeout", type=float, default=6 * 3600, help="give up on a run after this many seconds")
    args = p.parse_args(argv)
    if not (args.strategy or args.full_supervision or args.plot or args.table):
        p.error("give --strategy, --full-supervision, --plot or --table")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.strategy and args.pool_eval:
        run_pool_eval(args)
    elif args.strategy:
        run_strategy(args)
    elif args.full_supervision:
        run_full_supervision(args)
    if args.plot:
        overrides = json.loads(args.set or "{}")
        print(f"wrote {plot(Path(args.results), args.profile, overrides, Path(args.plot_out))}", flush=True)
    if args.table:
        print(table(Path(args.results), args.profile, json.loads(args.set or "{}")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
