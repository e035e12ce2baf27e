"""Fixtures shared by the ml tests."""
import pytest

from tests.ml.synth_data import write_set


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return {
        "labeled": write_set(root / "lab", 8, seed=1, size=48),
        "unlabeled": [p for p, _ in write_set(root / "unl", 8, seed=2, size=48, masks=False)],
        "val": write_set(root / "val", 4, seed=3, size=48),
    }
