"""Starting and stopping segloop's own child processes: the Celery worker and the web server.

One implementation for every place that starts them: the launcher (`scripts/run`), the test
suite's worker fixture (tests/conftest.py) and the benchmarks' harness (bench/harness.py).
Redis has its own module (webapp.embedded_redis). Nothing here imports Django, so the
launcher can use it before settings are set up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
WORKER_QUEUES = "default,training"
WORKER_READY_MARK = "ready."  # Celery logs "<node> ready." at INFO once it consumes
WORKER_EXITED = "The Celery worker exited (code {code}):\n{log}"
WORKER_NOT_READY = "The Celery worker did not start in {timeout:.0f} s:\n{log}"
LOG_TAIL_CHARS = 4000


@dataclass
class ChildProcess:
    """A started child: its Popen, the log it writes to (None: it inherits this terminal) and
    where that log stood when it started (a log appended to by earlier runs is read from there)."""

    name: str
    popen: subprocess.Popen
    log_path: Path | None = None
    log_start: int = 0
    own_group: bool = False  # started in a session of its own: signals go to its whole group

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        """What it has logged since it started ("" when it logs to the terminal)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(self.log_start)
            return handle.read().decode(errors="replace")

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.output()[-chars:]

    def signal(self, signum: int) -> None:
        if not self.alive():
            return
        try:
            if self.own_group:
                os.killpg(self.popen.pid, signum)  # the group this process leads, started by us
            else:
                self.popen.send_signal(signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """Die as a crashed machine would: no clean shutdown."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL if it is still there after `timeout` s."""
        self.signal(signal.SIGTERM)
        self.wait_or_kill(timeout)

    def wait_or_kill(self, timeout: float) -> None:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def process_start(
    *,
    name: str,
    argv: list[str],
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    own_group: bool = False,
    cwd: Path = REPO,
) -> ChildProcess:
    """Start `argv` in the repository; stdout and stderr appended to `log_path` (None: this
    terminal's)."""
    log: IO[bytes] | None = None
    start = 0
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        start = log_path.stat().st_size if log_path.exists() else 0
        log = log_path.open("ab")
    try:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=log,
            stderr=None if log is None else subprocess.STDOUT,
            start_new_session=own_group,
        )
    finally:
        if log is not None:
            log.close()  # the child holds its own copy of the descriptor
    return ChildProcess(name=name, popen=popen, log_path=log_path, log_start=start, own_group=own_group)


def worker_argv(
    *,
    queues: str = WORKER_QUEUES,
    pool: str = "solo",
    concurrency: int = 1,
    node_name: str | None = None,
    loglevel: str = "INFO",
    isolated: bool = True,
) -> list[str]:
    """`celery -A webapp worker` with this interpreter. isolated: no gossip, mingle or
    heartbeat with other workers (tests and benchmarks: the worker is alone on its broker and
    starts faster)."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "webapp",
        "worker",
        "-Q",
        queues,
        "-P",
        pool,
        "--concurrency",
        str(concurrency),
        "-l",
        loglevel,
    ]
    if isolated:
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if node_name:
        argv += ["-n", node_name]
    return argv


def worker_start(
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    queues: str = WORKER_QUEUES,
    pool: str = "solo",
    concurrency: int = 1,
    node_name: str | None = None,
    loglevel: str = "INFO",
    isolated: bool = True,
    own_group: bool = False,
    ready_timeout: float | None = 60.0,
) -> ChildProcess:
    """Start a Celery worker; with a `log_path` and `ready_timeout`, return once it logs that it
    is ready (raise RuntimeError with its log if it exits or takes longer)."""
    worker = process_start(
        name="celery",
        argv=worker_argv(
            queues=queues, pool=pool, concurrency=concurrency, node_name=node_name, loglevel=loglevel, isolated=isolated
        ),
        env=env,
        log_path=log_path,
        own_group=own_group,
    )
    if log_path is not None and ready_timeout is not None:
        try:
            worker_wait_ready(worker, timeout=ready_timeout)
        except RuntimeError:
            worker.stop(timeout=10)
            raise
    return worker


def worker_wait_ready(worker: ChildProcess, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(WORKER_EXITED.format(code=worker.popen.returncode, log=worker.log_tail()))
        if WORKER_READY_MARK in worker.output():
            return
        time.sleep(0.2)
    raise RuntimeError(WORKER_NOT_READY.format(timeout=timeout, log=worker.log_tail()))


def processes_stop(processes: list[ChildProcess], timeout: float = 30.0) -> None:
    """SIGTERM to all first (they shut down side by side), then wait for each, newest first;
    SIGKILL for any still there after `timeout` s."""
    for process in reversed(processes):
        process.signal(signal.SIGTERM)
    for process in reversed(processes):
        process.wait_or_kill(timeout)
