"""What a ``notify`` call did: :class:`Delivery`, :class:`NotifyResult`, :class:`DeliveryError`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from stockseries._frames import like_input
from stockseries._html import result_html


class DeliveryError(RuntimeError):
    """Raised by :meth:`NotifyResult.raise_for_failures` when some deliveries failed."""

    def __init__(self, message: str, failures: tuple[Delivery, ...]) -> None:
        super().__init__(message)
        self.failures = failures


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


COUNT_COLUMNS = ("alerts", "new", "skipped_already_sent", "delivered", "failed")


COUNTS_SCHEMA = {"supplier_id": pl.String(), **{name: pl.Int64() for name in COUNT_COLUMNS}}


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
        failures = pl.DataFrame(
            [(f.sink, f.supplier_id, f.error) for f in self.failures],
            schema={"sink": pl.String(), "supplier_id": pl.String(), "error": pl.String()},
            orient="row",
        )
        unknown = pl.col("supplier_id").fill_null("(unknown)")
        status = "all delivered" if self.ok else f"{len(self.failures)} delivery(ies) failed"
        return result_html(
            "NotifyResult",
            [
                ("new", self.new),
                ("already sent", self.skipped_already_sent),
                ("delivered", self.delivered),
                ("failed", self.failed),
            ],
            note=status,
            frames=[
                ("Per supplier", self._counts.with_columns(unknown)),
                *([("Failed deliveries", failures.with_columns(unknown))] if self.failures else []),
            ],
        )


def delivery_counts(
    frame: pl.DataFrame, new: pl.Series, deliveries: Sequence[Delivery]
) -> pl.DataFrame:
    if frame.is_empty():
        return pl.DataFrame(schema=COUNTS_SCHEMA)
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
        .cast({name: pl.Int64 for name in COUNT_COLUMNS})
    )
