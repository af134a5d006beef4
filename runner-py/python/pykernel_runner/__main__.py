"""Starts the runner: ``python -u path/to/pykernel_runner``, or ``python -m pykernel_runner``.

Run as a directory, this file is not part of the package (``__package__`` is empty) and
Python has put the package's own directory first on ``sys.path``; it is replaced by the
directory that holds the package, so the package is imported (with its bytecode cached)
as the host's bootstrap imports it. ``main()`` then takes that directory off ``sys.path``.
"""

import sys

if not __package__:
    import os

    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import pykernel_runner

pykernel_runner.main()
