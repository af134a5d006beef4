"""The prelude helpers, as the host installs them (a silent cell at startup)."""

import os

from conftest import PRELUDE, Kernel, done, error, of_type, ok, result, statuses, stdout

HELPERS = ["display", "env", "read", "write", "output", "tool", "log", "phase", "parallel", "pipeline", "host_call", "HostCallError"]


def test_the_prelude_defines_the_helpers_and_nothing_else(kernel):
    frames = kernel.run("print(sorted(k for k in globals() if not k.startswith('_') and k not in ('In', 'Out')))")
    assert stdout(frames) == repr(sorted(HELPERS)) + "\n"
    assert error(kernel.run("artifact"))["ename"] == "NameError"


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


def answer(kernel, rid, value=None, fail=None):
    """Answers the next host call of execution ``rid`` and returns it."""
    call = kernel.wait_for(rid, "call")[-1]
    reply = {"type": "reply", "callId": call["callId"]}
    reply.update({"ok": False, "error": fail} if fail is not None else {"ok": True, "value": value})
    kernel.send(reply)
    return call


# --- output() ------------------------------------------------------------------------


def test_output_asks_the_host_for_an_artifact(kernel):
    rid = kernel.start("output('a1')")
    call = answer(kernel, rid, "the whole text\n")
    assert (call["name"], call["args"]) == (
        "output",
        {"id": "a1", "query": None, "offset": 0, "limit": None, "format": "text"},
    )
    assert result(kernel.collect(rid)) == repr("the whole text\n")
    rid = kernel.start("output('a2', query='ERROR', offset=5, limit=10, format='json')['lines']")
    call = answer(kernel, rid, {"lines": 3})
    assert call["args"] == {"id": "a2", "query": "ERROR", "offset": 5, "limit": 10, "format": "json"}
    assert result(kernel.collect(rid)) == "3"


def test_output_of_an_unknown_id_is_a_clear_error(kernel):
    code = "try:\n    output('zz')\nexcept KeyError as exc:\n    print(type(exc).__name__, isinstance(exc, FileNotFoundError), exc)"
    rid = kernel.start(code)
    answer(kernel, rid, fail="unknown output id 'zz'")
    assert stdout(kernel.collect(rid)) == "OutputNotFoundError True unknown output id 'zz'\n"
    rid = kernel.start("output('a1', offset=900)")
    answer(kernel, rid, fail="offset 900 is beyond the end of a1 (12 lines)")
    err = error(kernel.collect(rid))
    assert (err["ename"], err["evalue"]) == ("ValueError", "offset 900 is beyond the end of a1 (12 lines)")
    rid = kernel.start("output('a1')")
    answer(kernel, rid, fail='no host function named "output"')
    err = error(kernel.collect(rid))
    assert (err["ename"], err["evalue"]) == ("RuntimeError", "saved outputs are unavailable: this host keeps no artifacts")


def test_output_checks_its_arguments_before_asking(kernel):
    for code in ("output('a', format='xml')", "output('a', offset=-1)", "output('a', limit='3')"):
        frames = kernel.run(code)
        assert error(frames)["ename"] == "ValueError", code
        assert not of_type(frames, "call")
    assert error(kernel.run("output('a', query=3)"))["ename"] == "TypeError"


# --- read() and write() with schemes -------------------------------------------------


def test_local_paths_live_under_the_local_root(kernel, tmp_path):
    frames = kernel.run("p = write('local://notes/merge-map.md', 'hello')\nprint('WROTE', p)")
    assert stdout(frames) == "WROTE %s\n" % (tmp_path / "local" / "notes" / "merge-map.md")
    ok(kernel.run("write('local://notes/merge-map.md', ' world', append=True)"))
    assert result(kernel.run("read('local://notes/merge-map.md')")) == "'hello world'"
    assert (tmp_path / "local" / "notes" / "merge-map.md").read_text() == "hello world"
    assert not (tmp_path / "local:").exists()
    assert sorted(os.listdir(tmp_path)) == ["local"]


def test_the_local_root_comes_from_the_environment(tmp_path):
    root = tmp_path / "artifacts" / "local"
    env = dict(os.environ, PYKERNEL_LOCAL_ROOT=str(root))
    k = Kernel(cwd=str(tmp_path), env=env)
    try:
        frames = k.run("write('local://a%20b/c.txt', 'one\\ntwo\\nthree\\n')\nread('local://a b/c.txt', 2, 1)")
        assert result(frames) == repr("two\n")
        assert statuses(frames)[-1]["path"] == str(root / "a b" / "c.txt")
        assert (root / "a b" / "c.txt").read_text() == "one\ntwo\nthree\n"
    finally:
        k.close()


def test_local_paths_cannot_leave_the_root(kernel, tmp_path):
    (tmp_path / "local").mkdir()
    (tmp_path / "secret.txt").write_text("no")
    os.symlink(str(tmp_path), str(tmp_path / "local" / "up"))
    for path in ("local://../secret.txt", "local://a/../../secret.txt", "local:///etc/passwd", "local://a/%2e%2e/%2e%2e/x"):
        err = error(kernel.run("read(%r)" % path))
        assert (err["ename"], err["evalue"]) == ("ValueError", "unsafe local:// path (absolute or traversal): %s" % path)
    err = error(kernel.run("write('local://up/secret.txt', 'overwritten')"))
    assert err["ename"] == "ValueError"
    assert err["evalue"].startswith("local:// path escapes its root")
    assert (tmp_path / "secret.txt").read_text() == "no"


def test_other_schemes_are_read_by_the_host_with_a_line_selector(kernel):
    rid = kernel.start("print(read('artifact://21', 3, 2))")
    first = answer(kernel, rid, {"text": "resource contents"})
    assert stdout(kernel.collect(rid)) == "resource contents\n"
    rid = kernel.start("print(read('mcp://server/resource:10-14'))")
    second = answer(kernel, rid, "resource contents")
    assert stdout(kernel.collect(rid)) == "resource contents\n"
    assert (first["name"], first["args"]) == ("resource_read", {"uri": "artifact://21", "offset": 3, "limit": 2})
    assert (second["name"], second["args"]) == ("resource_read", {"uri": "mcp://server/resource", "offset": 10, "limit": 5})
    rid = kernel.start("read('artifact://7:4-')")
    assert answer(kernel, rid, "tail")["args"] == {"uri": "artifact://7", "offset": 4, "limit": None}
    assert result(kernel.collect(rid)) == "'tail'"
    assert error(kernel.run("read('artifact://7:4-5', 2)"))["ename"] == "ValueError"


def test_other_schemes_are_written_by_the_host(kernel, tmp_path):
    rid = kernel.start("write('notes://m.md', 'x', append=True)")
    call = answer(kernel, rid, None)
    assert (call["name"], call["args"]) == ("resource_write", {"uri": "notes://m.md", "content": "x", "append": True})
    frames = kernel.collect(rid)
    assert result(frames) == "'notes://m.md'"
    assert statuses(frames) == [{"op": "write", "path": "notes://m.md", "chars": 1, "append": True}]
    assert os.listdir(tmp_path) == []


def test_a_scheme_the_host_does_not_serve_is_a_clear_error(kernel, tmp_path):
    rid = kernel.start("read('nope://thing')")
    answer(kernel, rid, fail='no host function named "resource_read"')
    err = error(kernel.collect(rid))
    assert (err["ename"], err["evalue"]) == (
        "ValueError",
        "nope:// is not served by this host (it has no 'resource_read' function): nope://thing",
    )
    rid = kernel.start("write('s3://bucket/key', 'x')")
    answer(kernel, rid, fail="unknown scheme s3")
    err = error(kernel.collect(rid))
    assert (err["ename"], err["evalue"]) == ("HostCallError", "unknown scheme s3")
    assert os.listdir(tmp_path) == []


def test_write_appends(kernel, tmp_path):
    ok(kernel.run("write('log.txt', 'a\\n')\nwrite('log.txt', 'b\\n', append=True)\nwrite('log.bin', b'1')\nwrite('log.bin', b'2', append=True)"))
    assert (tmp_path / "log.txt").read_text() == "a\nb\n"
    assert (tmp_path / "log.bin").read_bytes() == b"12"


# --- tool ----------------------------------------------------------------------------


def test_tool_calls_the_host_function_and_reports_it(kernel):
    rid = kernel.start("tool.grep({'pattern': 'x'}, path='src')")
    call = answer(kernel, rid, ["src/a.rs"])
    assert (call["name"], call["args"]) == ("grep", {"pattern": "x", "path": "src"})
    frames = kernel.collect(rid)
    assert result(frames) == "['src/a.rs']"
    (event,) = statuses(frames)
    assert event.pop("ms") >= 0
    assert event == {"op": "tool", "name": "grep", "ok": True}
    rid = kernel.start("tool['fetch-url']()")
    assert answer(kernel, rid, None)["name"] == "fetch-url"
    ok(kernel.collect(rid))


def test_a_failed_tool_call_raises_and_reports_it(kernel):
    rid = kernel.start("tool.broken(n=1)")
    answer(kernel, rid, fail="kapow")
    frames = kernel.collect(rid)
    err = error(frames)
    assert (err["ename"], err["evalue"]) == ("HostCallError", "kapow")
    (event,) = statuses(frames)
    del event["ms"]
    assert event == {"op": "tool", "name": "broken", "ok": False, "error": "kapow"}
    assert error(kernel.run("tool.x([1])"))["ename"] == "TypeError"
    assert error(kernel.run("tool._private"))["ename"] == "AttributeError"


def test_tool_lists_the_host_functions(tmp_path):
    env = dict(os.environ, PYKERNEL_HOST_FUNCTIONS="search,output, fetch ,not valid")
    k = Kernel(cwd=str(tmp_path), env=env)
    try:
        assert result(k.run("dir(tool)")) == "['fetch', 'output', 'search']"
        assert result(k.run("tool")) == "<tool: fetch, output, search>"
        assert result(k.run("tool.search")) == "<tool.search>"
        k.send({"type": "complete", "id": "c1", "code": "tool.se", "cursor": 7})
        reply = k.next_frame()
        assert reply["matches"] == ["search"], reply
    finally:
        k.close()
