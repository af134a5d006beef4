"""What runs in the runner process: the execution being run, the event loop that runs
top-level ``await``, the runner's own threads, and its rarely used modules.

``current`` is the running ``Exec`` (None while idle); the main thread sets it, and
every thread reads it to know where output, displays and ``input()`` belong. ``rare``
imports the modules most cells never need (magics, shell escapes, completion, cell
transforms) on first use, which keeps them out of the start-up time.
"""

import _thread
import sys

from .wire import log

current = None  # the running Exec, or None while idle
# The Exec that ended last: output a background thread writes after its cell ended goes
# out under its id, so the host can pass it on as output no execution takes.
last = None
loop = None  # the event loop cells with top-level await run on, once there is one
loop_waiter = None  # the future an idle loop runs until a request arrives

# The runner's own modules are cached as bytecode when the package itself was (the host's
# bootstrap allows it even under PYTHONDONTWRITEBYTECODE); user code keeps the setting.
_WRITE_BYTECODE = not sys.dont_write_bytecode


class Event:
    """``threading.Event`` for the runner's own use, built on ``_thread`` locks so that
    ``threading`` is not imported at startup."""

    __slots__ = ("_flag", "_gate", "_guard")

    def __init__(self):
        self._flag = False
        self._guard = _thread.allocate_lock()
        self._gate = _thread.allocate_lock()
        self._gate.acquire()  # the gate is closed while the flag is down

    def is_set(self):
        return self._flag

    def set(self):
        with self._guard:
            if not self._flag:
                self._flag = True
                self._gate.release()

    def clear(self):
        with self._guard:
            if self._flag:
                self._flag = False
                self._gate.acquire()

    def wait(self, timeout=None):
        if self._flag:
            return True
        if self._gate.acquire(True, -1 if timeout is None else timeout):
            self._gate.release()
            return True
        return self._flag


class Exec:
    """One execution request while it runs."""

    __slots__ = (
        "id",
        "silent",
        "store",
        "allow_stdin",
        "filename",
        "number",
        "finished",
        "shown_figs",
        "captures",
        "heads",
    )

    def __init__(self, rid, silent, store, allow_stdin, filename, number):
        self.id = rid
        self.silent = silent
        self.store = store
        self.allow_stdin = allow_stdin
        self.filename = filename
        self.number = number
        self.finished = False
        self.shown_figs = []
        self.captures = []
        self.heads = {}  # stream -> frame head, see wire.stream_head


def rare(name):
    """The runner module ``name`` (``"magics"``, say), imported on first use.

    Its bytecode is written when the package's was. ``sys.dont_write_bytecode`` is
    process-wide, so a user thread importing in the same instant may get its bytecode
    written too; that is the price of not recompiling the module in every kernel.
    """
    module = sys.modules.get(__package__ + "." + name)
    if module is not None:
        return module
    import importlib

    keep = sys.dont_write_bytecode
    sys.dont_write_bytecode = not _WRITE_BYTECODE
    try:
        return importlib.import_module("." + name, __package__)
    finally:
        sys.dont_write_bytecode = keep


def get_loop():
    """The event loop for top-level ``await``, made (and set as the current one) when
    there is none."""
    global loop
    if loop is None or loop.is_closed():
        import asyncio

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop


def loop_has_work(loop):
    """Whether ``loop`` has tasks or timers (background work of earlier async cells)."""
    import asyncio

    try:
        return bool(asyncio.all_tasks(loop)) or bool(getattr(loop, "_scheduled", None))
    except RuntimeError:
        return False


def wake_idle_loop():
    """Stops an idle event loop's wait, so the main thread takes the request just queued."""
    waiter = loop_waiter
    if waiter is not None:
        try:
            loop.call_soon_threadsafe(_wake, waiter)
        except RuntimeError:
            pass


def _wake(waiter):
    if not waiter.done():
        waiter.set_result(None)


def start_thread(target, name):
    """Starts a runner thread without waiting for it to be scheduled (a
    ``threading.Thread`` start waits, which costs milliseconds on a busy machine)."""
    _thread.start_new_thread(_thread_main, (target, name))


def _thread_main(target, name):
    try:
        target()
    except BaseException as exc:
        log("%s thread died: %r" % (name, exc))
