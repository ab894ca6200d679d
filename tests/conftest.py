"""Shared fixtures and the e2e policy.

Real-browser tests (marker ``e2e``) need Debian's chromium at /usr/bin/chromium. Locally they
are skipped when it is missing; in CI (``CI`` set) a missing browser is a failure, so the
browser check can never silently drop out of the pipeline.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "_artifacts"


@pytest.fixture(autouse=True)
def _require_browser_for_e2e(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("e2e") is None or CHROMIUM.exists():
        return
    message = f"e2e test needs Debian chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots and other test artifacts (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
