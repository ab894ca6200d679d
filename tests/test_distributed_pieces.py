"""Shuffle pieces on disk: the same events back, the file gone with the piece, dead folders purged."""

from __future__ import annotations

import gc
import os
import pickle
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dask
import polars as pl
from dask.sizeof import sizeof
from polars.testing import assert_frame_equal

from stockseries.distributed._pieces import Piece


def _events() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": pl.Series([datetime(2024, 1, 1, h, tzinfo=UTC) for h in (3, 1, 2)]).cast(
                pl.Datetime("us", "UTC")
            ),
            "item_id": ["é/ü=1", "x" * 200, ""],
            "kind": [True, False, True],
            "quantity": [3, 5, 1],
        }
    )


def test_a_piece_gives_back_its_events_and_deletes_its_file() -> None:
    frame = _events()
    piece = Piece.of(frame)
    path = Path(piece.path)
    assert path.is_file()
    assert sizeof(piece) == path.stat().st_size  # Dask sizes transfers by it
    assert_frame_equal(piece.frame(), frame)
    del piece
    gc.collect()
    assert not path.exists()


def test_a_sent_piece_is_a_file_of_its_own() -> None:
    """Pickling (Dask moving a piece to another worker) carries the bytes; the copy owns a
    new file, which outlives the original."""
    frame = _events()
    original = Piece.of(frame)
    copy = pickle.loads(pickle.dumps(original))
    assert copy.path != original.path
    del original
    gc.collect()
    assert_frame_equal(copy.frame(), frame)


def test_folders_of_dead_processes_are_purged(tmp_path: Path) -> None:
    root = tmp_path / "stockseries-pieces"
    host = socket.gethostname()
    dead = root / f"{host}-{2**31 - 1}-deadbeef"  # above any pid_max: never a live process
    alive = root / f"{host}-{os.getpid()}-cafecafe"
    other_host = root / f"not-{host}-{2**31 - 1}-deadbeef"
    for folder in (dead, alive, other_host):
        folder.mkdir(parents=True)
        (folder / "piece.arrow").write_bytes(b"x")
    code = (
        "import polars as pl\n"
        "from stockseries.distributed._pieces import Piece\n"
        "piece = Piece.of(pl.DataFrame({'a': [1]}))\n"
        "print(piece.path)\n"
    )
    env = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent.parent == root
    assert not dead.exists()
    assert alive.exists() and other_host.exists()


def _context(sender: str, recipient: str) -> dict[str, dict[str, str]]:
    # What Dask's TCP comm hands to serializers.
    return {"sender": {"address": sender}, "recipient": {"address": recipient}}


def test_between_workers_of_one_machine_a_piece_moves_as_a_file() -> None:
    """No bytes in the message: a hand-off link that the receiver takes into its own folder.
    The sender's file stays (Dask may drop it only later); the receiver's is a file of its own."""
    from distributed.protocol import deserialize, serialize

    frame = _events()
    piece = Piece.of(frame)
    for sender, recipient in [
        ("tcp://127.0.0.1:40001", "tcp://127.0.0.1:40002"),
        ("tcp://10.1.2.3:40001", "tcp://10.1.2.3:40002"),
        ("tcp://127.0.0.1:40001", "tcp://[::1]:40002"),
    ]:
        header, frames = serialize(
            piece, serializers=("dask",), context=_context(sender, recipient)
        )
        assert sum(len(memoryview(f)) for f in frames) < 1000  # no Arrow data inside
        got = deserialize(header, frames)
        assert isinstance(got, Piece) and got.path != piece.path
        assert not list(Path(piece.path).parent.glob("*.handoff"))  # taken by the receiver
        assert os.stat(got.path).st_ino == os.stat(piece.path).st_ino  # linked, not copied
        assert_frame_equal(got.frame(), frame)
        got_path = got.path
        del got
        gc.collect()
        assert not Path(got_path).exists() and Path(piece.path).is_file()


def test_to_another_machine_or_spilled_a_piece_carries_its_bytes() -> None:
    from distributed.protocol import deserialize, serialize

    frame = _events()
    piece = Piece.of(frame)
    same_host = _context("tcp://127.0.0.1:1", "tcp://127.0.0.1:2")
    for context, by_file in [
        (_context("tcp://10.0.0.1:1", "tcp://10.0.0.2:1"), True),
        (None, True),
        ({}, True),
        (same_host, False),  # workers sharing an address but not a file system
    ]:
        with dask.config.set({"stockseries.pieces-by-file": by_file}):
            header, frames = serialize(piece, serializers=("dask",), context=context)
        assert sum(len(memoryview(f)) for f in frames) == piece.nbytes
        got = deserialize(header, frames)
        assert got.path != piece.path and os.stat(got.path).st_ino != os.stat(piece.path).st_ino
        assert_frame_equal(got.frame(), frame)
