"""``detect_spikes``' reference docs are made from the method table, the one place a method is
described: every method, its default window, its options and its notes show there."""

from __future__ import annotations

import pytest

from stockseries.spikes import METHOD_TABLE, detect_spikes


@pytest.mark.parametrize("name", sorted(METHOD_TABLE))
def test_every_method_is_documented_from_its_record(name: str) -> None:
    doc = " ".join((detect_spikes.__doc__ or "").split())
    spec = METHOD_TABLE[name]
    entry = doc.split(f'``"{name}"``', 1)[1].split('``"', 1)[0]
    assert spec.notes and " ".join(spec.notes.split()) in entry
    window = "none" if spec.window is None else f"{spec.window} {spec.window_unit}"
    assert f"Window: {window}" in entry
    for option in spec.options:
        assert f"``{option.name}={option.default!r}``" in entry
    assert "{methods}" not in doc
