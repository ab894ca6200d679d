"""Options and helpers shared by the sub-commands (public names for the command modules).

A command that reads events calls :func:`add_events_input` when it builds its arguments and
:func:`read_input_events` when it runs, so every such command accepts the same input options.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from stockseries._io import read_table
from stockseries.spikes.methods import (
    DIRECTIONS,
    METHOD_TABLE,
    METHODS,
    TRANSFORMS,
    method_options,
    option_methods,
)

if TYPE_CHECKING:
    from stockseries.alerts import Settings

__all__ = [
    "EXIT_BAD_INPUT",
    "MAX_COUNT",
    "add_detection_options",
    "add_events_input",
    "add_out_of_core_options",
    "check_output_path",
    "count",
    "detect_options",
    "detection_settings",
    "episode_options",
    "fail",
    "is_out_of_core",
    "number",
    "print_frame",
    "read_alerts",
    "read_initial",
    "read_input_events",
    "read_labels",
    "replay_suppliers",
    "run_out_of_core",
    "suppliers",
    "warn_few_buckets",
    "warn_short_history",
    "window_defaults",
    "write_alerts",
]

#: Exit status for bad input or bad arguments (argparse uses 2 as well).
EXIT_BAD_INPUT = 2


def fail(message: str) -> int:
    """Print ``stockseries: error: message`` on stderr and return :data:`EXIT_BAD_INPUT`."""
    print(f"stockseries: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


# --------------------------------------------------------------------------- input


def add_events_input(parser: argparse.ArgumentParser) -> None:
    """The ``EVENTS`` argument and the options that say how to read it."""
    parser.add_argument(
        "events", help="event file (.csv/.parquet/.ndjson), a folder of them or a glob"
    )
    group = parser.add_argument_group("reading EVENTS")
    group.add_argument(
        "--epoch-unit",
        choices=("s", "ms", "us", "ns"),
        default=None,
        help="unit of integer epoch timestamps in EVENTS (ISO-8601 needs none)",
    )
    group.add_argument(
        "--columns",
        metavar="NAME=COLUMN,...",
        default=None,
        help="the file's names for the event columns, e.g. "
        "ts=timestamp,item_id=sku,kind=type,quantity=qty",
    )
    group.add_argument(
        "--kinds",
        metavar="KIND=VALUE,...",
        default=None,
        help="the file's values for the kinds order and delivery, e.g. "
        "order=sale,delivery=receipt (repeat a kind for several values)",
    )
    group.add_argument("--delimiter", default=",", help="CSV field separator")
    group.add_argument(
        "--ts-format",
        default=None,
        help="format of the timestamps, e.g. '%%d/%%m/%%Y %%H:%%M' (default: ISO-8601)",
    )
    group.add_argument(
        "--tz",
        default=None,
        help="IANA time zone of naive timestamps, e.g. Europe/Paris (default: naive is UTC)",
    )
    group.add_argument(
        "--rejected",
        metavar="FILE",
        default=None,
        help="keep going past invalid rows: write them here with a reason each "
        "(default: stop and report every broken rule)",
    )


def read_input_events(args: argparse.Namespace) -> pl.DataFrame:
    """The validated events named by :func:`add_events_input`'s options.

    With ``--rejected FILE`` the invalid rows go to that file (with a ``reason`` column) and a
    line on stderr says how many; otherwise the first invalid input stops the command.
    """
    from stockseries._io import staged_frame
    from stockseries.events import parse_pairs, read_events

    columns = parse_pairs(args.columns, "--columns") if args.columns else {}
    for name, values in columns.items():
        if len(values) > 1:
            raise ValueError(f"--columns names {name} twice ({', '.join(values)})")
    options: dict[str, Any] = {
        "epoch_unit": args.epoch_unit,
        "columns": {name: values[0] for name, values in columns.items()},
        "kinds": parse_pairs(args.kinds, "--kinds") if args.kinds else {},
        "delimiter": args.delimiter,
        "ts_format": args.ts_format,
        "tz": args.tz,
    }
    if args.rejected is None:
        events: pl.DataFrame = read_events(args.events, **options)
        return events
    check_output_path(args.rejected, (args.events,))
    result = read_events(args.events, strict=False, **options)
    staged = staged_frame(result.rejected, args.rejected, inputs=(args.events,))
    pending = getattr(args, "pending_outputs", None)
    if pending is None:
        staged.commit()
    else:  # renamed into place by main() once the command succeeded, else removed
        pending.append(staged)
    if result.rejected.height:
        print(
            f"stockseries: {result.rejected.height:,} invalid row(s) written to "
            f"{args.rejected}; going on with {result.events.height:,} valid event(s)",
            file=sys.stderr,
        )
    valid: pl.DataFrame = result.events
    return valid


def check_output_path(path: str, inputs: tuple[str | None, ...]) -> None:
    """Refuse an output that is a directory or one of the inputs (before any work)."""
    from stockseries._io import check_output

    check_output(path, inputs)


def read_initial(path: str | None) -> pl.DataFrame | None:
    """``--initial``: a table with columns ``item_id,initial``."""
    if path is None:
        return None
    table = read_table(path)
    missing = {"item_id", "initial"} - set(table.columns)
    if missing:
        raise ValueError(
            f"--initial {path}: missing column(s) {', '.join(sorted(missing))}; "
            "expected a table with columns item_id,initial"
        )
    # The API checks ``initial`` (integers only: 2.5 is refused, never truncated).
    return table.select(pl.col("item_id").cast(pl.String), "initial")


def read_labels(path: str) -> pl.DataFrame:
    """A labels table (``item_id,start,end``) with UTC timestamps."""
    return read_table(path, datetime_columns=("start", "end")).with_columns(
        pl.col("item_id").cast(pl.String)
    )


def read_alerts(path: str) -> pl.DataFrame:
    """An alerts table written by ``detect``/``replay`` with UTC timestamps."""
    return read_table(path, datetime_columns=("start", "end", "peak_ts")).with_columns(
        pl.col("item_id").cast(pl.String)
    )


def suppliers(events: pl.DataFrame, catalog_path: str | None) -> pl.DataFrame | None:
    """Item → supplier from ``--catalog``, else from the events' ``supplier_id`` column."""
    if catalog_path is not None:
        return read_table(catalog_path).select(
            pl.col("item_id").cast(pl.String), pl.col("supplier_id").cast(pl.String)
        )
    if "supplier_id" in events.columns:
        return (
            events.select("item_id", "supplier_id")
            .drop_nulls()
            .unique("item_id", keep="first", maintain_order=True)
        )
    return None


def replay_suppliers(source: str, catalog_path: str | None) -> pl.DataFrame | None:
    """Item → supplier map for a replay, read up front so alerts match ``detect``'s."""
    from stockseries.events import scan_events

    if catalog_path is not None:
        return suppliers(pl.DataFrame(), catalog_path)
    scan = scan_events(source)
    if "supplier_id" not in scan.collect_schema().names():
        return None
    # Two columns of a lazy scan: cheap even when the events themselves are streamed.
    return suppliers(scan.select("item_id", "supplier_id").collect(), None)


# --------------------------------------------------------------------------- numbers

#: The largest count (buckets, rows, items) an option accepts: far beyond any real setting,
#: and small enough that no buffer sized by it can overflow.
MAX_COUNT = 10**9


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``minimum`` to :data:`MAX_COUNT`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not minimum <= value <= MAX_COUNT:
            raise argparse.ArgumentTypeError(
                f"{value} is out of range (from {minimum} to {MAX_COUNT:,})"
            )
        return value

    parse.__name__ = "count"  # what argparse calls it in messages
    return parse


def number(text: str) -> float:
    """An argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


# --------------------------------------------------------------------------- detection


def window_defaults() -> str:
    """Each method's default ``window`` from the method table, the most common one first.

    Examples
    --------
    >>> window_defaults()
    '60 buckets; seasonal: 7 periods; level_shift: 24 buckets; threshold, profile: none'
    """
    spelled = {
        name: "none" if spec.window is None else f"{spec.window} {spec.window_unit}"
        for name, spec in METHOD_TABLE.items()
    }
    values = list(spelled.values())
    common = max(values, key=values.count)
    others: dict[str, list[str]] = {}
    for name, text in spelled.items():
        if text != common:
            others.setdefault(text, []).append(name)
    ordered = sorted(others.items(), key=lambda item: item[0] == "none")
    return "; ".join([common, *(f"{', '.join(names)}: {text}" for text, names in ordered)])


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    """Bucket size, detector and alert-episode options (``detect``, ``replay``).

    Every option defaults to "not given" so that ``--params FILE`` (what ``tune
    --params-out`` and ``SpikeTuner.export_json()`` write) fills it, and a flag given as
    well wins; without a file the defaults are the library's.
    """
    group = parser.add_argument_group("detection")
    group.add_argument(
        "--params",
        metavar="FILE",
        help="settings file (tune --params-out, SpikeTuner.export_json); flags override it",
    )
    group.add_argument(
        "--every", default=None, help="bucket size, e.g. 90s, 1m, 15min, 1h30m, 1d (default 1m)"
    )
    group.add_argument("--method", default=None, choices=METHODS, help="detector (default zscore)")
    group.add_argument(
        "--window",
        type=count(1),
        default=None,
        help=f"baseline length (default: {window_defaults()})",
    )
    group.add_argument(
        "--k",
        type=number,
        default=None,
        help="threshold multiplier, > 0 (default: 3; 4 for profile)",
    )
    group.add_argument(
        "--min-periods",
        type=count(0),
        default=None,
        help="buckets of history needed before a bucket can be flagged (default: the window)",
    )
    group.add_argument(
        "--min-demand", type=number, default=None, help="never flag a bucket below this demand"
    )
    group.add_argument(
        "--smooth", type=count(1), default=None, help="compare the mean of the last N buckets"
    )
    group.add_argument(
        "--direction", choices=DIRECTIONS, default=None, help="up (default), down or both"
    )
    group.add_argument(
        "--transform",
        choices=tuple("none" if name is None else name for name in TRANSFORMS),
        default=None,
        help="judge a variance-stabilised signal (default: the method's)",
    )
    group.add_argument(
        "--robust",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cap flagged buckets before they enter later baselines (default: the method's)",
    )
    for option in method_options():
        help_text = f"{', '.join(option_methods(option.name))}: {option.help}"
        if option.kind == "bool":
            group.add_argument(option.flag, action="store_true", default=None, help=help_text)
        else:
            kind = {"int": count(1), "float": number, "level": number}.get(option.kind, str)
            group.add_argument(option.flag, type=kind, default=None, help=help_text)
    episodes = parser.add_argument_group("alert episodes")
    episodes.add_argument(
        "--merge-gap",
        type=count(0),
        default=None,
        help="join flagged runs separated by at most this many quiet buckets (default 0)",
    )
    episodes.add_argument(
        "--min-buckets",
        type=count(1),
        default=None,
        help="shortest episode that raises an alert (default 1)",
    )
    episodes.add_argument(
        "--cooldown",
        type=count(0),
        default=None,
        help="quiet buckets after an episode before the same item alerts again (default 0)",
    )
    parser.add_argument("--initial", help="CSV/Parquet with columns item_id,initial")
    parser.add_argument("--catalog", help="CSV/Parquet with item_id,supplier_id")


_FLAGS = (
    "method", "window", "k", "min_periods", "min_demand", "smooth", "direction", "robust",
    "merge_gap", "min_buckets", "cooldown",
)  # fmt: skip


def detection_settings(args: argparse.Namespace) -> Settings:
    """The settings of a run: ``--params FILE`` with the flags given on top.

    Also sets ``args.every`` (flag, else the file's, else ``1m``). Computed once per run.
    """
    from stockseries.alerts import read_settings, settings_from

    cached = getattr(args, "_settings", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    flags: dict[str, Any] = {name: getattr(args, name) for name in _FLAGS}
    flags.update({option.name: getattr(args, option.name) for option in method_options()})
    if args.transform is not None and args.transform != "none":
        flags["transform"] = args.transform
    if args.params is not None:
        settings = read_settings(args.params, **flags)
    else:
        settings = settings_from({}, **flags)
    if args.transform == "none":
        settings = dataclasses.replace(
            settings, detection=settings.detection.replace(transform=None)
        )
    args.every = args.every or settings.every or "1m"
    # The namespace then reads as resolved (commands and callers may look at it directly).
    for name, value in settings.rules.to_dict().items():
        setattr(args, name, value)
    args.method = settings.detection.method
    args._settings = settings
    return settings


def detect_options(args: argparse.Namespace) -> dict[str, Any]:
    """Detector keyword arguments from :func:`add_detection_options`' options."""
    return detection_settings(args).detection.to_dict()


def episode_options(args: argparse.Namespace) -> dict[str, Any]:
    """Alert-episode keyword arguments (``merge_gap``, ``min_buckets``, ``cooldown``)."""
    return detection_settings(args).rules.to_dict()


def write_alerts(found: Any, path: str, inputs: Any) -> None:
    """Write alerts with the settings that produced them: in a Parquet file's metadata
    (``stockseries.params``), else in ``<name>_params.json`` beside the file."""
    from stockseries._io import AtomicFile, write_frame
    from stockseries.alerts.result import PARAMS_METADATA

    target = Path(path)
    settings = found.settings_json()
    if target.suffix.lower() in (".parquet", ".pq"):
        write_frame(found.frame, target, inputs=inputs, metadata={PARAMS_METADATA: settings})
    else:
        # The settings are written first and renamed into place last: a full disk leaves
        # neither file, never an alerts file without its settings or the other way round.
        with AtomicFile(target.with_name(target.stem + "_params.json"), inputs=inputs) as out:
            out.temporary.write_text(settings + "\n")
            write_frame(found.frame, target, inputs=inputs)


# --------------------------------------------------------------------------- out of core


def add_out_of_core_options(parser: argparse.ArgumentParser) -> None:
    """``--out-of-core``/``--in-memory``, ``--lateness`` and ``--quiet``."""
    group = parser.add_argument_group(
        "larger-than-memory input",
        "A directory is processed out of core (one hive partition or file at a time, results "
        "streamed to the output; streamed series rows are not sorted); a file in memory.",
    )
    mode = group.add_mutually_exclusive_group()
    mode.add_argument(
        "--out-of-core", action="store_true", help="process out of core even for a single file"
    )
    mode.add_argument(
        "--in-memory", action="store_true", help="read everything into memory even for a directory"
    )
    group.add_argument(
        "--lateness",
        default="0s",
        help="out of core: how far partitions/files may overlap in time, e.g. 10m",
    )
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def is_out_of_core(args: argparse.Namespace) -> bool:
    """``--out-of-core``, ``--in-memory``, or automatic: out of core for a directory."""
    if args.out_of_core or args.in_memory:
        return bool(args.out_of_core)
    return Path(args.events).is_dir()


def run_out_of_core(args: argparse.Namespace, **options: Any) -> Any:
    """:func:`stockseries.outofcore.run_out_of_core` with the command's input options."""
    from stockseries._time import format_duration
    from stockseries.outofcore import ChunkOrderError
    from stockseries.outofcore import run_out_of_core as run

    try:
        return run(
            args.events,
            every=args.every,
            lateness=args.lateness,
            progress=not args.quiet,
            epoch_unit=args.epoch_unit,
            **options,
        )
    except ChunkOrderError as exc:
        needed = format_duration(int(exc.needed.total_seconds()) * 1_000_000)
        raise ValueError(
            f"{exc} On the command line: --lateness {needed}, or "
            "--in-memory if the data fits in memory."
        ) from exc


# --------------------------------------------------------------------------- output


def print_frame(frame: pl.DataFrame, rows: int = 10) -> None:
    """Print a small table on stdout."""
    with pl.Config(tbl_rows=rows, tbl_cols=12, tbl_width_chars=120, tbl_hide_dataframe_shape=True):
        print(frame)


def warn_short_history(
    args: argparse.Namespace, events: pl.DataFrame | pl.LazyFrame, alerts: int
) -> None:
    """Say why there are no alerts when the data is shorter than the detector's warm-up.

    ``events`` may be lazy (``replay`` scans only the timestamps of its file again, and only
    when it found no alert).
    """
    if alerts:
        return
    from stockseries._time import duration_us

    span = events.lazy().select(pl.col("ts").max() - pl.col("ts").min()).collect().item()
    if span is None:
        return
    warn_few_buckets(args, int(span // timedelta(microseconds=duration_us(args.every))) + 1)


def warn_few_buckets(args: argparse.Namespace, buckets: int, *, at_most: bool = False) -> None:
    """The warning of :func:`warn_short_history` for a known number of buckets per item."""
    from stockseries.spikes import spike_params

    needed = int(spike_params(**detect_options(args))["min_periods"])
    if buckets <= needed:
        has = f"at most {buckets}" if at_most else f"{buckets}"
        print(
            f"stockseries: warning: 0 alerts: no bucket had enough history (needs {needed} "
            f"buckets of {args.every}, data has {has}); try a smaller --window or "
            "--min-periods, or a shorter --every",
            file=sys.stderr,
        )
