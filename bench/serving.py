"""Serving benchmark (issue 15): the predict endpoint under gunicorn against the model alone,
and bulk prediction's images per second, in fp32 and int8.

Everything goes through the app, as bench/app_round.py does: a fresh SQLite project of
``--images`` CamVid train images at 480x360, all with their human masks (``--validation-share``
of them held out for validation), one round of the app's default config trained by a real
Celery worker in ``--minutes``, then:

1. the int8 check, by the worker (``serving_precision_set`` to int8: quantized on the
   project's images, compared with fp32 on its validation images);
2. the model alone, in this process: the served student's forward to logits on one 480x360
   CamVid val image at batch 1 (fp32 PyTorch, and the int8 ONNX model), and the app's whole
   in-process prediction (``predict_pixels``: resize, forward, softmax, class mask, scores);
3. ``POST /api/projects/<id>/predict/`` under gunicorn (DEBUG off, 1 worker, ``--threads``
   torch threads), one client sending ``--requests`` CamVid val PNGs one after another with a
   token, fp32 then int8: p50 / p95 of the whole request as the client sees it;
4. "predict every image of the project" (``bulk_prediction_start``) run by the worker, int8
   then fp32: images per second from the job's own started/finished times.

Targets: the endpoint's p50 within 2x of the model's own time; int8 p50 <= 15 ms; bulk
prediction >= 30 images/s in int8, on 2 cores at 480x360.

    python bench/serving.py --json-out          # the figure (about 10 minutes on 2 cores)
    python bench/serving.py --images 12 --minutes 0.5 --requests 3   # smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
for path in (BENCH.parent, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hitl_simulation as hitl  # noqa: E402
import requests  # noqa: E402
from cpu_info import cpu_model  # noqa: E402
from harness import free_port, gunicorn_start  # noqa: E402
from report import git_commit, jsonl_append, uptime_line  # noqa: E402

DEFAULT_RESULTS = BENCH / "results" / "serving.jsonl"
POLL_S = 0.5
ENDPOINT_WITHIN = 2.0  # the endpoint's p50 at most this many times the model's own
INT8_P50_MS = 15.0
BULK_IMAGES_PER_S = 30.0
CHECK_DONE = ("passed", "refused", "failed")
JOB_DONE = ("succeeded", "failed")


def p50_p95(values_ms: list[float]) -> dict:
    ordered = sorted(values_ms)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2), "n": len(ordered)}


def timed(fn, warmup: int, runs: int) -> dict:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return p50_p95(samples)


def val_pngs(data: Path, count: int) -> list[bytes]:
    """CamVid val images as the PNG bytes a client uploads (480x360, as stored)."""
    files = sorted((data / "val").glob("*.png"))[:count]
    return [f.read_bytes() for f in files]


def wait_for(read, done: tuple[str, ...], timeout_s: float, what: str):
    """Poll ``read()`` (a row) until its status is in ``done``."""
    started = time.monotonic()
    while True:
        row = read()
        if row.status in done:
            return row
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"{what} still {row.status} after {timeout_s:.0f} s")
        time.sleep(POLL_S)


def int8_check(project, timeout_s: float) -> dict:
    from webapp.serving.models import Int8Check
    from webapp.serving.services import ServingRefused, serving_precision_set
    from webapp.training.selectors import model_version_active

    version = model_version_active(project=project)
    try:
        print(serving_precision_set(project=project, precision="int8"), flush=True)
    except ServingRefused as refusal:  # refused at once; the row says why
        print(refusal, flush=True)
    check = wait_for(lambda: Int8Check.objects.get(version=version), CHECK_DONE, timeout_s, "the int8 check")
    return {
        "status": check.status,
        "message": check.message,
        "fp32_miou": check.fp32_miou,
        "int8_miou": check.int8_miou,
        "validation_images": check.num_images,
    }


def model_alone(project, png: bytes, warmup: int, runs: int) -> dict:
    """The served student's own time on one image, fp32 and int8, and the app's in-process prediction."""
    import torch

    from webapp.images.validation import decode_image_rgb
    from webapp.training.prediction import model_input, predict_pixels, served_model

    loaded = served_model(project=project)
    pixels = decode_image_rgb(name="val.png", data=png)
    x = model_input(loaded, pixels)
    out = {"input": list(x.shape)}
    with torch.inference_mode():
        out["fp32_forward"] = timed(lambda: loaded.model(x), warmup, runs)
        if loaded.int8 is not None:
            out["int8_forward"] = timed(lambda: loaded.int8(x), warmup, runs)
    fp32_only = dataclasses.replace(loaded, int8=None)
    out["fp32_predict_pixels"] = timed(lambda: predict_pixels(fp32_only, pixels), warmup, runs)
    if loaded.int8 is not None:
        out["int8_predict_pixels"] = timed(lambda: predict_pixels(loaded, pixels), warmup, runs)
    return out


def endpoint(base_url: str, project_id: int, token: str, pngs: list[bytes], warmup: int) -> dict:
    session = requests.Session()
    session.headers.update({"Authorization": f"Token {token}", "X-Forwarded-Proto": "https"})
    url = f"{base_url}/api/projects/{project_id}/predict/"
    precisions, samples = set(), []
    for n, png in enumerate([*pngs[:warmup], *pngs]):
        started = time.perf_counter()
        response = session.post(url, files={"file": ("val.png", png, "image/png")}, timeout=60)
        response.content  # noqa: B018 - the whole body is part of the latency
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"predict answered {response.status_code}: {response.text[:300]}")
        precisions.add(response.headers["X-Model-Precision"])
        if n >= warmup:
            samples.append(ms)
    return {**p50_p95(samples), "precision": sorted(precisions)}


def bulk(project, user, timeout_s: float) -> dict:
    from webapp.serving.models import BulkPrediction
    from webapp.serving.services import bulk_prediction_start

    job = bulk_prediction_start(project=project, user=user)
    job = wait_for(lambda: BulkPrediction.objects.get(pk=job.pk), JOB_DONE, timeout_s, "the bulk prediction")
    seconds = (job.finished_at - job.started_at).total_seconds()
    return {
        "status": job.status,
        "precision": job.precision,
        "images": job.done,
        "skipped": job.skipped,
        "seconds": round(seconds, 2),
        "images_per_s": round(job.done / seconds, 2) if seconds else None,
    }


def run(args) -> dict:
    from ml.train import APP_DEFAULT_CONFIG

    state_dir = Path(tempfile.mkdtemp(prefix="segloop-serving-"))
    env = hitl.Environment(state_dir, threads=args.threads)
    server = None
    record: dict = {
        "bench": "serving",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "threads": args.threads,
        "images": args.images,
        "minutes": args.minutes,
        "load_before": uptime_line(),
        "git_commit": git_commit(),
    }
    try:
        env.start()
        from rest_framework.authtoken.models import Token

        from webapp.serving.services import serving_precision_set

        source = argparse.Namespace(
            data=args.data, train_limit=args.images, val_limit=None, review_threshold=0.9, profile="cpu"
        )
        train_config = {**APP_DEFAULT_CONFIG, "seed": 0, "max_minutes": args.minutes}
        state = hitl.setup_project(source, train_config, with_masks=True, validation_share=args.validation_share)
        project, admin, _ = hitl.actors(state)
        record["round"] = hitl.train_and_wait(env, state, args.timeout)
        record["int8_check"] = int8_check(project, args.timeout)
        pngs = val_pngs(Path(args.data), args.requests)
        record["model"] = model_alone(project, pngs[0], args.warmup, args.runs)
        server_env = {
            **os.environ,
            **env.env(),
            "DEBUG": "false",
            "SECRET_KEY": "serving-bench-" + os.urandom(16).hex(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }
        port = free_port()
        server = gunicorn_start(
            env=server_env, port=port, workers=1, threads=1, keep_alive=5, log_path=state_dir / "gunicorn.log"
        )
        token = Token.objects.get_or_create(user=admin)[0].key
        base_url = f"http://127.0.0.1:{port}"
        record["endpoint"] = {}
        precisions = ("fp32", "int8") if record["int8_check"]["status"] == "passed" else ("fp32",)
        for precision in precisions:
            serving_precision_set(project=project, precision=precision)
            record["endpoint"][precision] = endpoint(base_url, project.pk, token, pngs, args.warmup)
            print(f"endpoint {precision}: {record['endpoint'][precision]}", flush=True)
        server.stop(timeout=10)
        server = None
        record["bulk"] = {}
        for precision in reversed(precisions):
            serving_precision_set(project=project, precision=precision)
            record["bulk"][precision] = bulk(project, admin, args.timeout)
            print(f"bulk {precision}: {record['bulk'][precision]}", flush=True)
    finally:
        if server is not None:
            server.stop(timeout=10)
        env.stop()
        record["load_after"] = uptime_line()
        if not args.keep:
            shutil.rmtree(state_dir, ignore_errors=True)
    record["targets"] = targets(record)
    return record


def targets(record: dict) -> dict:
    model, served = record["model"], record["endpoint"]
    out = {}
    for precision in ("fp32", "int8"):
        forward = model.get(f"{precision}_forward")
        if forward and precision in served:
            ratio = served[precision]["p50_ms"] / forward["p50_ms"]
            out[f"endpoint_{precision}_x_model"] = {"value": round(ratio, 2), "met": ratio <= ENDPOINT_WITHIN}
    if "int8_forward" in model:
        int8_ms = model["int8_forward"]["p50_ms"]
        out["int8_p50_ms"] = {"value": int8_ms, "met": int8_ms <= INT8_P50_MS}
    rate = record.get("bulk", {}).get("int8", {}).get("images_per_s")
    if rate is not None:
        out["bulk_int8_images_per_s"] = {"value": rate, "met": rate >= BULK_IMAGES_PER_S}
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=hitl.DEFAULT_DATA)
    p.add_argument("--images", type=int, default=367, help="CamVid train images in the project (all of them)")
    p.add_argument("--validation-share", type=float, default=0.1)
    p.add_argument("--minutes", type=float, default=4.0, help="the round's time budget (max_minutes)")
    p.add_argument("--threads", type=int, default=2, help="torch / ONNX Runtime threads everywhere")
    p.add_argument("--requests", type=int, default=50, help="timed predict requests per precision")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--runs", type=int, default=50, help="timed forwards of the model alone")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--keep", action="store_true", help="keep the state folder")
    p.add_argument("--json-out", nargs="?", const=str(DEFAULT_RESULTS), help="append the result to this JSONL")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    record = run(args)
    if args.json_out:
        jsonl_append(Path(args.json_out), record)
    print(json.dumps(record, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
