"""pykernel runner: one persistent Python namespace served over NDJSON.

The host starts this package as ``python -u path/to/pykernel_runner`` (a directory with
``__main__.py``), or imports it and calls ``main()`` (which lets Python cache its
bytecode), and talks to it with one JSON object per line: requests on stdin, frames on a
private duplicate of the original stdout. The wire shapes are defined by
``protocol/src/frame.rs`` in the pykernel workspace; this package is the Python side of
that contract.

Layout of the process, one module per concern:

* ``wire``: fd 0 is pointed at /dev/null and fds 1 and 2 at pipes, so child processes
  and C code can never read or write protocol bytes. Frames go out on a private,
  non-inheritable duplicate of the original stdout; the runner's own notices go to a
  private duplicate of the original stderr (the host logs them).
* ``requests``: a reader thread parses request lines. It answers ``interrupt``,
  ``input_reply`` and ``reply`` at once, hands ``complete`` to a completer thread
  (``completion``, so completion never waits for a cell), and queues executions for
  the main thread (``execution``), which runs them one at a time. Cells with top-level
  ``await`` run on one persistent event loop (``running``).
* ``output``: ``sys.stdout``/``sys.stderr`` buffer text into one ordered buffer that a
  flusher thread turns into frames every few milliseconds; a drain thread turns bytes
  written to fds 1 and 2 into output of the running cell.
* ``signals``: SIGINT is ignored while idle and raises ``KeyboardInterrupt`` while a
  cell runs, never in the middle of writing a frame.
* ``compiler``, ``display``, ``patches`` and ``namespace`` serve each cell;
  ``transforms``, ``magics``, ``shell`` and ``completion`` are imported on first use.

Standard library only; Python 3.9 and newer.
"""

# Startup time matters: the modules imported at start import only C-level modules and
# modules the interpreter has already loaded (no json, signal, threading or ast, which
# pull in re, enum and functools); everything else is imported where it is used.
import os
import sys
import time

PROTOCOL_VERSION = 2
RUNNER_VERSION = "0.1.0"
# The package's sha256, set by the launcher bootstrap (which checked it) before main().
RUNNER_HASH = None
# The package's directory: the runner takes it (and the directory that holds it) off
# sys.path, and sys.argv[0] names it, as for any program run as a directory.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

from . import namespace, output, requests, running, wire  # noqa: E402 - after the constants
from .execution import PostImportFinder, check_patches, main_loop  # noqa: E402
from .signals import set_sigint  # noqa: E402


def main():
    """Sets up the process, greets the host and serves requests until exit."""
    # Asked for by this host only: user code and its children never see it.
    wire.payloads = os.environ.pop("PYKERNEL_STREAM_PAYLOADS", "") == "1"
    # The host's secret rule, so `%env` hides what the host's filter drops.
    namespace.set_secret_rule(os.environ.pop("PYKERNEL_SECRET_RULE", ""))
    if wire.setup_fds():
        output.capture_fds()
    # The IPython engine when the host asks for it (None: the light engine).
    engine = None
    if os.environ.pop("PYKERNEL_ENGINE", "") == "ipython":
        engine = running.rare("ipython_engine")
        engine.prepare()
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Import from the working directory like IPython, never from the runner's package
    # directory or the directory that holds it (the cache directory).
    runner_dirs = (PACKAGE_DIR, os.path.dirname(PACKAGE_DIR))
    sys.path[:] = [p for p in sys.path if p == "" or os.path.abspath(p) not in runner_dirs]
    if not sys.path or sys.path[0] != "":
        sys.path.insert(0, "")
    sys.argv = [PACKAGE_DIR]
    namespace.init_user_ns()
    sys.modules["__main__"] = namespace.USER_MODULE
    namespace.install_builtins(PROTOCOL_VERSION, RUNNER_VERSION)
    output.install_streams()
    sys.meta_path.insert(0, PostImportFinder())
    check_patches()
    if engine is not None and not engine.start():
        engine = None  # the host sees `engine:light` and says why it cannot go on
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    set_sigint(False)
    wire.install_stop_handlers()
    running.start_thread(output.flusher_main, "pykernel-flusher")
    if output.FD_CAPTURES:
        running.start_thread(output.drain_main, "pykernel-fd-drain")
    wire.emit(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "runner": RUNNER_VERSION,
            "python": sys.version.split()[0],
            "pid": os.getpid(),
            "features": ["interrupt", "input", "call", "complete"]
            + ["engine:light" if engine is None else "engine:ipython"]
            + (["stream_payloads"] if wire.payloads else []),
            **({"hash": RUNNER_HASH} if RUNNER_HASH else {}),
        }
    )
    running.start_thread(requests.reader_main, "pykernel-reader")
    main_loop(None if engine is None else engine.run_request)
    _shutdown()


def _after_fork_in_child():
    """A forked child must never touch the frame channel: give it plain fd streams."""
    wire.after_fork_in_child()
    output.after_fork_in_child()


def _shutdown():
    """``exit`` or EOF: flush, run exit handlers, and leave with code 0."""
    requests.fail_waiters()
    try:
        output.sync_fds()
        output.OUT.flush()
    except Exception:
        pass
    # What cells left running goes now, daemons the runner adopted included: the host
    # kills the runner's group once it is reaped, but cannot find those.
    wire.kill_descendants()

    def reaper():
        time.sleep(0.75)
        os._exit(0)

    running.start_thread(reaper, "pykernel-reaper")
    sys.exit(0)
