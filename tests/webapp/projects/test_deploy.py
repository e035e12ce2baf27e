"""Production settings pass Django's deployment checks."""

import os
import secrets
import subprocess
import sys

from tests.conftest import REPO


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    # A clean environment, as a server has: not the test run's (DJANGO_ALLOW_ASYNC_UNSAFE etc.).
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "example.com",
        "SEGLOOP_DATA_DIR": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
