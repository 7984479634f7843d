"""Fixtures of the fault suite: a two-node LAN (``a``, ``b``, ``client``) in fresh namespaces and a
private directory for each test's daemons."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab.netns import unique_prefix
from pykeepalived.lab.topology import Lab, two_node_lan
from tests.conftest import require_root


@pytest.fixture
def lan() -> Iterator[tuple[Lab, Path]]:
    require_root()
    with two_node_lan(unique_prefix("pkft")) as lab, tempfile.TemporaryDirectory(prefix="pkfault-") as tmp:
        yield lab, Path(tmp)
