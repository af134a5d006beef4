"""Jupyter comms over the runner's frames: what ipywidgets' widgets talk through.

``install`` runs right after user code imported the ``comm`` package (see
``execution.check_patches``), so a kernel that never uses widgets pays nothing. It
replaces ``comm.create_comm`` and ``comm.get_comm_manager`` as ipykernel does: a comm
Python opens goes out as a ``comm_open`` frame, its messages as ``comm_msg`` and its end
as ``comm_close`` (data and metadata as JSON objects, buffers as base64), under the id of
the running execution, or of the last one between cells. A host's ``comm_msg`` request
reaches the comm's handler between cells, as ipykernel's shell channel does (``handle``).

It also gives the shell (IPython's in the IPython engine, the runner's ``Shell`` in the
light one) the ``kernel`` that ipywidgets' ``Output`` looks for: its ``get_parent()``
is a request header whose ``msg_id`` is the running execution's id, which the host then
finds in the widget's ``msg_id`` state and routes that execution's output into it.

Imported on first use.
"""

import base64
import sys

from . import running
from .output import flush_output
from .wire import emit, log

# The host's session, as far as a parent header needs one.
SESSION = "pykernel"


def _frame_body(frame, data, metadata, buffers):
    frame["data"] = data if isinstance(data, dict) else {}
    if metadata:
        frame["metadata"] = metadata
    if buffers:
        frame["buffers"] = [base64.b64encode(bytes(buffer)).decode("ascii") for buffer in buffers]
    return frame


def _current_id():
    """The execution a comm frame belongs to: the running one, else the last one."""
    ex = running.current
    if ex is None or ex.finished:
        ex = running.last
    return None if ex is None else ex.id


def send(msg_type, comm_id, data=None, metadata=None, buffers=None, target_name=None):
    """Sends one comm frame; stream output written before it goes out first."""
    rid = _current_id()
    if rid is None:
        log("dropped a %s of comm %r before the first execution" % (msg_type, comm_id))
        return
    frame = {"type": msg_type, "id": rid, "commId": comm_id}
    if msg_type == "comm_open":
        frame["targetName"] = target_name or "comm"
    flush_output()
    emit(_frame_body(frame, data, metadata, buffers))


class Kernel:
    """The kernel ipywidgets finds on ``get_ipython().kernel``: enough of ipykernel's for
    ``Output`` to learn the running execution."""

    session = SESSION

    def get_parent(self, channel=None):
        """The request being handled: the running execution's header (the last one's
        between cells)."""
        rid = _current_id()
        if rid is None:
            return {}
        header = {
            "msg_id": rid,
            "msg_type": "execute_request",
            "session": SESSION,
            "username": "pykernel",
            "version": "5.3",
        }
        return {"header": header, "parent_header": {}, "metadata": {}, "content": {}}

    @property
    def comm_manager(self):
        """The comm manager (what ipywidgets before ipykernel 6.18 asks the kernel for)."""
        return get_comm_manager()


KERNEL = Kernel()
_manager = None
_installed = False


def get_comm_manager():
    """The runner's one comm manager."""
    global _manager
    if _manager is None:
        from comm.base_comm import CommManager

        _manager = CommManager()
    return _manager


def create_comm(*args, **kwargs):
    """A comm whose messages go to the host as frames (``comm.create_comm``)."""
    return _comm_class()(*args, **kwargs)


_COMM_CLASS = None


def _comm_class():
    global _COMM_CLASS
    if _COMM_CLASS is None:
        from comm.base_comm import BaseComm

        class Comm(BaseComm):
            """A comm whose messages are the runner's comm frames."""

            def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
                send(
                    msg_type,
                    self.comm_id,
                    data,
                    metadata,
                    buffers,
                    keys.get("target_name") or self.target_name,
                )

        _COMM_CLASS = Comm
    return _COMM_CLASS


def install():
    """Replaces the ``comm`` package's factory and manager with the runner's, and gives
    the shell its ``kernel`` (once)."""
    global _installed
    package = sys.modules.get("comm")
    if _installed or package is None:
        return
    _installed = True
    package.create_comm = create_comm
    package.get_comm_manager = get_comm_manager
    shell = running.rare("ipython_compat").get_ipython()
    if getattr(shell, "kernel", None) is None:
        try:
            shell.kernel = KERNEL
        except Exception as exc:
            log("could not give the shell a kernel for comms: %r" % (exc,))


def handle(request):
    """Delivers a host's ``comm_msg`` request to its comm, between cells."""
    comm_id = request.get("commId")
    data = request.get("data")
    metadata = request.get("metadata")
    buffers = request.get("buffers") or []
    if not isinstance(comm_id, str) or not isinstance(data, dict):
        log("ignored a comm_msg without a string commId and an object data")
        return
    comm = get_comm_manager().comms.get(comm_id) if _installed else None
    if comm is None:
        log("ignored a comm_msg for unknown comm %r" % (comm_id,))
        return
    try:
        decoded = [memoryview(base64.b64decode(buffer)) for buffer in buffers]
    except (TypeError, ValueError) as exc:
        log("ignored a comm_msg with a buffer that is not base64: %r" % (exc,))
        return
    msg = {
        "header": {"msg_id": "", "msg_type": "comm_msg", "session": SESSION},
        "parent_header": {},
        "metadata": metadata if isinstance(metadata, dict) else {},
        "content": {"comm_id": comm_id, "data": data},
        "buffers": decoded,
    }
    try:
        comm.handle_msg(msg)
    except Exception as exc:
        log("comm %r failed to handle a message: %r" % (comm_id, exc))
