"""``FileSink``: append deliveries to a CSV or NDJSON file, whole lines only."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from stockseries._io import AtomicFile
from stockseries.sinks.base import Payload, to_json

_FILE_FORMATS: dict[str, Literal["csv", "ndjson"]] = {
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


class FileSink:
    """Append deliveries to a CSV or NDJSON file, chosen by the extension.

    * **CSV** (``.csv``): one row per alert, the alert columns followed by ``sent_at``. The
      header is written once, when the file is new or empty; appending rows whose columns differ
      from an existing header raises ``ValueError`` rather than producing a ragged file.
    * **NDJSON** (``.ndjson``/``.jsonl``): one line per payload (one per supplier per call), the
      very dict a webhook would receive (with the ``settings`` that produced the alerts).

    A CSV row cannot hold the ``settings`` of a payload, so they go beside the file, as
    :meth:`Alerts.write <stockseries.alerts.Alerts.write>` puts them: ``<name>_params.json``,
    written with the file's first rows. A file holds the alerts of one set of settings:
    appending alerts made with other settings (or with settings to a file written without
    them) raises ``ValueError``.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; missing parent folders are created.
    format : {"csv", "ndjson"}, optional
        Overrides the extension.
    name : str, optional
        Key in the state file; defaults to ``"file:<canonical absolute path>"``, so that a
        relative and an absolute spelling of one file are the same sink.

    Each ``send`` appends whole lines and flushes them to disk (``fsync``) before it returns.
    A write that fails part-way (a full disk) is cut back to where it started, and a line left
    unfinished by a killed process is removed before the next append: the file never holds a
    torn line (the payload it belonged to was not recorded as sent, so it is sent again).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = tempfile.TemporaryDirectory()
    >>> sink = FileSink(pathlib.Path(folder.name) / "alerts.ndjson")
    >>> sink.send("S1", {"supplier_id": "S1", "alerts": [{"alert_id": "a1"}], "count": 1})
    >>> sink.path.read_text()
    '{"supplier_id":"S1","alerts":[{"alert_id":"a1"}],"count":1}\\n'
    >>> folder.cleanup()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: Literal["csv", "ndjson"] | None = None,
        name: str | None = None,
    ) -> None:
        self.path = Path(path)
        if format is None:
            suffix = self.path.suffix.lower()
            if suffix not in _FILE_FORMATS:
                raise ValueError(
                    f"cannot tell the format of {self.path}: unknown extension {suffix!r} "
                    f"(use {', '.join(_FILE_FORMATS)} or pass format='csv'/'ndjson')"
                )
            format = _FILE_FORMATS[suffix]
        if format not in ("csv", "ndjson"):
            raise ValueError(f"format must be 'csv' or 'ndjson', got {format!r}")
        self.format: Literal["csv", "ndjson"] = format
        self.name = name or f"file:{os.path.realpath(self.path)}"

    def send(self, supplier_id: str | None, payload: Payload) -> None:
        """Append ``payload`` to the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "ndjson":
            text = to_json(payload) + "\n"
        else:
            text = self._csv_text(payload)
            settings = payload.get("settings")
            if text and settings is not None:
                self._record_settings(settings)
        if text:
            append_whole_lines(self.path, text.encode("utf-8"))

    @property
    def settings_path(self) -> Path:
        """Where a CSV file's settings are recorded: ``<name>_params.json`` beside it."""
        return self.path.with_name(self.path.stem + "_params.json")

    def _record_settings(self, settings: Mapping[str, Any]) -> None:
        """Write the settings beside a new CSV file; refuse rows of other settings."""
        text = json.dumps(settings, sort_keys=True) + "\n"
        try:
            recorded: str | None = self.settings_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            recorded = None
        if recorded == text:
            return
        if recorded is not None:
            raise ValueError(
                f"{self.path} holds alerts made with other settings ({self.settings_path}); "
                "write these to a new file"
            )
        if self._existing_header() is not None:
            raise ValueError(
                f"{self.path} holds alerts whose settings were not recorded; write alerts "
                "with settings to a new file"
            )
        with AtomicFile(self.settings_path) as out:
            out.temporary.write_text(text, encoding="utf-8")

    def _csv_text(self, payload: Payload) -> str:
        alerts: Sequence[Mapping[str, Any]] = payload.get("alerts", [])
        if not alerts:
            return ""
        columns = list(dict.fromkeys(key for alert in alerts for key in alert))
        columns = [name for name in columns if name != "sent_at"] + ["sent_at"]
        header = self._existing_header()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header or columns, lineterminator="\n")
        if header is None:
            writer.writeheader()
        elif set(header) != set(columns):
            raise ValueError(
                f"{self.path} has columns {header}, but these alerts have {columns}; "
                "write them to a new file"
            )
        sent_at = payload.get("sent_at")
        writer.writerows({**alert, "sent_at": sent_at} for alert in alerts)
        return buffer.getvalue()

    def _existing_header(self) -> list[str] | None:
        try:
            with self.path.open(encoding="utf-8", newline="") as handle:
                first = handle.readline()
        except FileNotFoundError:
            return None
        if not first.strip():
            return None
        return next(csv.reader([first]))

    def __repr__(self) -> str:
        return f"FileSink({str(self.path)!r}, format={self.format!r})"


def append_whole_lines(path: Path, data: bytes) -> None:
    """Append ``data`` (whole lines) to ``path`` durably; never leave a partial line behind.

    A trailing partial line (a writer killed mid-line) is removed first; a failed write is
    truncated back to the previous end of the file.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        size = os.fstat(descriptor).st_size
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            size = _last_line_end(descriptor, size)
            os.ftruncate(descriptor, size)
        try:
            written = 0
            while written < len(data):
                written += os.write(descriptor, data[written:])
            os.fsync(descriptor)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, size)
            raise
    finally:
        os.close(descriptor)


def _last_line_end(descriptor: int, size: int) -> int:
    """Offset just after the last newline before ``size`` (0 when there is none)."""
    position = size
    while position > 0:
        start = max(0, position - 65_536)
        block = os.pread(descriptor, position - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0
