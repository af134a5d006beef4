"""``python -m pykernel_rs ARGS`` runs the bundled ``pyk ARGS``."""

from __future__ import annotations

import os
import subprocess
import sys

from pykernel_rs._binary import find_pyk


def main() -> None:
    """Replaces this process with ``pyk`` (on Windows, runs it and exits with its code)."""
    try:
        pyk = find_pyk()
    except FileNotFoundError as error:
        print("pykernel-rs: %s" % error, file=sys.stderr)
        sys.exit(127)
    arguments = [pyk, *sys.argv[1:]]
    if os.name == "nt":
        sys.exit(subprocess.call(arguments))
    # exec keeps the pid, so signals and the exit status reach the caller unchanged.
    os.execv(pyk, arguments)


if __name__ == "__main__":
    main()
