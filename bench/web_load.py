"""Web load benchmark: segloop served as in production, under concurrent annotators and reviewers.

The command documented in docs/benchmarks.md; the benchmark itself is the package
bench/webload/ (its docstring describes the servers, the data and the scenarios):

    .venv/bin/python bench/web_load.py                       # 50 users, 100,000 images, 2 x 60 s
    .venv/bin/python bench/web_load.py --users 3 --duration 3 --images 300 --no-jsonl  # smoke
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
for path in (BENCH.parent, BENCH):  # webapp/; webload/, harness and report
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from webload.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
