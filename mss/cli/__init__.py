"""The ``mss`` command line. Errors are one clear line on stderr and a non-zero exit.

One module per family of commands; importing them registers their commands on ``main``.
"""

from mss.cli import accounts, dmp, queue, serving, trust
from mss.cli.base import main

__all__ = ["accounts", "dmp", "main", "queue", "serving", "trust"]
