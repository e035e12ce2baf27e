"""The benchmarks' running app: Redis (embedded or external), a real Celery worker and gunicorn,
started and stopped here; the worker and process handling itself is webapp.processes, the one
the launcher and the test suite use.

`AppEnvironment` is the app of one state folder (its own SQLite database and media, a broker,
a worker started on demand), as the HITL simulation, bench/app_round.py and
bench/seed_suggestions.py run it. bench/web_load.py uses the parts (`gunicorn_start`,
`worker_start`) against PostgreSQL and an external Redis.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import django
import requests
from django.apps import apps
from django.core.management import call_command
from django.db import connections

from webapp.embedded_redis import start_embedded_redis, stop_embedded_redis
from webapp.processes import ChildProcess, process_start, worker_start

REPO = Path(__file__).resolve().parent.parent
WORKER_READY_S = 180.0  # a loaded machine imports torch and timm slowly
GUNICORN_EXITED = "gunicorn exited ({code}):\n{log}"
GUNICORN_NOT_READY = "gunicorn did not answer /login/ in {timeout:.0f} s:\n{log}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Broker:
    """The Redis a run talks to: embedded (this object started it) or external (REDIS_URL)."""

    url: str
    process: subprocess.Popen | None = None

    def stop(self) -> None:
        if self.process is not None:
            stop_embedded_redis(self.process)
            self.process = None


def broker_start(*, state_dir: Path, external_url: str | None) -> Broker:
    """The external Redis at `external_url`, or an embedded one on a socket in `state_dir`."""
    if external_url:
        return Broker(url=external_url)
    socket_path = state_dir / "redis.sock"
    return Broker(url=f"unix://{socket_path}", process=start_embedded_redis(socket_path, state_dir / "redis"))


def gunicorn_start(
    *,
    env: Mapping[str, str],
    port: int,
    workers: int,
    threads: int,
    keep_alive: int,
    log_path: Path,
    timeout: float = 60.0,
) -> ChildProcess:
    """`gunicorn webapp.wsgi` (gthread) on 127.0.0.1:`port`, in a process group of its own;
    returns once /login/ answers 200 through the emulated TLS proxy (X-Forwarded-Proto)."""
    server = process_start(
        name="gunicorn",
        argv=[
            str(Path(sys.executable).parent / "gunicorn"),
            "webapp.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            str(keep_alive),
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ],
        env=env,
        log_path=log_path,
        own_group=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(GUNICORN_EXITED.format(code=server.popen.returncode, log=server.log_tail()))
        try:
            if (
                requests.get(
                    f"http://127.0.0.1:{port}/login/", timeout=2, headers={"X-Forwarded-Proto": "https"}
                ).status_code
                == 200
            ):
                return server
        except requests.RequestException:
            pass
        time.sleep(0.3)
    server.stop(timeout=10)
    raise RuntimeError(GUNICORN_NOT_READY.format(timeout=timeout, log=server.log_tail()))


@dataclass
class AppEnvironment:
    """Django on a state folder's own SQLite database and media, a broker, and a real worker
    (`-Q default,training -P solo`, started by the first round that needs it)."""

    state_dir: Path
    threads: int
    device: str = "cpu"
    broker: Broker | None = None
    worker: ChildProcess | None = None
    worker_log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.worker_log = self.state_dir / "worker.log"

    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": f"sqlite:///{self.state_dir / 'db.sqlite3'}",
            "MEDIA_ROOT": str(self.state_dir / "media"),
            "SEGLOOP_MODELS_ROOT": str(self.state_dir / "media" / "models"),
            "SEGLOOP_DATA_DIR": str(self.state_dir),
            "SEGLOOP_FILE_CACHE": str(self.state_dir / "file-cache"),
            "SEGLOOP_TRAIN_DEVICE": self.device,
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": str(self.threads),
            "MKL_NUM_THREADS": str(self.threads),
        }

    def start(self) -> None:
        """The environment into os.environ (Django reads it at setup), the broker, migrations."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update(self.env())
        self.broker = broker_start(state_dir=self.state_dir, external_url=os.environ.get("REDIS_URL"))
        os.environ["REDIS_URL"] = self.broker.url
        django.setup()
        import torch  # here, not at the top: bench/web_load.py uses this module and never needs torch

        torch.set_num_threads(self.threads)
        call_command("migrate", verbosity=0)

    def start_worker(self) -> None:
        if self.worker is None:
            self.worker = worker_start(
                env={**os.environ, **self.env()},
                log_path=self.worker_log,
                node_name=f"hitl-{os.getpid()}@%h",
                ready_timeout=WORKER_READY_S,
            )

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.alive()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=60)
            self.worker = None
        if apps.ready:  # a start that failed before django.setup() opened no connections
            connections.close_all()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
