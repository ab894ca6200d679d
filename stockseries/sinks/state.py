"""The record of sent alert ids: a JSON state file, a write-ahead journal and a lock.

File format (unchanged from earlier versions): ``{"format": "stockseries.sinks/sent-ids",
"version": 1, "sent": {sink name: [alert ids in delivery order]}}``. While a ``notify`` call
sends, ``<state>.journal`` holds one JSON line per record -- ``{"op": "intent", "sink": ...,
"ids": [...]}`` before a send and ``{"op": "done", ...}`` after it -- each flushed to disk with
``fsync`` before the next step. The journal doubles as the lock file (``flock``); at the end of
the call it is folded into the state file (atomic rename) and removed. See the package
docstring for the guarantee this gives.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from stockseries._io import atomic_write
from stockseries.sinks.base import StateFileError, StateLockedError

__all__ = ["STATE_FORMAT", "STATE_VERSION", "SentIds", "SentState", "load_state"]

STATE_FORMAT = "stockseries.sinks/sent-ids"
STATE_VERSION = 1

# Sent ids per sink as insertion-ordered sets (dict keys): the file keeps delivery order, which
# is deterministic, and saving needs no sort (sorting dominated the save time on 100k ids).
SentIds = dict[str, dict[str, None]]

_HINT = "fix it or delete it (deleting means every alert is sent again)"


def load_state(path: Path) -> SentIds:
    """The sent ids of a state file (``{}`` when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(f"state file {path} is not valid JSON ({exc}); {_HINT}") from None
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise StateFileError(
            f"state file {path} is not a stockseries sent-ids file (expected an object with "
            f'"format": "{STATE_FORMAT}"); {_HINT}'
        )
    if data.get("version") != STATE_VERSION:
        raise StateFileError(
            f"state file {path} has version {data.get('version')!r}, this stockseries reads "
            f"version {STATE_VERSION}; {_HINT}"
        )
    sent = data.get("sent")
    if not isinstance(sent, dict) or not all(
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in sent.values()
    ):
        raise StateFileError(
            f'state file {path}: "sent" must map sink names to lists of alert id strings; {_HINT}'
        )
    return {str(sink): dict.fromkeys(ids) for sink, ids in sent.items()}


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class SentState:
    """Sent ids per sink, in memory (``path=None``) or durable in a state file.

    Use :meth:`session` around the sends of one ``notify`` call, and :meth:`intent` /
    :meth:`done` around each send.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, lock_timeout: float = 60.0):
        if not lock_timeout >= 0:
            raise ValueError(f"lock_timeout must be >= 0 seconds, got {lock_timeout!r}")
        self.path = Path(path) if path is not None else None
        self.lock_timeout = float(lock_timeout)
        self.sent: SentIds = {}
        #: Ids found with an intent but no done record: in flight when a run was killed.
        self.in_doubt: dict[str, set[str]] = {}
        self._signature: tuple[int, int, int] | None = None
        self._journal: int | None = None  # descriptor while a session holds the lock
        self._dirty = False  # ids recorded since the state file was last written
        if self.path is not None:
            self.sent = load_state(self.path)
            self._signature = _signature(self.path)
            journal = self.journal_path
            if journal is not None and journal.exists() and journal.stat().st_size:
                # A crashed run's record: read it now, so that sent_ids() is right at once.
                self._replay(journal.read_bytes())

    @property
    def journal_path(self) -> Path | None:
        """``<state>.journal``, or ``None`` for an in-memory state."""
        return None if self.path is None else self.path.with_name(self.path.name + ".journal")

    def ids(self, sink: str) -> dict[str, None]:
        """The ids recorded as delivered to ``sink`` (live view)."""
        return self.sent.get(sink, {})

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Hold the lock, bring the ids up to date, and fold the journal in at the end."""
        if self.path is None:
            yield
            return
        self._lock()
        try:
            self._refresh()
            yield
        finally:
            try:
                self._compact()
            finally:
                self._unlock()

    def intent(self, sink: str, ids: Iterable[str]) -> None:
        """Record (durably) that ``ids`` are about to be sent to ``sink``."""
        self._append("intent", sink, ids)

    def done(self, sink: str, ids: Iterable[str]) -> None:
        """Record (durably) that ``ids`` were delivered to ``sink``."""
        ids = list(ids)
        self._append("done", sink, ids)
        self.sent.setdefault(sink, {}).update(dict.fromkeys(ids))
        self._dirty = True
        doubts = self.in_doubt.get(sink)
        if doubts:
            doubts.difference_update(ids)

    # ------------------------------------------------------------------ journal and lock

    def _append(self, op: str, sink: str, ids: Iterable[str]) -> None:
        if self._journal is None:
            return
        line = json.dumps({"op": op, "sink": sink, "ids": list(ids)}, separators=(",", ":"))
        data = (line + "\n").encode("utf-8")
        size = os.fstat(self._journal).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(self._journal, data[written:])
            os.fsync(self._journal)
        except OSError:
            # A half-written record must not stay: the journal is whole lines or nothing.
            with contextlib.suppress(OSError):
                os.ftruncate(self._journal, size)
            raise

    def _replay(self, data: bytes) -> None:
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                op, sink, ids = record["op"], str(record["sink"]), [str(i) for i in record["ids"]]
            except (ValueError, KeyError, TypeError):
                if number == len(lines):
                    break  # the last record was cut short by a crash: it never completed
                raise StateFileError(
                    f"journal {self.journal_path} line {number} is not a journal record; {_HINT}"
                ) from None
            if op == "done":
                self.sent.setdefault(sink, {}).update(dict.fromkeys(ids))
                self.in_doubt.get(sink, set()).difference_update(ids)
            elif op == "intent":
                sent = self.sent.get(sink, {})
                self.in_doubt.setdefault(sink, set()).update(i for i in ids if i not in sent)
        self._dirty = True  # fold it into the state file at the next session

    def _lock(self) -> None:
        journal = self.journal_path
        assert journal is not None
        journal.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            descriptor = os.open(journal, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(descriptor)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise StateLockedError(
                        f"state file {self.path} is in use by another notifier (lock on "
                        f"{journal} held for more than {self.lock_timeout:g} s); wait for it to "
                        "finish, or give this run another state file"
                    ) from None
                time.sleep(0.02)
                continue
            # The holder before us may have removed the journal: then we locked a ghost.
            current = _signature(journal)
            if current is not None and current[0] == os.fstat(descriptor).st_ino:
                self._journal = descriptor
                return
            os.close(descriptor)

    def _refresh(self) -> None:
        assert self.path is not None and self._journal is not None
        signature = _signature(self.path)
        if signature != self._signature:  # another process wrote it since we read it
            self.sent = load_state(self.path)
            self._signature = signature
        if os.fstat(self._journal).st_size:
            with open(self._journal, "rb", closefd=False) as handle:
                handle.seek(0)
                self._replay(handle.read())

    def _compact(self) -> None:
        assert self.path is not None
        if self._dirty:
            data = {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "sent": {sink: list(ids) for sink, ids in self.sent.items()},
            }
            # dumps + one write is several times faster than json.dump's chunked writes.
            atomic_write(
                self.path, json.dumps(data, separators=(",", ":")) + "\n", permissions=0o600
            )
            self._signature = _signature(self.path)
            self._dirty = False

    def _unlock(self) -> None:
        descriptor, self._journal = self._journal, None
        if descriptor is None:
            return
        try:
            if not self._dirty:  # folded in (or nothing to fold): the journal goes
                journal = self.journal_path
                assert journal is not None
                with contextlib.suppress(FileNotFoundError):
                    journal.unlink()
        finally:
            os.close(descriptor)
