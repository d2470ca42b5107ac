"""The benchmark scripts import each other as top-level modules (`from _setup import ...`), the
way Python resolves them when a script under bench/ runs; the tests see them the same way."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
