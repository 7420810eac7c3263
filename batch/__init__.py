"""kraken-batch: optimize large sets of images through the Kraken.io API straight into S3."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
