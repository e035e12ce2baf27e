"""The README's run command: web server, a Celery worker and embedded Redis, stopped by Ctrl+C."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout} s. Log:\n{log.read_text(errors='replace')}")


def _login_page_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 and b"Log in to segloop" in response.read()
    except OSError:
        return False


@pytest.mark.slow
def test_launcher_serves_login_with_a_worker_and_stops_everything_on_ctrl_c(tmp_path):
    data_dir = tmp_path / "var"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "SEGLOOP_MODELS_ROOT"}
    }
    env.update(SEGLOOP_DATA_DIR=str(data_dir), SEGLOOP_ADDRESS=f"127.0.0.1:{_free_port()}")
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--no-input"], cwd=REPO, env=env, check=True, capture_output=True)
    made = subprocess.run(
        [python, "manage.py", "ensure_admin"], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )
    assert "Log in at" in made.stdout and "password" in made.stdout

    log = tmp_path / "launcher.log"
    with open(log, "wb") as out:
        launcher = subprocess.Popen(
            [python, "-m", "webapp.launcher"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(lambda: _login_page_ok(f"http://{env['SEGLOOP_ADDRESS']}/login/"), 90, "No login page", log)
        ping_env = dict(env, REDIS_URL=f"unix://{data_dir / 'redis.sock'}")

        def worker_answers() -> bool:
            ping = subprocess.run(
                [python, "-m", "celery", "-A", "webapp", "inspect", "ping", "--timeout", "2"],
                cwd=REPO,
                env=ping_env,
                capture_output=True,
                text=True,
            )
            return ping.returncode == 0 and "pong" in ping.stdout

        _wait_for(worker_answers, 90, "No Celery worker answered ping", log)
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=60)
    assert launcher.returncode == 0
    assert "segloop stopped." in log.read_text()
    assert not (data_dir / "redis.sock").exists() or not _socket_answers(data_dir / "redis.sock")


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
            return True
        except OSError:
            return False
