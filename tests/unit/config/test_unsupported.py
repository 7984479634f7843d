"""``-t`` notes features pykeepalived parses but does not implement (issue 2, task 3).

keepalived's own messages and exit codes are unchanged: the note is an info line.
"""

from __future__ import annotations

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.config.errors import Diagnostic
from pykeepalived.config.loader import LoadResult

IFACES = frozenset({"lo", "eth0"})

INSTANCE = """vrrp_instance V {{
  interface eth0
  virtual_router_id 1
  priority 100
{body}
  virtual_ipaddress {{
    10.0.0.1
  }}
}}
"""


def _load(text: str) -> LoadResult:
    return load_config_text(text, name="k.conf", config_id="n", interfaces=IFACES)


def _notes(result: LoadResult) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.info and d.message.startswith("pykeepalived:")]


def _without_notes(text: str) -> list[str]:
    return [str(d) for d in _load(text).diagnostics if not d.message.startswith("pykeepalived:")]


@pytest.mark.parametrize(
    ("text", "line", "col", "what", "verb"),
    [
        ("global_defs {\n  enable_dbus\n}\n", 2, 3, "enable_dbus", "ignored"),
        ("global_defs {\n  dbus_service_name x.y\n}\n", 2, 3, "dbus_service_name", "ignored"),
        (
            INSTANCE.format(body="  authentication {\n    auth_type AH\n    auth_pass x\n  }"),
            6, 15, "auth_type AH", "rejected",
        ),
    ],
)
def test_note_where_the_feature_is_used(text: str, line: int, col: int, what: str, verb: str) -> None:
    result = _load(text)
    notes = [d for d in _notes(result) if what in d.message]
    assert len(notes) == 1, [str(d) for d in result.diagnostics]
    note = notes[0]
    assert note.message == f"pykeepalived: {what} is not supported yet and will be {verb}"
    assert note.loc is not None and (note.loc.file, note.loc.line, note.loc.col) == ("k.conf", line, col)
    assert note.severity == "note"
    assert str(note) == f"k.conf:{line}:{col}: note: {note.message}"


def test_notes_do_not_change_messages_or_exit_codes() -> None:
    plain = "global_defs {\n  router_id r\n}\n" + INSTANCE.format(body="")
    with_features = (
        "global_defs {\n  router_id r\n  enable_snmp_vrrp\n  enable_dbus\n  enable_traps\n}\n"
        + INSTANCE.format(body="  authentication {\n    auth_type AH\n    auth_pass x\n  }")
    )
    a, b = _load(plain), _load(with_features)
    assert a.diagnostics.config_test_exit_code() == b.diagnostics.config_test_exit_code() == 0
    assert [d for d in b.diagnostics if not d.info] == []
    assert len(_notes(b)) == 2  # SNMP's keywords are no longer noted (tests/unit/snmp/test_config.py)


def test_bfd_instance_has_no_note() -> None:
    """bfd_instance is run by the BFD process (pykeepalived.bfd)."""
    result = _load("bfd_instance b1 {\n  neighbor_ip 10.0.0.2\n}\n")
    assert _notes(result) == [] and [d for d in result.diagnostics if not d.info] == []


@pytest.mark.parametrize("text", [
    "bfd_instance b1 {\n}\n" + INSTANCE.format(body="  track_bfd {\n    b1\n  }"),
    "bfd_instance b1 {\n}\nvrrp_sync_group G {\n  group {\n    VI_1\n  }\n  track_bfd {\n    b1\n  }\n}\n"
    + INSTANCE.format(body=""),
    "bfd_instance b1 {\n}\nvirtual_server 10.0.0.1 80 {\n  protocol TCP\n  real_server 10.0.0.2 80 {\n"
    "    BFD_CHECK {\n      name b1\n    }\n  }\n}\n",
])
def test_track_bfd_and_bfd_check_have_no_note(text: str) -> None:
    """track_bfd is fed by the BFD process's events in the VRRP process, BFD_CHECK in the checker process."""
    result = _load(text)
    assert _notes(result) == [], [str(d) for d in result.diagnostics]


@pytest.mark.parametrize("body", ["  use_vmac", "  use_vmac vrrp.1 00:00:5e:00:01:01\n  vmac_xmit_base", "  no_accept",
                                  "  strict_mode on", "  use_ipvlan ipv.1 10.0.0.9/24 private"])
def test_vmac_and_no_accept_have_no_note(body: str) -> None:
    """use_vmac, vmac_xmit_base, use_ipvlan and no_accept/strict are run by the VRRP process (issue 17)."""
    assert _notes(_load(INSTANCE.format(body=body))) == []


def test_strict_and_nftables_globals_have_no_note() -> None:
    text = ("global_defs {\n  vrrp_strict\n  nftables ka\n  nftables_priority -5\n  nftables_counters\n"
            "  nftables_ifindex\n}\n")
    assert _notes(_load(text)) == []


def test_pass_authentication_has_no_note() -> None:
    result = _load(INSTANCE.format(body="  authentication {\n    auth_type PASS\n    auth_pass x\n  }"))
    assert _notes(result) == []


def test_every_use_is_noted() -> None:
    ah = "  authentication {\n    auth_type AH\n    auth_pass x\n  }"
    second = INSTANCE.format(body=ah).replace("V {", "W {")
    text = INSTANCE.format(body=ah) + second.replace("virtual_router_id 1", "virtual_router_id 2")
    assert [d.loc.line for d in _notes(_load(text)) if d.loc] == [6, 18]
