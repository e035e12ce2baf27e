"""TorchScript and ONNX exports of a tiny student agree with PyTorch at any input size."""

import dataclasses
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from ml.checkpoints import save_checkpoint
from ml.export import export_onnx, export_student, export_torchscript, load_onnx_session
from ml.models import build_segmenter, cpu_profile_specs


@pytest.fixture(scope="module", params=["full", "output_stride_4"])
def student(request):
    torch.manual_seed(0)
    spec = cpu_profile_specs(4)["student"]
    if request.param == "output_stride_4":  # logits upsampled inside the graph: dynamic Resize
        spec = dataclasses.replace(spec, decoder_channels=(64, 32, 24), output_stride=4)
    return build_segmenter(spec).eval()


pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

SIZES = [(1, 64, 64), (2, 70, 90)]  # the second proves dynamic batch/height/width


def _reference(model, x):
    with torch.no_grad():
        return model(x)


def test_torchscript_matches_pytorch_at_several_sizes(student, tmp_path):
    scripted = torch.jit.load(str(export_torchscript(student, tmp_path / "s.ts")))
    for n, h, w in SIZES:
        x = torch.randn(n, 3, h, w)
        out = scripted(x)
        assert out.shape == (n, 4, h, w)
        assert torch.equal(out.argmax(1), _reference(student, x).argmax(1))


def test_onnx_matches_pytorch_at_several_sizes(student, tmp_path):
    session = load_onnx_session(export_onnx(student, tmp_path / "s.onnx"))
    for n, h, w in SIZES:
        x = torch.randn(n, 3, h, w)
        (out,) = session.run(None, {"image": x.numpy()})
        assert out.shape == (n, 4, h, w)
        reference = _reference(student, x)
        torch.testing.assert_close(torch.from_numpy(out), reference, rtol=1e-3, atol=1e-4)
        assert torch.equal(torch.from_numpy(out).argmax(1), reference.argmax(1))


def test_export_student_from_checkpoint_writes_both_formats(student, tmp_path):
    checkpoint = save_checkpoint(tmp_path / "student.pt", model=student)
    paths = export_student(checkpoint, tmp_path / "out")
    assert paths["torchscript"].name == "student.ts" and paths["torchscript"].is_file()
    assert paths["onnx"].name == "student.onnx" and paths["onnx"].is_file()
    with pytest.raises(ValueError, match="valid"):
        export_student(checkpoint, tmp_path / "out", formats=("tflite",))
