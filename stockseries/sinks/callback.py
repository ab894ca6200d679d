"""``CallbackSink``: deliver by calling a function."""

from __future__ import annotations

from collections.abc import Callable

from stockseries.sinks.base import Payload


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
