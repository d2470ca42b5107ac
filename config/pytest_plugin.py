"""pytest's entry point: prepares the local defaults before pytest-django reads the settings.

Loaded with `-p config.pytest_plugin` (pyproject.toml's addopts), so it is importable however
pytest is started. pytest-django imports the settings in its own `pytest_load_initial_conftests`
(a plain hookimpl); `tryfirst` runs this one before it.
"""

from __future__ import annotations

import pytest

from config.bootstrap import prepare_local_defaults


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    options = parser.parse_known_args(args)
    # --help and --version must work without a database.
    if options.help or options.version:
        return
    prepare_local_defaults()
