"""kraken-batch: optimize large sets of images through the Kraken.io API straight into S3.

This file deliberately imports nothing: ``batch.server`` lives in this package too, and importing
it (in the server, and in every optimizer worker process it spawns) runs this file first. Keeping
it empty keeps the server independent of the client modules, as DESIGN.md requires. Import the
library surface from its modules: ``batch.manifest.load_manifest``, ``batch.runner.run_batch`` and
``RunConfig``, ``batch.errors``, ``batch.models``.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
