"""What the IPython engine's start leaves out, and that each piece left out still works
as IPython's when it is first used: the modules deferred while the shell is made, the
object inspector, cell names without ``hashlib``, and the input transformer that skips
its token pass over valid Python."""

import ast
import marshal

import pytest

from conftest import Kernel, done, error, ok, result, stdout
from test_ipython_engine import displays, ipy, ipython_env  # noqa: F401 - ipy is the fixture

# Modules IPython 9 would load at start and the engine's start keeps out (IPython 8
# imports several of them for its terminal application anyway).
KEPT_OUT = [
    "logging.config",
    "tempfile",
    "pprint",
    "urllib.parse",
    "IPython.core.application",
    "IPython.core.oinspect",
    "hashlib",
]

# Cells to transform as IPython does: its escapes, prompts and cell magics, and valid
# Python around them, with the line breaks ``str.splitlines`` knows.
CELLS = [
    "x = 1\ny = x + 1\n",
    "def f(a, b=2):\n    return a % b\nf(5)",
    "s = 'what?'  # or why?\n",
    "v = (1,\n     2) % 3\n",
    "%ls",
    "%time x = 1\n",
    "a = 1\n%time b = a + 1\nb",
    "def f():\n    %time 1\n",
    "files = %ls\n",
    "files =%ls -a\n",
    "x = !echo hi\n",
    "y = \\\n  !echo hi\n",
    "!echo hi\n",
    "!!echo hi\n",
    "len?",
    "len??",
    "x = 1\nprint?\n",
    "*int*?",
    "/print 1 2\n",
    ",print a b\n",
    ";print a b\n",
    "%%bash\necho hi\n",
    ">>> x = 1\n>>> x\n",
    "In [1]: x = 1\n",
    "   x = 1\n   y = 2\n",
    "\n\nx = 1\n",
    "x = 1\r\n%ls\r\n",
    "x = 1\r%ls\r",
    "x = 1\u2028%ls\n",
    "x = 1\x0c%ls\n",
    "x = 1\x1c%ls\n",
    "await f()\n",
    "print(1); %ls\n",
    "x = (1,\n%2)\n",
    "if True:\n    x = 1\n  %ls\n",
    "'''\n%not a magic\n'''\n",
]


def test_the_start_leaves_out_what_only_late_features_need(ipy):  # noqa: F811
    frames = ipy.run(
        "import sys, IPython\n"
        "[m for m in %r if m in sys.modules] if IPython.version_info[0] >= 9 else []"
        % (KEPT_OUT,)
    )
    assert result(frames) == "[]"
    # No stand-in is left behind in the module table.
    frames = ipy.run("[m for m, mod in sys.modules.items() if type(mod).__name__ == '_StandIn']")
    assert result(frames) == "[]"


def test_deferred_modules_work_when_first_used(ipy):  # noqa: F811
    # What IPython and traitlets hold from the start (stand-ins and functions imported
    # from them) reaches the real modules.
    ok(
        ipy.run(
            "from traitlets.config import application\n"
            "application.dictConfig({'version': 1, 'disable_existing_loggers': False})\n"
            "assert application.pprint.pformat({'a': 1}) == \"{'a': 1}\"\n"
            "import logging\n"
            "assert callable(logging.config.fileConfig)\n"
            "from pathlib import Path\n"
            "assert Path('/tmp/a b').as_uri() == 'file:///tmp/a%20b'\n"
            "from IPython.paths import get_ipython_dir\n"
            "assert get_ipython_dir()"
        )
    )
    # Imported by the user, each is the real module, in sys.modules and on its package.
    frames = ipy.run(
        "import logging.config, tempfile, pprint, urllib.parse, os, sys\n"
        "mods = [logging.config, tempfile, pprint, urllib.parse]\n"
        "assert all(sys.modules[m.__name__] is m and m.__file__ for m in mods)\n"
        "assert logging.config is sys.modules['logging.config']\n"
        "d = tempfile.mkdtemp(); os.rmdir(d)\n"
        "urllib.parse.urlsplit('http://a/b').path, pprint.pformat([1])"
    )
    assert result(frames) == "('/b', '[1]')"


def test_the_inspector_is_made_on_first_use(ipy):  # noqa: F811
    frames = ipy.run(
        "import IPython, sys\n"
        "lazy = IPython.version_info[0] >= 9\n"
        "sh = get_ipython()\n"
        "before = type(vars(sh)['inspector']).__name__\n"
        "(before == '_LazyInspector') == lazy"
    )
    assert result(frames) == "True"
    # Changing the colours before the first use reaches the inspector made later.
    ok(ipy.run("%colors linux"))
    (page,) = displays(ipy.run("%pinfo len"))
    assert "Return the number of items in a container." in page["text/plain"]
    frames = ipy.run(
        "from IPython.core.oinspect import Inspector\n"
        "type(sh.inspector) is Inspector, sh.inspector is sh.inspector,"
        " sh.inspector.parser.theme_name if lazy else 'linux'"
    )
    assert result(frames) == "(True, True, 'linux')"
    (found,) = displays(ipy.run("%psearch a*"))
    assert "abs\n" in found["text/plain"]


def test_the_inspector_class_can_be_configured(ipy):  # noqa: F811
    ok(
        ipy.run(
            "from IPython.core.oinspect import Inspector\n"
            "class Mine(Inspector):\n"
            "    pass\n"
            "get_ipython().inspector_class = Mine"
        )
    )
    frames = ipy.run("x = 1\nx?")
    assert done(frames)["status"] == "ok"
    assert "Type:" in displays(frames)[0]["text/plain"]
    # IPython 8 made its inspector at start, before the class changed.
    frames = ipy.run(
        "import IPython\n"
        "type(get_ipython().inspector).__name__ == 'Mine' or IPython.version_info[0] < 9"
    )
    assert result(frames) == "True"


def test_cells_are_transformed_as_ipython_transforms_them(ipy):  # noqa: F811
    frames = ipy.run(
        "from IPython.core.inputtransformer2 import TransformerManager\n"
        "ours = get_ipython().input_transformer_manager\n"
        "assert type(ours) is not TransformerManager\n"
        "theirs = TransformerManager()\n"
        "def outcome(manager, cell):\n"
        "    try:\n"
        "        return manager.transform_cell(cell)\n"
        "    except Exception as exc:\n"
        "        return type(exc).__name__\n"
        "cells = %r\n"
        "[c for c in cells if outcome(ours, c) != outcome(theirs, c)]" % (CELLS,)
    )
    assert result(frames) == "[]"


def test_the_transformers_parse_serves_the_compiler_once(ipy):  # noqa: F811
    # A `%` first on a line (inside brackets here) takes the parse that finds the cell
    # valid Python; the compiler then takes that tree instead of parsing again.
    frames = ipy.run(
        "sh = get_ipython()\n"
        "cell = sh.input_transformer_manager.transform_cell('v = (7\\n  % 2)\\n')\n"
        "offered = sh.compile._offered[1]\n"
        "first, second = sh.compile.ast_parse(cell), sh.compile.ast_parse(cell)\n"
        "import ast\n"
        "first is offered, second is not offered, ast.dump(first) == ast.dump(second)"
    )
    assert result(frames) == "(True, True, True)"
    assert result(ipy.run("v = (7\n  % 2)\nv")) == "1"


def test_cells_mixing_python_and_ipython_syntax_run(ipy):  # noqa: F811
    assert result(ipy.run("a = 1\n%time b = a + 1\nb")) == "2"
    assert result(ipy.run("files = !echo one\nfiles")) == "['one']"
    assert stdout(ipy.run("def f():\n    return 'what?'\nprint(f())")) == "what?\n"
    assert error(ipy.run("x = (1,\n%2)"))["ename"] == "SyntaxError"


def test_async_cells_still_run_as_coroutines(ipy):  # noqa: F811
    frames = ipy.run(
        "import asyncio, contextlib\n"
        "@contextlib.asynccontextmanager\n"
        "async def cm():\n"
        "    yield 5\n"
        "async def agen():\n"
        "    yield 1\n"
        "    yield 2\n"
        "async with cm() as v:\n"
        "    print(v)\n"
        "[x async for x in agen()]"
    )
    assert stdout(frames) == "5\n"
    assert result(frames) == "[1, 2]"
    # The words alone (in strings) make no coroutine.
    assert result(ipy.run("'await and async'")) == "'await and async'"


def test_cell_names_are_ipykernels(ipy):  # noqa: F811
    # ipykernel names a cell by MurmurHash2 of its source in its temporary folder; this
    # is its name for "collections.", and a SyntaxError shows it.
    frames = ipy.run(
        "import os\n"
        "name = get_ipython().compile.get_code_name('collections.', 'collections.', 1)\n"
        "os.path.basename(name), os.path.basename(os.path.dirname(name)) == f'ipykernel_{os.getpid()}'"
    )
    assert result(frames) == "('1397204736.py', True)"
    assert error(ipy.run("collections."))["evalue"] == "invalid syntax (1397204736.py, line 1)"
    err = error(ipy.run("def g():\n    return 1 / 0\ng()"))
    assert "Cell In[3], line 3" in "\n".join(err["traceback"])
    assert result(ipy.run("import inspect\ninspect.getsource(g).splitlines()[0]")) == (
        "'def g():'"
    )


def test_history_and_the_completer_when_first_used(ipy):  # noqa: F811
    ok(ipy.run("a = 6"))
    assert result(ipy.run("a * 7")) == "42"
    assert "a = 6" in ok(ipy.run("%history -n"))
    assert result(ipy.run("_i2, Out[2]")) == "('a * 7', 42)"
    frames = ipy.run("get_ipython().complete('tempf', 'import tempf')[1]")
    assert result(frames) == "['tempfile']"



def regex_kernel(tmp_path):
    """A kernel on the IPython engine that may write the runner's caches."""
    env = ipython_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return Kernel(cwd=str(tmp_path), env=env)


# In a kernel: the recorded patterns, each with whether it equals ``re``'s own compile
# (a Pattern compares its text, flags and compiled code).
CHECK_RECORDED = (
    "import marshal, re, sys, _sre\n"
    "engine = sys.modules['pykernel_runner.ipython_engine']\n"
    "compiler = getattr(re, '_compiler', None) or sys.modules['sre_compile']\n"
    "with open(engine.regex_cache_path(), 'rb') as f:\n"
    "    recorded = marshal.load(f)\n"
    "len(recorded) > 20, [k for k, a in recorded.items()"
    " if _sre.compile(*a) != compiler.compile(*k)]"
)


def test_regular_expressions_are_recorded_and_replayed_as_re_compiles_them(tmp_path):
    # One test, so that no other test of this file damages the record while it reads it
    # (kernels of other tests only ever replace it whole).
    pytest.importorskip("IPython")
    first = regex_kernel(tmp_path)
    try:
        assert result(first.run(CHECK_RECORDED)) == "(True, [])"
        path = ast.literal_eval(result(first.run("engine.regex_cache_path()")))
    finally:
        first.close()
    # The next start compiles from the record; IPython's patterns behave as compiled.
    second = regex_kernel(tmp_path)
    try:
        assert result(second.run(CHECK_RECORDED)) == "(True, [])"
        frames = second.run(
            "from IPython.core import splitinput\nsplitinput.split_user_input('%ls -l')[:3]"
        )
        assert result(frames) == "('', '%', 'ls')"
        assert result(second.run("a = 1\n%time b = a\nb")) == "1"
    finally:
        second.close()
    # A damaged record is ignored, and the start replaces it.
    with open(path, "wb") as f:
        f.write(b"not marshal data")
    third = regex_kernel(tmp_path)
    try:
        assert result(third.run("1 + 1")) == "2"
        assert result(third.run(CHECK_RECORDED)) == "(True, [])"
    finally:
        third.close()
    # A start whose IPython fails to import (compiling only some patterns) keeps it.
    shadow = tmp_path / "shadow" / "IPython"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("import textwrap\nraise ImportError('no IPython')\n")
    env = ipython_env(PYTHONPATH=str(shadow.parent))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    broken = Kernel(cwd=str(tmp_path), env=env, prelude=False)
    try:
        assert "engine:light" in broken.hello["features"]
    finally:
        broken.close()
    with open(path, "rb") as f:
        assert len(marshal.load(f)) > 20


def test_the_shell_has_ipykernels_kernel_surface_and_in_memory_history(ipy):  # noqa: F811
    code = (
        "ip = get_ipython()\n"
        "ip.kernel.session.send(ip.kernel.iopub_socket, 'display_data',"
        " {'data': {'text/plain': 'sent'}, 'metadata': {}}, parent=ip.parent_header)\n"
        "ip.history_manager.hist_file, ip.parent_header['header']['msg_type']"
    )
    frames = ipy.run(code)
    assert [bundle["text/plain"] for bundle in displays(frames)] == ["sent"]
    assert result(frames) == "(':memory:', 'execute_request')"
