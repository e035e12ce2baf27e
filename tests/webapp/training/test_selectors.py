"""Progress figures of a run: the time-left estimate with and without a time plan, and the
page's account of the plan, the teacher gate and the starting weights."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.training.models import RunStatus, RunTrigger, TrainingRun
from webapp.training.selectors import (
    gate_summary,
    plan_summary,
    pseudo_seconds_per_image_measured,
    run_facts,
    run_seconds_left,
)

PLAN = {
    "budget_s": 900.0,
    "teacher_steps": 100,
    "student_steps": 200,
    "teacher_step_s": 2.0,
    "student_step_s": 0.5,
    "pseudo_s": 60.0,
    "pseudo_images": 40,
    "eval_s": 10.0,
    "probe_s": 5.0,
    "note": "",
}


def running(
    *,
    phase="training",
    stage="teachers",
    step=0,
    total=100,
    seconds_in_stage=None,
    first_step=0,
    plan=None,
    config=None,
    status=RunStatus.RUNNING,
    **fields,
) -> TrainingRun:
    """An unsaved run (running unless told): the estimate reads only its fields."""
    timings = {}
    if seconds_in_stage is not None:
        timings["stage_started_at"] = (timezone.now() - timedelta(seconds=seconds_in_stage)).isoformat()
        timings["stage_first_step"] = first_step
    if plan is not None:
        timings["plan"] = plan
    return TrainingRun(
        status=status,
        phase=phase,
        stage=stage,
        step=step,
        total_steps=total,
        timings=timings,
        config=config or {},
        **fields,
    )


# ---------------------------------------------------------------- without a plan (as before)


def test_without_a_plan_the_measured_rate_covers_this_stage_and_the_configured_student_steps():
    run = running(step=10, seconds_in_stage=30, config={"student_steps": 50})
    assert run_seconds_left(run) == pytest.approx((90 + 50) * 3.0, rel=0.01)


def test_without_a_plan_a_resumed_stage_counts_only_the_steps_this_run_did():
    run = running(stage="student", step=30, first_step=20, seconds_in_stage=10)
    assert run_seconds_left(run) == pytest.approx(70 * 1.0, rel=0.01)


def test_without_a_plan_nothing_is_said_before_a_step_or_outside_training():
    assert run_seconds_left(running(step=0, seconds_in_stage=5)) is None
    assert run_seconds_left(running(phase="pseudo-labelling", pseudo_done=3, pseudo_total=10)) is None
    assert run_seconds_left(running(step=10, seconds_in_stage=30, status=RunStatus.SUCCEEDED)) is None


# ---------------------------------------------------------------- with a plan


def test_with_a_plan_teachers_add_the_planned_student_stage_evaluation_and_pseudo_labelling():
    run = running(step=10, seconds_in_stage=30, plan=PLAN)  # measured: 3 s a step, not the planned 2
    assert run_seconds_left(run) == pytest.approx(90 * 3.0 + 200 * 0.5 + 10 + 60, rel=0.01)


def test_with_a_plan_the_planned_step_time_stands_in_until_a_step_is_measured():
    assert run_seconds_left(running(step=0, plan=PLAN)) == pytest.approx(100 * 2.0 + 200 * 0.5 + 10 + 60)


def test_with_a_plan_the_student_stage_adds_pseudo_labelling_only():
    run = running(stage="student", step=50, total=200, seconds_in_stage=50, plan=PLAN)
    assert run_seconds_left(run) == pytest.approx(150 * 1.0 + 60, rel=0.01)


def test_with_a_plan_pseudo_labelling_runs_at_its_measured_rate():
    started = (timezone.now() - timedelta(seconds=20)).isoformat()
    run = running(phase="pseudo-labelling", plan=PLAN, pseudo_done=10, pseudo_total=40)
    run.timings["pseudo_started_at"] = started
    assert run_seconds_left(run) == pytest.approx(30 * 2.0, rel=0.01)


def test_with_a_plan_pseudo_labelling_uses_its_reserve_until_a_batch_is_done():
    run = running(phase="pseudo-labelling", plan=PLAN, pseudo_total=40)
    run.timings["pseudo_started_at"] = (timezone.now() - timedelta(seconds=15)).isoformat()
    assert run_seconds_left(run) == pytest.approx(60 - 15, abs=1)


def test_with_a_plan_and_no_pseudo_labelling_nothing_is_added():
    run = running(stage="student", step=50, total=200, seconds_in_stage=50, plan={**PLAN, "pseudo_s": 0.0})
    assert run_seconds_left(run) == pytest.approx(150.0, rel=0.01)


# ---------------------------------------------------------------- words on the page


def test_plan_summary_leaves_out_what_the_round_does_not_have():
    supervised = {**PLAN, "teacher_steps": 0, "pseudo_s": 0.0, "budget_s": 450.0}
    assert plan_summary(supervised) == "Planned to fit 7.5 min: 200 student steps at 0.5 s."
    assert plan_summary({**PLAN, "pseudo_images": None}, pseudo_images=7).endswith(
        "1.0 min reserved for pseudo-labelling 7 images."
    )


def test_gate_summary_without_validation_scores_gives_mls_reason():
    gate = {"used": True, "teachers": {"su": None}, "student": None, "reason": "No validation images."}
    assert gate_summary(gate) == "No validation images."


def test_facts_of_a_random_network_without_a_warning_text_still_warn():
    run = TrainingRun(weight_sources=[{"role": "su", "encoder": "x", "source": "random", "detail": ""}])
    assert run_facts(run).random_warnings == [
        "su (x) starts from random weights: expect much weaker results from few labels."
    ]


@pytest.mark.django_db
def test_pseudo_seconds_per_image_comes_from_the_last_finished_round(project):
    assert pseudo_seconds_per_image_measured(project=project) is None
    TrainingRun.objects.create(
        project=project,
        trigger=RunTrigger.PAGE,
        status=RunStatus.SUCCEEDED,
        pseudo_total=40,
        timings={"pseudo_s": 30.0},
        finished_at=timezone.now(),
    )
    TrainingRun.objects.create(
        project=project,
        trigger=RunTrigger.PAGE,
        status=RunStatus.FAILED,
        pseudo_total=10,
        timings={"pseudo_s": 100.0},
        finished_at=timezone.now(),
    )
    assert pseudo_seconds_per_image_measured(project=project) == pytest.approx(0.75)


def test_with_a_plan_a_stage_of_two_steps_still_uses_the_planned_step_time():
    run = running(step=2, seconds_in_stage=60, plan=PLAN)  # 30 s a step so far: start-up, not the rate
    assert run_seconds_left(run) == pytest.approx(98 * 2.0 + 200 * 0.5 + 10 + 60)
