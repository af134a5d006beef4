"""The IPython engine: cells run through IPython's own ``InteractiveShell``, with the
runner's protocol underneath, as ipykernel wires its shell to ZMQ.

The host asks for it with ``PYKERNEL_ENGINE=ipython``. IPython then does what it does in
Jupyter (input transformation, magics, help and the pager, its pretty printer, history,
``get_ipython()``, tracebacks), and the runner keeps what it owns: the streams and fd
capture (``output``), SIGINT (``signals``), ``input()`` and host calls (``requests``),
the frames (``wire``), and the order of requests and the ``done`` of each.

What IPython would print or page goes to frames instead:

* display publisher: ``display()`` and ``IPython.display`` go out as ``display`` frames
  with their display id, ``update_display`` frames and ``clear_output`` frames;
* display hook: a cell's final value goes out as its ``result`` frame;
* ``_showtraceback``: an exception goes out as an ``error`` frame with IPython's
  traceback lines, without colors (IPython's ``nocolor`` scheme), because the runner's
  consumers are terminals, logs and language models that would show escape codes as
  text; a ``UsageError`` goes to stderr as in ipykernel;
* the pager: help (``len?``, ``%magic``) goes out as a ``display`` frame whose
  ``text/plain`` is the page.

History lives in memory (``HistoryManager.enabled = False``: ``In``, ``Out`` and
``%history`` of the session work, earlier sessions are not kept): a kernel writes nothing
under ``~/.ipython`` but its profile directory, kernels running side by side never wait on
one SQLite file, and SQLite is not imported at start. IPython's completer is made on first
use of ``get_ipython().Completer`` (the runner answers completion requests itself).

IPython is imported only by ``start``, so this module loads where IPython is missing.
"""

import os
import sys

from . import display, execution, namespace
from .output import restore_stdio
from .running import Exec
from .signals import set_sigint
from .wire import log

# The IPython shell, once ``start`` made it.
shell = None


def prepare():
    """Sets what IPython's engine wants in the environment, before the runner sets its
    defaults: figures through ``matplotlib_inline`` as in ipykernel (when it is installed
    and the user chose no backend), and ``cat`` as the pager of commands such as
    ``git log``, which would otherwise wait for a terminal."""
    if "MPLBACKEND" not in os.environ:
        try:
            import importlib.util

            if importlib.util.find_spec("matplotlib_inline") is not None:
                os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        except (ImportError, ValueError):
            pass
    os.environ["PAGER"] = "cat"
    os.environ["GIT_PAGER"] = "cat"


def start():
    """Imports IPython and makes the shell on the runner's ``__main__``; returns whether
    it could (IPython may be missing, or broken: the runner logs why)."""
    global shell
    try:
        shell = _make_shell()
    except Exception as exc:
        log("the IPython engine is unavailable: %r" % (exc,))
        return False
    return True


def run_request(spec):
    """Runs one execute request through IPython: ``started``, the cell, ``done``."""
    if spec["store"]:
        execution.count += 1
        number = execution.count
        filename = "<cell-%d>" % number
    else:
        execution._silent_seq += 1
        number = None
        filename = "<silent-%d>" % execution._silent_seq
    ex = Exec(spec["id"], spec["silent"], spec["store"], spec["allow_stdin"], filename, number)
    execution.start(ex)
    status = "error"
    cancelled = False
    try:
        try:
            restore_stdio()
            execution._apply_runtime(spec)
            execution.check_patches()
            # The prelude finds its own source here, for ``%reset`` to run it again.
            execution.register_source(filename, spec["code"])
            if number is not None:
                shell.execution_count = number
            set_sigint(True)
            outcome = shell.run_cell(spec["code"], store_history=ex.store, silent=ex.silent)
            set_sigint(False)
            if not display.backend_shows_figures():
                display.flush_figures(ex)
            # The prelude's helpers stay out of `%who`, as the light engine keeps them.
            shell.user_ns_hidden.update(namespace.HIDDEN)
            error = outcome.error_before_exec or outcome.error_in_exec
            status = "ok" if outcome.success else "error"
            cancelled = isinstance(error, KeyboardInterrupt)
        except BaseException as exc:
            # A SIGINT outside the user's code (IPython's own steps): reported as the light
            # engine reports it.
            set_sigint(False)
            cancelled = isinstance(exc, KeyboardInterrupt)
            if not display.backend_shows_figures():
                display.flush_figures_quietly(ex)
            execution._report_error(ex, exc)
    except BaseException as exc:
        log("failed to report an error: %r" % (exc,))
    finally:
        set_sigint(False)
        execution._finish(ex, status, cancelled)


def _import_ipython():
    """Imports IPython without ``IPython.terminal.embed``, which IPython 8's
    ``__init__`` imports for ``IPython.embed`` (prompt_toolkit, pygments, jedi: about
    two thirds of its import) and a kernel never uses. A stand-in module answers that
    one import; ``IPython.embed`` then loads the real one on first use. If IPython
    fails to import that way, it is imported again plainly."""
    if "IPython" in sys.modules:
        return sys.modules["IPython"]
    import types

    name = "IPython.terminal.embed"
    stand_in = types.ModuleType(name)

    def embed(*args, **kwargs):
        return _real_embed()(*args, **kwargs)

    stand_in.embed = embed
    sys.modules[name] = stand_in
    try:
        import IPython
    except Exception as exc:
        log("importing IPython without its terminal failed, importing it plainly: %r" % (exc,))
        _forget_modules("IPython")
        import IPython
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
    if IPython.__dict__.get("embed") is embed:
        # IPython 8: the name goes through a module ``__getattr__`` instead, so that
        # ``IPython.embed()`` and ``from IPython import embed`` get the real function
        # (it finds its caller's namespace by counting frames).
        del IPython.embed
        IPython.__getattr__ = _ipython_getattr
    return IPython


def _real_embed():
    from IPython.terminal.embed import embed

    sys.modules["IPython"].embed = embed
    return embed


def _ipython_getattr(name):
    if name == "embed":
        return _real_embed()
    raise AttributeError("module 'IPython' has no attribute %r" % (name,))


def _forget_modules(package):
    for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[module]


def _make_shell():
    _import_ipython()
    from IPython import version_info
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type
    from traitlets.config import Config

    publisher, hook = _make_classes()

    class PykernelShell(InteractiveShell):
        """IPython's shell with the runner's frames as its display and its errors."""

        display_pub_class = Type(publisher)
        displayhook_class = Type(hook)

        def init_completer(self):
            # Made on first use (see __getattr__), which keeps it out of the start.
            pass

        def __getattr__(self, name):
            if name != "Completer":
                raise AttributeError(name)
            InteractiveShell.init_completer(self)
            return self.__dict__["Completer"]

        def init_virtualenv(self):
            # The host chose the interpreter, as ipykernel's host does: no warning about
            # a VIRTUAL_ENV it does not belong to.
            pass

        def enable_gui(self, gui=None):
            # No GUI event loop runs in a kernel; `%matplotlib inline` still works.
            pass

        def reset(self, new_session=True, aggressive=False):
            # `%reset` keeps the prelude's helpers, as in the light engine: it runs again.
            super().reset(new_session, aggressive)
            source = namespace.prelude_source
            if source is None:
                return
            namespace.rerunning_prelude = True
            try:
                exec(compile(source, "<prelude>", "exec"), self.user_ns)
            finally:
                namespace.rerunning_prelude = False

        def ask_exit(self):
            # `exit` ends the cell, as in the light engine; the host decides about the kernel.
            raise SystemExit()

        def _showtraceback(self, etype, evalue, stb):
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                text = str(evalue)
            except Exception:
                text = "<exception str() failed>"
            display.publish(
                "error",
                {"ename": etype.__name__, "evalue": text, "traceback": list(stb)},
            )

    config = Config()
    config.HistoryManager.enabled = False
    # IPython 9 names its schemes in lowercase; 8 has NoColor.
    config.InteractiveShell.colors = "nocolor" if version_info[0] >= 9 else "NoColor"
    ipython = PykernelShell.instance(config=config, user_module=sys.modules["__main__"])
    ipython.loop_runner = _loop_runner
    ipython.set_hook("show_in_pager", _show_in_pager, 99)
    return ipython


def _make_classes():
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher

    class Publisher(DisplayPublisher):
        """``display()`` and ``IPython.display`` as the runner's display frames."""

        def publish(
            self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs
        ):
            display_id = (transient or {}).get("display_id")
            if update and display_id is not None:
                display.publish_update(data, display_id, metadata)
            else:
                display.publish("display", data, display_id, metadata)

        def clear_output(self, wait=False):
            display.clear_output(wait=wait)

    class ResultHook(DisplayHook):
        """The value of a cell's last expression as its ``result`` frame."""

        def start_displayhook(self):
            self._bundle = None
            self._metadata = None

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self._bundle = format_dict
            self._metadata = md_dict

        def finish_displayhook(self):
            sys.stdout.flush()
            sys.stderr.flush()
            if self._bundle:
                display.publish("result", self._bundle, metadata=self._metadata)
            self._bundle = None
            self._metadata = None

    return Publisher, ResultHook


def _show_in_pager(shell, data, start=0, screen_lines=0):
    """The pager as a ``display`` frame: ``data`` is text or a MIME bundle, from line
    ``start`` on."""
    bundle = dict(data) if isinstance(data, dict) else {"text/plain": str(data)}
    text = bundle.get("text/plain")
    if text is None:
        text = ""
    if start:
        text = "\n".join(str(text).splitlines()[start:])
    bundle["text/plain"] = text
    display.publish("display", bundle)


def _loop_runner(coro):
    """Cells with top-level ``await`` run on the runner's event loop, whose background
    tasks go on while the runner is idle (as in the light engine)."""
    return execution._run_async(coro)
