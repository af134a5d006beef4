"""Talking back to the host: input(), getpass() and host calls."""

from conftest import done, error, of_type, ok, result, stdout


def test_input_without_allow_stdin_raises_like_ipython(kernel):
    err = error(kernel.run("input('name? ')"))
    assert err["ename"] == "StdinNotImplementedError"
    assert err["evalue"] == "raw_input was called, but this frontend does not support input requests."


def test_input_with_allow_stdin_asks_the_host(kernel):
    rid = kernel.start("print('before')\nname = input('name? ')\nprint('hello', name)", allowStdin=True)
    frames = kernel.wait_for(rid, "input_request")
    assert stdout(frames) == "before\n"
    assert frames[-1] == {"type": "input_request", "id": rid, "prompt": "name? ", "password": False}
    kernel.send({"type": "input_reply", "id": rid, "value": "Ada"})
    assert stdout(kernel.collect(rid)) == "hello Ada\n"


def test_an_eof_reply_makes_input_raise_eoferror(kernel):
    code = "try:\n    input('name? ')\nexcept EOFError as exc:\n    print('eof:', exc)"
    rid = kernel.start(code, allowStdin=True)
    kernel.wait_for(rid, "input_request")
    kernel.send({"type": "input_reply", "id": rid, "value": "", "eof": True})
    assert stdout(kernel.collect(rid)) == "eof: EOF when reading a line\n"
    rid = kernel.start("input()", allowStdin=True)
    kernel.wait_for(rid, "input_request")
    kernel.send({"type": "input_reply", "id": rid, "eof": True})
    assert error(kernel.collect(rid))["ename"] == "EOFError"
    assert result(kernel.run("'still here'")) == "'still here'"


def test_getpass_asks_for_a_password(kernel):
    rid = kernel.start("import getpass\nsecret = getpass.getpass()\nlen(secret)", allowStdin=True)
    request = kernel.wait_for(rid, "input_request")[-1]
    assert request["password"] is True
    assert request["prompt"] == "Password: "
    kernel.send({"type": "input_reply", "id": rid, "value": "hunter2"})
    assert result(kernel.collect(rid)) == "7"


def test_an_input_reply_for_another_id_is_ignored(kernel):
    rid = kernel.start("input()", allowStdin=True)
    kernel.wait_for(rid, "input_request")
    kernel.send({"type": "input_reply", "id": "someone-else", "value": "wrong"})
    kernel.send({"type": "input_reply", "id": rid, "value": "right"})
    assert result(kernel.collect(rid)) == "'right'"
    kernel.wait_log("no input() is waiting")


def test_an_interrupt_stops_waiting_for_input(kernel):
    rid = kernel.start("input('wait: ')", allowStdin=True)
    kernel.wait_for(rid, "input_request")
    kernel.send({"type": "interrupt"})
    frames = kernel.collect(rid)
    assert done(frames)["cancelled"] is True
    assert ok(kernel.run("print('next')")) == "next\n"


def test_exit_while_waiting_for_input_ends_the_cell_and_the_runner(kernel):
    rid = kernel.start("try:\n    input()\nexcept EOFError:\n    print('eof')", allowStdin=True)
    kernel.wait_for(rid, "input_request")
    kernel.send({"type": "exit"})
    assert stdout(kernel.collect(rid)) == "eof\n"
    assert kernel.proc.wait(timeout=10) == 0


def test_host_call_returns_the_hosts_value(kernel):
    rid = kernel.start("value = host_call('lookup', {'key': 'k'}, extra=1)\nvalue['answer']")
    call = kernel.wait_for(rid, "call")[-1]
    assert call == {
        "type": "call",
        "id": rid,
        "callId": call["callId"],
        "name": "lookup",
        "args": {"key": "k", "extra": 1},
    }
    kernel.send({"type": "reply", "callId": call["callId"], "ok": True, "value": {"answer": 42}})
    assert result(kernel.collect(rid)) == "42"


def test_host_call_args_can_be_any_json_value(kernel):
    rid = kernel.start("host_call('echo', [1, 'two', None])")
    call = kernel.wait_for(rid, "call")[-1]
    assert call["args"] == [1, "two", None]
    kernel.send({"type": "reply", "callId": call["callId"], "ok": True, "value": None})
    frames = kernel.collect(rid)
    assert result(frames) is None
    assert done(frames)["status"] == "ok"
    rid = kernel.start("host_call('noargs')")
    assert kernel.wait_for(rid, "call")[-1]["args"] is None


def test_host_call_errors_raise_host_call_error(kernel):
    rid = kernel.start("try:\n    host_call('fails')\nexcept HostCallError as exc:\n    print('caught:', exc)")
    call = kernel.wait_for(rid, "call")[-1]
    kernel.send({"type": "reply", "callId": call["callId"], "ok": False, "error": "no such tool"})
    assert stdout(kernel.collect(rid)) == "caught: no such tool\n"


def test_host_call_ids_are_fresh(kernel):
    rid = kernel.start("a = host_call('one')\nb = host_call('two')\n(a, b)")
    first = kernel.wait_for(rid, "call")[-1]
    kernel.send({"type": "reply", "callId": first["callId"], "ok": True, "value": 1})
    second = kernel.wait_for(rid, "call")[-1]
    assert second["callId"] != first["callId"]
    kernel.send({"type": "reply", "callId": second["callId"], "ok": True, "value": 2})
    assert result(kernel.collect(rid)) == "(1, 2)"


def test_a_reply_for_an_unknown_call_is_logged(kernel):
    kernel.send({"type": "reply", "callId": "nope", "ok": True, "value": 1})
    assert ok(kernel.run("print('fine')")) == "fine\n"
    kernel.wait_log("unknown call 'nope'")


def test_an_interrupt_stops_waiting_for_a_host_call(kernel):
    rid = kernel.start("host_call('slow')")
    call = kernel.wait_for(rid, "call")[-1]
    kernel.send({"type": "interrupt"})
    assert done(kernel.collect(rid))["cancelled"] is True
    # The late reply is ignored.
    kernel.send({"type": "reply", "callId": call["callId"], "ok": True, "value": 1})
    assert ok(kernel.run("print('next')")) == "next\n"


def test_host_calls_from_parallel_threads(kernel):
    rid = kernel.start("parallel([lambda n=n: host_call('square', n=n) for n in range(3)])")
    assert kernel.next_frame() == {"type": "started", "id": rid}
    answered = 0
    while answered < 3:
        frame = kernel.next_frame()
        assert frame["type"] == "call", frame
        kernel.send({"type": "reply", "callId": frame["callId"], "ok": True, "value": frame["args"]["n"] ** 2})
        answered += 1
    assert result(kernel.collect(rid)) == "[0, 1, 4]"


def test_the_output_before_a_call_arrives_first(kernel):
    rid = kernel.start("print('first')\nhost_call('x')")
    frames = kernel.wait_for(rid, "call")
    assert [f["type"] for f in frames] == ["started", "stdout", "call"]
    kernel.send({"type": "reply", "callId": frames[-1]["callId"], "ok": True, "value": 0})
    assert of_type(kernel.collect(rid), "result")
