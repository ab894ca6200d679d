"""Settings as one file: what tune and the tuner panel write reads back; overrides win."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockseries.alerts import EpisodeRules, Settings, read_settings, settings_from
from stockseries.spikes import spike_params


def test_tuner_panel_export_reads_back(tmp_path: Path) -> None:
    # What SpikeTuner.export_json() writes.
    exported = {
        "every": "5m", "method": "quantile", "window": 30, "k": None, "min_demand": 2,
        "smooth": 3, "merge_gap": 1, "cooldown": 4, "items": ["A000"],
    }  # fmt: skip
    path = tmp_path / "tuner.json"
    path.write_text(json.dumps(exported))
    settings = read_settings(path)
    assert settings.every == "5m"
    assert settings.detection == spike_params("quantile", window=30, min_demand=2, smooth=3)
    assert settings.rules == EpisodeRules(merge_gap=1, cooldown=4)


def test_tune_params_out_reads_back(tmp_path: Path) -> None:
    best = spike_params("profile", period="1d", direction="both").to_dict()
    path = tmp_path / "best.json"
    path.write_text(json.dumps({**best, "merge_gap": 2, "min_buckets": 1, "cooldown": 0}))
    settings = read_settings(path)
    assert settings.detection.to_dict() == best
    assert settings_from(settings.to_dict()) == settings
    assert json.loads(settings.to_json()) == settings.to_dict()


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"method": "ewma", "span": 20.0, "k": 4, "merge_gap": 3}))
    same = read_settings(path, k=None, merge_gap=None)
    assert same.detection.k == 4.0 and same.rules.merge_gap == 3
    changed = read_settings(path, k=5.0, merge_gap=0, method="mad")
    assert changed.detection == spike_params("mad", k=5.0)
    assert changed.rules.merge_gap == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "must hold a JSON object"),
        ("{nope", "is not JSON"),
        ('{"method": "zscore", "colour": "red"}', "colour"),
        ('{"merge_gap": -1}', "merge_gap must be"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_settings(path)
    with pytest.raises(ValueError, match="does not exist"):
        read_settings(tmp_path / "missing.json")


def test_settings_record() -> None:
    settings = Settings(spike_params(), EpisodeRules())
    assert settings.to_dict() == {**spike_params().to_dict(), **EpisodeRules().to_dict()}
