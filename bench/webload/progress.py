"""Progress lines on stderr (stdout carries the run's JSON)."""

import sys
import time


def log(message: str) -> None:
    print(f"[web_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
