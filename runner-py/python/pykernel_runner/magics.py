"""Magics: ``%cd``, ``%env``, ``%pip``, ``%time``, ``%timeit``, ``%who``, ``%reset``,
``%run``, ``%%capture``, ``%%writefile`` and the rest, and the tables that name them.

Besides IPython's printed output, the magics that change or measure something emit a
status event (``{"op": "pip", ...}``, as the reference agent's runner did), so a host
can show what happened.

Imported on first use (through ``__pykernel__.line_magic``/``cell_magic``, or completion
of a magic's name).
"""

import builtins
import os
import sys
import time

from . import namespace, running
from .display import display, flush_figures, safe_repr, status
from .execution import check_patches, register_source, run_source
from .namespace import USER_NS, UsageError
from .output import OUT, flush_output, sync_fds
from .requests import host_input
from .shell import caller_ns, expand, run_shell, run_streaming
from .transforms import transform_cell

_oldpwd = None  # the directory before the last %cd, for %cd -


def _format_duration(seconds):
    """Formats a duration the way IPython's timing magics do."""
    if seconds >= 60.0:
        parts = []
        left = seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            value = int(left // length)
            if value > 0:
                left -= value * length
                parts.append("%d%s" % (value, suffix))
            if left < 1:
                break
        return " ".join(parts)
    units = ("s", "ms", "\u00b5s", "ns")
    if seconds > 0.0:
        import math

        order = min(-int(math.floor(math.log10(seconds)) // 3), 3)
    else:
        order = 3
    order = max(order, 0)
    return "%.3g %s" % (seconds * 1000**order, units[order])


def _magic_cd(args):
    global _oldpwd
    target = args.strip()
    quiet = False
    if target.startswith("-q"):
        quiet = True
        target = target[2:].strip()
    if target == "-":
        if _oldpwd is None:
            raise UsageError("%cd -: no previous directory")
        target = _oldpwd
    elif not target:
        target = "~"
    if len(target) >= 2 and target[0] == target[-1] and target[0] in "'\"":
        target = target[1:-1]
    previous = os.getcwd()
    try:
        os.chdir(os.path.expanduser(target))
    except OSError as exc:
        print(exc, file=sys.stderr)
        return None
    _oldpwd = previous
    if not quiet:
        print(os.getcwd())
    status("cd", path=os.getcwd())
    return None


def _magic_pwd(args):
    cwd = os.getcwd()
    status("pwd", path=cwd)
    return cwd


def _magic_ls(args):
    import shlex

    # IPython's ls alias: -F marks directories, colour as in Jupyter.
    command = "ls " + magics_more.ls_flags()[0] if os.name == "posix" else "ls"
    code = run_shell(command + " " + args if args.strip() else command)
    try:
        paths = [word for word in shlex.split(args) if not word.startswith("-")]
    except ValueError:
        paths = []
    event = {"path": os.path.abspath(paths[0] if len(paths) == 1 else "."), "exit_code": code}
    if len(paths) <= 1:
        try:
            event["count"] = len(os.listdir(event["path"]))
        except OSError:
            pass
    status("ls", **event)
    return None


def _magic_env(args):
    args = args.strip()
    if not args:
        env = {}
        for key in sorted(os.environ):
            env[key] = "<hidden>" if namespace.looks_secret(key) else os.environ[key]
        return env
    if "=" in args or len(args.split(None, 1)) == 2:
        return _magic_set_env(args)
    try:
        return os.environ[args]
    except KeyError:
        raise UsageError("Environment does not have key: %s" % args) from None


def _magic_set_env(args):
    args = args.strip()
    first_word = args.split(None, 1)[0] if args else ""
    if "=" in first_word:
        key, _, value = args.partition("=")
    else:
        parts = args.split(None, 1)
        if len(parts) != 2:
            raise UsageError("usage: %set_env VAR VALUE (or VAR=VALUE)")
        key, value = parts
    key = key.strip()
    value = value.strip()
    if not key:
        raise UsageError("usage: %set_env VAR VALUE (or VAR=VALUE)")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    os.environ[key] = value
    print("env: %s=%s" % (key, value))
    return None


def _magic_pip(args):
    import importlib
    import shlex

    argv = [sys.executable, "-m", "pip"] + (shlex.split(args) if args.strip() else ["--help"])
    installing = argv[3:4] == ["install"]
    before = _dist_dirs() if installing else {}
    scanner = _InstallScanner()
    code = run_streaming(argv, observe=scanner if installing else None)
    importlib.invalidate_caches()
    installed = []
    if installing and code == 0:
        # What pip says it installed, and the metadata folders the install changed
        # (``pip -q`` says nothing): their modules go, so the next import loads anew.
        changed = [path for path, stamp in _dist_dirs().items() if before.get(path) != stamp]
        installed = scanner.finish() or sorted({_dist_name(path) for path in changed})
        _evict(installed, changed)
    if argv[3:4] and argv[3] in ("install", "uninstall"):
        print("Note: you may need to restart the kernel to use updated packages.")
    status("pip", args=args.strip(), installed=installed, exit_code=code)
    return None


class _InstallScanner:
    """Finds the ``Successfully installed a-1.0 b-2.0`` line in pip's output."""

    def __init__(self):
        self.partial = b""
        self.names = []

    def __call__(self, data):
        lines = (self.partial + data).split(b"\n")
        # A line longer than 64 KiB is no line pip writes: keep only its tail.
        self.partial = lines.pop()[-65536:]
        for line in lines:
            self._line(line)

    def finish(self):
        """The names installed, once the output has ended."""
        if self.partial:
            self._line(self.partial)
            self.partial = b""
        return self.names

    def _line(self, line):
        text = line.decode("utf-8", "replace").strip()
        if text.startswith("Successfully installed "):
            for token in text.split()[2:]:
                name, dash, _version = token.rpartition("-")
                self.names.append(name if dash else token)


def _dist_dirs():
    """Every ``*.dist-info``/``*.egg-info`` folder on ``sys.path``, with its mtime."""
    found = {}
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                path = os.path.join(folder, name)
                try:
                    found[path] = os.stat(path).st_mtime_ns
                except OSError:
                    pass
    return found


def _dist_name(path):
    return os.path.basename(path).split("-", 1)[0]


def _top_level_modules(path):
    """The top-level modules a distribution installed, from its metadata folder."""
    try:
        return set(_read_text(os.path.join(path, "top_level.txt")).split())
    except (OSError, ValueError):
        pass
    names = set()
    try:
        record = _read_text(os.path.join(path, "RECORD"))
    except (OSError, ValueError):
        return names
    for line in record.splitlines():
        first, slash, _rest = line.split(",", 1)[0].replace("\\", "/").partition("/")
        if not first or first.startswith(".") or first == "__pycache__":
            continue
        if first.endswith((".dist-info", ".egg-info", ".data")):
            continue
        if slash:
            names.add(first)
        elif first.endswith(".py"):
            names.add(first[:-3])
        elif first.endswith((".so", ".pyd")):
            names.add(first.split(".", 1)[0])
    return names


def _evict(names, dist_dirs):
    """Drops the modules of the given distributions (and their submodules) from
    ``sys.modules``, never the runner's own or a built-in one.

    A package with a loaded extension module stays whole: a second copy of C code
    cannot load beside the first, and half a package of each version is worse than
    the old one (the printed note says to restart).
    """
    from importlib.machinery import EXTENSION_SUFFIXES

    tops = {name.lower().replace("-", "_").replace(".", "_") for name in names}
    for path in dist_dirs:
        tops |= _top_level_modules(path)
    tops -= set(sys.builtin_module_names) | {__name__.partition(".")[0], "sys", "builtins", "os"}
    by_top = {}
    for key, module in list(sys.modules.items()):
        top = key.partition(".")[0]
        if top in tops:
            by_top.setdefault(top, []).append((key, module))
    suffixes = tuple(EXTENSION_SUFFIXES)
    for entries in by_top.values():
        if any(str(getattr(module, "__file__", None) or "").endswith(suffixes) for _, module in entries):
            continue
        for key, _module in entries:
            sys.modules.pop(key, None)


def _parse_timing_options(args, flags, valued):
    """Splits leading ``-x``/``-x N`` options off a timing magic's arguments."""
    options = {}
    rest = args.strip()
    while rest.startswith("-"):
        head, _, tail = rest.partition(" ")
        letter = head[1:2]
        if letter in valued:
            value = head[2:]
            if not value:
                value, _, tail = tail.strip().partition(" ")
            try:
                options[letter] = int(value)
            except ValueError:
                raise UsageError("option -%s needs an integer, got %r" % (letter, value)) from None
        elif letter in flags and len(head) == 2:
            options[letter] = True
        else:
            break
        rest = tail.strip()
    return options, rest


def _time_block(source, filename, line_offset=0):
    before = os.times()
    start = time.perf_counter()
    try:
        value = run_source(source, filename, line_offset)
    finally:
        wall = time.perf_counter() - start
        after = os.times()
        user = after[0] - before[0]
        system = after[1] - before[1]
        print(
            "CPU times: user %s, sys: %s, total: %s"
            % (_format_duration(user), _format_duration(system), _format_duration(user + system))
        )
        print("Wall time: %s" % _format_duration(wall))
        status("time", elapsed_ms=round(wall * 1000.0, 3), cpu_ms=round((user + system) * 1000.0, 3))
    return value


def _magic_time(args):
    if not args.strip():
        raise UsageError("usage: %time statement-or-expression")
    register_source("<timed exec>", args)
    return _time_block(args, "<timed exec>")


class TimeitResult:
    """What ``%timeit -o`` returns: per-loop timings of every run."""

    def __init__(self, loops, repeat, timings):
        self.loops = loops
        self.repeat = repeat
        self.timings = timings
        self.all_runs = [t * loops for t in timings]
        self.best = min(timings)
        self.worst = max(timings)
        self.average = sum(timings) / len(timings)
        mean = self.average
        self.stdev = (sum((t - mean) ** 2 for t in timings) / len(timings)) ** 0.5

    def __repr__(self):
        return "%s \u00b1 %s per loop (mean \u00b1 std. dev. of %d run%s, %s loop%s each)" % (
            _format_duration(self.average),
            _format_duration(self.stdev),
            self.repeat,
            "" if self.repeat == 1 else "s",
            "{:,}".format(self.loops),
            "" if self.loops == 1 else "s",
        )


def _timeit(stmt, setup, args_options):
    import timeit

    options = args_options
    timer = timeit.Timer(stmt, setup, timer=time.perf_counter, globals=USER_NS)
    repeat = options.get("r", 7)
    if repeat < 1:
        raise UsageError("-r must be at least 1")
    loops = options.get("n")
    if loops is None:
        loops = 1
        while True:
            if timer.timeit(loops) >= 0.2 or loops >= 10**9:
                break
            loops *= 10
    elif loops < 1:
        raise UsageError("-n must be at least 1")
    runs = timer.repeat(repeat, loops)
    result = TimeitResult(loops, repeat, [t / loops for t in runs])
    if not options.get("q"):
        print(repr(result))
    status(
        "timeit",
        loops=loops,
        repeat=repeat,
        total_ms=round(sum(runs) * 1000.0, 3),
        best_ms=round(result.best * 1000.0, 6),
        mean_ms=round(result.average * 1000.0, 6),
    )
    return result if options.get("o") else None


def _magic_timeit(args):
    options, stmt = _parse_timing_options(args, "qo", "nr")
    if not stmt:
        raise UsageError("usage: %timeit [-n N] [-r R] [-q] [-o] statement")
    return _timeit(transform_cell(stmt), "pass", options)


def _user_names(types=None):
    ns = USER_NS
    hidden = namespace.HIDDEN
    names = []
    for name in sorted(ns):
        if name.startswith("_"):
            continue
        value = ns[name]
        if name in hidden and hidden[name] is value:
            continue
        if name in ("In", "Out", "exit", "quit"):
            continue
        if types and type(value).__name__ not in types:
            continue
        names.append(name)
    return names


def _magic_who(args):
    names = _user_names(args.split())
    if not names:
        print("Interactive namespace is empty.")
    else:
        print("\t".join(names))
    return None


def _magic_who_ls(args):
    return _user_names(args.split())


def _magic_whos(args):
    names = _user_names(args.split())
    if not names:
        print("Interactive namespace is empty.")
        return None
    ns = USER_NS
    rows = []
    for name in names:
        value = ns[name]
        info = _safe_str(value).replace("\n", "\\n")
        if len(info) > 50:
            info = info[:25] + "<...>" + info[-25:]
        rows.append((name, type(value).__name__, info))
    name_width = max(len("Variable"), max(len(r[0]) for r in rows)) + 3
    type_width = max(len("Type"), max(len(r[1]) for r in rows)) + 4
    lines = ["Variable".ljust(name_width) + "Type".ljust(type_width) + "Data/Info"]
    lines.append("-" * (name_width + type_width + len("Data/Info")))
    for name, type_name, info in rows:
        lines.append(name.ljust(name_width) + type_name.ljust(type_width) + info)
    print("\n".join(lines))
    return None


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return safe_repr(value)


def _magic_reset(args):
    options = args.split()
    unknown = [o for o in options if o not in ("-f", "-s")]
    if unknown:
        raise UsageError("%%reset: unsupported arguments %s" % " ".join(unknown))
    ex = running.current
    if "-f" not in options and ex is not None and ex.allow_stdin:
        answer = host_input("Once deleted, variables cannot be recovered. Proceed (y/[n])? ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing done.")
            return None
    _reset_namespace()
    status("reset")
    return None


def _reset_namespace():
    namespace.clear()
    prelude = namespace.prelude_source
    if prelude is not None:
        namespace.rerunning_prelude = True
        try:
            register_source("<prelude>", prelude)
            run_source(prelude, "<prelude>")
        finally:
            namespace.rerunning_prelude = False


def _read_text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _magic_load(args):
    import shlex

    parts = shlex.split(args)
    if len(parts) != 1:
        raise UsageError("usage: %load path")
    if parts[0].startswith(("http://", "https://")):
        # As IPython reads a URL: its errors (no network, say) are the cell's.
        from urllib.request import urlopen

        with urlopen(parts[0]) as response:
            source = response.read().decode("utf-8", "replace")
        display({"text/plain": "# %%load %s\n%s" % (parts[0], source)}, raw=True)
        register_source(parts[0], source)
        return run_source(source, parts[0])
    path = os.path.expanduser(parts[0])
    try:
        source = _read_text(path)
    except OSError as exc:
        raise UsageError("could not load %r: %s" % (path, exc)) from None
    display({"text/plain": "# %%load %s\n%s" % (parts[0], source)}, raw=True)
    filename = os.path.abspath(path)
    register_source(filename, source)
    return run_source(source, filename)


def _magic_run(args):
    import shlex

    parts = shlex.split(args)
    if not parts:
        raise UsageError("usage: %run path [args...]")
    path = os.path.expanduser(parts[0])
    if not os.path.isfile(path):
        raise UsageError("File %r not found." % parts[0])
    filename = os.path.abspath(path)
    source = _read_text(path)
    if filename.endswith((".ipy", ".ipynb")):
        return _run_ipython_file(filename, source, [parts[0]] + parts[1:])
    code = compile(source, filename, "exec", dont_inherit=True)
    script_ns = {"__name__": "__main__", "__file__": filename, "__builtins__": builtins}
    saved_argv = sys.argv
    sys.argv = [parts[0]] + parts[1:]
    try:
        exec(code, script_ns)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    finally:
        sys.argv = saved_argv
        for name, value in script_ns.items():
            if not (name.startswith("__") and name.endswith("__")):
                USER_NS[name] = value
    return None


def _run_ipython_file(filename, source, argv):
    """``%run`` of IPython syntax, as IPython does it: a ``.ipy`` file is one cell, a
    notebook its code cells in order, run in the user's namespace with magics allowed
    and no result shown."""
    if filename.endswith(".ipynb"):
        import json

        try:
            cells = json.loads(source).get("cells", [])
        except (ValueError, AttributeError) as exc:
            raise UsageError("%%run: %s is not a notebook: %s" % (filename, exc)) from None
        sources = []
        for cell in cells:
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                text = cell.get("source", "")
                sources.append("".join(text) if isinstance(text, list) else str(text))
    else:
        register_source(filename, source)
        sources = [source]
    saved_argv = sys.argv
    sys.argv = argv
    try:
        for cell in sources:
            run_source(cell, filename)
    finally:
        sys.argv = saved_argv
    return None


def _magic_matplotlib(args):
    backend = args.strip().lower()
    if backend not in ("", "inline", "agg"):
        print("pykernel shows figures inline only; %r ignored." % args.strip(), file=sys.stderr)
    os.environ["MPLBACKEND"] = "Agg"
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        try:
            pyplot.switch_backend("Agg")
        except Exception:
            pass
    check_patches()
    return None


def _magic_lsmagic(args):
    print("Available line magics:")
    print("  " + "  ".join("%" + name for name in sorted(LINE_MAGICS)))
    print("Available cell magics:")
    print("  " + "  ".join("%%" + name for name in sorted(CELL_MAGICS)))
    return None


class RichOutput:
    """A display captured by ``%%capture``."""

    def __init__(self, data):
        self.data = data

    def display(self):
        """Shows the captured bundle again."""
        display(self.data, raw=True)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return dict(self.data)

    def __repr__(self):
        return "<RichOutput %s>" % ", ".join(sorted(self.data))


class CapturedIO:
    """What ``%%capture`` keeps: ``.stdout``, ``.stderr``, ``.outputs``, ``.show()``."""

    def __init__(self):
        self._stdout = []
        self._stderr = []
        self.outputs = []

    @property
    def stdout(self):
        """Captured standard output."""
        return "".join(self._stdout)

    @property
    def stderr(self):
        """Captured standard error."""
        return "".join(self._stderr)

    def show(self):
        """Replays the captured streams and displays."""
        if self._stdout:
            sys.stdout.write(self.stdout)
        if self._stderr:
            sys.stderr.write(self.stderr)
        for output in self.outputs:
            output.display()

    __call__ = show

    def __repr__(self):
        return "<CapturedIO stdout=%d chars, stderr=%d chars, %d outputs>" % (
            len(self.stdout),
            len(self.stderr),
            len(self.outputs),
        )


class _Capture:
    def __init__(self, captured, stdout, stderr, displays):
        self.captured = captured
        self.streams = {"stdout": stdout, "stderr": stderr}
        self.displays = displays

    def take(self, stream, text):
        if not self.streams.get(stream):
            return False
        target = self.captured._stdout if stream == "stdout" else self.captured._stderr
        target.append(text)
        return True

    def take_display(self, bundle):
        if not self.displays:
            return False
        self.captured.outputs.append(RichOutput(bundle))
        return True


def _cell_capture(line, body, offset):
    stdout = stderr = displays = True
    name = None
    for word in line.split():
        if word == "--no-stdout":
            stdout = False
        elif word == "--no-stderr":
            stderr = False
        elif word == "--no-display":
            displays = False
        elif word.startswith("-") or name is not None:
            raise UsageError("usage: %%capture [--no-stdout] [--no-stderr] [--no-display] [name]")
        else:
            name = word
    ex = running.current
    captured = CapturedIO()
    capture = _Capture(captured, stdout, stderr, displays)
    flush_output()
    if ex is not None:
        ex.captures.append(capture)
        OUT.seal()
    try:
        value = run_source(body, ex.filename if ex else "<capture>", offset)
        if value is not None:
            display(value)
        if ex is not None:
            # The figures the body drew belong to the capture, as in IPython, whose
            # post-execute hooks (which draw them) run inside it.
            flush_figures(ex)
    finally:
        if ex is not None:
            try:
                sync_fds()
            finally:
                ex.captures.remove(capture)
        if name is not None:
            USER_NS[name] = captured
    return None


def _cell_timeit(line, body, offset):
    options, setup = _parse_timing_options(line, "qo", "nr")
    return _timeit(transform_cell(body), transform_cell(setup) or "pass", options)


def _cell_time(line, body, offset):
    ex = running.current
    return _time_block(body, ex.filename if ex else "<timed exec>", offset)


def _cell_writefile(line, body, offset):
    import shlex

    parts = shlex.split(line)
    append = False
    if parts and parts[0] in ("-a", "--append"):
        append = True
        parts = parts[1:]
    if len(parts) != 1:
        raise UsageError("usage: %%writefile [-a] path")
    path = os.path.expanduser(parts[0])
    exists = os.path.exists(path)
    if append:
        print("Appending to %s" % parts[0])
    elif exists:
        print("Overwriting %s" % parts[0])
    else:
        print("Writing %s" % parts[0])
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    if body and not body.endswith("\n"):
        body += "\n"
    with open(path, "a" if append else "w", encoding="utf-8") as handle:
        handle.write(body)
    status("writefile", path=path, bytes=len(body.encode("utf-8")), append=append)
    return None


# name -> (function, expand $name/{expr} in the arguments)
LINE_MAGICS = {
    "cd": (_magic_cd, True),
    "pwd": (_magic_pwd, False),
    "ls": (_magic_ls, True),
    "env": (_magic_env, True),
    "set_env": (_magic_set_env, True),
    "pip": (_magic_pip, True),
    "time": (_magic_time, False),
    "timeit": (_magic_timeit, False),
    "who": (_magic_who, False),
    "who_ls": (_magic_who_ls, False),
    "whos": (_magic_whos, False),
    "reset": (_magic_reset, False),
    "load": (_magic_load, True),
    "run": (_magic_run, True),
    "matplotlib": (_magic_matplotlib, False),
    "lsmagic": (_magic_lsmagic, False),
}


CELL_MAGICS = {
    "capture": (_cell_capture, False),
    "timeit": (_cell_timeit, False),
    "time": (_cell_time, False),
    "writefile": (_cell_writefile, True),
}


def line_magic(name, args):
    """``%name args``: runs the line magic ``name``."""
    entry = LINE_MAGICS.get(name)
    if entry is None:
        raise UsageError("Line magic function `%%%s` not found." % name)
    function, expands = entry
    if expands:
        args = expand(args, caller_ns(1))
    return function(args)


def cell_magic(name, line, body, offset=1):
    """``%%name line`` over ``body``, whose first line is line ``offset`` of the cell."""
    entry = CELL_MAGICS.get(name)
    if entry is None:
        raise UsageError("Cell magic `%%%%%s` not found." % name)
    function, expands = entry
    if expands:
        line = expand(line, caller_ns(1))
    return function(line, body, offset)


# The magics whose argument is a path (completion offers files).
PATH_MAGICS = ("cd", "ls", "run", "load")


from . import magics_more  # noqa: E402 - it adds its magics to the tables above

magics_more.register(LINE_MAGICS, CELL_MAGICS)
