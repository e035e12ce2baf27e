"""The command line of bench/web_load.py: servers up, data seeded, users logged in, the
scenarios played, the result printed, appended and (--write-docs) written into the docs."""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
import time
from types import FrameType

from django.core.management import call_command
from django.db import connections
from report import git_commit, jsonl_append, machine_info, uptime_line  # bench/ is on sys.path

from .client import login_all
from .config import parse_args
from .data import explain, query_profile, seed
from .progress import log
from .scenario import Scenario
from .services import Services
from .summary import targets, write_docs


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so that `finally` stops the servers


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    services = Services(config)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    result: dict = {
        "bench": "web_load",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/web_load.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "git_commit": git_commit(),
        "config": config.as_record(),
        "load_start": uptime_line(),
    }
    try:
        services.create_database()
        services.claim_redis_db()
        services.django_setup()
        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        log(f"migrated in {time.perf_counter() - started:.1f} s")
        services.media_files()
        data = seed(config)
        if config.explain:
            result["explain"] = explain(data)
            print(json.dumps(result["explain"], indent=1), file=sys.stderr)
        if config.query_profile:
            result["query_profile"] = query_profile(data)
            log(f"query profile: {json.dumps(result['query_profile'])}")
        connections.close_all()
        services.start_celery()
        services.start_gunicorn()
        result["celery_ping_s"] = round(services.check_celery(), 2)
        log(f"gunicorn on {services.base_url}, celery answered ping")
        clients, login = login_all(services.base_url, data.usernames, concurrency=config.login_concurrency)
        log(f"{len(clients)} users logged in in {login['seconds']} s")
        result["login"] = login
        result["data"] = data.summary()
        scenario = Scenario(config, services.base_url, data, clients)
        result["scenarios"], result["baseline"] = {}, {}
        if config.baseline > 0:  # service time without queueing: one user, no think time
            for name in config.scenarios:
                log(f"baseline {name}: 1 user, no think time, {config.baseline:.0f} s")
                result["baseline"][name] = scenario.run(name, users=1, duration=config.baseline, think=0.0)
        for name in config.scenarios:
            log(f"scenario {name}: {config.users} users for {config.duration:.0f} s")
            result["scenarios"][name] = scenario.run(name)
        result["targets"] = targets(result)
        services.check_gunicorn_alive()
        result["server_log_tail"] = services.log_tail("gunicorn", 10)
        result["server_errors"] = services.log_errors("gunicorn")
    finally:
        services.stop()
    result["load_end"] = uptime_line()
    print(json.dumps(result, indent=1))
    if not config.no_jsonl:
        jsonl_append(config.jsonl, result)
    if config.write_docs:
        write_docs(result)
    return 0
