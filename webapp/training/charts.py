"""Validation mIoU over a run as an inline SVG, laid out here and drawn by the template (no JS).

The x axis is the round's step count: the student stage is drawn after the teachers' steps.
"""

from dataclasses import dataclass, field

STAGE_COLOURS = {"teachers": "#7c3aed", "student": "#059669"}


@dataclass
class Series:
    stage: str
    colour: str
    points: str  # SVG polyline "x,y x,y"
    dots: list[tuple[float, float, str]] = field(default_factory=list)  # x, y, tooltip


@dataclass
class Chart:
    width: int
    height: int
    pad: int
    series: list[Series]
    y_ticks: list[tuple[float, str]]  # y, label
    x_label: str
    best: str


def miou_chart(val_history: list[dict], *, teacher_steps: int, width: int = 520, height: int = 170) -> Chart | None:
    """None until the run has been evaluated at least once."""
    points = [p for p in val_history or [] if p.get("miou") is not None]
    if not points:
        return None
    pad = 34

    def x_of(point) -> int:
        return point["step"] + (teacher_steps if point["stage"] == "student" else 0)

    x_max = max(max(x_of(p) for p in points), 1)
    y_max = max(1e-6, min(1.0, max(p["miou"] for p in points) * 1.15))

    def xy(point) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * x_of(point) / x_max
        y = height - pad - (height - 2 * pad) * point["miou"] / y_max
        return round(x, 1), round(y, 1)

    series = []
    for stage in ("teachers", "student"):
        stage_points = [p for p in points if p["stage"] == stage]
        if not stage_points:
            continue
        coords = [xy(p) for p in stage_points]
        series.append(
            Series(
                stage=stage,
                colour=STAGE_COLOURS[stage],
                points=" ".join(f"{x},{y}" for x, y in coords),
                dots=[
                    (x, y, f"{stage} step {p['step']}: mIoU {p['miou']:.3f}")
                    for (x, y), p in zip(coords, stage_points, strict=True)
                ],
            )
        )
    ticks = [(round(height - pad - (height - 2 * pad) * f, 1), f"{y_max * f:.2f}") for f in (0, 0.5, 1)]
    best = max(points, key=lambda p: p["miou"])
    return Chart(
        width=width,
        height=height,
        pad=pad,
        series=series,
        y_ticks=ticks,
        x_label=f"step (of {x_max})",
        best=f"best {best['miou']:.3f} ({best['stage']}, step {best['step']})",
    )
