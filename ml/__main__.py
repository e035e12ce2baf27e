"""``python -m ml train|eval|predict|export`` (see ml/cli.py)."""
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ml.cli import main  # noqa: E402

sys.exit(main())
