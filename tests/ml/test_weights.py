"""Where each network's starting weights come from: file > hub > package > random, offline."""

import json
import os
import subprocess
import sys

import pytest
import timm
import torch

from ml.models import ModelSpec, build_segmenter, build_student
from ml.models.weights import (
    HUB_UNAVAILABLE,
    WEIGHT_PACKAGES,
    WeightsUnavailableError,
    efficientnet_lite_timm_state,
    package_weights_path,
    resolve_weight_source,
)
from ml.train import APP_DEFAULT_CONFIG, TrainConfig, weight_sources

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("encoder", sorted(WEIGHT_PACKAGES))
def test_every_package_tensor_loads_into_timm_and_equals_the_package(encoder):
    package = torch.load(package_weights_path(encoder), map_location="cpu", weights_only=True)
    renamed = efficientnet_lite_timm_state(encoder)
    model = timm.create_model(encoder)
    model.load_state_dict(renamed, strict=True)  # every timm key is covered, shapes agree
    assert len(renamed) == len(package) == len(model.state_dict())
    # each package tensor, under its timm name (renaming keeps the order), equals the loaded one
    loaded = model.state_dict()
    assert len(set(renamed)) == len(package)
    for (package_key, value), timm_key in zip(package.items(), renamed, strict=True):
        assert torch.equal(loaded[timm_key], value), (package_key, timm_key)
    assert torch.equal(loaded["conv_stem.weight"], package["_conv_stem.weight"])
    last_block = max(int(k.split(".")[1]) for k in package if k.startswith("_blocks."))
    last_stage = len(model.blocks) - 1
    assert torch.equal(
        loaded[f"blocks.{last_stage}.{len(model.blocks[last_stage]) - 1}.conv_pwl.weight"],
        package[f"_blocks.{last_block}._project_conv.weight"],
    )


def test_lite2_encoder_of_a_ru_teacher_holds_the_package_weights():
    ru = build_segmenter(ModelSpec("ru", "tf_efficientnet_lite2", 3), pretrained=True)
    assert ru.weight_source.source == "package"
    package = torch.load(package_weights_path("tf_efficientnet_lite2"), map_location="cpu", weights_only=True)
    assert torch.equal(ru.encoder.model.conv_stem.weight, package["_conv_stem.weight"])
    assert ru.encoder.model.bn1.running_var.sub(1).abs().mean() > 0.1  # trained statistics


def test_each_source_in_order_offline(tmp_path):
    weights_file = tmp_path / "student.pth"
    torch.save(build_student(3, encoder="resnet18").state_dict(), weights_file)
    assert resolve_weight_source("student", "resnet18", pretrained=True, request=str(weights_file)).source == "file"
    # hub unreachable (HF_HUB_OFFLINE): a packaged encoder comes from its package ...
    lite = resolve_weight_source("student", "tf_efficientnet_lite0", pretrained=True)
    assert (lite.source, lite.warning) == ("package", None)
    # ... anything else starts random, with a warning that says how to supply weights
    r18 = resolve_weight_source("ru", "resnet18", pretrained=True)
    assert r18.source == "random" and "weights: {ru: /path/to/file.pth}" in r18.warning
    assert resolve_weight_source("ru", "tf_efficientnet_lite2", pretrained=False).source == "random"
    # the hub is chosen when it may be used
    assert resolve_weight_source("ru", "resnet34", pretrained=True, hub=True).source == "hub"


def test_insisting_on_hub_weights_offline_is_a_clear_error():
    with pytest.raises(WeightsUnavailableError) as err:
        resolve_weight_source("su", "swin_tiny_patch4_window7_224", pretrained=True, request="hub")
    assert str(err.value) == HUB_UNAVAILABLE.format(
        role="su",
        encoder="swin_tiny_patch4_window7_224",
        why="the hub cannot be used here (HF_HUB_OFFLINE, or no network)",
        packages=", ".join(WEIGHT_PACKAGES),
    )
    with pytest.raises(WeightsUnavailableError, match="no installed package ships weights for 'resnet18'"):
        resolve_weight_source("ru", "resnet18", pretrained=True, request="package")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        resolve_weight_source("ru", "resnet18", pretrained=True, request="/nope.pth")


def test_built_network_records_its_source_and_loads_the_file(tmp_path):
    source = build_student(3, encoder="resnet18")
    torch.save(source.state_dict(), tmp_path / "w.pth")
    model = build_student(3, encoder="resnet18", pretrained=True, weights=tmp_path / "w.pth")
    assert model.weight_source.source == "file"
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values(), strict=True)
    )
    assert build_student(3, encoder="resnet18", pretrained=True).weight_source.source == "random"


def test_app_default_config_starts_every_network_pretrained_offline():
    sources = weight_sources(TrainConfig.from_dict({**APP_DEFAULT_CONFIG, "num_classes": 4}))
    assert {r: s.source for r, s in sources.items()} == {"su": "package", "ru": "package", "student": "package"}


def test_weights_command_without_config_prints_one_line_per_network():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "ml", "weights"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["role"] for line in lines] == ["su", "ru", "student"]
    assert all(line["source"] != "random" for line in lines if line["role"] in ("ru", "student"))
    bad = subprocess.run(
        [sys.executable, "-m", "ml", "weights", "--set", "weights={su: hub}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "su asks for hub weights" in bad.stderr
