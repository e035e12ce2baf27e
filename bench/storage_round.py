"""Object storage benchmark (issue 15): a training round's wall time with media and checkpoints
in an S3-compatible bucket against the same round on the local filesystem.

One call measures one storage (``--storage fs`` or ``s3``; Django is set up once per process):
a fresh SQLite project of CamVid train images (``--labels`` of them with human masks, the rest
unlabeled), then ``--rounds`` rounds of the app's default networks with fixed steps (no time
budget, so both storages do the same work), each run by a real Celery worker and pseudo-labelling
every unlabeled image. With ``s3`` the bucket is on moto's standalone server, started here on
127.0.0.1; the worker reads images and writes checkpoints through the storage API and keeps its
content-hash cache (SEGLOOP_FILE_CACHE) between rounds, so the second round runs with the cache
warm, as a worker that trained the project before does.

Target: with object storage, a round's wall time (cache warm) within 10 % of the filesystem's.

    python bench/storage_round.py --storage fs --json-out
    python bench/storage_round.py --storage s3 --json-out
    python bench/storage_round.py --table
    python bench/storage_round.py --storage s3 --images 12 --labels 4 --steps 2,4 --rounds 1   # smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
for path in (BENCH.parent, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hitl_simulation as hitl  # noqa: E402
from cpu_info import cpu_model  # noqa: E402
from report import git_commit, jsonl_append, uptime_line  # noqa: E402

DEFAULT_RESULTS = BENCH / "results" / "storage_round.jsonl"
WITHIN = 0.10  # the S3 round at most 10 % slower than the filesystem's
KEY, SECRET, REGION = "segloop-bench-key", "segloop-bench-secret", "us-east-1"


def s3_start() -> tuple[object, dict[str, str]]:
    """moto's S3 server on a free loopback port, a new bucket, and the app's settings for it."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint, bucket = f"http://127.0.0.1:{port}", f"segloop-bench-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION
    ).create_bucket(Bucket=bucket)
    return server, {
        "SEGLOOP_S3_BUCKET": bucket,
        "SEGLOOP_S3_ENDPOINT_URL": endpoint,
        "SEGLOOP_S3_REGION": REGION,
        "SEGLOOP_S3_ADDRESSING_STYLE": "path",
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }


def run(args) -> dict:
    from ml.train import APP_DEFAULT_CONFIG

    teacher_steps, student_steps = (int(n) for n in args.steps.split(","))
    state_dir = Path(tempfile.mkdtemp(prefix=f"segloop-storage-{args.storage}-"))
    server = None
    if args.storage == "s3":
        server, s3_env = s3_start()
        os.environ.update(s3_env)  # this process's settings, and the worker's environment
    env = hitl.Environment(state_dir, threads=args.threads)
    record: dict = {
        "bench": "storage_round",
        "storage": args.storage,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "threads": args.threads,
        "images": args.images,
        "labels": args.labels,
        "steps": [teacher_steps, student_steps],
        "load_before": uptime_line(),
        "git_commit": git_commit(),
        "other_load": args.other_load,
    }
    try:
        env.start()
        from django.conf import settings

        record["media_storage"] = settings.STORAGES["default"]["BACKEND"]
        source = argparse.Namespace(
            data=args.data, train_limit=args.images, val_limit=None, review_threshold=0.9, profile="cpu"
        )
        train_config = {
            **APP_DEFAULT_CONFIG,
            "seed": 0,
            "max_minutes": None,  # fixed steps: the same work on both storages
            "teacher_steps": teacher_steps,
            "student_steps": student_steps,
        }
        state = hitl.setup_project(source, train_config, with_masks=False, validation_share=0.0)
        hitl.seed_labels(state, args.labels, 0)
        record["rounds"] = []
        for n in range(1, args.rounds + 1):
            result = hitl.train_and_wait(env, state, args.timeout)
            record["rounds"].append({"round": n, "wall_s": result["run_wall_s"], "timings": result["timings"]})
            print(f"round {n} ({args.storage}): {result['run_wall_s']} s", flush=True)
        if args.storage == "s3":
            local = list((state_dir / "media").rglob("*.png")) if (state_dir / "media").exists() else []
            record["local_media_files"] = len(local)  # the bucket holds them; nothing on local disk
    finally:
        env.stop()
        if server is not None:
            server.stop()
        record["load_after"] = uptime_line()
        shutil.rmtree(state_dir, ignore_errors=True)
    return record


def table(results: Path) -> str:
    """The latest run of each storage, round by round, and the target on the last round."""
    latest: dict[str, dict] = {}
    for line in results.read_text().splitlines() if results.exists() else []:
        r = json.loads(line)
        latest[r["storage"]] = r
    lines = ["| storage | cpu | round | wall s |", "|---|---|---|---|"]
    for storage in ("fs", "s3"):
        if storage in latest:
            r = latest[storage]
            lines += [f"| {storage} | {r['cpu']} | {x['round']} | {x['wall_s']:.1f} |" for x in r["rounds"]]
    if {"fs", "s3"} <= set(latest):
        fs, s3 = latest["fs"]["rounds"][-1]["wall_s"], latest["s3"]["rounds"][-1]["wall_s"]
        excess = s3 / fs - 1
        verdict = "met" if excess <= WITHIN else "missed"
        lines += [
            "",
            f"S3 round (cache warm) against the filesystem: {100 * excess:+.1f} % ({verdict}; target ≤ +10 %)",
        ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--storage", choices=("fs", "s3"))
    p.add_argument("--table", action="store_true", help="print the latest fs and s3 runs side by side")
    p.add_argument("--data", type=Path, default=hitl.DEFAULT_DATA)
    p.add_argument("--images", type=int, default=367)
    p.add_argument("--labels", type=int, default=45)
    p.add_argument("--steps", default="20,200", help="teacher,student steps per round")
    p.add_argument("--rounds", type=int, default=2, help="the last one is the figure (worker cache warm)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--other-load", default="none", help="what else ran on the machine, for the record")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--json-out", action="store_true", help="append the result to --results")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.storage:
        record = run(args)
        if args.json_out:
            jsonl_append(args.results, record)
        print(json.dumps(record, indent=1), flush=True)
    if args.table:
        print(table(args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
