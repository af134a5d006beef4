"""What notebooks expect of IPython in the light engine: ``get_ipython()`` and IPython's
display functions routed to the runner's display.

``get_ipython()`` returns ``Shell``, the surface notebooks use: ``user_ns``,
``run_line_magic``/``run_cell_magic``/``magic``, ``system``/``getoutput``,
``display_formatter.formatters[mime].for_type(...)`` (honoured by results and
displays), ``events.register`` (``pre_execute``, ``pre_run_cell``, ``post_execute``,
``post_run_cell``), ``history_manager``, ``config`` (empty: no ``IPKernelApp``) and a
``kernel`` with ipykernel's ``get_parent()``, ``session.send`` and ``iopub_socket``.

When user code imports ``IPython.core.display_functions`` (what ``IPython.display``
re-exports), ``patch_ipython`` replaces its ``display``, ``clear_output`` and
``publish_display_data`` with ones that publish through the runner, and
``IPython.get_ipython`` with the one here; IPython's own ``update_display`` and
``DisplayHandle`` call the replaced functions. Nothing here imports IPython: the patch
runs right after user code imported it (``execution.PostImportFinder``). When a real
IPython shell runs (the IPython engine), every replaced function defers to IPython's.

Imported on first use.
"""

import sys

from . import display as _display
from . import namespace, running
from .namespace import USER_MODULE, USER_NS, UsageError
from .wire import log

_shell = None
_originals = {}  # "module.function" -> IPython's own function


def get_ipython():
    """The running shell: IPython's when one runs, otherwise the runner's ``Shell``."""
    real = _real_shell()
    if real is not None:
        return real
    global _shell
    if _shell is None:
        _shell = Shell()
    return _shell


def _real_shell():
    """The IPython engine's ``InteractiveShell`` when that engine runs, else None.

    A shell user code makes in the light engine (``InteractiveShell.instance()``, as
    notebooks that import other notebooks do) does not count: its display publisher
    would print ``<IPython.core.display.HTML object>`` where the runner shows HTML.
    """
    module = sys.modules.get("IPython.core.interactiveshell")
    if module is None:
        return None
    try:
        cls = module.InteractiveShell
        shell = cls.instance() if cls.initialized() else None
    except Exception:
        return None
    if shell is None or not type(shell).__module__.startswith(__package__ + "."):
        return None
    return shell


# IPython's display functions, routed to the runner.


def display(*objs, **kwargs):
    """IPython's ``display``, published through the runner (display ids, updates,
    ``clear``, ``_ipython_display_`` and registered formatters included)."""
    if _real_shell() is not None:
        return _originals["IPython.core.display_functions.display"](*objs, **kwargs)
    include, exclude = kwargs.get("include"), kwargs.get("exclude")
    transient, display_id = kwargs.get("transient"), kwargs.get("display_id")
    raw = kwargs.get("raw", False)
    if display_id is None and transient:
        display_id = transient.get("display_id")
    if display_id is True:
        display_id = _display.new_display_id()
    update = bool(kwargs.get("update"))
    if update and not display_id:
        raise TypeError("display_id required for update_display")
    if not objs and display_id:
        # An empty output that later updates fill, as IPython does.
        objs, raw = ({},), True
    if kwargs.get("clear"):
        _display.clear_output(wait=True)
    metadata = kwargs.get("metadata")
    for obj in objs:
        found = {}
        if not raw:
            if show_with_ipython_display(obj):
                continue
            obj, found = format_with_metadata(obj, include, exclude)
        if metadata:
            found = dict(found)
            found.update(metadata)
        _display.display(obj, raw=True, display_id=display_id, update=update, metadata=found)
    if display_id:
        return _handle_type()(display_id)
    return None


def _handle_type():
    module = sys.modules.get("IPython.core.display_functions")
    handle = getattr(module, "DisplayHandle", None)
    return handle if handle is not None else _display.DisplayHandle


def clear_output(wait=False):
    """IPython's ``clear_output``: clears the cell's output (with ``wait``, just before
    the next output)."""
    if _real_shell() is not None:
        return _originals["IPython.core.display_functions.clear_output"](wait)
    _display.clear_output(wait)
    return None


def publish_display_data(data, metadata=None, source=None, *, transient=None, **kwargs):
    """IPython's ``publish_display_data``: publishes a MIME bundle as it is."""
    if _real_shell() is not None:
        original = _originals["IPython.core.display_functions.publish_display_data"]
        return original(data, metadata, *([source] if source else []), transient=transient, **kwargs)
    display_id = (transient or {}).get("display_id")
    update = bool(kwargs.get("update"))
    _display.display(data, raw=True, display_id=display_id, update=update, metadata=metadata)
    return None


def result_with_metadata(value):
    """``(bundle, metadata)`` of a cell's result, or None when its
    ``_ipython_display_`` showed it."""
    if show_with_ipython_display(value):
        return None
    return format_with_metadata(value)


def format_object(obj, include=None, exclude=None):
    """The MIME bundle of ``obj`` as IPython's formatters make it: the runner's bundle,
    ``text/plain`` from the pretty printer (unless ``_repr_mimebundle_`` gave one),
    ``_repr_javascript_``, and the formatters registered through ``get_ipython()``."""
    return format_with_metadata(obj, include, exclude)[0]


def format_with_metadata(obj, include=None, exclude=None):
    """``(bundle, metadata)`` of ``obj``: the bundle as ``format_object`` makes it, and
    the metadata its formatting gave (keyed by MIME type, as in Jupyter)."""
    data, metadata = _display.format_with_metadata(obj, include, exclude, _pretty_text)
    extra = registered_formats(obj)
    if "application/javascript" not in data:
        value = _call_method(obj, "_repr_javascript_")
        if value is not None:
            extra["application/javascript"] = value
    for mime, value in extra.items():
        if (include and mime not in include) or (exclude and mime in exclude):
            continue
        data[mime] = value
    return data, metadata


def _pretty_text(obj):
    """``text/plain`` where the object's methods gave none: IPython's pretty printer."""
    pretty = running.rare("pretty")
    try:
        # An object's own repr is computed once, by the runner's fallback.
        if not pretty.uses_repr(obj):
            return pretty.pretty(obj)
    except Exception as exc:
        log("the pretty printer failed: %r" % (exc,))
    return _display.safe_repr(obj)


def _method(obj, name):
    # Classes and catch-all objects (any attribute exists) are not asked.
    return _display._real_method(obj, name)


def _call_method(obj, name):
    method = _method(obj, name)
    if method is None:
        return None
    try:
        value = method()
    except Exception:
        return None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        value = value[0]
    return value


def show_with_ipython_display(obj):
    """Calls ``obj._ipython_display_()`` when it has one (it displays itself, as in
    IPython); returns whether it did."""
    method = _method(obj, "_ipython_display_")
    if method is None:
        return False
    method()
    return True


def patch_ipython():
    """Routes IPython's display functions and ``get_ipython`` to the runner, for the
    modules of them imported so far (each one once)."""
    replacements = {
        "IPython.core.display_functions": {
            "display": display,
            "clear_output": clear_output,
            "publish_display_data": publish_display_data,
        },
        "IPython.core.getipython": {"get_ipython": get_ipython},
    }
    for module_name, functions in replacements.items():
        module = sys.modules.get(module_name)
        if module is None or getattr(module, "_pykernel_routed", False):
            continue
        for name, function in functions.items():
            original = getattr(module, name, None)
            if original is not None:
                _originals[module_name + "." + name] = original
            setattr(module, name, function)
        module._pykernel_routed = True
    # Modules that copied the names before the patch (IPython imported ahead of the
    # runner) get them too.
    for module_name in ("IPython", "IPython.display", "IPython.core.display"):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name, function in (
            ("display", display),
            ("clear_output", clear_output),
            ("publish_display_data", publish_display_data),
            ("get_ipython", get_ipython),
        ):
            current = getattr(module, name, None)
            if current is not None and current is _originals.get(
                "IPython.core.display_functions." + name,
                _originals.get("IPython.core.getipython." + name),
            ):
                setattr(module, name, function)


# Formatters: what display_formatter.formatters[mime].for_type registers.

# The MIME types IPython formats, each with the name of its formatter class there (code
# that lists ``display_formatter.formatters`` prints those names).
_MIMES = (
    ("text/plain", "PlainTextFormatter"),
    ("text/html", "HTMLFormatter"),
    ("text/markdown", "MarkdownFormatter"),
    ("image/svg+xml", "SVGFormatter"),
    ("image/png", "PNGFormatter"),
    ("application/pdf", "PDFFormatter"),
    ("image/jpeg", "JPEGFormatter"),
    ("text/latex", "LatexFormatter"),
    ("application/json", "JSONFormatter"),
    ("application/javascript", "JavascriptFormatter"),
)


class Formatter:
    """One MIME type's registry of printers by type (IPython's ``BaseFormatter``)."""

    def __init__(self, format_type, type_printers=None, deferred_printers=None):
        self.format_type = format_type
        self.enabled = True
        self.type_printers = {} if type_printers is None else type_printers
        self.deferred_printers = {} if deferred_printers is None else deferred_printers

    def for_type(self, typ, func=None):
        """Registers ``func`` for ``typ`` (a type or ``"module.Name"``); returns the
        printer it replaces. Without ``func`` it only looks the printer up."""
        if isinstance(typ, str):
            module, _, name = typ.rpartition(".")
            return self.for_type_by_name(module, name, func)
        old = self.type_printers.get(typ)
        if func is not None:
            self.type_printers[typ] = func
        return old

    def for_type_by_name(self, type_module, type_name, func=None):
        """Registers ``func`` for the type named ``type_module.type_name``, without
        importing it."""
        key = (type_module, type_name)
        old = self.deferred_printers.get(key)
        if func is not None:
            self.deferred_printers[key] = func
        return old

    def lookup(self, obj):
        """The printer registered for ``obj``'s type; ``KeyError`` when there is none."""
        return self.lookup_by_type(type(obj))

    def lookup_by_type(self, typ):
        """The printer registered for ``typ`` or a base class; ``KeyError`` when none."""
        for cls in getattr(typ, "__mro__", (typ,)):
            if cls in self.type_printers:
                return self.type_printers[cls]
            key = (getattr(cls, "__module__", None), getattr(cls, "__name__", None))
            if key in self.deferred_printers:
                func = self.type_printers[cls] = self.deferred_printers.pop(key)
                return func
        raise KeyError("no printer registered for %r" % (typ,))

    def pop(self, typ, default=KeyError):
        """Removes and returns the printer registered for ``typ``."""
        try:
            return self.type_printers.pop(typ)
        except KeyError:
            if default is KeyError:
                raise
            return default

    def __contains__(self, typ):
        try:
            self.lookup_by_type(typ)
        except KeyError:
            return False
        return True

    def __call__(self, obj):
        if not self.enabled:
            return None
        try:
            printer = self.lookup(obj)
        except KeyError:
            return None
        return printer(obj)


class PlainTextFormatter(Formatter):
    """``text/plain``: printers take ``(obj, p, cycle)`` as in IPython's pretty printer."""

    def __init__(self):
        pretty = running.rare("pretty")
        super().__init__("text/plain", pretty.TYPE_PRINTERS, pretty.DEFERRED_PRINTERS)
        self.max_width = pretty.MAX_WIDTH

    def __call__(self, obj):
        return running.rare("pretty").pretty(obj, max_width=self.max_width)


class DisplayFormatter:
    """``get_ipython().display_formatter``: ``formatters`` by MIME type and ``format``."""

    def __init__(self):
        self.formatters = {
            mime: type(name, (Formatter,), {"__doc__": Formatter.__doc__})(mime)
            for mime, name in _MIMES[1:]
        }
        self.formatters = {"text/plain": PlainTextFormatter(), **self.formatters}

    @property
    def active_types(self):
        """The MIME types formatted."""
        return list(self.formatters)

    def format(self, obj, include=None, exclude=None):
        """``(bundle, metadata)`` of ``obj``, as IPython's ``DisplayFormatter.format``."""
        if show_with_ipython_display(obj):
            return {}, {}
        return format_with_metadata(obj, include, exclude)


def registered_formats(obj):
    """What the formatters the user registered make of ``obj`` (text/plain aside: the
    pretty printer consults those): a dict, empty when nothing is registered."""
    shell = _shell
    if shell is None:
        return {}
    data = {}
    for mime, formatter in shell.display_formatter.formatters.items():
        if mime == "text/plain" or not formatter.type_printers and not formatter.deferred_printers:
            continue
        try:
            printer = formatter.lookup(obj)
        except KeyError:
            continue
        try:
            value = printer(obj)
        except Exception as exc:
            log("a %s formatter failed: %r" % (mime, exc))
            continue
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
            value = value[0]
        if value is not None:
            data[mime] = value
    return data


# Events.


class EventManager:
    """``get_ipython().events``: callbacks by event name, run around each cell."""

    EVENTS = ("pre_execute", "pre_run_cell", "post_execute", "post_run_cell", "shell_initialized")

    def __init__(self):
        self.callbacks = {name: [] for name in self.EVENTS}

    def register(self, event, function):
        """Calls ``function`` at each ``event``."""
        if event not in self.callbacks:
            raise KeyError("Unknown event type: %s" % event)
        if not callable(function):
            raise TypeError("Need a callable, got %r" % (function,))
        if function not in self.callbacks[event]:
            self.callbacks[event].append(function)

    def unregister(self, event, function):
        """Stops calling ``function`` at ``event``."""
        try:
            self.callbacks[event].remove(function)
        except (KeyError, ValueError):
            raise ValueError(
                "Function {!r} is not registered as a {} callback".format(function, event)
            ) from None

    def trigger(self, event, *args, **kwargs):
        """Calls each callback of ``event``; a failing one is reported on stderr."""
        for function in list(self.callbacks.get(event, ())):
            try:
                function(*args, **kwargs)
            except (Exception, KeyboardInterrupt):
                import traceback

                print("Error in callback {} (for {}):".format(function, event), file=sys.stderr)
                traceback.print_exc()

    def any(self):
        """Whether any callback is registered."""
        return any(self.callbacks.values())


class ExecutionInfo:
    """What ``pre_run_cell`` callbacks receive."""

    def __init__(self, raw_cell, store_history, silent, shell_futures=True, cell_id=None):
        self.raw_cell = raw_cell
        self.store_history = store_history
        self.silent = silent
        self.shell_futures = shell_futures
        self.cell_id = cell_id

    def __repr__(self):
        return "<ExecutionInfo raw_cell=%r store_history=%s silent=%s>" % (
            self.raw_cell[:50],
            self.store_history,
            self.silent,
        )


class ExecutionResult:
    """What ``post_run_cell`` callbacks and ``run_cell`` give: the count, the result and
    the error of a cell."""

    def __init__(self, info):
        self.info = info
        self.execution_count = None
        self.error_before_exec = None
        self.error_in_exec = None
        self.result = None

    @property
    def success(self):
        """Whether the cell raised nothing."""
        return self.error_before_exec is None and self.error_in_exec is None

    def raise_error(self):
        """Raises the cell's exception, if it had one."""
        error = self.error_before_exec or self.error_in_exec
        if error is not None:
            raise error

    def __repr__(self):
        return "<ExecutionResult execution_count=%s error_in_exec=%r result=%r>" % (
            self.execution_count,
            self.error_in_exec,
            self.result,
        )


def before_cell(code, silent, store):
    """Runs the ``pre_*`` callbacks; returns the result object ``after_cell`` fills."""
    events = _shell.events
    info = ExecutionInfo(code, store, silent)
    events.trigger("pre_execute")
    if not silent:
        events.trigger("pre_run_cell", info)
    return ExecutionResult(info)


def after_cell(result, count, error):
    """Runs the ``post_*`` callbacks of the cell ``before_cell`` started."""
    result.execution_count = count
    result.error_in_exec = error
    events = _shell.events
    events.trigger("post_execute")
    if not result.info.silent:
        events.trigger("post_run_cell", result)


def events_wanted():
    """Whether cells must run the event callbacks (some are registered)."""
    return _shell is not None and _shell.events.any()


# The shell.


class Config(dict):
    """``get_ipython().config``: a traitlets-like dict whose sections appear on first
    use (empty here: the light engine has no IPython application)."""

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self:
            if not name[:1].isupper():
                raise AttributeError(name)
            self[name] = Config()
        return self[name]

    def __setattr__(self, name, value):
        self[name] = value


class HistoryManager:
    """``get_ipython().history_manager``: this session's inputs and outputs."""

    session_number = 0
    # As nbclient configures ipykernel: the history lives in memory only.
    hist_file = ":memory:"

    @property
    def input_hist_raw(self):
        """The source of each stored cell, by number (``In``)."""
        return namespace.INPUTS

    input_hist_parsed = input_hist_raw

    @property
    def output_hist(self):
        """The result of each stored cell that had one (``Out``)."""
        return namespace.OUT_HISTORY

    def get_range(self, session=0, start=1, stop=None, raw=True, output=False):
        """``(session, number, input)`` (or ``(input, output)`` with ``output``) of the
        cells from ``start`` to before ``stop``."""
        inputs = namespace.INPUTS
        stop = len(inputs) if stop is None else min(stop, len(inputs))
        for number in range(max(start, 1), stop):
            source = inputs[number]
            if output:
                yield (0, number, (source, namespace.OUT_HISTORY.get(number)))
            else:
                yield (0, number, source)

    def get_tail(self, n=10, raw=True, output=False, include_latest=False):
        """The last ``n`` cells, as ``get_range`` gives them."""
        stop = len(namespace.INPUTS)
        end = stop if include_latest else stop - 1
        return list(self.get_range(0, max(1, end - n), end, raw, output))


class DisplayPublisher:
    """``get_ipython().display_pub``: publishes MIME bundles."""

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        """Publishes ``data`` as a display (or an update of its display id)."""
        display_id = (transient or {}).get("display_id")
        _display.display(data, raw=True, display_id=display_id, update=update, metadata=metadata)

    def clear_output(self, wait=False):
        """Clears the cell's output."""
        _display.clear_output(wait)


def syntax_error_value(exc, code):
    """A cell's ``SyntaxError`` worded as ipykernel words it, whose cell files are named
    by a hash of the cell's source: ``invalid syntax (1397204736.py, line 1)``."""
    name = "%d.py" % murmur2(code.encode("utf-8"), 0xC70F6907)
    if exc.lineno is None:
        return "%s (%s)" % (exc.msg, name)
    return "%s (%s, line %d)" % (exc.msg, name, exc.lineno)


def murmur2(data, seed):
    """MurmurHash2 (32-bit) of the bytes ``data``, the hash ipykernel names cells by."""
    mask = 0xFFFFFFFF
    m = 0x5BD1E995
    length = len(data)
    h = (seed ^ length) & mask
    end = length - length % 4
    if sys.byteorder == "little" and memoryview(b"\0\0\0\0").cast("I").itemsize == 4:
        # The words straight from the buffer: twice as fast as slicing (the IPython
        # engine hashes the host's 17 KB prelude at every start).
        words = memoryview(data)[:end].cast("I")
    else:
        words = (int.from_bytes(data[i : i + 4], "little") for i in range(0, end, 4))
    for k in words:
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[end:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


class TracebackText:
    """``get_ipython().InteractiveTB``: what libraries such as ``IPython.lib.backgroundjobs``
    use to turn an exception into text."""

    def text(self, etype=None, value=None, tb=None, tb_offset=None, context=5):
        """The traceback of ``value``, or of the exception being handled, as text."""
        if value is None:
            value = sys.exc_info()[1]
        if value is None:
            return ""
        return "\n".join(running.rare("execution")._format_traceback(value)) + "\n"


class Shell:
    """What ``get_ipython()`` returns in the light engine: the parts of IPython's
    ``InteractiveShell`` that notebooks use."""

    def __init__(self):
        self.user_ns = USER_NS
        self.user_global_ns = USER_NS
        self.user_module = USER_MODULE
        self.user_ns_hidden = namespace.HIDDEN
        self.config = Config()
        self.events = EventManager()
        self.display_formatter = DisplayFormatter()
        self.display_pub = DisplayPublisher()
        self.history_manager = HistoryManager()
        self.InteractiveTB = TracebackText()

    @property
    def kernel(self):
        """The runner's stand-in for ipykernel's kernel (``get_parent()``, ``session``)."""
        return running.rare("comms").KERNEL

    @property
    def parent_header(self):
        """The running request, as ipykernel's shell holds it."""
        return self.kernel.get_parent()

    def __repr__(self):
        return "<pykernel_runner.ipython_compat.Shell object>"

    @property
    def execution_count(self):
        """The number of the running (or last) stored cell."""
        return running.rare("execution").count

    # Magics.

    def run_line_magic(self, magic_name, line, _stack_depth=1):
        """``%magic_name line``, with ``$name``/``{expr}`` expanded in the caller's
        namespace for magics that expand."""
        entry = _magic_table("LINE_MAGICS").get(magic_name)
        if entry is None:
            raise UsageError("Line magic function `%%%s` not found." % magic_name)
        function, expands = entry
        if expands:
            shell = running.rare("shell")
            line = shell.expand(line, shell.caller_ns(_stack_depth))
        return function(line)

    def run_cell_magic(self, magic_name, line, cell):
        """``%%magic_name line`` over ``cell``."""
        entry = _magic_table("CELL_MAGICS").get(magic_name)
        if entry is None:
            raise UsageError("Cell magic `%%%%%s` not found." % magic_name)
        function, expands = entry
        if expands:
            shell = running.rare("shell")
            line = shell.expand(line, shell.caller_ns(1))
        return function(line, cell, 1)

    def magic(self, arg_s):
        """``magic("name args")``: the old spelling of ``run_line_magic``."""
        name, _, args = arg_s.lstrip().lstrip("%").partition(" ")
        return self.run_line_magic(name, args, _stack_depth=2)

    def find_line_magic(self, magic_name):
        """The line magic's function, or None."""
        entry = _magic_table("LINE_MAGICS").get(magic_name)
        return None if entry is None else entry[0]

    def find_cell_magic(self, magic_name):
        """The cell magic's function, or None."""
        entry = _magic_table("CELL_MAGICS").get(magic_name)
        return None if entry is None else entry[0]

    def find_magic(self, magic_name, magic_kind="line"):
        """The magic's function of that kind, or None."""
        if magic_kind == "cell":
            return self.find_cell_magic(magic_name)
        return self.find_line_magic(magic_name)

    def register_magic_function(self, func, magic_kind="line", magic_name=None):
        """Makes ``func`` the magic ``magic_name`` (its own name by default):
        ``func(line)`` for a line magic, ``func(line, cell)`` for a cell magic."""
        name = magic_name or func.__name__
        if magic_kind == "cell":
            _magic_table("CELL_MAGICS")[name] = (_cell_adapter(func), False)
        elif magic_kind == "line":
            _magic_table("LINE_MAGICS")[name] = (func, False)
        elif magic_kind == "line_cell":
            _magic_table("LINE_MAGICS")[name] = (_line_cell_adapter(func), False)
            _magic_table("CELL_MAGICS")[name] = (_cell_adapter(func), False)
        else:
            raise ValueError("magic_kind must be one of 'line', 'cell', 'line_cell'")

    # Shell commands.

    def system(self, cmd):
        """``!cmd``: runs a shell command, its output streamed."""
        return running.rare("shell").system(cmd)

    system_raw = system

    def getoutput(self, cmd, split=True):
        """``!!cmd``: a shell command's output lines (a string with ``split=False``)."""
        lines = running.rare("shell").getoutput(cmd)
        return lines if split else lines.n

    # The namespace.

    def ev(self, expr):
        """Evaluates ``expr`` in the user's namespace."""
        return eval(expr, USER_NS)

    def ex(self, cmd):
        """Executes ``cmd`` in the user's namespace."""
        exec(cmd, USER_NS)

    def push(self, variables, interactive=True):
        """Puts variables into the user's namespace (a dict, or names of the caller's)."""
        if isinstance(variables, str):
            frame = sys._getframe(1)
            variables = {name: eval(name, frame.f_globals, frame.f_locals) for name in variables.replace(",", " ").split()}
        elif not isinstance(variables, dict):
            frame = sys._getframe(1)
            variables = {name: eval(name, frame.f_globals, frame.f_locals) for name in variables}
        USER_NS.update(variables)
        if not interactive:
            namespace.HIDDEN.update(variables)

    def del_var(self, varname, by_name=False):
        """Removes ``varname`` from the user's namespace."""
        USER_NS.pop(varname, None)

    def run_cell(self, raw_cell, store_history=False, silent=False, shell_futures=True, cell_id=None):
        """Runs ``raw_cell`` (magics allowed) in the user's namespace; the result holds
        its value or its exception."""
        result = ExecutionResult(ExecutionInfo(raw_cell, store_history, silent, shell_futures, cell_id))
        execution = running.rare("execution")
        try:
            result.result = execution.run_source(raw_cell, "<run_cell>")
        except Exception as exc:
            result.error_in_exec = exc
            execution.report_error(exc)
        result.execution_count = execution.count
        return result

    def showtraceback(self, exc_tuple=None, *args, **kwargs):
        """Reports the exception being handled (or ``exc_tuple``'s) as the cell's error."""
        exc = exc_tuple[1] if exc_tuple else sys.exc_info()[1]
        if exc is not None:
            running.rare("execution").report_error(exc)

    def set_next_input(self, text, replace=False):
        """Has no frontend to put the text into: a no-op in the light engine."""

    def enable_matplotlib(self, gui=None):
        """``%matplotlib inline``."""
        self.run_line_magic("matplotlib", gui or "inline")

    def enable_gui(self, gui=None):
        """The light engine has no GUI event loops: a no-op."""

    def get_ipython(self):
        """The shell itself."""
        return self


def _magic_table(name):
    return getattr(running.rare("magics"), name)


def _cell_adapter(func):
    def cell_magic(line, body, offset):
        return func(line, body)

    return cell_magic


def _line_cell_adapter(func):
    def line_magic(line):
        return func(line, None)

    return line_magic
