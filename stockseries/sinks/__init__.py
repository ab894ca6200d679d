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

Modules: :mod:`~stockseries.sinks.base` (the :class:`Sink` protocol, ``idempotency_key``, URL
identity -- the base for sinks in other modules, e.g. broker sinks),
:mod:`~stockseries.sinks.callback`, :mod:`~stockseries.sinks.file`,
:mod:`~stockseries.sinks.webhook`, :mod:`~stockseries.sinks.state` (journal and lock),
:mod:`~stockseries.sinks.notifier` and :mod:`~stockseries.sinks.result`.

Payload
-------
Every sink receives the same JSON-able dict per supplier::

    {"supplier_id": "S1",           # None for alerts whose supplier is unknown
     "alerts": [{...}, ...],        # one dict per alert, every column of the alert frame
     "count": 2,
     "settings": {...},             # what produced the alerts; left out when unknown
     "sent_at": "2024-01-01T00:00:00Z"}   # left out when ``sent_at=None``

``settings`` is the canonical JSON :meth:`Alerts.settings_json
<stockseries.alerts.Alerts.settings_json>` writes beside alert files (detection, bucket
length, episode rules): given as ``notify(..., settings=...)`` or taken from an
:class:`~stockseries.alerts.Alerts` result; the live engine's runs (``run_stream``,
``replay_file``, brokers, the dashboard) always pass it. A bare frame records none.

Timestamps are ISO-8601 UTC strings with a ``Z`` suffix (fractional seconds only when present);
non-finite floats (NaN, ±inf) become ``null`` so that the payload is strict JSON. Alerts whose
``supplier_id`` is null, or whose frame has no ``supplier_id`` column, go to one group whose
``supplier_id`` is ``None``; routing that group is the sink's business (a webhook receives it
like any other). Within a payload, alerts are ordered by ``start``, ``item_id``, ``alert_id``;
groups come in ``supplier_id`` order with the unknown supplier last.

Idempotency and durability
--------------------------
Sent ids are kept **per sink** (keyed by the sink's ``name``), so that when one sink fails and
another succeeds, the next run retries only the failing one and never duplicates the other's
deliveries. A sink's name says everything that makes its destination distinct: a
:class:`FileSink` is ``file:<canonical absolute path>`` (a relative and an absolute spelling of
one file are one sink), a :class:`WebhookSink` is ``webhook:<scheme://host[:port]/path>`` plus
``?sha256=...`` of the query string when there is one (``?tenant=1`` and ``?tenant=2`` are two
sinks; the query is hashed because it may hold a token; credentials never appear).

**Guarantee: at-least-once, with at most the send in flight repeated.** With ``state=path``,
every send is bracketed by a write-ahead journal next to the state file
(``<state>.journal``, one JSON line per record, each ``fsync``-ed): *intent* (sink, alert ids)
before ``send`` is called, *done* once it returned. The journal is folded into the state file
(JSON, written to a temporary file, ``fsync``-ed and renamed; owner-only permissions) at the end
of each ``notify`` call and then removed. After a crash -- SIGKILL, power loss -- the next run
reads the state file and replays the journal: *done* ids count as sent, ids with an *intent*
but no *done* were in flight and are sent again (a warning says how many), with the same
``Idempotency-Key``. Nothing recorded as done is sent twice and nothing is lost. SIGTERM is
handled like Ctrl-C (SIGINT) while sends run: the send in flight is abandoned, what went out is
recorded, and the exception propagates. A payload that a :class:`WebhookSink` gives up on is
appended to its dead-letter file *and* left unrecorded, so the next run delivers it again: the
dead-letter file is a log for humans, not a substitute for delivery. Ids of sinks the notifier
does not know are kept untouched. With ``state=None`` the record lives only as long as the
:class:`Notifier`. When one frame holds the same ``alert_id`` twice, the last row wins.

**One writer at a time.** A ``notify`` call that has something to send takes an exclusive lock
on the state (``flock`` on the journal) for the duration of the call and re-reads the state file
if another process changed it meanwhile, so two processes sharing a state file never send the
same alert twice. A process that finds the state locked waits up to ``lock_timeout`` seconds
(default 60) and then raises :class:`StateLockedError` naming the file.

A failing sink never stops the others: its exception is recorded in the result
(:attr:`NotifyResult.failures`); call :meth:`NotifyResult.raise_for_failures` to turn failures
into an exception.
"""

from __future__ import annotations

from typing import Any

from stockseries._schema import ALERT_COLUMNS
from stockseries.sinks._payload import payloads
from stockseries.sinks.base import (
    Payload,
    Sink,
    StateFileError,
    StateLockedError,
    WebhookError,
    idempotency_key,
)
from stockseries.sinks.callback import CallbackSink
from stockseries.sinks.file import FileSink
from stockseries.sinks.notifier import Notifier, notify
from stockseries.sinks.result import Delivery, DeliveryError, NotifyResult
from stockseries.sinks.webhook import WebhookSink

__all__ = [
    "ALERT_COLUMNS",
    "CallbackSink",
    "Delivery",
    "DeliveryError",
    "FileSink",
    "Notifier",
    "NotifyResult",
    "Payload",
    "Sink",
    "StateFileError",
    "StateLockedError",
    "WebhookError",
    "WebhookSink",
    "idempotency_key",
    "notify",
    "payloads",
]

#: Broker alert sinks live in :mod:`stockseries.brokers` (optional clients); named here too.
_BROKER_SINKS = ("KafkaSink", "RedisStreamSink")


def __getattr__(name: str) -> Any:
    if name in _BROKER_SINKS:
        from stockseries import brokers

        return getattr(brokers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
