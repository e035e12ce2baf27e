"""The teacher gate: pseudo-labels guide the student only when a teacher beats it on val."""

import pytest

from ml.train import train_round
from ml.train.loop import GATE_LOST, GATE_USED
from tests.ml.synth_data import synth_sets
from tests.ml.tiny_config import cfg as tiny_cfg

# both teachers and the student as small CNNs that learn the synthetic classes in 30 steps
NETS = dict(ru_encoder="resnet18", ru_kwargs={"decoder_channels": (32, 16, 16, 8, 8)})


def cfg(**kw):
    return tiny_cfg(**{**NETS, **kw})


@pytest.fixture(scope="module")
def trained(synth_gate, tmp_path_factory):
    """One ungated round whose teachers and student all learned the synthetic classes."""
    out = tmp_path_factory.mktemp("trained")
    r = train_round(cfg(teacher_steps=30, student_steps=30), **synth_gate, out_dir=out)
    assert min(r.best_miou.values()) > 0.5, r.best_miou
    return out


@pytest.fixture(scope="module")
def synth_gate(tmp_path_factory):
    return synth_sets(tmp_path_factory.mktemp("gate"), labeled=6, unlabeled=4)


def _stage2_losses(events):
    return set().union(*(e.losses for e in events if e.stage == "student"))


def test_teachers_that_lose_leave_stage_two_supervised_and_say_why(synth_gate, trained, tmp_path):
    events = []
    c = cfg(
        teacher_gate=True,
        teacher_steps=1,
        student_steps=3,
        weights={"su": "random", "ru": "random", "student": str(trained / "student_best.pt")},
    )
    r = train_round(c, **synth_gate, out_dir=tmp_path, progress=events.append)
    assert r.gate["used"] is False
    assert r.gate["student"] > max(r.gate["teachers"].values())
    assert r.gate["reason"].startswith(GATE_LOST.split("(")[0])
    assert _stage2_losses(events) == {"sup", "loss"}  # no pseudo-label terms
    assert [e.note for e in events if e.note] == [r.gate["reason"]]
    # the served student is the best one: stage 2 had to beat the student of stage 1
    assert r.best_miou["student"] >= r.gate["student"]


def test_teachers_that_win_guide_stage_two(synth_gate, trained, tmp_path):
    events = []
    c = cfg(
        teacher_gate=True,
        teacher_steps=1,
        student_steps=3,
        weights={"su": str(trained / "su_best.pt"), "ru": str(trained / "ru_best.pt"), "student": "random"},
    )
    r = train_round(c, **synth_gate, out_dir=tmp_path, progress=events.append)
    assert r.gate["used"] is True and r.gate["reason"].startswith(GATE_USED.split("(")[0])
    assert {"pl", "gcl", "lrl"} <= _stage2_losses(events)
    assert "student_sup" in set().union(*(e.losses for e in events if e.stage == "teachers"))
    assert r.weights["su"]["source"] == "file" and r.weights["student"]["source"] == "random"
    # the student warmed up beside the teachers follows one LR schedule over both stages (a
    # restart cost 4 mIoU points on CamVid), as a supervised student of as many steps would
    first_student = next(e for e in events if e.stage == "student")
    assert first_student.lr == pytest.approx(c.lr * (1 - 1 / 4) ** 0.9)


def test_a_resumed_round_keeps_the_gate_it_decided(synth_gate, trained, tmp_path):
    c = cfg(
        teacher_gate=True,
        teacher_steps=1,
        student_steps=6,
        weights={"su": "random", "ru": "random", "student": str(trained / "student_best.pt")},
    )
    events = []
    first = train_round(c, **synth_gate, out_dir=tmp_path, progress=events.append, should_stop=lambda: len(events) >= 3)
    assert first.cancelled and first.gate["used"] is False
    events2 = []
    second = train_round(c, **synth_gate, out_dir=tmp_path, progress=events2.append)
    assert second.gate == first.gate
    assert all(e.stage == "student" for e in events2) and _stage2_losses(events2) == {"sup", "loss"}
