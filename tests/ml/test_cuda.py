"""The trainer on a CUDA device (bf16 autocast): skipped where there is none (CI), run on a
lent GPU machine by bench/gpu_check.sh. A worker with a GPU trains through this same path."""

import pytest
import torch

from ml.checkpoints import load_model
from ml.infer import predict_logits
from ml.train import TrainConfig, train_round
from tests.ml.synth_data import write_set
from tests.ml.tiny_config import TINY

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("method", ["igl_dt", "cps", "supervised"])
def test_round_trains_on_cuda_and_its_student_serves_on_cpu(method, tmp_path):
    data = {
        "labeled": write_set(tmp_path / "lab", 8, seed=1, size=48),
        "unlabeled": [p for p, _ in write_set(tmp_path / "unl", 8, seed=2, size=48, masks=False)],
        "val": write_set(tmp_path / "val", 4, seed=3, size=48),
    }
    cfg = TrainConfig(
        **{**TINY, "method": method, "device": "cuda", "amp": True, "teacher_steps": 20, "student_steps": 60}
    )
    torch.cuda.reset_peak_memory_stats()
    result = train_round(cfg, **data, out_dir=tmp_path / "run")
    assert result.status == "completed"
    assert torch.cuda.max_memory_allocated() > 0  # it really ran on the GPU
    assert result.best_miou["student"] > 0.6, result.best_miou  # three flat classes: chance ~0.3
    model, _ = load_model(result.student_checkpoint, map_location="cpu")
    x = torch.rand(1, 3, 48, 48)
    cpu = predict_logits(model.eval(), x)
    gpu = predict_logits(model.cuda(), x.cuda())
    assert (gpu.argmax(1).cpu() == cpu.argmax(1)).float().mean() > 0.95
