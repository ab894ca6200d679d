"""ARCHITECTURE.md's map lists every package and module of ``stockseries``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stockseries"


def _map_rows() -> list[str]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = text.split("| package / module |", 1)[1].split("\n\n", 1)[0]
    return [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]


def test_the_map_names_every_package_and_module() -> None:
    named = {name for cell in _map_rows() for name in re.findall(r"`([^`]+)`", cell)}
    packages = {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {
        p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "_duration.py")
    }
    assert packages | modules <= named, sorted((packages | modules) - named)
