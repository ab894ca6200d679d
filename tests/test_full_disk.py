"""Issue 13: a really full disk (a 64 KiB tmpfs mounted by the test), not an injected error.

Every output is complete or absent: ``levels``, ``series`` and ``detect`` exit 2 with the
system's message, leave nothing at the final path and no temporary beside it; a FileSink never
leaves a torn line and sends what did not fit on the next call. Mounting needs root (or
CAP_SYS_ADMIN), which CI has; elsewhere these tests skip and the injected-``OSError`` tests in
``tests/test_cli_robust.py`` and ``tests/sinks/test_sinks_durability.py`` cover the same paths.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockseries.cli import main
from stockseries.sinks import FileSink, notify
from tests.sinks.test_sinks_durability import alerts

DISK_KIB = 64


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on its own 64 KiB tmpfs, unmounted afterwards (bounded)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("a tmpfs mount needs Linux")
    folder = tmp_path / "disk"
    folder.mkdir()
    try:
        mounted = _run("mount", "-t", "tmpfs", "-o", f"size={DISK_KIB}k", "tmpfs", str(folder))
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run mount: {exc}")
    if mounted.returncode:
        pytest.skip(
            f"cannot mount a {DISK_KIB} KiB tmpfs here ({mounted.stderr.strip()}): needs root "
            "or CAP_SYS_ADMIN; the injected-OSError tests cover the same paths"
        )
    try:
        yield folder
    finally:
        for _ in range(10):  # a file still open elsewhere makes umount busy for a moment
            if _run("umount", str(folder)).returncode == 0:
                break
            time.sleep(0.2)
        else:
            _run("umount", "--lazy", str(folder))


def fill(disk: Path, free_kib: int) -> None:
    """Leave ``free_kib`` KiB free (tmpfs counts whole 4 KiB pages)."""
    (disk / "filler").write_bytes(b"\0" * ((DISK_KIB - free_kib) * 1024))


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 4,600 events (250 KiB as CSV, so levels and series outgrow the disk) that give
    56 alerts (8 KiB as CSV)."""
    path = tmp_path_factory.mktemp("events") / "events.csv"
    argv = ["simulate", "-o", str(path), "--items", "5", "--days", "0.5", "--seed", "1"]
    assert main(argv) == 0
    return path


@pytest.mark.parametrize(
    ("command", "name", "free_kib"),
    [
        (["levels"], "out.csv", None),
        (["levels"], "out.ndjson", None),
        (["series", "--every", "1m"], "out.csv", None),
        (["series", "--every", "1m"], "out.parquet", 4),
        (["levels", "--rejected", "REJECTED"], "out.csv", None),
        (["detect"], "out.csv", 4),  # the alerts need 12 KiB ...
        (["detect"], "out.csv", 12),  # ... and their settings file one more page
        (["detect"], "out.parquet", 0),
    ],
)
def test_a_full_disk_leaves_no_output_and_exits_2(
    small_disk: Path,
    events: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    name: str,
    free_kib: int | None,
) -> None:
    if free_kib is not None:
        fill(small_disk, free_kib)
    before = sorted(p.name for p in small_disk.iterdir())
    out = small_disk / name
    argv = [str(small_disk / "rejected.csv") if a == "REJECTED" else a for a in command]
    capsys.readouterr()
    assert main([argv[0], str(events), "-o", str(out), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert str(out) in err  # the message names the output, not a temporary
    # Nothing at the final path, no temporary beside it: the folder is as it was.
    assert sorted(p.name for p in small_disk.iterdir()) == before


def test_the_same_commands_succeed_with_room(tmp_path: Path, events: Path) -> None:
    """The failures above are the disk's: the same commands work on a roomy one."""
    assert main(["levels", str(events), "-o", str(tmp_path / "levels.csv")]) == 0
    assert (tmp_path / "levels.csv").stat().st_size > DISK_KIB * 1024
    assert main(["detect", str(events), "-o", str(tmp_path / "alerts.csv")]) == 0
    assert 8 * 1024 < (tmp_path / "alerts.csv").stat().st_size <= 12 * 1024


def test_a_file_sink_on_a_full_disk_leaves_whole_lines_and_resends(
    small_disk: Path, tmp_path: Path
) -> None:
    fill(small_disk, 4)
    target = small_disk / "alerts.ndjson"
    state = tmp_path / "sent.json"  # the state lives on a disk with room
    sink = FileSink(target)
    sent = alerts(40)  # one line of ~400 bytes per supplier: 16 KiB in all
    first = notify(sent, sink, state=state, sent_at=None)
    assert first.delivered > 0 and first.failed > 0
    assert first.delivered + first.failed == 40
    assert "No space left on device" in (first.failures[0].error or "")
    lines = target.read_text().splitlines(keepends=True)
    assert len(lines) == first.delivered and all(line.endswith("\n") for line in lines)
    assert all(json.loads(line) for line in lines)  # no torn line
    (small_disk / "filler").unlink()  # room again: the rest goes out, nothing twice
    second = notify(sent, sink, state=state, sent_at=None)
    assert second.delivered == first.failed and second.skipped_already_sent == first.delivered
    ids = [
        alert["alert_id"]
        for line in target.read_text().splitlines()
        for alert in json.loads(line)["alerts"]
    ]
    assert sorted(ids) == sorted(sent["alert_id"])
