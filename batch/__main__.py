"""``python -m batch`` is the same as the ``kraken-batch`` command."""

import sys

from batch.cli import main

sys.exit(main())
