"""pykeepalived: a keepalived-compatible high-availability load balancer."""

__version__ = "0.1.0"
