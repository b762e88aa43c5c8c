"""Shared test configuration: hypothesis profiles and the published known answers.

The known answers live in the repository (tests/data/, each value with its source named
beside it; tests/data/README.md), so the suite needs nothing outside the checkout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parent.parent
KNOWN_ANSWERS = REPO / "tests" / "data" / "known-answers.json"


@pytest.fixture(scope="session")
def known_answers() -> dict[str, Any]:
    """The published known-answer values in tests/data/known-answers.json."""
    with KNOWN_ANSWERS.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data
