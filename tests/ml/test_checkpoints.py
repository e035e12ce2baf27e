"""Checkpoints rebuild their model from the stored spec and are written atomically."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from ml.checkpoints import load_checkpoint, load_model, save_checkpoint
from ml.models import ModelSpec, build_segmenter, cpu_profile_specs

SMALL_SWIN = {"embed_dim": 24, "depths": (1, 1, 1, 1), "num_heads": (1, 2, 3, 6), "img_size": 64}


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec("su", "swin_tiny_patch4_window7_224", 3, encoder_kwargs=SMALL_SWIN, decoder_depth=1),
        cpu_profile_specs(3, ignore_index=0)["student"],
    ],
    ids=["su", "student"],
)
def test_load_model_rebuilds_from_spec_alone(tmp_path, spec):
    torch.manual_seed(0)
    model = build_segmenter(spec).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = save_checkpoint(
        tmp_path / "ckpt" / "latest.pt",
        model=model,
        extra={"optimizer": optimizer.state_dict(), "step": 7, "best_score": 0.5},
    )

    loaded, checkpoint = load_model(path)
    assert loaded.spec == spec and not loaded.training
    assert checkpoint["step"] == 7 and checkpoint["best_score"] == 0.5
    assert "optimizer" in load_checkpoint(path)
    x = torch.randn(1, 3, 70, 90)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    model = build_segmenter(cpu_profile_specs(2)["student"])
    path = save_checkpoint(tmp_path / "best.pt", model=model, extra={"step": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, model=model, extra={"step": 2})
    assert load_checkpoint(path)["step"] == 1  # the old checkpoint survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


def test_reserved_extra_keys_are_refused(tmp_path):
    model = build_segmenter(cpu_profile_specs(2)["student"])
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x.pt", model=model, extra={"spec": {}})


def test_non_checkpoint_file_gives_a_clear_error(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a segloop checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_checkpoint_from_before_a_spec_field_existed_still_loads_and_resumes(tmp_path):
    """Specs gain fields over time (output_stride did): old checkpoints mean the default."""
    from ml.train.loop import _load_weights

    spec = cpu_profile_specs(3)["student"]
    model = build_segmenter(spec).eval()
    path = save_checkpoint(tmp_path / "old.pt", model=model)
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["spec"]["output_stride"]
    torch.save(checkpoint, path)

    rebuilt, _ = load_model(path)
    assert rebuilt.spec == spec
    fresh = build_segmenter(spec)
    _load_weights(fresh, path, torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True))
