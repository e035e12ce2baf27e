"""A round given max_minutes plans its steps from measured step times and ends in time."""

from ml.train import train_round
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
