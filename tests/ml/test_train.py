"""Training rounds on tiny synthetic data: it learns, resumes, cancels, and runs every
method / ablation by config."""

import pytest
import torch

from ml.checkpoints import load_checkpoint
from ml.train import EMPTY_LABELED, TrainConfig, make_plan, student_step, teacher_step, train_round
from tests.ml.tiny_config import cfg


def test_round_learns_cancels_and_resumes_mid_stage(synth, tmp_path):
    c = cfg(teacher_steps=12, student_steps=60)
    events = []
    stop_after = 12 + 10  # cancel in the middle of the student stage
    r1 = train_round(
        c, **synth, out_dir=tmp_path, progress=events.append, should_stop=lambda: len(events) >= stop_after
    )
    assert r1.status == "cancelled" and r1.steps == {"teachers": 12, "student": 10}
    assert load_checkpoint(tmp_path / "student_latest.pt")["step"] == 10
    assert {"su_best.pt", "ru_best.pt", "su_latest.pt"} <= {p.name for p in tmp_path.iterdir()}
    teacher_events = [e for e in events if e.stage == "teachers"]
    assert [e.step for e in teacher_events] == list(range(1, 13))
    assert teacher_events[-1].val_miou is not None and {"sup", "cps", "dis"} <= set(teacher_events[0].losses)

    events2 = []
    r2 = train_round(c, **synth, out_dir=tmp_path, progress=events2.append)
    assert r2.status == "completed"
    assert all(e.stage == "student" for e in events2)  # teachers are not retrained
    assert [e.step for e in events2] == list(range(11, 61))  # continues, does not restart
    assert {"sup", "pl", "gcl", "lrl"} <= set(events2[0].losses)
    assert 0.0 <= events2[0].mask_ratio <= 1.0
    # three flat-coloured classes: chance is ~0.3 mIoU
    assert r2.best_miou["student"] > 0.6, r2.best_miou
    assert r2.student_checkpoint == tmp_path / "student_best.pt"
    assert (tmp_path / "round.json").is_file()


def test_next_round_starts_from_previous_checkpoints(synth, tmp_path):
    prev = tmp_path / "r1"
    train_round(cfg(method="supervised", student_steps=3), **synth, out_dir=prev)
    r = train_round(cfg(method="supervised", student_steps=0), **synth, out_dir=tmp_path / "r2", resume_from=prev)
    a = load_checkpoint(prev / "student_best.pt")["model"]
    b = load_checkpoint(r.checkpoints["student"]["latest"])["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


ABLATIONS = {
    "supervised": ({"method": "supervised"}, {"sup"}, set()),
    "mean_teacher": ({"method": "mean_teacher"}, {"sup", "pl"}, {"gcl", "lrl"}),
    "cps": ({"method": "cps"}, {"sup", "pl"}, {"gcl", "lrl"}),
    "no_gcl": ({"use_gcl": False}, {"pl", "lrl"}, {"gcl"}),
    "no_lrl": ({"use_lrl": False}, {"pl", "gcl"}, {"lrl"}),
    "no_dl": ({"use_dl": False}, {"pl", "gcl", "lrl"}, set()),
    "one_teacher_su": ({"teachers": "su"}, {"pl", "gcl", "lrl"}, set()),
    "one_teacher_ru": ({"teachers": "ru", "alternate_states": False}, {"pl", "gcl", "lrl"}, set()),
}


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_every_method_and_ablation_runs(synth, tmp_path, name):
    overrides, must, must_not = ABLATIONS[name]
    c = cfg(teacher_steps=2, student_steps=2, **overrides)
    events = []
    small = {"labeled": synth["labeled"][:4], "unlabeled": synth["unlabeled"][:4], "val": synth["val"][:1]}
    r = train_round(c, **small, out_dir=tmp_path, progress=events.append)
    assert r.status == "completed"
    student_losses = set().union(*(e.losses for e in events if e.stage == "student"))
    assert must <= student_losses and not (must_not & student_losses)
    plan = make_plan(c)
    assert set(r.checkpoints) == {*plan.teacher_roles, "student"}
    teacher_losses = set().union(*(e.losses for e in events if e.stage == "teachers"))
    assert ("dis" in teacher_losses) == plan.use_dl
    if name == "cps":
        assert load_checkpoint(tmp_path / "su_best.pt")["spec"]["kind"] == "ru"


def test_pseudo_labeled_data_is_used(synth, tmp_path):
    events = []
    r = train_round(
        cfg(method="supervised", student_steps=2, pseudo_label_weight=0.5),
        labeled=synth["labeled"][:1],
        pseudo_labeled=synth["labeled"][1:3],
        out_dir=tmp_path,
        progress=events.append,
    )
    assert r.status == "completed" and r.best_miou["student"] is None  # no val set


def test_empty_labeled_set_is_a_clear_error(synth, tmp_path):
    with pytest.raises(ValueError, match=EMPTY_LABELED):
        train_round(cfg(), labeled=[], unlabeled=synth["unlabeled"], out_dir=tmp_path)


def test_unknown_backbone_is_a_clear_error(synth, tmp_path):
    with pytest.raises(ValueError, match="resnet_nope"):
        train_round(cfg(ru_encoder="resnet_nope"), labeled=synth["labeled"], out_dir=tmp_path)


def test_config_yaml_round_trip_and_unknown_keys(tmp_path):
    c = TrainConfig(method="cps", remap={11: 255}, su_kwargs={"decoder_depth": 1}, scale_range=[0.5, 1.5])
    c.to_yaml(tmp_path / "c.yaml")
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == c
    (tmp_path / "bad.yaml").write_text("methd: igl_dt\n")
    with pytest.raises(ValueError, match="methd"):
        TrainConfig.from_yaml(tmp_path / "bad.yaml")
    with pytest.raises(ValueError, match="unknown method"):
        TrainConfig(method="fixmatch")


def _batches(n=2, size=32, classes=3):
    g = torch.Generator().manual_seed(0)
    lab = {
        "image": torch.randn(n, 3, size, size, generator=g),
        "mask": torch.randint(0, classes, (n, size, size), generator=g),
        "weight": torch.ones(n),
    }
    unl = {
        "image_w": torch.randn(n, 3, size, size, generator=g),
        "image_s": torch.randn(n, 3, size, size, generator=g),
        "valid": torch.ones(n, size, size, dtype=torch.bool),
    }
    return lab, unl


class Const(torch.nn.Module):
    """Predicts the same logits everywhere (a learnable bias per class)."""

    def __init__(self, logits):
        super().__init__()
        self.b = torch.nn.Parameter(torch.tensor(logits))

    def forward(self, x):
        return self.b.view(1, -1, 1, 1).expand(x.shape[0], -1, *x.shape[2:])


def test_step_functions_report_named_losses_and_mask_ratio():
    c = cfg(tau=0.0)
    lab, unl = _batches()
    teachers = {"su": Const([1.0, 0.0, 0.0]), "ru": Const([0.0, 1.0, 0.0])}
    out = teacher_step(teachers, lab, unl, cfg=c, plan=make_plan(c), step=0, total=10)
    assert {"loss", "sup", "cps", "dis", "mask_ratio", "w_cps", "w_dis"} <= set(out)
    assert out["mask_ratio"] == 1.0 and out["loss"].requires_grad
    out = student_step(
        Const([0.0, 0.0, 1.0]), teachers, lab, unl, cfg=cfg(tau=0.99), plan=make_plan(c), step=0, total=10
    )
    assert out["mask_ratio"] == 0.0 and out["pl"] == 0.0  # nothing passes tau = 0.99
    assert out["strong"] == 0.0  # step 0 uses the weak view
