"""Command line of the ml library: ``python -m ml train|eval|predict|export``.

Each command imports what it needs inside it, so ``--help`` stays quick and torch loads
only for a command that needs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG_TRAIN = """examples:
  python -m ml train --images data/img --masks data/mask --unlabeled data/raw \\
      --val-images data/val_img --val-masks data/val_mask --out runs/r1
  python -m ml train --list labeled.txt --config my.yaml --set student_steps=500 --out runs/r2 \\
      --resume-from runs/r1

A list file has one image per line, optionally followed by its mask (comma or space
separated; relative paths are relative to the list file). Masks are single-channel PNGs
of class indices, matched to images by file name (a.jpg <-> a.png). The config YAML holds
TrainConfig keys (see ml/train/config.py), e.g. num_classes: 11, remap: {11: 255}.
Checkpoints go to OUT as {su,ru,student}_{latest,best}.pt; running the same command
again resumes an interrupted round."""


def _pairs(images: str | None, masks: str | None, list_file: str | None, what: str):
    from ml.data import pairs_from_folders, read_pair_list

    if list_file:
        return read_pair_list(list_file)
    if images:
        return pairs_from_folders(images, masks)
    return []


def _parse_set(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _remap(text: str | None) -> dict:
    if not text:
        return {}
    return {int(a): int(b) for a, b in (pair.split(":") for pair in text.split(","))}


def cmd_train(args) -> int:
    from tqdm import tqdm

    from ml.train import TrainConfig, train_round

    cfg_dict = {}
    if args.config:
        cfg_dict = TrainConfig.from_yaml(args.config).to_dict()
    cfg_dict.update(_parse_set(args.set))
    cfg = TrainConfig.from_dict(cfg_dict)
    labeled = _pairs(args.images, args.masks, args.list, "labeled")
    if any(m is None for _, m in labeled):
        raise SystemExit("every labeled image needs a mask (give --masks, or masks in the list file)")
    unlabeled = [p for p, _ in _pairs(args.unlabeled, None, args.unlabeled_list, "unlabeled")]
    val = _pairs(args.val_images, args.val_masks, args.val_list, "val")
    bars: dict = {}

    def progress(e):
        bar = bars.get(e.stage)
        if bar is None:
            bar = bars[e.stage] = tqdm(total=e.total_steps, desc=e.stage, unit="step", initial=e.step - 1)
        bar.update(e.step - bar.n)
        post = {k: f"{v:.3f}" for k, v in e.losses.items() if k in ("loss", "sup", "cps", "pl")}
        if e.mask_ratio is not None:
            post["mask"] = f"{e.mask_ratio:.2f}"
        if e.val_miou is not None:
            post["val_miou"] = f"{e.val_miou:.3f}"
            tqdm.write(f"{e.stage} step {e.step}: val mIoU {e.val_mious}", file=sys.stderr)
        bar.set_postfix(post)

    result = train_round(
        cfg,
        labeled=labeled,
        unlabeled=unlabeled,
        val=val,
        out_dir=args.out,
        resume_from=args.resume_from,
        progress=progress,
    )
    for bar in bars.values():
        bar.close()
    print(
        json.dumps(
            {
                "status": result.status,
                "best_miou": result.best_miou,
                "student_checkpoint": str(result.student_checkpoint),
            },
            indent=2,
        )
    )
    return 0


def cmd_weights(args) -> int:
    """One JSON line per network: where its starting weights come from (nothing is loaded)."""
    from ml.train import APP_DEFAULT_CONFIG, TrainConfig, weight_sources

    if args.config:
        cfg_dict = TrainConfig.from_yaml(args.config).to_dict()
    else:
        cfg_dict = {**APP_DEFAULT_CONFIG, "num_classes": 2}
    cfg_dict.update(_parse_set(args.set))
    try:
        sources = weight_sources(TrainConfig.from_dict(cfg_dict))
    except FileNotFoundError as err:
        raise ValueError(str(err)) from err
    for source in sources.values():
        line = {"role": source.role, "encoder": source.encoder, "source": source.source, "detail": source.detail}
        if source.warning:
            line["warning"] = source.warning
        print(json.dumps(line))
    return 0


def cmd_eval(args) -> int:

    from ml.checkpoints import load_model
    from ml.data import SegmentationDataset, pairs_from_folders, read_pair_list, val_loader
    from ml.metrics import evaluate
    from ml.runtime import resolve_device

    device = resolve_device(args.device)
    model, _ = load_model(args.checkpoint, map_location=device)
    spec = model.spec
    pairs = read_pair_list(args.list) if args.list else pairs_from_folders(args.images, args.masks)
    ds = SegmentationDataset(
        pairs,
        num_classes=spec.num_classes,
        ignore_index=spec.ignore_index,
        remap=_remap(args.remap),
        long_side=args.long_side,
        cache=False,
    )
    metrics = evaluate(model, val_loader(ds), spec.num_classes, spec.ignore_index, device, window=args.window)
    text = json.dumps(metrics, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


def cmd_predict(args) -> int:
    import numpy as np
    from PIL import Image

    from ml.checkpoints import load_model
    from ml.data import EvalTransform, list_images, load_image
    from ml.infer import student_predict
    from ml.png import gray_png
    from ml.runtime import resolve_device

    device = resolve_device(args.device)
    model, _ = load_model(args.checkpoint, map_location=device)
    files = []
    for item in args.inputs:
        p = Path(item)
        files.extend(list_images(p) if p.is_dir() else [p])
    if not files:
        raise SystemExit("no input images")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tf = EvalTransform()
    for f in files:
        x = tf(load_image(f), None)["image"][None].to(device)
        pred, conf = student_predict(model, x, window=args.window, overlap=args.overlap)
        mask = pred[0].cpu().numpy()
        if model.spec.num_classes <= 256:
            (out / f"{f.stem}.png").write_bytes(gray_png(mask.astype(np.uint8)))
        else:  # more classes than 8 bits hold: a 16-bit PNG
            Image.fromarray(mask.astype(np.uint16)).save(out / f"{f.stem}.png")
        if args.confidence:
            c = (conf[0].cpu().numpy() * 255).round().astype(np.uint8)
            (out / f"{f.stem}_confidence.png").write_bytes(gray_png(c))
        print(out / f"{f.stem}.png")
    return 0


def cmd_export(args) -> int:
    from ml.export import export_student

    paths = export_student(
        args.checkpoint, args.out, tuple(args.format.split(",")), example_hw=(args.height, args.width)
    )
    for fmt, p in paths.items():
        print(f"{fmt}: {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ml",
        description="Train, evaluate, run and export segloop's segmentation models (IGL-DT).",
        epilog="Run 'python -m ml COMMAND --help' for the options of each command.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser(
        "train",
        help="run one training round (teachers, then student)",
        description="Run one IGL-DT training round: stage 1 trains the two teachers, "
        "stage 2 the student; saves checkpoints to --out.",
        epilog=EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--images", help="folder of labeled images")
    t.add_argument("--masks", help="folder of their masks (same file names, PNG class indices)")
    t.add_argument("--list", help="list file of labeled 'image mask' lines (instead of --images/--masks)")
    t.add_argument("--unlabeled", help="folder of unlabeled images")
    t.add_argument("--unlabeled-list", help="list file of unlabeled images")
    t.add_argument("--val-images", help="folder of validation images (for mIoU and best checkpoints)")
    t.add_argument("--val-masks", help="folder of validation masks")
    t.add_argument("--val-list", help="list file of validation 'image mask' lines")
    t.add_argument("--config", help="YAML file of TrainConfig keys")
    t.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one config key (YAML value), repeatable: --set teacher_steps=100",
    )
    t.add_argument("--out", required=True, help="output folder for checkpoints (resumes if it has some)")
    t.add_argument("--resume-from", help="previous round's output folder to start the models from")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "eval",
        help="evaluate a checkpoint on labeled images -> JSON metrics",
        description="Compute mIoU, per-class IoU and pixel accuracy of a checkpoint's "
        "model on images with masks; prints JSON.",
    )
    e.add_argument("--checkpoint", required=True, help="a .pt file written by 'train'")
    e.add_argument("--images", help="folder of images")
    e.add_argument("--masks", help="folder of masks (same file names)")
    e.add_argument("--list", help="list file of 'image mask' lines (instead of folders)")
    e.add_argument("--remap", help="raw mask values to remap, e.g. '11:255' (CamVid void -> ignore)")
    e.add_argument("--long-side", type=int, help="resize images so the longer side is this")
    e.add_argument("--window", type=int, help="sliding-window size for large images")
    e.add_argument("--device", default="auto", help="auto, cpu or cuda")
    e.add_argument("--out", help="also write the JSON to this file")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser(
        "predict",
        help="write PNG masks for images",
        description="Predict a mask (PNG of class indices) for each input image.",
    )
    r.add_argument("--checkpoint", required=True, help="a .pt file written by 'train' (usually student_best.pt)")
    r.add_argument("inputs", nargs="+", help="image files or folders")
    r.add_argument("--out", required=True, help="output folder for <name>.png masks")
    r.add_argument("--window", type=int, help="sliding-window size (e.g. 512) for large images")
    r.add_argument("--overlap", type=float, default=0.25, help="sliding-window overlap fraction")
    r.add_argument("--confidence", action="store_true", help="also write <name>_confidence.png (0-255)")
    r.add_argument("--device", default="auto", help="auto, cpu or cuda")
    r.set_defaults(func=cmd_predict)

    x = sub.add_parser(
        "export",
        help="export a checkpoint to TorchScript / ONNX",
        description="Export a checkpoint's model for serving without this library.",
    )
    x.add_argument("--checkpoint", required=True, help="a .pt file written by 'train'")
    x.add_argument("--out", required=True, help="output folder")
    x.add_argument("--format", default="torchscript,onnx", help="comma-separated: torchscript, onnx")
    x.add_argument("--height", type=int, default=64, help="example input height for tracing")
    x.add_argument("--width", type=int, default=64, help="example input width for tracing")
    x.set_defaults(func=cmd_export)

    w = sub.add_parser(
        "weights",
        help="say where each network's starting weights come from",
        description="Print one JSON line per network (role, encoder, source: file, hub, "
        "package or random) for a config, without loading anything. With no "
        "--config: the app's default config (ml/train/defaults.py).",
    )
    w.add_argument("--config", help="YAML of TrainConfig keys (default: the app's default config)")
    w.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    w.set_defaults(func=cmd_weights)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # bad data / config: a message, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
