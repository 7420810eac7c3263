"""``python -m batch`` is the same as the ``kraken-batch`` command."""

import sys

from batch.cli import main

# The guard matters: the server's optimizer pool uses the "spawn" start method, whose workers
# re-import the parent's __main__ module.
if __name__ == "__main__":
    sys.exit(main())
