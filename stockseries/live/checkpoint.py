"""Checkpoint files of the live engine: one zip archive, written atomically, read defensively.

The archive holds ``header.json`` (format name, version, parameters, counters), the per-item
arrays as NumPy ``.npy`` members and the tables (item ids, pending episode buckets, late
events, starting stock, suppliers) as Arrow IPC. Reading trusts nothing in it: every way a
file can be damaged or crafted ends in a :class:`CheckpointError`, and no number read from it
sizes an allocation before it is checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stockseries._io import AtomicFile
from stockseries.spikes.methods import method_spec, spike_params

__all__ = [
    "ARRAYS",
    "CHECKSUM",
    "FORMAT",
    "MAX_US",
    "MIN_US",
    "PROCESSOR_KEYS",
    "RULE_KEYS",
    "STATS",
    "TABLES",
    "VERSION",
    "Checkpoint",
    "CheckpointError",
    "State",
    "check_array",
    "check_expected",
    "check_first",
    "constructor_kwargs",
    "read_checkpoint",
    "write_checkpoint",
]

FORMAT = "stockseries.live.checkpoint"
#: How the archive's integrity is recorded: the archive comment is the SHA-256 (hex) of
#: every byte before it. Checkpoints without it (older ones) are read without the check.
CHECKSUM = "sha256-of-archive-in-comment"
_DIGEST_SIZE = 64
VERSION = 1
STATS = ("frames", "events", "late", "corrected", "buckets", "alerts_opened", "alerts_closed")
ARRAYS = ("first", "level", "running", "open", "ring")
TABLES = ("labels", "flags", "episodes")
#: Event time a checkpoint may name (µs): what a Python datetime holds, years 1 to 9999.
MIN_US = -62_135_596_800_000_000
MAX_US = 253_402_300_799_999_999


class CheckpointError(ValueError):
    """A checkpoint cannot be restored: corrupt or truncated file, unknown format version, or
    parameters that differ from the ones the caller expected."""


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """The decoded members of a checkpoint file (arrays and tables not yet checked)."""

    source: Path
    header: dict[str, Any]
    arrays: dict[str, np.ndarray]
    tables: dict[str, pl.DataFrame]
    intact: bool | None = None  # the archive's checksum matches (None: none recorded)

    def error(self, message: str) -> CheckpointError:
        """A :class:`CheckpointError` naming the file."""
        return CheckpointError(f"checkpoint {self.source}: {message}")

    def verify(self) -> None:
        """Refuse an archive whose recorded checksum does not match its bytes.

        Called once the contents are checked, so that a specific complaint (a table that
        names unknown items, say) wins over the generic one.
        """
        if self.intact is False:
            raise self.error("is corrupt (the archive fails its SHA-256 checksum)")


@dataclass(frozen=True)
class State:
    """The engine's position, from a checkpoint header, checked for plausibility.

    Either no event was seen (every time ``None``) or: all times are event times of years 1
    to 9999, the watermark is at least the last event minus the lateness, and the frontier
    ``closed`` (in buckets) is where the watermark and the last event put it — at least ``watermark // every`` and at most one past the larger of the
    watermark's bucket and the last event's (what :meth:`flush` closes). A crafted
    watermark far in the future is refused here rather than closing billions of buckets.
    """

    max_us: int | None
    watermark_us: int | None
    closed: int | None
    base: int | None
    next_due: int
    items: int
    stats: dict[str, int]

    @staticmethod
    def of(header: dict[str, Any], every_us: int, lateness_us: int, fail: Checkpoint) -> State:
        """The checked state of a header (``fail`` names the file in errors)."""
        state = header.get("state")
        if not isinstance(state, dict):
            raise fail.error("header has no 'state' object")
        times = {name: state.get(name) for name in ("max_us", "watermark_us", "closed", "base")}
        for name, value in times.items():
            if value is not None and not _is_int(value):
                raise fail.error(f"state {name!r} is {value!r}, not an integer or null")
        stats = state.get("stats")
        counters = {"next_due": state.get("next_due"), "items": state.get("items")}
        if isinstance(stats, dict):
            counters.update({name: stats.get(name) for name in STATS})
        bad = [k for k, v in counters.items() if not (isinstance(v, int) and 0 <= v <= MAX_US)]
        bad += [k for k, v in counters.items() if isinstance(v, bool)]
        if not isinstance(stats, dict) or bad:
            raise fail.error(f"state counters {bad or ['stats']} are not non-negative integers")
        _check_times(times, every_us, lateness_us, fail)
        return State(
            max_us=times["max_us"],
            watermark_us=times["watermark_us"],
            closed=times["closed"],
            base=times["base"],
            next_due=int(state["next_due"]),
            items=int(state["items"]),
            stats={name: int(stats[name]) for name in STATS},
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_times(
    times: dict[str, int | None], every_us: int, lateness_us: int, fail: Checkpoint
) -> None:
    top, mark, closed = times["max_us"], times["watermark_us"], times["closed"]
    if top is None:
        if mark is not None or closed is not None:
            raise fail.error("state has a watermark or closed buckets but no event time")
        return
    if mark is None or closed is None:
        raise fail.error("state has an event time but no watermark or frontier")
    for name, value in times.items():
        us = value * every_us if name in ("closed", "base") and value is not None else value
        if us is not None and not MIN_US <= us <= MAX_US:
            raise fail.error(f"state {name!r} = {value} is outside the years 1 to 9999")
    if mark < top - lateness_us:
        raise fail.error(
            f"state 'watermark_us' = {mark} is below the last event ({top} µs) minus the lateness"
        )
    low, high = mark // every_us, max(mark // every_us, top // every_us + 1)
    if not low <= closed <= high:
        raise fail.error(
            f"state 'closed' = {closed} does not match the watermark ({mark} µs) and the "
            f"last event ({top} µs): expected a bucket in {low}..{high}"
        )


def check_array(
    checkpoint: Checkpoint, name: str, shape: tuple[int | None, ...], dtype: Any = np.int64
) -> np.ndarray:
    """The array ``name`` if it has ``shape`` (``None``: any length) and ``dtype``."""
    array = checkpoint.arrays[name]
    fits = array.ndim == len(shape) and all(
        want is None or have == want for have, want in zip(array.shape, shape, strict=False)
    )
    if not fits or array.dtype != dtype:
        raise checkpoint.error(
            f"array {name!r} has shape {array.shape} and dtype {array.dtype}, expected "
            f"{shape} {np.dtype(dtype)}"
        )
    return array


def write_checkpoint(
    target: Path,
    header: dict[str, Any],
    arrays: dict[str, np.ndarray],
    tables: dict[str, pl.DataFrame],
) -> Path:
    """Write a checkpoint to a temporary file in the same folder, fsync, rename over ``target``
    (a crash leaves the old checkpoint or the new one)."""
    header = {**header, "checksum": CHECKSUM}
    with AtomicFile(target) as out, out.open("w+b") as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            # The archive's comment, its last bytes, becomes the SHA-256 of the rest.
            archive.comment = b"0" * _DIGEST_SIZE
            archive.writestr("header.json", json.dumps(header, indent=2, sort_keys=True))
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
                archive.writestr(f"{name}.npy", buffer.getvalue())
            for name, frame in tables.items():
                buffer = io.BytesIO()
                frame.write_ipc(buffer)
                archive.writestr(f"{name}.arrow", buffer.getvalue())
        _seal(handle)
    return target


def read_checkpoint(source: Path) -> Checkpoint:
    """Header, arrays and tables of a checkpoint file, or a :class:`CheckpointError`.

    Any failure of decoding — zip structure, deflate stream, CRC, JSON, ``.npy`` header,
    Arrow IPC — is a :class:`CheckpointError`; so is a missing member.
    """
    try:
        data = source.read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise CheckpointError(
                    f"checkpoint {source} is corrupt (member {bad} fails its CRC)"
                )
            header = _header(archive, source)
            arrays = {
                name.removesuffix(".npy"): _npy(archive.read(name), name)
                for name in archive.namelist()
                if name.endswith(".npy")
            }
            tables = {
                name.removesuffix(".arrow"): pl.read_ipc(io.BytesIO(archive.read(name)))
                for name in archive.namelist()
                if name.endswith(".arrow")
            }
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {source}") from None
    except (Exception, pl.exceptions.PanicException) as exc:  # every decoder's own errors
        raise CheckpointError(
            f"checkpoint {source} is truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from exc
    missing = [n for n in ARRAYS if n not in arrays] + [n for n in TABLES if n not in tables]
    if missing:
        raise CheckpointError(f"checkpoint {source} lacks member(s) {', '.join(missing)}")
    intact = None
    if header.get("checksum") == CHECKSUM:
        body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
        intact = hashlib.sha256(body).hexdigest().encode() == digest
    return Checkpoint(source, header, arrays, tables, intact)


def _seal(handle: Any) -> None:
    """Write the SHA-256 of a just-written archive over its placeholder comment."""
    size = handle.tell()
    handle.seek(0)
    digest = hashlib.sha256()
    left = size - _DIGEST_SIZE
    while left:
        chunk = handle.read(min(left, 1 << 20))
        digest.update(chunk)
        left -= len(chunk)
    handle.seek(size - _DIGEST_SIZE)
    handle.write(digest.hexdigest().encode())


def _header(archive: zipfile.ZipFile, source: Path) -> dict[str, Any]:
    header = json.loads(archive.read("header.json"))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{source} is not a stockseries live checkpoint")
    if header.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {source} has format version {header.get('version')!r}; this "
            f"stockseries reads version {VERSION}"
        )
    if not isinstance(header.get("params"), dict):
        raise CheckpointError(f"checkpoint {source}: header has no 'params' object")
    return header


def _npy(data: bytes, name: str) -> np.ndarray:
    """An array of ``.npy`` bytes, its declared size checked against the bytes first."""
    buffer = io.BytesIO(data)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(buffer)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buffer)
    if dtype.hasobject or fortran:
        raise ValueError(f"{name} holds {dtype} in {'Fortran' if fortran else 'C'} order")
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size != len(data) - buffer.tell():
        raise ValueError(f"{name} declares {size} bytes of data, has {len(data) - buffer.tell()}")
    return np.frombuffer(data, dtype=dtype, offset=buffer.tell()).reshape(shape).copy()


def check_first(first: np.ndarray, state: State, every_us: int, fail: Checkpoint) -> None:
    """Each item's first bucket lies between the years 1 and 9999 and not after the last event
    (closing starts from the earliest of them)."""
    if not len(first):
        return
    top = MAX_US if state.max_us is None else state.max_us
    if int(first.min()) < MIN_US // every_us or int(first.max()) > top // every_us:
        raise fail.error("array 'first' names buckets outside the events' time span")


RULE_KEYS = ("merge_gap", "min_buckets", "cooldown")
#: The processor settings a checkpoint's ``params`` hold besides the detection's.
PROCESSOR_KEYS = (
    "every",
    "lateness",
    "idle_timeout",
    "corrections",
    "merge_gap",
    "min_buckets",
    "cooldown",
)


def constructor_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor keyword arguments that rebuild a processor with these canonical params:
    the processor's own settings and ``detection``, the record of the rest."""
    kwargs = {key: params[key] for key in PROCESSOR_KEYS}
    kwargs["detection"] = spike_params(
        **{key: value for key, value in params.items() if key not in PROCESSOR_KEYS}
    )
    return kwargs


def check_expected(
    factory: Callable[..., Any], restored: Any, expect: dict[str, Any], fail: Checkpoint
) -> None:
    """Refuse a checkpoint whose settings differ from ``expect`` (after normalisation).

    Settings not in ``expect`` are taken from the checkpoint; ``factory`` builds the
    processor of those settings, whose ``params`` (and ``starting_stock``,
    ``supplier_table``, when expected) must equal the ``restored`` one's.
    """
    have = restored.params
    # Stored settings as keywords (None is every such keyword's default), minus what
    # ``expect`` gives as a record.
    stored = {key: value for key, value in have.items() if value is not None}
    if "detection" in expect:
        stored = {key: value for key, value in stored.items() if key in PROCESSOR_KEYS}
    if "rules" in expect:
        stored = {key: value for key, value in stored.items() if key not in RULE_KEYS}
    if expect.get("method", have["method"]) != have["method"]:
        # Another method: the stored method's own options do not apply to it.
        own = {option.name for option in method_spec(have["method"]).options}
        stored = {key: value for key, value in stored.items() if key not in own}
    try:
        wanted = factory(**{**stored, "initial": None, "suppliers": None, **expect})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"expect= is not a valid set of settings: {exc}") from exc
    want = wanted.params
    differ = [
        f"{key}: checkpoint {have.get(key)!r} ≠ expected {want.get(key)!r}"
        for key in sorted(set(have) | set(want))
        if have.get(key) != want.get(key)
    ]
    if "initial" in expect and not _same_initial(restored.starting_stock, wanted.starting_stock):
        differ.append("initial: the checkpoint's starting stock differs")
    if "suppliers" in expect and not _same_table(restored.supplier_table, wanted.supplier_table):
        differ.append("suppliers: the checkpoint's supplier table differs")
    if differ:
        raise CheckpointError(
            f"checkpoint {fail.source} was made with other settings: " + "; ".join(differ)
        )


def _same_initial(a: int | pl.DataFrame, b: int | pl.DataFrame) -> bool:
    if isinstance(a, pl.DataFrame) and isinstance(b, pl.DataFrame):
        return _same_table(a, b)
    return a == b if not isinstance(a, pl.DataFrame) and not isinstance(b, pl.DataFrame) else False


def _same_table(a: pl.DataFrame | None, b: pl.DataFrame | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.sort("item_id").equals(b.sort("item_id"))
