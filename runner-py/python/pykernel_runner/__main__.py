"""Starts the runner: ``python -u path/to/pykernel_runner``, or ``python -m pykernel_runner``.

Run as a directory, this file is not part of the package (``__package__`` is empty) and
Python has put the package's own directory first on ``sys.path``; the directory that
holds the package takes its place, so the package is imported (with its bytecode cached)
as the host's bootstrap imports it. ``main()`` then takes both off ``sys.path``.
"""

import sys

if not __package__:
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == _here:
        sys.path[0] = os.path.dirname(_here)
    else:
        sys.path.insert(0, os.path.dirname(_here))

import pykernel_runner

pykernel_runner.main()
