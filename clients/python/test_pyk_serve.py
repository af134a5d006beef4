"""The Python example client against a real ``pyk serve``: every method and server request.

Run: ``PYK_BIN=target/debug/pyk PYK_PYTHON=target/pyvenv/bin/python python -m unittest
clients/python/test_pyk_serve.py`` (``cargo xtask ci`` does). With ``PYK_SERVE_SCHEMA``
set to ``docs/serve.schema.json`` and the ``jsonschema`` package importable, every
message sent and received is validated against the schema at the end.
"""

import json
import os
import queue
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pyk_serve import PykServe, PykServeError  # noqa: E402

PYTHON = os.environ.get("PYK_PYTHON", sys.executable)
# Every message of every test, as (direction, message), for the schema check.
MESSAGES = []


def start(**handlers):
    return PykServe(args=["--python", PYTHON, "--pool-size", "0"],
                    on_message=lambda direction, message: MESSAGES.append((direction, message)),
                    **handlers)


def process_exists(pid):
    """Whether ``pid`` runs; a zombie (dead, waiting for a parent to reap it) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class PykServeTest(unittest.TestCase):
    def test_a_cell_streams_its_outputs_in_order(self):
        with start() as pyk:
            outputs = []
            result = pyk.execute(
                "import sys\nprint('out')\nprint('err', file=sys.stderr)\n"
                "display({'text/plain': 'shown', 'text/html': '<b>shown</b>'}, raw=True)\n6 * 7",
                on_output=outputs.append,
            )
            self.assertEqual(result["status"], "ok")
            self.assertEqual(result["executionCount"], 1)
            self.assertEqual([output["type"] for output in outputs],
                             ["stdout", "stderr", "display", "result"])
            self.assertEqual(outputs[0]["data"], "out\n")
            self.assertEqual(outputs[3]["bundle"]["text/plain"], "42")
            errors = []
            failed = pyk.execute("1/0", on_output=errors.append)
            self.assertEqual(failed["status"], "error")
            self.assertEqual(failed["error"]["ename"], "ZeroDivisionError")
            self.assertEqual(errors[0]["type"], "error")
            silent = []
            pyk.execute("7", silent=True, on_output=silent.append)
            self.assertEqual(silent, [])

    def test_display_updates_clears_and_late_output_reach_the_client(self):
        late = queue.Queue()
        with start(on_late_output=lambda session, output: late.put((session, output))) as pyk:
            outputs = []
            pyk.execute(
                "h = display('0%', display_id='bar')\nh.update('100%', metadata={'step': 2})\n"
                "__pykernel__.clear_output(wait=True)\nprint('after')",
                on_output=outputs.append,
            )
            self.assertEqual(outputs, [
                {"type": "display", "bundle": {"text/plain": "'0%'"}, "displayId": "bar"},
                {
                    "type": "update_display",
                    "displayId": "bar",
                    "bundle": {"text/plain": "'100%'"},
                    "metadata": {"step": 2},
                },
                {"type": "clear_output", "wait": True},
                {"type": "stdout", "data": "after\n"},
            ])
            pyk.execute(
                "import threading, time\n"
                "threading.Thread(target=lambda: (time.sleep(0.3), print('late'))).start()",
                session="bg",
            )
            self.assertEqual(late.get(timeout=30), ("bg", {"type": "stdout", "data": "late\n"}))

    def test_input_is_answered_by_the_client(self):
        prompts = []

        def on_input(params):
            prompts.append((params["prompt"], params["password"]))
            return None if params["prompt"] == "eof? " else "ada"

        with start(on_input=on_input) as pyk:
            outputs = []
            result = pyk.execute(
                "import getpass\nname = input('who? ')\nsecret = getpass.getpass('pw: ')\n"
                "print(name, secret)\ntry:\n    input('eof? ')\nexcept EOFError:\n    print('eof')",
                on_output=outputs.append,
            )
            self.assertEqual(result["status"], "ok", result)
            self.assertEqual(prompts, [("who? ", False), ("pw: ", True), ("eof? ", False)])
            self.assertEqual("".join(o["data"] for o in outputs), "ada ada\neof\n")
            refused = pyk.execute("input('no stdin here')", allow_stdin=False)
            self.assertTrue(refused["stdinRequested"], refused)

    def test_host_calls_reach_the_client_and_errors_raise_in_python(self):
        calls = []

        def on_call(name, args, session):
            calls.append((name, args, session))
            if name == "add":
                return sum(args)
            raise LookupError("no tool named %s" % name)

        with start(on_call=on_call) as pyk:
            outputs = []
            result = pyk.execute(
                "print(host_call('add', [1, 2, 39]))\n"
                "try:\n    host_call('fetch', {'url': 'x'})\n"
                "except HostCallError as error:\n    print('raised:', error)",
                session="tools",
                on_output=outputs.append,
            )
            self.assertEqual(result["status"], "ok", result)
            self.assertEqual(calls, [("add", [1, 2, 39], "tools"), ("fetch", {"url": "x"}, "tools")])
            text = "".join(o["data"] for o in outputs)
            self.assertIn("42\n", text)
            self.assertIn("raised: no tool named fetch", text)

    def test_a_runaway_cell_is_interrupted_and_cancelled(self):
        with start() as pyk:
            started = threading.Event()
            runaway = pyk.execute_async(
                "import time\nprint('spinning', flush=True)\nwhile True: time.sleep(0.01)",
                on_output=lambda output: started.set(),
            )
            self.assertTrue(started.wait(60))
            runaway.cancel()
            cancelled = runaway.result(60)
            self.assertTrue(cancelled["cancelled"], cancelled)
            self.assertFalse(cancelled["kernelKilled"], cancelled)

            started.clear()
            spinning = pyk.execute_async(
                "print('again', flush=True)\nwhile True: pass",
                on_output=lambda output: started.set(),
            )
            self.assertTrue(started.wait(60))
            self.assertEqual(pyk.interrupt(), {})
            interrupted = spinning.result(60)
            self.assertTrue(interrupted["cancelled"], interrupted)
            self.assertEqual(interrupted["error"]["ename"], "KeyboardInterrupt")
            # The namespace survived both.
            self.assertEqual(pyk.execute("x = 1; x")["status"], "ok")

    def test_timeouts_and_a_dead_kernel_are_results_and_the_session_recovers(self):
        with start() as pyk:
            timed_out = pyk.execute("import time\nwhile True: time.sleep(0.01)", timeout=0.5)
            self.assertTrue(timed_out["timedOut"] and timed_out["cancelled"], timed_out)
            pyk.execute("kept = 1")
            died = pyk.execute("import os\nos._exit(3)")
            self.assertTrue(died["kernelKilled"], died)
            self.assertIn("kernelError", died)
            fresh = pyk.execute("kept")
            self.assertTrue(fresh["kernelRestarted"], fresh)
            self.assertEqual(fresh["error"]["ename"], "NameError")

    def test_sessions_complete_restart_and_shutdown(self):
        with start() as pyk:
            pyk.execute("value = 1", session="a")
            pyk.execute("other = 2", session="b")
            sessions = pyk.sessions()
            self.assertEqual([s["name"] for s in sessions], ["a", "b"])
            self.assertTrue(all(s["alive"] and not s["busy"] for s in sessions), sessions)
            completions = pyk.complete("val", session="a")
            self.assertIn("value", completions["matches"])
            self.assertEqual((completions["cursorStart"], completions["cursorEnd"]), (0, 3))
            restarted = pyk.restart("a")
            self.assertEqual(restarted, {"session": "a", "generation": 2})
            gone = pyk.execute("value", session="a")
            self.assertEqual(gone["error"]["ename"], "NameError")
            self.assertEqual(pyk.shutdown("b"), {})
            self.assertEqual(pyk.shutdown("b"), {})
            self.assertEqual([s["name"] for s in pyk.sessions()], ["a"])
            with self.assertRaises(PykServeError) as raised:
                pyk.interrupt("b")
            self.assertEqual(raised.exception.code, -32002)

    def test_bad_input_gets_errors_and_the_connection_goes_on(self):
        received = []
        with PykServe(args=["--python", PYTHON, "--pool-size", "0", "--max-line-bytes", "1000"],
                      on_message=lambda d, m: d == "<" and (MESSAGES.append((d, m)), received.append(m))) as pyk:
            pyk.send_line(b"not json")
            pyk.send_line(b"[1, 2]")
            pyk.send_line(b'{"jsonrpc":"2.0","id":"x","method":"execute","params":{"code":' + b"1" * 2000 + b"}}")
            with self.assertRaises(PykServeError) as unknown:
                pyk.request("nope", {})
            with self.assertRaises(PykServeError) as params:
                pyk.request("execute", {"code": 3})
            codes = [m["error"]["code"] for m in received if "error" in m]
            self.assertEqual(codes, [-32700, -32600, -32004, -32601, -32602])
            self.assertEqual(unknown.exception.code, -32601)
            self.assertEqual(params.exception.code, -32602)
            self.assertEqual(pyk.execute("1 + 1")["status"], "ok")

    def test_the_end_of_input_shuts_every_kernel_down(self):
        pyk = start()
        pyk.execute("import subprocess\nchild = subprocess.Popen(['sleep', '300'])", session="a")
        pyk.execute("1", session="b")
        pids = [s["pid"] for s in pyk.sessions()]
        outputs = []
        pyk.execute("print(child.pid)", session="a", on_output=outputs.append)
        pids.append(int(outputs[0]["data"]))
        self.assertEqual(pyk.close(), 0)
        self.assertEqual([pid for pid in pids if process_exists(pid)], [])


def validate_messages():
    """Validates every recorded message against the committed schema."""
    schema_path = os.environ.get("PYK_SERVE_SCHEMA")
    if not schema_path:
        return
    import jsonschema  # the CI venv has it; the client itself needs nothing

    with open(schema_path, encoding="utf-8") as file:
        schema = json.load(file)
    definitions = schema["$defs"]
    kinds = {">": "clientMessage", "<": "serverMessage"}
    seen = set()
    for direction, message in MESSAGES:
        sub = dict(definitions[kinds[direction]])
        sub["$defs"] = definitions
        jsonschema.validate(message, sub)
        seen.add((direction, message.get("method") or ("error" if "error" in message else "result")))
    required = {("<", "output"), ("<", "lateOutput"), ("<", "input"), ("<", "call"), ("<", "result"), ("<", "error"),
                (">", "execute"), (">", "$/cancelRequest"), (">", "result"), (">", "error")}
    missing = required - seen
    if missing:
        raise AssertionError("no message of these kinds was checked: %s" % sorted(missing))
    print("schema: %d messages valid" % len(MESSAGES), file=sys.stderr)


if __name__ == "__main__":
    program = unittest.main(exit=False)
    if program.result.wasSuccessful():
        validate_messages()
    sys.exit(0 if program.result.wasSuccessful() else 1)
