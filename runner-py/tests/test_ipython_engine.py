"""The IPython engine (``PYKERNEL_ENGINE=ipython``): cells run through IPython's own
shell, with the runner's frames, streams, interrupts, input and host calls underneath.

The tests that need IPython skip where this interpreter cannot import it (the suite's
runs on other Python versions install pytest only)."""

import os
import signal
import time

import pytest

from conftest import Kernel, done, error, of_type, ok, result, stderr, stdout
from test_ipython_compat import METADATA_CELL, METADATA_EXPECTED, metadata_of


def ipython_env(**extra):
    env = dict(os.environ, PYKERNEL_ENGINE="ipython")
    env.update(extra)
    return env


@pytest.fixture
def ipy(tmp_path):
    pytest.importorskip("IPython")
    k = Kernel(cwd=str(tmp_path), env=ipython_env())
    yield k
    k.close()


def displays(frames):
    return [frame["bundle"] for frame in of_type(frames, "display")]


def test_hello_names_the_engine(ipy, bare_kernel):
    assert "engine:ipython" in ipy.hello["features"]
    assert "engine:light" in bare_kernel.hello["features"]


def test_without_ipython_the_runner_says_light_and_logs_why(tmp_path):
    # A package named IPython that cannot be imported shadows any installed one.
    broken = tmp_path / "shadow" / "IPython"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('no IPython here')\n")
    env = ipython_env(PYTHONPATH=str(broken.parent))
    k = Kernel(cwd=str(tmp_path), env=env, prelude=False)
    try:
        assert "engine:light" in k.hello["features"]
        assert "engine:ipython" not in k.hello["features"]
        k.wait_log("the IPython engine is unavailable: ImportError('no IPython here')")
        # The runner still serves cells (the host decides to stop it).
        assert result(k.run("1 + 1")) == "2"
    finally:
        k.close()


def test_results_come_from_ipythons_display_hook_and_pretty_printer(ipy):
    frames = ipy.run("list(range(30))")
    assert result(frames) == "[" + ",\n ".join(str(n) for n in range(30)) + "]"
    assert done(frames)["executionCount"] == 1
    frames = ipy.run("class A:\n    pass\nA()")
    assert result(frames).startswith("<__main__.A at 0x")
    assert result(ipy.run("x = 1;")) is None
    assert result(ipy.run("x;")) is None
    assert done(ipy.run("x"))["executionCount"] == 5


def test_get_ipython_is_the_shell_and_magics_are_ipythons(ipy):
    assert result(ipy.run("type(get_ipython()).__mro__[1].__name__")) == "'InteractiveShell'"
    # A value, not a print (a str in IPython 9, a MagicsDisplay in 8).
    assert result(ipy.run("r = %lsmagic\n'%%capture' in str(r)")) == "True"
    assert "%%capture" in ok(ipy.run("print(r)"))
    assert ok(ipy.run("%%capture captured\nprint('inside')")) == ""
    assert ok(ipy.run("print(captured.stdout, end='')")) == "inside\n"
    assert ok(ipy.run("%%bash\necho from bash")) == "from bash\n"


def test_help_goes_to_the_pager_as_a_plain_text_display(ipy):
    frames = ipy.run("len?")
    assert done(frames)["status"] == "ok"
    (page,) = displays(frames)
    assert "Return the number of items in a container." in page["text/plain"]
    assert "\x1b[" not in page["text/plain"]


def test_history_in_and_out(ipy):
    ok(ipy.run("a = 6"))
    ok(ipy.run("a * 7"))
    assert result(ipy.run("In[2], Out[2], _")) == "('a * 7', 42, 42)"
    assert "a = 6" in ok(ipy.run("%history -n 1-2"))


def test_errors_carry_ipythons_traceback_without_colors(ipy):
    frames = ipy.run("def f():\n    return 1 / 0\nf()")
    err = error(frames)
    assert err["ename"] == "ZeroDivisionError"
    assert err["evalue"] == "division by zero"
    text = "\n".join(err["traceback"])
    assert "\x1b[" not in text
    assert "Cell In[1], line 3" in text
    assert err["traceback"][-1] == "ZeroDivisionError: division by zero"
    assert done(frames)["status"] == "error"
    assert done(frames)["cancelled"] is False
    assert error(ipy.run("import json\njson.loads('{')"))["traceback"][-1].startswith(
        "JSONDecodeError: Expecting property name"
    )


def test_syntax_errors_and_usage_errors(ipy):
    err = error(ipy.run("1 +"))
    assert err["ename"] == "SyntaxError"
    # A UsageError goes to stderr, as in ipykernel, and fails the cell.
    frames = ipy.run("%no_such_magic")
    assert stderr(frames) == "UsageError: Line magic function `%no_such_magic` not found.\n"
    assert of_type(frames, "error") == []
    assert done(frames)["status"] == "error"


def test_ipython_display_goes_out_as_display_frames(ipy):
    frames = ipy.run(
        "from IPython.display import HTML, display\n"
        "print('before')\n"
        "display(HTML('<b>hi</b>'))\n"
        "print('after')"
    )
    assert [f["type"] for f in frames[1:-1]] == ["stdout", "display", "stdout"]
    (bundle,) = displays(frames)
    assert bundle["text/html"] == "<b>hi</b>"
    assert bundle["text/plain"] == "<IPython.core.display.HTML object>"


def test_display_ids_updates_and_clears(ipy):
    frames = ipy.run(
        "h = display('first', display_id=True)\n"
        "h.update('second')\n"
        "from IPython.display import clear_output\n"
        "clear_output(wait=True)"
    )
    shown = of_type(frames, "display")
    assert len(shown) == 1
    display_id = shown[0]["displayId"]
    assert shown[0]["bundle"]["text/plain"] == "'first'"
    (update,) = of_type(frames, "update_display")
    assert update["displayId"] == display_id
    assert update["bundle"]["text/plain"] == "'second'"
    (clear,) = of_type(frames, "clear_output")
    assert clear["wait"] is True


def test_fd_output_and_shell_escapes_are_captured(ipy):
    assert ok(ipy.run("import os\nos.system('echo from fd 1')")) == "from fd 1\n"
    # IPython runs `!cmd` on a pseudo-terminal, as ipykernel does.
    assert ok(ipy.run("!echo from a pty")) == "from a pty\r\n"


def test_top_level_await(ipy):
    assert result(ipy.run("import asyncio\nawait asyncio.sleep(0)\n7")) == "7"


def test_input_asks_the_host(ipy):
    rid = ipy.start("name = input('name? ')\nprint('hello', name)", allowStdin=True)
    request = ipy.wait_for(rid, "input_request")[-1]
    assert request["prompt"] == "name? "
    ipy.send({"type": "input_reply", "id": rid, "value": "Ada"})
    assert stdout(ipy.collect(rid)) == "hello Ada\n"
    assert error(ipy.run("input()"))["ename"] == "StdinNotImplementedError"


def test_host_calls_and_the_prelude(ipy):
    rid = ipy.start("host_call('add', a=1, b=2)")
    call = ipy.wait_for(rid, "call")[-1]
    assert (call["name"], call["args"]) == ("add", {"a": 1, "b": 2})
    ipy.send({"type": "reply", "callId": call["callId"], "ok": True, "value": 3})
    assert result(ipy.collect(rid)) == "3"
    assert result(ipy.run("callable(read) and callable(write)")) == "True"


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigint_raises_keyboard_interrupt_as_in_the_light_engine(ipy):
    rid = ipy.start("print('ready', flush=True)\nimport time\ntime.sleep(60)")
    assert ipy.wait_for(rid, "stdout")[-1]["data"] == "ready\n"
    time.sleep(0.2)
    ipy.signal(signal.SIGINT)
    frames = ipy.collect(rid)
    assert error(frames)["ename"] == "KeyboardInterrupt"
    assert done(frames)["status"] == "error"
    assert done(frames)["cancelled"] is True
    # Idle, SIGINT is ignored; the namespace lives on.
    ipy.signal(signal.SIGINT)
    assert result(ipy.run("time.sleep(0); 'alive'")) == "'alive'"
    rid = ipy.start("print('ready', flush=True)\nwhile True:\n    pass")
    ipy.wait_for(rid, "stdout")
    ipy.send({"type": "interrupt"})
    assert done(ipy.collect(rid))["cancelled"] is True


def test_silent_cells_show_nothing_and_do_not_count(ipy):
    frames = ipy.run("1 + 1", silent=True)
    assert result(frames) is None
    assert done(frames)["executionCount"] == 0
    assert done(ipy.run("2"))["executionCount"] == 1


def test_matplotlib_figures_are_shown_as_png(ipy):
    pytest.importorskip("matplotlib")
    frames = ipy.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);")
    assert ok(frames) == ""
    (figure,) = displays(frames)
    assert figure["image/png"]
    assert figure["text/plain"].startswith("<Figure size")


def test_figures_of_an_interactive_backend_are_not_added_as_images(ipy):
    # `%matplotlib notebook` (nbagg) and `widget` show the figure in the frontend (IPython 9
    # names the backend `notebook`, matplotlib `nbagg`); the
    # setting is written raw here because loading nbagg needs ipykernel.
    pytest.importorskip("matplotlib")
    code = "import matplotlib, matplotlib.pyplot as plt\n"
    code += "dict.__setitem__(matplotlib.rcParams, 'backend', %r)\nplt.plot([1, 2]);"
    for backend in ("nbagg", "notebook"):
        assert displays(ipy.run(code % backend)) == []
        ok(ipy.run("plt.close('all')"))
    assert len(displays(ipy.run(code % "agg"))) == 1


def test_ipythons_completer_is_made_on_first_use(ipy):
    assert result(ipy.run("'Completer' in vars(get_ipython())")) == "False"
    ok(ipy.run("%config Completer.use_jedi = False"))
    assert result(ipy.run("get_ipython().Completer.use_jedi")) == "False"
    assert result(ipy.run("get_ipython().complete('pri')[1][:1]")) == "['print']"


def test_ipythons_terminal_is_loaded_only_when_embed_is_used(ipy):
    # The engine's start leaves out IPython.terminal (prompt_toolkit), which IPython 8's
    # __init__ imports for IPython.embed; the name still gives the real function.
    assert result(ipy.run("import sys; 'IPython.terminal.embed' in sys.modules")) == "False"
    assert result(ipy.run("'prompt_toolkit' in sys.modules")) == "False"
    frames = ipy.run(
        "import IPython\n"
        "from IPython import embed\n"
        "embed is IPython.embed, embed.__module__, 'IPython.terminal.embed' in sys.modules"
    )
    assert result(frames) == "(True, 'IPython.terminal.embed', True)"
    ok(ipy.run("import IPython.terminal.embed as e; assert e.embed is embed"))


def test_display_metadata_travels_with_the_bundle(ipy):
    # As in the light engine: IPython's formatters and publisher give the metadata.
    assert metadata_of(ipy.run(METADATA_CELL)) == METADATA_EXPECTED


def test_the_prelude_stays_out_of_who_and_comes_back_after_reset(ipy):
    ok(ipy.run("mine = 1"))
    assert ok(ipy.run("%who")) == "mine\t \n"
    ok(ipy.run("%reset -f"))
    assert error(ipy.run("mine"))["ename"] == "NameError"
    assert result(ipy.run("callable(read) and callable(host_call)")) == "True"
    assert ok(ipy.run("%who")) == "Interactive namespace is empty.\n"
