"""Human-effort benchmark: a simulated team labels CamVid through the app itself.

Everything goes through segloop's own services and a real Celery worker process: a fresh
SQLite database and MEDIA_ROOT in a work directory, the embedded Redis (or REDIS_URL), the
CamVid preset project (void = ignore class), all train images imported without masks, and
training rounds started with ``training_run_start`` as the project admin and run by
``celery -A webapp worker -Q default,training -P solo``. The script polls the TrainingRun row
until the round is over; pseudo-labelling, the auto-accept threshold's calibration, the audits
and the queue's order happen inside the run, as in production.

Strategies (the same number of human-touched images per round, ``--budget``; the project's
``queue_strategy`` is set to the strategy and its ``review_batch_size`` to the budget):

* ``diverse`` and ``least_confident``: a simulated reviewer takes ``--budget`` items from
  ``review_item_next``, in the project's queue order, and saves the ground truth over each one
  with ``mask_save`` as a human mask; the app's mask hook closes the item as *corrected* and
  records its pixel error, which calibrates the threshold. Audits (auto-acceptable
  pseudo-labels sent to the queue as spot checks) are corrected the same way and count toward
  the budget: they take a human look. Effort = pixels whose class had to change, void ignored.
  Pseudo-labels the app accepts (status ``pseudo``) become training data. Queue items past the
  budget stay pending; the next round re-scores and re-orders them. ``--accept N`` makes the
  reviewer also accept the next N items unchecked (off by default: a rubber stamp turns every
  wrong pixel into ground truth). If the queue runs dry, the reviewer corrects the least
  confident accepted pseudo-labels. Records written before version 2 call least_confident
  ``uncertainty``; reading them maps the old name.
* ``random``: ``--budget`` images chosen at random (seeded per seed and round) among those
  without a human mask get their ground-truth mask; the queue is not used. Effort = all
  non-void pixels (labelled from scratch).

Reviewers (``--reviewer``, queue strategies only; issue 13):

* ``whole`` (the default, as before): the picked item gets the whole ground truth; its
  changed pixels are brush pixels.
* ``region``: review by region. The item image's superpixels (webapp.images.superpixels;
  computed by the worker after import, or here if missing) are split into doubtful regions
  (mean fused confidence, the item's ``confidence_map`` 0-255, under tau x 255, tau being the
  round's config ``tau``; or teachers disagreeing, ``disagreement_map``, on more than half the
  region) and confident ones. A doubtful region whose dominant ground-truth class (void not
  counted) differs from the pseudo-label's dominant class gets that class with one click (Cai
  et al., CVPR 2021); the pixels still wrong in the doubtful regions after that are painted
  (brush pixels) and, as with the whole reviewer, take the ground truth there (void included,
  free). Confident regions are accepted as they are, wrong pixels and all. The composed mask is
  saved with ``mask_save`` as the human mask. Items the queue cannot give (it ran dry) and items
  without maps are corrected whole. Each variant has its own state folder
  (``seed<N>/<strategy>-region``), branched from the same round-0 snapshot.

The cost of the humans' work, in estimated seconds (module constants, recorded with every
line; the table reports val mIoU against them):

* SECONDS_PER_CLICK = 1 s: a doubtful region given its dominant class with one click or key.
  Cai et al. (CVPR 2021, "Revisiting superpixels for active learning in semantic segmentation
  with realistic annotation costs") cost a region's dominant-class label as one click; Bearman
  et al. (ECCV 2016, "What's the point") measured about 1 s per class for image-level labels
  (20.0 s per PASCAL image for 20 classes) and 22.1 s per image for one point per class.
* SECONDS_PER_KEPT_REGION = 1 s: a doubtful region looked at and kept (the key that moves on).
  Our assumption, not the literature's: it is one key press, costed as a click.
* SECONDS_PER_IMAGE_FROM_SCRATCH = 5400 s: a street scene labelled from scratch. Cordts et al.
  (CVPR 2016, Cityscapes) report more than 1.5 h per finely annotated image; Bearman et al.
  239.7 s per (much simpler) PASCAL VOC image. Painted pixels cost their share of the image's
  area times this: painting a whole image from scratch (every non-void pixel) costs close to
  5400 s, correcting a tenth of it 540 s, at any stored resolution.

So region review = clicks + kept regions + painted share; whole-image correction = changed
share; painting from scratch (round 0's seed labels, the random strategy, full supervision) =
non-void share. Records before this cost model carry no ``human_seconds`` and show n/a.

Seeds: ``--seed N`` chooses round 0's ``--seed-labels`` human masks, the random strategy's
picks and the training seed (TrainConfig.seed). Each seed has its own work folder,
``<work-dir>/seed<N>/``: round 0 is trained once per seed, by whichever strategy comes first,
and snapshotted to ``seed<N>/round0``; the other strategies of that seed branch from the
snapshot (their queue is then re-ordered by their own strategy). Calls continue where the
last one stopped.

After every round the active model version's student (``ModelVersion.student_path``) is
evaluated on CamVid val (void ignored, ``ml.metrics.evaluate``) and one JSON line (``"version":
2``) is appended to ``bench/results/hitl.jsonl``: seed, strategy, round, human images touched
(cumulative, and per CamVid sequence), the pick kinds of the items the reviewer took, pixels
corrected, the accepted pseudo-labels (count, share of the images without a human mask, their
true pixel error against the ground truth), the threshold calibration, the audited error
estimate, val mIoU, wall time, the training config and the profile. ``--table`` prints mean ±
std over seeds per strategy and budget, the last round's auto-accept and the picks' spread,
and checks issue 12's targets; ``--plot`` draws the curves with error bars (docs/hitl.png).

The full benchmark (3 strategies x 3 seeds, two processes at a time on one thread each;
``--max-rounds 4`` = 12 seed labels + 4 x 19 = 88 images, just under a quarter of 367):

    H="python bench/hitl_simulation.py --budget 19 --threads 1 --max-rounds 4"
    L=bench/results/hitl_work/logs; mkdir -p $L
    # 1. round 0 of each seed (it creates the snapshot that the seed's other strategies branch from)
    printf '%s\\n' 0 1 2 | xargs -P 2 -I{} sh -c "$H --strategy diverse --seed {} --rounds 1 > $L/round0_s{}.log 2>&1"
    # 2. rounds 1-4 of every strategy and seed
    for s in 0 1 2; do for st in diverse least_confident random; do echo $st $s; done; done |
      xargs -P 2 -L 1 sh -c "$H --strategy \\$0 --seed \\$1 --rounds 4 > $L/\\$0_s\\$1.log 2>&1"
    # 3. the full-supervision line, as many rounds (0-4); one seed is enough, more add error bars
    printf '%s\\n' 0 1 2 | xargs -P 2 -I{} sh -c "$H --full-supervision --seed {} --rounds 5 > $L/full_s{}.log 2>&1"
    # 4. optional: the train pool's labels (human + student) after each round
    python bench/hitl_simulation.py --strategy diverse --seed 0 --pool-eval
    # 5. results
    python bench/hitl_simulation.py --table --plot

Profile: ``hitl`` (the default) is bench/camvid_ssl.py's ``cpu`` profile (240x180, 128 px
crops, hybrid Swin SU, Lite2 RU, Lite0 student, all pretrained) with HITL_STEPS teacher and
student steps; ``cpu`` and ``gpu`` are camvid_ssl's own. ``--set '{"teacher_steps": 40}'``
overrides fields (the table only mixes records with the same --set). Because the app
pseudo-labels images at their stored resolution, the reduced resolution is applied at import:
images are stored resized to the profile's long side (bilinear, masks nearest), and val is
evaluated at the same size. ``--profile tiny`` is a seconds-long profile for the smoke test.
``--data`` points at any folder laid out like CamVid (train/, trainannot/, val/, valannot/).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cpu_info import cpu_model  # bench/ is on sys.path when a script runs

import numpy as np
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ml.superpixels import region_majority  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "camvid"
DEFAULT_WORK = ROOT / "bench" / "results" / "hitl_work"
DEFAULT_RESULTS = ROOT / "bench" / "results" / "hitl.jsonl"
DEFAULT_PLOT = ROOT / "docs" / "hitl.png"
BENCH_VERSION = 2  # records of earlier versions (other strategies, no seeds) stay out of the table
VOID = 11  # CamVid's "unlabelled", the preset's ignore class
QUEUE_STRATEGIES = ("diverse", "least_confident")
STRATEGIES = (*QUEUE_STRATEGIES, "random")
FULL_SUPERVISION = "full_supervision"
OLD_STRATEGY_NAMES = {"uncertainty": "least_confident"}
WHOLE, REGION, SCRATCH = "whole", "region", "scratch"  # how the humans' work was done
REVIEWERS = (WHOLE, REGION)
REGION_SUFFIX = "+region"  # the table's name of a queue strategy reviewed by region
# Review by region (webapp.review.regions uses the same rule in the app).
TAU_DEFAULT = 0.95  # ml.train.TrainConfig's tau, for a run whose config has none
# The cost model (sources in the module docstring).
SECONDS_PER_CLICK = 1.0
SECONDS_PER_KEPT_REGION = 1.0
SECONDS_PER_IMAGE_FROM_SCRATCH = 5400.0
COST_MODEL = {"seconds_per_click": SECONDS_PER_CLICK, "seconds_per_kept_region": SECONDS_PER_KEPT_REGION,
              "seconds_per_image_from_scratch": SECONDS_PER_IMAGE_FROM_SCRATCH,
              "painted": "share of the image's area x seconds_per_image_from_scratch"}
# Issue 13's targets.
REGION_COST_SHARE = 1 / 3  # region review at most a third of whole-image correction's seconds
SEQUENCES = ("0001TP", "0006R0", "0016E5", "Seq05VD")  # CamVid file names start with one
OTHER_SEQUENCE = "other"
AUDIT = "audit"  # the pick kind counted for an audit item (ReviewItem.is_audit)
OUTSIDE_QUEUE = "outside_queue"  # an accepted pseudo-label corrected because the queue ran dry
ADMIN, REVIEWER = "hitl-admin", "hitl-reviewer"
POLL_S = 5.0  # longest pause between two reads of the run row (short at first)
# Issue 12's targets.
FULL_SUPERVISION_95 = 0.95
QUARTER = 0.25
AHEAD_OF_RANDOM_POINTS = 2.0
ACCEPTED_SHARE_TARGET = 1 / 3

# The hitl profile's steps per round (the rest is camvid_ssl's cpu profile).
HITL_STEPS = {"teacher_steps": 60, "student_steps": 150}
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
PROFILE_NAMES = ("hitl", "cpu", "gpu", "tiny")


def profile_config(name: str) -> tuple[dict, str]:
    """(TrainConfig fields of the profile, where they came from).

    Rounds train the profile's step counts: the app default's time budget (max_minutes) is
    switched off, so every strategy and round gets the same steps."""
    fixed_steps = {"max_minutes": None}
    if name == "tiny":
        return {**TINY_PROFILE, **fixed_steps}, "bench/hitl_simulation.py TINY_PROFILE"
    from camvid_ssl import PROFILES

    if name == "hitl":
        return ({**PROFILES["cpu"], **HITL_STEPS, **fixed_steps},
                f"bench/camvid_ssl.py PROFILES['cpu'] with bench/hitl_simulation.py HITL_STEPS {HITL_STEPS}")
    return {**PROFILES[name], **fixed_steps}, f"bench/camvid_ssl.py PROFILES[{name!r}]"


def train_config_for(args) -> tuple[dict, str]:
    """The profile, the seed's training seed, then --set."""
    base, source = profile_config(args.profile)
    return {**base, "seed": args.seed, **json.loads(args.set or "{}")}, source


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


def set_queue_strategy(state: dict, strategy: str, budget: int) -> None:
    """The project's queue settings for a strategy (the random strategy does not use the queue
    but keeps the project consistent); the app ranks the pending items by the new order."""
    from webapp.review.queue import review_queue_reorder

    project, _, _ = _actors(state)
    if (project.queue_strategy, project.review_batch_size) == (strategy, budget):
        return
    project.queue_strategy = strategy
    project.review_batch_size = budget
    project.save(update_fields=["queue_strategy", "review_batch_size"])
    review_queue_reorder(project=project)


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


def _pick_kind(item) -> str:
    return AUDIT if item.is_audit else item.pick_kind


# --------------------------------------------------------------------------- the cost of a human's work


def paint_seconds(pixels: int, area: int) -> float:
    """Estimated seconds to paint `pixels` of an image of `area` pixels (cost model above)."""
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
    left_wrong_pixels: int  # non-void pixels wrong in confident regions, accepted as they are

    @property
    def seconds(self) -> float:
        return (self.clicks * SECONDS_PER_CLICK + (self.regions_checked - self.clicks) * SECONDS_PER_KEPT_REGION
                + paint_seconds(self.brush_pixels, self.mask.size))


def region_fix(*, superpixels: np.ndarray, pseudo: np.ndarray, gt: np.ndarray, confidence: np.ndarray,
               disagreement: np.ndarray, tau: float) -> RegionFix:
    """The simulated region reviewer on one item (all maps H,W).

    superpixels: int32 ids 0..n-1; pseudo, gt: uint8 classes (gt's VOID not counted);
    confidence: uint8 0-255 (the fused teachers' confidence); disagreement: uint8 (255 where
    the teachers disagree). The doubtful regions are the review page's
    (webapp.review.regions.doubtful_regions). Each doubtful region whose dominant
    ground-truth class differs from the pseudo-label's gets that class (one click); then the
    doubtful regions' remaining wrong pixels are painted with the ground truth."""
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
    brush = int((in_doubt & wrong & counted).sum())
    left = int((~in_doubt & wrong & counted).sum())
    painted = in_doubt & wrong  # as the whole reviewer: void pixels take the ground truth for free
    mask[painted] = gt[painted]
    return RegionFix(mask=mask, regions=n, regions_checked=int(doubtful.sum()), clicks=int(click.sum()),
                     brush_pixels=brush, left_wrong_pixels=left)


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


def _review_by_region(item, pseudo: np.ndarray, gt: np.ndarray) -> RegionFix | None:
    """None when the item lacks a map or superpixels (then it is corrected whole)."""
    confidence, disagreement = _gray(item.confidence_map), _gray(item.disagreement_map)
    if confidence is None or disagreement is None or confidence.shape != gt.shape:
        return None
    superpixels = _superpixels(item.image)
    if superpixels is None or superpixels.shape != gt.shape:
        return None
    return region_fix(superpixels=superpixels, pseudo=pseudo, gt=gt, confidence=confidence,
                      disagreement=disagreement, tau=_item_tau(item))


def review_round(state: dict, budget: int, accept: int, reviewer_kind: str = WHOLE) -> dict:
    """The reviewer: the next `budget` items in the project's queue order are corrected
    (audits included): the whole ground truth, or by region (reviewer_kind REGION, see the
    module docstring); then the next `accept` are accepted unchecked."""
    from webapp.images.models import Image, ImageStatus
    from webapp.images.services import mask_read, mask_save
    from webapp.review.models import ReviewStatus
    from webapp.review.services import review_item_accept, review_item_next

    project, _, reviewer = _actors(state)
    out = {"corrected": 0, "accepted": 0, "pixels_corrected": 0, "accepted_wrong_pixels": 0,
           "corrected_outside_queue": 0, "corrected_scores": [], "pick_kinds": Counter(),
           "reviewer": reviewer_kind, "human_seconds": 0.0, "clicks": 0, "brush_pixels": 0,
           "regions_checked": 0, "regions": 0, "region_left_wrong_pixels": 0, "corrected_whole": 0}
    for _ in range(budget):
        item = review_item_next(project=project, user=reviewer)
        if item is None:
            break
        image = item.image
        gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
        pseudo = mask_read(item.pseudo_mask)
        fix = _review_by_region(item, pseudo, gt) if reviewer_kind == REGION else None
        if fix is None:
            changed = _changed_pixels(pseudo, gt)
            array = gt
            out["corrected_whole"] += reviewer_kind == REGION
            out["brush_pixels"] += changed
            out["human_seconds"] += paint_seconds(changed, gt.size)
        else:
            array = fix.mask
            for key in ("clicks", "brush_pixels", "regions_checked", "regions"):
                out[key] += getattr(fix, key)
            out["region_left_wrong_pixels"] += fix.left_wrong_pixels
            out["human_seconds"] += fix.seconds
        out["pixels_corrected"] += _changed_pixels(pseudo, array)
        # The editor's save path: a human mask on top of the pseudo-label; the app's mask hook
        # closes the leased item as corrected, with its pixel error.
        mask_save(image=image, base_version=item.pseudo_mask.version, array=array, author=reviewer)
        item.refresh_from_db()
        if item.status == ReviewStatus.PENDING:
            raise RuntimeError(f"The mask hook left review item {item.pk} pending after a human mask.")
        out["corrected"] += 1
        out["corrected_scores"].append(round(item.score, 4))
        out["pick_kinds"][_pick_kind(item)] += 1
    for _ in range(accept):
        item = review_item_next(project=project, user=reviewer)
        if item is None:
            break
        image = item.image
        gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
        out["accepted_wrong_pixels"] += _changed_pixels(mask_read(item.pseudo_mask), gt)
        review_item_accept(item=item, user=reviewer)
        out["accepted"] += 1
        out["pick_kinds"][_pick_kind(item)] += 1
    # The queue ran dry: the least confident auto-accepted pseudo-labels, opened in the editor.
    missing = budget - out["corrected"]
    if missing > 0:
        rest = (Image.objects.filter(project=project, status=ImageStatus.PSEUDO_LABELED)
                .select_related("current_mask").order_by("current_mask__mean_confidence", "id")[:missing])
        for image in rest:  # no review item, so no maps: corrected whole by either reviewer
            gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
            changed = _changed_pixels(mask_read(image.current_mask), gt)
            out["pixels_corrected"] += changed
            out["brush_pixels"] += changed
            out["human_seconds"] += paint_seconds(changed, gt.size)
            out["corrected_whole"] += reviewer_kind == REGION
            mask_save(image=image, base_version=image.mask_version, array=gt, author=reviewer)
            out["corrected"] += 1
            out["corrected_outside_queue"] += 1
            out["pick_kinds"][OUTSIDE_QUEUE] += 1
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
    out = {"corrected": 0, "accepted": 0, "pixels_corrected": 0, "pixels_changed_vs_current": 0,
           "pick_kinds": Counter(), "reviewer": SCRATCH, "human_seconds": 0.0}
    for image in Image.objects.filter(pk__in=[int(i) for i in chosen]).select_related("current_mask"):
        gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
        out["pixels_corrected"] += int((gt != VOID).sum())  # painted from scratch
        out["human_seconds"] += scratch_seconds(gt)
        if image.current_mask is not None:
            out["pixels_changed_vs_current"] += _changed_pixels(mask_read(image.current_mask), gt)
        mask_save(image=image, base_version=image.mask_version, array=gt, author=reviewer)
        out["corrected"] += 1
    return out


def seed_round(state: dict, n: int, seed: int) -> dict:
    """Round 0's labelling: `n` random images painted from scratch."""
    seed_labels(state, n, seed)
    truths = [ground_truth(state["gt"][str(i)], *_size(i)) for i in state["seeded"]]
    return {"corrected": len(state["seeded"]), "accepted": 0, "pick_kinds": Counter(), "reviewer": SCRATCH,
            "pixels_corrected": sum(int((gt != VOID).sum()) for gt in truths),
            "human_seconds": sum(scratch_seconds(gt) for gt in truths)}


def scratch_seconds_of(state: dict, image_ids) -> float:
    """Painting these images from scratch (the full-supervision line, old round-0 states)."""
    return sum(scratch_seconds(ground_truth(state["gt"][str(i)], *_size(i))) for i in image_ids)


# --------------------------------------------------------------------------- the project after a round


def sequence_of(mask_path: str) -> str:
    """The CamVid sequence an image comes from (its file name's prefix)."""
    name = Path(mask_path).name
    return next((s for s in SEQUENCES if name.startswith(s)), OTHER_SEQUENCE)


def touched_by_sequence(state: dict) -> dict[str, int]:
    """Images with a human mask, counted per CamVid sequence."""
    from webapp.training.selectors import human_labeled_images

    project, _, _ = _actors(state)
    ids = human_labeled_images(project=project).values_list("pk", flat=True)
    counts = Counter(sequence_of(state["gt"][str(i)]) for i in ids)
    return {**dict.fromkeys(SEQUENCES, 0), **counts}


def accepted_true_error(state: dict) -> float | None:
    """Pixel error of every accepted pseudo-label against the ground truth, void ignored,
    weighted by pixels (None when nothing is accepted)."""
    from webapp.images.models import Image, ImageStatus
    from webapp.images.services import mask_read

    project, _, _ = _actors(state)
    wrong = counted = 0
    for image in Image.objects.filter(project=project, status=ImageStatus.PSEUDO_LABELED).select_related("current_mask"):
        gt = ground_truth(state["gt"][str(image.pk)], image.width, image.height)
        wrong += _changed_pixels(mask_read(image.current_mask), gt)
        counted += int((gt != VOID).sum())
    return wrong / counted if counted else None


def auto_accept_measures(state: dict) -> dict:
    """What the app accepted on its own after the round, what it believes about their error
    (audits), and what their error really is (ground truth)."""
    from webapp.review.queue import accepted_error_estimate, review_threshold_effective, unlabeled_share_accepted

    project, _, _ = _actors(state)
    accepted, without_human = unlabeled_share_accepted(project=project)
    return {
        "accepted_pseudo_labels": accepted, "unlabeled_images": without_human,
        "accepted_share": accepted / without_human if without_human else 0.0,
        "accepted_true_error": accepted_true_error(state),
        "audited_error": asdict(accepted_error_estimate(project=project)),
        "threshold_calibration": project.threshold_calibration,
        "review_threshold_effective": review_threshold_effective(project),
        "target_pixel_error": project.target_pixel_error, "audit_share": project.audit_share,
        "touched_by_sequence": touched_by_sequence(state),
    }


# --------------------------------------------------------------------------- rounds


def _record(args, state: dict, strategy: str, round_number: int, work: dict, run: dict, ev: dict,
            wall: float, profile_source: str, train_config: dict) -> dict:
    return {
        "bench": "hitl", "version": BENCH_VERSION, "strategy": strategy, "seed": args.seed, "round": round_number,
        "human_images_touched": state["touched"], "human_corrected": state["corrected"],
        "human_accepted": state["accepted"], "pixels_corrected": state["pixels_corrected"],
        "round_corrected": work.get("corrected", 0), "round_accepted": work.get("accepted", 0),
        "round_pixels_corrected": work.get("pixels_corrected", 0),
        "pick_kinds": state["pick_kinds"], "round_pick_kinds": work.get("pick_kinds", {}),
        "round_detail": {k: v for k, v in work.items()
                         if k not in ("corrected", "accepted", "pixels_corrected", "pick_kinds", "reviewer",
                                      "human_seconds", *COST_COUNTS)},
        "reviewer": _reviewer_of(args, strategy),
        "human_seconds": _round1(state.get("human_seconds")),
        "round_human_seconds": _round1(work.get("human_seconds", 0.0)),
        **{key: state.get(key, 0) for key in COST_COUNTS},
        **{f"round_{key}": work.get(key, 0) for key in COST_COUNTS},
        "cost_model": COST_MODEL,
        **auto_accept_measures(state),
        "val_miou": ev["val_miou"], "val_pixel_accuracy": ev["val_pixel_accuracy"],
        "per_class_iou": ev["per_class_iou"], "val_images": ev["val_images"],
        "model_version": ev["model_version"], "wall_s": round(wall, 1), "run": run,
        "profile": args.profile, "profile_source": profile_source, "overrides": json.loads(args.set or "{}"),
        "budget": args.budget, "accept": args.accept, "seed_labels": args.seed_labels,
        "review_threshold": args.review_threshold, "threads": args.threads,
        "train_images": len(state["gt"]), "data": str(args.data),
        "machine": _machine(), "git_commit": _git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "train_config": train_config,
    }


def _round1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _reviewer_of(args, strategy: str) -> str:
    """How the humans' work of a line was done: the queue strategies' --reviewer; the rest
    painted from scratch."""
    return getattr(args, "reviewer", WHOLE) if strategy in QUEUE_STRATEGIES else SCRATCH


def _seed_dir(args) -> Path:
    return Path(args.work_dir) / f"seed{args.seed}"


def _strategy_dir(args) -> Path:
    """The strategy's state folder: one per reviewer, the whole one under the strategy's name."""
    name = args.strategy + ("-region" if getattr(args, "reviewer", WHOLE) == REGION else "")
    return _seed_dir(args) / name


def _round0_dir(args) -> Path:
    return _seed_dir(args) / "round0"


SNAPSHOT_IGNORE = shutil.ignore_patterns("redis.sock", "redis", "worker.log")


def _branch_from_round0(args, state_dir: Path, train_config: dict) -> bool:
    """Start a strategy from its seed's round-0 snapshot, if one exists."""
    round0 = _round0_dir(args)
    if not (round0 / "state.json").exists():
        return False
    if _load_state(round0)["train_config"] != train_config:
        raise RuntimeError(f"The round-0 snapshot in {round0} was trained with another profile or --set; "
                           "use another --work-dir for this configuration.")
    shutil.copytree(round0, state_dir, ignore=SNAPSHOT_IGNORE)
    return True


def _snapshot_round0(args, state_dir: Path) -> None:
    round0 = _round0_dir(args)
    if round0.exists():
        return
    partial = round0.with_name("round0.part")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(state_dir, partial, ignore=SNAPSHOT_IGNORE)
    partial.replace(round0)


def _open_strategy_state(args, state_dir: Path, train_config: dict, source: str, branched: bool) -> dict:
    """The strategy's state: branched from round 0 (its round-0 line re-recorded under this
    strategy's name), continued, or a new project."""
    state = _load_state(state_dir)
    if branched:
        state["branched_from_round0"] = True
        _backfill_seconds(state)  # a snapshot made before the cost model
        _save_state(state_dir, state)
        round0 = state["history"][0]
        _append(Path(args.results), dict(round0, strategy=args.strategy, from_round0_snapshot=True,
                                         reviewer=_reviewer_of(args, args.strategy),
                                         human_seconds=round0.get("human_seconds", _round1(state["human_seconds"])),
                                         cost_model=COST_MODEL, date=time.strftime("%Y-%m-%dT%H:%M:%S%z")))
    elif state is None:
        state = setup_project(args, train_config, with_masks=False)
        state.update(touched=0, corrected=0, accepted=0, pixels_corrected=0, pick_kinds={}, rounds_done=-1,
                     labelled_round=-1, history=[], train_config=train_config, profile_source=source,
                     human_seconds=0.0, **dict.fromkeys(COST_COUNTS, 0))
        _save_state(state_dir, state)
    if "human_seconds" not in state:
        _backfill_seconds(state)
    if state["train_config"] != train_config:
        print("note: the profile/overrides differ from the ones this state started with; "
              "the project's training config is updated", flush=True)
        project, _, _ = _actors(state)
        project.training_config = train_config
        project.save(update_fields=["training_config"])
        state["train_config"] = train_config
    return state


def label_round(args, state: dict, round_number: int) -> dict:
    """The humans' work before round `round_number` trains."""
    if round_number == 0:
        return seed_round(state, args.seed_labels, args.seed)
    if args.strategy in QUEUE_STRATEGIES:
        return review_round(state, args.budget, args.accept, args.reviewer)
    return random_round(state, args.budget, args.seed, round_number)


COST_COUNTS = ("clicks", "brush_pixels", "regions_checked")


def _add_costs(state: dict, work: dict) -> None:
    """The round's estimated human seconds and region-review counts, added to the totals."""
    if state.get("human_seconds", 0.0) is not None:  # None: an old state whose seconds are unknown
        state["human_seconds"] = state.get("human_seconds", 0.0) + work.get("human_seconds", 0.0)
    for key in COST_COUNTS:
        state[key] = state.get(key, 0) + work.get(key, 0)


def _backfill_seconds(state: dict) -> None:
    """A state from before the cost model: its seconds from its painted pixels, exact when all
    images have one size (whole correction and painting from scratch cost their share of the
    area); left out (None) otherwise."""
    if "human_seconds" in state:
        return
    from webapp.images.models import Image

    project, _, _ = _actors(state)
    sizes = set(Image.objects.filter(project=project).values_list("width", "height").distinct())
    if len(sizes) == 1:
        width, height = sizes.pop()
        state["human_seconds"] = paint_seconds(state["pixels_corrected"], width * height)
    else:
        state["human_seconds"] = None


def _past_max_rounds(args, round_number: int) -> bool:
    if args.max_rounds is not None and round_number > args.max_rounds:
        print(f"round {round_number} is past --max-rounds {args.max_rounds}; stopping", flush=True)
        return True
    return False


def run_strategy_round(env: Environment, args, state_dir: Path, state: dict, round_number: int,
                       train_config: dict, source: str) -> None:
    """Label (once, even if the call is interrupted and rerun), train, evaluate, record."""
    if state["labelled_round"] < round_number:
        work = label_round(args, state, round_number)
        state["corrected"] += work["corrected"]
        state["accepted"] += work["accepted"]
        state["touched"] = state["corrected"] + state["accepted"]
        state["pixels_corrected"] += work["pixels_corrected"]
        _add_costs(state, work)
        state["pick_kinds"] = dict(Counter(state["pick_kinds"]) + Counter(work["pick_kinds"]))
        state["labelled_round"] = round_number
        state["pending_work"] = work
        state["pending_started"] = time.time()
        _save_state(state_dir, state)
        print(f"round {round_number}: labelling done {json.dumps(work)}", flush=True)
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
        # The worker is idle (its run is over) and this process closes its connections, so
        # the SQLite file is quiescent while the folder is copied.
        from django.db import connections

        connections.close_all()
        _snapshot_round0(args, state_dir)


def run_strategy(args) -> None:
    train_config, source = train_config_for(args)
    state_dir = _strategy_dir(args)
    branched = not state_dir.exists() and _branch_from_round0(args, state_dir, train_config)
    if _load_state(state_dir) is None and (state_dir / "db.sqlite3").exists():
        raise RuntimeError(f"{state_dir} holds a database but no state.json (an interrupted setup): remove it.")
    env = Environment(state_dir, args.threads, _device(args))
    env.start()
    try:
        state = _open_strategy_state(args, state_dir, train_config, source, branched)
        set_queue_strategy(state, args.strategy, args.budget)
        for _ in range(args.rounds):
            round_number = state["rounds_done"] + 1
            if _past_max_rounds(args, round_number):
                break
            run_strategy_round(env, args, state_dir, state, round_number, train_config, source)
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
    matching training budget, per seed. Continues where the last call stopped."""
    train_config, source = train_config_for(args)
    state_dir = _seed_dir(args) / FULL_SUPERVISION
    if _load_state(state_dir) is None:
        shutil.rmtree(state_dir, ignore_errors=True)  # an interrupted setup starts over
    env = Environment(state_dir, args.threads, _device(args))
    env.start()
    try:
        state = _load_state(state_dir)
        if state is None:
            state = setup_project(args, train_config, with_masks=True)
            state.update(touched=len(state["gt"]), corrected=len(state["gt"]), accepted=0, pixels_corrected=0,
                         pick_kinds={}, rounds_done=-1, history=[], train_config=train_config)
            _save_state(state_dir, state)
        elif state["train_config"] != train_config:
            raise RuntimeError(f"{state_dir} was trained with another profile or --set; use another --work-dir.")
        if "human_seconds" not in state:  # every image painted from scratch
            state["human_seconds"] = scratch_seconds_of(state, state["gt"])
            _save_state(state_dir, state)
        for _ in range(args.rounds):
            round_number = state["rounds_done"] + 1
            if _past_max_rounds(args, round_number):
                break
            started = time.time()
            run = train_and_wait(env, state, args.round_timeout)
            ev = evaluate_active(state, args, train_config)
            record = _record(args, state, FULL_SUPERVISION, round_number, {}, run, ev, time.time() - started,
                             source, train_config)
            state["history"].append(record)
            state["rounds_done"] = round_number
            _save_state(state_dir, state)
            _append(Path(args.results), record)
    finally:
        env.stop()


def run_pool_eval(args) -> None:
    """The whole training pool's labels after each recorded round of a strategy and seed:
    human masks where humans labeled, the served student's prediction everywhere else,
    against CamVid's ground truth. That is the dataset a team takes home, on the
    distribution of all the train sequences (val holds one sequence only)."""
    state_dir = _strategy_dir(args)
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
        "bench": "hitl_pool", "version": BENCH_VERSION, "strategy": args.strategy, "seed": args.seed,
        "round": record["round"], "human_images_touched": record["human_images_touched"],
        "labeled_before_run": len(labeled), "pool_miou": pool.miou(), "unlabeled_miou": rest.miou(),
        "pool_images": len(state["gt"]), "model_version": record["model_version"], "hitl_record_date": record["date"],
        "profile": record["profile"], "overrides": record["overrides"], "eval_s": round(time.monotonic() - started, 1),
        "machine": _machine(), "git_commit": _git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------------------------------- results

PICK_KIND_ORDER = ("doubtful", "typical", "random", "least_confident", AUDIT, OUTSIDE_QUEUE)
PLOT_STYLES = {  # colour, marker, label, x offset (share of the train images) so error bars stay apart
    "diverse": ("tab:green", "o", "diverse queue", -0.004),
    "least_confident": ("tab:blue", "s", "least confident first", 0.0),
    "random": ("tab:orange", "^", "random labeling", 0.004),
}

Rounds = dict[str, dict[int, dict[int, dict]]]  # strategy -> round -> seed -> record


def load_records(results: Path, profile: str | None = None, overrides: dict | None = None,
                 bench: str = "hitl", version: int | None = BENCH_VERSION) -> list[dict]:
    """`bench` records (rounds, or "hitl_pool" scores) of one bench version, one profile and
    the same --set overrides (None: any), in file order; old strategy names are mapped."""
    if not results.exists():
        return []
    out = []
    for line in results.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if (r.get("bench") == bench and (version is None or r.get("version") == version)
                and (profile is None or r.get("profile") == profile)
                and (overrides is None or r.get("overrides", {}) == overrides)):
            strategy = OLD_STRATEGY_NAMES.get(r["strategy"], r["strategy"])
            mode = strategy + (REGION_SUFFIX if r.get("reviewer") == REGION else "")
            out.append({**r, "strategy": strategy, "mode": mode})
    return out


def by_round(records: list[dict]) -> Rounds:
    """mode -> round -> seed -> its latest record (a rerun's line replaces the earlier one). The
    mode is the strategy, or "<strategy>+region" for a queue strategy reviewed by region."""
    out: Rounds = {}
    for r in records:
        out.setdefault(r.get("mode", r["strategy"]), {}).setdefault(r["round"], {})[r["seed"]] = r
    return out


def full_supervision_at(rounds: Rounds, round_number: int) -> tuple[int | None, list[float]]:
    """(round, val mIoU per seed) of full supervision after as many rounds as `round_number`
    (the same training), or after the nearest round below; (None, []) if it has not run."""
    full = rounds.get(FULL_SUPERVISION, {})
    done = [n for n in full if n <= round_number]
    if not done:
        return None, []
    return max(done), [r["val_miou"] for r in full[max(done)].values()]


def _share_of_full(miou: list[float], full: list[float]) -> float | None:
    """Mean mIoU over seeds as a share of full supervision's (None without a usable line)."""
    return statistics.mean(miou) / statistics.mean(full) if full and statistics.mean(full) > 0 else None


def _pm(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """mean ± sample standard deviation (only the mean for a single value)."""
    text = f"{scale * statistics.mean(values):.{digits}f}"
    return text + (f" ± {scale * statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")


def _count(values: list[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else _pm(values, 1, 1)


def _last_round(per_round: dict[int, dict]) -> tuple[int, list[dict]]:
    n = max(per_round)
    return n, list(per_round[n].values())


def curve_table(rounds: Rounds, pools: Rounds) -> list[str]:
    """Per strategy and budget: val mIoU over seeds against full supervision after as many rounds."""
    lines = ["| strategy | round | images touched | val mIoU (mean ± std) | seeds | full supervision, same round | "
             "% of full | accepted pseudo-labels, % of unlabeled | train pool mIoU (human + student) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for strategy in STRATEGIES:
        for n, per_seed in sorted(rounds.get(strategy, {}).items()):
            records = list(per_seed.values())
            miou = [r["val_miou"] for r in records]
            full_round, full = full_supervision_at(rounds, n)
            share = _share_of_full(miou, full)
            full_cells = "n/a | n/a"
            if share is not None:
                note = "" if full_round == n else f" (round {full_round})"
                full_cells = f"{_pm(full)}{note} | {100 * share:.0f} %"
            pool = [p["pool_miou"] for p in pools.get(strategy, {}).get(n, {}).values()]
            lines.append(
                f"| {strategy} | {n} | {_count([r['human_images_touched'] for r in records])} | {_pm(miou)} | "
                f"{len(records)} | {full_cells} | {_pm([r['accepted_share'] for r in records])} | "
                f"{_pm(pool) if pool else 'n/a'} |")
    return lines


def _audited(records: list[dict]) -> str:
    estimates = [r["audited_error"] for r in records if r["audited_error"]["mean"] is not None]
    if not estimates:
        return "no audits"
    highs = [e["high"] for e in estimates if e["high"] is not None]
    upper = f", upper bound up to {100 * max(highs):.1f} %" if highs else ""
    return (f"{_pm([e['mean'] for e in estimates])} %{upper} "
            f"({sum(e['n'] for e in estimates)} audits, {len(estimates)} seeds)")


def _true_error(records: list[dict]) -> str:
    errors = [r["accepted_true_error"] for r in records if r["accepted_true_error"] is not None]
    return f"{_pm(errors)} %" if errors else "nothing accepted"


def _threshold(records: list[dict]) -> str:
    statuses = Counter(r["threshold_calibration"].get("status", "not calibrated") for r in records)
    return (f"{_pm([r['review_threshold_effective'] for r in records], 1, 2)} "
            f"({', '.join(f'{s} x{c}' for s, c in statuses.items())})")


def auto_accept_table(rounds: Rounds) -> list[str]:
    """Per strategy at its last round: what the app accepted, audited against true error."""
    lines = ["| strategy | round | seeds | accepted pseudo-labels | % of unlabeled | threshold (calibration) | "
             "audited error (mean ± std over seeds) | true error of accepted (pixel-weighted) | target error |",
             "|---|---|---|---|---|---|---|---|---|"]
    for strategy in STRATEGIES:
        if strategy not in rounds:
            continue
        n, records = _last_round(rounds[strategy])
        lines.append(
            f"| {strategy} | {n} | {len(records)} | {_pm([r['accepted_pseudo_labels'] for r in records], 1, 0)} | "
            f"{_pm([r['accepted_share'] for r in records])} | {_threshold(records)} | {_audited(records)} | "
            f"{_true_error(records)} | {100 * records[0]['target_pixel_error']:.1f} % |")
    return lines


def _kinds(records: list[dict]) -> str:
    totals = Counter()
    for r in records:
        totals.update(r["pick_kinds"])
    order = [k for k in PICK_KIND_ORDER if totals[k]] + sorted(set(totals) - set(PICK_KIND_ORDER))
    return ", ".join(f"{k} {totals[k] / len(records):.1f}" for k in order) or "-"


def sequence_table(rounds: Rounds) -> list[str]:
    """Where each strategy's human-touched images come from (mean over seeds, last round),
    against the train set (full supervision's line), and what kinds of picks they were."""
    rows = [(s, *_last_round(rounds[s])) for s in (*STRATEGIES, FULL_SUPERVISION) if s in rounds]
    sequences = list(SEQUENCES) + ([OTHER_SEQUENCE] if any(OTHER_SEQUENCE in r["touched_by_sequence"]
                                                           for _, _, records in rows for r in records) else [])
    lines = [f"| strategy | round | {' | '.join(sequences)} | reviewer's picks per seed, all rounds |",
             "|---|---|" + "---|" * len(sequences) + "---|"]
    for strategy, n, records in rows:
        counts = [_pm([r["touched_by_sequence"].get(s, 0) for r in records], 1, 1) for s in sequences]
        label = "all train images" if strategy == FULL_SUPERVISION else strategy
        lines.append(f"| {label} | {n} | {' | '.join(counts)} | {_kinds(records)} |")
    return lines


def target_verdicts(rounds: Rounds) -> list[str]:
    return [*_diverse_against_random(rounds), *_near_full_supervision(rounds), *_auto_accept_used(rounds)]


def _diverse_against_random(rounds: Rounds) -> list[str]:
    """Diverse minus random, mIoU points, by budget: the mean over the seeds both have."""
    diverse, rand = rounds.get("diverse", {}), rounds.get("random", {})
    gaps = []  # (images touched, points, seeds)
    for n in sorted(set(diverse) & set(rand) - {0}):  # round 0 is shared
        seeds = sorted(set(diverse[n]) & set(rand[n]))
        if seeds:
            points = 100 * statistics.mean(diverse[n][s]["val_miou"] - rand[n][s]["val_miou"] for s in seeds)
            gaps.append((diverse[n][seeds[0]]["human_images_touched"], points, len(seeds)))
    if not gaps:
        return ["- diverse against random: no common round after round 0 yet"]
    detail = ", ".join(f"{touched}: {points:+.1f} ({seeds} seeds)" for touched, points, seeds in gaps)
    average = statistics.mean(points for _, points, _ in gaps)
    every = all(points >= 0 for _, points, _ in gaps)
    return [f"- diverse ≥ random at every budget (mean of seeds): {'met' if every else 'missed'} "
            f"(diverse minus random, mIoU points, by images touched: {detail})",
            f"- diverse ahead of random by ≥ {AHEAD_OF_RANDOM_POINTS:.0f} points averaged over the budgets: "
            f"{'met' if average >= AHEAD_OF_RANDOM_POINTS else 'missed'} ({average:+.1f})"]


def _near_full_supervision(rounds: Rounds) -> list[str]:
    """Per strategy, its last round within a quarter of the images (the most human labels the
    target allows), against full supervision after as many rounds (equal training). The last
    round, not the best: an early round's share flatters when full supervision has trained
    only one round too."""
    if FULL_SUPERVISION not in rounds:
        return ["- 95 % of full supervision within a quarter of the images: full supervision not run yet"]
    out = []
    for strategy in STRATEGIES:
        if strategy not in rounds:
            continue
        best = None  # (share of full, round, records)
        for n, per_seed in rounds[strategy].items():
            records = list(per_seed.values())
            if max(r["human_images_touched"] for r in records) > QUARTER * records[0]["train_images"]:
                continue
            share = _share_of_full([r["val_miou"] for r in records], full_supervision_at(rounds, n)[1])
            if share is not None and (best is None or n > best[1]):
                best = (share, n, records)
        if best is None:
            out.append(f"- {strategy}: no round within a quarter of the images")
        else:
            share, n, records = best
            out.append(f"- {strategy}: within a quarter of the images, last at round {n} "
                       f"({_count([r['human_images_touched'] for r in records])} touched): "
                       f"{_pm([r['val_miou'] for r in records])} = {100 * share:.0f} % of full supervision "
                       f"({'meets' if share >= FULL_SUPERVISION_95 else 'misses'} the 95 % target)")
    return out


def _auto_accept_used(rounds: Rounds) -> list[str]:
    """At the last round: a third of the unlabeled images accepted, audited error within target."""
    out = []
    for strategy in STRATEGIES:
        if strategy not in rounds:
            continue
        n, records = _last_round(rounds[strategy])
        share = statistics.mean(r["accepted_share"] for r in records)
        audited = [r["audited_error"]["mean"] for r in records if r["audited_error"]["mean"] is not None]
        target = records[0]["target_pixel_error"]
        met = share >= ACCEPTED_SHARE_TARGET and bool(audited) and statistics.mean(audited) <= target
        audited_text = f"{100 * statistics.mean(audited):.1f} %" if audited else "no audits"
        out.append(f"- {strategy}, round {n}: auto-accepted {100 * share:.0f} % of the unlabeled images "
                   f"(target ≥ {100 * ACCEPTED_SHARE_TARGET:.0f} %), audited error {audited_text} "
                   f"(target ≤ {100 * target:.1f} %), true error {_true_error(records)}: "
                   f"{'met' if met else 'missed'}")
    return out


REVIEWER_LABELS = {WHOLE: "whole-image correction", REGION: "region review", SCRATCH: "painting from scratch"}


def _cost_modes(rounds: Rounds) -> list[str]:
    order = [m for s in QUEUE_STRATEGIES for m in (s, s + REGION_SUFFIX)] + ["random", FULL_SUPERVISION]
    return [m for m in order if m in rounds]


def _reviewer_label(mode: str) -> str:
    if mode.endswith(REGION_SUFFIX):
        return REVIEWER_LABELS[REGION]
    return REVIEWER_LABELS[WHOLE if mode in QUEUE_STRATEGIES else SCRATCH]


def _costed(records: list[dict]) -> bool:
    return all(r.get("human_seconds") is not None for r in records)


def human_seconds_table(rounds: Rounds) -> list[str]:
    """Per mode and round: val mIoU against the estimated human hours (cumulative, cost model
    in the module docstring), mean ± std over seeds, with region review's clicks, brush pixels
    and regions checked."""
    lines = ["| mode | how | round | images touched | human hours | val mIoU | clicks | brush pixels | "
             "regions checked |", "|---|---|---|---|---|---|---|---|---|"]
    for mode in _cost_modes(rounds):
        for n, per_seed in sorted(rounds[mode].items()):
            records = list(per_seed.values())
            hours = _pm([r["human_seconds"] for r in records], 1 / 3600, 2) if _costed(records) else "n/a"
            counts = [_pm([r.get(key, 0) for r in records], 1, 0) for key in COST_COUNTS]
            lines.append(f"| {mode} | {_reviewer_label(mode)} | {n} | "
                         f"{_count([r['human_images_touched'] for r in records])} | {hours} | "
                         f"{_pm([r['val_miou'] for r in records])} | {' | '.join(counts)} |")
    return lines


def _curve(per_round: dict[int, dict]) -> list[tuple[int, float, float]]:
    """(round, mean human seconds, mean val mIoU) by round, over the seeds; rounds with a
    record that has no seconds are left out."""
    out = []
    for n in sorted(per_round):
        records = list(per_round[n].values())
        if _costed(records):
            out.append((n, statistics.mean(r["human_seconds"] for r in records),
                        statistics.mean(r["val_miou"] for r in records)))
    return out


def _seconds_to_reach(curve: list[tuple[int, float, float]], miou: float) -> float | None:
    """Human seconds at which a curve first reaches `miou` (linear between its rounds)."""
    for (_, s0, m0), (_, s1, m1) in zip([(None, None, None), *curve], curve):
        if m1 >= miou:
            if s0 is None or m0 >= miou:
                return s1
            return s0 + (miou - m0) / (m1 - m0) * (s1 - s0)
    return None


def _miou_at(curve: list[tuple[int, float, float]], seconds: float) -> float:
    """A curve's mIoU at `seconds`: linear between its rounds, flat past its ends."""
    if seconds <= curve[0][1]:
        return curve[0][2]
    for (_, s0, m0), (_, s1, m1) in zip(curve, curve[1:]):
        if seconds <= s1:
            return m0 if s1 == s0 else m0 + (seconds - s0) / (s1 - s0) * (m1 - m0)
    return curve[-1][2]


def region_verdicts(rounds: Rounds) -> list[str]:
    """Issue 13's targets for each queue strategy reviewed both ways (means over seeds)."""
    out = []
    for strategy in QUEUE_STRATEGIES:
        region_mode = strategy + REGION_SUFFIX
        if region_mode not in rounds or strategy not in rounds:
            continue
        region = [p for p in _curve(rounds[region_mode]) if p[0] > 0]  # round 0 is shared
        whole = _curve(rounds[strategy])
        scratch = _curve(rounds.get("random", {}))
        if not region or not whole:
            out.append(f"- {region_mode}: no costed round after round 0 yet")
            continue
        shares, unmet = [], False
        for n, seconds, miou in region:
            needed = _seconds_to_reach(whole, miou)
            if needed is None:
                shares.append(f"round {n}: whole correction never reached {100 * miou:.1f}")
                unmet |= seconds > REGION_COST_SHARE * whole[-1][1]
            else:
                share = seconds / needed if needed else float("inf")
                shares.append(f"round {n}: {100 * share:.0f} %")
                unmet |= share > REGION_COST_SHARE
        out.append(f"- {strategy}: region review at most {100 * REGION_COST_SHARE:.0f} % of whole-image "
                   f"correction's seconds at equal mIoU: {'missed' if unmet else 'met'} ({'; '.join(shares)})")
        for label, other in (("whole-image correction", whole), ("painting from scratch", scratch)):
            if not other:
                out.append(f"- {strategy}: region review above {label}: {label} not run yet")
                continue
            gaps = [(n, 100 * (miou - _miou_at(other, seconds))) for n, seconds, miou in region]
            detail = ", ".join(f"round {n}: {gap:+.1f}" for n, gap in gaps)
            out.append(f"- {strategy}: region review above {label} at every budget: "
                       f"{'met' if all(gap > 0 for _, gap in gaps) else 'missed'} "
                       f"(mIoU points at region review's human seconds: {detail})")
    return out or ["- region review: not run yet"]


def table(results: Path, profile: str, overrides: dict) -> str:
    """The version-2 rounds as Markdown (mean ± std over seeds), then issue 12's targets."""
    rounds = by_round(load_records(results, profile, overrides))
    pools = by_round(load_records(results, profile, overrides, bench="hitl_pool"))
    seeds = sorted({s for per_round in rounds.values() for per_seed in per_round.values() for s in per_seed})
    title = (f"HITL simulation, profile {profile}" + (f" {json.dumps(overrides)}" if overrides else "")
             + f", bench version {BENCH_VERSION}, seeds {', '.join(map(str, seeds)) or 'none yet'}")
    if not rounds:
        return title
    return "\n".join([
        title, "", *curve_table(rounds, pools), "",
        "Auto-accept at each strategy's last round:", "", *auto_accept_table(rounds), "",
        "Human-touched images by CamVid sequence at the last round (mean of seeds):", "", *sequence_table(rounds), "",
        "Targets (issue 12):", "", *target_verdicts(rounds), "",
        "Human seconds (estimated; cost model in bench/hitl_simulation.py):", "", *human_seconds_table(rounds), "",
        "Targets (issue 13):", "", *region_verdicts(rounds),
    ])


def plot(results: Path, profile: str, overrides: dict, out: Path) -> Path:
    """val mIoU against images touched, mean ± std over seeds per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = by_round(load_records(results, profile, overrides))
    fig, ax = plt.subplots(figsize=(7.5, 5))
    last, total = None, None
    for strategy, (colour, marker, label, dx) in PLOT_STYLES.items():
        per_round = rounds.get(strategy)
        if not per_round:
            continue
        points = [list(per_round[n].values()) for n in sorted(per_round)]
        total = points[-1][0]["train_images"]
        miou = [[100 * r["val_miou"] for r in records] for records in points]
        seeds = max(len(records) for records in points)
        ax.errorbar([statistics.mean(r["human_images_touched"] for r in records) + dx * total for records in points],
                    [statistics.mean(m) for m in miou], yerr=[statistics.stdev(m) if len(m) > 1 else 0 for m in miou],
                    color=colour, marker=marker, capsize=3,
                    label=f"{label} (mean ± std, {seeds} seed{'s' if seeds > 1 else ''})")
        last = max(last or 0, max(per_round))
    full_round, full = full_supervision_at(rounds, last) if last is not None else (None, [])
    if full:
        mean = 100 * statistics.mean(full)
        ax.axhline(mean, color="black", linewidth=1, label=f"full supervision, round {full_round} ({mean:.1f})")
        ax.axhline(FULL_SUPERVISION_95 * mean, color="black", linestyle=":", linewidth=1, label="95 % of full")
    if total:
        ax.axvline(QUARTER * total, color="grey", linestyle="--", linewidth=1, label="a quarter of the images")
        ax.set_xlim(0, max(ax.get_xlim()[1], QUARTER * total * 1.08))
    ax.set_xlabel("human images touched (seed labels + reviewed or labeled, audits included)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title(f"HITL simulation, profile {profile}" + (f" {json.dumps(overrides)}" if overrides else ""),
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--strategy", choices=STRATEGIES)
    p.add_argument("--reviewer", choices=REVIEWERS, default=WHOLE,
                   help="queue strategies: correct each picked item whole (default) or by region (issue 13)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed labels, random picks and training seed; each seed has its own work folder")
    p.add_argument("--rounds", type=int, default=1, help="rounds to run in this call (round 0 = seed labels)")
    p.add_argument("--max-rounds", type=int, help="never go past this round number")
    p.add_argument("--full-supervision", action="store_true", help="every train image labeled; --rounds rounds like a strategy")
    p.add_argument("--pool-eval", action="store_true",
                   help="with --strategy: score the whole train pool's labels (human + student) after each round")
    p.add_argument("--plot", action="store_true", help=f"write the plot ({DEFAULT_PLOT.relative_to(ROOT)})")
    p.add_argument("--table", action="store_true", help="print the Markdown tables and targets of the results file")
    p.add_argument("--budget", type=int, default=12,
                   help="images touched by humans per round (also the project's review batch size)")
    p.add_argument("--accept", type=int, default=0,
                   help="queue items also accepted unchecked per round, after the budget (default 0)")
    p.add_argument("--seed-labels", type=int, default=12, help="human masks before round 0")
    p.add_argument("--review-threshold", type=float, default=0.9,
                   help="project review threshold: the fallback until the threshold is calibrated")
    p.add_argument("--profile", choices=PROFILE_NAMES, default="hitl")
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
    if args.reviewer == REGION and args.strategy not in QUEUE_STRATEGIES:
        p.error(f"--reviewer region reviews queue items: give --strategy {' or '.join(QUEUE_STRATEGIES)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.strategy and args.pool_eval:
        run_pool_eval(args)
    elif args.strategy:
        run_strategy(args)
    elif args.full_supervision:
        run_full_supervision(args)
    overrides = json.loads(args.set or "{}")
    if args.plot:
        print(f"wrote {plot(Path(args.results), args.profile, overrides, Path(args.plot_out))}", flush=True)
    if args.table:
        print(table(Path(args.results), args.profile, overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
