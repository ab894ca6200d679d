"""The :class:`Notifier` and :func:`notify`: new alerts to sinks, once per sink."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from stockseries.sinks._payload import (
    alert_frame,
    check_sent_at,
    jsonable,
    payload_groups,
    resolve_sent_at,
    settings_of,
    sorted_alerts,
)
from stockseries.sinks.base import SentAt, Sink, sink_name
from stockseries.sinks.result import Delivery, NotifyResult, delivery_counts
from stockseries.sinks.state import SentState


class Notifier:
    """Send new alerts to sinks, remembering per sink which ``alert_id`` went out.

    Build it once and call :meth:`notify` as often as alerts arrive: the state file is read
    here, and again only when another process changed it; it is rewritten (atomically) only
    after a call that delivered something. Each send is journalled first (see the package
    docstring: at-least-once, at most the send in flight repeated). Not thread-safe; processes
    sharing a state file take turns (an exclusive lock per ``notify`` call).

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
    lock_timeout : float, default 60
        Seconds to wait for another process that holds the state file before raising
        :class:`~stockseries.sinks.StateLockedError`.

    Raises
    ------
    StateFileError
        When ``state`` exists but is not a readable sent-ids file (or its journal is damaged
        before its last line).

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
    >>> from stockseries.sinks import CallbackSink
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
        lock_timeout: float = 60.0,
    ) -> None:
        if not sinks:
            raise ValueError("Notifier needs at least one sink")
        for sink in sinks:
            if not callable(getattr(sink, "send", None)):
                raise TypeError(f"{sink!r} is not a sink: it has no send(supplier_id, payload)")
        names = [sink_name(sink) for sink in sinks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"sink names must be distinct (they key the state file); repeated: {duplicates}. "
                "Pass name=... to tell them apart"
            )
        check_sent_at(sent_at)  # fail now, not at the first alert
        self._sinks: tuple[tuple[str, Sink], ...] = tuple(zip(names, sinks, strict=True))
        self._state = SentState(state, lock_timeout=lock_timeout)
        self._sent_at = sent_at

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """The sinks, in delivery order."""
        return tuple(sink for _, sink in self._sinks)

    @property
    def state(self) -> Path | None:
        """Path of the state file, or ``None`` when state is kept in memory."""
        return self._state.path

    def sent_ids(self, sink: str | Sink) -> frozenset[str]:
        """Alert ids recorded as delivered to ``sink`` (a sink object or its name)."""
        name = sink if isinstance(sink, str) else sink_name(sink)
        return frozenset(self._state.ids(name))

    def notify(self, alerts: Any, *, settings: Mapping[str, Any] | None = None) -> NotifyResult:
        """Deliver the alerts no sink has seen yet; see :class:`NotifyResult` for the counts.

        Parameters
        ----------
        alerts : Alerts, polars.DataFrame or pandas.DataFrame
            Alert frame following the alert contract (:data:`ALERT_COLUMNS`, ``supplier_id``
            optional), or an object with such a frame as ``.frame``.
        settings : mapping, optional
            The settings that produced the alerts, recorded in every payload as
            ``"settings"``. By default those an :class:`~stockseries.alerts.Alerts` result
            carries (``Alerts.params``); a bare frame carries none, and the key is left out.

        Raises
        ------
        TypeError, ValueError
            When the alerts do not follow the contract (the message names the column).
        """
        recorded = settings_of(alerts, settings)
        frame, was_pandas = alert_frame(alerts)
        frame = sorted_alerts(frame)
        ids: list[str] = frame["alert_id"].to_list()
        any_pending = self._pending(ids)[1]
        deliveries: list[Delivery] = []
        if any_pending.any():
            # Under the lock, with the ids other processes recorded meanwhile.
            with self._state.session():
                pending, any_pending = self._pending(ids)
                self._warn_in_doubt(set(ids))
                if any_pending.any():
                    stamp = resolve_sent_at(self._sent_at)
                    formatted = jsonable(frame)
                    with _sigterm_as_interrupt():
                        for name, sink in self._sinks:
                            todo = formatted.filter(pending[name])
                            deliveries.extend(self._deliver(name, sink, todo, stamp, recorded))
        return NotifyResult(
            delivery_counts(frame, any_pending, deliveries), deliveries, was_pandas=was_pandas
        )

    def _pending(self, ids: list[str]) -> tuple[dict[str, pl.Series], pl.Series]:
        """Per sink, which ids it still needs; and which ids some sink needs."""
        # Set membership over the incoming ids keeps each call proportional to its own frame,
        # whatever the size of the history (an ``is_in`` against all sent ids would not be).
        pending = {
            name: pl.Series([i not in self._state.ids(name) for i in ids], dtype=pl.Boolean)
            for name, _ in self._sinks
        }
        any_pending = pl.Series("new", [False] * len(ids), dtype=pl.Boolean)
        for mask in pending.values():
            any_pending = any_pending | mask
        return pending, any_pending

    def _warn_in_doubt(self, ids: set[str]) -> None:
        repeats = {
            name: len(self._state.in_doubt.get(name, set()) & ids) for name, _ in self._sinks
        }
        if any(repeats.values()):
            counts = ", ".join(f"{count} to {name}" for name, count in repeats.items() if count)
            warnings.warn(
                f"an earlier run stopped while sending ({counts} alert(s) in flight): they are "
                "sent again with the same Idempotency-Key, so a receiver may see them twice",
                RuntimeWarning,
                stacklevel=3,
            )

    def _deliver(
        self,
        name: str,
        sink: Sink,
        todo: pl.DataFrame,
        stamp: str | None,
        settings: dict[str, Any] | None,
    ) -> list[Delivery]:
        deliveries = []
        for supplier_id, payload in payload_groups(todo, stamp, settings):
            alert_ids = tuple(alert["alert_id"] for alert in payload["alerts"])
            self._state.intent(name, alert_ids)
            try:
                sink.send(supplier_id, payload)
            except Exception as exc:  # a failing sink must not stop the others
                deliveries.append(
                    Delivery(name, supplier_id, alert_ids, f"{type(exc).__name__}: {exc}")
                )
            else:
                self._state.done(name, alert_ids)
                deliveries.append(Delivery(name, supplier_id, alert_ids))
        return deliveries

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self._sinks)
        state = str(self._state.path) if self._state.path is not None else None
        return f"Notifier([{names}], state={state!r})"


def notify(
    alerts: Any,
    *sinks: Sink,
    state: str | os.PathLike[str] | None = None,
    sent_at: SentAt = "now",
    settings: Mapping[str, Any] | None = None,
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
    settings : mapping, optional
        The settings that produced the alerts, recorded in every payload; by default those
        of an :class:`~stockseries.alerts.Alerts` result (see :meth:`Notifier.notify`).

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
    >>> from stockseries.sinks import FileSink
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
    return Notifier(*sinks, state=state, sent_at=sent_at).notify(alerts, settings=settings)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the sends are, so that it unwinds like Ctrl-C."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While sends run, SIGTERM (systemd, Docker, Kubernetes) stops them like SIGINT does.

    The send in flight is abandoned (its intent stays in the journal, so it is sent again next
    time), what went out is recorded, and the exception propagates. Only the main thread can
    install signal handlers; elsewhere the process's own handling applies.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise _Terminated(f"stopped by signal {signum} (SIGTERM)")

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not in the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
