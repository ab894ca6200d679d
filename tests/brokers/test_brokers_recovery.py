"""Crashes, restarts and scale-out against real brokers: the state stays exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import stockseries as ss
from stockseries.brokers import (
    BrokerUnavailableError,
    consume,
    kafka_source,
    publish_kafka,
    publish_redis,
    redis_source,
)
from stockseries.cli import main
from stockseries.live import StreamProcessor

from .conftest import free_port, kafka_server, make_bucket, redis_server_process, s3_server

FLAGS = ["--every", "1m", "--window", "30", "--k", "4"]


@pytest.fixture(scope="module")
def sim() -> ss.Simulation:
    return ss.simulate(10, start="2024-01-01", days=0.5, seed=11)


def _name() -> str:
    return uuid.uuid4().hex[:8]


def _batch(events: pl.DataFrame, tmp: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    path = tmp / "events.parquet"
    events.write_parquet(path)
    assert main(["detect", str(path), *FLAGS, "-o", str(tmp / "batch.csv")]) == 0
    levels = ss.stock_levels(events).group_by("item_id").agg(pl.col("level").last()).sort("item_id")
    return pl.read_csv(tmp / "batch.csv"), levels


def _live(*args: str) -> list[str]:
    return [sys.executable, "-m", "stockseries.cli", "live", *args, *FLAGS]


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_cli_live_alerts_equal_detect(kafka: str, sim: ss.Simulation, tmp_path: Path) -> None:
    _, levels = _batch(sim.events, tmp_path)
    topic = f"events-{_name()}"
    path = str(tmp_path / "events.parquet")
    assert main(["publish", path, "--kafka", kafka, "--topic", topic, "--partitions", "2"]) == 0
    out, lv = tmp_path / "live.csv", tmp_path / "levels.csv"
    status = main(
        ["live", "--kafka", kafka, "--topic", topic, "--group", _name(), "--partitions", "0,1",
         "--stop-when-idle", "2s", "-o", str(out), "--levels-out", str(lv), *FLAGS]
    )  # fmt: skip
    assert status == 0
    assert out.read_bytes() == (tmp_path / "batch.csv").read_bytes()
    assert_frame_equal(pl.read_csv(lv), levels.with_columns(pl.col("level")))


def test_sigkill_mid_stream_then_resume(kafka: str, sim: ss.Simulation, tmp_path: Path) -> None:
    batch, levels = _batch(sim.events, tmp_path)
    events = sim.events.sort("ts")
    half = events.height // 2
    topic = f"events-{_name()}"
    publish_kafka(events.head(half), brokers=kafka, topic=topic, partitions=2, format="arrow",
                  batch_size=300)  # fmt: skip
    state, out, lv = tmp_path / "state.zip", tmp_path / "live.csv", tmp_path / "levels.csv"
    common = ["--kafka", kafka, "--topic", topic, "--group", "g", "--partitions", "0,1",
              "--checkpoint", str(state), "--checkpoint-every", "100ms", "-o", str(out),
              "--levels-out", str(lv)]  # fmt: skip
    log = open(tmp_path / "first.log", "wb")
    first = subprocess.Popen(_live(*common), stderr=log, stdout=log)
    try:
        _wait(lambda: state.exists() or first.poll() is not None, 60, "a first checkpoint")
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        publish_kafka(events.slice(half), brokers=kafka, topic=topic, format="arrow",
                      batch_size=300)  # fmt: skip
        time.sleep(0.3)
        first.send_signal(signal.SIGKILL)  # no clean-up at all
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    second = subprocess.run(
        _live(*common, "--stop-when-idle", "2s"), capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stderr
    assert_frame_equal(pl.read_csv(lv), levels)  # no event lost, none counted twice
    live = pl.read_csv(out)
    assert sorted(live["alert_id"]) == sorted(batch["alert_id"])
    assert out.read_bytes() == (tmp_path / "batch.csv").read_bytes()


@pytest.mark.parametrize("broker", ["kafka", "redis"])
def test_sigterm_mid_stream_stops_cleanly_then_resume(
    broker: str, sim: ss.Simulation, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SIGTERM: exit 0, checkpoint and complete outputs written; a restart ends equal to batch."""
    from stockseries.brokers.checkpoint import load_checkpoint

    batch, levels = _batch(sim.events, tmp_path)
    events = sim.events.sort("ts")
    half = events.height // 2
    name = f"events-{_name()}"
    if broker == "kafka":
        kafka = request.getfixturevalue("kafka")
        source = ["--kafka", kafka, "--topic", name, "--partitions", "0,1"]

        def publish(part: pl.DataFrame) -> None:
            publish_kafka(part, brokers=kafka, topic=name, partitions=2, format="arrow",
                          batch_size=300)  # fmt: skip
    else:
        url = request.getfixturevalue("redis_url")
        source = ["--redis", url, "--stream", name]

        def publish(part: pl.DataFrame) -> None:
            publish_redis(part, url=url, stream=name, format="arrow", batch_size=300)

    publish(events.head(half))
    state, out, lv = tmp_path / "state.zip", tmp_path / "live.csv", tmp_path / "levels.csv"
    common = [*source, "--group", "g", "--checkpoint", str(state), "--checkpoint-every", "100ms",
              "-o", str(out), "--levels-out", str(lv)]  # fmt: skip
    first = subprocess.Popen(_live(*common), stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        _wait(lambda: state.exists() or first.poll() is not None, 60, "a first checkpoint")
        assert first.poll() is None
        publish(events.slice(half))
        time.sleep(0.3)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    stderr = err.decode()
    assert first.returncode == 0, stderr
    assert "Traceback" not in stderr
    # Everything is written and complete: the checkpoint loads, both files parse whole.
    restored = load_checkpoint(state)
    assert restored.positions
    stopped = pl.read_csv(out)
    assert stopped.columns == batch.columns
    stopped_levels = pl.read_csv(lv)
    assert stopped_levels.columns == ["item_id", "level"]
    assert stopped_levels.height and stopped_levels["level"].null_count() == 0
    assert restored.levels is not None  # the checkpoint holds what the levels file says
    assert_frame_equal(restored.levels.select("item_id", "level").sort("item_id"), stopped_levels)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # Restart from the checkpoint: the stream continues, the end equals batch.
    second = subprocess.run(
        _live(*common, "--stop-when-idle", "2s"), capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stderr
    assert_frame_equal(pl.read_csv(lv), levels)
    assert out.read_bytes() == (tmp_path / "batch.csv").read_bytes()


def test_two_consumers_union_equals_one(kafka: str, sim: ss.Simulation, tmp_path: Path) -> None:
    batch, levels = _batch(sim.events, tmp_path)
    topic = f"events-{_name()}"
    publish_kafka(sim.events, brokers=kafka, topic=topic, partitions=2)
    runs = []
    for part in (0, 1):
        runs.append(
            subprocess.Popen(
                _live(
                    "--kafka",
                    kafka,
                    "--topic",
                    topic,
                    "--group",
                    "g",
                    "--partitions",
                    str(part),
                    "--stop-when-idle",
                    "2s",
                    "-o",
                    str(tmp_path / f"a{part}.csv"),
                    "--levels-out",
                    str(tmp_path / f"l{part}.csv"),
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
    for run in runs:
        assert run.wait(120) == 0
    alerts = pl.concat([pl.read_csv(tmp_path / f"a{p}.csv") for p in (0, 1)])
    assert sorted(alerts["alert_id"]) == sorted(batch["alert_id"])
    assert_frame_equal(
        alerts.sort("start", "item_id", maintain_order=True), batch, check_row_order=False
    )
    both = pl.concat([pl.read_csv(tmp_path / f"l{p}.csv") for p in (0, 1)]).sort("item_id")
    assert_frame_equal(both, levels)


def test_redis_split_by_item_over_streams_one_consumer_each_union_equals_one(
    redis_url: str, sim: ss.Simulation, tmp_path: Path
) -> None:
    """``publish --streams 2`` splits by item; one consumer per stream; union == batch."""
    batch, levels = _batch(sim.events, tmp_path)
    stream = f"events-{_name()}"
    path = str(tmp_path / "events.parquet")
    assert main(["publish", path, "--redis", redis_url, "--stream", stream, "--streams", "2",
                 "--format", "arrow", "--batch-size", "500"]) == 0  # fmt: skip
    runs = [
        subprocess.Popen(
            _live(
                "--redis",
                redis_url,
                "--stream",
                f"{stream}.{k}",
                "--group",
                "g",
                "--stop-when-idle",
                "2s",
                "-o",
                str(tmp_path / f"a{k}.csv"),
                "--levels-out",
                str(tmp_path / f"l{k}.csv"),
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for k in (0, 1)
    ]
    for run in runs:
        assert run.wait(120) == 0
    parts = [pl.read_csv(tmp_path / f"l{k}.csv") for k in (0, 1)]
    assert all(part.height for part in parts)  # both streams got items, no item on both
    assert not set(parts[0]["item_id"]) & set(parts[1]["item_id"])
    assert_frame_equal(pl.concat(parts).sort("item_id"), levels)
    alerts = pl.concat([pl.read_csv(tmp_path / f"a{k}.csv") for k in (0, 1)])
    assert sorted(alerts["alert_id"]) == sorted(batch["alert_id"])


def test_broker_down_at_start_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    run = subprocess.run(
        _live(
            "--kafka",
            f"127.0.0.1:{port}",
            "--topic",
            "t",
            "--group",
            "g",
            "--connect-timeout",
            "1s",
            "-o",
            str(tmp_path / "a.csv"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "cannot reach Kafka brokers 127.0.0.1:" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "a.csv").exists()


def test_kafka_broker_gone_mid_stream_is_retried_then_a_clear_error(
    sim: ss.Simulation, tmp_path: Path
) -> None:
    """The test broker keeps topics in memory, so a restart cannot resume (see the Redis test):
    here the broker goes away for good and the consumer retries, then exits 1 with one line."""
    from stockseries.brokers.checkpoint import load_checkpoint

    server = kafka_server(tmp_path)
    server.start()
    try:
        brokers = f"127.0.0.1:{server.port}"
        publish_kafka(sim.events, brokers=brokers, topic="t", partitions=2)
        state = tmp_path / "state.zip"
        run = subprocess.Popen(
            _live("--kafka", brokers, "--topic", "t", "--group", "g", "--partitions", "0,1",
                  "--checkpoint", str(state), "--checkpoint-every", "100ms",
                  "--connect-timeout", "3s", "-o", str(tmp_path / "a.csv")),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _wait(lambda: state.exists() or run.poll() is not None, 60, "a first checkpoint")
        server.process.kill()  # type: ignore[union-attr]  # gone, no goodbye
        server.stop()
        started = time.monotonic()
        _, err = run.communicate(timeout=60)
        waited = time.monotonic() - started
    finally:
        server.stop()
        if run.poll() is None:
            run.kill()
            run.wait(10)
    stderr = err.decode()
    assert run.returncode == 1, stderr
    assert "retrying for up to 3 s" in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("stockseries: error: cannot reach Kafka brokers 127.0.0.1:"), last
    assert "gone mid-stream" in last
    assert "Traceback" not in stderr
    assert 3 <= waited < 30  # retried for the bound, then gave up (no hang)
    assert load_checkpoint(state).positions  # the last checkpoint is whole


def test_broker_down_at_start_is_retried_with_backoff(sim: ss.Simulation, tmp_path: Path) -> None:
    server = kafka_server(tmp_path)

    async def scenario() -> int:
        source = kafka_source("t", brokers=f"127.0.0.1:{server.port}", group_id="g",
                              partitions=[0], connect_timeout=30, max_wait=0.1)  # fmt: skip
        # Idle time counts from the first poll, which may come (the topic exists) before the
        # producer's messages do: give a loaded machine a few seconds for them.
        task = asyncio.create_task(consume(source, StreamProcessor("1m"), stop_when_idle=4.0))
        await asyncio.sleep(1.0)  # a few refused attempts
        assert not task.done()
        server.start()
        await asyncio.to_thread(
            publish_kafka, sim.events.head(500), brokers=f"127.0.0.1:{server.port}", topic="t"
        )
        result = await asyncio.wait_for(task, 60)
        return int(result.stats["events"])

    try:
        assert asyncio.run(scenario()) == 500
    finally:
        server.stop()
    with pytest.raises(BrokerUnavailableError, match="cannot reach"):
        source = kafka_source("t", brokers=f"127.0.0.1:{free_port()}", group_id="g",
                              connect_timeout=0.5)  # fmt: skip
        asyncio.run(consume(source, StreamProcessor("1m")))


def test_idle_stop_waits_while_the_broker_still_has_messages(
    sim: ss.Simulation, tmp_path: Path
) -> None:
    """The broker pauses (SIGSTOP) for longer than ``stop_when_idle`` with messages still to
    read: the consumer is behind, not idle, and reads them all once the broker is back."""
    events = sim.events.sort("ts").head(300)
    server = kafka_server(tmp_path)
    server.start()
    assert server.process is not None
    pid, paused, done = server.process.pid, threading.Event(), threading.Event()

    def pause_after_the_first_messages(source: Any) -> None:
        deadline = time.monotonic() + 30
        while source.stats["messages"] < 20 and time.monotonic() < deadline:
            if done.wait(0.01):
                return
        os.kill(pid, signal.SIGSTOP)
        paused.set()
        time.sleep(2.0)  # 4x stop_when_idle without a message
        os.kill(pid, signal.SIGCONT)

    try:
        brokers = f"127.0.0.1:{server.port}"
        # One message per record batch, and the client fetches ~1 kB ahead at most: a paused
        # broker stops the messages.
        one_by_one = {"batch.num.messages": 1, "linger.ms": 0}
        publish_kafka(events, brokers=brokers, topic="t", partitions=1, config=one_by_one)
        small = {"fetch.max.bytes": 1024, "max.partition.fetch.bytes": 1024,
                 "message.max.bytes": 1000, "queued.max.messages.kbytes": 1,
                 "queued.min.messages": 1, "fetch.queue.backoff.ms": 0}  # fmt: skip
        source = kafka_source("t", brokers=brokers, group_id="g", partitions=[0],
                              max_wait=0.1, max_messages=20, config=small)  # fmt: skip
        pauser = threading.Thread(target=pause_after_the_first_messages, args=(source,))
        pauser.start()
        job = consume(source, StreamProcessor("1m"), stop_when_idle=0.5)
        try:
            result = asyncio.run(asyncio.wait_for(job, 60))
        finally:
            done.set()
            pauser.join(40)
    finally:
        os.kill(pid, signal.SIGCONT)
        server.stop()
    assert paused.is_set()
    assert result.stats["events"] == events.height


@pytest.mark.slow
def test_kafka_broker_restart_mid_stream_resumes(sim: ss.Simulation, tmp_path: Path) -> None:
    """Tansu keeping its topics in S3 (moto_server) is killed and restarted on the same port
    while a consumer reads: the consumer reconnects and ends with batch's levels and alerts."""
    batch, levels = _batch(sim.events, tmp_path)
    events = sim.events.sort("ts")
    half = events.height // 2
    s3 = s3_server(tmp_path)
    s3.start()
    endpoint = f"http://127.0.0.1:{s3.port}"
    make_bucket(endpoint)
    server = kafka_server(tmp_path, s3=endpoint)
    server.start()
    brokers = f"127.0.0.1:{server.port}"

    async def scenario() -> tuple[pl.DataFrame, list[str]]:
        await asyncio.to_thread(
            publish_kafka, events.head(half), brokers=brokers, topic="t", partitions=2
        )
        source = kafka_source("t", brokers=brokers, group_id="g", partitions=[0, 1],
                              max_wait=0.1, connect_timeout=60)  # fmt: skip
        stop = asyncio.Event()
        processor = StreamProcessor("1m", window=30, k=4.0)
        task = asyncio.create_task(consume(source, processor, stop=stop))
        while source.stats["messages"] < half:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(server.process.kill)  # type: ignore[union-attr]
        await asyncio.to_thread(server.stop)  # the broker goes away mid-stream ...
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)  # ... and comes back with its topics (S3)
        await asyncio.to_thread(publish_kafka, events.slice(half), brokers=brokers, topic="t")
        while source.stats["messages"] < events.height:
            await asyncio.sleep(0.05)
        stop.set()
        result = await asyncio.wait_for(task, 60)
        assert source.stats["errors"] > 0  # it did see the outage
        return result.levels, sorted(result.alerts.frame["alert_id"].to_list())

    try:
        got, alert_ids = asyncio.run(asyncio.wait_for(scenario(), 180))
    finally:
        server.stop()
        s3.stop()
    assert_frame_equal(got, levels)
    assert alert_ids == sorted(batch["alert_id"].to_list())


def test_redis_restart_mid_stream_resumes(sim: ss.Simulation, tmp_path: Path) -> None:
    _, levels = _batch(sim.events, tmp_path)
    events = sim.events.sort("ts")
    half = events.height // 2
    server = redis_server_process(tmp_path, persist=True)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    publish_redis(events.head(half), url=url, stream="s")

    async def scenario() -> pl.DataFrame:
        source = redis_source("s", url=url, group="g", max_wait=0.1, connect_timeout=30)
        stop = asyncio.Event()
        task = asyncio.create_task(consume(source, StreamProcessor("1m"), stop=stop))
        while source.stats["messages"] < half:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(server.stop)  # the server goes away mid-stream
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)  # and comes back with its data (AOF)
        await asyncio.to_thread(publish_redis, events.slice(half), url=url, stream="s")
        while source.stats["messages"] < events.height:
            await asyncio.sleep(0.05)
        stop.set()
        result = await asyncio.wait_for(task, 60)
        assert source.stats["errors"] > 0  # it did see the outage
        return result.levels

    try:
        got = asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        server.stop()
    assert_frame_equal(got, levels)


def test_no_server_left_running() -> None:
    # Fixtures stop their servers; this test only documents that loops above are bounded.
    assert os.environ.get("PYTEST_CURRENT_TEST")
