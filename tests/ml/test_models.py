"""Model factory: shapes for every kind at tidy and odd sizes, errors, weights loading."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from ml.models import (
    Encoder,
    ModelSpec,
    WeightsMismatchError,
    build_ru_teacher,
    build_segmenter,
    build_student,
    build_su_teacher,
    cpu_profile_specs,
    load_efficientnet_lite0_imagenet,
    load_weights,
)
from ml.models.weights import efficientnet_lite0_package_path, efficientnet_lite0_timm_state

NUM_CLASSES = 3
SMALL_SWIN = {"embed_dim": 24, "depths": (1, 1, 1, 1), "num_heads": (1, 2, 3, 6), "img_size": 64}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _forward(model, h, w, n=1):
    model.eval()
    with torch.no_grad():
        return model(torch.randn(n, 3, h, w))


@pytest.mark.parametrize("hw", [(64, 64), (70, 90)])
@pytest.mark.parametrize(
    "kind, encoder, kwargs",
    [
        ("su", "swin_tiny_patch4_window7_224", {"encoder_kwargs": SMALL_SWIN}),
        ("ru", "resnet34", {}),
        ("student", "resnet18", {}),
        ("student", "mobilenetv3_small_100", {}),
        ("student", "tf_efficientnet_lite0", {}),
        ("student", "efficientnet_b0", {}),
        ("student", "mobilenetv3_large_100", {"decoder_channels": (64, 32, 24), "output_stride": 4}),
        ("ru", "resnet18", {"output_stride": 2}),
    ],
)
def test_logits_have_input_size_for_any_size(kind, encoder, kwargs, hw):
    model = build_segmenter(ModelSpec(kind, encoder, NUM_CLASSES, **kwargs))
    assert _forward(model, *hw, n=2).shape == (2, NUM_CLASSES, *hw)


def test_output_stride_drops_the_fine_decoder_blocks_and_upsamples_the_logits():
    full = build_student(NUM_CLASSES, "mobilenetv3_large_100", decoder_channels=(64, 32, 24, 16, 8))
    coarse = build_student(NUM_CLASSES, "mobilenetv3_large_100", decoder_channels=(64, 32, 24), output_stride=4)
    assert len(full.decoder.blocks) == 5 and len(coarse.decoder.blocks) == 3
    logits = _forward(coarse, 64, 64)
    assert logits.shape == (1, NUM_CLASSES, 64, 64)
    # Bilinear upsampling from stride 4: neighbouring pixels inside one cell differ smoothly.
    assert torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="not 'su'"):
        ModelSpec("su", "swin_tiny_patch4_window7_224", NUM_CLASSES, output_stride=4)
    with pytest.raises(ValueError, match="power of two"):
        build_student(NUM_CLASSES, "resnet18", output_stride=3)


def test_default_builders_use_the_method_defaults_and_work_at_odd_size():
    su, ru, student = build_su_teacher(NUM_CLASSES), build_ru_teacher(NUM_CLASSES), build_student(NUM_CLASSES)
    assert (su.spec.encoder, ru.spec.encoder, student.spec.encoder) == (
        "swin_tiny_patch4_window7_224",
        "resnet34",
        "resnet18",
    )
    for model in (su, ru, student):
        assert _forward(model, 70, 90).shape == (1, NUM_CLASSES, 70, 90)


def test_swin_encoder_returns_nchw_maps_with_exposed_channels():
    encoder = Encoder("swin_tiny_patch4_window7_224", img_size=64)
    features = encoder(torch.randn(1, 3, 64, 96))
    assert encoder.channels == [96, 192, 384, 768]
    assert encoder.reductions == [4, 8, 16, 32]
    assert encoder.required_multiple == 32
    for feature, channels, stride in zip(features, encoder.channels, encoder.reductions, strict=True):
        assert feature.shape == (1, channels, 64 // stride, 96 // stride)


def test_cnn_encoder_pads_odd_input_to_required_multiple():
    encoder = Encoder("resnet18")
    features = encoder(torch.randn(1, 3, 70, 90))
    assert encoder.channels == [64, 64, 128, 256, 512]
    assert [f.shape[1] for f in features] == encoder.channels
    assert features[-1].shape[-2:] == (3, 3)  # 70x90 padded to 96x96, stride 32


def test_tiny_images_smaller_than_the_stride_work():
    model = build_segmenter(cpu_profile_specs(NUM_CLASSES)["student"])
    assert _forward(model, 7, 13).shape == (1, NUM_CLASSES, 7, 13)


def test_spec_round_trips_through_dict_and_stays_hashable():
    spec = cpu_profile_specs(NUM_CLASSES)["su"]
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec and hash(again) == hash(spec)
    assert spec.to_dict()["encoder_kwargs"]["depths"] == [2, 2, 2, 2]


def test_unknown_encoder_lists_close_matches_and_known_names():
    with pytest.raises(ValueError) as err:
        build_student(NUM_CLASSES, encoder="resnet181")
    message = str(err.value)
    assert "not a timm model with features_only support" in message
    assert "resnet18" in message and "swin_tiny_patch4_window7_224" in message


def test_unknown_kind_lists_valid_kinds():
    with pytest.raises(ValueError, match=r"\['su', 'ru', 'student'\]"):
        ModelSpec("teacher", "resnet18", NUM_CLASSES)


def test_su_needs_swin_or_a_cnn_stem_and_cnn_kinds_need_cnn():
    with pytest.raises(ValueError, match="requires a Swin encoder or a CNN stem"):
        build_su_teacher(NUM_CLASSES, encoder="vit_tiny_patch16_224")
    with pytest.raises(ValueError, match="requires a CNN encoder"):
        build_student(NUM_CLASSES, encoder="swin_tiny_patch4_window7_224")


def test_local_weights_file_round_trip_for_segmenter_and_encoder(tmp_path):
    source = build_student(NUM_CLASSES, encoder="mobilenetv3_small_100")
    torch.save(source.state_dict(), tmp_path / "whole.pth")
    torch.save(source.encoder.model.state_dict(), tmp_path / "encoder.pth")
    from safetensors.torch import save_file

    save_file(source.state_dict(), str(tmp_path / "whole.safetensors"))
    x = torch.randn(1, 3, 64, 64)

    whole = build_student(NUM_CLASSES, encoder="mobilenetv3_small_100", weights=tmp_path / "whole.pth")
    assert torch.equal(whole.eval()(x), source.eval()(x))
    safe = build_student(NUM_CLASSES, encoder="mobilenetv3_small_100", weights=tmp_path / "whole.safetensors")
    assert torch.equal(safe.eval()(x), source(x))

    encoder_only = build_student(NUM_CLASSES, encoder="mobilenetv3_small_100")
    assert load_weights(encoder_only, tmp_path / "encoder.pth") == "encoder"
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(encoder_only.encoder.state_dict()[key], value)


def test_mismatched_weights_file_names_the_missing_keys(tmp_path):
    torch.save(build_student(NUM_CLASSES, encoder="resnet18").state_dict(), tmp_path / "r18.pth")
    with pytest.raises(WeightsMismatchError, match="missing keys"):
        build_student(NUM_CLASSES, encoder="mobilenetv3_small_100", weights=tmp_path / "r18.pth")


def test_efficientnet_lite0_package_weights_load_completely_and_are_the_package_values():
    encoder = Encoder("tf_efficientnet_lite0")
    random_stem = encoder.model.conv_stem.weight.clone()
    load_efficientnet_lite0_imagenet(encoder)

    package = torch.load(efficientnet_lite0_package_path(), map_location="cpu", weights_only=True)
    assert torch.equal(encoder.model.conv_stem.weight, package["_conv_stem.weight"])
    assert torch.equal(encoder.model.blocks[6][0].conv_pwl.weight, package["_blocks.15._project_conv.weight"])
    assert not torch.equal(encoder.model.conv_stem.weight, random_stem)
    # Trained BatchNorm statistics, not the fresh-init 0 / 1.
    assert encoder.model.bn1.running_var.sub(1).abs().mean() > 0.1
    # Every key of the full classifier maps too (names and shapes), so nothing is silently left out.
    import timm

    full = timm.create_model("tf_efficientnet_lite0")
    full.load_state_dict(efficientnet_lite0_timm_state(), strict=True)


def test_pretrained_lite0_student_uses_offline_weights():
    model = build_student(NUM_CLASSES, encoder="tf_efficientnet_lite0", pretrained=True)
    package = torch.load(efficientnet_lite0_package_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model.encoder.model.conv_stem.weight, package["_conv_stem.weight"])


def test_hybrid_su_forward_and_backward_at_64px_with_a_pretrained_stem():
    from ml.models.weights import package_weights_path

    su = build_su_teacher(
        NUM_CLASSES,
        encoder="tf_efficientnet_lite0",
        pretrained=True,
        encoder_kwargs={"embed_dim": 32, "depths": [1, 1, 1]},
        decoder_depth=1,
    )
    assert su.weight_source.source == "package" and su.encoder.reductions == [4, 8, 16, 32]
    assert su.encoder.channels == [16, 32, 64, 128]  # doubling, as the Swin-Unet decoder needs
    package = torch.load(package_weights_path("tf_efficientnet_lite0"), map_location="cpu", weights_only=True)
    assert torch.equal(su.encoder.stem.model.conv_stem.weight, package["_conv_stem.weight"])
    x = torch.randn(2, 3, 64, 64)
    logits = su(x)
    assert logits.shape == (2, NUM_CLASSES, 64, 64)
    logits.logsumexp(1).mean().backward()
    swin_grad = su.encoder.stages[-1].blocks[0].attn.qkv.weight.grad
    assert swin_grad is not None and swin_grad.abs().sum() > 0
    assert su.encoder.stem.model.conv_stem.weight.grad.abs().sum() > 0
    assert su(torch.randn(1, 3, 70, 90)).shape == (1, NUM_CLASSES, 70, 90)  # any size


def test_hybrid_stem_stride_16_and_bad_stride():
    su = build_su_teacher(
        NUM_CLASSES,
        encoder="resnet18",
        encoder_kwargs={"stem_stride": 16, "embed_dim": 64, "depths": [1, 1]},
        decoder_depth=1,
    )
    assert su.encoder.channels == [16, 32, 64, 128]
    assert su(torch.randn(1, 3, 64, 64)).shape == (1, NUM_CLASSES, 64, 64)
    with pytest.raises(ValueError, match="stem_stride must be one of"):
        build_su_teacher(NUM_CLASSES, encoder="resnet18", encoder_kwargs={"stem_stride": 4})
