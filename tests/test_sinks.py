"""Tests for stockseries.sinks: payloads, sinks, idempotent notification.

Webhook tests talk to a real ``ThreadingHTTPServer`` on 127.0.0.1 whose behaviour is chosen by
the request path (see ``_Handler``). Back-off pauses go through an injected recorder instead of
``time.sleep``, so the retry schedule is asserted exactly and the suite stays fast.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockseries.sinks import (
    ALERT_COLUMNS,
    CallbackSink,
    DeliveryError,
    FileSink,
    Notifier,
    NotifyResult,
    StateFileError,
    WebhookError,
    WebhookSink,
    notify,
    payloads,
)

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
STAMP = datetime(2024, 3, 2, 12, 30, tzinfo=UTC)


def make_alerts(rows: list[tuple[str, str | None]], *, with_supplier: bool = True) -> pl.DataFrame:
    """Alert frame following the contract; ``rows`` are ``(alert_id, supplier_id)``."""
    n = len(rows)
    starts = [T0 + timedelta(hours=i) for i in range(n)]
    data: dict[str, Any] = {
        "alert_id": [alert_id for alert_id, _ in rows],
        "item_id": [f"item-{alert_id}" for alert_id, _ in rows],
        "start": starts,
        "end": [s + timedelta(hours=2) for s in starts],
        "buckets": [2] * n,
        "peak_demand": [30 + i for i in range(n)],
        "peak_ts": [s + timedelta(hours=1) for s in starts],
        "threshold": [20.0] * n,
        "score": [3.5] * n,
        "excess": [10.0 + i for i in range(n)],
    }
    if with_supplier:
        data["supplier_id"] = [supplier for _, supplier in rows]
    return pl.DataFrame(
        data,
        schema_overrides={
            "alert_id": pl.String,
            "item_id": pl.String,
            "supplier_id": pl.String,
            "start": pl.Datetime("us", "UTC"),
            "end": pl.Datetime("us", "UTC"),
            "peak_ts": pl.Datetime("us", "UTC"),
            "buckets": pl.Int64,
            "peak_demand": pl.Int64,
            "threshold": pl.Float64,
            "score": pl.Float64,
            "excess": pl.Float64,
        },
    )


ROWS = [("a1", "S1"), ("a2", "S2"), ("a3", "S1"), ("a4", None)]


class Inbox:
    """A callback that records what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, dict[str, Any]]] = []

    def __call__(self, supplier_id: str | None, payload: dict[str, Any]) -> None:
        self.calls.append((supplier_id, payload))

    @property
    def ids(self) -> list[str]:
        return [alert["alert_id"] for _, payload in self.calls for alert in payload["alerts"]]


def inbox_sink(name: str = "inbox") -> tuple[CallbackSink, Inbox]:
    inbox = Inbox()
    return CallbackSink(inbox, name=name), inbox


# --------------------------------------------------------------------------------------------
# A real HTTP server
# --------------------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Server:
    """Behaviour by path: /ok, /flaky (500 twice, then 200), /status/<code>, /limited (429
    with Retry-After: 2, then 200), /redirect (302 to /ok), /hang (reads the request, never
    answers)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.base = ""

    def url(self, path: str) -> str:
        return self.base + path

    def record(self, request: Request) -> int:
        with self._lock:
            self.requests.append(request)
            return sum(r.path == request.path for r in self.requests)

    def hits(self, path: str) -> int:
        return sum(r.path == path for r in self.requests)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == path]


class _Handler(BaseHTTPRequestHandler):
    server: _RecordingServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = urlsplit(self.path).path
        state = self.server.state
        nth = state.record(Request(path, dict(self.headers.items()), json.loads(body)))
        if path == "/hang":
            state.release.wait(10)  # released at teardown; the client has timed out by then
            return
        headers: dict[str, str] = {}
        if path == "/ok":
            status = 200
        elif path == "/flaky":
            status = 500 if nth <= 2 else 200
        elif path == "/limited":
            status, headers = (429, {"Retry-After": "2"}) if nth == 1 else (200, {})
        elif path == "/redirect":
            status, headers = 302, {"Location": "/ok"}
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
        else:
            status = 404
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _RecordingServer(ThreadingHTTPServer):
    state: Server


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    # A proxy configured in the environment must not intercept 127.0.0.1.
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    state = Server()
    httpd = _RecordingServer(("127.0.0.1", 0), _Handler)
    httpd.state = state
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


def webhook(server: Server, path: str, **kwargs: Any) -> tuple[WebhookSink, list[float]]:
    delays: list[float] = []
    kwargs.setdefault("sleep", delays.append)
    kwargs.setdefault("name", "hook")
    return WebhookSink(server.url(path), **kwargs), delays


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------------------------
# Webhook delivery
# --------------------------------------------------------------------------------------------


def test_webhook_posts_one_json_payload_per_supplier(server: Server, tmp_path: Path) -> None:
    sink, delays = webhook(server, "/ok", headers={"Authorization": "Bearer t0ken"})
    result = notify(make_alerts(ROWS), sink, state=tmp_path / "sent.json", sent_at=STAMP)

    assert (result.new, result.delivered, result.failed, result.skipped_already_sent) == (
        4,
        4,
        0,
        0,
    )
    assert result.ok and delays == []
    bodies = server.bodies("/ok")
    assert [(b["supplier_id"], b["count"]) for b in bodies] == [("S1", 2), ("S2", 1), (None, 1)]
    assert [[a["alert_id"] for a in b["alerts"]] for b in bodies] == [["a1", "a3"], ["a2"], ["a4"]]
    assert all(b["sent_at"] == "2024-03-02T12:30:00Z" for b in bodies)
    first = bodies[0]["alerts"][0]
    assert list(first) == list(ALERT_COLUMNS)
    assert first["start"] == "2024-03-01T08:00:00Z"
    assert first["peak_ts"] == "2024-03-01T09:00:00Z"
    assert (first["buckets"], first["peak_demand"], first["threshold"]) == (2, 30, 20.0)
    headers = server.requests[0].headers
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Authorization"] == "Bearer t0ken"
    assert len({r.headers["Idempotency-Key"] for r in server.requests}) == 3


def test_webhook_retries_5xx_then_recovers(server: Server, tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    sink, delays = webhook(server, "/flaky", retries=3, backoff=0.5, dead_letter=dead)
    notifier = Notifier(sink, state=tmp_path / "sent.json", sent_at=None)
    result = notifier.notify(make_alerts([("a1", "S1")]))

    assert result.ok and result.delivered == 1
    assert server.hits("/flaky") == 3
    assert delays == [0.5, 1.0]
    assert not dead.exists()
    assert notifier.sent_ids(sink) == {"a1"}
    # The same key on every attempt lets the receiver drop a repeat it already acted on.
    assert len({r.headers["Idempotency-Key"] for r in server.requests}) == 1
    assert "sent_at" not in server.bodies("/flaky")[-1]


def test_webhook_always_failing_dead_letters_and_keeps_ids_unsent(
    server: Server, tmp_path: Path
) -> None:
    dead, state = tmp_path / "dead.ndjson", tmp_path / "sent.json"
    sink, delays = webhook(server, "/status/500", retries=2, backoff=0.01, dead_letter=dead)
    result = notify(make_alerts(ROWS), sink, state=state, sent_at=STAMP)

    assert (result.new, result.delivered, result.failed) == (4, 0, 4)
    assert not result.ok and result.failed_ids == {"a1", "a2", "a3", "a4"}
    assert server.hits("/status/500") == 3 * 3  # three suppliers, three attempts each
    assert delays == [0.01, 0.02] * 3
    records = read_ndjson(dead)
    assert [r["supplier_id"] for r in records] == ["S1", "S2", None]
    for record in records:
        assert (record["attempts"], record["status"], record["sink"]) == (3, 500, "hook")
        assert record["error"].startswith("HTTP 500")
        assert record["payload"]["count"] == len(record["payload"]["alerts"])
        assert "t0ken" not in json.dumps(record)
    assert not state.exists()  # nothing delivered, nothing recorded
    assert result.frame.filter(pl.col("supplier_id") == "S1")["failed"].item() == 2
    with pytest.raises(DeliveryError, match=r"3 delivery\(ies\) failed.*HTTP 500"):
        result.raise_for_failures()

    # A later run, with the receiver back, delivers exactly what had failed.
    healthy = WebhookSink(server.url("/ok"), name="hook", sleep=delays.append)
    again = notify(make_alerts(ROWS), healthy, state=state, sent_at=STAMP)
    assert (again.new, again.delivered, again.failed) == (4, 4, 0)
    assert sorted(a["alert_id"] for b in server.bodies("/ok") for a in b["alerts"]) == [
        "a1",
        "a2",
        "a3",
        "a4",
    ]


@pytest.mark.parametrize(
    ("status", "attempts"),
    [
        (500, 3),
        (502, 3),
        (503, 3),
        (504, 3),
        (429, 3),
        (400, 1),
        (401, 1),
        (403, 1),
        (404, 1),
        (409, 1),
        (422, 1),
    ],
)
def test_webhook_retries_only_5xx_and_429(server: Server, status: int, attempts: int) -> None:
    path = f"/status/{status}"
    sink, delays = webhook(server, path, retries=2, backoff=0.0)
    with pytest.raises(WebhookError, match=f"HTTP {status}") as caught:
        sink.send("S1", payloads(make_alerts([("a1", "S1")]))[0])
    assert server.hits(path) == attempts
    assert (caught.value.attempts, caught.value.status) == (attempts, status)
    assert len(delays) == attempts - 1


@pytest.mark.parametrize(
    ("backoff", "retries", "expected"),
    [(0.5, 3, [0.5, 1.0, 2.0]), (0.25, 1, [0.25]), (0.0, 2, [0.0, 0.0]), (1.0, 0, [])],
)
def test_webhook_backoff_is_exponential(
    server: Server, backoff: float, retries: int, expected: list[float]
) -> None:
    sink, delays = webhook(server, "/status/503", retries=retries, backoff=backoff)
    with pytest.raises(WebhookError):
        sink.send(None, {"supplier_id": None, "alerts": [], "count": 0})
    assert delays == expected


def test_webhook_honours_retry_after_on_429(server: Server) -> None:
    sink, delays = webhook(server, "/limited", retries=2, backoff=0.1)
    sink.send("S1", {"supplier_id": "S1", "alerts": [], "count": 0})
    assert server.hits("/limited") == 2
    assert delays == [2.0]


def test_webhook_does_not_follow_redirects(server: Server) -> None:
    # Following would turn the POST into a body-less GET that "succeeds".
    sink, delays = webhook(server, "/redirect", retries=2)
    with pytest.raises(WebhookError, match="HTTP 302") as caught:
        sink.send("S1", {"supplier_id": "S1", "alerts": [], "count": 0})
    assert caught.value.attempts == 1 and delays == []
    assert server.hits("/ok") == 0


def test_webhook_times_out_when_server_never_answers(server: Server, tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    sink, delays = webhook(server, "/hang", timeout=0.2, retries=1, backoff=0.05, dead_letter=dead)
    started = time.perf_counter()
    result = notify(make_alerts([("a1", "S1")]), sink, state=tmp_path / "s.json", sent_at=None)
    elapsed = time.perf_counter() - started

    assert elapsed < 3.0
    assert server.hits("/hang") == 2
    assert delays == [0.05]
    assert result.failed == 1 and "timed out after 0.2 s" in (result.failures[0].error or "")
    [record] = read_ndjson(dead)
    assert (record["attempts"], record["status"]) == (2, None)
    assert not (tmp_path / "s.json").exists()


def test_webhook_retries_refused_connections(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: connecting is refused at once.
    delays: list[float] = []
    dead = tmp_path / "dead.ndjson"
    sink = WebhookSink(
        f"http://127.0.0.1:{port}/x", retries=2, backoff=0.1, dead_letter=dead, sleep=delays.append
    )
    with pytest.raises(WebhookError, match="connection failed") as caught:
        sink.send("S1", {"supplier_id": "S1", "alerts": [], "count": 0})
    assert caught.value.attempts == 3 and caught.value.status is None
    assert delays == [0.1, 0.2]
    assert read_ndjson(dead)[0]["attempts"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "ftp://example.com/x"}, "http:// or https://"),
        ({"url": "http:///nohost"}, "with a host"),
        ({"url": "http://h/x", "timeout": 0}, "timeout must be > 0"),
        ({"url": "http://h/x", "retries": -1}, "retries must be an integer >= 0"),
        ({"url": "http://h/x", "retries": 1.5}, "retries must be an integer >= 0"),
        ({"url": "http://h/x", "backoff": -0.1}, "backoff must be >= 0"),
    ],
)
def test_webhook_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookSink(**kwargs)


def test_webhook_name_and_repr_hide_credentials() -> None:
    sink = WebhookSink("https://user:pw@example.com:8443/hook?token=abc#frag")
    # The query is part of the identity (issue 13), as a hash: it may hold a token.
    assert sink.name.startswith("webhook:https://example.com:8443/hook?sha256=")
    assert "pw" not in sink.name and "abc" not in sink.name
    assert "pw" not in repr(sink) and "abc" not in repr(sink)


# --------------------------------------------------------------------------------------------
# Idempotency and state
# --------------------------------------------------------------------------------------------


def test_rerun_notifies_nobody_twice(server: Server, tmp_path: Path) -> None:
    state = tmp_path / "sent.json"
    sink, _ = webhook(server, "/ok")
    notifier = Notifier(sink, state=state, sent_at=STAMP)
    first = notifier.notify(make_alerts(ROWS))
    second = notifier.notify(make_alerts(ROWS))
    assert (first.new, first.delivered) == (4, 4)
    assert (second.new, second.skipped_already_sent, second.delivered) == (0, 4, 0)
    assert server.hits("/ok") == 3

    # A fresh notifier (a new process) reads the state file: still nobody twice, and only the
    # genuinely new alert goes out.
    fresh = Notifier(webhook(server, "/ok")[0], state=state, sent_at=STAMP)
    third = fresh.notify(make_alerts([*ROWS, ("a5", "S2")]))
    assert (third.new, third.skipped_already_sent, third.delivered) == (1, 4, 1)
    assert server.hits("/ok") == 4
    assert server.bodies("/ok")[-1]["alerts"][0]["alert_id"] == "a5"
    s2 = third.frame.filter(pl.col("supplier_id") == "S2").row(0, named=True)
    assert s2 == {
        "supplier_id": "S2",
        "alerts": 2,
        "new": 1,
        "skipped_already_sent": 1,
        "delivered": 1,
        "failed": 0,
    }


def test_state_is_kept_per_sink(server: Server, tmp_path: Path) -> None:
    state, csv_path = tmp_path / "sent.json", tmp_path / "out.csv"
    failing, _ = webhook(server, "/status/503", retries=0)
    result = notify(make_alerts(ROWS), FileSink(csv_path), failing, state=state, sent_at=STAMP)
    assert (result.new, result.delivered, result.failed) == (4, 0, 4)
    assert len(pl.read_csv(csv_path)) == 4

    healthy, _ = webhook(server, "/ok")
    rerun = notify(make_alerts(ROWS), FileSink(csv_path), healthy, state=state, sent_at=STAMP)
    assert (rerun.new, rerun.delivered, rerun.failed) == (4, 4, 0)
    assert len(pl.read_csv(csv_path)) == 4  # the file sink already had them
    assert server.hits("/ok") == 3
    assert {d.sink for d in rerun.deliveries} == {"hook"}


def test_state_file_is_written_atomically_and_keeps_other_sinks(tmp_path: Path) -> None:
    state = tmp_path / "sent.json"
    state.write_text(
        json.dumps({"format": "stockseries.sinks/sent-ids", "version": 1, "sent": {"old": ["z"]}})
    )
    sink, _ = inbox_sink()
    notify(make_alerts([("b", "S1"), ("a", "S1")]), sink, state=state, sent_at=None)
    data = json.loads(state.read_text())
    assert data["sent"] == {"old": ["z"], "inbox": ["b", "a"]}  # delivery order
    assert [p.name for p in tmp_path.iterdir()] == ["sent.json"]  # no temporary left behind


def test_state_is_read_again_only_when_another_process_changed_it(tmp_path: Path) -> None:
    state = tmp_path / "sent.json"
    sink, inbox = inbox_sink()
    notifier = Notifier(sink, state=state, sent_at=None)
    notifier.notify(make_alerts([("a1", "S1")]))
    # Another process recorded a2 meanwhile: this notifier must not send it again.
    other = {"format": "stockseries.sinks/sent-ids", "version": 1, "sent": {"inbox": ["a1", "a2"]}}
    state.write_text(json.dumps(other))
    notifier.notify(make_alerts([("a1", "S1"), ("a2", "S1"), ("a3", "S1")]))
    assert inbox.ids == ["a1", "a3"]
    assert json.loads(state.read_text())["sent"] == {"inbox": ["a1", "a2", "a3"]}


def test_state_is_saved_even_when_a_sink_aborts_the_run(tmp_path: Path) -> None:
    class Abort(BaseException):
        pass

    def abort_on_s2(supplier_id: str | None, payload: dict[str, Any]) -> None:
        if supplier_id == "S2":
            raise Abort

    state = tmp_path / "sent.json"
    with pytest.raises(Abort):
        notify(make_alerts(ROWS), CallbackSink(abort_on_s2, name="cb"), state=state, sent_at=None)
    # S1 went out before the abort and must not be sent again.
    assert json.loads(state.read_text())["sent"] == {"cb": ["a1", "a3"]}


def test_state_file_untouched_when_nothing_is_delivered(tmp_path: Path) -> None:
    state = tmp_path / "sent.json"
    sink, _ = inbox_sink()
    notifier = Notifier(sink, state=state, sent_at=None)
    notifier.notify(make_alerts([("a1", "S1")]))
    before = state.stat().st_mtime_ns
    time.sleep(0.01)
    notifier.notify(make_alerts([("a1", "S1")]))
    assert state.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("", "is not valid JSON"),
        ("[1, 2]", "is not a stockseries sent-ids file"),
        ('{"sent": {}}', "is not a stockseries sent-ids file"),
        ('{"format": "stockseries.sinks/sent-ids", "version": 9, "sent": {}}', "version 9"),
        ('{"format": "stockseries.sinks/sent-ids", "version": 1, "sent": []}', '"sent" must map'),
        (
            '{"format": "stockseries.sinks/sent-ids", "version": 1, "sent": {"x": [1]}}',
            '"sent" must map',
        ),
    ],
)
def test_corrupt_state_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    state = tmp_path / "sent.json"
    state.write_text(content)
    sink, inbox = inbox_sink()
    with pytest.raises(StateFileError, match=message) as caught:
        notify(make_alerts(ROWS), sink, state=state)
    assert str(state) in str(caught.value) and "delete it" in str(caught.value)
    assert inbox.calls == []
    assert state.read_text() == content


def test_duplicate_alert_ids_in_one_frame_are_sent_once_last_row_wins() -> None:
    frame = make_alerts([("a1", "S1"), ("a1", "S2")])
    sink, inbox = inbox_sink()
    result = notify(frame, sink, sent_at=None)
    assert (result.alerts, result.delivered) == (1, 1)
    assert [(supplier, p["count"]) for supplier, p in inbox.calls] == [("S2", 1)]


# --------------------------------------------------------------------------------------------
# File and callback sinks
# --------------------------------------------------------------------------------------------


def test_file_sink_csv_appends_with_one_header(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "alerts.csv"
    sink = FileSink(path)
    notify(make_alerts(ROWS[:2]), sink, sent_at=STAMP)
    notify(make_alerts(ROWS[2:]), sink, sent_at=STAMP)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join([*ALERT_COLUMNS, "sent_at"])
    assert sum(line.startswith("alert_id") for line in lines) == 1
    table = pl.read_csv(path)
    assert table["alert_id"].to_list() == ["a1", "a2", "a3", "a4"]
    assert table["supplier_id"].to_list() == ["S1", "S2", "S1", None]
    assert set(table["sent_at"]) == {"2024-03-02T12:30:00Z"}


def test_file_sink_csv_refuses_a_different_header(tmp_path: Path) -> None:
    path = tmp_path / "alerts.csv"
    path.write_text("alert_id,other\nx,1\n")
    with pytest.raises(ValueError, match="has columns"):
        FileSink(path).send("S1", payloads(make_alerts([("a1", "S1")]))[0])


def test_file_sink_csv_empty_file_gets_a_header(tmp_path: Path) -> None:
    path = tmp_path / "alerts.csv"
    path.touch()
    notify(make_alerts([("a1", "S1")]), FileSink(path), sent_at=None)
    assert path.read_text().splitlines()[0].startswith("alert_id,item_id")


@pytest.mark.parametrize("suffix", [".ndjson", ".jsonl", ".NDJSON"])
def test_file_sink_ndjson_appends_one_payload_per_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"alerts{suffix}"
    sink = FileSink(path)
    notify(make_alerts(ROWS[:2]), sink, sent_at=STAMP)
    notify(make_alerts(ROWS[2:]), sink, sent_at=STAMP)
    lines = read_ndjson(path)
    assert [(line["supplier_id"], line["count"]) for line in lines] == [
        ("S1", 1),
        ("S2", 1),
        ("S1", 1),
        (None, 1),
    ]
    assert lines[0]["sent_at"] == "2024-03-02T12:30:00Z"


@pytest.mark.parametrize(
    ("name", "format", "expected"),
    [
        ("a.csv", None, "csv"),
        ("a.CSV", None, "csv"),
        ("a.log", "ndjson", "ndjson"),
        ("a.txt", "csv", "csv"),
    ],
)
def test_file_sink_format_from_extension_or_argument(
    tmp_path: Path, name: str, format: Any, expected: str
) -> None:
    assert FileSink(tmp_path / name, format=format).format == expected


@pytest.mark.parametrize(
    ("name", "format", "message"),
    [("a.txt", None, "unknown extension '.txt'"), ("a.csv", "xml", "format must be")],
)
def test_file_sink_rejects_unknown_formats(
    tmp_path: Path, name: str, format: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FileSink(tmp_path / name, format=format)


def test_callback_sink_gets_supplier_and_payload() -> None:
    sink, inbox = inbox_sink()
    notify(make_alerts(ROWS), sink, sent_at=STAMP)
    assert [supplier for supplier, _ in inbox.calls] == ["S1", "S2", None]
    supplier, payload = inbox.calls[0]
    assert payload["supplier_id"] == supplier and payload["count"] == 2
    assert set(payload) == {"supplier_id", "alerts", "count", "sent_at"}
    back = pl.DataFrame(payload["alerts"])
    assert back["alert_id"].to_list() == ["a1", "a3"]


def test_a_failing_callback_does_not_stop_other_suppliers_or_sinks() -> None:
    def picky(supplier_id: str | None, payload: dict[str, Any]) -> None:
        if supplier_id == "S2":
            raise RuntimeError("S2 mailbox full")

    other, inbox = inbox_sink("other")
    result = notify(make_alerts(ROWS), CallbackSink(picky, name="picky"), other, sent_at=None)
    assert (result.new, result.delivered, result.failed) == (4, 3, 1)
    assert sorted(inbox.ids) == ["a1", "a2", "a3", "a4"]
    [failure] = result.failures
    assert (failure.sink, failure.supplier_id, failure.alert_ids) == ("picky", "S2", ("a2",))
    assert failure.error == "RuntimeError: S2 mailbox full"


def test_empty_alerts_send_nothing(tmp_path: Path) -> None:
    state = tmp_path / "sent.json"
    sink, inbox = inbox_sink()
    for empty in (make_alerts([]), make_alerts([]).to_pandas()):
        result = notify(empty, sink, state=state)
        assert (result.alerts, result.new, result.delivered, result.failed) == (0, 0, 0, 0)
        assert result.ok and result.deliveries == ()
        assert len(result.frame) == 0
    assert inbox.calls == [] and not state.exists()
    assert repr(result) == (
        "NotifyResult(new=0, skipped_already_sent=0, delivered=0, failed=0, suppliers=0)"
    )


# --------------------------------------------------------------------------------------------
# Input at the edge and payload shape
# --------------------------------------------------------------------------------------------


@dataclass
class FakeAlerts:
    frame: Any


@pytest.mark.parametrize(
    "flavour",
    ["polars", "lazy", "pandas", "alerts-object", "alerts-object-pandas"],
)
def test_accepts_every_alert_flavour(flavour: str) -> None:
    frame = make_alerts(ROWS)
    given_alerts = {
        "polars": frame,
        "lazy": frame.lazy(),
        "pandas": frame.to_pandas(),
        "alerts-object": FakeAlerts(frame),
        "alerts-object-pandas": FakeAlerts(frame.to_pandas()),
    }[flavour]
    sink, inbox = inbox_sink()
    result = notify(given_alerts, sink, sent_at=STAMP)
    assert result.delivered == 4
    assert inbox.calls[0][1]["alerts"][0]["start"] == "2024-03-01T08:00:00Z"
    expects_pandas = flavour in {"pandas", "alerts-object-pandas"}
    assert isinstance(result.frame, pd.DataFrame) == expects_pandas


def test_missing_supplier_column_goes_to_the_unknown_group() -> None:
    sink, inbox = inbox_sink()
    notify(make_alerts(ROWS, with_supplier=False), sink, sent_at=None)
    [(supplier, payload)] = inbox.calls
    assert supplier is None and payload["count"] == 4
    assert all(alert["supplier_id"] is None for alert in payload["alerts"])


def test_timestamps_are_converted_to_utc_iso() -> None:
    berlin = make_alerts([("a1", "S1")]).with_columns(
        pl.col("start").dt.convert_time_zone("Europe/Berlin"),
        pl.col("end").dt.replace_time_zone(None),
        (pl.col("peak_ts") + pl.duration(microseconds=123_000)).cast(pl.Datetime("ns", "UTC")),
    )
    [alert] = payloads(berlin)[0]["alerts"]
    assert alert["start"] == "2024-03-01T08:00:00Z"
    assert alert["end"] == "2024-03-01T10:00:00Z"  # naive is taken as UTC
    assert alert["peak_ts"] == "2024-03-01T09:00:00.123Z"


def test_payload_is_strict_json() -> None:
    frame = make_alerts([("a1", "S1"), ("a2", "S1"), ("a3", "S1")]).with_columns(
        score=pl.Series([math.nan, math.inf, 1.5]),
        note=pl.Series(["x", None, "z"]),
        when=pl.Series([datetime(2024, 1, 1).date()] * 3),
    )
    [payload] = payloads(frame)
    json.dumps(payload, allow_nan=False)
    assert [a["score"] for a in payload["alerts"]] == [None, None, 1.5]
    assert payload["alerts"][0]["note"] == "x" and payload["alerts"][0]["when"] == "2024-01-01"


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda f: f.drop("peak_ts"), ValueError, r"missing column\(s\) \['peak_ts'\]"),
        (lambda f: f.drop("alert_id", "score"), ValueError, "'alert_id', 'score'"),
        (
            lambda f: f.with_columns(pl.col("start").dt.to_string()),
            TypeError,
            "'start' must be Datetime",
        ),
        (lambda f: f.with_columns(pl.col("score").cast(pl.String)), TypeError, "'score' must be"),
        (
            lambda f: f.with_columns(alert_id=pl.Series([1, 2, 3, 4])),
            TypeError,
            "'alert_id' must be String, got Int64",
        ),
        (
            lambda f: f.with_columns(alert_id=pl.Series(["a1", None, "a3", None])),
            ValueError,
            r"'alert_id' must not be null.*rows \[1, 3\]",
        ),
    ],
)
def test_invalid_alerts_are_rejected_at_the_edge(mutate: Any, error: type, message: str) -> None:
    sink, inbox = inbox_sink()
    with pytest.raises(error, match=message):
        notify(mutate(make_alerts(ROWS)), sink)
    assert inbox.calls == []


def test_rejects_things_that_are_not_frames() -> None:
    sink, _ = inbox_sink()
    with pytest.raises(TypeError, match="alerts must be an Alerts result"):
        notify([{"alert_id": "a"}], sink)


@pytest.mark.parametrize(
    ("sent_at", "expected"),
    [
        (None, None),
        (datetime(2024, 5, 1, 10, 0, tzinfo=UTC), "2024-05-01T10:00:00Z"),
        (datetime(2024, 5, 1, 10, 0), "2024-05-01T10:00:00Z"),
        (datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T10:00:00Z"),
        (datetime(2024, 5, 1, 10, 0, 0, 250_000, tzinfo=UTC), "2024-05-01T10:00:00.250Z"),
        (datetime(2024, 5, 1, 10, 0, 0, 7, tzinfo=UTC), "2024-05-01T10:00:00.000007Z"),
        (lambda: datetime(2024, 5, 1, 10, 0, tzinfo=UTC), "2024-05-01T10:00:00Z"),
    ],
)
def test_sent_at_is_injectable_or_omitted(sent_at: Any, expected: str | None) -> None:
    sink, inbox = inbox_sink()
    notify(make_alerts([("a1", "S1")]), sink, sent_at=sent_at)
    payload = inbox.calls[0][1]
    assert payload.get("sent_at") == expected
    assert ("sent_at" in payload) == (expected is not None)


def test_sent_at_callable_is_called_once_per_call_that_sends() -> None:
    calls: list[int] = []

    def clock() -> datetime:
        calls.append(1)
        return STAMP

    sink, inbox = inbox_sink()
    notifier = Notifier(sink, sent_at=clock)
    assert calls == []
    notifier.notify(make_alerts(ROWS))  # three suppliers, one stamp
    notifier.notify(make_alerts(ROWS))  # nothing new: no stamp needed
    assert len(calls) == 1
    assert {payload["sent_at"] for _, payload in inbox.calls} == {"2024-03-02T12:30:00Z"}


def test_sent_at_now_is_the_wall_clock() -> None:
    sink, inbox = inbox_sink()
    before = datetime.now(UTC).replace(microsecond=0)
    notify(make_alerts([("a1", "S1")]), sink)
    stamp = datetime.fromisoformat(inbox.calls[0][1]["sent_at"])
    assert before <= stamp <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("sinks", "kwargs", "error", "message"),
    [
        ((), {}, ValueError, "at least one sink"),
        ((object(),), {}, TypeError, "is not a sink"),
        (
            (CallbackSink(print, name="x"), CallbackSink(print, name="x")),
            {},
            ValueError,
            r"distinct.*\['x'\]",
        ),
        ((CallbackSink(print),), {"sent_at": "yesterday"}, TypeError, "sent_at must be"),
    ],
)
def test_notifier_rejects_bad_configuration(
    sinks: tuple[Any, ...], kwargs: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        Notifier(*sinks, **kwargs)


def test_result_repr_and_html() -> None:
    def refuse(supplier_id: str | None, payload: dict[str, Any]) -> None:
        if supplier_id is None:
            raise ValueError("<no supplier>")

    result = notify(make_alerts(ROWS), CallbackSink(refuse, name="refuse"), sent_at=None)
    assert repr(result) == (
        "NotifyResult(new=4, skipped_already_sent=0, delivered=3, failed=1, suppliers=3)"
    )
    page = result._repr_html_()
    assert "&lt;no supplier&gt;" in page and "<no supplier>" not in page
    assert "(unknown)" in page and "1 delivery(ies) failed" in page
    assert isinstance(result, NotifyResult)
    assert result.frame["supplier_id"].to_list() == ["S1", "S2", None]


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

alert_rows = st.lists(
    st.tuples(
        st.sampled_from([f"a{i}" for i in range(12)]),
        st.sampled_from(["S1", "S2", "S3", None]),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(alert_rows, max_size=6))
def test_incremental_calls_deliver_every_id_exactly_once(
    batches: list[list[tuple[str, str | None]]],
) -> None:
    sink, inbox = inbox_sink()
    notifier = Notifier(sink, sent_at=None)
    seen: set[str] = set()
    for rows in batches:
        calls_before = len(inbox.calls)
        result = notifier.notify(make_alerts(rows))
        distinct = {alert_id for alert_id, _ in rows}
        assert result.new == len(distinct - seen)
        assert result.skipped_already_sent == len(distinct & seen)
        assert result.new == result.delivered + result.failed
        suppliers = [supplier for supplier, _ in inbox.calls[calls_before:]]
        assert len(suppliers) == len(set(suppliers))  # one payload per supplier per call
        seen |= distinct
    assert sorted(inbox.ids) == sorted(seen)
    for supplier, payload in inbox.calls:
        assert payload["count"] == len(payload["alerts"]) > 0
        assert all(alert["supplier_id"] == supplier for alert in payload["alerts"])
        json.dumps(payload, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(rows=alert_rows)
def test_payloads_partition_the_alerts_by_supplier(rows: list[tuple[str, str | None]]) -> None:
    groups = payloads(make_alerts(rows))
    suppliers = [group["supplier_id"] for group in groups]
    assert len(set(suppliers)) == len(suppliers)
    assert suppliers == sorted(suppliers, key=lambda s: (s is None, s or ""))
    last = dict(rows)  # last row per alert id wins
    assert {a["alert_id"]: g["supplier_id"] for g in groups for a in g["alerts"]} == last


# --------------------------------------------------------------------------------------------
# The settings that produced the alerts travel with them
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def found() -> Any:
    """Real alerts (an Alerts result, drops included) and their recorded settings."""
    from stockseries import detect_alerts, simulate

    sim = simulate(4, start="2024-01-01", days=0.5, seed=5)
    catalog = sim.catalog.select("item_id", "supplier_id")
    result = detect_alerts(
        sim.events, "1m", window=30, k=3.0, direction="both", merge_gap=1, suppliers=catalog
    )
    assert len(result) and result.frame["supplier_id"].null_count() == 0
    return result


def test_webhook_payloads_record_the_settings(server: Server, found: Any) -> None:
    sink, _ = webhook(server, "/ok")
    assert notify(found, sink, sent_at=STAMP).delivered == len(found)
    settings = json.loads(found.settings_json())
    assert settings["detection"]["direction"] == "both" and settings["merge_gap"] == 1
    bodies = server.bodies("/ok")
    assert bodies and all(body["settings"] == settings for body in bodies)
    assert list(bodies[0]) == ["supplier_id", "alerts", "count", "settings", "sent_at"]
    # Given explicitly, settings win; a bare frame records none.
    other = {"every": "5m", "detection": None}
    notify(found, webhook(server, "/other")[0], sent_at=None, settings=other)
    assert all(
        body["settings"] == {"every": "5m", "detection": None} for body in server.bodies("/other")
    )
    notify(found.frame, webhook(server, "/bare")[0], sent_at=None)
    assert all("settings" not in body for body in server.bodies("/bare"))
    assert payloads(found)[0]["settings"] == settings
    with pytest.raises(TypeError, match="settings must be a mapping"):
        payloads(found, settings="k=3")  # type: ignore[arg-type]


def test_file_sinks_record_the_settings(found: Any, tmp_path: Path) -> None:
    lines = FileSink(tmp_path / "alerts.ndjson")
    table = FileSink(tmp_path / "alerts.csv")
    assert notify(found, lines, table, sent_at=STAMP).delivered == len(found)
    settings = json.loads(found.settings_json())
    assert all(line["settings"] == settings for line in read_ndjson(lines.path))
    # The CSV's settings go beside it, as Alerts.write puts them: the same bytes.
    assert table.settings_path == tmp_path / "alerts_params.json"
    found.write(tmp_path / "written.csv")
    assert table.settings_path.read_bytes() == (tmp_path / "written_params.json").read_bytes()
    assert "settings" not in table.path.read_text().splitlines()[0]
    # More alerts of the same settings append; alerts of other settings are refused.
    notifier = Notifier(table, sent_at=STAMP)
    assert notifier.notify(found.frame.with_columns(alert_id=pl.lit("x") + pl.col("alert_id")),
                           settings=found.params).ok  # fmt: skip
    refused = notifier.notify(found.frame.with_columns(alert_id=pl.lit("y") + pl.col("alert_id")),
                              settings={"every": "5m"})  # fmt: skip
    assert refused.failed == len(found) and "other settings" in refused.deliveries[0].error
    bare = FileSink(tmp_path / "bare.csv")
    notify(found.frame, bare)
    assert not bare.settings_path.exists()
    late = notify(found, bare)
    assert late.failed and "not recorded" in late.deliveries[0].error
