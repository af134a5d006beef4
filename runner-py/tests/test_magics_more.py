"""IPython's magics the light engine adds: script and display cells, help, %xmode,
%history and the rest."""

import shutil

import pytest

from conftest import done, error, of_type, ok, result, stderr, stdout


def pages(frames):
    """The text of each display marked as the pager's (only text/plain)."""
    shown = [f for f in of_type(frames, "display") if f.get("metadata") == {"pager": True}]
    assert all(list(f["bundle"]) == ["text/plain"] for f in shown), shown
    return [f["bundle"]["text/plain"] for f in shown]


@pytest.mark.parametrize(
    "magic, mime, name",
    [
        ("html", "text/html", "HTML"),
        ("javascript", "application/javascript", "Javascript"),
        ("js", "application/javascript", "Javascript"),
        ("latex", "text/latex", "Latex"),
        ("markdown", "text/markdown", "Markdown"),
    ],
)
def test_display_cells_give_their_mime_type(kernel, magic, mime, name):
    frames = kernel.run("%%" + magic + "\n<b>body</b> $x$\n   \nend")
    ok(frames)
    [shown] = of_type(frames, "display")
    # As IPython passes a cell's body: blank lines emptied, a newline at the end.
    body = "<b>body</b> $x$\n\nend\n"
    assert shown["bundle"] == {mime: body, "text/plain": "<IPython.core.display.%s object>" % name}


def test_svg_cell_keeps_the_svg_element(kernel):
    frames = kernel.run('%%svg\n<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>')
    [shown] = of_type(frames, "display")
    assert shown["bundle"]["image/svg+xml"] == '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>'


def test_script_cells_run_their_interpreter(kernel):
    frames = kernel.run("%%script bash\necho from bash $((1 + 2))")
    assert ok(frames) == "from bash 3\n"
    assert ok(kernel.run("%%python3\nimport sys\nprint(sys.version_info[0])")) == "3\n"


def test_bash_out_and_err_go_into_variables(kernel):
    frames = kernel.run("%%bash --out output --err errors\necho out\necho err >&2\nexit 3")
    assert (stdout(frames), stderr(frames)) == ("", "")
    assert error(frames)["ename"] == "CalledProcessError"
    assert result(kernel.run("output, errors, _exit_code")) == "('out\\n', 'err\\n', 3)"
    frames = kernel.run("%%sh --out only\necho shown >&2\necho kept")
    assert stderr(frames) == "shown\n"
    assert result(kernel.run("only")) == "'kept\\n'"


def test_a_missing_interpreter_is_a_printed_notice(kernel):
    # IPython prints this and goes on; the --out variable is still set, empty.
    frames = kernel.run("%%script --out got no-such-interpreter-here\nputs 1")
    assert ok(frames) == "Couldn't find program: 'no-such-interpreter-here'\n"
    assert result(kernel.run("got")) == "''"


def test_background_scripts_run_on_and_can_be_killed(kernel):
    ok(kernel.run("%%bash --bg --out lines --proc proc\necho first\necho second"))
    assert result(kernel.run("lines.read().decode(), proc.wait()")) == "('first\\nsecond\\n', 0)"
    ok(kernel.run("%%bash --bg --proc sleeper\nsleep 60"))
    assert ok(kernel.run("%killbgscripts")) == "All background processes were killed.\n"
    assert result(kernel.run("sleeper.poll()")) == "-9"


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")
def test_perl_cells(kernel):
    assert ok(kernel.run('%%perl\nprint "perl ", 6 * 7, "\\n";')) == "perl 42\n"


def test_help_syntax_pages_text(kernel):
    assert pages(kernel.run("len?")) == [
        "Signature: len(obj, /)\nDocstring: Return the number of items in a container.\n"
        "Type:      builtin_function_or_method"
    ]
    code = "def f(a, b=1):\n    'doc of f'\n    return a\nf??"
    assert pages(kernel.run(code)) == [
        "Signature: f(a, b=1)\nSource:   \ndef f(a, b=1):\n    'doc of f'\n    return a\nType:      function"
    ]
    assert pages(kernel.run("x = [1, 2]\n?x"))[0].startswith(
        "Type:        list\nString form: [1, 2]\nLength:      2\nDocstring:  \nBuilt-in mutable sequence."
    )
    assert pages(kernel.run("*int*?")) == ["FloatingPointError\nbreakpoint\nint\nprint"]
    assert ok(kernel.run("nothing_here?")) == "Object `nothing_here` not found.\n"
    assert pages(kernel.run("?"))[0].startswith("pykernel quick reference")


def test_a_question_mark_elsewhere_is_still_a_syntax_error(kernel):
    assert error(kernel.run("1 if x else 2 ?"))["ename"] == "SyntaxError"
    assert result(kernel.run("'what?'")) == "'what?'"


def test_xmode_minimal_shows_only_the_exception(kernel):
    assert ok(kernel.run("%xmode Minimal")) == "Exception reporting mode: Minimal\n"
    assert error(kernel.run("1 / 0"))["traceback"] == ["ZeroDivisionError: division by zero"]
    ok(kernel.run("%xmode context"))
    assert len(error(kernel.run("1 / 0"))["traceback"]) > 1
    assert error(kernel.run("%xmode Fancy"))["ename"] == "UsageError"


def test_history_lists_inputs(kernel):
    ok(kernel.run("a = 1"))
    ok(kernel.run("for i in range(2):\n    a += i"))
    assert ok(kernel.run("%history -n 1-2")) == "   1: a = 1\n   2:\nfor i in range(2):\n    a += i\n"
    assert ok(kernel.run("%history -l 1")) == "%history -l 1\n"
    assert result(kernel.run("a")) == "2"
    assert ok(kernel.run("%history -o 5")) == "a\n2\n"
    assert ok(kernel.run("%history -g range")) == (
        "   2:\nfor i in range(2):\n    a += i\n   7: %history -g range\n"
    )


def test_debug_lists_the_failing_frame_and_reads_commands_from_the_host(kernel, tmp_path):
    (tmp_path / "mod.py").write_text("\ndef f(x):\n    return 1.0/(x-1)\n\ndef g(y):\n    return f(y+1)\n")
    assert "nothing to debug" in stderr(kernel.run("%debug"))
    assert error(kernel.run("import mod\nmod.g(0)"))["ename"] == "ZeroDivisionError"
    listing = (
        "> %s(3)f()\n      1 \n      2 def f(x):\n----> 3     return 1.0/(x-1)\n      4 \n      5 def g(y):\n\n"
        % (tmp_path / "mod.py")
    )
    # Without stdin (a notebook), as ipykernel: the listing, then the refused input.
    frames = kernel.run("%debug")
    assert stdout(frames) == listing
    assert error(frames)["ename"] == "StdinNotImplementedError"
    # With stdin, pdb's commands come from the host (the refused input above is now the
    # last error, as in IPython, so fail again first).
    assert error(kernel.run("mod.g(0)"))["ename"] == "ZeroDivisionError"
    rid = kernel.start("%debug", allowStdin=True)
    frames = kernel.wait_for(rid, "input_request")
    assert (stdout(frames), frames[-1]["prompt"]) == (listing, "ipdb> ")
    kernel.send({"type": "input_reply", "id": rid, "value": "p x"})
    frames = kernel.wait_for(rid, "input_request")
    kernel.send({"type": "input_reply", "id": rid, "value": "q"})
    frames += kernel.collect(rid)
    assert stdout(frames) == "1\n"
    assert done(frames)["status"] == "ok"


def test_informational_magics(kernel):
    assert pages(kernel.run("%quickref"))[0].startswith("pykernel quick reference")
    assert "%%bash" in pages(kernel.run("%magic"))[0]
    assert ok(kernel.run("%gui")) == ""
    assert "connection file" in ok(kernel.run("%connect_info"))


def test_lsmagic_returns_its_listing(kernel):
    frames = kernel.run("r = %lsmagic\nprint(type(r).__name__)\nr")
    assert ok(frames) == "MagicsListing\n"
    text = result(frames)
    assert text.startswith("Available line magics:\n%cat  %cd  %config  %connect_info  %cp")
    assert "%%html" in text and text.endswith("Automagic is ON, % prefix IS NOT needed for line magics.")


def test_run_finds_the_py_file(kernel, tmp_path):
    (tmp_path / "script.py").write_text("ran = 'yes'\n")
    ok(kernel.run("%run script"))
    assert result(kernel.run("ran")) == "'yes'"


def test_a_question_mark_ending_a_comment_leaves_the_line_alone(kernel):
    # x = !cmd also streams what it captures, so only the end is certain.
    assert ok(kernel.run("files = !echo a  # which files?\nprint(files)  # shown?")).endswith("['a']\n")
    assert result(kernel.run("x = 5  # five?\nx")) == "5"
