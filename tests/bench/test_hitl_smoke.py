"""bench/hitl_simulation.py end to end on 8 synthetic 64x48 images: migrate, import, a real
Celery worker, round 0 and a review round of the diverse strategy, random and the region
reviewer branched from the round-0 snapshot, the full-supervision line, the table and the
plot; the table's arithmetic over seeds on hand-made records; and the region reviewer's
clicks and brush pixels on a hand-made item."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "hitl_simulation.py"
sys.path.append(str(REPO / "bench"))  # hitl_simulation imports its neighbours
import hitl_simulation as hitl  # noqa: E402

PICK_KINDS = {"doubtful", "typical", "random", "audit"}  # what the diverse order hands out


def _camvid_like(root: Path, train: int = 8, val: int = 3) -> Path:
    """Sky over road with a car box, noise on top; mask values 0..10 plus void 11."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("val", val)):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i in range(n):
            mask = np.full((48, 64), 3, np.uint8)  # road
            mask[: 16 + i % 5] = 0  # sky
            x = 5 + 6 * i % 40
            mask[28:40, x : x + 14] = 8  # car
            mask[-2:] = 11  # void
            palette = np.array(
                [
                    [128, 128, 255],
                    [120, 0, 0],
                    [190, 190, 128],
                    [128, 64, 128],
                    [60, 40, 222],
                    [128, 128, 0],
                    [192, 128, 128],
                    [64, 64, 128],
                    [200, 0, 100],
                    [64, 64, 0],
                    [0, 128, 192],
                    [0, 0, 0],
                ],
                np.int16,
            )
            image = palette[mask] + rng.integers(-20, 20, (48, 64, 3))
            # CamVid-like names: the sequence is the file name's prefix
            name = f"{('0001TP', '0016E5')[i % 2]}_{split}{i:03d}.png"
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / split / name)
            Image.fromarray(mask, mode="L").save(root / f"{split}annot" / name)
    return root


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEDIA_ROOT", "REDIS_URL")}
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--data",
            str(tmp / "camvid"),
            "--work-dir",
            str(tmp / "work"),
            "--results",
            str(tmp / "hitl.jsonl"),
            "--profile",
            "tiny",
            "--seed-labels",
            "3",
            "--budget",
            "2",
            "--review-threshold",
            "1.0",
            "--threads",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**env, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _rows(tmp: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp / "hitl.jsonl").read_text().splitlines()]


@pytest.mark.slow  # four worker processes and six tiny training rounds
def test_diverse_rounds_record_auto_accept_picks_and_sequences_then_table_and_plot(tmp_path):
    _camvid_like(tmp_path / "camvid")
    _run(["--strategy", "diverse", "--rounds", "2"], tmp_path)
    _run(["--strategy", "random", "--rounds", "1"], tmp_path)  # branched from seed 0's round 0
    _run(["--strategy", "diverse", "--reviewer", "region", "--rounds", "1"], tmp_path)  # branched too
    _run(["--full-supervision", "--rounds", "2"], tmp_path)
    out = _run(["--table", "--plot", "--plot-out", str(tmp_path / "hitl.png")], tmp_path).stdout

    assert (tmp_path / "work" / "seed0" / "round0" / "state.json").exists()
    assert (tmp_path / "work" / "seed0" / "diverse-region" / "state.json").exists()
    assert (tmp_path / "hitl.png").stat().st_size > 1000
    check_diverse_random_region_full(_rows(tmp_path), out)


# The synthetic images (_camvid_like): 64 x 48 pixels, the bottom two rows void.
IMAGE_PX = 64 * 48
NON_VOID_PX = 64 * 46
SCRATCH_S = hitl.SECONDS_PER_IMAGE_FROM_SCRATCH * NON_VOID_PX / IMAGE_PX  # 5175 s per image painted
NO_AUDITS = {"mean": None, "low": None, "high": None, "n": 0, "level": 0.9}


def _paint_s(pixels: int) -> float:
    return hitl.SECONDS_PER_IMAGE_FROM_SCRATCH * pixels / IMAGE_PX


def check_diverse_random_region_full(rows: list[dict], out: str) -> None:
    """What the smoke run above must record and print (a function of its own, so that it can
    be checked against deliberately broken records too)."""
    assert [(r["strategy"], r.get("reviewer"), r["round"]) for r in rows] == [
        ("diverse", "whole", 0),
        ("diverse", "whole", 1),
        ("random", "scratch", 0),
        ("random", "scratch", 1),
        ("diverse", "region", 0),
        ("diverse", "region", 1),
        ("full_supervision", "scratch", 0),
        ("full_supervision", "scratch", 1),
    ]
    assert all(r["version"] == 2 and r["seed"] == 0 for r in rows)
    seed, review, _, rand, _, region, full, _ = rows

    # threshold 1.0 and too few decisions to calibrate: every pseudo-label is queued, none accepted
    for r in (seed, review, rand, region):
        assert r["unlabeled_images"] == 8 - r["human_images_touched"]
        assert r["accepted_pseudo_labels"] == 0 and r["accepted_share"] == 0.0
        assert r["accepted_true_error"] is None
        assert r["threshold_calibration"]["status"] == "too_few" and r["review_threshold_effective"] == 1.0
        assert r["audited_error"] == NO_AUDITS
        assert r["target_pixel_error"] == 0.05
        assert sum(r["touched_by_sequence"].values()) == r["human_images_touched"]
        assert set(r["touched_by_sequence"]) == set(hitl.SEQUENCES)
    assert seed["human_images_touched"] == 3 and seed["pick_kinds"] == {}
    assert review["human_images_touched"] == 5 and review["round_corrected"] == 2
    assert sum(review["round_pick_kinds"].values()) == 2 and set(review["round_pick_kinds"]) <= PICK_KINDS
    assert review["pick_kinds"] == review["round_pick_kinds"]
    assert rand["human_images_touched"] == 5 and rand["pick_kinds"] == {}  # no queue
    # The cost model, exactly: painting from scratch costs every non-void pixel's share of
    # SECONDS_PER_IMAGE_FROM_SCRATCH (3 seed images, 2 random ones, all 8 for full supervision) ...
    assert seed["pixels_corrected"] == 3 * NON_VOID_PX and seed["human_seconds"] == 3 * SCRATCH_S
    assert rand["round_pixels_corrected"] == 2 * NON_VOID_PX and rand["round_human_seconds"] == 2 * SCRATCH_S
    assert rand["human_seconds"] == 5 * SCRATCH_S
    assert full["human_seconds"] == 8 * SCRATCH_S
    # ... whole-image correction the share of the pixels it changed (a 2-step model is wrong somewhere) ...
    assert review["round_brush_pixels"] == review["round_pixels_corrected"] > 0
    assert review["round_human_seconds"] == pytest.approx(_paint_s(review["round_brush_pixels"]), abs=0.05)
    assert (review["round_clicks"], review["round_regions_checked"]) == (0, 0)
    assert review["human_seconds"] == pytest.approx(3 * SCRATCH_S + review["round_human_seconds"], abs=0.05)
    # ... and region review a click or a key per doubtful region plus the share it painted.
    assert region["human_images_touched"] == 5 and region["round_corrected"] == 2
    assert region["round_clicks"] <= region["round_regions_checked"] <= region["round_detail"]["regions"]
    assert region["round_detail"]["regions"] >= 2  # both items' superpixels were read
    assert region["round_detail"]["corrected_whole"] == 0  # every item had its maps and superpixels
    assert region["round_human_seconds"] == pytest.approx(
        region["round_clicks"] * hitl.SECONDS_PER_CLICK
        + (region["round_regions_checked"] - region["round_clicks"]) * hitl.SECONDS_PER_KEPT_REGION
        + _paint_s(region["round_brush_pixels"]),
        abs=0.05,
    )
    assert region["human_seconds"] == pytest.approx(3 * SCRATCH_S + region["round_human_seconds"], abs=0.05)
    assert full["human_images_touched"] == 8 and full["touched_by_sequence"] == {
        "0001TP": 4,
        "0006R0": 0,
        "0016E5": 4,
        "Seq05VD": 0,
    }
    for r in rows:
        assert 0.0 <= r["val_miou"] <= 1.0 and r["val_images"] == 3 and r["train_images"] == 8
        assert r["train_config"]["teacher_steps"] == 2 and r["train_config"]["seed"] == 0

    assert "| diverse | 1 | 5 |" in out and "| random | 1 | 5 |" in out
    assert "| all train images | 1 | 4.0 | 0.0 | 4.0 | 0.0 |" in out
    assert "diverse ≥ random at every budget" in out
    assert "- diverse: no round within a quarter of the images" in out  # 3 seed labels > 8 / 4
    assert "diverse, round 1: auto-accepted 0 % of the unlabeled images" in out
    assert "| diverse+region | region review | 1 | 5 |" in out and "| diverse | whole-image correction | 1 | 5 |" in out
    assert "- diverse+region: region review at most 33 % of whole-image correction's reviewing seconds" in out


@pytest.mark.slow  # a worker process and two tiny training rounds
def test_full_supervision_line_continues_where_it_stopped(tmp_path):
    _camvid_like(tmp_path / "camvid")
    _run(["--full-supervision", "--rounds", "1", "--seed", "1"], tmp_path)
    _run(["--full-supervision", "--rounds", "1", "--seed", "1"], tmp_path)  # a second call continues

    rows = _rows(tmp_path)
    assert [(r["strategy"], r["seed"], r["round"], r["model_version"]) for r in rows] == [
        ("full_supervision", 1, 0, 1),
        ("full_supervision", 1, 1, 2),
    ]
    rounds = hitl.by_round(hitl.load_records(tmp_path / "hitl.jsonl", "tiny", {}))
    assert hitl.full_supervision_at(rounds, 0) == (0, [rows[0]["val_miou"]])
    assert hitl.full_supervision_at(rounds, 4) == (1, [rows[1]["val_miou"]])


def _record(strategy: str, seed: int, round_number: int, miou: float, **fields) -> dict:
    touched = 12 + 19 * round_number
    return {
        "bench": "hitl",
        "version": 2,
        "profile": "hitl",
        "overrides": {},
        "strategy": strategy,
        "seed": seed,
        "round": round_number,
        "val_miou": miou,
        "human_images_touched": touched,
        "train_images": 367,
        "accepted_pseudo_labels": 0,
        "accepted_share": 0.0,
        "accepted_true_error": None,
        "audited_error": {"mean": None, "low": None, "high": None, "n": 0, "level": 0.9},
        "threshold_calibration": {},
        "review_threshold_effective": 0.9,
        "target_pixel_error": 0.05,
        "touched_by_sequence": {"0001TP": 0, "0006R0": 0, "0016E5": touched, "Seq05VD": 0},
        "pick_kinds": {},
        **fields,
    }


def test_table_means_over_seeds_checks_the_targets_and_leaves_old_lines_out(tmp_path):
    accepted = {
        "accepted_pseudo_labels": 120,
        "accepted_share": 0.4,
        "accepted_true_error": 0.03,
        "audited_error": {"mean": 0.04, "low": 0.02, "high": 0.06, "n": 6, "level": 0.9},
        "threshold_calibration": {"status": "calibrated", "threshold": 0.8},
        "review_threshold_effective": 0.8,
        "pick_kinds": {"doubtful": 30, "audit": 2},
    }
    records = [
        # an old line (no version, the old name of least_confident) and a superseded rerun
        {
            "bench": "hitl",
            "profile": "hitl",
            "overrides": {},
            "strategy": "uncertainty",
            "seed": 0,
            "round": 1,
            "val_miou": 0.99,
        },
        _record("random", 0, 1, 0.10),
    ]
    for seed in (0, 1, 2):
        records += [
            _record("diverse", seed, 1, 0.41 + 0.02 * seed, **accepted),
            _record("random", seed, 1, 0.38 + 0.02 * seed),
            _record(
                "full_supervision",
                seed,
                1,
                0.44,
                human_images_touched=367,
                touched_by_sequence={"0001TP": 62, "0006R0": 101, "0016E5": 204, "Seq05VD": 0},
            ),
        ]
    results = tmp_path / "hitl.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records))

    assert {r["strategy"] for r in hitl.load_records(results, version=None)} == {
        "least_confident",
        "random",
        "diverse",
        "full_supervision",
    }
    out = hitl.table(results, "hitl", {})
    assert "least_confident" not in out and "99.0" not in out
    assert "| diverse | 1 | 31 | 43.0 ± 2.0 | 3 | 44.0 ± 0.0 | 98 % |" in out
    assert "| random | 1 | 31 | 40.0 ± 2.0 | 3 |" in out
    assert "31: +3.0 (3 seeds)" in out
    assert "ahead of random by ≥ 2 points averaged over the budgets: met (+3.0)" in out
    assert "diverse: within a quarter of the images, last at round 1 (31 touched): 43.0 ± 2.0 = 98 %" in out
    assert "random: within a quarter of the images, last at round 1 (31 touched): 40.0 ± 2.0 = 91 %" in out
    assert "diverse, round 1: auto-accepted 40 % of the unlabeled images" in out and "3.0 ± 0.0 %: met" in out
    assert "random, round 1: auto-accepted 0 %" in out and "no audits" in out
    assert "| diverse | 1 | 0.0 ± 0.0 | 0.0 ± 0.0 | 31.0 ± 0.0 | 0.0 ± 0.0 | doubtful 30.0, audit 2.0 |" in out
    assert "| all train images | 1 | 62.0 ± 0.0 | 101.0 ± 0.0 | 204.0 ± 0.0 | 0.0 ± 0.0 | - |" in out
    hitl.plot(results, "hitl", {}, tmp_path / "hitl.png")
    assert (tmp_path / "hitl.png").stat().st_size > 1000


# --------------------------------------------------------------------------- the region reviewer


def test_region_reviewer_clicks_doubtful_regions_paints_what_is_left_and_keeps_confident_ones():
    # four 2x4 regions side by side; classes 1 and 2; void 11 in the ground truth
    superpixels = np.repeat(np.arange(4, dtype=np.int32), 4)[None].repeat(2, axis=0).reshape(2, 16)
    gt = np.array(
        [[1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2], [1, 1, 1, 2, 2, 2, 2, 11, 1, 1, 1, 1, 2, 2, 2, 2]], np.uint8
    )
    pseudo = np.array(
        [[2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1]], np.uint8
    )
    confidence = np.full((2, 16), 255, np.uint8)
    confidence[:, :4] = 100  # region 0: unsure, wrong class -> one click, then one pixel painted
    disagreement = np.zeros((2, 16), np.uint8)
    disagreement[:, 4:8] = 255  # region 1: the teachers disagree; right class, one void pixel
    # region 2: confident and right; region 3: confident and wrong -> accepted as it is
    fix = hitl.region_fix(
        superpixels=superpixels, pseudo=pseudo, gt=gt, confidence=confidence, disagreement=disagreement, tau=0.95
    )
    assert (fix.regions, fix.regions_checked, fix.clicks) == (4, 2, 1)
    assert fix.brush_pixels == 1  # the class-2 pixel left in region 0 after its click; void is free
    assert fix.left_wrong_pixels == 8  # region 3
    expected = gt.copy()
    expected[:, 12:] = 1  # region 3 keeps the pseudo-label
    assert np.array_equal(fix.mask, expected)
    image_px = 32
    assert fix.seconds == pytest.approx(
        1 * hitl.SECONDS_PER_CLICK + 1 * hitl.SECONDS_PER_KEPT_REGION + hitl.SECONDS_PER_IMAGE_FROM_SCRATCH / image_px
    )


def test_clicks_only_reviewer_gives_dominant_classes_and_paints_nothing():
    # two 2x4 regions, both doubtful; region 0's dominant class is 1 with one class-2 pixel
    superpixels = np.repeat(np.arange(2, dtype=np.int32), 4)[None].repeat(2, axis=0).reshape(2, 8)
    gt = np.array([[1, 1, 1, 1, 2, 2, 2, 2], [1, 1, 1, 2, 2, 2, 2, 2]], np.uint8)
    pseudo = np.full((2, 8), 2, np.uint8)
    confidence = np.full((2, 8), 10, np.uint8)
    disagreement = np.zeros((2, 8), np.uint8)
    fix = hitl.region_fix(
        superpixels=superpixels,
        pseudo=pseudo,
        gt=gt,
        confidence=confidence,
        disagreement=disagreement,
        tau=0.95,
        paint=False,
    )
    assert (fix.regions_checked, fix.clicks, fix.brush_pixels) == (2, 1, 0)
    expected = np.array([[1, 1, 1, 1, 2, 2, 2, 2], [1, 1, 1, 1, 2, 2, 2, 2]], np.uint8)
    assert np.array_equal(fix.mask, expected)  # region 0 clicked to class 1, its class-2 pixel left wrong
    assert fix.left_wrong_pixels == 1
    assert fix.seconds == pytest.approx(hitl.SECONDS_PER_CLICK + hitl.SECONDS_PER_KEPT_REGION)
    assert hitl.parse_args(["--strategy", "diverse", "--reviewer", "clicks"]).strategy_dir.name == "diverse-clicks"


def test_region_reviewer_needs_a_queue_strategy():
    with pytest.raises(SystemExit):
        hitl.parse_args(["--strategy", "random", "--reviewer", "region"])
    assert hitl.parse_args(["--strategy", "diverse", "--reviewer", "region"]).reviewer == "region"


def test_target_error_is_the_project_settings_share():
    assert hitl.parse_args(["--strategy", "diverse", "--target-error", "0.15"]).target_error == 0.15
    assert hitl.parse_args(["--strategy", "diverse"]).target_error is None  # the app's default
    with pytest.raises(SystemExit):
        hitl.parse_args(["--strategy", "diverse", "--target-error", "15"])


def test_human_seconds_table_and_issue_13_targets(tmp_path):
    def costed(reviewer, strategy, round_number, miou, seconds, **fields):
        return _record(strategy, 0, round_number, miou, reviewer=reviewer, human_seconds=seconds, **fields)

    records = [
        costed(r, s, 0, 0.20, 10_000) for r, s in (("scratch", "diverse"), ("region", "diverse"), ("scratch", "random"))
    ]
    records += [
        costed("whole", "diverse", 1, 0.30, 20_000),
        costed("whole", "diverse", 2, 0.40, 30_000),
        costed("region", "diverse", 1, 0.30, 12_000, clicks=40, brush_pixels=900, regions_checked=70),
        costed("region", "diverse", 2, 0.40, 13_000, clicks=75, brush_pixels=1700, regions_checked=130),
        costed("scratch", "random", 1, 0.28, 40_000),
        costed("scratch", "random", 2, 0.35, 70_000),
        _record("least_confident", 0, 1, 0.3),  # a line from before the cost model
    ]
    results = tmp_path / "hitl.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = hitl.table(results, "hitl", {})
    assert "| diverse+region | region review | 2 | 50 | 3.61 | 40.0 | 75 | 1700 | 130 |" in out
    assert "| diverse | whole-image correction | 2 | 50 | 8.33 | 40.0 | 0 | 0 | 0 |" in out
    assert "| random | painting from scratch | 1 | 31 | 11.11 | 28.0 |" in out
    assert "| least_confident | whole-image correction | 1 | 31 | n/a | 30.0 |" in out
    # equal mIoU, reviewing only (round 0's 10,000 s off both): 2,000 s against 10,000 (20 %),
    # 3,000 against 20,000 (15 %); with round 0: 12,000 against 20,000 (60 %), 13,000 against 30,000 (43 %)
    assert (
        "region review at most 33 % of whole-image correction's reviewing seconds at equal mIoU: met "
        "(round 1: 20 %; round 2: 15 %); counting round 0's shared seed painting too: round 1: 60 %; "
        "round 2: 43 %" in out
    )
    # at 12,000 s whole correction is at 0.22 (between 10,000 and 20,000 s), scratch at 0.2047
    assert (
        "region review above whole-image correction at every budget: met (mIoU points at region "
        "review's human seconds: round 1: +8.0, round 2: +17.0)" in out
    )
    assert "region review above painting from scratch at every budget: met" in out
