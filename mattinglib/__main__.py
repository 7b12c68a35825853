"""``python -m mattinglib <command> ...``: runs :func:`mattinglib.cli.main`.

The commands, their parsers and their error handling live in :mod:`mattinglib.cli`.
"""

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
