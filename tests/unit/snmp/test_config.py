"""-t and the SNMP keywords: parsed and validated as keepalived 2.2.7 does, and no longer noted as unsupported."""

from __future__ import annotations

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.config.loader import LoadResult


def _load(text: str) -> LoadResult:
    return load_config_text(text, name="k.conf", config_id="n", interfaces=frozenset({"lo", "eth0"}))


def _notes(result: LoadResult) -> list[str]:
    return [d.message for d in result.diagnostics if "not supported" in d.message or "pykeepalived" in d.message]


@pytest.mark.parametrize("keyword", ["enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_checker",
                                     "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_traps",
                                     "snmp_socket udp:1.2.3.4:705"])
def test_snmp_keywords_have_no_note(keyword: str) -> None:
    result = _load(f"global_defs {{\n  {keyword}\n}}\n")
    assert _notes(result) == []
    assert result.diagnostics.config_test_exit_code() == 0


def test_enable_snmp_rfc_sets_both_rfcs_and_the_socket_is_kept() -> None:
    result = _load("global_defs {\n  enable_snmp_rfc\n  enable_traps\n  snmp_socket tcp:127.0.0.1:705\n}\n")
    assert result.config is not None
    g = result.config.global_defs
    assert g.enable_snmp_rfcv2 and g.enable_snmp_rfcv3 and g.enable_traps
    assert g.snmp_socket == "tcp:127.0.0.1:705"


def test_missing_socket_name_is_keepalived_s_error() -> None:
    result = _load("global_defs {\n  snmp_socket\n}\n")
    errors = [d.message for d in result.diagnostics if not d.info]
    assert errors == ["SNMP error : snmp socket name missing"]
    assert result.diagnostics.config_test_exit_code() == 5
