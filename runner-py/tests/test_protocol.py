"""The wire protocol: hello, frame order, request validation, lifecycle."""

import json
import os
import platform
import subprocess
import sys
import time

from conftest import RUNNER, TIMEOUT, Kernel, alive, done, error, of_type, ok, result, stdout


def test_hello_is_the_first_frame_and_describes_the_runner(bare_kernel):
    hello = bare_kernel.hello
    assert hello == {
        "type": "hello",
        "protocol": 2,
        "runner": hello["runner"],
        "python": platform.python_version(),
        "pid": bare_kernel.proc.pid,
        "features": ["interrupt", "input", "call", "complete", "engine:light", "stream_payloads"],
    }
    assert hello["runner"]


def test_protocol_version_constant_matches_hello(bare_kernel):
    source = (RUNNER / "__init__.py").read_text(encoding="utf-8")
    assert "\nPROTOCOL_VERSION = 2\n" in source
    assert bare_kernel.hello["protocol"] == 2


def test_execution_frames_come_in_order_with_one_done(kernel):
    frames = kernel.run("print('a')\ndisplay(1)\n2")
    assert [f["type"] for f in frames] == ["started", "stdout", "display", "result", "done"]
    assert all(f["id"] == frames[0]["id"] for f in frames)
    assert done(frames) == {
        "type": "done",
        "id": frames[0]["id"],
        "status": "ok",
        "executionCount": 1,
        "cancelled": False,
    }


def test_a_threads_output_after_its_cell_goes_out_as_late_output_until_the_next_cell(kernel):
    # What a thread prints while no cell runs is late output under the cell that ended
    # last; once the next cell starts, its output belongs to that cell.
    first = kernel.run(
        "import threading, time\n"
        "stop = threading.Event()\n"
        "def chatter():\n"
        "    while not stop.is_set():\n"
        "        print('tick', flush=True)\n"
        "        time.sleep(0.005)\n"
        "threading.Thread(target=chatter, daemon=True).start()\n"
        "time.sleep(0.05)"
    )
    rid = first[0]["id"]
    time.sleep(0.1)
    second_id = kernel.start("time.sleep(0.05)\nstop.set()\ntime.sleep(0.05)")
    assert rid != second_id
    late, second = [], []
    while True:
        frame = kernel.next_frame(TIMEOUT)
        if not second:
            if frame["id"] == rid:
                late.append(frame)
                continue
        assert frame["id"] == second_id, "frame for another id: %r" % (frame,)
        second.append(frame)
        if frame["type"] == "done":
            break
    assert late and {f["type"] for f in late} == {"stdout"}
    assert "tick" in stdout(late)
    assert second[0]["type"] == "started"
    assert "tick" in stdout(second)


def test_execute_accepts_an_explicit_type(kernel):
    kernel.send({"type": "execute", "id": "typed", "code": "6 * 7"})
    assert result(kernel.collect("typed")) == "42"


def test_frames_are_compact_utf8_lines(kernel):
    kernel.run("'h\u00e9llo \u2603'")
    line = kernel.raw_lines[-2]  # the result frame, before done
    want = '{"type":"result","id":"r2","bundle":{"text/plain":"\'h\u00e9llo \u2603\'"}}\n'
    assert line == want.encode("utf-8")


def test_lone_surrogates_become_replacement_characters(kernel):
    frames = kernel.run("print('a\\udcffb')")
    assert stdout(frames) == "a\ufffdb\n"


def test_values_that_are_not_json_are_sent_as_repr(kernel):
    frames = kernel.run(
        "class Thing:\n"
        "    def __repr__(self):\n"
        "        return '<thing>'\n"
        "display({'text/plain': 'x', 'application/json': {'t': Thing(), 'n': float('nan'), 1: 2}}, raw=True)"
    )
    bundle = of_type(frames, "display")[0]["bundle"]
    assert bundle["application/json"] == {"t": "<thing>", "n": None, "1": 2}


def test_invalid_json_with_an_id_gets_a_protocol_error(kernel):
    kernel.send_raw(b'{"id": "broken", "code": "1" oops}\n')
    frames = kernel.collect("broken")
    assert [f["type"] for f in frames] == ["started", "error", "done"]
    assert error(frames)["ename"] == "ProtocolError"
    assert done(frames)["status"] == "error"
    assert ok(kernel.run("print('still alive')")) == "still alive\n"


def test_lines_without_a_recoverable_id_are_logged_and_skipped(kernel):
    kernel.send_raw(b"this is not json\n")
    kernel.send_raw(b"[1, 2]\n")
    kernel.send_raw(b'"a string"\n')
    kernel.send_raw(b"42\n")
    kernel.send_raw(b"\n   \n")
    kernel.send({"code": "1"})  # no id at all
    assert ok(kernel.run("print('alive')")) == "alive\n"
    kernel.wait_log("not JSON")
    kernel.wait_log("not a JSON object")
    kernel.wait_log("without a string id")
    assert kernel.proc.poll() is None


def test_fields_of_the_wrong_type_get_a_protocol_error(kernel):
    kernel.send({"id": "bad-code", "code": 5})
    assert error(kernel.collect("bad-code"))["ename"] == "ProtocolError"
    kernel.send({"id": "bad-env", "code": "1", "env": {"A": 1}})
    assert "env" in error(kernel.collect("bad-env"))["evalue"]
    kernel.send({"id": "bad-silent", "code": "1", "silent": "yes"})
    assert error(kernel.collect("bad-silent"))["ename"] == "ProtocolError"


def test_numeric_ids_are_answered_as_strings(kernel):
    kernel.send({"id": 7, "code": "1 + 1"})
    assert result(kernel.collect("7")) == "2"


def test_unknown_request_types_are_logged_and_skipped(kernel):
    kernel.send({"type": "frobnicate", "id": "x"})
    assert ok(kernel.run("print(1)")) == "1\n"
    kernel.wait_log("unknown type 'frobnicate'")


def test_exit_finishes_the_running_cell_then_exits_zero(kernel):
    rid = kernel.start("import time\ntime.sleep(0.5)\nprint('finished')")
    kernel.send({"type": "exit"})
    frames = kernel.collect(rid)
    assert stdout(frames) == "finished\n"
    assert kernel.proc.wait(timeout=10) == 0


def test_stdin_eof_means_exit(kernel):
    kernel.proc.stdin.close()
    assert kernel.proc.wait(timeout=10) == 0


def test_exit_is_prompt_even_with_a_non_daemon_thread(kernel):
    ok(kernel.run("import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()"))
    kernel.send({"type": "exit"})
    assert kernel.proc.wait(timeout=10) == 0


def test_runner_exits_when_its_parent_dies(tmp_path):
    # An intermediate process starts the runner, hands it our pipes and reports its
    # pid; once the runner has said hello we kill the intermediate. Our end of stdin
    # stays open, so only the parent watchdog can notice.
    launcher = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-u', sys.argv[1]])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher, str(RUNNER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        pid = int(proc.stdout.readline())
        hello = json.loads(proc.stdout.readline())
        assert hello["pid"] == pid
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while alive(pid):
            assert time.monotonic() < deadline, "runner outlived its parent"
            time.sleep(0.1)
    finally:
        proc.stdin.close()


def test_cwd_is_applied_per_request_and_put_first_on_sys_path(kernel, tmp_path):
    target = tmp_path / "work dir"
    target.mkdir()
    (target / "helper_mod_xyz.py").write_text("VALUE = 'imported'\n")
    frames = kernel.run(
        "import os, sys, helper_mod_xyz\nprint(os.getcwd()); print(sys.path[0]); print(helper_mod_xyz.VALUE)",
        cwd=str(target),
    )
    assert ok(frames) == "%s\n%s\nimported\n" % (target, target)


def test_a_bad_cwd_gives_error_and_done(kernel, tmp_path):
    frames = kernel.run("print('never')", cwd=str(tmp_path / "missing"))
    assert [f["type"] for f in frames] == ["started", "error", "done"]
    assert error(frames)["ename"] == "FileNotFoundError"
    assert "pykernel_runner" not in "".join(error(frames)["traceback"])


def test_env_sets_and_unsets_any_key(kernel):
    ok(kernel.run("import os\nos.environ['GOES_AWAY'] = '1'"))
    frames = kernel.run(
        "print(os.environ.get('CUSTOM_KEY_1'), os.environ.get('GOES_AWAY'))",
        env={"CUSTOM_KEY_1": "set-by-host", "GOES_AWAY": None},
    )
    assert ok(frames) == "set-by-host None\n"
    # A child process sees the same environment.
    assert ok(kernel.run("!echo $CUSTOM_KEY_1")) == "set-by-host\r\n"


def test_silent_executions_show_no_result_and_do_not_count(kernel):
    frames = kernel.run("print('out')\n40 + 2", silent=True)
    assert stdout(frames) == "out\n"
    assert result(frames) is None
    assert done(frames)["executionCount"] == 0
    assert done(kernel.run("1"))["executionCount"] == 1


def test_store_history_false_displays_but_does_not_count(kernel):
    frames = kernel.run("'shown'", storeHistory=False)
    assert result(frames) == "'shown'"
    assert done(frames)["executionCount"] == 0
    frames = kernel.run("'counted'")
    assert done(frames)["executionCount"] == 1


def test_the_runner_can_be_started_as_an_imported_package(tmp_path):
    # Importing the runner (instead of running its directory) lets Python cache all its
    # bytecode without runpy; the host launches it this way.
    boot = "import sys; sys.path.insert(0, sys.argv[1]); import pykernel_runner; pykernel_runner.main()"
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", boot, str(RUNNER.parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=str(tmp_path),
    )
    out, _ = proc.communicate(
        b'{"id":"a","code":"import sys\\nprint(sys.path[0] == \'\', \'pykernel_runner\' in sys.modules)"}\n',
        timeout=30,
    )
    frames = [json.loads(line) for line in out.splitlines()]
    assert frames[0]["type"] == "hello"
    assert stdout(frames) == "True True\n"
    assert proc.returncode == 0


def test_kernel_helper_restarts_cleanly(tmp_path):
    # Two runners side by side do not interfere.
    first = Kernel(cwd=str(tmp_path))
    second = Kernel(cwd=str(tmp_path))
    try:
        ok(first.run("x = 'first'"))
        ok(second.run("x = 'second'"))
        assert result(first.run("x")) == "'first'"
        assert result(second.run("x")) == "'second'"
    finally:
        first.close()
        second.close()
