"""Lab test client: ``python httpclient.py URL COUNT`` -> JSON {body: count, "errors": n}.

Each request opens a new TCP connection (as a browser without keep-alive would), so the load
balancer schedules every request.  Bounded by COUNT and a per-request timeout.
"""

from __future__ import annotations

import collections
import http.client
import json
import sys
import urllib.parse


def main() -> None:
    url = urllib.parse.urlsplit(sys.argv[1])
    count = int(sys.argv[2])
    seen: collections.Counter[str] = collections.Counter()
    for _ in range(count):
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=2)
        try:
            conn.request("GET", url.path or "/", headers={"Connection": "close"})
            seen[conn.getresponse().read().decode().strip()] += 1
        except OSError:
            seen["errors"] += 1
        finally:
            conn.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
