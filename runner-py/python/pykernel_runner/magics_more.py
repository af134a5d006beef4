"""More of IPython's magics: script cells (``%%script``, ``%%bash``/``%%sh`` with
``--out``/``--err``, ``%%ruby``, ``%%perl``, ``%%python``), display cells (``%%html``,
``%%javascript``/``%%js``, ``%%latex``, ``%%markdown``, ``%%svg``), help (``%pinfo``,
``%pinfo2``, ``%psearch``, which ``obj?``, ``obj??`` and ``*pat*?`` become), and
``%xmode``, ``%debug``, ``%history``, ``%quickref``, ``%magic``, ``%gui``,
``%connect_info``; ``%run`` finds ``name.py`` for ``name``, and ``%lsmagic`` returns
its listing as a value.

``register`` adds them to the tables of ``magics``, which imports this module.
What IPython sends to its pager goes out as a display whose only type is
``text/plain``, which is what Jupyter shows of a pager payload.
"""

import os
import sys

from . import magics, running
from .display import PAGER_METADATA, display, status
from .namespace import HIDDEN, INPUTS, OUT_HISTORY, USER_NS, UsageError

# The IPython display class each display cell magic's text/plain names.
_DISPLAY_CELLS = {
    "html": ("text/html", "HTML"),
    "javascript": ("application/javascript", "Javascript"),
    "js": ("application/javascript", "Javascript"),
    "latex": ("text/latex", "Latex"),
    "markdown": ("text/markdown", "Markdown"),
    "svg": ("image/svg+xml", "SVG"),
}

# Script cell magics that name their interpreter: magic -> program.
_SCRIPT_CELLS = {
    "ruby": "ruby",
    "perl": "perl",
    "python": "python",
    "python2": "python2",
    "python3": "python3",
    "pypy": "pypy",
    "bash": "bash",
    "sh": "sh",
}

XMODES = ("Plain", "Context", "Verbose", "Minimal", "Docs")


def page(text):
    """Shows ``text`` as IPython's pager would in Jupyter: a plain-text display marked
    as the pager's (see ``display.PAGER_METADATA``)."""
    display({"text/plain": text}, raw=True, metadata=dict(PAGER_METADATA))


# Display cells.


def _display_cell(kind):
    mime, name = _DISPLAY_CELLS[kind]

    def cell(line, body, offset):
        data = _svg_element(body) if kind == "svg" else body
        display({mime: data, "text/plain": "<IPython.core.display.%s object>" % name}, raw=True)

    return cell


def _svg_element(text):
    """The first ``<svg>`` element of ``text``, as IPython's ``SVG`` keeps it."""
    try:
        from xml.dom import minidom

        found = minidom.parseString(text).getElementsByTagName("svg")
    except Exception:
        return text
    return found[0].toxml() if found else text


# Script cells.


def _parse_script_line(line, magic):
    """IPython's script magic options off ``line`` (``--out VAR``, ``--err VAR``,
    ``--bg``, ``--proc VAR``, ``--no-raise-error``); returns them and the other words."""
    import shlex

    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError("%%%s: %s" % (magic, exc)) from None
    options = {"out": None, "err": None, "proc": None, "bg": False, "raise_error": True}
    rest = []
    index = 0
    while index < len(words):
        word = words[index]
        name, equals, value = word.partition("=")
        if name in ("--out", "--err", "--proc"):
            if not equals:
                if index + 1 >= len(words):
                    raise UsageError("%%%s: %s needs a variable name" % (magic, word))
                index += 1
                value = words[index]
            options[name[2:]] = value
        elif word == "--bg":
            options["bg"] = True
        elif word == "--no-raise-error":
            options["raise_error"] = False
        else:
            rest.append(word)
        index += 1
    return options, rest


# (option, stream) of the script magics' capturing options.
_CAPTURED_STREAMS = (("out", "stdout"), ("err", "stderr"))


def _script(magic, argv, body, options):
    """Runs ``argv`` with the cell on its stdin, as IPython's script magics do.

    Output streams as it comes, stdout and stderr apart, or into the ``--out``/``--err``
    variables; a non-zero exit raises ``CalledProcessError`` unless ``--no-raise-error``;
    a program that is not there is a printed notice, not an error (IPython's choices).
    Sets ``_exit_code`` and emits ``{"op": magic, "exit_code"}``.
    """
    import shutil
    import subprocess

    for option, _ in _CAPTURED_STREAMS:
        if options[option]:
            USER_NS[options[option]] = ""
    if shutil.which(argv[0]) is None:
        print("Couldn't find program: %r" % argv[0])
        return None
    data = (body if body.endswith("\n") else body + "\n").encode("utf-8", "replace")
    if options["bg"]:
        _background_script(argv, data, options)
        return None
    captures = {stream: [] for option, stream in _CAPTURED_STREAMS if options[option]}
    try:
        code = magics.run_streaming(argv, merge=False, stdin_data=data, captures=captures)
    finally:
        for option, stream in _CAPTURED_STREAMS:
            if options[option]:
                USER_NS[options[option]] = "".join(captures[stream])
    USER_NS["_exit_code"] = code
    status(magic, exit_code=code)
    if code != 0 and options["raise_error"]:
        raise subprocess.CalledProcessError(code, data)
    return None


# Scripts started with --bg, for %killbgscripts.
_BACKGROUND = []


def _background_script(argv, data, options):
    """``--bg``: the script runs on; ``--out``/``--err`` name its output pipes (read them
    with ``.read()``), ``--proc`` the process. Output not asked for is discarded."""
    import _thread
    import subprocess

    from .shell import _feed_stdin

    pipe = {option: subprocess.PIPE if options[option] else subprocess.DEVNULL for option in ("out", "err")}
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=pipe["out"], stderr=pipe["err"], close_fds=True
    )
    _thread.start_new_thread(_feed_stdin, (proc.stdin, data))
    if options["out"]:
        USER_NS[options["out"]] = proc.stdout
    if options["err"]:
        USER_NS[options["err"]] = proc.stderr
    if options["proc"]:
        USER_NS[options["proc"]] = proc
    _BACKGROUND[:] = [p for p in _BACKGROUND if p.poll() is None] + [proc]


def ls_flags():
    """The flags of IPython's ``ls`` and ``ll`` aliases on this platform (GNU and BSD
    ``ls`` differ)."""
    if sys.platform.startswith("linux"):
        return "-F --color", "-F -o --color"
    if sys.platform.startswith(("openbsd", "netbsd")):
        return "-F", "-F -l"
    return "-F -G", "-F -l -G"


def _default_aliases():
    """IPython's default shell aliases (``%cat``, ``%ll``, ``%mkdir``...): name -> the
    command, where ``%l`` stands for the arguments. ``%ls`` is the magics module's."""
    if os.name != "posix":
        return {}
    aliases = {name: name for name in ("mkdir", "rmdir", "mv", "rm", "cp", "cat")}
    long_flags = ls_flags()[1]
    aliases["ll"] = "ls " + long_flags
    for name, grep in (("lf", "^-"), ("lk", "^l"), ("ldir", "/$"), ("lx", "^-..x")):
        aliases[name] = "ls %s %%l | grep %s" % (long_flags, grep)
    return aliases


def _alias_magic(command):
    def run(args):
        line = command
        if "%l" in line:
            line, args = line.replace("%l", args), ""
        magics.run_shell(("%s %s" % (line, args)).strip())
        return None

    run.__doc__ = "Alias for `%s`." % command
    return run


def _magic_config(args):
    """``%config Class.trait = value``: sets IPython configuration; the light engine
    honours ``InlineBackend.figure_formats`` (or ``figure_format``: ``png``, ``retina``,
    ``svg``, ``jpeg``, ``pdf``). ``%config Class`` prints what is set there."""
    config = running.rare("ipython_compat").get_ipython().config
    line = args.strip()
    if not line:
        print("Available objects for config:")
        for name in sorted(set(config) | {"InlineBackend"}):
            print("    " + name)
        return None
    target, equals, expression = line.partition("=")
    target = target.strip()
    section, dot, trait = target.partition(".")
    if not section.isidentifier() or (dot and not trait.isidentifier()):
        raise UsageError("%%config: cannot read %r" % line)
    if not equals:
        values = dict(config.get(section, {}))
        if dot:
            print(repr(values.get(trait)))
        else:
            print("%s options\n%s" % (section, "-" * (len(section) + 8)))
            for name in sorted(values):
                print("%s.%s=%r" % (section, name, values[name]))
        return None
    if not dot:
        raise UsageError("%%config: set a trait, as in %%config %s.name = value" % section)
    value = eval(expression.strip(), USER_NS)
    getattr(config, section)[trait] = value
    return None


def _magic_pylab(args):
    """``%pylab [inline]``: IPython's deprecated magic; numpy and pyplot into the
    namespace, figures inline."""
    print("%pylab is deprecated, use %matplotlib inline and import the required libraries.")
    print("Populating the interactive namespace from numpy and matplotlib")
    magics.line_magic("matplotlib", "inline")
    before = {name: USER_NS[name] for name in list(USER_NS)}
    exec(
        "import numpy\nimport matplotlib\nfrom matplotlib import pylab, mlab, pyplot\n"
        "np = numpy\nplt = pyplot\nfrom matplotlib.pylab import *\nfrom numpy import *\n",
        USER_NS,
    )
    clobbered = sorted(
        name
        for name, value in before.items()
        if not name.startswith("_") and USER_NS.get(name) is not value and name not in HIDDEN
    )
    if clobbered:
        print("pylab import has clobbered these variables: %s" % clobbered, file=sys.stderr)
        print("`%matplotlib` prevents importing * from pylab and numpy", file=sys.stderr)
    return None


def _magic_killbgscripts(args):
    """Kills every script still running from ``--bg``."""
    for proc in _BACKGROUND:
        if proc.poll() is None:
            try:
                proc.kill()
                proc.wait()
            except OSError:
                pass
    _BACKGROUND.clear()
    print("All background processes were killed.")
    return None


def _cell_script(line, body, offset):
    options, words = _parse_script_line(line, "script")
    if not words:
        raise UsageError("usage: %%script [--out VAR] [--err VAR] [--bg] program [args...]")
    return _script("script", words, body, options)


def _named_script(magic, program):
    def cell(line, body, offset):
        options, words = _parse_script_line(line, magic)
        return _script(magic, [program] + words, body, options)

    cell.__doc__ = "Runs the cell with %s in a subprocess (%%%%script %s)." % (program, program)
    return cell


# Help: obj?, obj??, *pattern*?


def _lookup(name):
    """The object ``name`` (dotted) names in the user's namespace or the builtins."""
    import builtins

    head, *rest = name.split(".")
    if head in USER_NS:
        obj = USER_NS[head]
    elif hasattr(builtins, head):
        obj = getattr(builtins, head)
    else:
        raise LookupError(name)
    for attr in rest:
        try:
            obj = getattr(obj, attr)
        except Exception:
            raise LookupError(name) from None
    return obj


def _magic_pinfo(args, detail=0):
    name = args.strip()
    if name.startswith("%"):
        page(_magic_help(name.lstrip("%")))
        return None
    try:
        obj = _lookup(name)
    except LookupError:
        # As IPython finds it: a name no object has may be a line magic (`ls?`).
        if name in magics.LINE_MAGICS:
            page(_magic_help(name))
        else:
            print("Object `%s` not found." % name)
        return None
    page(inspect_text(obj, name, detail))
    return None


def _magic_pinfo2(args):
    return _magic_pinfo(args, detail=1)


def inspect_text(obj, name, detail=0):
    """What IPython's ``obj?`` (``detail=1``: ``obj??``) pages about ``obj``."""
    import inspect

    fields = []

    def add(title, value):
        if value is not None:
            fields.append((title, value))

    is_class = isinstance(obj, type)
    simple_callable = inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)
    source = None
    if detail:
        try:
            source = inspect.getsource(obj)
        except Exception:
            source = None
    doc = inspect.getdoc(obj)
    if source is not None and doc and doc.split("\n")[0] in source:
        doc = None  # the source shows it
    elif not doc:
        doc = "<no docstring>"
    if is_class or simple_callable:
        add("Init signature" if is_class else "Signature", _signature(name, obj))
        add("Docstring", doc)
        add("Source", source)
        add("File", _file_of(obj))
        add("Type", type(obj).__name__)
        if is_class:
            try:
                subclasses = ", ".join(c.__name__ for c in type.__subclasses__(obj))
            except Exception:
                subclasses = ""
            add("Subclasses", subclasses)
    else:
        if callable(obj):
            add("Signature", _signature(name, obj))
        add("Type", type(obj).__name__)
        add("String form", _string_form(obj))
        try:
            add("Length", str(len(obj)))
        except Exception:
            pass
        add("File", _file_of(obj))
        add("Source", source)
        add("Docstring", doc)
    width = max(len(title) for title, _ in fields)
    lines = []
    for title, value in fields:
        value = str(value).strip("\n")
        separator = "\n" if "\n" in value else " "
        lines.append(title + ":" + " " * (width - len(title)) + separator + value)
    return "\n".join(lines)


def _signature(name, obj):
    import inspect

    short = name.rsplit(".", 1)[-1]
    for target in (obj, getattr(obj, "__init__", None)) if isinstance(obj, type) else (obj,):
        try:
            return short + str(inspect.signature(target))
        except (TypeError, ValueError):
            continue
    return None


def _file_of(obj):
    import inspect

    try:
        path = inspect.getsourcefile(obj) or inspect.getfile(obj)
    except Exception:
        return None
    if not path or path.startswith("<"):
        return None
    return path


def _string_form(obj):
    try:
        text = str(obj)
    except Exception:
        return None
    if len(text) > 200:
        text = text[:100] + "<...>" + text[-100:]
    return text


def _magic_psearch(args):
    """``*pattern*?``: the names matching a wildcard pattern in the user's namespace and
    the builtins (or among the attributes of an object, ``obj.*pat*``)."""
    import builtins
    import fnmatch

    words = args.split()
    show_all = "-a" in words
    patterns = [w for w in words if not w.startswith("-")]
    if len(patterns) != 1:
        raise UsageError("usage: %psearch [-a] PATTERN")
    pattern = patterns[0]
    prefix, _, last = pattern.rpartition(".")
    if prefix:
        try:
            names = dir(_lookup(prefix))
        except LookupError:
            names = []
        prefix += "."
    else:
        names = [n for n in USER_NS if not (n in HIDDEN and HIDDEN[n] is USER_NS[n])]
        names += dir(builtins)
    hidden_ok = show_all or last.startswith("_")
    found = sorted(
        {prefix + n for n in names if fnmatch.fnmatchcase(n, last) and (hidden_ok or not n.startswith("_"))}
    )
    if found:
        page("\n".join(found))
    return None


def _magic_help(name):
    entry = magics.LINE_MAGICS.get(name) or magics.CELL_MAGICS.get(name)
    if entry is None:
        return "Object `%%%s` not found." % name
    doc = (getattr(entry[0], "__doc__", None) or "").strip()
    return doc or "%%%s: no documentation." % name


# Line magics.


def _magic_xmode(args):
    execution = running.rare("execution")
    mode = args.strip()
    if not mode:
        current = XMODES.index(execution.xmode) if execution.xmode in XMODES else 0
        mode = XMODES[(current + 1) % len(XMODES)]
    matches = [m for m in XMODES if m.lower() == mode.lower()]
    if not matches:
        raise UsageError("xmode: unknown mode %r; choose one of %s" % (mode, ", ".join(XMODES)))
    execution.xmode = matches[0]
    print("Exception reporting mode: %s" % matches[0])
    return None


def _magic_debug(args):
    """Post-mortem debugging of the last error: the standard library's pdb, listing code
    as IPython's debugger does, its commands read with ``input()`` (from the host, or a
    StdinNotImplementedError where input is refused, as in ipykernel)."""
    if args.strip():
        raise UsageError("%debug: the light engine debugs the last error only, not a statement")
    tb = getattr(sys, "last_traceback", None)
    if tb is None:
        print("No traceback has been produced, nothing to debug.", file=sys.stderr)
        return None
    debugger = _debugger_class()()
    debugger.reset()
    debugger.interaction(None, tb)
    return None


def _debugger_class():
    import linecache
    import pdb

    class Debugger(pdb.Pdb):
        """pdb with IPython's prompt and its listing of five lines around the current one."""

        def __init__(self):
            super().__init__()
            self.prompt = "ipdb> "

        def print_stack_entry(self, frame_lineno, prompt_prefix="\n-> "):
            frame, lineno = frame_lineno
            filename = frame.f_code.co_filename
            print("> %s(%d)%s()" % (filename, lineno, frame.f_code.co_name))
            lines = linecache.getlines(filename, frame.f_globals)
            context = 5
            start = max(min(lineno - 1 - context // 2, len(lines) - context), 0)
            shown = []
            for number, line in enumerate(lines[start : start + context], start + 1):
                if number == lineno:
                    mark = "-" * (7 - len(str(number)) - 2) + "> " + str(number)
                else:
                    mark = str(number).rjust(7)
                shown.append("%s %s" % (mark, line if line.endswith("\n") else line + "\n"))
            print("".join(shown))

    return Debugger


def _magic_history(args):
    import shlex

    words = shlex.split(args)
    numbers = output = prompts = False
    limit = None
    pattern = None
    ranges = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-n":
            numbers = True
        elif word == "-o":
            output = True
        elif word == "-p":
            prompts = True
        elif word == "-l":
            index += 1
            limit = int(words[index]) if index < len(words) and words[index].isdigit() else 10
        elif word == "-g":
            pattern = words[index + 1] if index + 1 < len(words) else ""
            index += 1
        elif word.startswith("-"):
            raise UsageError("%%history: unsupported option %s" % word)
        else:
            ranges.append(word)
        index += 1
    inputs = INPUTS
    outputs = OUT_HISTORY
    chosen = _history_numbers(ranges, len(inputs))
    if pattern is not None:
        import fnmatch

        glob = "*%s*" % pattern if pattern else "*"
        chosen = [n for n in chosen if fnmatch.fnmatch(inputs[n], glob)]
        numbers = True
    if limit is not None:
        chosen = chosen[-limit:] if limit else []
    # IPython's fixed width: wider numbers misalign rather than the whole list shifting.
    width = 4
    lines = []
    for number in chosen:
        source = inputs[number].expandtabs(4).rstrip()
        multiline = "\n" in source
        head = ""
        if numbers:
            head = str(number).rjust(width) + ":" + ("\n" if multiline else " ")
        if prompts:
            head += ">>> "
            if multiline:
                source = "\n... ".join(source.splitlines()) + "\n..."
        lines.append(head + source)
        if output and number in outputs:
            lines.append(running.rare("pretty").pretty(outputs[number]))
    if lines:
        print("\n".join(lines))
    return None


def _history_numbers(ranges, count):
    if not ranges:
        return list(range(1, count))
    chosen = []
    for spec in ranges:
        start, dash, stop = spec.partition("-")
        try:
            first = int(start)
            last = int(stop) if dash else first
        except ValueError:
            raise UsageError("%%history: bad range %r" % spec) from None
        chosen.extend(n for n in range(first, last + 1) if 0 < n < count)
    return chosen


_QUICKREF = """\
pykernel quick reference (light engine)

obj?, obj??      : details about obj (?? adds its source)
*pat*?           : names matching a wildcard pattern
%magic args      : run a line magic (%lsmagic lists them)
%%magic args     : run the cell through a cell magic (first line of the cell)
!cmd             : run a shell command; x = !cmd keeps its lines
x = %magic args  : keep what a line magic returns
_, __, ___       : the last three results; _N, Out[N]: the result of cell N
_i, _ii, _iii    : the last three inputs; _iN, In[N]: the input of cell N
display(obj)     : show obj as rich output; get_ipython(): the shell's surface
input(prompt)    : ask the host for a line of input
"""


def _magic_quickref(args):
    page(_QUICKREF)
    return None


def _magic_magic(args):
    lines = ["The magics of the light engine (%name for a line, %%name for a cell):", ""]
    for prefix, table in (("%", magics.LINE_MAGICS), ("%%", magics.CELL_MAGICS)):
        for name in sorted(table):
            doc = (getattr(table[name][0], "__doc__", None) or "").strip().split("\n")[0]
            lines.append("%s%s%s" % (prefix + name, " : " if doc else "", doc))
    page("\n".join(lines))
    return None


def _magic_gui(args):
    name = args.strip()
    if name:
        print("pykernel runs no GUI event loop; %%gui %s ignored." % name, file=sys.stderr)
    return None


def _magic_connect_info(args):
    print(
        "This kernel talks to its host over pipes (pykernel's NDJSON protocol); it has no "
        "connection file, and no other client can connect to it."
    )
    return None


class MagicsListing:
    """What ``%lsmagic`` returns: prints as the list of line and cell magics."""

    def __init__(self, line, cell):
        self.line = line
        self.cell = cell

    def __repr__(self):
        return "\n".join(
            [
                "Available line magics:",
                "%" + "  %".join(self.line),
                "",
                "Available cell magics:",
                "%%" + "  %%".join(self.cell),
                "",
                "Automagic is ON, % prefix IS NOT needed for line magics.",
            ]
        )

    def _repr_pretty_(self, p, cycle):
        p.text(repr(self))


def _magic_lsmagic(args):
    return MagicsListing(sorted(magics.LINE_MAGICS), sorted(magics.CELL_MAGICS))


def _run_with_py(original):
    def run(args):
        import shlex

        try:
            parts = shlex.split(args)
        except ValueError as exc:
            raise UsageError("%%run: %s" % exc) from None
        if parts:
            path = os.path.expanduser(parts[0])
            if not os.path.isfile(path) and os.path.isfile(path + ".py"):
                args = " ".join(shlex.quote(part) for part in [parts[0] + ".py"] + parts[1:])
        return original(args)

    run.__doc__ = getattr(original, "__doc__", None)
    return run


def register(line_magics, cell_magics):
    """Adds this module's magics to the magics tables (name -> (function, expands))."""
    for kind in _DISPLAY_CELLS:
        cell_magics[kind] = (_display_cell(kind), False)
    for magic, program in _SCRIPT_CELLS.items():
        cell_magics[magic] = (_named_script(magic, program), True)
    cell_magics["script"] = (_cell_script, True)
    line_magics.update(
        {
            "pinfo": (_magic_pinfo, False),
            "pinfo2": (_magic_pinfo2, False),
            "psearch": (_magic_psearch, False),
            "xmode": (_magic_xmode, False),
            "debug": (_magic_debug, False),
            "history": (_magic_history, False),
            "hist": (_magic_history, False),
            "quickref": (_magic_quickref, False),
            "magic": (_magic_magic, False),
            "gui": (_magic_gui, False),
            "connect_info": (_magic_connect_info, False),
            "killbgscripts": (_magic_killbgscripts, False),
            "config": (_magic_config, False),
            "pylab": (_magic_pylab, False),
            "lsmagic": (_magic_lsmagic, False),
        }
    )
    for name, command in _default_aliases().items():
        line_magics.setdefault(name, (_alias_magic(command), True))
    run = line_magics.get("run")
    if run is not None:
        line_magics["run"] = (_run_with_py(run[0]), run[1])
