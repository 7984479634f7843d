"""Shared fixtures: the ../shared corpus, and the rules for root/namespace tests.

Tests that need ../shared skip cleanly in a user's clone, but never in CI (CI=true): there
a missing corpus is a failure.  Tests that need root or network namespaces likewise skip only
when CI is unset and the machine cannot run them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
IN_CI = bool(os.environ.get("CI"))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared; skips (outside CI) when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        if IN_CI:
            pytest.fail(f"{p} is missing in CI")
        pytest.skip(f"{p} not present (../shared exists only in the developers' workspace)")
    return p


@pytest.fixture
def corpus() -> Path:
    return shared_path("corpus")


@pytest.fixture
def samples_dir() -> Path:
    return shared_path("corpus", "keepalived-samples")


@pytest.fixture
def captures_dir() -> Path:
    return shared_path("corpus", "keepalived-2.2.7-captures")


def require_root() -> None:
    """Skip (outside CI) unless we are root and can create network namespaces."""
    ok = os.geteuid() == 0 and shutil.which("ip") is not None
    if not ok:
        if IN_CI:
            pytest.fail("this test needs root and iproute2, which CI must provide")
        pytest.skip("needs root and network namespaces")


def require_binary(name: str) -> str:
    """Path of an external program; skip (outside CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; .ci/run must install it")
        pytest.skip(f"{name} not installed")
    return path
