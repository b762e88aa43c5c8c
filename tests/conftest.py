"""Shared test configuration: hypothesis profiles and paths to published vectors."""

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
SHARED_VECTORS = REPO.parent / "shared" / "vectors" / "known-answers.json"


@pytest.fixture(scope="session")
def known_answers() -> dict[str, Any]:
    """The published known-answer values in ../shared/vectors/known-answers.json."""
    with SHARED_VECTORS.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data
