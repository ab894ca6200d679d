"""Every public result object shows itself through the one HTML helper (``stockseries._html``).

Table-driven: each row builds a result object from real components, twice, on data whose
item and supplier ids carry markup. Its ``_repr_html_`` must come from ``result_html`` (the
``ss-result`` wrapper and ``ss-table`` tables), hold nothing but the helper's tags (so every
text was escaped), and — like its ``repr`` — be the same for the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import stockseries as ss
from stockseries.outofcore import (
    GeneratedDataset,
    OutOfCoreResult,
    generate_dataset,
    run_out_of_core,
)

#: The tags the helper writes; anything else in a page is text that was not escaped.
HELPER_TAGS = {"div", "strong", "table", "caption", "thead", "tbody", "tr", "th", "td", "p"}

HOSTILE = "<b>&"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _sim() -> Any:
    """A small seeded simulation whose item ids carry markup."""
    sim = ss.simulate(4, days=1.0, seed=3)
    marked = (pl.lit(HOSTILE) + pl.col("item_id")).alias("item_id")
    return sim.events.with_columns(marked), sim.labels.with_columns(marked)


def _series() -> tuple[pl.DataFrame, pl.DataFrame]:
    events, labels = _sim()
    return ss.resample(events, every="5m"), labels


def _alerts() -> ss.Alerts:
    series, _ = _series()
    return ss.alerts(ss.detect_spikes(series, window=12, k=2.0))


def _tune() -> ss.TuneResult:
    series, labels = _series()
    return ss.tune(
        series, labels, windows=12, ks=(2.0, 3.0), min_demands=0, smooths=1, progress=False
    )


def _validated() -> ss.ValidatedEvents:
    events, _ = _sim()
    bad = events.head(5).with_columns(pl.col("quantity") * 0)
    return ss.validate_events(pl.concat([events.head(20), bad]), strict=False)


def _processor() -> ss.StreamProcessor:
    events, _ = _sim()
    processor = ss.StreamProcessor(every="5m", window=12, k=2.0)
    processor.push(events)
    return processor


def _step() -> ss.StepResult:
    events, _ = _sim()
    return ss.StreamProcessor(every="5m", window=12, k=2.0).push(events)


def _notified() -> ss.NotifyResult:
    def refuse(supplier_id: str | None, payload: dict[str, Any]) -> None:
        if supplier_id is None:
            raise ValueError(HOSTILE)

    found = _alerts().frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(None)
        .otherwise(pl.lit(HOSTILE) + "S")
        .alias("supplier_id")
    )
    return ss.notify(found, ss.CallbackSink(refuse, name=HOSTILE), sent_at=None)


def _dataset(root: Path) -> GeneratedDataset:
    return generate_dataset(root / "data", 4_000, n_items=5, days=2, progress=False)


def _out_of_core(root: Path) -> OutOfCoreResult:
    made = _dataset(root)
    return run_out_of_core(made.events_dir, every="5m", progress=False)


BUILDERS: dict[str, Callable[[Path], Any]] = {
    "Simulation": lambda _: ss.simulate(4, days=1.0, seed=3),
    "Alerts": lambda _: _alerts(),
    "Alerts (none)": lambda _: ss.alerts(ss.detect_spikes(_series()[0].head(0)), every="5m"),
    "TuneResult": lambda _: _tune(),
    "TransformChoice": lambda _: ss.choose_transform(_series()[0], window=12),
    "ValidatedEvents": lambda _: _validated(),
    "StreamProcessor": lambda _: _processor(),
    "StepResult": lambda _: _step(),
    "NotifyResult": lambda _: _notified(),
    "GeneratedDataset": _dataset,
    "OutOfCoreResult": _out_of_core,
}

#: Their pages show ids from the data (which carry markup).
SHOW_IDS = {"Alerts", "NotifyResult"}

#: Their pages show wall time, memory or bytes on disk: the same object gives the same page.
MEASURED = {"GeneratedDataset", "OutOfCoreResult"}


def test_every_public_result_class_is_in_the_table() -> None:
    results = {
        name
        for name in ss.__all__
        if isinstance(getattr(ss, name), type) and hasattr(getattr(ss, name), "_repr_html_")
    }
    assert results <= {name.split(" ")[0] for name in BUILDERS}, results


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_result_html_is_built_by_the_helper_escaped_and_deterministic(
    name: str, tmp_path: Path
) -> None:
    build = BUILDERS[name]
    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    page = first._repr_html_()
    assert page.startswith('<div class="ss-result"><strong>') and page.endswith("</div>")
    assert 'class="ss-table"' in page or name == "Alerts (none)"
    tags = _Tags()
    tags.feed(page)
    tags.close()
    assert tags.seen <= HELPER_TAGS and not tags.open, (tags.seen, tags.open)
    assert "<script" not in page and "style=" not in page
    assert repr(first) == repr(second) and "0x" not in repr(first)
    assert page == first._repr_html_()
    if name not in MEASURED:
        assert page == second._repr_html_()
    if name in SHOW_IDS:
        assert HOSTILE in "".join(tags.text) and "&lt;b&gt;&amp;" in page
