"""A round given max_minutes plans its steps from measured step times and ends in time."""

from ml.train import train_round
from ml.train.loop import TEACHERS_SKIPPED
from tests.ml.tiny_config import cfg


def test_round_planned_by_max_minutes_stops_within_its_plan(synth, tmp_path):
    budget_s = 12.0
    events = []
    c = cfg(teacher_gate=True, teacher_steps=100000, student_steps=200000, max_minutes=budget_s / 60)
    r = train_round(c, **synth, out_dir=tmp_path, progress=events.append)
    plan = r.plan
    assert r.status == "completed" and plan["budget_s"] == budget_s
    # the plan came from measurements, not from the configured counts, and keeps their ratio
    assert 0 < plan["teacher_steps"] < 100000 and 0 < plan["student_steps"] < 200000
    assert plan["teacher_step_s"] > 0 and plan["student_step_s"] > 0 and plan["pseudo_s"] > 0
    assert r.steps == {"teachers": plan["teacher_steps"], "student": plan["student_steps"]}
    # the round, with the time reserved for pseudo-labelling, fits the budget (some slack for
    # a busy machine: the plan is corrected from real step times, not guaranteed)
    assert r.elapsed + plan["pseudo_s"] <= budget_s * 1.3, (r.elapsed, plan)
    assert r.elapsed + plan["pseudo_s"] >= budget_s * 0.5, (r.elapsed, plan)  # and uses it
    announced = [e.plan for e in events if e.plan]
    assert announced and announced[-1]["student_steps"] == plan["student_steps"]


def test_without_max_minutes_the_configured_steps_run(synth, tmp_path):
    r = train_round(cfg(method="supervised", student_steps=3), **synth, out_dir=tmp_path)
    assert r.plan is None and r.steps == {"student": 3}


def test_a_budget_too_short_for_the_teachers_skips_them_and_says_why(synth, tmp_path):
    budget_s = 8.0
    events = []
    c = cfg(teacher_steps=100000, student_steps=200000, max_minutes=budget_s / 60, min_teacher_steps=10**9)
    r = train_round(c, **synth, out_dir=tmp_path, progress=events.append)
    assert r.status == "completed"
    # stage 1 never ran: no teacher checkpoints, and the student had the whole plan
    assert r.steps == {"student": r.plan["student_steps"]} and r.plan["teacher_steps"] == 0
    assert set(r.checkpoints) == {"student"} and not (tmp_path / "su_latest.pt").exists()
    assert r.gate["skipped"] is True and r.gate["used"] is False
    assert r.gate["reason"] == TEACHERS_SKIPPED.format(
        minutes=budget_s / 60, steps=r.gate["planned_teacher_steps"], minimum=10**9
    )
    assert {e.stage for e in events} == {"student"}
    # every step was supervised: no pseudo-label loss in stage 2
    assert set().union(*(e.losses for e in events)) == {"loss", "sup"}
    # time stays reserved for pseudo-labelling, which the student now does
    assert r.plan["pseudo_s"] > 0
    assert any(e.note == r.gate["reason"] for e in events)


def test_teachers_train_when_the_budget_leaves_them_enough_steps(synth, tmp_path):
    c = cfg(teacher_steps=100000, student_steps=200000, max_minutes=8 / 60, min_teacher_steps=1)
    r = train_round(c, **synth, out_dir=tmp_path)
    assert r.steps["teachers"] >= 1 and not (r.gate or {}).get("skipped")
