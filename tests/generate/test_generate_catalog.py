"""Tests of :func:`stockseries.generate.catalog`."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stockseries.generate import (
    catalog,
)

# --------------------------------------------------------------------------- catalog


def test_catalog_schema_and_ids() -> None:
    cat = catalog(20, seed=1)
    assert cat.schema == pl.Schema(
        {
            "item_id": pl.String,
            "description": pl.String,
            "supplier_id": pl.String,
            "weight": pl.Float64,
            "rate": pl.Float64,
        }
    )
    assert cat["item_id"].to_list() == [f"A{i:03d}" for i in range(20)]
    assert cat["supplier_id"].n_unique() == 4  # default max(1, 20 // 5)
    assert cat["description"].is_unique().all()
    assert cat["weight"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(cat["weight"], cat["rate"] / cat["rate"].sum())
    assert (cat["rate"] > 0).all()


@pytest.mark.parametrize(
    ("n_items", "n_suppliers", "first_id", "last_id", "suppliers"),
    [
        (1, None, "A000", "A000", 1),
        (7, None, "A000", "A006", 1),
        (7, 3, "A000", "A006", 3),
        (1001, None, "A0000", "A1000", 200),
    ],
)
def test_catalog_sizes(
    n_items: int, n_suppliers: int | None, first_id: str, last_id: str, suppliers: int
) -> None:
    cat = catalog(n_items, n_suppliers=n_suppliers)
    assert cat.height == n_items
    assert (cat["item_id"][0], cat["item_id"][-1]) == (first_id, last_id)
    assert cat["item_id"].is_sorted()
    assert cat["supplier_id"].n_unique() == suppliers
    assert cat["description"].is_unique().all()


def test_catalog_is_plausible_and_lognormal_around_one() -> None:
    cat = catalog(2000, seed=5)
    assert "Windscreen wiper" in cat["description"].to_list()
    assert cat["rate"].mean() == pytest.approx(1.0, abs=0.03)
    assert np.log(cat["rate"].to_numpy()).std() == pytest.approx(0.25, abs=0.02)


def test_catalog_determinism() -> None:
    assert_frame_equal(catalog(10, seed=4), catalog(10, seed=4))
    assert not catalog(10, seed=4).equals(catalog(10, seed=5))
