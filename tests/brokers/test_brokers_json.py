"""JSON messages decoded a whole batch at a time: every reading step gives the same frame."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries.brokers import ndjson
from stockseries.brokers.formats import decode

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=8),
    st.sampled_from(["2024-01-01", "2024-01-01T00:00:00Z", "order", 'a "quoted" \\ value']),
    st.lists(st.integers(0, 9), max_size=3),
)
_KEYS = ["ts", "item_id", "kind", "quantity", "customer_id", "note"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(_KEYS), _VALUES, min_size=1),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_arrow_reader_gives_what_polars_infers(objects: list[dict[str, object]], spaced: bool):
    """Whenever step 1 (Arrow) answers, its frame is step 2's (Polars, schema from every row)."""
    separators = (", ", ": ") if spaced else (",", ":")
    values = [json.dumps(o, separators=separators).encode() for o in objects]
    block = b"\n".join(values)
    fast = ndjson._arrow_read(block, len(values), None)
    slow = ndjson._polars_read(block, len(values))
    if fast is None or slow is None:
        return
    # Arrow puts the pinned ``ts`` first; validation puts every column in canonical order.
    assert fast.select(slow.columns).equals(slow)


def test_batches_arrow_cannot_read_exactly_take_the_slower_steps() -> None:
    good = b'{"ts": "2024-01-01T00:00:05Z", "item_id": "A", "kind": "order", "quantity": 2}'
    # A date-like extra column stays the string the producer sent.
    out = decode([good, good[:-1] + b', "due": "2024-02-01"}'])
    assert out.rejected == []
    assert out.events.schema["due"] == pl.String
    assert out.events["due"].to_list() == [None, "2024-02-01"]
    # ``2`` in one message and ``"2"`` in another: Polars infers one type for both.
    out = decode([good, good.replace(b"2}", b'"2"}')])
    assert out.rejected == []
    assert out.events["quantity"].to_list() == [2, 2]
    # Two objects on one line, a pretty-printed object and a list: told apart one by one.
    out = decode([good, good + b" " + good, good.replace(b", ", b",\n "), b"[1]"])
    assert out.events["__message"].to_list() == [0, 2]
    assert [(i, r.split(":")[0]) for i, r in out.rejected] == [
        (1, "not valid JSON"),
        (3, "not a JSON object"),
    ]


def test_a_large_batch_keeps_every_message_in_order() -> None:
    def event(i: int) -> dict[str, object]:
        return {"ts": f"2024-01-01T00:00:{i % 60:02d}Z", "item_id": f"I{i % 7}",
                "kind": "order", "quantity": 1 + i % 5}  # fmt: skip

    values = [json.dumps(event(i)).encode() for i in range(5_000)]
    values[1234] = b""
    out = decode(values)
    assert out.rejected == [(1234, "empty message")]
    assert out.events["__message"].to_list() == [i for i in range(5_000) if i != 1234]
    assert out.events["quantity"].to_list() == [1 + i % 5 for i in range(5_000) if i != 1234]
