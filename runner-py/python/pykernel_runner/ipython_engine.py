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

import importlib
import marshal
import os
import re
import sys
import types

from . import display, execution, namespace, running
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


# Modules IPython and traitlets import at start for functions a kernel calls late or
# never, each with the names imported from it (``from module import name``): logging's
# configuration (sockets, pickle, queues) for traitlets' applications, ``urllib.parse``
# (and ``ipaddress``) for ``pathlib``'s ``as_uri``, ``tempfile`` (shutil, random,
# hashlib, compression) for an unwritable IPython directory, ``pprint`` for the crash
# handler and traitlets' configuration dumps.
DEFERRED = {
    "logging.config": ("dictConfig",),
    "urllib.parse": ("quote_from_bytes",),
    "tempfile": ("mkdtemp",),
    "pprint": ("pformat",),
}


class _StandIn(types.ModuleType):
    """A module IPython imports while the shell is made, loaded for real on first use:
    any attribute (or a call of a name imported from it) imports the real module."""

    def __getattr__(self, name):
        # The import system probes dunders (``__path__``, ``__file__``) for what a module
        # is; a stand-in answers them as a plain module would, without loading.
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(_real_module(self.__name__), name)


def _real_module(name):
    """The real module ``name``, imported now if only its stand-in was."""
    module = sys.modules.get(name)
    if isinstance(module, _StandIn):
        del sys.modules[name]
    return importlib.import_module(name)


def _deferred_function(module_name, name):
    def call(*args, **kwargs):
        return getattr(_real_module(module_name), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__module__ = module_name
    return call


class _Deferring:
    """While active, the modules in ``DEFERRED`` not imported yet are stand-ins; on
    exit the stand-ins leave ``sys.modules``, so the next import loads the real module.

    A stand-in is also its package's attribute (``logging.config``), for code that
    reaches it through its package (``import logging.config`` binds ``logging``), so the
    package is imported first; importing the real module replaces it there."""

    def __enter__(self):
        self.stand_ins = {}
        for name, functions in DEFERRED.items():
            if name in sys.modules:
                continue
            stand_in = _StandIn(name)
            for function in functions:
                setattr(stand_in, function, _deferred_function(name, function))
            package, _, child = name.rpartition(".")
            if package:
                setattr(importlib.import_module(package), child, stand_in)
            sys.modules[name] = self.stand_ins[name] = stand_in
        return self

    def __exit__(self, *exc):
        for name, stand_in in self.stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
        return False


class _RegexCache:
    """While active, regular expressions compile from what the last start recorded:
    importing IPython and its dependencies compiles about 55 of them (some 8% of the
    start's instructions, parsing the pattern texts in Python), and what the parse gives
    depends only on the text, the flags and the interpreter's ``re`` engine.

    It works as Python's bytecode cache does, beside which it is kept (in the runner's
    ``__pycache__``, for this interpreter's version and ``re`` engine): a pattern found
    there is made by ``_sre.compile`` from the recorded arguments, the same call
    ``re``'s compiler ends with, so it is a real ``re.Pattern``; others are compiled as
    usual and their arguments recorded. The file is rewritten, atomically, when the
    patterns of this start differ from the recorded ones; anything unexpected (another
    ``re`` layout, an unreadable or unwritable file) leaves ``re`` as it is."""

    def __enter__(self):
        import _sre

        self.compiler = sys.modules.get("re._compiler") or sys.modules.get("sre_compile")
        self.sre = _sre
        self.real = getattr(self.compiler, "compile", None)
        if self.real is None or getattr(self.compiler, "_sre", None) is not _sre:
            self.compiler = None
            return self
        self.path = regex_cache_path()
        self.recorded = {}
        try:
            with open(self.path, "rb") as file:
                recorded = marshal.load(file)
            if isinstance(recorded, dict):
                self.recorded = recorded
        except (OSError, ValueError, EOFError, TypeError):
            pass
        self.used = {}
        self.key = None
        self.compiler.compile = self.compile
        self.compiler._sre = _SreRecorder(self)
        return self

    def __exit__(self, *exc):
        if self.compiler is None:
            return False
        self.compiler.compile = self.real
        self.compiler._sre = self.sre
        # A start that failed (IPython broken) compiled only some of the patterns.
        if exc[0] is None and self.used != self.recorded and running._WRITE_BYTECODE:
            temporary = "%s.%d.tmp" % (self.path, os.getpid())
            try:
                with open(temporary, "wb") as file:
                    marshal.dump(self.used, file)
                os.replace(temporary, self.path)
            except (OSError, ValueError):
                # As Python does with bytecode it cannot write (a read-only runner
                # directory): silently, the next start compiles again.
                try:
                    os.remove(temporary)
                except OSError:
                    pass
        return False

    def compile(self, pattern, flags=0):
        """``re``'s compiler, for the patterns recorded or to record."""
        if not isinstance(pattern, (str, bytes)) or flags & 128:  # re.DEBUG prints
            return self.real(pattern, flags)
        key = (pattern, int(flags))
        arguments = self.recorded.get(key)
        if arguments is not None:
            try:
                compiled = self.sre.compile(*arguments)
            except (TypeError, ValueError, RuntimeError):
                compiled = None
            if compiled is not None:
                self.used[key] = arguments
                return compiled
        self.key = key
        try:
            return self.real(pattern, flags)
        finally:
            self.key = None

    def record(self, pattern, flags, code, *rest):
        """``_sre.compile`` as the compiler calls it, recording its arguments for the
        pattern being compiled, with ``re``'s int subclasses as ints (``marshal`` keeps
        exact types only)."""
        if self.key is not None:
            self.used[self.key] = (pattern, int(flags), [int(c) for c in code]) + rest
        return self.sre.compile(pattern, flags, code, *rest)


def regex_cache_path():
    """Where ``_RegexCache`` keeps this interpreter's patterns."""
    import _sre

    return os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "__pycache__",
        "ipython_engine.re-%s-%x-%s-%s.marshal"
        % (sys.implementation.cache_tag, sys.hexversion, _sre.MAGIC, _sre.CODESIZE),
    )


class _SreRecorder:
    """``_sre`` as ``re``'s compiler sees it while a ``_RegexCache`` is active."""

    def __init__(self, cache):
        self.compile = cache.record
        self._sre = cache.sre

    def __getattr__(self, name):
        # The compiler's other uses of ``_sre``: constants and helpers.
        return getattr(self._sre, name)


def _make_shell():
    with _RegexCache(), _Deferring():
        return _make_shell_deferring()


def _make_shell_deferring():
    _import_ipython()
    from IPython import version_info
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Instance, Type, default
    from traitlets.config import Config

    publisher, hook, compiler = _make_classes()
    # IPython 9 makes its inspector as the colours are set (IPython 8 imports it at
    # start anyway): made on first use here.
    lazy_inspector = not hasattr(InteractiveShell, "init_inspector")

    class PykernelShell(InteractiveShell):
        """IPython's shell with the runner's frames as its display and its errors."""

        @property
        def kernel(self):
            """The runner's stand-in for ipykernel's kernel (``get_parent()``,
            ``session.send``), as ``get_ipython().kernel`` is in Jupyter."""
            return running.rare("comms").KERNEL

        @property
        def parent_header(self):
            """The running request, as ipykernel's shell holds it."""
            return self.kernel.get_parent()

        display_pub_class = Type(publisher)
        displayhook_class = Type(hook)
        compiler_class = Type(compiler)
        # The same class, named where it is defined: IPython names it through
        # ``IPython.core.application``, whose import (the crash handler, traitlets'
        # applications) a kernel has no use for.
        profile_dir = Instance("IPython.core.profiledir.ProfileDir", allow_none=True)

        if lazy_inspector:
            # IPython 9 names its inspector's class as a string, which traitlets imports
            # at once; here it is imported when the inspector is made.
            inspector_class = Type(klass=object).tag(config=True)

            @default("inspector_class")
            def _inspector_class_default(self):
                from IPython.core.oinspect import Inspector

                return Inspector

        def __init__(self, *args, **kwargs):
            if lazy_inspector:
                self.inspector = _LazyInspector(self)
            super().__init__(*args, **kwargs)

        def init_completer(self):
            # Made on first use (see __getattr__), which keeps it out of the start.
            pass

        def __getattr__(self, name):
            if name != "Completer":
                raise AttributeError(name)
            InteractiveShell.init_completer(self)
            return self.__dict__["Completer"]

        def should_run_async(
            self, raw_cell, *, transformed_cell=None, preprocessing_exc_tuple=None
        ):
            # Only ``await`` and ``async`` make a cell a coroutine: a cell with neither
            # word skips the compile that would find out.
            cell = raw_cell if transformed_cell is None else transformed_cell
            if "await" not in cell and "async" not in cell:
                return False
            return super().should_run_async(
                raw_cell,
                transformed_cell=transformed_cell,
                preprocessing_exc_tuple=preprocessing_exc_tuple,
            )

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
    # As nbclient starts ipykernel; it also spares looking up the profile's history file.
    config.HistoryManager.hist_file = ":memory:"
    # IPython 9 names its schemes in lowercase; 8 has NoColor.
    config.InteractiveShell.colors = "nocolor" if version_info[0] >= 9 else "NoColor"
    ipython = PykernelShell.instance(config=config, user_module=sys.modules["__main__"])
    ipython.loop_runner = _loop_runner
    ipython.input_transformer_manager = _transformer_manager(ipython.compile)
    ipython.set_hook("show_in_pager", _show_in_pager, 99)
    return ipython


class _LazyInspector:
    """Stands for IPython's object inspector (``obj?``, ``%pinfo``, ``%psearch``) until
    first used, when IPython makes the real one: it imports ``IPython.core.oinspect``
    and reads a colour theme from JSON, which a start has no use for."""

    def __init__(self, shell):
        self._shell = shell

    def set_theme_name(self, name):
        # The real inspector takes the shell's colours when it is made.
        pass

    def __getattr__(self, name):
        shell = self._shell
        if shell.__dict__.get("inspector") is self:
            del shell.inspector
            shell.init_syntax_highlighting()
        return getattr(shell.inspector, name)


def _make_classes():
    from IPython.core.compilerop import CachingCompiler
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

    class Compiler(CachingCompiler):
        """IPython's compiler, naming cells as ipykernel does (without ``hashlib``,
        which would load OpenSSL at the first cell), and taking the parse the input
        transformer made of a cell instead of parsing it again."""

        _offered = None

        def offer(self, source, tree):
            """Keeps ``tree``, parsed from ``source`` with this compiler's flags, for
            the next ``ast_parse`` (IPython changes the tree, so it serves once)."""
            self._offered = (source, tree)

        def ast_parse(self, source, filename="<unknown>", symbol="exec"):
            offered, self._offered = self._offered, None
            if offered is not None and symbol == "exec" and offered[0] == source:
                return offered[1]
            return super().ast_parse(source, filename, symbol)

        def get_code_name(self, raw_code, transformed_code, number):
            # ipykernel's name for a cell: a file in its temporary folder named by the
            # MurmurHash2 of the cell's source, so a SyntaxError reads as it does there
            # (tracebacks show "Cell In[n]" either way).
            murmur2 = running.rare("ipython_compat").murmur2
            folder = os.environ.get("TMPDIR") or os.environ.get("TEMP") or os.environ.get("TMP") or "/tmp"
            name = "%d.py" % murmur2(raw_code.encode("utf-8"), 0xC70F6907)
            return os.path.join(folder, "ipykernel_%d" % os.getpid(), name)

    return Publisher, ResultHook, Compiler


def _transformer_manager(compiler):
    """IPython's input transformer, which leaves out its token transforms (``%magic``,
    ``!cmd``, ``a = %magic``, ``obj?``) for a cell that is valid Python: each of them
    fires only on tokens Python's grammar does not allow there, and finding them
    tokenizes the cell in Python, which costs a 400-line cell (the host's prelude) about
    20 ms where the compiler's parse costs 4. The parse, made as ``compiler`` makes it,
    goes to ``compiler`` for the cell's run."""
    from IPython.core.inputtransformer2 import TransformerManager

    class Transformer(TransformerManager):
        def do_token_transforms(self, lines):
            known = [cls.__name__ for cls in self.token_transformers] == _TOKEN_TRANSFORMS
            if known and _valid_python("".join(lines), compiler):
                return lines
            return super().do_token_transforms(lines)

    return Transformer()


# The token transforms of IPython 8 and 9, which ``_valid_python`` knows to leave out.
_TOKEN_TRANSFORMS = ["MagicAssign", "SystemAssign", "EscapedCommand", "HelpEnd"]


def _valid_python(source, compiler):
    """Whether ``source`` parses as Python with its lines where IPython splits them;
    cells with nothing a token transform could act on pass without the parse: no escape
    character starting a line, no ``= %``/``= !``, no ``?``. A parse is made with the
    flags of ``compiler`` (an IPython ``CachingCompiler``), and its tree offered to it."""
    if _ODD_BREAKS.search(source) is not None:
        return False
    if _ESCAPES.search(source) is None:
        return True
    try:
        tree = compile(source, "<cell>", "exec", compiler.flags | _ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    offer = getattr(compiler, "offer", None)
    if offer is not None:
        offer(source, tree)
    return True


# Line breaks of ``str.splitlines``, by which IPython splits a cell, that are not line
# breaks to Python: a cell with one gets IPython's token pass.
_ODD_BREAKS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# What a token transform acts on, as text: an escape first on a line, an escape after an
# assignment (across backslash continuations), and a question mark anywhere.
_ESCAPES = re.compile(r"(?:^|[\n\r])[ \t]*[!?%,;/]|=[\s\\]*[%!]|\?")
# ``ast.PyCF_ONLY_AST``, without importing ``ast``.
_ONLY_AST = 0x400


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
    display.publish("display", bundle, metadata=dict(display.PAGER_METADATA))


def _loop_runner(coro):
    """Cells with top-level ``await`` run on the runner's event loop, whose background
    tasks go on while the runner is idle (as in the light engine)."""
    return execution._run_async(coro)
