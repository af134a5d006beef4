"""Execution: the main thread's loop over queued requests, running each cell (compile,
run, show the result), and reporting errors with tracebacks of the user's code only.

Cells run in ``namespace.USER_NS`` one at a time, in order; cells with top-level
``await`` run on one persistent event loop (``running.get_loop``), whose background
tasks keep running while the runner is idle. A cell's ``done`` frame is always sent,
after all its output.

Compiling keeps ``from __future__`` imports across cells and registers each cell's
source under its file name (``<cell-N>``) in ``linecache``, so tracebacks show the
user's lines. Post-import patches keep the interpreter fit for cells: ``plt.show()``
displays figures inline, ``getpass`` asks the host, ``asyncio`` keeps the kernel's
event loop, ``linecache`` keeps the cells' sources; ``check_patches`` runs before each
cell, and ``PostImportFinder`` (first on ``sys.meta_path``) right after one of those
modules is imported.
"""

import _queue
import _thread
import builtins
import io
import os
import sys

from . import running, signals
from .display import flush_figures, flush_figures_quietly, format_bundle, publish, pyplot_show
from .namespace import USER_NS, UsageError, record_input, record_output
from .output import FD_SYNC_BUDGET, OUT, restore_stdio, sync_fds
from .requests import QUEUE, host_getpass
from .running import Exec, get_loop, loop_has_work
from .signals import MAIN_IDENT, after_critical, critical, set_sigint
from .wire import emit, log

# What the first error report imports (linecache, tokenize with re, traceback, ast:
# 5-18 ms on a fresh kernel). They are imported ahead of time, once the runner has been
# idle this long after an execution (never during startup, which must stay fast).
_WARM_MODULES = ("linecache", "tokenize", "traceback", "ast")
_WARM_AFTER_IDLE = 0.1
# The package's directory: frames of files in it are the runner's own, never the user's.
_RUNNER_DIRS = frozenset((os.path.dirname(os.path.abspath(__file__)), os.path.dirname(__file__)))

_CO_COROUTINE = 0x0080
_PYCF_ONLY_AST = 0x0400
_PYCF_ALLOW_TOP_LEVEL_AWAIT = 0x2000
_PATCHED_MODULES = (
    "matplotlib.pyplot",
    "getpass",
    "linecache",
    "asyncio",
    "IPython.core.display_functions",
    "IPython.core.getipython",
    "comm",
)
# IPython's modules whose functions ``ipython_compat`` routes to the runner.
_IPYTHON_MODULES = ("IPython.core.display_functions", "IPython.core.getipython")
_COMPAT = __package__ + ".ipython_compat"
# Results of these types show their repr; the pretty printer is for everything else.
_REPR_TYPES = frozenset((int, float, complex, str, bytes, bool, type(None)))

count = 0  # the execution counter: stored executions only
_silent_seq = 0
_COLD = list(_WARM_MODULES)  # still to import ahead of time
SOURCES = {}  # file name -> source of every cell and snippet run so far
_last_source = None  # the file name registered last
_future_flags = 0  # compiler flags of the `from __future__` imports seen so far
_pyplot_patched = False
_getpass_patched = False
_builtins_patched = False
xmode = "Context"  # %xmode: "Minimal" reports only the exception's line


def _next_item():
    loop = running.loop
    while True:
        try:
            return QUEUE.get_nowait()
        except _queue.Empty:
            pass
        if loop is None or loop.is_closed() or not loop_has_work(loop):
            if _COLD and (count or _silent_seq):
                try:
                    return QUEUE.get(True, _WARM_AFTER_IDLE)
                except _queue.Empty:
                    _warm_up()
                    continue
            return QUEUE.get()
        # Background tasks of earlier async cells keep running while the runner is idle.
        waiter = loop.create_future()
        running.loop_waiter = waiter
        try:
            if QUEUE.empty():
                loop.run_until_complete(waiter)
        except Exception as exc:
            log("event loop failed while idle: %r" % (exc,))
        finally:
            running.loop_waiter = None


def _warm_up():
    """Imports what the first error report needs while the runner is idle, one module
    at a time, stopping as soon as a request waits (the rest waits for the next idle
    spell). Nothing is imported when one of them would not come from the standard
    library: a file of the user's by that name runs only if their code asks for it."""
    cold = _COLD
    if cold == list(_WARM_MODULES) and not _warmable(cold):
        del cold[:]
        return
    while cold and QUEUE.empty():
        name = cold.pop(0)
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except BaseException as exc:
            log("could not import %s ahead of time: %r" % (name, exc))


def _warmable(names):
    """Whether each module of ``names`` not yet imported would come from the standard
    library, found next to ``os``."""
    stdlib = os.path.dirname(getattr(os, "__file__", None) or "")
    try:
        from importlib.machinery import PathFinder

        for name in names:
            if name in sys.modules:
                continue
            spec = PathFinder.find_spec(name)
            origin = getattr(spec, "origin", None)
            if not stdlib or not origin or os.path.dirname(origin) != stdlib:
                log(
                    "not importing %s ahead of time: %s is not the standard library's"
                    % (", ".join(names), origin or name)
                )
                return False
    except Exception as exc:
        log("not importing ahead of time: %r" % (exc,))
        return False
    return True


def main_loop(run_request=None):
    """The main thread's loop: runs queued executions one at a time until ``exit``, each
    with ``run_request`` (an engine's; the light engine's ``_run_request`` by default)."""
    run = run_request or _run_request
    while True:
        try:
            item = _next_item()
        except KeyboardInterrupt:
            continue
        kind = item[0]
        if kind == "exit":
            return
        try:
            if kind == "exec":
                run(item[1])
            elif kind == "bad":
                _answer_bad_request(item[1], item[2])
            elif kind == "comm":
                running.rare("comms").handle(item[1])
        except KeyboardInterrupt:
            pass
        except BaseException as exc:
            log("internal error: %r" % (exc,))


def _answer_bad_request(rid, message):
    emit({"type": "started", "id": rid})
    emit(
        {
            "type": "error",
            "id": rid,
            "ename": "ProtocolError",
            "evalue": message,
            "traceback": ["ProtocolError: %s" % message],
        }
    )
    emit(
        {"type": "done", "id": rid, "status": "error", "executionCount": count, "cancelled": False}
    )


def start(ex):
    """Sends ``started`` for ``ex`` and makes it the running cell.

    Output a thread wrote after the last cell ended goes out first, as that cell's late
    output, and from then on a thread's writes are this cell's: both under the output
    lock, so no late line can follow ``started``.
    """
    with OUT.lock:
        OUT._flush_locked()
        emit({"type": "started", "id": ex.id})
        running.current = ex


def _run_request(spec):
    global count, _silent_seq
    if spec["store"]:
        count += 1
        number = count
        filename = "<cell-%d>" % number
    else:
        _silent_seq += 1
        number = None
        filename = "<silent-%d>" % _silent_seq
    ex = Exec(spec["id"], spec["silent"], spec["store"], spec["allow_stdin"], filename, number)
    signals.deferred = False
    start(ex)
    status = "ok"
    cancelled = False
    try:
        try:
            restore_stdio()
            _apply_runtime(spec)
            check_patches()
            if ex.store:
                record_input(spec["code"], number)
            compat = sys.modules.get(__package__ + ".ipython_compat")
            if compat is not None and compat.events_wanted():
                _run_cell_with_events(compat, ex, spec["code"])
            else:
                _run_cell(ex, spec["code"])
        except BaseException as exc:
            set_sigint(False)
            status = "error"
            cancelled = isinstance(exc, KeyboardInterrupt)
            flush_figures_quietly(ex)
            _report_error(ex, exc)
    except BaseException as exc:
        status = "error"
        log("failed to report an error: %r" % (exc,))
    finally:
        set_sigint(False)
        _finish(ex, status, cancelled)


@critical
def _finish(ex, status, cancelled):
    try:
        sync_fds(FD_SYNC_BUDGET)
    except Exception as exc:
        log("fd sync failed: %r" % (exc,))
    try:
        with OUT.lock:
            OUT._flush_locked()
            ex.finished = True
            running.current = None
            running.last = ex
    finally:
        after_critical()
    emit(
        {
            "type": "done",
            "id": ex.id,
            "status": status,
            "executionCount": count,
            "cancelled": cancelled,
        }
    )


def _apply_runtime(spec):
    env = spec.get("env")
    if env:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    cwd = spec.get("cwd")
    if cwd:
        os.chdir(cwd)
        resolved = os.getcwd()
        sys.path[:] = [p for p in sys.path if p != resolved]
        sys.path.insert(0, resolved)


def register_source(filename, source):
    """Keeps ``source`` for tracebacks that show lines of ``filename``."""
    global _last_source
    SOURCES[filename] = source
    _last_source = filename
    linecache = sys.modules.get("linecache")
    if linecache is not None:
        _linecache_add(linecache, filename, source)


def _linecache_add(linecache, filename, source):
    lines = source.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(source), None, lines, filename)


def _sync_linecache():
    """Imports ``linecache`` and puts every cell's source into it."""
    import linecache

    _add_all(linecache)
    return linecache


def _resync_linecache():
    """Puts the sources back into ``linecache`` when it has lost them.

    Sources go into linecache as they register; all of them are added again only when
    it has lost them (``linecache.clearcache()``, or linecache imported since), which
    the latest one shows, so a cell does not cost O(cells) here.
    """
    linecache = sys.modules.get("linecache")
    if linecache is not None and _last_source not in linecache.cache:
        _add_all(linecache)


def _add_all(linecache):
    for filename, source in SOURCES.items():
        if filename not in linecache.cache:
            _linecache_add(linecache, filename, source)


def _parse(source, filename):
    """Parses cell source into an AST, remembering ``from __future__`` imports."""
    global _future_flags
    tree = compile(
        source,
        filename,
        "exec",
        _PYCF_ONLY_AST | _PYCF_ALLOW_TOP_LEVEL_AWAIT | _future_flags,
        dont_inherit=True,
    )
    import _ast

    for node in tree.body:
        if isinstance(node, _ast.ImportFrom) and node.module == "__future__":
            import __future__

            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                if feature is not None:
                    _future_flags |= feature.compiler_flag
    return tree


def _compile_parts(tree, filename):
    """Splits a module into its statements, compiled in as few parts as the
    ``from __future__`` imports allow, and its final expression, compiled."""
    import _ast

    flags = _PYCF_ALLOW_TOP_LEVEL_AWAIT | _future_flags
    expr_code = None
    body = tree.body
    if body and isinstance(body[-1], _ast.Expr):
        last = body.pop()
        expr_code = compile(
            _ast.Expression(body=last.value), filename, "eval", flags, dont_inherit=True
        )
    parts = []
    for statements in _future_runs(body, _ast):
        module = _ast.Module(body=statements, type_ignores=[])
        parts.append(compile(module, filename, "exec", flags, dont_inherit=True))
    return parts, expr_code


def _future_runs(body, _ast):
    """The statements in runs that each compile as a module: IPython compiles a cell
    statement by statement, so a ``from __future__`` import may follow other
    statements; such an import starts a run of its own."""
    runs = []
    current = []
    leading = True  # still where Python allows a __future__ import
    for index, node in enumerate(body):
        future = isinstance(node, _ast.ImportFrom) and node.module == "__future__"
        docstring = (
            index == 0
            and isinstance(node, _ast.Expr)
            and isinstance(getattr(node.value, "value", None), str)
        )
        if future and not leading:
            if current:
                runs.append(current)
            current = []
        elif not future and not docstring:
            leading = False
        current.append(node)
    if current:
        runs.append(current)
    return runs


def _is_async(code):
    """Whether compiled ``code`` must be awaited (it has top-level ``await``)."""
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


def _execute(parts, expr, ns):
    """Runs compiled parts in ``ns``; returns the final expression's value (or None)."""
    if _is_async(expr) or any(_is_async(part) for part in parts):
        return _run_async(_async_body(parts, expr, ns))
    for part in parts:
        exec(part, ns)
    if expr is not None:
        return eval(expr, ns)
    return None


async def _async_body(parts, expr, ns):
    for part in parts:
        result = eval(part, ns)
        if _is_async(part):
            await result
    if expr is None:
        return None
    value = eval(expr, ns)
    if _is_async(expr):
        value = await value
    return value


def _run_async(coro):
    loop = get_loop()
    if loop.is_running():
        coro.close()
        raise RuntimeError("top-level await cannot run inside an already running event loop")
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            # Interrupted while suspended: cancel the cell and let it unwind.
            import asyncio

            task.cancel()
            try:
                loop.run_until_complete(asyncio.wait([task], timeout=2.0))
            except BaseException:
                pass
        if task.done() and not task.cancelled():
            task.exception()  # mark it retrieved so asyncio does not log it later
        raise


def _run_cell(ex, code):
    register_source(ex.filename, code)
    source = _transform(code)
    tree = _parse(source, ex.filename)
    body, expr = _compile_parts(tree, ex.filename)
    set_sigint(True)
    value = _execute(body, expr, USER_NS)
    if expr is not None and not ex.silent and value is not None and not _quiet(source):
        _display_result(ex, value)
    flush_figures(ex)
    set_sigint(False)


def _run_cell_with_events(compat, ex, code):
    """``_run_cell`` between the ``get_ipython().events`` callbacks."""
    result = compat.before_cell(code, ex.silent, ex.store)
    error = None
    try:
        _run_cell(ex, code)
    except BaseException as exc:
        error = exc
        raise
    finally:
        compat.after_cell(result, count, error)


def _transform(code):
    """Rewrites magics, shell escapes and help, and strips pasted prompts; the transforms
    module is imported only for a cell that may have one of them."""
    automagic = _automagic(code)
    if automagic is not None:
        return automagic
    if (
        "%" not in code
        and "!" not in code
        and "?" not in code
        and ">>>" not in code
        and "..." not in code
        and "In [" not in code
    ):
        return code
    return running.rare("transforms").transform_cell(code)


def _automagic(code):
    """IPython's automagic: a one-line cell whose first word names a line magic that no
    variable, builtin or keyword shadows (``ls data``, ``pwd``, ``cd ..``) runs that
    magic with the rest of the line; None for any other cell. As in IPython, ``ls = 1``
    and ``ls, b = 1, 2`` stay Python, and cells of more than one line are never read
    this way."""
    line = code.strip()
    if not line or not (line[0].isalpha() or line[0] == "_") or "\n" in line:
        return None
    if line.endswith("?"):
        # Help (`pwd?`), which IPython reads before its automagic.
        return None
    end = 1
    while end < len(line) and (line[end].isalnum() or line[end] in "_."):
        end += 1
    name, rest = line[:end], line[end:].lstrip()
    if "." in name or rest[:1] in ("=", ","):
        return None
    import builtins
    import keyword

    if name in USER_NS or name in builtins.__dict__ or keyword.iskeyword(name):
        return None
    if name not in running.rare("magics").LINE_MAGICS:
        return None
    return "__pykernel__.line_magic(%r, %r)\n" % (name, rest)


def run_source(source, filename, line_offset=0, ns=None):
    """Runs source (magics allowed) and returns its final expression's value."""
    if ns is None:
        ns = USER_NS
    transformed = _transform(source)
    tree = _parse("\n" * line_offset + transformed, filename)
    body, expr = _compile_parts(tree, filename)
    value = _execute(body, expr, ns)
    return None if _quiet(transformed) else value


def _quiet(source):
    """Whether the cell's last line ends with ``;`` (outside comments and strings)."""
    tail = source.rstrip()
    if ";" not in tail[tail.rfind("\n") + 1 :]:
        return False
    import tokenize

    last = None
    skip = (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in skip and token.type not in (tokenize.INDENT, tokenize.DEDENT):
                last = token
    except (tokenize.TokenError, SyntaxError):
        return False
    return last is not None and last.type == tokenize.OP and last.string == ";"


def _display_result(ex, value):
    if type(value) in _REPR_TYPES and _COMPAT not in sys.modules:
        formatted = format_bundle(value), None
    else:
        formatted = running.rare("ipython_compat").result_with_metadata(value)
    if ex.store:
        record_output(ex.number, value)
    if formatted is not None:
        publish("result", formatted[0], metadata=formatted[1])


def report_error(exc):
    """Reports ``exc`` as the running cell's error (``get_ipython().showtraceback``)."""
    ex = running.current
    if ex is not None:
        _report_error(ex, exc)


def _report_error(ex, exc):
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
    if sys.version_info >= (3, 12):
        sys.last_exc = exc
    try:
        evalue = str(exc)
    except Exception:
        evalue = "<exception str() failed>"
    if isinstance(exc, SyntaxError) and exc.filename == ex.filename and ex.filename in SOURCES:
        evalue = running.rare("ipython_compat").syntax_error_value(exc, SOURCES[ex.filename])
    if isinstance(exc, UsageError):
        lines = ["UsageError: %s" % evalue]
    elif isinstance(exc, SystemExit):
        # As IPython reports it: no traceback, and Python's own last line.
        last = "SystemExit: %s" % evalue if evalue else "SystemExit"
        lines = ["An exception has occurred, use %tb to see the full traceback.", "", last]
    else:
        lines = _format_traceback(exc)
        if xmode == "Minimal":
            lines = lines[-1:]
    publish(
        "error",
        {"ename": type(exc).__name__, "evalue": evalue, "traceback": lines},
    )


def _format_traceback(exc):
    _sync_linecache()
    import traceback

    try:
        # limit=0: the standard library would summarize every frame (a million after
        # deep recursion, which takes it about a minute); the stacks come from
        # _compact_stack instead.
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__, limit=0)
        _attach_stacks(te, exc, set())
        return [chunk.rstrip("\n") for chunk in te.format()]
    except Exception:
        return ["%s: %s" % (type(exc).__name__, exc)]


def _is_cell_file(filename):
    return filename.startswith("<") or filename in SOURCES


# A traceback keeps at most this many frames at each end (after repeats are folded).
_TB_KEEP = 100


def _attach_stacks(te, exc, seen):
    """Gives ``te`` (and the exceptions it chains or groups) the compact stack of its
    exception."""
    if te is None or exc is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = _compact_stack(exc.__traceback__)
    te.format_exception_only = _ipython_exception_line(te.format_exception_only, exc)
    _attach_stacks(te.__cause__, exc.__cause__, seen)
    _attach_stacks(te.__context__, exc.__context__, seen)
    nested = getattr(te, "exceptions", None) or ()
    for nested_te, nested_exc in zip(nested, getattr(exc, "exceptions", None) or ()):
        _attach_stacks(nested_te, nested_exc, seen)


def _ipython_exception_line(format_exception_only, exc):
    """``format_exception_only`` with the exception's line as IPython writes it: the
    class's bare name and ``: `` even before an empty message (``KeyboardInterrupt: ``,
    ``JSONDecodeError: ...`` where Python writes ``json.decoder.JSONDecodeError: ...``)."""
    cls = type(exc)
    qualified = getattr(cls, "__qualname__", cls.__name__)
    module = getattr(cls, "__module__", None)
    if module not in ("__main__", "builtins"):
        qualified = "%s.%s" % (module, qualified)
    name = cls.__name__

    def format_line(*args, **kwargs):
        lines = list(format_exception_only(*args, **kwargs))
        if isinstance(exc, SyntaxError):
            return lines
        for index, line in enumerate(lines):
            if line == qualified + "\n":
                lines[index] = name + ": \n"
                break
            if line.startswith(qualified + ": "):
                lines[index] = name + line[len(qualified) :]
                break
        return lines

    return format_line


def _compact_stack(tb):
    """The user's frames of ``tb``: runner frames and everything before the user's first
    frame dropped, a run of one repeated frame cut to three with a note of how often it
    repeats (as IPython and the standard library show it), and at most ``_TB_KEEP``
    frames kept at each end, so formatting stays bounded in time and size."""
    import traceback

    entries = []
    notes = {}  # index in entries -> a line shown after that frame
    last_code = last_lineno = None
    run = 0
    runner_code = {}  # code object -> whether it is the runner's
    # Cheap checks first: this loop may see a million frames.
    while tb is not None:
        frame, lineno, lasti, tb = tb.tb_frame, tb.tb_lineno, tb.tb_lasti, tb.tb_next
        code = frame.f_code
        if code is last_code and lineno == last_lineno:
            run += 1
            if run >= 3:
                notes[len(entries) - 1] = run - 2
                continue
            entries.append((frame, lineno, lasti))
            continue
        runner = runner_code.get(code)
        if runner is None:
            runner = runner_code[code] = os.path.dirname(code.co_filename) in _RUNNER_DIRS
        if runner or (not entries and not _is_cell_file(code.co_filename)):
            continue
        last_code, last_lineno, run = code, lineno, 0
        entries.append((frame, lineno, lasti))
    notes = {
        index: "  [Previous line repeated %d more time%s]\n" % (n, "" if n == 1 else "s")
        for index, n in notes.items()
    }
    if len(entries) > 2 * _TB_KEEP:
        omitted = len(entries) - 2 * _TB_KEEP
        shift = len(entries) - 2 * _TB_KEEP
        kept_notes = {i: text for i, text in notes.items() if i < _TB_KEEP}
        kept_notes.update(
            (i - shift, text) for i, text in notes.items() if i >= len(entries) - _TB_KEEP
        )
        note = "  [... %d frames omitted ...]\n" % omitted
        kept_notes[_TB_KEEP - 1] = kept_notes.get(_TB_KEEP - 1, "") + note
        entries = entries[:_TB_KEEP] + entries[-_TB_KEEP:]
        notes = kept_notes
    stack = _compact_stack_type()(_summarize(traceback, entries))
    stack.notes = notes
    return stack


def _summarize(traceback, entries):
    """The stack summary of ``(frame, lineno, lasti)`` entries, with the column positions
    that put ``^^^^`` under the failing expression on Python 3.11 and newer."""
    extract = getattr(traceback.StackSummary, "_extract_from_extended_frame_gen", None)
    position = getattr(traceback, "_get_code_position", None)
    if extract is None or position is None:
        return traceback.StackSummary.extract((frame, lineno) for frame, lineno, _ in entries)

    def positions():
        for frame, lineno, lasti in entries:
            where = position(frame.f_code, lasti)
            if where[0] is None:
                where = (lineno,) + tuple(where[1:])
            yield frame, where

    return extract(positions())


_COMPACT_STACK = None


def _compact_stack_type():
    """A stack summary that shows a note after some frames (see ``_compact_stack``);
    made on first use, as ``traceback`` is imported then."""
    global _COMPACT_STACK
    if _COMPACT_STACK is not None:
        return _COMPACT_STACK
    import traceback

    class CompactStack(traceback.StackSummary):
        notes = {}

        def format(self, **options):
            lines = []
            # One string per frame: no run in it is longer than three. Python 3.13
            # passes `colorize`.
            for index, chunk in enumerate(super().format(**options)):
                lines.append(chunk)
                note = self.notes.get(index)
                if note:
                    lines.append(note)
            return lines

    _COMPACT_STACK = CompactStack
    return CompactStack


def check_patches(just_loaded=None):
    """Applies each patch whose module is loaded now (before each cell, after
    ``%matplotlib``, and right after one of the modules is imported)."""
    global _pyplot_patched, _getpass_patched, _builtins_patched
    modules = sys.modules
    if not _builtins_patched:
        _builtins_patched = True
        if not hasattr(builtins, "get_ipython"):
            builtins.get_ipython = get_ipython
    for name in _IPYTHON_MODULES:
        module = modules.get(name)
        if module is not None and not getattr(module, "_pykernel_routed", False):
            running.rare("ipython_compat").patch_ipython()
            break
    comm = modules.get("comm")
    if (
        comm is not None
        and not getattr(comm, "_pykernel_comms", False)
        and (
            comm is just_loaded
            or not getattr(getattr(comm, "__spec__", None), "_initializing", False)
        )
    ):
        # Widgets talk through ``comm``: the runner's comms replace its defaults, once
        # the package has defined them.
        comm._pykernel_comms = True
        running.rare("comms").install()
    if not _pyplot_patched and "matplotlib.pyplot" in modules:
        _pyplot_patched = True
        modules["matplotlib.pyplot"].show = pyplot_show
    if not _getpass_patched and "getpass" in modules:
        _getpass_patched = True
        modules["getpass"].getpass = host_getpass
    asyncio = modules.get("asyncio")
    if (
        asyncio is not None
        and _thread.get_ident() == MAIN_IDENT
        and (
            asyncio is just_loaded
            or not getattr(getattr(asyncio, "__spec__", None), "_initializing", False)
        )
    ):
        # Sync cells see the kernel's loop too (asyncio.run() may have unset it).
        try:
            asyncio.set_event_loop(get_loop())
        except Exception as exc:
            log("could not set the event loop: %r" % (exc,))
    _resync_linecache()


def get_ipython():
    """The running shell (see ``ipython_compat``), whose module is imported on first use."""
    return running.rare("ipython_compat").get_ipython()


class PostImportFinder:
    """Patches ``matplotlib.pyplot`` and ``getpass`` right after they are imported."""

    def __init__(self):
        self._busy = set()

    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHED_MODULES or name in self._busy:
            return None
        self._busy.add(name)
        try:
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(name, path)
        except Exception:
            spec = None
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader:
    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            check_patches(module)
        except Exception as exc:
            log("post-import patch failed: %r" % (exc,))
