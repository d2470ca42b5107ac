"""`manage.py check --deploy` with the production values of .env.example reports only what the
README explains (issue 13): HSTS preloading stays a deliberate choice (W021)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Explained in README.md, "Security and deployment".
EXPLAINED = {"security.W021"}


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def test_check_deploy_with_the_production_settings_reports_only_what_the_readme_explains():
    env = {**os.environ, **env_example()}
    env["SECRET_KEY"] = "a-long-random-production-key-" + "k3y" * 20
    env.pop("DEBUG_PROPAGATE_EXCEPTIONS", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    reported = {
        word.rstrip(")").lstrip("(")
        for line in output.splitlines()
        for word in line.split()
        if word.startswith("(") and "." in word and word.endswith(")")
    }
    assert reported <= EXPLAINED, output
    readme = (ROOT / "README.md").read_text()
    for check in reported:
        assert check in readme, f"README.md does not explain {check}"
