"""Finding the ``pyk`` binary this distribution installed."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig

__all__ = ["find_pyk"]


def find_pyk() -> str:
    """Returns the path of the ``pyk`` binary installed with this package.

    The wheel puts ``pyk`` in the scripts directory of the environment it is installed
    into (a virtualenv's ``bin/``, ``~/.local/bin`` for ``pip install --user``, the
    ``bin/`` beside the packages for ``pip install --target``); ``pyk`` on ``PATH`` is
    the last resort.

    Raises:
        FileNotFoundError: no ``pyk`` binary was found.
    """
    name = "pyk" + (sysconfig.get_config_var("EXE") or "")
    candidates = [os.path.join(sysconfig.get_path("scripts"), name)]
    user_scheme = _user_scheme()
    if user_scheme is not None:
        candidates.append(os.path.join(sysconfig.get_path("scripts", scheme=user_scheme), name))
    # `pip install --target DIR` puts the package in DIR and the binary in DIR/bin.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates.append(os.path.join(package_root, "bin", name))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(name)
    if on_path is not None:
        return on_path
    raise FileNotFoundError(
        "the pyk binary of pykernel-rs was not found (looked in %s and on PATH); "
        "reinstall with `pip install --force-reinstall pykernel-rs`" % ", ".join(candidates)
    )


def _user_scheme() -> str | None:
    """The install scheme of ``pip install --user`` on this platform, if it has one."""
    if sys.version_info >= (3, 10):
        return sysconfig.get_preferred_scheme("user")
    if os.name == "nt":
        return "nt_user"
    if sys.platform == "darwin" and getattr(sys, "_framework", None):
        return "osx_framework_user"
    return "posix_user"
