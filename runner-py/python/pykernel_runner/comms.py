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


class Session:
    """``kernel.session``: ipykernel's message sender, for code that sends Jupyter's
    messages itself (``session.send(kernel.iopub_socket, "display_data", content)``, as
    nbclient's tests do). The messages that are outputs become the runner's frames."""

    session = SESSION

    def send(self, stream, msg_or_type, content=None, parent=None, ident=None, buffers=None, track=False, header=None, metadata=None):
        """Delivers a ``display_data``, ``update_display_data``, ``execute_result``,
        ``stream`` or ``clear_output`` message as output of the running cell; returns
        the message as ipykernel does. ``parent`` is always the running cell here."""
        if isinstance(msg_or_type, dict):
            msg_type = (msg_or_type.get("header") or {}).get("msg_type") or msg_or_type.get("msg_type")
            content = msg_or_type.get("content", content)
        else:
            msg_type = msg_or_type
        content = content if isinstance(content, dict) else {}
        _deliver(msg_type, content)
        return {"header": {"msg_type": msg_type, "session": SESSION}, "parent_header": {}, "content": content}


def _deliver(msg_type, content):
    display = running.rare("display")
    data = content.get("data")
    data = dict(data) if isinstance(data, dict) else {}
    metadata = content.get("metadata") if isinstance(content.get("metadata"), dict) else None
    transient = content.get("transient") if isinstance(content.get("transient"), dict) else {}
    display_id = transient.get("display_id")
    if msg_type == "display_data":
        display.publish("display", data, display_id=display_id, metadata=metadata)
    elif msg_type == "update_display_data" and display_id is not None:
        display.publish_update(data, display_id, metadata=metadata)
    elif msg_type == "execute_result":
        display.publish("result", data, metadata=metadata)
    elif msg_type == "stream":
        target = sys.stderr if content.get("name") == "stderr" else sys.stdout
        target.write(str(content.get("text", "")))
    elif msg_type == "clear_output":
        display.clear_output(wait=bool(content.get("wait")))
    else:
        log("ignored a %r message sent through kernel.session" % (msg_type,))


class Kernel:
    """The kernel ipywidgets finds on ``get_ipython().kernel``: enough of ipykernel's for
    ``Output`` to learn the running execution, and for code that sends its own messages
    (``session``, ``iopub_socket``)."""

    session = Session()
    # Only ever passed back to ``session.send``: every message goes to the host.
    iopub_socket = "iopub"

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
