"""The README's tour is code users copy: it must run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_starts_with_the_two_setup_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert first_block is not None
    commands = first_block.group(1).strip().splitlines()
    assert len(commands) == 2
    assert commands[0].endswith("stockseries demo")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert first_block is not None
    test_command = first_block.group(1).strip().splitlines()[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci


@pytest.mark.parametrize("block", python_blocks())
def test_python_blocks_run(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {})
    if "notifications.ndjson" in block:
        assert (tmp_path / "notifications.ndjson").exists()


def test_cli_reference_matches_the_cli() -> None:
    """The README shows `stockseries`, `--version` and every sub-command's `--help` as the CLI
    prints them (issue 13). After changing the CLI: python -m stockseries.cli._readme README.md"""
    from stockseries.cli._readme import BEGIN, END, render

    text = README.read_text()
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == render(), "run: python -m stockseries.cli._readme README.md"
