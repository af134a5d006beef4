"""Running cells: results, history, counters, await, errors and tracebacks."""

import sys
import time

import pytest

from conftest import done, error, of_type, ok, result, stdout


def test_the_last_expression_is_the_result(kernel):
    assert result(kernel.run("x = 41\nx + 1")) == "42"


def test_no_result_when_the_value_is_none_or_not_an_expression(kernel):
    assert result(kernel.run("None")) is None
    assert result(kernel.run("y = 3")) is None
    assert result(kernel.run("print('p')")) is None


def test_only_the_last_statement_is_displayed(kernel):
    frames = kernel.run("1\n2\n3")
    assert result(frames) == "3"
    assert len(of_type(frames, "result")) == 1


def test_a_trailing_semicolon_suppresses_the_result(kernel):
    assert result(kernel.run("1 + 1;")) is None
    assert result(kernel.run("1 + 1;  # with a comment")) is None
    assert result(kernel.run("x = 5\nx;\n\n")) is None
    assert result(kernel.run("'a;'")) == "'a;'"
    assert result(kernel.run("1 + 1  # ; in a comment")) == "2"


def test_silent_cells_produce_no_result(kernel):
    assert result(kernel.run("40 + 2", silent=True)) is None


def test_output_history_variables(kernel):
    ok(kernel.run("'one'"))
    ok(kernel.run("'two'"))
    ok(kernel.run("'three'"))
    frames = kernel.run("print(_, __, ___)\nprint(_1, _2, _3)\nprint(Out[2], sorted(Out))")
    assert ok(frames) == "three two one\none two three\ntwo [1, 2, 3]\n"


def test_input_history_variables(kernel):
    ok(kernel.run("a = 1"))
    ok(kernel.run("b = 2"))
    frames = kernel.run("print(repr(_i), repr(_ii), repr(_i3), In[1], len(In))")
    assert ok(frames) == "'b = 2' 'a = 1' %r a = 1 4\n" % "print(repr(_i), repr(_ii), repr(_i3), In[1], len(In))"
    # Three cells back from the fourth cell is the first one.
    assert ok(kernel.run("print(_iii)")) == "a = 1\n"


def test_underscore_stops_updating_once_the_user_assigns_it(kernel):
    ok(kernel.run("10"))
    ok(kernel.run("_ = 'mine'"))
    ok(kernel.run("20"))
    # `__` still tracks results: the one before 20 was 10.
    assert ok(kernel.run("print(_, __)")) == "mine 10\n"


def test_the_counter_counts_stored_executions_only(kernel):
    assert done(kernel.run("1"))["executionCount"] == 1
    assert done(kernel.run("1", silent=True))["executionCount"] == 1
    assert done(kernel.run("1", storeHistory=False))["executionCount"] == 1
    assert done(kernel.run("raise ValueError"))["executionCount"] == 2
    assert done(kernel.run("1"))["executionCount"] == 3
    # A stored cell is named after its number; the result lands in Out under it.
    assert ok(kernel.run("import sys; print(sys._getframe().f_code.co_filename)")) == "<cell-4>\n"


def test_the_namespace_persists_and_is_main(kernel):
    ok(kernel.run("def square(v):\n    return v * v\nclass Point:\n    pass"))
    frames = kernel.run("import pickle\nprint(square(7), __name__, Point.__module__)\npickle.loads(pickle.dumps(Point())).__class__.__name__")
    assert ok(frames) == "49 __main__ __main__\n"
    assert result(frames) == "'Point'"


def test_cell_source_is_available_to_inspect_and_linecache(kernel):
    ok(kernel.run("def documented():\n    return 'body line'"))
    frames = kernel.run("import inspect\nprint(inspect.getsource(documented), end='')")
    assert ok(frames) == "def documented():\n    return 'body line'\n"


def test_cell_sources_come_back_after_linecache_is_cleared(kernel):
    ok(kernel.run("first = 'cell one'"))
    ok(kernel.run("import linecache\nlinecache.clearcache()"))
    frames = kernel.run("print(repr(linecache.getline('<cell-1>', 1)), repr(linecache.getline('<cell-2>', 2)))")
    assert ok(frames) == "\"first = 'cell one'\\n\" 'linecache.clearcache()\\n'\n"


def test_top_level_await(kernel):
    assert result(kernel.run("import asyncio\nx = await asyncio.sleep(0, result=21)\nx * 2")) == "42"
    assert result(kernel.run("x + 1")) == "22"
    assert result(kernel.run("await asyncio.sleep(0, result='last')")) == "'last'"


def test_async_for_and_async_with_at_top_level(kernel):
    frames = kernel.run(
        "import asyncio, contextlib\n"
        "async def gen():\n"
        "    for i in range(3):\n"
        "        await asyncio.sleep(0)\n"
        "        yield i\n"
        "@contextlib.asynccontextmanager\n"
        "async def ctx():\n"
        "    yield 'inside'\n"
        "async with ctx() as value:\n"
        "    print(value)\n"
        "[i async for i in gen()]"
    )
    assert ok(frames) == "inside\n"
    assert result(frames) == "[0, 1, 2]"


def test_sync_cells_see_the_kernel_event_loop(kernel):
    frames = kernel.run(
        "import asyncio\n"
        "async def add(a, b):\n"
        "    return a + b\n"
        "print(asyncio.run(add(1, 2)))"
    )
    assert ok(frames) == "3\n"
    # asyncio.run() unsets the current loop; the next cell has the kernel's loop again.
    frames = kernel.run("loop = asyncio.get_event_loop()\nprint(loop.run_until_complete(add(3, 4)))")
    assert ok(frames) == "7\n"
    assert result(kernel.run("await add(5, 6)")) == "11"


def test_background_tasks_keep_running_while_idle(kernel):
    ok(
        kernel.run(
            "import asyncio\n"
            "ticks = []\n"
            "async def tick():\n"
            "    while True:\n"
            "        ticks.append(1)\n"
            "        await asyncio.sleep(0.01)\n"
            "task = asyncio.get_event_loop().create_task(tick())"
        )
    )
    time.sleep(0.5)
    assert result(kernel.run("len(ticks) > 5")) == "True"
    ok(kernel.run("task.cancel()"))


def test_future_imports_carry_over_to_later_cells(kernel):
    ok(kernel.run("from __future__ import annotations"))
    frames = kernel.run("def f(x: NotDefinedAnywhere) -> int:\n    return 1\nf.__annotations__")
    assert result(frames) == "{'x': 'NotDefinedAnywhere', 'return': 'int'}"


def test_errors_show_the_users_frames_only(kernel):
    frames = kernel.run("def inner():\n    raise ValueError('boom')\n\ninner()")
    err = error(frames)
    assert err["ename"] == "ValueError"
    assert err["evalue"] == "boom"
    # Newer Pythons add a line of carets under the failing expression; keep the rest.
    lines = [[row for row in chunk.split("\n") if row.strip("~^ ")] for chunk in err["traceback"]]
    assert lines == [
        ["Traceback (most recent call last):"],
        ['  File "<cell-1>", line 4, in <module>', "    inner()"],
        ['  File "<cell-1>", line 2, in inner', "    raise ValueError('boom')"],
        ["ValueError: boom"],
    ]
    assert done(frames)["status"] == "error"
    assert done(frames)["cancelled"] is False


def test_errors_in_async_cells_show_no_runner_or_asyncio_frames(kernel):
    frames = kernel.run("import asyncio\nawait asyncio.sleep(0)\nraise KeyError('k')")
    traceback = "\n".join(error(frames)["traceback"])
    assert 'File "<cell-1>", line 3' in traceback
    assert "pykernel_runner" not in traceback
    assert "base_events" not in traceback


def test_chained_exceptions_keep_both_parts(kernel):
    frames = kernel.run(
        "try:\n    {}['missing']\nexcept KeyError as exc:\n    raise RuntimeError('wrapped') from exc"
    )
    traceback = "\n".join(error(frames)["traceback"])
    assert "KeyError: 'missing'" in traceback
    assert "direct cause" in traceback
    assert traceback.endswith("RuntimeError: wrapped")
    assert "pykernel_runner" not in traceback


def test_errors_from_library_code_keep_library_frames(kernel):
    frames = kernel.run("import json\njson.loads('{')")
    traceback = error(frames)["traceback"]
    assert traceback[1].startswith('  File "<cell-1>", line 2')
    assert any("json" in line and "decoder.py" in line for line in traceback)


def test_syntax_errors_are_reported_like_ipython(kernel):
    frames = kernel.run('x = 1\necho "hi"')
    err = error(frames)
    assert err["ename"] == "SyntaxError"
    assert err["traceback"][0] == '  File "<cell-1>", line 2'
    assert err["traceback"][1] == '    echo "hi"'
    assert err["traceback"][2].strip().startswith("^")
    assert err["traceback"][-1] == "SyntaxError: invalid syntax"
    assert "Traceback" not in "\n".join(err["traceback"])
    assert done(frames)["executionCount"] == 1


def test_indentation_errors_are_reported_like_ipython(kernel):
    err = error(kernel.run("if True:\nprint('x')"))
    assert err["ename"] == "IndentationError"
    assert err["traceback"][0] == '  File "<cell-1>", line 2'
    assert "pykernel_runner" not in "\n".join(err["traceback"])


def test_system_exit_is_an_error_and_the_kernel_lives_on(kernel):
    err = error(kernel.run("import sys\nsys.exit(3)"))
    assert (err["ename"], err["evalue"]) == ("SystemExit", "3")
    # IPython's report: no traceback, and Python's own last line.
    assert err["traceback"] == ["An exception has occurred, use %tb to see the full traceback.", "", "SystemExit: 3"]
    assert error(kernel.run("sys.exit()"))["traceback"][-1] == "SystemExit"
    assert ok(kernel.run("print('alive')")) == "alive\n"


def test_exit_and_quit_do_not_stop_the_kernel(kernel):
    frames = kernel.run("exit()")
    assert error(frames)["ename"] == "SystemExit"
    assert done(frames)["cancelled"] is False
    assert error(kernel.run("quit(2)"))["evalue"] == "2"
    assert ok(kernel.run("import sys\nprint('still serving', sys.stdin.closed)")) == "still serving False\n"


def test_keyboard_interrupt_raised_by_the_user_is_a_cancel(kernel):
    frames = kernel.run("x = 1\nraise KeyboardInterrupt")
    assert error(frames)["ename"] == "KeyboardInterrupt"
    assert done(frames)["cancelled"] is True
    assert done(frames)["status"] == "error"
    assert result(kernel.run("x")) == "1"


def test_a_failing_repr_never_kills_the_kernel(kernel):
    frames = kernel.run(
        "class Broken:\n"
        "    def __repr__(self):\n"
        "        raise RuntimeError('no repr')\n"
        "Broken()"
    )
    assert done(frames)["status"] == "ok"
    assert result(frames) == "<Broken object (repr failed: RuntimeError)>"


def test_a_failing_repr_method_skips_only_that_mime(kernel):
    frames = kernel.run(
        "class Half:\n"
        "    def _repr_html_(self):\n"
        "        raise ValueError('bad html')\n"
        "    def _repr_markdown_(self):\n"
        "        return '**md**'\n"
        "    def __repr__(self):\n"
        "        return 'Half()'\n"
        "Half()"
    )
    bundle = of_type(frames, "result")[0]["bundle"]
    assert bundle == {"text/markdown": "**md**", "text/plain": "Half()"}
    assert done(frames)["status"] == "ok"


def test_errors_print_nothing_to_stdout(kernel):
    frames = kernel.run("raise ValueError('x')")
    assert stdout(frames) == ""


WARM_MODULES = ("linecache", "tokenize", "traceback", "ast")


def test_what_error_reports_import_is_imported_once_the_kernel_idles(kernel):
    # So the first error on a fresh kernel is as quick as later ones.
    ok(kernel.run("pass"))
    check = "import sys\nprint(all(name in sys.modules for name in %r))" % (WARM_MODULES,)
    deadline = time.monotonic() + 10
    time.sleep(0.3)
    while ok(kernel.run(check)) != "True\n":
        assert time.monotonic() < deadline, "never imported ahead of time"
        time.sleep(0.3)


def test_a_user_module_shadowing_one_is_not_imported_ahead_of_time(kernel, tmp_path):
    (tmp_path / "ast.py").write_text("open('shadow-ran', 'w').close()\nraise SystemExit('shadowed')\n")
    if result(kernel.run("import sys\n'ast' in sys.modules")) == "True":
        return  # this interpreter imported it at startup: nothing to import ahead of time
    kernel.wait_log("not importing", timeout=10)
    assert "ast.py is not the standard library's" in kernel.log
    assert not (tmp_path / "shadow-ran").exists()
    assert ok(kernel.run("print('alive')")) == "alive\n"


def test_deep_recursion_folds_repeats_and_keeps_the_traceback_bounded(kernel):
    # Before 3.11 each Python call also takes C stack, and 10**5 of them overflow it
    # (plain python crashes the same way); 5000 is deep enough to fold.
    limit = 10**5 if sys.version_info >= (3, 11) else 5000
    setup = "import sys\nsys.setrecursionlimit(%d)\n" % limit
    frames = kernel.run(setup + "def f(n):\n    return f(n + 1)\nf(0)")
    text = "\n".join(error(frames)["traceback"])
    assert text.count(", in f") == 3
    assert "[Previous line repeated" in text
    # Two functions calling each other repeat no single line: both ends are kept.
    frames = kernel.run("def g(n):\n    return h(n + 1)\ndef h(n):\n    return g(n + 1)\ng(0)")
    text = "\n".join(error(frames)["traceback"])
    assert "frames omitted ...]" in text
    assert text.count(", in ") < 250
    assert text.rstrip().endswith("RecursionError: maximum recursion depth exceeded")


def test_a_future_import_may_follow_other_statements(kernel):
    code = (
        "x = 1\n"
        "from __future__ import annotations\n"
        "def f(a: Undefined):\n"
        "    return 1 / 0\n"
        "print(f.__annotations__)\n"
        "x + 1"
    )
    frames = kernel.run(code)
    assert ok(frames) == "{'a': 'Undefined'}\n"
    assert result(frames) == "2"
    # The flag holds in later cells too, and tracebacks keep the cell's line numbers.
    frames = kernel.run("def g(b: Missing):\n    pass\nprint(g.__annotations__)\nf(0)")
    assert stdout(frames) == "{'b': 'Missing'}\n"
    lines = traceback_lines(frames)
    assert '  File "<cell-2>", line 4, in <module>' in lines
    assert lines[lines.index('  File "<cell-1>", line 4, in f') + 1] == "    return 1 / 0"


def traceback_lines(frames):
    """The error's traceback, one line per item."""
    return "\n".join(error(frames)["traceback"]).split("\n")


def test_the_exception_line_names_the_class_as_ipython_does(kernel):
    frames = kernel.run("import json\njson.loads('x')")
    assert error(frames)["traceback"][-1] == "JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
    assert error(kernel.run("raise KeyboardInterrupt"))["traceback"][-1] == "KeyboardInterrupt: "
    frames = kernel.run("class Mine(Exception):\n    pass\nraise Mine('m')")
    assert error(frames)["traceback"][-1] == "Mine: m"
    frames = kernel.run("try:\n    1 / 0\nexcept Exception as e:\n    raise KeyError('k') from e")
    lines = error(frames)["traceback"]
    assert "ZeroDivisionError: division by zero" in lines
    assert lines[-1] == "KeyError: 'k'"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="column positions are new in 3.11")
def test_tracebacks_mark_the_failing_expression(kernel):
    lines = traceback_lines(kernel.run("d = {}\nvalue = d['missing'] + 1"))
    assert lines[-3:] == ["    value = d['missing'] + 1", "            ~^^^^^^^^^^^", "KeyError: 'missing'"]
    lines = traceback_lines(kernel.run("def g(n):\n    return g(n)\ng(1)"))
    assert "  [Previous line repeated" in "".join(lines)
    if sys.version_info >= (3, 13):
        return  # 3.13 marks no column under a whole `return` expression
    first = lines.index("    return g(n)")
    assert lines[first - 1 : first + 3] == [
        '  File "<cell-2>", line 2, in g',
        "    return g(n)",
        "           ^^^^",
        '  File "<cell-2>", line 2, in g',
    ]


def test_pasted_prompts_are_stripped(kernel):
    code = ">>> x = 1\n>>> for i in range(2):\n...     print(i)\n...\n>>> x + 1"
    frames = kernel.run(code)
    assert ok(frames) == "0\n1\n"
    assert result(frames) == "2"
    assert result(kernel.run("In [1]: y = 5\n\nIn [2]: y * 2")) == "10"
    assert result(kernel.run("\nIn [3]: def f():\n   ...:     return 7\n   ...:\n\nf()")) == "7"
    # Not a prompt on the first two lines: the cell stays as written.
    assert error(kernel.run("x = 1\ny = 2\n>>> z = 3"))["ename"] == "SyntaxError"
