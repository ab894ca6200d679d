"""Broker building blocks without a broker: formats, event-time merge, positions, partitioner."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries.brokers import partition_of
from stockseries.brokers.checkpoint import load_checkpoint, read_positions, save_checkpoint
from stockseries.brokers.eventtime import OFFSET, PART, ROW, EventTimeMerge, Position
from stockseries.brokers.formats import decode, encode_arrow, encode_json
from stockseries.brokers.locate import locate, skip_released
from stockseries.brokers.partition import murmur2
from stockseries.events import read_events
from stockseries.live import CheckpointError, StreamProcessor


def _events(n: int, seed: int = 0) -> pl.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    return read_events(
        pl.DataFrame(
            {
                "ts": pl.Series(np.sort(rng.integers(0, 3_600_000_000, n))).cast(
                    pl.Datetime("us", "UTC")
                ),
                "item_id": [f"A{i % 7}" for i in range(n)],
                "kind": ["order" if i % 3 else "delivery" for i in range(n)],
                "quantity": rng.integers(1, 9, n),
                "customer_id": [None if i % 2 else f"C{i}" for i in range(n)],
            }
        )
    )


# Kafka's own test vectors for its murmur2 (Java client, signed ints).
@pytest.mark.parametrize(
    ("key", "expected"),
    [("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536),
     ("a-little-bit-longer-string", -1486304829), ("abc", 479470107),
     ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971)],
)  # fmt: skip
def test_murmur2_matches_the_java_client(key: str, expected: int) -> None:
    value = murmur2(key.encode())
    assert (value - (1 << 32) if value >= 1 << 31 else value) == expected


def test_partition_of_is_stable_and_in_range() -> None:
    parts = partition_of([f"A{i:03d}" for i in range(200)], 6)
    assert set(parts.values()) == set(range(6))


@pytest.mark.parametrize("fmt", ["json", "arrow"])
def test_round_trip(fmt: str) -> None:
    events = _events(50)
    if fmt == "json":
        keys, values = encode_json(events)
        assert keys[0] == events["item_id"][0].encode()
    else:
        values = [encode_arrow(events.head(20)), encode_arrow(events.slice(20))]
    decoded = decode(values)
    assert decoded.rejected == []
    assert decoded.events.drop("__message").equals(events)


def test_arrow_rows_are_rejected_one_by_one_and_json_is_read_slowly_when_needed() -> None:
    events = _events(5)
    broken = events.with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(-1)
        .otherwise(pl.col("quantity"))
        .alias("quantity")
    )
    pretty = (
        b'{\n "ts": "2024-01-01T00:00:00Z",\n "item_id": "A",\n "kind": "order",\n "quantity": 1}'
    )
    decoded = decode([encode_arrow(broken), b"", pretty, b"\xff\xff\xff\xffnope"])
    assert decoded.events["__message"].to_list() == [0, 0, 0, 0, 2]
    reasons = dict(decoded.rejected)
    assert reasons[0].startswith("quantity: must be an integer > 0")
    assert reasons[1] == "empty message"
    assert reasons[3].startswith("not a valid Arrow IPC stream")


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_any_arrow_ipc_stream_decodes_compressed_or_not_string_or_view(
    compression: str | None,
) -> None:
    """Producers other than ours send plain ``large_string`` columns, compressed or not."""
    import pyarrow as pa

    events = _events(50)
    table = events.to_arrow()  # large_string columns (the oldest compat level)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    ours = encode_arrow(events, compression=compression)  # type: ignore[arg-type]
    for blob in (bytes(sink.getvalue()), ours):
        assert decode([blob]).events.drop("__message").equals(events)
    assert len(encode_arrow(_events(5_000))) < len(encode_arrow(_events(5_000), compression=None))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3)), min_size=1, max_size=40),
    st.booleans(),
)
def test_locate_ranks_rows_within_their_message_by_event_time(
    pairs: list[tuple[int, int]], grouped: bool
) -> None:
    """The vectorised paths (grouped, sorted messages) give the ranks of the general one."""
    messages = sorted(p[0] for p in pairs) if grouped else [p[0] for p in pairs]
    rows = pl.DataFrame(
        {
            "ts": pl.Series([p[1] for p in pairs]).cast(pl.Datetime("us", "UTC")),
            "__message": pl.Series(messages, dtype=pl.Int64),
        }
    )
    codes, offsets = [3, 1, 2, 0, 5, 4], [10, 11, 12, 13, 14, 15]
    index = rows["__message"]
    expected = (
        rows.drop("__message")
        .with_columns(
            pl.Series(PART, codes, dtype=pl.Int32).gather(index),
            pl.Series(OFFSET, offsets, dtype=pl.Int64).gather(index),
        )
        .with_columns(
            pl.col("ts").rank("ordinal").over(PART, OFFSET).cast(pl.Int64).sub(1).alias(ROW)
        )
    )
    assert locate(rows, codes, offsets).to_dicts() == expected.to_dicts()


def test_a_batch_without_timestamps_is_rejected_whole() -> None:
    decoded = decode([b'{"item_id": "A", "kind": "order", "quantity": 1}'] * 2)
    assert decoded.events.height == 0
    assert [i for i, _ in decoded.rejected] == [0, 1]


def _tagged(events: pl.DataFrame, part: int, offsets: list[int]) -> pl.DataFrame:
    return events.with_columns(
        pl.lit(part, pl.Int32).alias(PART), pl.Series(OFFSET, offsets), pl.lit(0).alias(ROW)
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
    st.integers(2, 4),
    st.integers(0, 10_000),
    st.sampled_from(["ordered", "ties", "shuffled"]),
)
def test_merge_releases_every_event_once_in_event_time_order(
    cuts: list[int], parts: int, seed: int, shape: str
) -> None:
    """Any interleaving of per-partition batches: everything comes out once, time-ordered.

    Batches in time order (Arrow messages as published), with many equal times, or in any
    order (JSON messages as they come): the merge keeps ties in arrival order.
    """
    import random

    events = _events(120, seed)
    if shape == "ties":
        events = events.with_columns(pl.col("ts").dt.truncate("10m"))
    elif shape == "shuffled":
        events = events.sample(fraction=1.0, shuffle=True, seed=seed)
    by_part = [events.gather(list(range(p, events.height, parts))) for p in range(parts)]
    batches = []
    for p, frame in enumerate(by_part):
        start = 0
        for cut in [*cuts, frame.height]:
            piece = frame.slice(start, cut)
            if piece.height:
                batches.append((p, start, piece))
            start += piece.height
            if start >= frame.height:
                break
    random.Random(seed).shuffle(batches)
    batches.sort(key=lambda b: (b[0], b[1]))  # per partition in offset order ...
    random.Random(seed + 1).shuffle(batches)  # ... interleaved across partitions
    batches.sort(key=lambda b: b[1])  # (keep every partition's own order)
    merge = EventTimeMerge(idle_timeout=None)
    merge.assign(range(parts))
    out = []
    # The reference: held rows in arrival order; released = those at or below the
    # watermark, stably sorted by time (ties in arrival order).
    reference = events.clear()
    for p, start, piece in batches:
        offsets = list(range(start, start + piece.height))
        merge.add(_tagged(piece, p, offsets), {p: offsets[-1]})
        reference = pl.concat([reference, piece])
        released = merge.release()
        if released is not None:
            out.append(released)
            due = reference["ts"].dt.epoch("us") <= merge.watermark_us
            assert_frame_equal(released, reference.filter(due).sort("ts", maintain_order=True))
            reference = reference.filter(~due)
        # the positions never claim a held event
        for part, where in merge.positions().items():
            held = merge.held_rows()
            if held.height:
                mine = held.filter(pl.col(PART) == part)
                if mine.height:
                    assert where.offset == mine[OFFSET].min()
    rest = merge.release(final=True)
    if rest is not None:
        out.append(rest)
    got = pl.concat(out)
    assert got.height == events.height
    assert got["ts"].is_sorted() or out[-1] is rest  # sorted up to the final drain
    assert rest is None or rest.height == reference.height
    assert sorted(got["ts"].to_list()) == sorted(events["ts"].to_list())


def test_idle_partition_stops_holding_the_watermark_back() -> None:
    now = [0.0]
    merge = EventTimeMerge(idle_timeout=5.0, clock=lambda: now[0])
    merge.assign([0, 1])
    events = _events(4)
    merge.add(_tagged(events, 0, [0, 1, 2, 3]), {0: 3})
    assert merge.release() is None  # partition 1 has said nothing
    now[0] = 6.0
    merge.add(_tagged(events.clear(), 0, []), {0: 3})  # partition 0 still active
    assert merge.release().height == 4  # type: ignore[union-attr]


def test_resume_skips_the_released_rows_of_a_partly_released_message() -> None:
    events = _events(6)
    message = events.with_columns(pl.lit(0, pl.Int64).alias("__message"))
    rows = locate(message, [0], [7])
    assert rows[ROW].to_list() == list(range(6))
    kept = skip_released(rows, {0: Position(7, 4)}, {0: 7})
    assert kept[ROW].to_list() == [4, 5]


def test_checkpoint_carries_positions_with_the_state(tmp_path) -> None:
    processor = StreamProcessor("1m", window=5)
    processor.push(_events(30))
    path = save_checkpoint(
        tmp_path / "state.zip", processor, {"orders": {0: Position(12, 3), 1: Position(4)}},
        levels=pl.DataFrame({"item_id": ["A0"], "level": [3]}),
    )  # fmt: skip
    assert read_positions(path) == {"orders": {0: Position(12, 3), 1: Position(4, 0)}}
    restored = load_checkpoint(path, expect={"every": "60s", "window": 5})
    assert restored.processor.stats == processor.stats
    assert restored.levels is not None and restored.levels["level"].to_list() == [3]
    with pytest.raises(CheckpointError):
        load_checkpoint(path, expect={"window": 6})
