"""``python -m pykeepalived``: the ``pykeepalived`` command."""

import sys

from pykeepalived.cli import main

if __name__ == "__main__":
    sys.exit(main())
