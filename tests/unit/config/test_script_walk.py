"""The direct script walks used by ``check_scripts`` find exactly what a generic model walk finds."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from pykeepalived.config import load_config, load_config_text
from pykeepalived.config.model import Config, Script
from pykeepalived.config.validate.scripts import iter_lvs_scripts, iter_vrrp_scripts
from tests.conftest import data_path, sample_names
from tests.unit.config.test_config_fuzz import BUILTIN_SEEDS
from tests.unit.config.test_samples import LAB_INTERFACES


def _generic(obj: Any) -> Iterator[Script]:
    """Every Script inside a model object, in field order (what check_scripts used to walk)."""
    if isinstance(obj, Script):
        yield obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _generic(getattr(obj, f.name))
    elif isinstance(obj, tuple | list):
        for v in obj:
            yield from _generic(v)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _generic(v)


def _same(config: Config) -> None:
    assert list(iter_vrrp_scripts(config.vrrp)) == list(_generic(config.vrrp))
    assert list(iter_lvs_scripts(config.lvs)) == list(_generic(config.lvs))


@pytest.mark.parametrize("sample", sample_names())
def test_samples(sample: str) -> None:
    path = data_path("keepalived-samples", sample)
    result = load_config(path, interfaces=LAB_INTERFACES, config_id="nohost")
    assert result.config is not None
    _same(result.config)


def test_every_script_kind() -> None:
    notify = "".join(
        f"  {kw} /bin/{kw}\n"
        for kw in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted",
                   "notify_master_rx_lower_pri", "notify")
    )
    text = (
        "vrrp_script s {\n  script /bin/s\n}\n"
        "vrrp_instance V {\n  interface eth0\n  virtual_router_id 1\n  track_script {\n    s\n  }\n"
        + notify + "  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n"
        "vrrp_sync_group G {\n  group {\n    V\n  }\n" + notify.replace("/bin/", "/sbin/") + "}\n"
        + "".join(BUILTIN_SEEDS)
    )
    result = load_config_text(text, config_id="n", interfaces=frozenset({"eth0"}))
    assert result.config is not None
    assert len(list(iter_vrrp_scripts(result.config.vrrp))) >= 12
    _same(result.config)
