"""``pykeepalived plan -f FILE``: what the daemon would change in the data plane, without changing it.

The desired table is the configuration's virtual servers in their start-up health (keepalived's
rule: real servers without ``alpha`` are in before their first check, alpha ones are not, the
sorry server only while quorum is down); the observed table is what the chosen data plane holds
now.  The difference is printed one operation per line, in the order the daemon would apply it.
With ``--apply`` it is applied (what a starting daemon does before its first check).
"""

from __future__ import annotations

import argparse
import json
import sys

from pykeepalived.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--use-file", dest="config_file", default="/etc/keepalived/keepalived.conf",
                        metavar="FILE", help="configuration file (default /etc/keepalived/keepalived.conf)")
    parser.add_argument("-i", "--config-id", dest="config_id", default=None, metavar="ID",
                        help="config id for @ID conditional lines")
    parser.add_argument("--dataplane", default="auto", choices=["auto", "ipvs", "nftables"],
                        help="which data plane to compare with (default auto: ipvs if available, else nftables)")
    parser.add_argument("--desired", action="store_true",
                        help="print the desired table (as JSON) instead of the difference; needs no data plane")
    parser.add_argument("--apply", action="store_true", help="apply the operations after printing them")


def run(args: argparse.Namespace) -> int:
    from pykeepalived.check.state import desired_table
    from pykeepalived.lvs.dataplane.select import DataPlaneUnavailable, choose_dataplane
    from pykeepalived.lvs.reconcile import diff
    from pykeepalived.status.snapshot import snapshot_to_dict

    result = load_config(args.config_file, config_id=args.config_id)
    for d in result.diagnostics:
        if not d.info:
            print(d, file=sys.stderr)
    if result.config is None or result.diagnostics.missing_parameter:
        print("pykeepalived plan: the configuration cannot be used", file=sys.stderr)
        return 2
    lvs = result.config.lvs
    table = desired_table(lvs.virtual_servers, {}, lvs.virtual_server_groups)
    if args.desired:
        from pykeepalived.status.snapshot import DaemonInfo, Snapshot, VirtualServiceStatus

        snap = Snapshot(DaemonInfo(0, args.config_file, "none", 0.0), 0.0,
                        virtual_services=tuple(VirtualServiceStatus.build(s) for s in table.services))
        print(json.dumps(snapshot_to_dict(snap)["virtual_services"], indent=2))
        return 0
    try:
        dp, _reason = choose_dataplane(args.dataplane)
    except DataPlaneUnavailable as e:
        print(f"pykeepalived plan: {e}", file=sys.stderr)
        return 1
    dp.claim(svc.key for svc in table.services)  # as the daemon: other programs' IPVS services are not ours
    try:
        observed = dp.observe()
    except (OSError, RuntimeError) as e:  # e.g. EPERM (IpvsError, PermissionError): no table, no plan
        print(f"pykeepalived plan: cannot read the {dp.name} table: {e} "
              "(reading the kernel's table needs root, or CAP_NET_ADMIN)", file=sys.stderr)
        return 1
    ops = diff(dp.canonical(table), observed)
    for op in ops:
        print(op)
    if not ops:
        print("# nothing to change", file=sys.stderr)
    if args.apply and ops:
        dp.open()
        dp.apply(ops)
    return 0
