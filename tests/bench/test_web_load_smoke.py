"""bench/web_load.py runs end to end at a tiny size (3 users, 300 images, 2 x 3 s) with no errors.

Needs the PostgreSQL server at 127.0.0.1:5432 (trust auth, user postgres) and Redis at
127.0.0.1:6379, as production does; skipped when either is unreachable.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "web_load.py"

pytestmark = pytest.mark.slow  # migrations, gunicorn and a Celery worker: about 20 s on an idle machine


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if not _reachable(5432):
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    if not _reachable(6379):
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    jsonl = tmp_path_factory.mktemp("bench") / "web_load.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    proc = subprocess.run(
        [
            sys.executable, str(SCRIPT),
            "--users", "3", "--duration", "3", "--think", "0.1", "--images", "300", "--edit-pool", "20",
            "--workers", "1", "--threads", "2", "--login-concurrency", "3",
            "--db-name", f"segloop_bench_smoke_{os.getpid()}", "--redis-db", "12", "--jsonl", str(jsonl),
        ],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = json.loads(proc.stdout)
    lines = jsonl.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == printed
    return printed


def test_both_scenarios_run_every_endpoint_without_errors(report):
    annotate = report["scenarios"]["annotate"]["endpoints"]
    browse = report["scenarios"]["browse"]["endpoints"]
    assert {"editor_page", "mask_load", "mask_save"} <= set(annotate)
    assert "review_next_api" in browse
    assert {"grid_first_page", "grid_later_page", "grid_status_filter"} & set(browse)
    for scenario in report["scenarios"].values():
        assert scenario["errors"] == 0, scenario["error_samples"]
        for stats in scenario["endpoints"].values():
            assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"]


def test_report_has_targets_machine_and_load(report):
    assert set(report["targets"]) >= {"mask_save_p95_ms", "review_next_p95_ms", "errors"}
    assert report["targets"]["errors"]["met"] is True
    assert report["machine"]["cpus"] >= 1
    assert "load average" in report["load_start"]
    assert report["data"]["images"] == 300


def test_database_is_dropped_afterwards(report):
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=5) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()]
    assert f"segloop_bench_smoke_{os.getpid()}" not in names
