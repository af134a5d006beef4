"""Magics and shell escapes: the transform, each magic, and the output bounds."""

import os
import re
import sys

import pytest
from conftest import Kernel, done, error, of_type, ok, result, statuses, stderr, stdout

NOTICE = (
    "[output truncated: shell helper exceeded 1048576 bytes or 3000 lines; "
    "remaining output discarded]"
)
PY = sys.executable


# --- the transform -------------------------------------------------------------------


@pytest.mark.parametrize("form, last, value", [("!", "", None), ("got = !", "\nlen(got)", "2")])
def test_shell_escape_streams_before_the_child_exits(kernel, tmp_path, form, last, value):
    # ``x = !cmd`` streams while it captures, so a long command shows its progress.
    flag = tmp_path / "go"
    rid = kernel.start(
        "%secho first; while [ ! -e %s ]; do sleep 0.01; done; echo second%s" % (form, flag, last)
    )
    early = kernel.wait_for(rid, "stdout")
    # `!cmd` runs on a terminal (lines end in \r\n); `x = !cmd` reads a pipe.
    eol = "\r\n" if form == "!" else "\n"
    assert early[-1]["data"] == "first" + eol
    flag.write_text("")
    frames = kernel.collect(rid)
    assert stdout(frames) == "second" + eol
    assert result(frames) == value
    assert result(kernel.run("_exit_code")) == "0"


def test_shell_escape_merges_stderr_and_does_not_raise(kernel):
    frames = kernel.run("!echo out; echo err >&2; exit 3")
    assert stdout(frames) == "out\r\nerr\r\n"
    assert done(frames)["status"] == "ok"
    assert result(kernel.run("_exit_code")) == "3"


def test_shell_escape_decodes_invalid_utf8_with_replacement(kernel):
    frames = kernel.run("!printf 'bad \\377 byte\\n'")
    assert stdout(frames) == "bad \ufffd byte\r\n"


def test_assignment_captures_lines_and_streams_them(kernel):
    frames = kernel.run("lines = !printf 'a\\nb b\\n'; exit 2\nprint(lines, repr(lines.n), repr(lines.s), lines.returncode)")
    assert stdout(frames) == "a\nb b\n['a', 'b b'] 'a\\nb b' 'a b b' 2\n"
    assert result(kernel.run("_exit_code")) == "2"
    frames = kernel.run("found = !printf 'x1\\ny2\\nx3\\n'\nfound.grep('^x')")
    assert result(frames) == "['x1', 'x3']"


def test_assignment_capture_can_be_quiet_as_in_ipython(kernel):
    frames = kernel.run("lines = !printf 'a\\nb\\n'\nlines", env={"PYKERNEL_SHELL_TEE": "0"})
    assert stdout(frames) == ""
    assert result(frames) == "['a', 'b']"
    frames = kernel.run("__pykernel__.getoutput('echo quiet', tee=False)")
    assert (stdout(frames), result(frames)) == ("", "['quiet']")


def test_double_bang_returns_the_lines(kernel):
    assert result(kernel.run("!!echo one; echo two")) == "['one', 'two']"


def test_variables_expand_in_shell_commands(kernel):
    frames = kernel.run(
        "import os\nos.environ['SHELL_SIDE'] = 'from-env'\nname = 'world'\nitems = [1, 2]\n"
        "!echo hello $name {len(items) * 10} $$SHELL_SIDE"
    )
    assert stdout(frames) == "hello world 20 from-env\r\n"
    frames = kernel.run("!echo '{not python}' $UNDEFINED_PY_NAME_XYZ-ok")
    assert stdout(frames) == "{not python} -ok\r\n"


def test_magics_are_not_rewritten_inside_strings_or_brackets(kernel):
    frames = kernel.run(
        's = """\n'
        "!not a command\n"
        "%not_a_magic\n"
        '"""\n'
        "t = ('''\n%still text\n''')\n"
        "value = (7\n"
        "% 4)\n"
        "print(repr(s), repr(t), value)"
    )
    assert ok(frames) == "'\\n!not a command\\n%not_a_magic\\n' '\\n%still text\\n' 3\n"


def test_modulo_and_not_equal_are_left_alone(kernel):
    assert result(kernel.run("x = 10\ny = x % 3\nz = x != 3\n(y, z)")) == "(1, True)"


def test_magics_work_inside_blocks(kernel):
    frames = kernel.run("for i in range(2):\n    !echo loop {i}\nif True:\n    here = %pwd\nhere == __import__('os').getcwd()")
    assert stdout(frames) == "loop 0\r\nloop 1\r\n"
    assert result(frames) == "True"


def test_continuation_lines_are_joined(kernel):
    frames = kernel.run("!echo one \\\n  two\nprint('line', __import__('sys')._getframe().f_lineno)")
    assert stdout(frames) == "one two\r\nline 3\n"


def test_a_cell_magic_is_only_recognised_on_the_first_line(kernel):
    err = error(kernel.run("x = 1\n%%capture\nprint('hi')"))
    assert err["ename"] == "UsageError"
    assert err["evalue"] == "Line magic function `%%capture` not found."
    assert ok(kernel.run("\n\n%%bash\necho leading blank lines are fine")) == "leading blank lines are fine\n"


def test_unknown_magics_are_usage_errors(kernel):
    frames = kernel.run("%nope")
    assert error(frames) == {
        "type": "error",
        "id": frames[0]["id"],
        "ename": "UsageError",
        "evalue": "Line magic function `%nope` not found.",
        "traceback": ["UsageError: Line magic function `%nope` not found."],
    }
    assert error(kernel.run("%%nope\nbody"))["evalue"] == "Cell magic `%%nope` not found."


def test_a_line_magic_as_last_line_is_the_result_unless_quieted(kernel, tmp_path):
    assert result(kernel.run("%pwd")) == repr(str(tmp_path))
    assert result(kernel.run("%pwd;")) is None
    assert result(kernel.run("where = %pwd\nwhere")) == repr(str(tmp_path))


def test_errors_in_magic_cells_point_at_the_users_line(kernel):
    traceback = "\n".join(error(kernel.run("x = 1\n%time 1/0")).get("traceback"))
    assert "pykernel_runner" not in traceback
    assert "ZeroDivisionError" in traceback


# --- line magics ---------------------------------------------------------------------


def test_cd_and_pwd(kernel, tmp_path):
    (tmp_path / "sub dir").mkdir()
    frames = kernel.run("%cd 'sub dir'")
    assert stdout(frames) == "%s\n" % (tmp_path / "sub dir")
    assert result(kernel.run("%pwd")) == repr(str(tmp_path / "sub dir"))
    assert stdout(kernel.run("%cd -")) == "%s\n" % tmp_path
    frames = kernel.run("%cd /definitely/not/here")
    assert "No such file or directory" in stderr(frames)
    assert result(kernel.run("%pwd")) == repr(str(tmp_path))
    target = tmp_path / "sub dir"
    assert stdout(kernel.run("target = %r\n%%cd -q $target\nprint('quiet')" % str(target))) == "quiet\n"


def test_env_magic(kernel):
    frames = kernel.run("import os\nos.environ['PLAIN_VAR_X'] = 'p'\nos.environ['MY_API_TOKEN'] = 's3cret'\nenvs = %env\n(envs['PLAIN_VAR_X'], envs['MY_API_TOKEN'])")
    # Without a rule from the host nothing looks secret: the rule lives in the host.
    assert result(frames) == "('p', 's3cret')"
    assert stdout(kernel.run("%env NEW_VAR=new value")) == "env: NEW_VAR=new value\n"
    assert result(kernel.run("%env NEW_VAR")) == "'new value'"
    assert stdout(kernel.run("%env OTHER_VAR other")) == "env: OTHER_VAR=other\n"
    assert result(kernel.run("os.environ['OTHER_VAR']")) == "'other'"
    err = error(kernel.run("%env MISSING_VAR_XYZ"))
    assert (err["ename"], err["evalue"]) == ("UsageError", "Environment does not have key: MISSING_VAR_XYZ")


def test_set_env_magic(kernel):
    assert stdout(kernel.run("%set_env GREETING hello there")) == "env: GREETING=hello there\n"
    assert stdout(kernel.run("%set_env SECOND=2")) == "env: SECOND=2\n"
    assert result(kernel.run("import os\n(os.environ['GREETING'], os.environ['SECOND'])")) == "('hello there', '2')"
    assert error(kernel.run("%set_env ONLY_KEY"))["ename"] == "UsageError"


def test_pip_runs_the_kernels_interpreter(kernel):
    frames = kernel.run("%pip --version")
    assert ok(frames).startswith("pip ")
    assert "python %d.%d" % sys.version_info[:2] in stdout(frames)
    assert statuses(frames) == [{"op": "pip", "args": "--version", "installed": [], "exit_code": 0}]
    frames = kernel.run("%pip definitely-not-a-pip-command")
    assert done(frames)["status"] == "ok"
    (event,) = statuses(frames)
    assert event["exit_code"] != 0 and event["installed"] == []


def _wheel(folder, version):
    """A wheel of distribution ``pykernel-tiny`` whose module is ``tinymod`` (names
    that differ, as ``Pillow`` and ``PIL`` do), built with the standard library."""
    import base64
    import hashlib
    import zipfile

    dist_info = "pykernel_tiny-%s.dist-info" % version
    files = {
        "tinymod/__init__.py": "VERSION = %r\n" % version,
        "tinymod/sub.py": "VERSION = %r\n" % version,
        dist_info + "/METADATA": "Metadata-Version: 2.1\nName: pykernel-tiny\nVersion: %s\n" % version,
        dist_info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(text.encode())))
    record.append(dist_info + "/RECORD,,")
    files[dist_info + "/RECORD"] = "\n".join(record) + "\n"
    path = folder / ("pykernel_tiny-%s-py3-none-any.whl" % version)
    with zipfile.ZipFile(str(path), "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_pip_install_replaces_imported_modules_without_a_restart(kernel, tmp_path):
    target = tmp_path / "site"
    old, new = _wheel(tmp_path, "1.0"), _wheel(tmp_path, "2.0")
    ok(kernel.run("import sys\nsys.path.insert(0, %r)" % str(target)))
    pip = "install --no-index --no-deps --disable-pip-version-check --upgrade --target %s " % target
    versions = "import tinymod, tinymod.sub\n(tinymod.VERSION, tinymod.sub.VERSION)"
    frames = kernel.run("%pip " + pip + str(old))
    assert "Successfully installed pykernel-tiny-1.0" in ok(frames)
    assert statuses(frames)[-1] == {"op": "pip", "args": pip + str(old), "installed": ["pykernel-tiny"], "exit_code": 0}
    assert result(kernel.run(versions)) == "('1.0', '1.0')"
    # Quiet, pip names nothing: the changed metadata folder says what to evict.
    frames = kernel.run("%pip " + pip.replace("install", "install -q", 1) + str(new))
    assert statuses(frames)[-1]["installed"] == ["pykernel_tiny"]
    assert result(kernel.run(versions)) == "('2.0', '2.0')"
    ok(kernel.run("%pip " + pip + str(old)))
    assert result(kernel.run(versions)) == "('1.0', '1.0')"


def test_pip_install_keeps_a_package_whose_extension_module_is_loaded(kernel, tmp_path):
    # C code cannot be loaded twice in one process: such a package waits for a restart.
    target = tmp_path / "site"
    old, new = _wheel(tmp_path, "1.0"), _wheel(tmp_path, "2.0")
    pip = "%%pip install -q --no-index --no-deps --disable-pip-version-check --upgrade --target %s " % target
    ok(kernel.run("import sys\nsys.path.insert(0, %r)" % str(target)))
    ok(kernel.run(pip + str(old)))
    ok(kernel.run("import types, tinymod\next = types.ModuleType('tinymod._speedups')\n"
                  "ext.__file__ = tinymod.__file__.replace('__init__.py', '_speedups.abi3.so')\n"
                  "sys.modules['tinymod._speedups'] = ext"))
    ok(kernel.run(pip + str(new)))
    assert result(kernel.run("import tinymod\ntinymod.VERSION")) == "'1.0'"


def test_time_magic_times_expressions_and_statements(kernel):
    frames = kernel.run("%time sum(range(1000))")
    assert result(frames) == "499500"
    out = stdout(frames)
    assert re.match(r"CPU times: user .+, sys: .+, total: .+\nWall time: [0-9.]+ (s|ms|\u00b5s|ns)\n$", out), out
    frames = kernel.run("%time assigned = 5\nassigned")
    assert result(frames) == "5"


def test_cell_time_magic(kernel):
    frames = kernel.run("%%time\nx = 2\nx * 21")
    assert result(frames) == "42"
    assert "Wall time:" in stdout(frames)


def test_timeit_magic(kernel):
    frames = kernel.run("%timeit -n 20 -r 3 sum(range(10))")
    line = stdout(frames)
    assert re.match(
        r"[0-9.]+ (s|ms|\u00b5s|ns) \u00b1 [0-9.]+ (s|ms|\u00b5s|ns) per loop "
        r"\(mean \u00b1 std\. dev\. of 3 runs, 20 loops each\)\n$",
        line,
    ), line
    assert result(frames) is None
    frames = kernel.run("t = %timeit -o -q -n 5 -r 2 pass\n(t.loops, t.repeat, len(t.timings))")
    assert result(frames) == "(5, 2, 2)"
    assert stdout(frames) == ""


def test_timeit_magic_picks_a_loop_count_itself(kernel):
    frames = kernel.run("%timeit -r 1 sum(range(100))")
    assert re.search(r"of 1 run, [0-9,]+ loops each\)", stdout(frames)), stdout(frames)


def test_cell_timeit_magic_with_setup(kernel):
    frames = kernel.run("%%timeit -n 4 -r 2 base = 3\nbase * 2")
    assert "of 2 runs, 4 loops each" in stdout(frames)


def test_who_lists_user_variables_only(kernel):
    assert stdout(kernel.run("%who")) == "Interactive namespace is empty.\n"
    frames = kernel.run("import os\nalpha = 1\nbeta = 'b'\n_private = 2\ndef fn(): pass\n%who")
    assert stdout(frames) == "alpha\tbeta\tfn\tos\n"
    assert stdout(kernel.run("%who int str")) == "alpha\tbeta\n"
    assert result(kernel.run("%who_ls")) == "['alpha', 'beta', 'fn', 'os']"
    # A prelude helper rebound by the user is theirs and shows up.
    assert "read" in stdout(kernel.run("read = 3\n%who"))


def test_whos_shows_a_table_of_user_variables(kernel):
    frames = kernel.run("count = 10\nlong_text = 'x' * 100\n%whos")
    lines = stdout(frames).splitlines()
    assert lines[0].split() == ["Variable", "Type", "Data/Info"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split() == ["count", "int", "10"]
    assert lines[3].split()[:2] == ["long_text", "str"]
    assert "<...>" in lines[3]
    assert len(lines) == 4


def test_reset_clears_user_names_and_keeps_helpers(kernel):
    ok(kernel.run("mine = 1\nimport json"))
    frames = kernel.run("%reset -f")
    assert done(frames)["status"] == "ok"
    assert error(kernel.run("mine"))["ename"] == "NameError"
    assert stdout(kernel.run("%who")) == "Interactive namespace is empty.\n"
    frames = kernel.run("log('helpers are back')\nprint(parallel([lambda: 1]), callable(read), __name__)\ndisplay({'a': 1})")
    assert stdout(frames) == "[1] True __main__\n"
    bundles = [f["bundle"] for f in of_type(frames, "display")]
    assert bundles[0]["application/x-pykernel-status"] == {"op": "log", "message": "helpers are back"}
    assert bundles[1]["application/json"] == {"a": 1}
    assert result(kernel.run("In[1]")) == "'mine = 1\\nimport json'"


def test_reset_without_force_asks_when_input_is_allowed(kernel):
    ok(kernel.run("keep = 1"))
    rid = kernel.start("%reset", allowStdin=True)
    request = kernel.wait_for(rid, "input_request")[-1]
    assert "Proceed" in request["prompt"]
    kernel.send({"type": "input_reply", "id": rid, "value": "n"})
    assert stdout(kernel.collect(rid)) == "Nothing done.\n"
    assert result(kernel.run("keep")) == "1"


def test_load_shows_and_runs_a_file(kernel, tmp_path):
    (tmp_path / "snippet.py").write_text("loaded_value = 6\nprint('ran')\nloaded_value * 7\n")
    frames = kernel.run("%load snippet.py")
    assert [f["type"] for f in frames] == ["started", "display", "stdout", "result", "done"]
    assert of_type(frames, "display")[0]["bundle"]["text/plain"].startswith("# %load snippet.py\nloaded_value = 6")
    assert result(frames) == "42"
    assert result(kernel.run("loaded_value")) == "6"


def test_run_executes_a_script_with_arguments(kernel, tmp_path):
    (tmp_path / "script.py").write_text(
        "import sys\nprint(sys.argv, __name__)\nfrom_script = len(sys.argv)\nif __name__ == '__main__':\n    print('main guard')\n"
    )
    frames = kernel.run("%run script.py one 'two words'")
    assert stdout(frames) == "['script.py', 'one', 'two words'] __main__\nmain guard\n"
    assert result(kernel.run("from_script")) == "3"
    assert result(kernel.run("import sys\nsys.argv[0].endswith('pykernel_runner')")) == "True"


def test_run_reports_errors_from_the_script(kernel, tmp_path):
    (tmp_path / "bad.py").write_text("def f():\n    raise ValueError('in script')\nf()\n")
    err = error(kernel.run("%run bad.py"))
    traceback = "\n".join(err["traceback"])
    assert err["evalue"] == "in script"
    assert "bad.py\", line 2, in f" in traceback
    assert "pykernel_runner" not in traceback
    assert error(kernel.run("%run missing.py"))["ename"] == "UsageError"
    (tmp_path / "exits.py").write_text("import sys\nprint('bye')\nsys.exit(0)\n")
    assert ok(kernel.run("%run exits.py")) == "bye\n"


def test_ls_magic(kernel, tmp_path):
    (tmp_path / "listed.txt").write_text("")
    frames = kernel.run("%ls")
    assert "listed.txt" in stdout(frames)
    assert statuses(frames) == [{"op": "ls", "path": str(tmp_path), "exit_code": 0, "count": 1}]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a").write_text("")
    (tmp_path / "sub" / "b").write_text("")
    assert statuses(kernel.run("%ls -1 sub")) == [{"op": "ls", "path": str(tmp_path / "sub"), "exit_code": 0, "count": 2}]


def test_magics_report_what_they_did_as_status_events(kernel, tmp_path):
    (tmp_path / "d").mkdir()
    assert statuses(kernel.run("%cd d")) == [{"op": "cd", "path": str(tmp_path / "d")}]
    assert statuses(kernel.run("%cd /not/a/dir/at/all")) == []
    assert statuses(kernel.run("%pwd")) == [{"op": "pwd", "path": str(tmp_path / "d")}]
    (event,) = statuses(kernel.run("%time 1 + 1"))
    assert sorted(event) == ["cpu_ms", "elapsed_ms", "op"] and event["op"] == "time" and event["elapsed_ms"] >= 0
    (event,) = statuses(kernel.run("%%time\n2 + 2"))
    assert event["op"] == "time"
    (event,) = statuses(kernel.run("%timeit -n 3 -r 2 pass"))
    assert sorted(event) == ["best_ms", "loops", "mean_ms", "op", "repeat", "total_ms"]
    assert (event["op"], event["loops"], event["repeat"]) == ("timeit", 3, 2)
    assert statuses(kernel.run("%%writefile n\u00e9.txt\nh\u00e9")) == [
        {"op": "writefile", "path": "n\u00e9.txt", "bytes": 4, "append": False}
    ]
    assert statuses(kernel.run("%reset -f")) == [{"op": "reset"}]


def test_matplotlib_magic_is_accepted(kernel):
    assert done(kernel.run("%matplotlib inline"))["status"] == "ok"


def test_lsmagic_lists_the_magics(kernel):
    # As in IPython, the listing is the cell's result (so `r = %lsmagic` keeps it).
    out = result(kernel.run("%lsmagic"))
    assert "%timeit" in out and "%%capture" in out


# --- cell magics ---------------------------------------------------------------------


def test_bash_cell_streams_without_waiting_for_newlines(kernel, tmp_path):
    flag = tmp_path / "go"
    rid = kernel.start("%%%%bash\nprintf first\nwhile [ ! -e %s ]; do sleep 0.01; done\nprintf second" % flag)
    early = kernel.wait_for(rid, "stdout")
    assert early[-1]["data"] == "first"
    flag.write_text("")
    frames = kernel.collect(rid)
    assert "first" + stdout(frames) == "firstsecond"
    assert result(frames) is None


def test_bash_cell_keeps_stderr_separate_and_a_failure_raises(kernel):
    # IPython 9: a script that fails raises CalledProcessError after its output.
    frames = kernel.run("%%bash\necho out\necho err >&2\nexit 4")
    assert stdout(frames) == "out\n"
    assert stderr(frames) == "err\n"
    assert error(frames)["ename"] == "CalledProcessError"
    assert error(frames)["evalue"] == (
        "Command 'b'echo out\\necho err >&2\\nexit 4\\n'' returned non-zero exit status 4."
    )


def test_script_cells_set_the_exit_code_and_report_it(kernel):
    frames = kernel.run("%%bash\necho fine")
    assert (stdout(frames), stderr(frames), result(frames)) == ("fine\n", "", None)
    assert statuses(frames) == [{"op": "bash", "exit_code": 0}]
    assert result(kernel.run("_exit_code")) == "0"
    frames = kernel.run("%%sh --no-raise-error\necho via sh\nexit 3")
    assert (stdout(frames), stderr(frames), done(frames)["status"]) == ("via sh\n", "", "ok")
    assert statuses(frames) == [{"op": "sh", "exit_code": 3}]
    assert result(kernel.run("_exit_code")) == "3"
    frames = kernel.run("%%bash\nkill -TERM $$")
    assert error(frames)["evalue"].endswith("died with <Signals.SIGTERM: 15>.")
    assert result(kernel.run("_exit_code")) == "-15"


def test_script_cells_read_the_cell_on_stdin(kernel):
    # As IPython runs them: the program gets the cell on its stdin, not as a file.
    assert ok(kernel.run("%%bash\necho $0")) == "bash\n"


def test_capture_cell_captures_streams_and_displays(kernel):
    frames = kernel.run(
        "%%capture captured\n"
        "import os, sys\n"
        "print('to stdout')\n"
        "print('to stderr', file=sys.stderr)\n"
        "os.system('echo from a child')\n"
        "display('shown later')\n"
        "'last value'"
    )
    assert [f["type"] for f in frames] == ["started", "done"]
    frames = kernel.run(
        "print(repr(captured.stdout), repr(captured.stderr), len(captured.outputs))\ncaptured.show()"
    )
    assert stdout(frames).startswith("'to stdout\\nfrom a child\\n' 'to stderr\\n' 2\n")
    assert stdout(frames).endswith("to stdout\nfrom a child\n")
    assert stderr(frames) == "to stderr\n"
    assert [f["bundle"]["text/plain"] for f in of_type(frames, "display")] == ["'shown later'", "'last value'"]


def test_capture_applies_to_its_cell_only(kernel):
    ok(kernel.run("%%capture\nprint('swallowed')"))
    assert stdout(kernel.run("print('visible again')")) == "visible again\n"
    frames = kernel.run("%%capture --no-stderr c2\nimport sys\nprint('kept quiet')\nprint('shown', file=sys.stderr)")
    assert stdout(frames) == ""
    assert stderr(frames) == "shown\n"


def test_capture_cell_with_an_error_still_ends_capturing(kernel):
    frames = kernel.run("%%capture c3\nprint('before error')\n1/0")
    assert error(frames)["ename"] == "ZeroDivisionError"
    assert result(kernel.run("c3.stdout")) == "'before error\\n'"
    assert stdout(kernel.run("print('free')")) == "free\n"


def test_writefile_cell(kernel, tmp_path):
    assert stdout(kernel.run("%%writefile out/notes.txt\nfirst line")) == "Writing out/notes.txt\n"
    assert (tmp_path / "out" / "notes.txt").read_text() == "first line\n"
    assert stdout(kernel.run("%%writefile -a out/notes.txt\nsecond line")) == "Appending to out/notes.txt\n"
    assert (tmp_path / "out" / "notes.txt").read_text() == "first line\nsecond line\n"
    assert stdout(kernel.run("%%writefile out/notes.txt\nreplaced")) == "Overwriting out/notes.txt\n"
    assert (tmp_path / "out" / "notes.txt").read_text() == "replaced\n"
    frames = kernel.run("fname = 'from_var.txt'\n")
    ok(frames)
    ok(kernel.run("%%writefile {fname}\n!not a shell line\n%not a magic"))
    assert (tmp_path / "from_var.txt").read_text() == "!not a shell line\n%not a magic\n"


# --- bounds and processes ------------------------------------------------------------


def test_shell_output_is_cut_at_3000_lines(kernel):
    frames = kernel.run("!%s -c \"for i in range(3100): print('x')\"" % PY)
    out = stdout(frames)
    assert out == "x\r\n" * 3000 + NOTICE + "\n"
    assert done(frames)["status"] == "ok"


def test_captured_shell_output_is_cut_at_3000_lines(kernel):
    frames = kernel.run(
        "result = !%s -c \"for i in range(3100): print('x')\"\nprint('captured=%%d return=%%d' %% (len(result), result.returncode))" % PY
    )
    out = stdout(frames)
    assert out.count(NOTICE) == 1
    assert "captured=3000 return=0" in out


def test_shell_output_is_cut_at_one_mebibyte(kernel):
    frames = kernel.run(
        "result = !%s -c \"import sys; sys.stdout.write('z' * (1024 * 1024 + 17))\"\n"
        "print('capturedChars=%%d return=%%d' %% (len(result.n), result.returncode))" % PY
    )
    out = stdout(frames)
    assert out.count(NOTICE) == 1
    assert "capturedChars=1048576 return=0" in out
    frames = kernel.run("!%s -c \"import sys; sys.stdout.write('z' * (1024 * 1024 + 17))\"" % PY)
    assert stdout(frames) == "z" * 1048576 + "\n" + NOTICE + "\n"


def test_the_child_is_drained_after_the_cut(kernel):
    # The child writes far more than the pipe holds; it must finish, not block.
    frames = kernel.run(
        "r = !%s -c \"import sys; [print('line', i) for i in range(200000)]; print('END', file=sys.stderr)\"\n"
        "(r.returncode, len(r), r[-1])" % PY
    )
    assert result(frames) == "(0, 3000, 'line 2999')"


def test_exactly_at_the_limit_is_not_truncated(kernel):
    frames = kernel.run("r = !%s -c \"for i in range(3000): print(i)\"\nlen(r)" % PY)
    assert result(frames) == "3000"
    assert NOTICE not in stdout(frames)


def test_pip_and_bash_output_is_bounded_too(kernel):
    frames = kernel.run("%%%%bash\n%s -c \"for i in range(3005): print(i)\"" % PY)
    assert stdout(frames).endswith("2999\n" + NOTICE + "\n")


def test_shell_children_run_in_the_runners_process_group(kernel):
    if os.name != "posix":
        return
    frames = kernel.run("import os\nmine = os.getpgid(0)\ntheirs = !%s -c \"import os; print(os.getpgid(0))\"\nint(theirs[0]) == mine" % PY)
    assert result(frames) == "True"


def test_shell_children_get_devnull_stdin(kernel):
    frames = kernel.run("!cat; echo done-reading")
    assert stdout(frames) == "done-reading\r\n"


def test_a_background_shell_job_does_not_hang_the_cell(kernel):
    frames = kernel.run("!sleep 30 &\nprint('returned')", timeout=20)
    assert stdout(frames) == "returned\n"


def test_env_magic_hides_what_the_hosts_secret_rule_names(tmp_path):
    env = dict(os.environ, PYKERNEL_SECRET_RULE="KEY,DSN|PASSW|SSH_AUTH_SOCK")
    k = Kernel(cwd=str(tmp_path), env=env)
    try:
        cell = (
            "import os\n"
            "os.environ.update(DB_DSN='d', MYPASSWORD='p', SSH_AUTH_SOCK='s', KEYRING_X='k', PLAIN='v')\n"
            "envs = %env\n"
            "[envs[n] for n in ('DB_DSN', 'MYPASSWORD', 'SSH_AUTH_SOCK', 'KEYRING_X', 'PLAIN')]"
        )
        assert result(k.run(cell)) == "['<hidden>', '<hidden>', 's', 'k', 'v']"
        # The runner took the rule out of the environment user code sees.
        assert result(k.run("'PYKERNEL_SECRET_RULE' in os.environ")) == "False"
    finally:
        k.close()
