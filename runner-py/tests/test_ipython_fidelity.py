"""The light engine where notebooks rely on IPython's behaviour: automagic, shell
aliases, ``!cmd`` on a terminal, ``%run`` of IPython syntax, ``%load`` of a URL and
``get_ipython().InteractiveTB``."""

import http.server
import json
import os
import threading

import pytest

from conftest import error, of_type, ok, result, stderr, stdout

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX shells and terminals")


def test_automagic_runs_a_magic_named_by_a_one_line_cell(kernel, tmp_path):
    assert result(kernel.run("pwd")) == repr(str(tmp_path))
    (tmp_path / "sub").mkdir()
    assert ok(kernel.run("cd sub")) == str(tmp_path / "sub") + "\n"
    assert ok(kernel.run("cd ..")) == str(tmp_path) + "\n"


def test_automagic_gives_way_to_python(kernel):
    # An assignment, a variable of that name, a builtin and a second line all stay Python.
    assert result(kernel.run("pwd = 3\npwd")) == "3"
    assert result(kernel.run("pwd")) == "3"
    ok(kernel.run("del pwd"))
    assert result(kernel.run("cd, x = 1, 2\ncd")) == "1"
    assert error(kernel.run("who\nwho"))["ename"] == "NameError"
    assert error(kernel.run("not_a_magic_or_name"))["ename"] == "NameError"
    # Help on a magic is help, not the magic run with "?".
    frames = kernel.run("ls?")
    assert stdout(frames) == "" and of_type(frames, "display")[0]["metadata"] == {"pager": True}


@posix_only
def test_shell_escapes_run_on_a_terminal_as_in_ipykernel(kernel):
    # ipykernel runs `!cmd` through pexpect: a terminal, stderr merged, lines in \r\n.
    frames = kernel.run("!echo out; echo err >&2; test -t 1 && echo on a terminal")
    assert (stdout(frames), stderr(frames)) == ("out\r\nerr\r\non a terminal\r\n", "")
    assert result(kernel.run("_exit_code")) == "0"
    # A captured command still reads a pipe, so its lines are clean.
    assert result(kernel.run("lines = !echo kept; test -t 1 || echo piped\nlines")) == "['kept', 'piped']"


@posix_only
def test_shell_aliases_of_ipython(kernel, tmp_path):
    (tmp_path / "note.txt").write_text("hello\n")
    assert ok(kernel.run("%cat note.txt")) == "hello\r\n"
    ok(kernel.run("mkdir made"))
    assert (tmp_path / "made").is_dir()
    # `ls` marks folders as IPython's alias does (colour codes aside).
    listing = stdout(kernel.run("ls"))
    assert "made" in listing and "/" in listing.split("made", 1)[1][:12]
    assert ok(kernel.run("%ldir")).count("made") == 1


def test_run_executes_ipython_files_and_notebooks_in_the_namespace(kernel, tmp_path):
    (tmp_path / "script.ipy").write_text("names = !echo a b\n%cd .\nfrom_ipy = names\n")
    ok(kernel.run("%run script.ipy"))
    assert result(kernel.run("from_ipy")) == "['a b']"
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "# skipped", "metadata": {}},
            {"cell_type": "code", "source": ["x = 2\n", "y = x * 21"], "metadata": {}, "outputs": []},
            {"cell_type": "code", "source": "print('from the notebook', y)", "metadata": {}, "outputs": []},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "other.ipynb").write_text(json.dumps(notebook))
    assert ok(kernel.run("%run other.ipynb")) == "from the notebook 42\n"
    assert result(kernel.run("y")) == "42"


def test_load_reads_a_url(kernel):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"loaded = 'over http'\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/code.py" % server.server_address[1]
        ok(kernel.run("%load " + url))
        assert result(kernel.run("loaded")) == "'over http'"
    finally:
        server.server_close()
    # No server there: the error is urllib's, as in IPython.
    assert error(kernel.run("%load " + url))["ename"] == "URLError"


def test_interactive_tb_formats_the_exception_being_handled(kernel):
    code = (
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    text = get_ipython().InteractiveTB.text(None, None, None)\n"
        "'ZeroDivisionError: division by zero' in text"
    )
    assert result(kernel.run(code)) == "True"


def test_a_cells_syntax_error_names_the_cell_as_ipykernel_does(kernel):
    # ipykernel names a cell's file by MurmurHash2 of its source; this is its value.
    err = error(kernel.run("collections."))
    assert err["evalue"] == "invalid syntax (1397204736.py, line 1)"
    assert err["traceback"][-1] == "SyntaxError: invalid syntax"


def test_messages_sent_through_the_kernels_session_are_outputs(kernel):
    code = (
        "ip = get_ipython()\n"
        "send = lambda kind, content: ip.kernel.session.send(ip.kernel.iopub_socket, kind, content, parent=ip.parent_header)\n"
        "send('display_data', {'data': {'text/plain': 'a'}, 'metadata': {}, 'transient': {'display_id': 'd1'}})\n"
        "send('update_display_data', {'data': {'text/plain': 'b'}, 'metadata': {}, 'transient': {'display_id': 'd1'}})\n"
        "send('stream', {'name': 'stdout', 'text': 'streamed\\n'})\n"
        "send('execute_result', {'data': {'text/plain': '10'}, 'metadata': {}, 'execution_count': 1})\n"
        "ip.history_manager.hist_file"
    )
    frames = kernel.run(code)
    [shown] = of_type(frames, "display")
    assert (shown["bundle"], shown["displayId"]) == ({"text/plain": "a"}, "d1")
    [update] = of_type(frames, "update_display")
    assert (update["bundle"], update["displayId"]) == ({"text/plain": "b"}, "d1")
    assert stdout(frames) == "streamed\n"
    results = [f["bundle"]["text/plain"] for f in of_type(frames, "result")]
    assert results == ["10", "':memory:'"]


def test_config_chooses_the_figure_formats(kernel):
    pytest.importorskip("matplotlib")
    plot = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]);"
    ok(kernel.run("%config InlineBackend.figure_formats = ['svg']"))
    [shown] = of_type(kernel.run(plot), "display")
    assert set(shown["bundle"]) == {"image/svg+xml", "text/plain"}
    assert shown["bundle"]["image/svg+xml"].lstrip().startswith("<?xml")
    ok(kernel.run("%config InlineBackend.figure_formats = set(['retina'])"))
    [shown] = of_type(kernel.run(plot), "display")
    assert set(shown["bundle"]) == {"image/png", "text/plain"}
    size = shown["metadata"]["image/png"]
    assert size["width"] > 100 and size["height"] > 100
    assert ok(kernel.run("%config InlineBackend.figure_formats")) == "{'retina'}\n"
    assert error(kernel.run("%config 1x = 2"))["ename"] == "UsageError"


def test_pylab_fills_the_namespace(kernel):
    pytest.importorskip("matplotlib")
    pytest.importorskip("numpy")
    assert ok(kernel.run("%pylab inline")) == (
        "%pylab is deprecated, use %matplotlib inline and import the required libraries.\n"
        "Populating the interactive namespace from numpy and matplotlib\n"
    )
    frames = kernel.run("hist(linspace(0, 1, 10));")
    assert of_type(frames, "display")[0]["bundle"]["text/plain"].startswith("<Figure size")
    assert result(kernel.run("np is numpy and plt is pyplot")) == "True"


def test_capture_keeps_the_figures_its_cell_drew(kernel):
    pytest.importorskip("matplotlib")
    frames = kernel.run("%%capture kept\nimport matplotlib.pyplot as plt\nprint('drawing')\nplt.plot([1, 2]);")
    assert (stdout(frames), of_type(frames, "display")) == ("", [])
    frames = kernel.run("kept()")
    assert stdout(frames) == "drawing\n"
    [figure] = of_type(frames, "display")
    assert "image/png" in figure["bundle"]


def test_murmur2_is_ipykernels_hash():
    # Cell names ipykernel gave these sources (tails of 0, 3 and 2 bytes past the words).
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
    from pykernel_runner.ipython_compat import murmur2

    assert murmur2(b"collections.", 0xC70F6907) == 1397204736
    assert murmur2("print \"We're good.\"".encode(), 0xC70F6907) == 685837578
    assert murmur2("print \"Shouldn't get here.\"".encode(), 0xC70F6907) == 2294703541
