"""CPU inference benchmark: the student against the two teachers, in eager, TorchScript and ONNX Runtime.

For each model x runtime it starts a fresh Python process that loads one network (or the
two teachers) and measures:

* latency at batch 1: ``--warmup`` untimed runs, then ``--runs`` timed ones -> p50 / p95 /
  mean / min in milliseconds;
* throughput at ``--batch`` (default 8): images per second over ``--throughput-runs`` batches
  (0 skips it);
* peak memory: the process's peak RSS (VmHWM, reset after the imports) minus its RSS after
  the imports, so every configuration starts from a clean process and numbers do not leak
  into each other (ru_maxrss would not do: on Linux it keeps the forking parent's peak).

A timed run is what serving does with one image: forward to logits, softmax, then the
class mask and its confidence (``ml.infer.student_predict``). "teachers" runs the SU and RU
teachers on the same image and fuses their probabilities (``ml.infer.fuse_probs``), the
cost of pseudo-labelling one image. Inputs keep their native size (480x360 by default):
the networks pad to their stride multiple inside forward and crop the logits.

TorchScript and ONNX files are exported once by the parent process with ``ml.export``
(ONNX: opset 17, dynamo=False, dynamic N/H/W); ONNX Runtime runs with
ORT_ENABLE_ALL graph optimisations, ``intra_op_num_threads=--threads`` and one inter-op
thread. The ONNX Runtime child never imports torch.

Examples:
    python bench/inference.py                               # student, su, ru, teachers
    python bench/inference.py --models student --student-encoder mobilenetv3_large_100 \\
        --student-decoder 64,32,24,16,16 --json-out
    python bench/inference.py --runs 2 --size 64x48 --models student   # smoke test

Prints one JSON object; ``--json-out [PATH]`` also appends it as a line to
bench/results/inference.jsonl (or PATH).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpu_info import cpu_model  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_JSONL = REPO / "bench" / "results" / "inference.jsonl"
MODELS = ("student", "su", "ru", "teachers")
RUNTIMES = ("eager", "torchscript", "onnxruntime")
NETWORKS = {"student": ("student",), "su": ("su",), "ru": ("ru",), "teachers": ("su", "ru")}
TARGET_STUDENT_P50_MS = 60.0
TARGET_SPEEDUP = 5.0


# --------------------------------------------------------------------------- helpers


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _size(value: str) -> tuple[int, int]:
    """'480x360' (width x height) -> (height, width)."""
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 480x360, got {value!r}") from err
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {value!r}")
    return h, w


def _proc_status_mb(field: str) -> float | None:
    """A Vm* field of /proc/self/status in MiB (Linux), None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**10
    except (OSError, ValueError):
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's peak-RSS mark (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _current_rss_mb() -> float:
    rss = _proc_status_mb("VmRSS")
    return rss if rss is not None else _peak_rss_mb()


def _peak_rss_mb() -> float:
    """Peak RSS of this process's own address space.

    VmHWM belongs to the address space, so it starts afresh at exec; ``ru_maxrss`` is the
    fallback, but on Linux it keeps the peak of the parent that forked us (before exec).
    """
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _time_runs(fn, warmup: int, runs: int) -> tuple[list[float], list[float]]:
    """Call fn() warmup times, then runs times; per-run (wall ms, process CPU ms).

    The CPU time sums all threads of this process; on a machine shared with other work it
    moves less than the wall time, so it helps to read a noisy measurement.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# --------------------------------------------------------------------------- child process


def _child_main(config: dict) -> dict:
    """Measure one model x runtime in this (fresh) process; returns the result dict."""
    threads = config["threads"]
    runtime = config["runtime"]
    h, w = config["hw"]
    import numpy as np

    if runtime == "onnxruntime":
        import onnxruntime as ort
    else:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # already set by an earlier parallel region
    peak_reset = _reset_peak_rss()  # so the peak counts from here, not from the imports
    rss_before = _current_rss_mb()
    peak_before = rss_before if peak_reset else _peak_rss_mb()

    networks = config["networks"]  # list of {"name", "spec", "path"}
    rng = np.random.default_rng(0)

    def make_input(n: int):
        return rng.standard_normal((n, 3, h, w), dtype=np.float32)

    if runtime == "onnxruntime":
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sessions = [ort.InferenceSession(net["path"], options, providers=["CPUExecutionProvider"]) for net in networks]

        def softmax(z):
            z = z - z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            return z

        def predict(x):
            probs = [softmax(s.run(["logits"], {"image": x})[0]) for s in sessions]
            if len(probs) == 1:
                p = probs[0]
                return p.argmax(axis=1), p.max(axis=1)
            su, ru = probs  # as ml.infer.fuse_probs
            p = (su + ru) / 2
            return p.argmax(axis=1), p.max(axis=1), su.argmax(axis=1) != ru.argmax(axis=1)

        to_input = make_input
    else:
        from ml.checkpoints import load_model
        from ml.infer import fuse_probs
        from ml.models import ModelSpec, build_segmenter

        channels_last = config["channels_last"]
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        models = []
        for net in networks:
            if runtime == "torchscript":
                model = torch.jit.load(net["path"], map_location="cpu")
            elif net.get("checkpoint"):
                model, _ = load_model(net["checkpoint"])
            else:
                torch.manual_seed(0)
                model = build_segmenter(ModelSpec.from_dict(net["spec"]))
            model = model.eval()
            if runtime == "eager" and channels_last:
                model = model.to(memory_format=memory_format)
            models.append(model)

        def predict(x):
            with torch.inference_mode():
                probs = [m(x).float().softmax(dim=1) for m in models]
                if len(probs) == 1:
                    confidence, pred = probs[0].max(dim=1)
                    return pred, confidence
                fused = fuse_probs(*probs)
                return fused.pred, fused.confidence, fused.disagreement_map

        def to_input(n: int):
            return torch.from_numpy(make_input(n)).contiguous(memory_format=memory_format)

    x1 = to_input(1)
    times, cpu_times = _time_runs(lambda: predict(x1), config["warmup"], config["runs"])
    result = {
        "latency_ms": {
            "p50": round(statistics.median(times), 2),
            "p95": round(_percentile(times, 95), 2),
            "mean": round(statistics.fmean(times), 2),
            "min": round(min(times), 2),
            "runs": len(times),
            "cpu_p50": round(statistics.median(cpu_times), 2),  # process CPU ms, all threads
        },
    }
    batch, batch_runs = config["batch"], config["throughput_runs"]
    if batch > 0 and batch_runs > 0:
        xb = to_input(batch)
        predict(xb)  # warm-up at the new shape
        batch_times, _ = _time_runs(lambda: predict(xb), 0, batch_runs)
        result["throughput"] = {
            "batch": batch,
            "runs": batch_runs,
            "images_per_s": round(batch * batch_runs / (sum(batch_times) / 1000), 3),
            "ms_per_batch_p50": round(statistics.median(batch_times), 2),
        }
    peak = _peak_rss_mb()
    result["memory_mb"] = {
        "rss_after_imports": round(rss_before, 1),
        "peak_rss": round(peak, 1),
        # Model/session load plus the runs; without a peak reset, the import-time peak
        # may exceed the RSS after imports, so count from the larger.
        "peak_delta": round(max(0.0, peak - max(rss_before, peak_before)), 1),
        "peak_reset": peak_reset,
    }
    return result


def _run_child(config: dict, timeout: float) -> dict:
    env = dict(os.environ)
    threads = str(config["threads"])
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
    env.setdefault("HF_HUB_OFFLINE", "1")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(REPO),
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"child exited with {proc.returncode}: " + " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- parent


def _specs(args) -> dict:
    """ModelSpec per network ("student", "su", "ru"), and the checkpoint it comes from if any."""
    from ml.checkpoints import load_checkpoint
    from ml.models import ModelSpec

    specs = {
        "su": ModelSpec("su", args.su_encoder, args.num_classes),
        "ru": ModelSpec("ru", args.ru_encoder, args.num_classes),
        "student": ModelSpec(
            "student",
            args.student_encoder,
            args.num_classes,
            decoder_channels=tuple(int(c) for c in _csv(args.student_decoder)),
            output_stride=args.student_output_stride,
        ),
    }
    checkpoints = {"student": args.checkpoint, "su": args.su_checkpoint, "ru": args.ru_checkpoint}
    for name, path in checkpoints.items():
        if path:
            specs[name] = ModelSpec.from_dict(load_checkpoint(path)["spec"])
    return {name: (spec, checkpoints[name]) for name, spec in specs.items()}


def _export_all(needed: set[str], runtimes: list[str], specs: dict, hw, channels_last: bool, out_dir: Path):
    """Build each needed network once; export TorchScript / ONNX files. Returns info per network."""
    import torch

    from ml.checkpoints import load_model
    from ml.export import export_onnx, export_torchscript
    from ml.models import build_segmenter

    info = {}
    for name in sorted(needed):
        spec, checkpoint = specs[name]
        if checkpoint:
            model, _ = load_model(checkpoint)
        else:
            torch.manual_seed(0)
            model = build_segmenter(spec)
        model.eval()
        entry = {
            "spec": spec.to_dict(),
            "checkpoint": checkpoint,
            "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
            "paths": {},
            "export_errors": {},
        }
        for runtime, (exporter, suffix) in {
            "torchscript": (export_torchscript, ".ts"),
            "onnxruntime": (export_onnx, ".onnx"),
        }.items():
            if runtime not in runtimes:
                continue
            target = model
            if runtime == "torchscript" and channels_last:
                target = model.to(memory_format=torch.channels_last)
            start = time.perf_counter()
            try:
                path = exporter(target, out_dir / f"{name}{suffix}", example_hw=hw)
            except Exception as err:  # noqa: BLE001 - reported per configuration
                entry["export_errors"][runtime] = f"{type(err).__name__}: {err}"[:500]
                continue
            entry["paths"][runtime] = str(path)
            entry.setdefault("export_s", {})[runtime] = round(time.perf_counter() - start, 1)
        info[name] = entry
    return info


def _summary(results: list[dict]) -> dict:
    """Student vs fused teachers, per runtime and best against best, and the issue's targets."""

    def p50(model: str, runtime: str) -> float | None:
        for r in results:
            if r["model"] == model and r["runtime"] == runtime and "latency_ms" in r:
                return r["latency_ms"]["p50"]
        return None

    summary: dict = {"target_student_p50_ms": TARGET_STUDENT_P50_MS, "target_speedup": TARGET_SPEEDUP}
    best = {}
    for model in ("student", "teachers"):
        candidates = [(p50(model, rt), rt) for rt in RUNTIMES if p50(model, rt) is not None]
        if candidates:
            value, runtime = min(candidates)
            best[model] = value
            summary[f"{model}_best"] = {"runtime": runtime, "p50_ms": value}
    if "student" in best:
        summary["student_meets_p50_target"] = best["student"] < TARGET_STUDENT_P50_MS
    speedups = {}
    for rt in RUNTIMES:
        s, t = p50("student", rt), p50("teachers", rt)
        if s and t:
            speedups[rt] = round(t / s, 2)
    if speedups:
        summary["speedup_teachers_over_student"] = speedups
    if "student" in best and "teachers" in best:
        summary["speedup_best_vs_best"] = round(best["teachers"] / best["student"], 2)
        summary["student_meets_speedup_target"] = summary["speedup_best_vs_best"] >= TARGET_SPEEDUP
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="CPU inference benchmark: student vs SU/RU teachers in eager, TorchScript, ONNX Runtime.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--models",
        type=_csv,
        default=list(MODELS),
        help=f"comma list of {', '.join(MODELS)} (teachers = su + ru fused)",
    )
    parser.add_argument("--runtimes", type=_csv, default=list(RUNTIMES), help=f"comma list of {', '.join(RUNTIMES)}")
    parser.add_argument("--size", type=_size, default=(360, 480), help="input WIDTHxHEIGHT")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (torch and onnxruntime)")
    parser.add_argument("--runs", type=int, default=20, help="timed batch-1 runs")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batch-1 runs first")
    parser.add_argument("--batch", type=int, default=8, help="throughput batch size (0 skips)")
    parser.add_argument("--throughput-runs", type=int, default=3, help="timed batches for throughput (0 skips)")
    parser.add_argument("--num-classes", type=int, default=11, help="output classes (CamVid: 11)")
    parser.add_argument("--student-encoder", default="resnet18", help="timm encoder of the student")
    parser.add_argument(
        "--student-decoder", default="", help="student U-Net widths, e.g. 64,32,24,16,16 (empty = ml default)"
    )
    parser.add_argument(
        "--student-output-stride",
        type=int,
        default=1,
        help="stride where the student's decoder stops (logits upsampled from there)",
    )
    parser.add_argument("--su-encoder", default="swin_tiny_patch4_window7_224")
    parser.add_argument("--ru-encoder", default="resnet34")
    parser.add_argument("--checkpoint", help="student checkpoint (its spec overrides --student-*)")
    parser.add_argument("--su-checkpoint", help="SU teacher checkpoint")
    parser.add_argument("--ru-checkpoint", help="RU teacher checkpoint")
    parser.add_argument("--channels-last", action="store_true", help="eager/TorchScript in channels-last memory format")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    parser.add_argument(
        "--json-out",
        nargs="?",
        const=str(DEFAULT_JSONL),
        default=None,
        help=f"append the JSON as one line to this file (default {DEFAULT_JSONL.relative_to(REPO)})",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child_main(json.loads(args.child))))
        return 0
    bad = [m for m in args.models if m not in MODELS] + [r for r in args.runtimes if r not in RUNTIMES]
    if bad:
        parser.error(f"unknown models/runtimes {bad}; models: {list(MODELS)}, runtimes: {list(RUNTIMES)}")
    if args.runs < 1 or args.threads < 1:
        parser.error("--runs and --threads must be >= 1")

    started = time.time()
    load_before = _loadavg()
    specs = _specs(args)
    needed = {net for m in args.models for net in NETWORKS[m]}
    results = []
    with tempfile.TemporaryDirectory(prefix="segloop-bench-") as tmp:
        nets = _export_all(needed, args.runtimes, specs, args.size, args.channels_last, Path(tmp))
        for model in args.models:
            for runtime in args.runtimes:
                row = {
                    "model": model,
                    "runtime": runtime,
                    "networks": {n: {k: nets[n][k] for k in ("spec", "params_m")} for n in NETWORKS[model]},
                    "params_m": round(sum(nets[n]["params_m"] for n in NETWORKS[model]), 3),
                }
                errors = [
                    nets[n]["export_errors"][runtime] for n in NETWORKS[model] if runtime in nets[n]["export_errors"]
                ]
                if errors:
                    row["error"] = "export failed: " + "; ".join(errors)
                    results.append(row)
                    continue
                config = {
                    "runtime": runtime,
                    "hw": list(args.size),
                    "threads": args.threads,
                    "warmup": args.warmup,
                    "runs": args.runs,
                    "batch": args.batch,
                    "throughput_runs": args.throughput_runs,
                    "channels_last": args.channels_last,
                    "networks": [
                        {
                            "name": n,
                            "spec": nets[n]["spec"],
                            "checkpoint": nets[n]["checkpoint"],
                            "path": nets[n]["paths"].get(runtime),
                        }
                        for n in NETWORKS[model]
                    ],
                }
                try:
                    row.update(_run_child(config, args.timeout))
                except subprocess.TimeoutExpired:
                    row["error"] = f"timed out after {args.timeout} s"
                print(
                    f"[bench] {model:8s} {runtime:12s} {row.get('latency_ms', {}).get('p50', row.get('error'))}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(row)

    import onnxruntime
    import timm
    import torch

    report = {
        "bench": "inference",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/inference.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": _loadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "timm": timm.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "config": {
            "size_wh": [args.size[1], args.size[0]],
            "threads": args.threads,
            "warmup": args.warmup,
            "runs": args.runs,
            "batch": args.batch,
            "throughput_runs": args.throughput_runs,
            "channels_last": args.channels_last,
            "models": args.models,
            "runtimes": args.runtimes,
        },
        "results": results,
        "summary": _summary(results),
        "elapsed_s": round(time.time() - started, 1),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        path = Path(args.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(report) + "\n")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
