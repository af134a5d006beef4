"""The ``text/plain`` of results as IPython's pretty printer writes it: containers broken
over lines at 79 columns, sets sorted, ``<__main__.A at 0x...>`` for objects without a
``__repr__`` of their own, ``__main__.A`` for classes, ``<function __main__.f(x)>`` for
functions, and ``_repr_pretty_(p, cycle)`` honoured.

The layout follows IPython's printer (a lazy Oppen-style algorithm): text is buffered
behind the last break opportunity, and whenever the line would pass the width, the
outermost group that still has break opportunities breaks all of them. Imported on first
use: results of plain scalars never need it.

``TYPE_PRINTERS`` and ``DEFERRED_PRINTERS`` hold the printers registered through
``get_ipython().display_formatter.formatters['text/plain'].for_type``.
"""

MAX_WIDTH = 79
MAX_SEQ_LENGTH = 1000

TYPE_PRINTERS = {}  # type -> printer(obj, p, cycle), registered by the user
DEFERRED_PRINTERS = {}  # (module, name) -> printer, registered by the user


def pretty(obj, max_width=MAX_WIDTH, max_seq_length=MAX_SEQ_LENGTH):
    """The pretty ``text/plain`` of ``obj``."""
    chunks = []
    printer = PrettyPrinter(chunks.append, max_width, max_seq_length)
    printer.pretty(obj)
    printer.flush()
    return "".join(chunks)


def uses_repr(obj):
    """Whether the pretty text of ``obj`` is just its ``repr`` (its type has a repr of its
    own and no pretty printer), which the caller may already have."""
    return _find_printer(obj) is _repr_printer


def _safe_getattr(obj, name, default=None):
    try:
        return getattr(obj, name, default)
    except Exception:
        return default


class _Text:
    __slots__ = ("parts", "width")

    def __init__(self):
        self.parts = []
        self.width = 0

    def output(self, write, column):
        for part in self.parts:
            write(part)
        return column + self.width


class _Breakable:
    __slots__ = ("sep", "width", "printer", "indentation", "group")

    def __init__(self, sep, printer):
        self.sep = sep
        self.width = len(sep)
        self.printer = printer
        self.indentation = printer.indentation
        self.group = printer.group_stack[-1]
        self.group.breakables.append(self)

    def output(self, write, column):
        group = self.group
        del group.breakables[0]
        if group.want_break:
            write("\n" + " " * self.indentation)
            return self.indentation
        if not group.breakables:
            self.printer.queue.remove(group)
        write(self.sep)
        return column + self.width


class _Group:
    __slots__ = ("depth", "breakables", "want_break")

    def __init__(self, depth):
        self.depth = depth
        self.breakables = []
        self.want_break = False


class _GroupQueue:
    """Open groups by depth; ``take`` marks the outermost one with break opportunities."""

    def __init__(self, root):
        self.levels = []
        self.add(root)

    def add(self, group):
        while len(self.levels) <= group.depth:
            self.levels.append([])
        self.levels[group.depth].append(group)

    def take(self):
        for level in self.levels:
            count = len(level)
            for offset in range(count):
                group = level[count - 1 - offset]
                if group.breakables:
                    # IPython's queue drops the entry at the mirrored position (it
                    # enumerates the level backwards but deletes by that index); the
                    # same entry goes here so lines break where IPython breaks them.
                    del level[offset]
                    group.want_break = True
                    return group
            for group in level:
                group.want_break = True
            del level[:]
        return None

    def remove(self, group):
        try:
            self.levels[group.depth].remove(group)
        except (ValueError, IndexError):
            pass


class _GroupContext:
    __slots__ = ("printer", "indent", "open", "close")

    def __init__(self, printer, indent, open, close):
        self.printer, self.indent, self.open, self.close = printer, indent, open, close

    def __enter__(self):
        self.printer.begin_group(self.indent, self.open)
        return self.printer

    def __exit__(self, *exc):
        self.printer.end_group(self.indent, self.close)
        return False


class _IndentContext:
    __slots__ = ("printer", "amount")

    def __init__(self, printer, amount):
        self.printer, self.amount = printer, amount

    def __enter__(self):
        self.printer.indentation += self.amount

    def __exit__(self, *exc):
        self.printer.indentation -= self.amount
        return False


class PrettyPrinter:
    """What ``_repr_pretty_(p, cycle)`` receives: ``text``, ``breakable``, ``break_``,
    ``group``, ``begin_group``/``end_group``, ``indent`` and ``pretty``."""

    def __init__(self, write, max_width=MAX_WIDTH, max_seq_length=MAX_SEQ_LENGTH):
        self.write = write
        self.max_width = max_width
        self.max_seq_length = max_seq_length
        self.verbose = False
        self.column = 0  # width written on the current line
        self.pending = 0  # width of what the buffer holds
        self.buffer = []
        root = _Group(0)
        self.group_stack = [root]
        self.queue = _GroupQueue(root)
        self.indentation = 0
        self.stack = []  # ids of the objects being printed, to spot cycles

    # The layout primitives.

    def text(self, obj):
        """Adds text that never breaks."""
        width = len(obj)
        if not self.buffer:
            self.write(obj)
            self.column += width
            return
        last = self.buffer[-1]
        if not isinstance(last, _Text):
            last = _Text()
            self.buffer.append(last)
        last.parts.append(obj)
        last.width += width
        self.pending += width
        self._break_outer_groups()

    def breakable(self, sep=" "):
        """A place where the line may break (``sep`` is written when it does not)."""
        group = self.group_stack[-1]
        if group.want_break:
            self.flush()
            self._newline()
            return
        self.buffer.append(_Breakable(sep, self))
        self.pending += len(sep)
        self._break_outer_groups()

    def break_(self):
        """A forced line break."""
        group = self.queue.take()
        if group is not None:
            self._break_group(group)
        self.flush()
        self._newline()

    def begin_group(self, indent=0, open=""):
        """Opens a group whose break opportunities break together."""
        if open:
            self.text(open)
        group = _Group(self.group_stack[-1].depth + 1)
        self.group_stack.append(group)
        self.queue.add(group)
        self.indentation += indent

    def end_group(self, dedent=0, close=""):
        """Closes the group ``begin_group`` opened."""
        self.indentation -= dedent
        group = self.group_stack.pop()
        if not group.breakables:
            self.queue.remove(group)
        if close:
            self.text(close)

    def group(self, indent=0, open="", close=""):
        """``with p.group(indent, open, close):`` around a group's contents."""
        return _GroupContext(self, indent, open, close)

    def indent(self, indent):
        """``with p.indent(n):`` indents the lines broken inside by ``n`` more."""
        return _IndentContext(self, indent)

    def flush(self):
        """Writes out everything buffered."""
        for item in self.buffer:
            self.column += item.output(self.write, self.column)
        del self.buffer[:]
        self.pending = 0

    def _newline(self):
        self.write("\n" + " " * self.indentation)
        self.column = self.indentation
        self.pending = 0

    def _break_group(self, group):
        buffer = self.buffer
        while group.breakables:
            item = buffer.pop(0)
            self.column = item.output(self.write, self.column)
            self.pending -= item.width
        while buffer and isinstance(buffer[0], _Text):
            item = buffer.pop(0)
            self.column = item.output(self.write, self.column)
            self.pending -= item.width

    def _break_outer_groups(self):
        while self.max_width < self.column + self.pending:
            group = self.queue.take()
            if group is None:
                return
            self._break_group(group)

    # Objects.

    def _enumerate(self, seq):
        limit = self.max_seq_length
        for index, item in enumerate(seq):
            if limit and index >= limit:
                self.text(",")
                self.breakable()
                self.text("...")
                return
            yield index, item

    def pretty(self, obj):
        """Prints ``obj`` with the printer its type calls for."""
        obj_id = id(obj)
        cycle = obj_id in self.stack
        self.stack.append(obj_id)
        self.begin_group()
        try:
            printer = _find_printer(obj)
            printer(obj, self, cycle)
        finally:
            self.end_group()
            self.stack.pop()


def _find_printer(obj):
    if obj is None or obj is True or obj is False or obj is ... or obj is NotImplemented:
        return _repr_printer
    cls = _safe_getattr(obj, "__class__", None) or type(obj)
    try:
        mro = cls.__mro__
    except AttributeError:
        mro = (cls,)
    if not isinstance(mro, tuple):
        mro = (cls,)
    builtin = _builtin_printers()
    for klass in mro:
        printer = TYPE_PRINTERS.get(klass) or builtin.get(klass)
        if printer is not None:
            return printer
        key = (_safe_getattr(klass, "__module__"), _safe_getattr(klass, "__name__"))
        printer = DEFERRED_PRINTERS.get(key) or _DEFERRED.get(key)
        if printer is not None:
            TYPE_PRINTERS[klass] = printer
            return printer
        attrs = _safe_getattr(klass, "__dict__", None) or {}
        if "_repr_pretty_" in attrs:
            method = _safe_getattr(klass, "_repr_pretty_")
            if callable(method):
                return method
        if klass is not object and "__repr__" in attrs:
            if callable(_safe_getattr(klass, "__repr__")):
                return _repr_printer
    return _default_printer


def _repr_printer(obj, p, cycle):
    """The object's own ``repr``, its lines joined by forced breaks."""
    text = repr(obj)
    with p.group():
        for index, line in enumerate(text.splitlines()):
            if index:
                p.break_()
            p.text(line)


def _default_printer(obj, p, cycle):
    cls = _safe_getattr(obj, "__class__", None) or type(obj)
    if _safe_getattr(cls, "__repr__") is not object.__repr__:
        _repr_printer(obj, p, cycle)
        return
    p.begin_group(1, "<")
    p.pretty(cls)
    p.text(" at 0x%x" % id(obj))
    if cycle:
        p.text(" ...")
    p.end_group(1, ">")


def _own_repr(obj, p, base):
    """Prints a subclass of ``base`` that has a repr of its own with that repr."""
    cls = type(obj)
    if base is None or cls is base or cls.__repr__ is base.__repr__:
        return False
    p.text(cls.__repr__(obj))
    return True


def _comma_separated(p, open, close, items, trailing=""):
    with p.group(len(open), open, close):
        for index, item in p._enumerate(items):
            if index:
                p.text(",")
                p.breakable()
            p.pretty(item)
        if trailing:
            p.text(trailing)


def _shortcut(obj, p, cycle, base, open, close):
    """Prints what needs no items: a subclass's own repr, or a cycle's ``...``."""
    if _own_repr(obj, p, base):
        return True
    if cycle:
        p.text(open + "..." + close)
        return True
    return False


def _sequence_printer(open, close, base):
    def printer(obj, p, cycle):
        if _shortcut(obj, p, cycle, base, open, close):
            return
        single_tuple = len(obj) == 1 and isinstance(obj, tuple)
        _comma_separated(p, open, close, obj, "," if single_tuple else "")

    return printer


def _sorted_for_pprint(items):
    try:
        return sorted(items)
    except Exception:
        try:
            return sorted(items, key=str)
        except Exception:
            return list(items)


def _set_printer(open, close, base):
    def printer(obj, p, cycle):
        if _shortcut(obj, p, cycle, base, open, close):
            return
        if not obj:
            p.text(type(obj).__name__ + "()")
            return
        items = obj
        if not (p.max_seq_length and len(obj) >= p.max_seq_length):
            items = _sorted_for_pprint(obj)
        _comma_separated(p, open, close, items)

    return printer


def _dict_printer(open, close, base=None):
    def printer(obj, p, cycle):
        if _own_repr(obj, p, base):
            return
        if cycle:
            p.text("{...}")
            return
        with p.group(len(open), open, close):
            for index, key in p._enumerate(obj.keys()):
                if index:
                    p.text(",")
                    p.breakable()
                p.pretty(key)
                p.text(": ")
                p.pretty(obj[key])

    return printer


def _type_printer(obj, p, cycle):
    overrides = [klass for klass in type(obj).__mro__ if "__repr__" in vars(klass)]
    if overrides[:1] != [type]:
        _repr_printer(obj, p, cycle)
        return
    module = _safe_getattr(obj, "__module__")
    name = _safe_getattr(obj, "__qualname__")
    if not isinstance(name, str):
        name = _safe_getattr(obj, "__name__")
        if not isinstance(name, str):
            name = "<unknown type>"
    if module in (None, "__builtin__", "builtins", "exceptions"):
        p.text(name)
    else:
        p.text("%s.%s" % (module, name))


def _function_printer(obj, p, cycle):
    name = _safe_getattr(obj, "__qualname__", None) or obj.__name__
    module = _safe_getattr(obj, "__module__")
    if module and module not in ("__builtin__", "builtins", "exceptions"):
        name = module + "." + name
    try:
        import inspect

        name += str(inspect.signature(obj))
    except (ValueError, TypeError):
        pass
    p.text("<function %s>" % name)


def _exception_printer(obj, p, cycle):
    cls = obj.__class__
    name = _safe_getattr(cls, "__qualname__", None) or cls.__name__
    if cls.__module__ not in ("exceptions", "builtins"):
        name = "%s.%s" % (cls.__module__, name)
    with p.group(len(name) + 1, name + "(", ")"):
        for index, arg in enumerate(_safe_getattr(obj, "args", ()) or ()):
            if index:
                p.text(",")
                p.breakable()
            p.pretty(arg)


def _super_printer(obj, p, cycle):
    with p.group(8, "<super: ", ">"):
        p.pretty(obj.__thisclass__)
        p.text(",")
        p.breakable()
        p.pretty(obj.__self__)


def _regex_printer(obj, p, cycle):
    args = [_RawString(obj.pattern)]
    if obj.flags:
        args.append(_ReFlags(obj.flags))
    p.pretty(_Call("re.compile", *args))


class _RawString:
    def __init__(self, value):
        self.value = value

    def _repr_pretty_(self, p, cycle):
        text = repr(self.value)
        prefix = "r"
        if text[:1] in "uU":
            text, prefix = text[1:], "ur"
        p.text(prefix + text.replace("\\\\", "\\"))


class _ReFlags:
    def __init__(self, value):
        self.value = value

    def _repr_pretty_(self, p, cycle):
        import re

        names = ("IGNORECASE", "LOCALE", "MULTILINE", "DOTALL", "UNICODE", "VERBOSE", "DEBUG")
        p.text("|".join("re." + name for name in names if self.value & getattr(re, name)))


class _Call:
    """Prints as ``name(arg, ...)`` (the collections printers' shape)."""

    def __init__(self, name, *args):
        self.name = name
        self.args = args

    def _repr_pretty_(self, p, cycle):
        prefix = self.name + "("
        with p.group(len(prefix), prefix, ")"):
            for index, arg in enumerate(self.args):
                if index:
                    p.text(",")
                    p.breakable()
                p.pretty(arg)


class _Raw:
    def __init__(self, text):
        self.text = text

    def _repr_pretty_(self, p, cycle):
        p.text(self.text)


def _call_printer(arguments):
    """A printer writing ``Name(args...)``, the arguments ``arguments(obj)`` gives (the
    object's repr when it gives None)."""

    def printer(obj, p, cycle):
        name = obj.__class__.__name__
        if cycle:
            p.pretty(_Call(name, _Raw("...")))
            return
        args = arguments(obj)
        if args is None:
            p.text(repr(obj))
        else:
            p.pretty(_Call(name, *args))

    return printer


_BUILTIN = None

_DEFERRED = {
    ("collections", "defaultdict"): _call_printer(lambda d: (d.default_factory, dict(d))),
    ("collections", "OrderedDict"): _call_printer(lambda d: (list(d.items()),) if d else ()),
    ("collections", "deque"): _call_printer(lambda d: None if d.maxlen is not None else (list(d),)),
    ("collections", "Counter"): _call_printer(lambda c: (dict(c.most_common()),) if c else ()),
    ("re", "Pattern"): _regex_printer,
}


def _builtin_printers():
    global _BUILTIN
    if _BUILTIN is not None:
        return _BUILTIN
    import types

    printers = {
        int: _repr_printer,
        float: _repr_printer,
        complex: _repr_printer,
        str: _repr_printer,
        bytes: _repr_printer,
        bytearray: _repr_printer,
        range: _repr_printer,
        slice: _repr_printer,
        tuple: _sequence_printer("(", ")", tuple),
        list: _sequence_printer("[", "]", list),
        dict: _dict_printer("{", "}", dict),
        set: _set_printer("{", "}", set),
        frozenset: _set_printer("frozenset({", "})", frozenset),
        super: _super_printer,
        type: _type_printer,
        types.FunctionType: _function_printer,
        types.BuiltinFunctionType: _function_printer,
        types.MethodType: _repr_printer,
        types.MappingProxyType: _dict_printer("mappingproxy({", "})"),
        BaseException: _exception_printer,
    }
    _BUILTIN = printers
    return printers
