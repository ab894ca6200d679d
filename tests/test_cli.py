"""The ``stockseries`` console script, driven in-process through ``main(argv)``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from stockseries.cli import main
from stockseries.generate import simulate


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    sim = simulate(4, start="2024-01-01", days=1.0, seed=3)
    sim.events.write_parquet(folder / "events.parquet")
    sim.events.write_csv(folder / "events.csv", datetime_format="%Y-%m-%dT%H:%M:%S%.fZ")
    sim.labels.write_csv(folder / "labels.csv", datetime_format="%Y-%m-%dT%H:%M:%S%.fZ")
    pl.DataFrame({"item_id": sim.catalog["item_id"], "initial": [100] * 4}).write_csv(
        folder / "initial.csv"
    )
    return folder


def test_simulate_writes_events_and_labels(tmp_path: Path) -> None:
    out, labels = tmp_path / "ev.csv", tmp_path / "labels.parquet"
    assert (
        main(["simulate", "--items", "3", "--days", "0.5", "-o", str(out), "--labels", str(labels)])
        == 0
    )
    text = out.read_text().splitlines()
    assert text[0].startswith("ts,item_id,kind,quantity")
    assert text[1].split(",")[0].endswith("Z")  # ISO-8601 UTC
    assert pl.read_parquet(labels).columns[:4] == ["item_id", "start", "end", "multiplier"]


@pytest.mark.parametrize("source", ["events.parquet", "events.csv"])
def test_levels_keeps_every_event(workdir: Path, tmp_path: Path, source: str) -> None:
    out = tmp_path / "levels.parquet"
    assert (
        main(
            [
                "levels",
                str(workdir / source),
                "-o",
                str(out),
                "--initial",
                str(workdir / "initial.csv"),
            ]
        )
        == 0
    )
    levels = pl.read_parquet(out)
    assert levels.height == pl.read_parquet(workdir / "events.parquet").height
    assert "level" in levels.columns


def test_series_csv_output(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "series.csv"
    assert main(["series", str(workdir / "events.parquet"), "--every", "7m", "-o", str(out)]) == 0
    header = out.read_text().splitlines()[0]
    assert header == "item_id,ts,demand,orders,supply,deliveries,level"


def test_detect_then_evaluate(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alerts = tmp_path / "alerts.csv"
    argv = [
        "detect",
        str(workdir / "events.parquet"),
        "--every",
        "1m",
        "--method",
        "zscore",
        "--window",
        "60",
        "--k",
        "5",
        "-o",
        str(alerts),
    ]
    assert main(argv) == 0
    assert "alert" in capsys.readouterr().out
    assert main(["evaluate", str(alerts), str(workdir / "labels.csv")]) == 0
    assert "f1" in capsys.readouterr().out


def test_detect_zero_alerts_writes_valid_empty_file(workdir: Path, tmp_path: Path) -> None:
    alerts = tmp_path / "none.csv"
    argv = ["detect", str(workdir / "events.parquet"), "--k", "1000", "-o", str(alerts)]
    assert main(argv) == 0
    frame = pl.read_csv(alerts)
    assert frame.height == 0
    assert "alert_id" in frame.columns


def test_tune_writes_trials_and_params(workdir: Path, tmp_path: Path) -> None:
    trials, params = tmp_path / "trials.csv", tmp_path / "best.json"
    argv = [
        "tune",
        str(workdir / "events.parquet"),
        str(workdir / "labels.csv"),
        "-q",
        "-o",
        str(trials),
        "--params-out",
        str(params),
    ]
    assert main(argv) == 0
    assert pl.read_csv(trials).height > 1
    assert "window" in json.loads(params.read_text())


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("ts,item_id,kind,quantity\n2024-01-01T00:00:00Z,A,order,-1\n", "quantity"),
        ("ts,item_id,kind,quantity\n2024-01-01T00:00:00Z,A,refund,1\n", "kind"),
        ("ts,item_id,quantity\n2024-01-01T00:00:00Z,A,1\n", "kind"),
        ("ts,item_id,kind,quantity\nyesterday,A,order,1\n", "ts"),
    ],
    ids=["negative-quantity", "unknown-kind", "missing-column", "bad-timestamp"],
)
def test_bad_input_exits_nonzero_with_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, needle: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    assert main(["levels", str(bad), "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_missing_file_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stockseries.cli",
            "series",
            str(tmp_path / "nope.csv"),
            "-o",
            str(tmp_path / "o.csv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "nope.csv" in proc.stderr


@pytest.mark.parametrize("frame_size", [997, 10_000])
def test_replay_writes_exactly_what_detect_writes(
    workdir: Path, tmp_path: Path, frame_size: int
) -> None:
    options = ["--every", "1m", "--method", "zscore", "--window", "60", "--k", "4", "--smooth", "5"]
    batch, live = tmp_path / "batch.csv", tmp_path / "live.csv"
    assert main(["detect", str(workdir / "events.parquet"), *options, "-o", str(batch)]) == 0
    argv = [
        "replay",
        str(workdir / "events.parquet"),
        "--frame-size",
        str(frame_size),
        "--lateness",
        "30s",
        *options,
        "-o",
        str(live),
    ]
    assert main(argv) == 0
    assert pl.read_csv(batch).height > 0
    assert live.read_text() == batch.read_text()


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two weeks of the realistic simulator: weekly cycle, spikes and labelled drops."""
    path = tmp_path_factory.mktemp("realistic") / "events.parquet"
    simulate(4, start="2024-01-01", days=14.0, seed=3, realism=True).events.write_parquet(path)
    return path


@pytest.mark.parametrize(
    "options",
    [
        ["--window", "30", "--k", "2", "--direction", "both", "--merge-gap", "1"],
        ["--method", "mad", "--window", "20", "--k", "2.5", "--direction", "down"],
        ["--method", "level_shift", "--window", "6", "--k", "1.5", "--direction", "both"],
        ["--method", "profile", "--period", "1d", "--k", "2", "--direction", "both"],
    ],
)
def test_replay_writes_exactly_what_detect_writes_for_drops(
    realistic: Path, tmp_path: Path, options: list[str]
) -> None:
    batch, live = tmp_path / "batch.csv", tmp_path / "live.csv"
    events = str(realistic)
    assert main(["detect", events, "--every", "15m", *options, "-o", str(batch)]) == 0
    argv = ["replay", events, "--every", "15m", "--frame-size", "997", "--lateness", "30s"]
    assert main([*argv, *options, "-o", str(live)]) == 0
    found = pl.read_csv(batch)
    assert "down" in set(found["direction"])
    assert live.read_bytes() == batch.read_bytes()
    # The settings sidecars agree too.
    sidecar = "{}_params.json"
    assert (tmp_path / sidecar.format("live")).read_bytes() == (
        tmp_path / sidecar.format("batch")
    ).read_bytes()


def test_demo_writes_report_and_alerts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "-o", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and "alerts:" in out
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html
    assert "<script" not in html.lower()
    alerts = pl.read_csv(tmp_path / "alerts.csv")
    assert alerts.height > 0
    assert {"alert_id", "item_id", "start", "end", "supplier_id"} <= set(alerts.columns)


@pytest.mark.parametrize(
    ("method", "extra"),
    [("threshold", ["--level", "50"]), ("seasonal", []), ("zscore", [])],
)
@pytest.mark.parametrize("command", ["detect", "replay"])
def test_detect_without_window_uses_the_method_default(
    workdir: Path, tmp_path: Path, method: str, extra: list[str], command: str
) -> None:
    # Regression: --window used to default to 60 and was always passed, so --method threshold
    # (which takes no window) failed and seasonal needed 60 days of history.
    out = tmp_path / "alerts.csv"
    argv = [command, str(workdir / "events.parquet"), "--method", method, *extra, "-o", str(out)]
    assert main(argv) == 0
    assert out.read_text().startswith("alert_id,item_id,start,end")


def test_integer_epochs_need_and_accept_epoch_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "epochs.csv"
    events.write_text("ts,item_id,kind,quantity\n1704067200,A,delivery,5\n1704067260,A,order,2\n")
    out = tmp_path / "levels.csv"
    assert main(["levels", str(events), "-o", str(out)]) == 2
    assert "epoch" in capsys.readouterr().err
    assert main(["levels", str(events), "--epoch-unit", "s", "-o", str(out)]) == 0
    levels = pl.read_csv(out)
    assert levels["ts"].to_list() == ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"]
    assert levels["level"].to_list() == [5, 3]


@pytest.mark.parametrize(
    "options",
    [
        ["--window", "60", "--k", "4", "--smooth", "5", "--merge-gap", "2"],
        ["--method", "mad", "--window", "30", "--k", "5", "--min-demand", "3", "--cooldown", "10"],
        ["--method", "threshold", "--level", "6", "--min-buckets", "2"],
    ],
    ids=["zscore", "mad", "threshold"],
)
def test_detect_writes_what_the_three_step_pipeline_writes(
    workdir: Path, tmp_path: Path, options: list[str]
) -> None:
    """The in-memory detect runs detect_alerts; its file must not differ by a byte from
    resample → detect_spikes → alerts with the parameters the command line records."""
    from stockseries._io import write_frame
    from stockseries.alerts import alerts
    from stockseries.cli import build_parser
    from stockseries.cli._options import detect_options, suppliers
    from stockseries.events import read_events
    from stockseries.series import resample
    from stockseries.spikes import detect_spikes

    source = str(workdir / "events.parquet")
    got, want = tmp_path / "cli.csv", tmp_path / "composed.csv"
    argv = ["detect", source, *options, "--initial", str(workdir / "initial.csv"), "-o", str(got)]
    assert main(argv) == 0
    args = build_parser().parse_args(argv)
    detection = detect_options(args)
    events = read_events(source)
    found = alerts(
        detect_spikes(resample(events, "1m"), **detection),
        params=detection,
        every="1m",
        merge_gap=args.merge_gap,
        min_buckets=args.min_buckets,
        cooldown=args.cooldown,
        suppliers=suppliers(events, None),
    )
    assert found.frame.height > 0
    write_frame(found.frame, want)
    assert got.read_bytes() == want.read_bytes()
