"""BFD (RFC 5880 asynchronous mode, RFC 5881 single hop), as keepalived's BFD child process.

``packet`` (codec) and ``session`` (the sessions' state machines and timers) are pure; ``io`` holds the
sockets, ``process`` the child process that runs the configured ``bfd_instance``\\ s, and ``watch`` the event
stream through which the VRRP and checker processes learn that a session went up or down.
"""
