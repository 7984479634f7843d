"""``python -m pykeepalived.lvs.dataplane.proxy --dir DIR --index I --workers N``: one proxy worker."""

import sys

from .worker import main

sys.exit(main())
