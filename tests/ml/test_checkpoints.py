"""Checkpoints rebuild their model from the stored spec and are written atomically."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from ml.checkpoints import copy_checkpoint, load_checkpoint, load_model, save_checkpoint
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


# A child process writes a complete checkpoint (step 1), then starts writing step 2 and stops at
# the chosen moment: halfway through torch.save's stream into the temporary file, or with the
# temporary file complete and fsynced but not yet renamed. It says "stopped", the test kills it
# with SIGKILL, and the checkpoint must still be step 1. The stops are patches in the child
# only: save_checkpoint has no test hook.
KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import torch
    from ml import atomic, checkpoints
    from ml.models import build_segmenter, cpu_profile_specs

    path, moment, source = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    model = build_segmenter(cpu_profile_specs(2)["student"])
    checkpoints.save_checkpoint(path, model=model, extra={"step": 1})
    Path(source).write_bytes(path.read_bytes())

    def stop():
        print("stopped", flush=True)
        time.sleep(600)

    if moment == "mid-stream":
        class Halting:
            def __init__(self, f):
                self.f, self.written = f, 0
            def write(self, data):
                if self.written > 4096:
                    self.f.flush()
                    stop()
                self.written += len(data)
                return self.f.write(data)
            def __getattr__(self, name):
                return getattr(self.f, name)
        real_save = torch.save
        checkpoints.torch.save = lambda obj, f: real_save(obj, Halting(f))
        checkpoints.save_checkpoint(path, model=model, extra={"step": 2})
    elif moment == "before-rename":
        atomic.os.replace = lambda *args: stop()
        checkpoints.save_checkpoint(path, model=model, extra={"step": 2})
    else:  # "copy": a resumed run copying a dead run's checkpoint over this one
        real_copy = checkpoints.shutil.copyfileobj
        def halting_copy(src, dst, length=0):
            dst.write(src.read(4096))
            dst.flush()
            stop()
        checkpoints.shutil.copyfileobj = halting_copy
        model2 = build_segmenter(cpu_profile_specs(2)["student"])
        checkpoints.save_checkpoint(source, model=model2, extra={"step": 7})
        checkpoints.copy_checkpoint(source, path)
    """
)


@pytest.mark.parametrize("moment", ["mid-stream", "before-rename", "copy"])
def test_a_writer_killed_mid_write_leaves_the_previous_complete_checkpoint(tmp_path, moment):
    path = tmp_path / "run" / "latest.pt"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), moment, str(tmp_path / "source.pt")],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "stopped"
        temporary = list(path.parent.glob(".latest.pt.*.tmp"))
        assert len(temporary) == 1 and temporary[0].stat().st_size > 0  # killed with data half-written
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    assert load_checkpoint(path)["step"] == 1  # the last complete checkpoint, readable
    # The next save (the resumed run's first) replaces it and sweeps the dead writer's temporary file.
    model = build_segmenter(cpu_profile_specs(2)["student"])
    save_checkpoint(path, model=model, extra={"step": 3})
    assert load_checkpoint(path)["step"] == 3
    assert sorted(p.name for p in path.parent.iterdir()) == ["latest.pt"]


def test_copy_checkpoint_copies_whole_files_only(tmp_path):
    model = build_segmenter(cpu_profile_specs(2)["student"])
    source = save_checkpoint(tmp_path / "dead" / "latest.pt", model=model, extra={"step": 5})
    copied = copy_checkpoint(source, tmp_path / "new" / "latest.pt")
    assert copied.read_bytes() == source.read_bytes() and load_checkpoint(copied)["step"] == 5
    assert sorted(p.name for p in copied.parent.iterdir()) == ["latest.pt"]
