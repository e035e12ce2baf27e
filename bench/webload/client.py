"""The load generator's users: a requests session each (cookies, CSRF token, keep-alive), and
the recorder of every request's latency and status."""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from typing import Any

import requests

from .config import PASSWORD

LOGINS_FAILED = "{count} logins failed: {samples}"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil(q/100 * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


class Recorder:
    """Latencies, statuses, errors and counters per endpoint, shared by a scenario's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: dict[str, int] = defaultdict(int)
        self.error_samples: list[str] = []
        self.counters: dict[str, int] = defaultdict(int)

    def add(self, endpoint: str, ms: float, status: int | str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.samples[endpoint].append(ms)
            self.statuses[endpoint][str(status)] += 1
            if not ok:
                self.errors[endpoint] += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{endpoint} {status} {detail[:200]}")

    def count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1

    def summary(self, seconds: float) -> dict:
        endpoints = {}
        for name in sorted(self.samples):
            values = sorted(self.samples[name])
            endpoints[name] = {
                "count": len(values),
                "errors": self.errors.get(name, 0),
                "p50_ms": round(percentile(values, 50), 1),
                "p95_ms": round(percentile(values, 95), 1),
                "max_ms": round(values[-1], 1),
                "mean_ms": round(statistics.fmean(values), 1),
                "statuses": dict(self.statuses[name]),
            }
        total = sum(len(v) for v in self.samples.values())
        return {
            "seconds": round(seconds, 1),
            "requests": total,
            "requests_per_s": round(total / seconds, 1) if seconds else 0,
            "errors": sum(self.errors.values()),
            "counters": dict(self.counters),
            "endpoints": endpoints,
            "error_samples": self.error_samples,
        }


class Client:
    """One user: a requests session with its cookies, CSRF token and keep-alive connection."""

    def __init__(self, base_url: str, recorder: Recorder):
        self.base = base_url
        self.recorder = recorder
        self.session = requests.Session()
        origin = "https://" + base_url.split("://", 1)[1]
        self.session.headers.update({"X-Forwarded-Proto": "https", "Origin": origin, "Referer": origin + "/"})

    def request(
        self, endpoint: str, method: str, path: str, expect: tuple[int, ...], **kwargs: Any
    ) -> requests.Response | None:
        """The response, or None after a failure; timed and recorded under `endpoint`."""
        if method == "POST":
            kwargs.setdefault("headers", {})["X-CSRFToken"] = self.session.cookies.get("csrftoken", "")
        started = time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, allow_redirects=False, timeout=30, **kwargs)
            response.content  # noqa: B018 - the whole body is part of the latency
        except requests.RequestException as error:
            self.recorder.add(endpoint, (time.perf_counter() - started) * 1000, type(error).__name__, False, str(error))
            return None
        ms = (time.perf_counter() - started) * 1000
        for cookie in self.session.cookies:
            # Django marks the session and CSRF cookies Secure with DEBUG off; the TLS proxy is
            # only emulated here, so send them back over plain-HTTP loopback all the same.
            cookie.secure = False
        ok = response.status_code in expect
        self.recorder.add(endpoint, ms, response.status_code, ok, "" if ok else response.text)
        return response

    def login(self, username: str) -> bool:
        page = self.request("login_page", "GET", "/login/", (200,))
        if page is None:
            return False
        response = self.request(
            "login",
            "POST",
            "/login/",
            (302,),
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": self.session.cookies.get("csrftoken", ""),
            },
        )
        return response is not None and response.status_code == 302 and "sessionid" in self.session.cookies


def login_all(base_url: str, usernames: list[str], *, concurrency: int) -> tuple[list[Client], dict]:
    """Log every user in through the form, a few at a time (PBKDF2 is deliberately slow)."""
    recorder = Recorder()
    clients = [Client(base_url, recorder) for _ in usernames]
    failures = []
    lock = threading.Semaphore(concurrency)

    def one(i: int) -> None:
        with lock:
            if not clients[i].login(usernames[i]):
                failures.append(usernames[i])

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(usernames))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = recorder.summary(time.monotonic() - started)
    if failures:
        raise RuntimeError(LOGINS_FAILED.format(count=len(failures), samples=summary["error_samples"][:3]))
    return clients, summary
