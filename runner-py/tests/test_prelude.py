"""The prelude helpers, as the host installs them (a silent cell at startup)."""

from conftest import PRELUDE, done, error, of_type, ok, result, statuses, stdout

HELPERS = ["display", "env", "read", "write", "log", "phase", "parallel", "pipeline", "host_call", "HostCallError"]


def test_the_prelude_defines_the_helpers_and_nothing_else(kernel):
    frames = kernel.run("sorted(k for k in globals() if not k.startswith('_') and k not in ('In', 'Out'))")
    assert result(frames) == repr(sorted(HELPERS))
    assert error(kernel.run("output"))["ename"] == "NameError"


def test_the_helpers_are_documented(kernel):
    frames = kernel.run("[name for name in %r if not (globals()[name].__doc__ or '').strip()]" % HELPERS)
    assert result(frames) == "[]"


def test_the_prelude_produces_no_output_and_no_count(bare_kernel):
    frames = bare_kernel.run(PRELUDE, silent=True, storeHistory=False)
    assert [f["type"] for f in frames] == ["started", "done"]
    assert done(frames)["executionCount"] == 0


def test_the_prelude_is_idempotent(kernel):
    ok(kernel.run(PRELUDE, silent=True, storeHistory=False))
    assert stdout(kernel.run("%who")) == "Interactive namespace is empty.\n"
    assert result(kernel.run("parallel([lambda: 'again'])")) == "['again']"


def test_helpers_are_hidden_from_who(kernel):
    assert stdout(kernel.run("%who")) == "Interactive namespace is empty.\n"
    assert stdout(kernel.run("mine = 1\n%who")) == "mine\n"


def test_log_and_phase_emit_status_bundles(kernel):
    frames = kernel.run("log('hello')\nphase('Scan')")
    bundles = [f["bundle"] for f in of_type(frames, "display")]
    assert bundles == [
        {"application/x-pykernel-status": {"op": "log", "message": "hello"}, "text/plain": ""},
        {"application/x-pykernel-status": {"op": "phase", "title": "Scan"}, "text/plain": ""},
    ]
    assert result(frames) is None


def test_env_reads_and_sets_variables(kernel):
    frames = kernel.run("env('PRELUDE_VAR', 'v1')")
    assert result(frames) == "'v1'"
    assert statuses(frames) == [{"op": "env", "key": "PRELUDE_VAR", "action": "set"}]
    frames = kernel.run("env('PRELUDE_VAR')")
    assert result(frames) == "'v1'"
    assert statuses(frames) == [{"op": "env", "key": "PRELUDE_VAR", "action": "get", "found": True}]
    assert result(kernel.run("env('NOT_SET_ANYWHERE_XYZ')")) is None
    frames = kernel.run("all_vars = env()\n(type(all_vars).__name__, all_vars['PRELUDE_VAR'], list(all_vars) == sorted(all_vars))")
    assert result(frames) == "('dict', 'v1', True)"
    (event,) = statuses(frames)
    assert event["op"] == "env" and event["count"] > 0 and len(event["keys"]) <= 20


def test_read_returns_text_and_slices_lines(kernel, tmp_path):
    (tmp_path / "lines.txt").write_text("one\ntwo\nthree\nfour\n", encoding="utf-8")
    frames = kernel.run("read('lines.txt')")
    assert result(frames) == repr("one\ntwo\nthree\nfour\n")
    assert statuses(frames) == [
        {"op": "read", "path": "lines.txt", "chars": 19, "preview": "one\ntwo\nthree\nfour\n"}
    ]
    assert result(kernel.run("read('lines.txt', 2, 2)")) == repr("two\nthree\n")
    assert result(kernel.run("read('lines.txt', 3)")) == repr("three\nfour\n")
    assert result(kernel.run("read('lines.txt', limit=1)")) == repr("one\n")
    assert result(kernel.run("read('lines.txt', 10)")) == repr("")
    assert error(kernel.run("read('lines.txt', 0)"))["ename"] == "ValueError"
    assert error(kernel.run("read('missing.txt')"))["ename"] == "FileNotFoundError"


def test_read_previews_at_most_500_characters(kernel, tmp_path):
    (tmp_path / "big.txt").write_text("x" * 2000)
    (event,) = statuses(kernel.run("len(read('big.txt'))"))
    assert event["chars"] == 2000
    assert event["preview"] == "x" * 500


def test_write_creates_parents_and_returns_the_path(kernel, tmp_path):
    frames = kernel.run("p = write('deep/er/note.md', 'h\u00e9llo\\n')\n(type(p).__name__, str(p))")
    assert result(frames) in ("('PosixPath', 'deep/er/note.md')", "('WindowsPath', 'deep/er/note.md')")
    assert statuses(frames) == [{"op": "write", "path": "deep/er/note.md", "chars": 6}]
    assert (tmp_path / "deep" / "er" / "note.md").read_text(encoding="utf-8") == "h\u00e9llo\n"
    ok(kernel.run("write('blob.bin', b'\\x00\\x01')"))
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert result(kernel.run("read(write('round.txt', 'trip'))")) == "'trip'"


def test_parallel_keeps_order(kernel):
    assert stdout(kernel.run("print(parallel([lambda: 1, lambda: 2, lambda: 3]))")) == "[1, 2, 3]\n"
    assert result(kernel.run("parallel([])")) == "[]"


def test_parallel_runs_concurrently_within_the_limit(kernel):
    frames = kernel.run(
        "import threading, time\n"
        "lock = threading.Lock()\n"
        "state = {'now': 0, 'peak': 0}\n"
        "def job(n):\n"
        "    with lock:\n"
        "        state['now'] += 1\n"
        "        state['peak'] = max(state['peak'], state['now'])\n"
        "    time.sleep(0.1)\n"
        "    with lock:\n"
        "        state['now'] -= 1\n"
        "    return n\n"
        "out = parallel([lambda n=n: job(n) for n in range(6)], concurrency=2)\n"
        "(out, state['peak'])"
    )
    assert result(frames) == "([0, 1, 2, 3, 4, 5], 2)"
    frames = kernel.run("state['peak'] = 0\nparallel([lambda n=n: job(n) for n in range(4)])\nstate['peak'] > 1")
    assert result(frames) == "True"


def test_parallel_raises_the_first_failure_after_all_finish(kernel):
    frames = kernel.run(
        "import time\n"
        "finished = []\n"
        "def slow_ok():\n"
        "    time.sleep(0.2)\n"
        "    finished.append('slow')\n"
        "def boom(msg):\n"
        "    raise ValueError(msg)\n"
        "parallel([slow_ok, lambda: boom('kaboom'), lambda: boom('second')])"
    )
    err = error(frames)
    assert (err["ename"], err["evalue"]) == ("ValueError", "kaboom")
    assert result(kernel.run("finished")) == "['slow']"


def test_parallel_checks_its_arguments(kernel):
    assert error(kernel.run("parallel([1])"))["ename"] == "TypeError"
    assert error(kernel.run("parallel([lambda: 1], concurrency=0)"))["ename"] == "ValueError"


def test_parallel_output_belongs_to_the_cell(kernel):
    frames = kernel.run("parallel([lambda n=n: print('worker', n) for n in range(3)])")
    assert sorted(stdout(frames).splitlines()) == ["worker 0", "worker 1", "worker 2"]


def test_parallel_copies_context_variables(kernel):
    frames = kernel.run(
        "import contextvars\n"
        "var = contextvars.ContextVar('var', default='unset')\n"
        "var.set('from cell')\n"
        "parallel([lambda: var.get(), lambda: var.get()])"
    )
    assert result(frames) == "['from cell', 'from cell']"


def test_pipeline_runs_stages_in_order(kernel):
    assert stdout(kernel.run("print(pipeline([1, 2, 3], lambda x: x + 1, lambda x: x * 10))")) == "[20, 30, 40]\n"
    assert result(kernel.run("pipeline([])")) == "[]"
    assert result(kernel.run("pipeline([1, 2])")) == "[1, 2]"
    assert result(kernel.run("pipeline(range(4), str, concurrency=1)")) == "['0', '1', '2', '3']"
    err = error(kernel.run("pipeline([1, 0, 2], lambda x: 10 // x)"))
    assert err["ename"] == "ZeroDivisionError"
    assert error(kernel.run("pipeline([1], 'not callable')"))["ename"] == "TypeError"


def test_host_call_is_available_through_the_prelude(kernel):
    rid = kernel.start("host_call('ping', {'n': 1})")
    call = kernel.wait_for(rid, "call")[-1]
    assert (call["name"], call["args"]) == ("ping", {"n": 1})
    kernel.send({"type": "reply", "callId": call["callId"], "ok": False, "error": "denied"})
    err = error(kernel.collect(rid))
    assert (err["ename"], err["evalue"]) == ("HostCallError", "denied")
