"""``python -m ml train|eval|predict|export`` (see ml/cli.py)."""

import sys

from ml.cli import main

sys.exit(main())
