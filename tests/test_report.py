"""Tests for stockseries.report: a self-contained offline HTML report and its HTML helpers."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries.alerts import alerts, evaluate
from stockseries.generate import simulate
from stockseries.report import _scoped_svg, html_table, scores_html, write_report
from stockseries.series import resample, stockouts
from stockseries.spikes import detect_spikes

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return _pipeline(simulate(5, days=1.0, seed=11))


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    """Two items, half a day: for the many reports that only check structure."""
    return _pipeline(simulate(2, days=0.5, seed=11))


def _pipeline(sim: Any) -> dict[str, Any]:
    series = resample(sim.events)
    detected = detect_spikes(series, window=60, k=4.0)
    return {
        "events": sim.events,
        "series": series,
        "detected": detected,
        "alerts": alerts(detected, every="1m", suppliers=sim.catalog),
        "labels": sim.labels,
        "stockouts": stockouts(sim.events),
    }


@pytest.fixture(scope="module")
def full_report(data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "nested" / "report.html"
    written = write_report(path, title="Demo <report> & co", **data)
    assert written == path and path.exists()
    return path.read_text(encoding="utf-8")


class _Collector(HTMLParser):
    """Tags with their attributes, and the text of table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


# -- offline guarantees ----------------------------------------------------------------------


def test_report_has_no_script_and_fetches_nothing(full_report: str) -> None:
    tags = parse(full_report).tags
    names = {tag for tag, _ in tags}
    assert "script" not in names and "link" not in names and "iframe" not in names
    for tag, attrs in tags:
        for name in ("src", "href", "xlink:href", "action", "data"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    assert "@import" not in full_report and not re.search(
        r"url\(\s*['\"]?(https?:)?//", full_report
    )
    # SVG namespace declarations are the only URLs: identifiers, never fetched
    without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", full_report)
    assert "http://" not in without_namespaces and "https://" not in without_namespaces


def test_report_inlines_svg_charts(full_report: str) -> None:
    tags = parse(full_report).tags
    top_level_svgs = [attrs for tag, attrs in tags if tag == "svg"]
    assert len(top_level_svgs) == 4  # evaluation, timeline, demand, level
    assert full_report.count("Demand (units / bucket)") >= 1
    assert "Stock level (units)" in full_report and "Time (UTC)" in full_report


# -- content ---------------------------------------------------------------------------------


def test_report_summary_and_sections(full_report: str, data: dict[str, Any]) -> None:
    assert "<title>Demo &lt;report&gt; &amp; co</title>" in full_report
    for heading in ("Evaluation against labels", "Alerts", "Demand", "Stock levels"):
        assert f"<h2>{heading}</h2>" in full_report
    assert f'<div class="value">{data["events"].height:,}</div>' in full_report
    assert f'{len(data["alerts"]):,}</div><div class="label">alerts on' in full_report
    scores = dict(evaluate(data["alerts"], data["labels"], series=data["detected"]).iter_rows())
    assert (
        f'<div class="value">{scores["precision"]:.2f}</div><div class="label">precision'
        in full_report
    )
    assert "2024-01-01 00:00 – 2024-01-01 23:59 UTC" in full_report


def test_report_tables(full_report: str, data: dict[str, Any]) -> None:
    cells = parse(full_report).cells
    # metrics by name: ratios with 3 decimals, counts as integers, times as durations
    assert cells[cells.index("Labelled spikes") + 1] == f"{data['labels'].height}"
    precision = cells[cells.index("Precision: share of alerts that match a labelled spike") + 1]
    assert re.fullmatch(r"\d\.\d{3}", precision)
    assert re.fullmatch(
        r"-?(\d+m \d\ds|\d+s|\d+h \d\dm)", cells[cells.index("Median time to detect") + 1]
    )
    assert "n_labels" not in cells and "mean_time_to_detect_s" not in cells
    # top alerts by excess: the first row is the largest excess
    top = data["alerts"].frame.sort("excess", descending=True).row(0, named=True)
    first_alert_row = cells.index("supplier_id") + 1
    assert cells[first_alert_row] == top["item_id"]
    assert cells[first_alert_row + 1] == f"{top['start']:%Y-%m-%d %H:%M:%S} UTC"


@pytest.mark.parametrize(
    ("given", "present", "absent"),
    [
        (("events",), ["Demand", "Stock levels"], ["Alerts", "Evaluation against labels"]),
        (("series",), ["Demand", "Stock levels"], ["Alerts", "Stock-outs"]),
        (
            ("detected", "alerts"),
            ["Demand", "Alerts"],
            ["Evaluation against labels", "Stock levels"],
        ),
        (("alerts", "labels"), ["Alerts", "Evaluation against labels"], ["Demand"]),
        (("alerts",), ["Alerts"], ["Demand", "Evaluation against labels"]),
        (("stockouts",), ["Stock-outs"], ["Stock levels", "Demand"]),
    ],
)
def test_sections_follow_inputs(
    small: dict[str, Any],
    tmp_path: Path,
    given: tuple[str, ...],
    present: list[str],
    absent: list[str],
) -> None:
    html = write_report(tmp_path / "r.html", **{k: small[k] for k in given}).read_text()
    for heading in present:
        assert f"<h2>{heading}</h2>" in html
    for heading in absent:
        assert f"<h2>{heading}</h2>" not in html
    assert "<script" not in html


def test_events_only_derives_series_and_stockouts(small: dict[str, Any], tmp_path: Path) -> None:
    html = write_report(tmp_path / "r.html", events=small["events"]).read_text()
    n_outs = small["stockouts"].height
    assert f"stock-outs ({int(small['stockouts']['ongoing'].sum())} ongoing)" in html
    assert f'<div class="value">{n_outs}</div>' in html
    assert f'<div class="value">{small["series"].height:,}</div><div class="label">buckets' in html


def test_pandas_inputs(small: dict[str, Any], tmp_path: Path) -> None:
    html = write_report(
        tmp_path / "r.html",
        detected=small["detected"].to_pandas(),
        alerts=small["alerts"].frame.to_pandas(),
        labels=small["labels"].to_pandas(),
    ).read_text()
    assert "<h2>Evaluation against labels</h2>" in html and html.count("<svg") == 3


def test_no_alerts(small: dict[str, Any], tmp_path: Path) -> None:
    html = write_report(tmp_path / "r.html", alerts=small["alerts"].frame.head(0)).read_text()
    assert "No alerts." in html


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "nothing to report"),
        ({"series": "S", "top": 0}, "top must be an integer >= 1"),
        ({"series": "S", "max_items": 0}, "max_items must be an integer >= 1"),
    ],
)
def test_rejects_bad_arguments(
    small: dict[str, Any], tmp_path: Path, kwargs: dict, match: str
) -> None:
    kwargs = {k: (small["series"] if v == "S" else v) for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=match):
        write_report(tmp_path / "r.html", **kwargs)


def test_not_a_frame(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="series: expected a polars or pandas DataFrame"):
        write_report(tmp_path / "r.html", series=[1, 2])


# -- helpers ---------------------------------------------------------------------------------


def test_scoped_svg_prefixes_ids_and_references() -> None:
    svg = '<svg><clipPath id="clip1"/><g clip-path="url(#clip1)"/><use href="#clip1"/></svg>'
    assert _scoped_svg(svg, "c2-") == (
        '<svg><clipPath id="c2-clip1"/><g clip-path="url(#c2-clip1)"/><use href="#c2-clip1"/></svg>'
    )
    assert _scoped_svg("<svg/>", "c1-") == "<svg/>"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "yes"),
        (1234567, "1,234,567"),
        (3.14159, "3.14"),
        (float("nan"), ""),
        (T0.replace(hour=5, minute=6, second=7), "2024-01-01 05:06:07 UTC"),
        (dt.datetime(2024, 1, 1, 5, 6, 7), "2024-01-01 05:06:07"),
        (dt.timedelta(minutes=65), "1h 05m"),
        (dt.timedelta(days=1, minutes=5), "1d 00h"),
        (dt.timedelta(seconds=59), "59s"),
        (dt.timedelta(minutes=35, seconds=3, microseconds=976529), "35m 04s"),
        ("<b>", "&lt;b&gt;"),
    ],
)
def test_html_table_cells(value: Any, text: str) -> None:
    frame = pl.DataFrame({"x": pl.Series([value])})
    assert re.search(f">{re.escape(text)}</td>", html_table(frame))


def test_html_table_cuts_rows_and_accepts_pandas() -> None:
    frame = pl.DataFrame({"a": list(range(5))})
    html = html_table(frame.to_pandas(), max_rows=2, caption="Numbers")
    assert html.count("<tr>") == 3  # header + 2 rows
    assert "<caption>Numbers</caption>" in html and "3 more rows not shown." in html
    with pytest.raises(ValueError, match="max_rows must be an integer >= 0 or None"):
        html_table(frame, max_rows=-1)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=5))
def test_html_table_escapes_every_cell(texts: list[str]) -> None:
    html = html_table(pl.DataFrame({"text": texts}))
    parsed = parse(html)
    assert [tag for tag, _ in parsed.tags].count("td") == len(texts)
    # the parser gets back exactly the strings (with HTML's CR/LF normalisation aside)
    assert parsed.cells[1:] == texts or "\r" in "".join(texts)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({"precision": 0.5}, "precision <b>0.50</b>"),
        ({"f1": None}, "F1 <b>–</b>"),
        (
            {"recall": 1.0, "f1": 0.25},
            'recall <b>1.00</b></span> <span class="score">F1 <b>0.25</b>',
        ),
    ],
)
def test_scores_html(scores: dict, expected: str) -> None:
    assert expected in scores_html(scores)


def test_report_records_settings_span_and_version(tmp_path: Path, small: dict[str, Any]) -> None:
    from stockseries import __version__

    settings = {"method": "zscore", "window": 30, "k": 4.0}
    out = write_report(
        tmp_path / "r.html",
        events=small["events"],
        settings={"every": "1m", **settings},
        source={"events": "my_events.csv"},
    )
    cells = parse(out.read_text()).cells
    for key, value in {"method": "zscore", "window": "30", "k": "4.0", "every": "1m"}.items():
        assert cells[cells.index(key) + 1] == value
    assert cells[cells.index("events") + 1] == "my_events.csv"
    assert cells[cells.index("stockseries version") + 1] == __version__
    assert re.fullmatch(r".* UTC", cells[cells.index("data span") + 1])


def test_interactive_report_inlines_vega_and_specs(tmp_path: Path, small: dict[str, Any]) -> None:
    out = write_report(tmp_path / "r.html", events=small["events"], interactive=True)
    html = out.read_text()
    assert '<div class="chart" id="chart1"></div>' in html and "vegaEmbed" in html
    page = html.split("<script>")[0]
    assert "<svg" not in page and "https://" not in page


def test_readable_metrics_names_and_units() -> None:
    from stockseries.report import METRICS, readable_metrics

    scores = pl.DataFrame(
        {"metric": list(METRICS), "value": [0.5 + i for i in range(len(METRICS))]}
    )
    table = readable_metrics(scores)
    assert table["key"].to_list() == list(METRICS)
    assert not set(table["metric"]) & set(METRICS)
    texts = dict(zip(table["key"], table["value"], strict=True))
    assert texts["precision"] == "0.500" and texts["n_alerts"] == "4"
    assert texts["mean_time_to_detect_s"] == "9.50s"


def test_every_chart_has_a_legend(full_report: str) -> None:
    charts = full_report.split('<div class="chart">')[1:]
    assert len(charts) == 4
    for chart in charts:
        svg = chart.split("</svg>")[0]
        assert 'class="mark-group role-legend"' in svg, svg[:300]


def test_report_records_the_alerts_settings_as_a_params_file(
    tmp_path: Path, small: dict[str, Any]
) -> None:
    import html
    import json

    from stockseries.alerts import settings_from

    detection = {"method": "mad", "window": 45, "k": 4.5, "smooth": 2}
    found = alerts(
        detect_spikes(small["series"], **detection), params=detection, every="1m", merge_gap=3
    )
    out = write_report(
        tmp_path / "r.html", series=small["series"], alerts=found, settings={"k": 4.5}
    )
    page = out.read_text()
    cells = parse(page).cells
    # the given settings first, then what the alerts record (every default filled in)
    assert cells[cells.index("k") + 1] == "4.5"
    for key, value in {
        "method": "mad",
        "window": "45",
        "min_periods": "45",
        "merge_gap": "3",
    }.items():
        assert cells[cells.index(key) + 1] == value
    (block,) = re.findall(r'<pre class="settings-json">(.*?)</pre>', page, flags=re.S)
    recorded = json.loads(html.unescape(block))
    assert recorded["method"] == "mad" and recorded["window"] == 45 and recorded["every"] == "1m"
    # the block is a --params file: it repeats the same alerts, ids included
    settings = settings_from(recorded)
    again = alerts(
        detect_spikes(small["series"], **settings.detection),
        params=settings.detection,
        every=settings.every,
        **settings.rules.to_dict(),
    )
    assert again.frame["alert_id"].to_list() == found.frame["alert_id"].to_list()


def test_report_without_recorded_settings_has_no_params_block(full_report: str) -> None:
    assert "settings-json" not in full_report.split("<style>")[1].split("</style>")[1]


def test_alert_timeline_spans_the_data(tmp_path: Path, data: dict[str, Any]) -> None:
    import json

    out = write_report(tmp_path / "r.html", **data, interactive=True)
    specs = json.loads(re.search(r"const specs = (.*);\n", out.read_text()).group(1))  # type: ignore[union-attr]
    (timeline,) = [s for s in specs if s.get("title", {}).get("text") == "Alert timeline"]
    domain = timeline["layer"][0]["encoding"]["x"]["scale"]["domain"]
    ts = data["detected"]["ts"]
    assert domain == [f"{ts.min():%Y-%m-%dT%H:%M:%S}.000Z", f"{ts.max():%Y-%m-%dT%H:%M:%S}.000Z"]
