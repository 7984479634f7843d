"""``--dataplane proxy``: virtual services forwarded by userspace worker processes, no root needed.

* :mod:`.plane`    the data-plane object of the checker process (the contract; starts/adopts workers)
* :mod:`.control`  the control channel between it and the workers (JSON lines over UNIX sockets)
* :mod:`.worker`   one worker process: an engine plus its end of the control channel
* :mod:`.engine`   the worker's forwarding engine: epoll loop, listeners, TCP splice and UDP relays
* :mod:`.dispatch` per-service choice of real server through :mod:`pykeepalived.lvs.schedulers`
"""

from .plane import ProxyDataPlane

__all__ = ["ProxyDataPlane"]
