"""Shuffle pieces kept on the worker's disk, so a worker's memory does not grow with the data.

An output partition can only run once *every* input partition has been split (each holds some
of its items), so at that moment the whole shuffled data set exists at once, spread over the
workers. Held in memory, that is ``events × bytes per event / workers`` per worker: it grows with
the data (measured: 2.1 GiB per worker at 50 M events, 4.5 GiB at 200 M, for partitions of the
same size). A :class:`Piece` is instead an Arrow IPC file in a folder of the worker process
(under Dask's ``temporary-directory``, else the system's temporary folder): the worker holds
only the file's name, the kernel memory-maps the files of its partition, and a worker's memory
is one input partition being split plus one output partition's kernel, whatever the data size.

Moving a piece to a worker **on the same machine** (Dask's message goes between two addresses
of one host, e.g. a ``LocalCluster``) moves no bytes: the sender hard-links the file to a
hand-off name and sends that name; the receiver renames it into its own folder (or copies it
when its folder is on another file system). The bytes never pass through pickling, the socket
and a second write (measured: the workers' event loops and Dask's offload thread spent ≈ 2 CPU
seconds per 10 M events moving pieces' bytes, about a third of the cluster's CPU); workers that
share an address but not a file system need the Dask setting ``stockseries.pieces-by-file:
false`` (``DASK_STOCKSERIES__PIECES_BY_FILE=False`` in the workers' environment). To any other
worker, and when Dask spills a piece, the piece travels as its bytes; unpickling writes them to
a file of the receiving worker. The file is deleted when Dask drops the piece (the object is
garbage-collected); folders of worker processes that died (killed, OOM) are deleted by the next
process on the same host that makes pieces.

:func:`dask.sizeof.sizeof` of a piece is its file's size: Dask sizes its transfers by it (a
transfer message stays small). Dask also counts it as the worker's managed memory; below a
``memory_limit`` that the pieces exceed, Dask "spills" pieces (their bytes go to its own spill
file and come back as a file here): slower, never wrong.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import Any

import dask
import polars as pl
import pyarrow as pa
from dask.sizeof import sizeof
from distributed.comm.addressing import get_address_host
from distributed.protocol import dask_deserialize, dask_serialize

__all__ = ["BY_FILE_SETTING", "Piece"]

#: Dask setting: False makes pieces travel as bytes between workers of one host too (for
#: workers that share an address but not a file system, e.g. containers with host networking).
BY_FILE_SETTING = "stockseries.pieces-by-file"

_ROOT_NAME = "stockseries-pieces"
_folder: Path | None = None


class Piece:
    """One input partition's events for one output partition, in an Arrow IPC file.

    Parameters
    ----------
    path : str
        The file (owned by this object: deleted when it is garbage-collected).
    """

    __slots__ = ("__weakref__", "nbytes", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.nbytes = os.path.getsize(path)
        weakref.finalize(self, _remove, path)

    @classmethod
    def of(cls, frame: pl.DataFrame) -> Piece:
        """``frame`` written to a new file of this process's folder."""
        path = _process_folder() / f"{uuid.uuid4().hex}.arrow"
        frame.write_ipc(path, compression="uncompressed")
        return cls(str(path))

    def frame(self) -> pl.DataFrame:
        """The events, memory-mapped from the file (pages are read as the kernel uses them)."""
        table = pa.ipc.open_file(pa.memory_map(self.path)).read_all()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # Sent to another worker: the bytes travel, the receiver writes its own file.
        return _received, (Path(self.path).read_bytes(),)

    def __repr__(self) -> str:
        return f"Piece({self.path!r}, {self.nbytes:,} bytes)"


def _received(data: bytes) -> Piece:
    path = _process_folder() / f"{uuid.uuid4().hex}.arrow"
    path.write_bytes(data)
    return Piece(str(path))


@sizeof.register(Piece)
def _sizeof_piece(piece: Piece) -> int:
    return piece.nbytes


@dask_serialize.register(Piece)
def _serialize_piece(
    piece: Piece, context: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """Between workers of one machine: a hand-off hard link's name; else the file's bytes."""
    if _same_machine(context):
        handoff = _process_folder() / f"{uuid.uuid4().hex}.handoff"
        os.link(piece.path, handoff)
        return {"handoff": str(handoff)}, []
    return {"handoff": None}, [Path(piece.path).read_bytes()]


@dask_deserialize.register(Piece)
def _deserialize_piece(header: dict[str, Any], frames: list[Any]) -> Piece:
    handoff = header["handoff"]
    if handoff is None:
        return _received(b"".join(frames))
    path = _process_folder() / f"{uuid.uuid4().hex}.arrow"
    try:
        os.rename(handoff, path)
    except FileNotFoundError:
        # An OSError: Dask treats the transfer as failed and gets the piece again (from
        # another worker, or by recomputing it), as when a sender dies mid-transfer (its
        # folder, hand-off links included, is purged by the process that replaces it).
        raise FileNotFoundError(
            f"the shuffle piece sent as the file {handoff!r} is not visible from this worker "
            "(its sender died, or workers whose addresses share a host do not share its file "
            "system)"
        ) from None
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        shutil.copyfile(handoff, path)  # this worker's folder is on another file system
        _remove(handoff)
    return Piece(str(path))


def _same_machine(context: dict[str, Any] | None) -> bool:
    """Whether a Dask message goes between two addresses of the same host (whose workers
    share its file system, unless the Dask setting ``stockseries.pieces-by-file`` is False)."""
    if not context:  # spilling to disk, or no comm: the bytes must travel
        return False
    if not dask.config.get(BY_FILE_SETTING, True):
        return False
    try:
        hosts = [get_address_host(context[side]["address"]) for side in ("sender", "recipient")]
    except (KeyError, TypeError, ValueError):
        return False
    return hosts[0] == hosts[1] or all(_loopback(host) for host in hosts)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:  # already gone (the folder of a dead process purged)
        pass


def _process_folder() -> Path:
    """This process's folder of pieces, made on first use (after purging dead ones)."""
    global _folder
    if _folder is None or not _folder.is_dir():
        root = Path(dask.config.get("temporary-directory", None) or tempfile.gettempdir())
        root = root / _ROOT_NAME
        root.mkdir(parents=True, exist_ok=True)
        host = socket.gethostname()
        _purge_dead(root, host)
        folder = root / f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        _folder = folder
    return _folder


def _purge_dead(root: Path, host: str) -> None:
    """Delete the folders of processes of this host that no longer run."""
    for folder in root.glob(f"{host}-*-*"):
        pid = folder.name[len(host) + 1 :].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
