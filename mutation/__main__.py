"""``python -m mutation``: see :mod:`mutation.cli`."""

import sys

from mutation.cli import main

sys.exit(main())
