"""pykernel-rs: persistent Python kernels without Jupyter.

This distribution carries ``pyk``, the pykernel command line (``pyk exec``, ``pyk repl``,
``pyk mcp``, ``pyk serve``), and a typed client for ``pyk serve``: :class:`Client`
(blocking) and :class:`AsyncClient` (``asyncio``). :func:`find_pyk` is the path of the
bundled binary.
"""

from pykernel_rs import client as _client
from pykernel_rs._binary import find_pyk
from pykernel_rs.client import *  # noqa: F403 (the names in client.__all__)

__all__ = [*_client.__all__, "find_pyk"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pykernel-rs")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
