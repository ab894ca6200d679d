"""Supplier notification: deliver new alerts, grouped by supplier, at most once per sink.

Design
------
A **sink** is any object with ``send(supplier_id, payload) -> None`` that raises on failure
(the :class:`Sink` protocol) and, optionally, a ``name`` used as its key in the state file.
Three sinks ship here: :class:`CallbackSink`, :class:`FileSink` and :class:`WebhookSink`.

A :class:`Notifier` owns one or more sinks and the record of which ``alert_id`` each sink has
already received. ``Notifier.notify(alerts)`` validates the alerts at the edge, drops the ids a
sink already has, groups the rest by ``supplier_id`` and calls ``send`` once per supplier per
sink. It returns a :class:`NotifyResult` with counts overall and per supplier. The state file is
read once, when the notifier is built, so calling ``notify`` over and over with small frames (the
live engine does) only costs time proportional to the incoming frame, plus one atomic rewrite of
the state file when something was delivered. :func:`notify` is the one-shot wrapper.

Payload
-------
Every sink receives the same JSON-able dict per supplier::

    {"supplier_id": "S1",           # None for alerts whose supplier is unknown
     "alerts": [{...}, ...],        # one dict per alert, every column of the alert frame
     "count": 2,
     "sent_at": "2024-01-01T00:00:00Z"}   # left out when ``sent_at=None``

Timestamps are ISO-8601 UTC strings with a ``Z`` suffix (fractional seconds only when present);
non-finite floats (NaN, ±inf) become ``null`` so that the payload is strict JSON. Alerts whose
``supplier_id`` is null, or whose frame has no ``supplier_id`` column, go to one group whose
``supplier_id`` is ``None``; routing that group is the sink's business (a webhook receives it
like any other). Within a payload, alerts are ordered by ``start``, ``item_id``, ``alert_id``;
groups come in ``supplier_id`` order with the unknown supplier last.

Idempotency
-----------
Sent ids are kept **per sink** (keyed by the sink's ``name``), so that when one sink fails and
another succeeds, the next run retries only the failing one and never duplicates the other's
deliveries. An id is recorded only after ``send`` returned without raising. A payload that a
:class:`WebhookSink` gives up on is appended to its dead-letter file *and* left unrecorded, so the
next run delivers it again: the dead-letter file is a log for humans, not a substitute for
delivery (a permanently rejected payload is therefore dead-lettered again on every run). With
``state=path`` the record survives across processes: a JSON file written atomically (temporary
file in the same folder, then :func:`os.replace`; owner-only permissions), listing each sink's
ids in delivery order; ids of sinks the notifier does not know are kept untouched. With ``state=None`` the record lives only as long as the :class:`Notifier`.
One process at a time should write a given state file. When one frame holds the same
``alert_id`` twice, the last row wins. Delivery is at-least-once in the face of crashes between a
successful ``send`` and the state write; :class:`WebhookSink` sends an ``Idempotency-Key`` header
(stable for a given supplier and set of alert ids) so that receivers can drop such repeats.

A failing sink never stops the others: its exception is recorded in the result
(:attr:`NotifyResult.failures`); call :meth:`NotifyResult.raise_for_failures` to turn failures
into an exception.
"""

from __future__ import annotations

import csv
import hashlib
import html
import http.client
import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any, Literal, Protocol

import polars as pl

from stockseries._frames import like_input, offending_rows, to_polars, unwrap_frame
from stockseries._io import CSV_DATETIME_FORMAT, atomic_write
from stockseries._schema import ALERT_COLUMNS, in_utc
from stockseries._time import iso_utc

__all__ = [
    "ALERT_COLUMNS",
    "CallbackSink",
    "Delivery",
    "DeliveryError",
    "FileSink",
    "Notifier",
    "NotifyResult",
    "Sink",
    "StateFileError",
    "WebhookError",
    "WebhookSink",
    "notify",
    "payloads",
]

_REQUIRED_COLUMNS = ALERT_COLUMNS[:-1]
_TEXT_COLUMNS = ("alert_id", "item_id")
_TIMESTAMP_COLUMNS = ("start", "end", "peak_ts")
_NUMBER_COLUMNS = ("buckets", "peak_demand", "threshold", "score", "excess")
_SORT_COLUMNS = ["supplier_id", "start", "item_id", "alert_id"]

_STATE_FORMAT = "stockseries.sinks/sent-ids"
_STATE_VERSION = 1

# A server asking for a longer pause than this is treated as asking for this long, so that one
# misconfigured receiver cannot stall a live pipeline for hours.
_MAX_RETRY_AFTER = 60.0

Payload = dict[str, Any]
SentAt = datetime | Callable[[], datetime] | Literal["now"] | None


class Sink(Protocol):
    """Anything that can deliver one supplier's payload.

    ``send`` must raise on failure and return normally only once the payload is delivered; the
    notifier records the payload's alert ids as sent exactly then. A sink may also have a
    ``name`` attribute (its key in the state file); without one the class name is used.
    """

    def send(self, supplier_id: str | None, payload: Payload) -> None:
        """Deliver ``payload`` (see the module docstring) for ``supplier_id``."""
        ...


class StateFileError(ValueError):
    """The state file of sent alert ids cannot be read as such."""


class WebhookError(RuntimeError):
    """A webhook delivery failed for good (retries exhausted or a non-retryable status).

    Attributes
    ----------
    url : str
        Target URL without credentials, query or fragment.
    supplier_id : str or None
        Supplier whose payload failed.
    attempts : int
        Number of HTTP attempts made.
    status : int or None
        Last HTTP status received, ``None`` when no response came back.
    """

    def __init__(
        self, message: str, *, url: str, supplier_id: str | None, attempts: int, status: int | None
    ) -> None:
        super().__init__(message)
        self.url = url
        self.supplier_id = supplier_id
        self.attempts = attempts
        self.status = status


class DeliveryError(RuntimeError):
    """Raised by :meth:`NotifyResult.raise_for_failures` when some deliveries failed."""

    def __init__(self, message: str, failures: tuple[Delivery, ...]) -> None:
        super().__init__(message)
        self.failures = failures


# --------------------------------------------------------------------------------------------
# Alerts at the edge and payloads
# --------------------------------------------------------------------------------------------


def _alert_frame(alerts: Any) -> tuple[pl.DataFrame, bool]:
    """Validate and normalise an alert frame; return it with the was-pandas flag."""
    try:
        frame, was_pandas = to_polars(unwrap_frame(alerts))
    except TypeError:
        raise TypeError(
            "alerts must be an Alerts result (with a .frame) or a polars/pandas DataFrame, "
            f"got {type(alerts).__name__}"
        ) from None
    return _validate(frame), was_pandas


def _validate(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [name for name in _REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(
            f"alerts frame is missing column(s) {missing}; the alert contract is "
            f"{list(ALERT_COLUMNS)} (supplier_id optional)"
        )
    schema = frame.schema
    problems: list[str] = []
    for name in _TEXT_COLUMNS:
        if not isinstance(schema[name], pl.String | pl.Categorical | pl.Enum):
            problems.append(f"column {name!r} must be String, got {schema[name]}")
    for name in _TIMESTAMP_COLUMNS:
        if not isinstance(schema[name], pl.Datetime):
            problems.append(f"column {name!r} must be Datetime (UTC), got {schema[name]}")
    for name in _NUMBER_COLUMNS:
        dtype = schema[name]
        if not (dtype.is_numeric() or isinstance(dtype, pl.Null)):
            problems.append(f"column {name!r} must be numeric, got {dtype}")
    if problems:
        raise TypeError("invalid alerts frame: " + "; ".join(problems))
    null_ids = offending_rows(frame, pl.col("alert_id").is_null())
    if null_ids:
        raise ValueError(
            f"column 'alert_id' must not be null (it is the idempotency key); null at rows "
            f"{null_ids}"
        )

    supplier = (
        pl.col("supplier_id").cast(pl.String)
        if "supplier_id" in frame.columns
        else pl.lit(None, dtype=pl.String).alias("supplier_id")
    )
    normalised = frame.with_columns(
        *(pl.col(name).cast(pl.String) for name in _TEXT_COLUMNS),
        *(in_utc(pl.col(name), schema[name]) for name in _TIMESTAMP_COLUMNS),
        *(pl.col(name).cast(pl.Float64) for name in _NUMBER_COLUMNS if schema[name] == pl.Null),
        supplier,
    )
    extras = [name for name in normalised.columns if name not in ALERT_COLUMNS]
    # A frame built by concatenating incremental batches may repeat an alert; the latest row
    # carries the most recent view of the episode.
    return normalised.select(*ALERT_COLUMNS, *extras).unique(
        subset="alert_id", keep="last", maintain_order=True
    )


def _jsonable(frame: pl.DataFrame) -> pl.DataFrame:
    """Turn every column into JSON-native values, vectorised."""
    converted: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            # The convention of the CSV/NDJSON outputs: ``Z``, fractions only when present.
            converted.append(in_utc(column, dtype).dt.strftime(CSV_DATETIME_FORMAT).alias(name))
        elif isinstance(dtype, pl.Decimal):
            converted.append(column.cast(pl.Float64).alias(name))
        elif dtype.is_float():
            # NaN and ±inf are not JSON; receivers get null instead of a parse error.
            converted.append(pl.when(column.is_finite()).then(column).alias(name))
        elif isinstance(dtype, pl.Duration):
            converted.append(column.dt.total_seconds(fractional=True).alias(name))
        elif dtype.is_temporal() or isinstance(dtype, pl.Categorical | pl.Enum):
            converted.append(column.cast(pl.String).alias(name))
    return frame.with_columns(converted)


def _check_sent_at(sent_at: object) -> None:
    if not (
        sent_at is None or sent_at == "now" or isinstance(sent_at, datetime) or callable(sent_at)
    ):
        raise TypeError(
            f"sent_at must be 'now', a datetime, a callable returning one, or None; got {sent_at!r}"
        )


def _resolve_sent_at(sent_at: SentAt) -> str | None:
    _check_sent_at(sent_at)
    if sent_at is None:
        return None
    if sent_at == "now":
        return iso_utc(datetime.now(UTC))
    if isinstance(sent_at, datetime):
        return iso_utc(sent_at)
    moment = sent_at()
    if not isinstance(moment, datetime):
        raise TypeError(f"sent_at() must return a datetime, got {type(moment).__name__}")
    return iso_utc(moment)


def _groups(formatted: pl.DataFrame, sent_at: str | None) -> list[tuple[str | None, Payload]]:
    """One payload per supplier from a sorted frame already passed through :func:`_jsonable`."""
    if formatted.is_empty():
        return []
    parts = formatted.partition_by("supplier_id", maintain_order=True)
    groups: list[tuple[str | None, Payload]] = []
    for part in parts:
        supplier_id: str | None = part["supplier_id"][0]
        payload: Payload = {
            "supplier_id": supplier_id,
            "alerts": part.to_dicts(),
            "count": part.height,
        }
        if sent_at is not None:
            payload["sent_at"] = sent_at
        groups.append((supplier_id, payload))
    return groups


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(_SORT_COLUMNS, nulls_last=True)


def payloads(alerts: Any, *, sent_at: SentAt = None) -> list[Payload]:
    """Build the per-supplier payloads for ``alerts`` without sending anything.

    Useful to preview what sinks will receive. No state is consulted: every alert is included.

    Parameters
    ----------
    alerts : Alerts, polars.DataFrame or pandas.DataFrame
        Alert frame following the alert contract (see :data:`ALERT_COLUMNS`), or an object
        with such a frame as ``.frame``.
    sent_at : datetime, callable, "now" or None, default None
        Timestamp put in every payload; ``None`` leaves the key out.

    Returns
    -------
    list of dict
        One JSON-able payload per supplier, the unknown supplier (``None``) last.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> t0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
    >>> t1 = datetime(2024, 1, 1, 10, tzinfo=UTC)
    >>> alerts = pl.DataFrame({
    ...     "alert_id": ["a1", "a2"], "item_id": ["bolt", "nut"],
    ...     "start": [t0, t0], "end": [t1, t1], "buckets": [1, 1],
    ...     "peak_demand": [40, 30], "peak_ts": [t0, t0], "threshold": [20.0, 20.0],
    ...     "score": [4.0, 2.5], "excess": [20.0, 10.0], "supplier_id": ["S1", None],
    ... })
    >>> [(p["supplier_id"], p["count"]) for p in payloads(alerts)]
    [('S1', 1), (None, 1)]
    >>> payloads(alerts)[0]["alerts"][0]["start"]
    '2024-01-01T09:00:00Z'
    """
    frame, _ = _alert_frame(alerts)
    formatted = _jsonable(_sorted(frame))
    return [payload for _, payload in _groups(formatted, _resolve_sent_at(sent_at))]


# --------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------


class CallbackSink:
    """Deliver by calling ``func(supplier_id, payload)``.

    The callback receives the same JSON-able payload dict as every other sink (not a frame), so
    a callback can be swapped for a webhook without changing what it sees; use
    ``pl.DataFrame(payload["alerts"])`` to get a frame back. The return value is ignored; an
    exception marks the delivery as failed.

    Parameters
    ----------
    func : callable
        ``func(supplier_id: str | None, payload: dict) -> object``.
    name : str, optional
        Key in the state file; defaults to ``"callback:<qualified name of func>"``.

    Examples
    --------
    >>> received = []
    >>> sink = CallbackSink(lambda supplier, payload: received.append(supplier), name="inbox")
    >>> sink.send("S1", {"supplier_id": "S1", "alerts": [], "count": 0})
    >>> received
    ['S1']
    """

    def __init__(self, func: Callable[[str | None, Payload], object], *, name: str | None = None):
        if not callable(func):
            raise TypeError(f"CallbackSink needs a callable, got {type(func).__name__}")
        self.func = func
        self.name = name or f"callback:{getattr(func, '__qualname__', type(func).__name__)}"

    def send(self, supplier_id: str | None, payload: Payload) -> None:
        """Call the callback with ``supplier_id`` and ``payload``."""
        self.func(supplier_id, payload)

    def __repr__(self) -> str:
        return f"CallbackSink(name={self.name!r})"


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
      very dict a webhook would receive.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; missing parent folders are created.
    format : {"csv", "ndjson"}, optional
        Overrides the extension.
    name : str, optional
        Key in the state file; defaults to ``"file:<path>"``.

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
        self.name = name or f"file:{self.path}"

    def send(self, supplier_id: str | None, payload: Payload) -> None:
        """Append ``payload`` to the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "ndjson":
            text = _to_json(payload) + "\n"
        else:
            text = self._csv_text(payload)
        if text:
            # One write call per payload keeps a line from interleaving with another writer's.
            with self.path.open("a", encoding="utf-8", newline="") as handle:
                handle.write(text)

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


def _to_json(payload: Payload) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _redact(url: str) -> str:
    """URL without userinfo, query or fragment: what may safely go into logs and state keys."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _idempotency_key(supplier_id: str | None, payload: Payload) -> str:
    ids = sorted(str(alert.get("alert_id")) for alert in payload.get("alerts", []))
    digest = hashlib.sha256(json.dumps([supplier_id, ids]).encode())
    return digest.hexdigest()[:32]


def _retry_after(headers: Message | None) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header; the HTTP-date form is ignored."""
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn 3xx into errors: urllib would follow a 301/302/303 with a body-less GET and report
    success although the payload never arrived."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSink:
    """POST each supplier's payload as JSON to a URL (stdlib :mod:`urllib`, no extra deps).

    Connection errors, timeouts, HTTP 5xx and HTTP 429 are retried up to ``retries`` times with
    exponential back-off (``backoff``, ``2·backoff``, ``4·backoff``, … seconds, no jitter; a
    ``Retry-After: <seconds>`` header lengthens the pause, capped at 60 s). Other 4xx and 3xx
    responses fail at once: repeating the same request cannot help (redirects are not followed,
    since urllib would replay a POST as a body-less GET). Any 2xx is success. When a
    payload fails for good it is appended to the ``dead_letter`` NDJSON file (if given) with the
    error, the last status and the number of attempts, and :class:`WebhookError` is raised; the
    notifier then leaves its ids unsent, so a later run retries them.

    Every request carries ``Content-Type: application/json`` and an ``Idempotency-Key`` header
    derived from the supplier and the alert ids, identical across retries and reruns, so that a
    receiver can drop a repeat (for example when a response was lost after the server acted).

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` endpoint. Proxies from the environment apply, as in urllib.
    timeout : float, default 5.0
        Seconds for connecting and for each read of the response (urllib semantics: not a cap
        on the whole request).
    retries : int, default 3
        Extra attempts after the first, so at most ``retries + 1`` requests per payload.
    backoff : float, default 0.5
        Pause before the first retry; doubles for each further retry.
    dead_letter : str or os.PathLike, optional
        NDJSON file collecting payloads that could not be delivered. Request headers are not
        recorded (they may hold credentials).
    headers : mapping, optional
        Extra request headers (e.g. ``Authorization``); they override the defaults.
    name : str, optional
        Key in the state file; defaults to ``"webhook:<url without query/credentials>"``.
    sleep : callable, default time.sleep
        Used for the back-off pauses; tests inject a recorder.

    Examples
    --------
    >>> WebhookSink("https://user:token@example.com/hooks/stock?key=secret", retries=2)
    WebhookSink('https://example.com/hooks/stock', timeout=5.0, retries=2, backoff=0.5)
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        dead_letter: str | os.PathLike[str] | None = None,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// URL with a host, got {url!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        if not backoff >= 0:
            raise ValueError(f"backoff must be >= 0 seconds, got {backoff!r}")
        self.url = url
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self.dead_letter = Path(dead_letter) if dead_letter is not None else None
        self.headers = dict(headers or {})
        self.name = name or f"webhook:{_redact(url)}"
        self._sleep = sleep
        # Built once: it reads proxy settings from the environment.
        self._opener = urllib.request.build_opener(_RefuseRedirects)

    def send(self, supplier_id: str | None, payload: Payload) -> None:
        """POST ``payload``; retry as documented; dead-letter and raise when it keeps failing."""
        body = _to_json(payload).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json, */*;q=0.5",
            "User-Agent": "stockseries-webhook",
            "Idempotency-Key": _idempotency_key(supplier_id, payload),
            **self.headers,
        }
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        status: int | None = None
        error = ""
        attempt = 0
        for attempt in range(1, self.retries + 2):
            retry_after: float | None = None
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                status = exc.code
                error = f"HTTP {exc.code} {exc.reason}"
                retryable = exc.code >= 500 or exc.code == 429
                retry_after = _retry_after(exc.headers)
                exc.close()
            except TimeoutError:
                status, error, retryable = None, f"timed out after {self.timeout:g} s", True
            except urllib.error.URLError as exc:
                status, retryable = None, True
                reason = exc.reason
                error = (
                    f"timed out after {self.timeout:g} s"
                    if isinstance(reason, TimeoutError)
                    else f"connection failed: {reason}"
                )
            except (OSError, http.client.HTTPException) as exc:
                status, error, retryable = None, f"{type(exc).__name__}: {exc}", True
            if not retryable or attempt > self.retries:
                break
            delay = self.backoff * 2 ** (attempt - 1)
            self._sleep(max(delay, retry_after or 0.0))
        target = _redact(self.url)
        if self.dead_letter is not None:
            self._write_dead_letter(supplier_id, payload, error, status, attempt)
        raise WebhookError(
            f"POST {target} for supplier {supplier_id!r} failed after {attempt} attempt(s): "
            f"{error}",
            url=target,
            supplier_id=supplier_id,
            attempts=attempt,
            status=status,
        )

    def _write_dead_letter(
        self,
        supplier_id: str | None,
        payload: Payload,
        error: str,
        status: int | None,
        attempts: int,
    ) -> None:
        assert self.dead_letter is not None
        record = {
            "failed_at": iso_utc(datetime.now(UTC)),
            "sink": self.name,
            "supplier_id": supplier_id,
            "attempts": attempts,
            "status": status,
            "error": error,
            "payload": payload,
        }
        self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
        with self.dead_letter.open("a", encoding="utf-8") as handle:
            handle.write(_to_json(record) + "\n")

    def __repr__(self) -> str:
        dead_letter = f", dead_letter={str(self.dead_letter)!r}" if self.dead_letter else ""
        return (
            f"WebhookSink({_redact(self.url)!r}, timeout={self.timeout}, retries={self.retries}, "
            f"backoff={self.backoff}{dead_letter})"
        )


# --------------------------------------------------------------------------------------------
# State file
# --------------------------------------------------------------------------------------------


# Sent ids per sink as insertion-ordered sets (dict keys): the file keeps delivery order, which
# is deterministic, and saving needs no sort (sorting dominated the save time on 100k ids).
SentIds = dict[str, dict[str, None]]


def _load_state(path: Path) -> SentIds:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    hint = "fix it or delete it (deleting means every alert is sent again)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(f"state file {path} is not valid JSON ({exc}); {hint}") from None
    if not isinstance(data, dict) or data.get("format") != _STATE_FORMAT:
        raise StateFileError(
            f"state file {path} is not a stockseries sent-ids file (expected an object with "
            f'"format": "{_STATE_FORMAT}"); {hint}'
        )
    if data.get("version") != _STATE_VERSION:
        raise StateFileError(
            f"state file {path} has version {data.get('version')!r}, this stockseries reads "
            f"version {_STATE_VERSION}; {hint}"
        )
    sent = data.get("sent")
    if not isinstance(sent, dict) or not all(
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in sent.values()
    ):
        raise StateFileError(
            f'state file {path}: "sent" must map sink names to lists of alert id strings; {hint}'
        )
    return {str(sink): dict.fromkeys(ids) for sink, ids in sent.items()}


def _save_state(path: Path, sent: SentIds) -> None:
    data = {
        "format": _STATE_FORMAT,
        "version": _STATE_VERSION,
        "sent": {sink: list(ids) for sink, ids in sent.items()},
    }
    # dumps + one write is several times faster than json.dump's chunked writes.
    atomic_write(path, json.dumps(data, separators=(",", ":")) + "\n", permissions=0o600)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One ``send`` call: a sink, a supplier and the alert ids in its payload.

    ``error`` is ``None`` when the sink accepted the payload, else ``"<Type>: <message>"``.
    """

    sink: str
    supplier_id: str | None
    alert_ids: tuple[str, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the payload was delivered."""
        return self.error is None


_COUNT_COLUMNS = ("alerts", "new", "skipped_already_sent", "delivered", "failed")
_COUNTS_SCHEMA = {"supplier_id": pl.String(), **{name: pl.Int64() for name in _COUNT_COLUMNS}}


class NotifyResult:
    """Outcome of one :meth:`Notifier.notify` call.

    Counts are in alerts (distinct ``alert_id``), not in payloads:

    * ``new`` — alerts at least one sink had not received yet;
    * ``skipped_already_sent`` — alerts every sink had already received;
    * ``delivered`` — new alerts that every sink has now received;
    * ``failed`` — new alerts that at least one sink failed to deliver
      (``new == delivered + failed``).

    :attr:`frame` has the same counts per supplier; :attr:`deliveries` lists every ``send``.
    """

    __slots__ = ("_counts", "_was_pandas", "deliveries")

    def __init__(
        self, counts: pl.DataFrame, deliveries: Iterable[Delivery], *, was_pandas: bool = False
    ) -> None:
        self._counts = counts
        self._was_pandas = was_pandas
        self.deliveries: tuple[Delivery, ...] = tuple(deliveries)

    def _total(self, column: str) -> int:
        return int(self._counts[column].sum())

    @property
    def alerts(self) -> int:
        """Distinct alerts in the input."""
        return self._total("alerts")

    @property
    def new(self) -> int:
        """Alerts that at least one sink had not received before this call."""
        return self._total("new")

    @property
    def skipped_already_sent(self) -> int:
        """Alerts that every sink had already received."""
        return self._total("skipped_already_sent")

    @property
    def delivered(self) -> int:
        """New alerts that every sink has now received."""
        return self._total("delivered")

    @property
    def failed(self) -> int:
        """New alerts that at least one sink failed to deliver; they are retried next run."""
        return self._total("failed")

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    @property
    def failures(self) -> tuple[Delivery, ...]:
        """The deliveries that raised."""
        return tuple(delivery for delivery in self.deliveries if not delivery.ok)

    @property
    def failed_ids(self) -> frozenset[str]:
        """Alert ids in failed deliveries."""
        return frozenset(i for delivery in self.failures for i in delivery.alert_ids)

    @property
    def frame(self) -> Any:
        """Counts per supplier (pandas when the alerts came as pandas); unknown supplier last."""
        return like_input(self._counts, self._was_pandas)

    def raise_for_failures(self) -> NotifyResult:
        """Raise :class:`DeliveryError` when a delivery failed; return ``self`` otherwise."""
        failures = self.failures
        if failures:
            shown = "; ".join(
                f"{f.sink} / supplier {f.supplier_id!r}: {f.error}" for f in failures[:5]
            )
            more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
            raise DeliveryError(f"{len(failures)} delivery(ies) failed: {shown}{more}", failures)
        return self

    def __repr__(self) -> str:
        return (
            f"NotifyResult(new={self.new}, skipped_already_sent={self.skipped_already_sent}, "
            f"delivered={self.delivered}, failed={self.failed}, suppliers={self._counts.height})"
        )

    def _repr_html_(self) -> str:
        header = "".join(f"<th>{html.escape(name)}</th>" for name in self._counts.columns)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{'<i>unknown</i>' if value is None else html.escape(str(value))}</td>"
                for value in row
            )
            + "</tr>"
            for row in self._counts.iter_rows()
        )
        failures = "".join(
            f"<li><code>{html.escape(f.sink)}</code> / supplier "
            f"{html.escape(repr(f.supplier_id))}: {html.escape(f.error or '')}</li>"
            for f in self.failures
        )
        status = "all delivered" if self.ok else f"{len(self.failures)} delivery(ies) failed"
        return (
            f"<div><strong>NotifyResult</strong>: {self.new} new, "
            f"{self.skipped_already_sent} already sent, {self.delivered} delivered, "
            f"{self.failed} failed — {html.escape(status)}"
            f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
            + (f"<ul>{failures}</ul>" if failures else "")
            + "</div>"
        )


# --------------------------------------------------------------------------------------------
# Notifier
# --------------------------------------------------------------------------------------------


class Notifier:
    """Send new alerts to sinks, remembering per sink which ``alert_id`` went out.

    Build it once and call :meth:`notify` as often as alerts arrive: the state file is read
    here, once, and rewritten (atomically) only after a call that delivered something.
    Not thread-safe; one process at a time should use a given state file.

    Parameters
    ----------
    *sinks : Sink
        Objects with ``send(supplier_id, payload)``; their ``name`` attributes (state keys) must
        be distinct.
    state : str or os.PathLike, optional
        JSON file of sent ids. ``None`` keeps them in memory for the notifier's lifetime only.
    sent_at : "now", datetime, callable or None, default "now"
        ``sent_at`` stamp of the payloads: the wall clock at each call, a fixed datetime, a
        function returning one (called once per call), or ``None`` to leave the key out.

    Raises
    ------
    StateFileError
        When ``state`` exists but is not a readable sent-ids file.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> t0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
    >>> alerts = pl.DataFrame({
    ...     "alert_id": ["a1", "a2", "a3"], "item_id": ["bolt", "nut", "gear"],
    ...     "start": [t0] * 3, "end": [t0] * 3, "buckets": [1] * 3,
    ...     "peak_demand": [40, 30, 35], "peak_ts": [t0] * 3, "threshold": [20.0] * 3,
    ...     "score": [4.0, 2.5, 3.0], "excess": [20.0, 10.0, 15.0],
    ...     "supplier_id": ["S1", "S2", "S1"],
    ... })
    >>> inbox = []
    >>> notifier = Notifier(CallbackSink(lambda s, p: inbox.append((s, p["count"]))), sent_at=None)
    >>> notifier.notify(alerts)
    NotifyResult(new=3, skipped_already_sent=0, delivered=3, failed=0, suppliers=2)
    >>> inbox
    [('S1', 2), ('S2', 1)]
    >>> notifier.notify(alerts)  # nobody is notified twice
    NotifyResult(new=0, skipped_already_sent=3, delivered=0, failed=0, suppliers=2)
    """

    def __init__(
        self,
        *sinks: Sink,
        state: str | os.PathLike[str] | None = None,
        sent_at: SentAt = "now",
    ) -> None:
        if not sinks:
            raise ValueError("Notifier needs at least one sink")
        for sink in sinks:
            if not callable(getattr(sink, "send", None)):
                raise TypeError(f"{sink!r} is not a sink: it has no send(supplier_id, payload)")
        names = [_sink_name(sink) for sink in sinks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"sink names must be distinct (they key the state file); repeated: {duplicates}. "
                "Pass name=... to tell them apart"
            )
        _check_sent_at(sent_at)  # fail now, not at the first alert
        self._sinks: tuple[tuple[str, Sink], ...] = tuple(zip(names, sinks, strict=True))
        self._state_path = Path(state) if state is not None else None
        self._sent: SentIds = _load_state(self._state_path) if self._state_path is not None else {}
        self._sent_at = sent_at

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """The sinks, in delivery order."""
        return tuple(sink for _, sink in self._sinks)

    @property
    def state(self) -> Path | None:
        """Path of the state file, or ``None`` when state is kept in memory."""
        return self._state_path

    def sent_ids(self, sink: str | Sink) -> frozenset[str]:
        """Alert ids recorded as delivered to ``sink`` (a sink object or its name)."""
        name = sink if isinstance(sink, str) else _sink_name(sink)
        return frozenset(self._sent.get(name, {}))

    def notify(self, alerts: Any) -> NotifyResult:
        """Deliver the alerts no sink has seen yet; see :class:`NotifyResult` for the counts.

        Parameters
        ----------
        alerts : Alerts, polars.DataFrame or pandas.DataFrame
            Alert frame following the alert contract (:data:`ALERT_COLUMNS`, ``supplier_id``
            optional), or an object with such a frame as ``.frame``.

        Raises
        ------
        TypeError, ValueError
            When the alerts do not follow the contract (the message names the column).
        """
        frame, was_pandas = _alert_frame(alerts)
        frame = _sorted(frame)
        ids: list[str] = frame["alert_id"].to_list()
        # Set membership over the incoming ids keeps each call proportional to its own frame,
        # whatever the size of the history (an ``is_in`` against all sent ids would not be).
        pending = {
            name: pl.Series([i not in self._sent.get(name, {}) for i in ids], dtype=pl.Boolean)
            for name, _ in self._sinks
        }
        any_pending = pl.Series("new", [False] * len(ids), dtype=pl.Boolean)
        for mask in pending.values():
            any_pending = any_pending | mask
        deliveries: list[Delivery] = []
        if any_pending.any():
            stamp = _resolve_sent_at(self._sent_at)
            formatted = _jsonable(frame)
            sizes_before = {name: len(sent) for name, sent in self._sent.items()}
            try:
                for name, sink in self._sinks:
                    deliveries.extend(
                        self._deliver(name, sink, formatted.filter(pending[name]), stamp)
                    )
            finally:
                # Saved even when a sink raised something we do not catch (KeyboardInterrupt),
                # so that what did go out is never sent twice.
                changed = any(
                    len(sent) != sizes_before.get(name, 0) for name, sent in self._sent.items()
                )
                if changed and self._state_path is not None:
                    _save_state(self._state_path, self._sent)
        return NotifyResult(
            _counts(frame, any_pending, deliveries), deliveries, was_pandas=was_pandas
        )

    def _deliver(
        self, name: str, sink: Sink, todo: pl.DataFrame, stamp: str | None
    ) -> list[Delivery]:
        deliveries = []
        sent = self._sent.setdefault(name, {})
        for supplier_id, payload in _groups(todo, stamp):
            alert_ids = tuple(alert["alert_id"] for alert in payload["alerts"])
            try:
                sink.send(supplier_id, payload)
            except Exception as exc:  # a failing sink must not stop the others
                deliveries.append(
                    Delivery(name, supplier_id, alert_ids, f"{type(exc).__name__}: {exc}")
                )
            else:
                sent.update(dict.fromkeys(alert_ids))
                deliveries.append(Delivery(name, supplier_id, alert_ids))
        return deliveries

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self._sinks)
        state = str(self._state_path) if self._state_path is not None else None
        return f"Notifier([{names}], state={state!r})"


def _sink_name(sink: object) -> str:
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) and name else type(sink).__qualname__


def _counts(frame: pl.DataFrame, new: pl.Series, deliveries: Sequence[Delivery]) -> pl.DataFrame:
    if frame.is_empty():
        return pl.DataFrame(schema=_COUNTS_SCHEMA)
    failed_ids = {i for delivery in deliveries if not delivery.ok for i in delivery.alert_ids}
    failed = pl.Series("failed", [i in failed_ids for i in frame["alert_id"]], dtype=pl.Boolean)
    return (
        frame.select("supplier_id")
        .with_columns(new.alias("new"), failed)
        .group_by("supplier_id", maintain_order=True)
        .agg(
            pl.len().alias("alerts"),
            pl.col("new").sum().alias("new"),
            (~pl.col("new")).sum().alias("skipped_already_sent"),
            (pl.col("new") & ~pl.col("failed")).sum().alias("delivered"),
            pl.col("failed").sum().alias("failed"),
        )
        .cast({name: pl.Int64 for name in _COUNT_COLUMNS})
    )


def notify(
    alerts: Any,
    *sinks: Sink,
    state: str | os.PathLike[str] | None = None,
    sent_at: SentAt = "now",
) -> NotifyResult:
    """Deliver new alerts to ``sinks``, grouped by supplier; one-shot :class:`Notifier`.

    Without ``state`` nothing is remembered between calls; pass a path to make reruns
    idempotent. For repeated calls (live streams) build a :class:`Notifier` once instead, so
    the state file is read only once.

    Parameters
    ----------
    alerts : Alerts, polars.DataFrame or pandas.DataFrame
        Alert frame following the alert contract, or an object with one as ``.frame``.
    *sinks : Sink
        Where to deliver.
    state : str or os.PathLike, optional
        JSON file of sent ids per sink.
    sent_at : "now", datetime, callable or None, default "now"
        Stamp put in every payload; ``None`` leaves it out.

    Returns
    -------
    NotifyResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> t0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
    >>> alerts = pl.DataFrame({
    ...     "alert_id": ["a1", "a2"], "item_id": ["bolt", "nut"],
    ...     "start": [t0, t0], "end": [t0, t0], "buckets": [1, 1],
    ...     "peak_demand": [40, 30], "peak_ts": [t0, t0], "threshold": [20.0, 20.0],
    ...     "score": [4.0, 2.5], "excess": [20.0, 10.0], "supplier_id": ["S1", None],
    ... })
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = pathlib.Path(tmp.name)
    >>> sink = FileSink(folder / "alerts.csv")
    >>> notify(alerts, sink, state=folder / "sent.json", sent_at=t0)
    NotifyResult(new=2, skipped_already_sent=0, delivered=2, failed=0, suppliers=2)
    >>> notify(alerts, sink, state=folder / "sent.json", sent_at=t0)
    NotifyResult(new=0, skipped_already_sent=2, delivered=0, failed=0, suppliers=2)
    >>> print(sink.path.read_text().splitlines()[0])
    alert_id,item_id,start,end,buckets,peak_demand,peak_ts,threshold,score,excess,supplier_id,sent_at
    >>> tmp.cleanup()
    """
    return Notifier(*sinks, state=state, sent_at=sent_at).notify(alerts)
