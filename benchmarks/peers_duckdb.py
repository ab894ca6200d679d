"""DuckDB SQL peer: window functions, ``time_bucket`` and a ``generate_series`` grid.

In-memory inputs are Arrow tables registered as views (zero copy); results are fetched as
Arrow tables, which is part of the timed work (a query result nobody can read is not a result).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from benchmarks.workload import WINDOW, K

NATIVE = "arrow"

CSV_COLUMNS = "{'ts': 'TIMESTAMPTZ', 'item_id': 'VARCHAR', 'kind': 'VARCHAR', 'quantity': 'BIGINT'}"


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Bucket boundaries and timestamps are UTC by contract.
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def _query(sql: str, **tables: pa.Table) -> pa.Table:
    con = connect()
    for name, table in tables.items():
        con.register(name, table)
    return con.sql(sql).to_arrow_table()


def read_parquet(path: Path) -> duckdb.DuckDBPyConnection:
    """Load into a DuckDB table (DuckDB's own columnar storage), the analyst's first step."""
    con = connect()
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{path}')")
    return con


def read_csv(path: Path) -> duckdb.DuckDBPyConnection:
    con = connect()
    con.execute(
        f"CREATE TABLE events AS SELECT * FROM read_csv('{path}', header = true, "
        f"columns = {CSV_COLUMNS})"
    )
    return con


STOCK_LEVELS_SQL = """
SELECT ts, item_id, kind, quantity,
       sum(CASE WHEN kind = 'order' THEN -quantity ELSE quantity END) OVER (
           PARTITION BY item_id ORDER BY ts, rownum ROWS UNBOUNDED PRECEDING
       )::BIGINT AS level
FROM (SELECT *, row_number() OVER () AS rownum FROM {source})
ORDER BY ts, rownum
"""


def stock_levels(events: pa.Table) -> pa.Table:
    return _query(STOCK_LEVELS_SQL.format(source="events"), events=events)


RESAMPLE_SQL = """
WITH totals AS (
    SELECT item_id, time_bucket(INTERVAL 1 MINUTE, ts) AS ts,
           coalesce(sum(quantity) FILTER (WHERE kind = 'order'), 0)::BIGINT AS demand,
           count(*) FILTER (WHERE kind = 'order') AS orders,
           coalesce(sum(quantity) FILTER (WHERE kind <> 'order'), 0)::BIGINT AS supply,
           count(*) FILTER (WHERE kind <> 'order') AS deliveries
    FROM {source}
    GROUP BY ALL
),
grid AS (
    SELECT item_id,
           unnest(generate_series(min(ts), (SELECT max(ts) FROM totals), INTERVAL 1 MINUTE)) AS ts
    FROM totals
    GROUP BY item_id
)
SELECT item_id, ts,
       coalesce(demand, 0) AS demand, coalesce(orders, 0) AS orders,
       coalesce(supply, 0) AS supply, coalesce(deliveries, 0) AS deliveries,
       sum(coalesce(supply, 0) - coalesce(demand, 0)) OVER (
           PARTITION BY item_id ORDER BY ts ROWS UNBOUNDED PRECEDING
       )::BIGINT AS level
FROM grid LEFT JOIN totals USING (item_id, ts)
"""

SPARSE_SQL = """
SELECT item_id, time_bucket(INTERVAL 1 MINUTE, ts) AS ts,
       coalesce(sum(quantity) FILTER (WHERE kind = 'order'), 0)::BIGINT AS demand,
       count(*) FILTER (WHERE kind = 'order') AS orders,
       coalesce(sum(quantity) FILTER (WHERE kind <> 'order'), 0)::BIGINT AS supply,
       count(*) FILTER (WHERE kind <> 'order') AS deliveries
FROM events
GROUP BY ALL
"""


def resample(events: pa.Table) -> pa.Table:
    return _query(
        f"SELECT * FROM ({RESAMPLE_SQL.format(source='events')}) ORDER BY item_id, ts",
        events=events,
    )


ZSCORE_SQL = """
WITH windowed AS (
    SELECT *,
           count(*) OVER w AS history,
           CASE WHEN count(*) OVER w >= {window} THEN avg(demand) OVER w END AS baseline,
           CASE WHEN count(*) OVER w >= {window} THEN stddev_samp(demand) OVER w END AS spread
    FROM {source}
    WINDOW w AS (PARTITION BY item_id ORDER BY ts ROWS BETWEEN {window} PRECEDING AND 1 PRECEDING)
)
SELECT item_id, ts, demand, orders, supply, deliveries, level,
       baseline, spread, baseline + {k} * spread AS threshold,
       CASE WHEN spread > 0 THEN (demand - baseline) / spread
            WHEN demand > baseline THEN 'inf'::DOUBLE
            WHEN baseline IS NOT NULL THEN 0.0 END AS score,
       history, history >= {window} AS sufficient,
       coalesce(demand > baseline + {k} * spread, false) AS flagged
FROM windowed
"""


def zscore(series: pa.Table, window: int = WINDOW, k: float = K) -> pa.Table:
    sql = ZSCORE_SQL.format(source="series", window=window, k=k)
    return _query(f"SELECT * FROM ({sql}) ORDER BY item_id, ts", series=series)


EPISODES_SQL = """
WITH marked AS (
    SELECT item_id, ts, demand, threshold, flagged,
           flagged AND NOT coalesce(lag(flagged) OVER (PARTITION BY item_id ORDER BY ts), false)
               AS starts
    FROM {source}
),
numbered AS (
    SELECT *, sum(starts::INTEGER) OVER (PARTITION BY item_id ORDER BY ts
                                         ROWS UNBOUNDED PRECEDING) AS episode
    FROM marked
)
SELECT item_id, min(ts) AS start, max(ts) + INTERVAL 1 MINUTE AS "end",
       count(*) AS buckets, max(demand) AS peak_demand, min(threshold) AS threshold
FROM numbered
WHERE flagged
GROUP BY item_id, episode
"""


def pipeline(path: Path) -> pa.Table:
    resampled = RESAMPLE_SQL.format(source=f"read_parquet('{path}')")
    detected = ZSCORE_SQL.format(source="series", window=WINDOW, k=K)
    episodes = EPISODES_SQL.format(source="detected")
    sql = (
        f"WITH series AS ({resampled}), detected AS ({detected}) "
        f"SELECT * FROM ({episodes}) ORDER BY item_id, start"
    )
    return connect().sql(sql).to_arrow_table()
