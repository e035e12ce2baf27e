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
sys.path.append(str(REPO / "bench"))
from cpu_info import cpu_model  # noqa: E402

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
            sys.executable,
            str(SCRIPT),
            "--users",
            "3",
            "--duration",
            "3",
            "--think",
            "0.1",
            "--images",
            "300",
            "--edit-pool",
            "20",
            "--workers",
            "1",
            "--threads",
            "2",
            "--login-concurrency",
            "3",
            "--db-name",
            f"segloop_bench_smoke_{os.getpid()}",
            "--redis-db",
            "12",
            "--jsonl",
            str(jsonl),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = json.loads(proc.stdout)
    lines = jsonl.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == printed
    return printed


# What each scenario's actions request (bench/webload/scenario.py), and the statuses they accept.
ANNOTATE = {
    "editor_page": {"200"},
    "mask_load": {"200"},
    "mask_save": {"200", "409"},
    "review_queue_page": {"200"},
    "review_claim": {"303"},
    "review_decide": {"302"},
}
BROWSE = {
    "grid_first_page": {"200"},
    "grid_later_page": {"200"},
    "grid_status_filter": {"200"},
    "review_next_api": {"200", "204"},
    "review_decide_api": {"200"},
}


def _check_scenario(scenario: dict, expected: dict[str, set[str]]) -> None:
    assert scenario["errors"] == 0 and scenario["error_samples"] == [], scenario["error_samples"]
    assert set(scenario["endpoints"]) <= set(expected)
    assert scenario["requests"] == sum(s["count"] for s in scenario["endpoints"].values()) > 0
    for name, stats in scenario["endpoints"].items():
        assert stats["errors"] == 0
        assert set(stats["statuses"]) <= expected[name] and sum(stats["statuses"].values()) == stats["count"]
        assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"]


def test_both_scenarios_run_every_endpoint_without_errors(report):
    annotate, browse = report["scenarios"]["annotate"], report["scenarios"]["browse"]
    _check_scenario(annotate, ANNOTATE)
    _check_scenario(browse, BROWSE)
    assert {"editor_page", "mask_load", "mask_save"} <= set(annotate["endpoints"])
    assert "review_next_api" in browse["endpoints"]
    assert (annotate["users"], browse["users"]) == (3, 3)
    # The 10 s one-user baseline makes hundreds of requests: every action's endpoint shows up.
    baseline = report["baseline"]
    _check_scenario(baseline["annotate"], ANNOTATE)
    _check_scenario(baseline["browse"], BROWSE)
    assert set(baseline["annotate"]["endpoints"]) == set(ANNOTATE)
    assert set(baseline["browse"]["endpoints"]) == set(BROWSE)
    assert (baseline["annotate"]["users"], baseline["annotate"]["think_s"]) == (1, 0.0)


def test_report_has_targets_machine_and_load(report):
    annotate, browse = report["scenarios"]["annotate"]["endpoints"], report["scenarios"]["browse"]["endpoints"]
    mask_save, review_next = annotate["mask_save"]["p95_ms"], browse["review_next_api"]["p95_ms"]
    assert report["targets"] == {
        "mask_save_p95_ms": {"target": 150.0, "value": mask_save, "met": mask_save < 150.0},
        "review_next_p95_ms": {"target": 30.0, "value": review_next, "met": review_next < 30.0},
        "errors": {"target": 0, "value": 0, "met": True},
    }
    assert report["machine"]["cpus"] == os.cpu_count() and report["machine"]["cpu"] == cpu_model()
    assert len(report["machine"]["load_average"]) == 3
    assert report["git_commit"] == _head()
    assert "load average" in report["load_start"] and "load average" in report["load_end"]
    # 300 images: 40 % in review, 20 % pseudo-labeled; 3 users logged in through the form
    assert {k: report["data"][k] for k in ("images", "review_items", "pseudo")} == {
        "images": 300,
        "review_items": 120,
        "pseudo": 60,
    }
    assert report["login"]["errors"] == 0
    assert report["login"]["endpoints"]["login_page"]["count"] == report["login"]["endpoints"]["login"]["count"] == 3
    assert report["login"]["endpoints"]["login"]["statuses"] == {"302": 3}
    assert report["celery_ping_s"] > 0 and report["server_errors"] == []


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()


def test_database_is_dropped_afterwards(report):
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=5) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()]
    assert f"segloop_bench_smoke_{os.getpid()}" not in names
