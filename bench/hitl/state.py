"""A simulation's state between calls: the project, the ground truth per image, the humans'
totals and the recorded rounds, kept in <state folder>/state.json (written atomically)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

STATE_FILE = "state.json"


@dataclass
class SimulationState:
    project_id: int
    gt: dict[str, str]  # image id (as text) -> its ground-truth mask file
    train_config: dict = field(default_factory=dict)
    profile_source: str = ""
    seeded: list[int] = field(default_factory=list)  # round 0's seed images
    touched: int = 0  # images a human touched: corrected + accepted
    corrected: int = 0
    accepted: int = 0
    pixels_corrected: int = 0
    pick_kinds: dict[str, int] = field(default_factory=dict)
    human_seconds: float | None = 0.0  # None: a state from before the cost model, size unknown
    clicks: int = 0
    brush_pixels: int = 0
    regions_checked: int = 0
    rounds_done: int = -1
    labelled_round: int = -1  # labelling is done once per round, even if training is rerun
    pending_work: dict = field(default_factory=dict)  # the labelled round's work, until recorded
    pending_started: float = 0.0
    history: list[dict] = field(default_factory=list)  # the recorded rounds
    branched_from_round0: bool = False
    seconds_recorded: bool = True  # False: loaded from a state.json without human_seconds

    @property
    def train_images(self) -> int:
        return len(self.gt)

    def to_json(self) -> dict:
        # Shallow on purpose: asdict() would rebuild the rounds' Counters from (key, value) pairs.
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "seconds_recorded"}

    @classmethod
    def from_json(cls, data: dict) -> SimulationState:
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        state.seconds_recorded = "human_seconds" in data
        return state


def state_load(state_dir: Path) -> SimulationState | None:
    path = state_dir / STATE_FILE
    return SimulationState.from_json(json.loads(path.read_text())) if path.exists() else None


def state_save(state_dir: Path, state: SimulationState) -> None:
    path = state_dir / STATE_FILE
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(state.to_json(), indent=2))
    partial.replace(path)
