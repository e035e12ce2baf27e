"""Fixtures shared by the ml tests."""

import pytest

from tests.ml.synth_data import synth_sets


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return synth_sets(tmp_path_factory.mktemp("synth"))
