"""Type aliases and unit constants shared by the generator modules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

TimeLike: TypeAlias = str | dt.datetime | dt.date | np.datetime64
DurationLike: TypeAlias = str | dt.timedelta | np.timedelta64
Weights: TypeAlias = bool | str | Mapping[str, float] | Sequence[float] | npt.ArrayLike | None
Rates: TypeAlias = float | Mapping[str, float] | None

IntArray: TypeAlias = npt.NDArray[np.int64]
#: Any signed integer width: per-event codes are stored in the narrowest dtype that holds them.
CodeArray: TypeAlias = npt.NDArray[np.signedinteger[Any]]
FloatArray: TypeAlias = npt.NDArray[np.float64]

US_PER_SECOND: Final = 1_000_000
US_PER_MINUTE: Final = 60 * US_PER_SECOND
US_PER_HOUR: Final = 60 * US_PER_MINUTE
US_PER_DAY: Final = 24 * US_PER_HOUR
EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: Random spikes start this long after the beginning of the span, so detectors have history.
SPIKE_WARMUP: Final = dt.timedelta(hours=6)
#: Minimum quiet time between two random spikes of the same item.
SPIKE_GAP: Final = dt.timedelta(hours=2)

#: Spread (sigma of the log) of the per-item order rates around the base rate.
RATE_SIGMA: Final = 0.25
#: Orders name one of this many customers, drawn uniformly.
N_CUSTOMERS: Final = 1_000
