"""The installed ``pykernel_rs`` client against the ``pyk serve`` bundled in its wheel.

``cargo xtask dist --check`` installs the wheel into a fresh virtualenv and runs this file
with that virtualenv's interpreter (``python -m unittest``), standard library only; the
kernels run on the same interpreter.
"""

from __future__ import annotations

import asyncio
import os
import sys
import sysconfig
import threading
import unittest
from typing import Any, List

from pykernel_rs import AsyncClient, Client, Output, PykServeError, find_pyk
from pykernel_rs.client import METHOD_NOT_FOUND

ARGS = ["--pool-size", "0"]
PYTHON = sys.executable


def start(**handlers: Any) -> Client:
    return Client(python=PYTHON, args=ARGS, **handlers)


async def start_async(**handlers: Any) -> AsyncClient:
    return await AsyncClient.start(python=PYTHON, args=ARGS, **handlers)


class BundledBinaryTest(unittest.TestCase):
    def test_the_binary_is_the_one_in_this_environment(self) -> None:
        pyk = find_pyk()
        self.assertEqual(os.path.dirname(pyk), sysconfig.get_path("scripts"))
        self.assertTrue(os.access(pyk, os.X_OK))


class ClientTest(unittest.TestCase):
    def test_a_cell_streams_its_outputs_and_returns_its_result(self) -> None:
        outputs: List[Output] = []
        with start() as pyk:
            result = pyk.execute("import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7",
                                 on_output=outputs.append)
            self.assertEqual(result["status"], "ok")
            self.assertEqual(result["executionCount"], 1)
            self.assertEqual(outputs, [
                {"type": "stdout", "data": "out\n"},
                {"type": "stderr", "data": "err\n"},
                {"type": "result", "bundle": {"text/plain": "42"}},
            ])
            # The namespace persists between cells.
            pyk.execute("x = 20")
            outputs.clear()
            pyk.execute("x + 1", on_output=outputs.append)
            self.assertEqual(outputs[-1]["bundle"], {"text/plain": "21"})  # type: ignore[typeddict-item]
            self.assertEqual(pyk.close(), 0)

    def test_an_exception_is_the_result_not_a_raise(self) -> None:
        with start() as pyk:
            result = pyk.execute("1 / 0")
            self.assertEqual(result["status"], "error")
            self.assertEqual(result["error"]["ename"], "ZeroDivisionError")
            self.assertFalse(result["cancelled"])

    def test_input_and_host_calls_reach_the_handlers(self) -> None:
        prompts: List[str] = []

        def on_input(request: Any) -> str:
            prompts.append(request["prompt"])
            return "ada"

        def on_call(name: str, args: Any, session: str) -> Any:
            if name == "add":
                return sum(args)
            raise ValueError("no tool %s in %s" % (name, session))

        outputs: List[Output] = []
        with start(on_input=on_input, on_call=on_call) as pyk:
            result = pyk.execute(
                "print(input('who? '), host_call('add', [1, 2, 39]))\n"
                "try:\n    host_call('fetch', {})\nexcept Exception as error:\n"
                "    print(type(error).__name__, error)",
                session="tools", on_output=outputs.append)
            self.assertEqual(result["status"], "ok", result)
        self.assertEqual(prompts, ["who? "])
        text = "".join(output["data"] for output in outputs if output["type"] == "stdout")
        self.assertEqual(text, "ada 42\nHostCallError no tool fetch in tools\n")

    def test_a_runaway_cell_is_cancelled(self) -> None:
        started = threading.Event()

        def on_output(output: Output) -> None:
            started.set()

        with start() as pyk:
            execution = pyk.start_execute("print('spinning', flush=True)\nwhile True: pass",
                                          on_output=on_output)
            self.assertTrue(started.wait(60))
            execution.cancel()
            result = execution.result(60)
            self.assertTrue(result["cancelled"], result)
            self.assertEqual(result["error"]["ename"], "KeyboardInterrupt")
            self.assertEqual(pyk.execute("'alive'")["status"], "ok")

    def test_sessions_complete_restart_and_shutdown(self) -> None:
        with start() as pyk:
            pyk.execute("alpha_beta = 1", session="a")
            self.assertEqual([session["name"] for session in pyk.sessions()], ["a"])
            completions = pyk.complete("alpha_b", session="a")
            self.assertIn("alpha_beta", completions["matches"])
            self.assertEqual((completions["cursorStart"], completions["cursorEnd"]), (0, 7))
            self.assertEqual(pyk.restart("a")["session"], "a")
            self.assertEqual(pyk.execute("alpha_beta", session="a")["error"]["ename"], "NameError")
            pyk.shutdown("a")
            self.assertEqual(pyk.sessions(), [])

    def test_an_error_answer_raises(self) -> None:
        with start() as pyk:
            with self.assertRaises(PykServeError) as raised:
                pyk.request("no_such_method")
            self.assertEqual(raised.exception.code, METHOD_NOT_FOUND)


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    async def test_a_cell_streams_its_outputs_and_returns_its_result(self) -> None:
        outputs: List[Output] = []
        async with await start_async() as pyk:
            result = await pyk.execute("print('out')\n6 * 7", on_output=outputs.append)
            self.assertEqual(result["status"], "ok")
            self.assertEqual([output["type"] for output in outputs], ["stdout", "result"])
            self.assertEqual(await pyk.close(), 0)

    async def test_coroutine_handlers_answer_input_and_host_calls(self) -> None:
        async def on_input(request: Any) -> str:
            await asyncio.sleep(0)
            return "secret" if request["password"] else "ada"

        async def on_call(name: str, args: Any, session: str) -> Any:
            return [name, args, session]

        outputs: List[Output] = []
        async with await start_async(on_input=on_input, on_call=on_call) as pyk:
            result = await pyk.execute(
                "import getpass\nprint(input('who? '), getpass.getpass('pw: '), host_call('f', [1]))",
                on_output=outputs.append)
            self.assertEqual(result["status"], "ok", result)
        self.assertEqual(outputs[-1], {
            "type": "stdout",
            "data": "ada secret ['f', [1], 'default']\n",
        })

    async def test_a_runaway_cell_is_cancelled(self) -> None:
        started = asyncio.Event()
        async with await start_async() as pyk:
            execution = await pyk.start_execute("print('spinning', flush=True)\nwhile True: pass",
                                                on_output=lambda output: started.set())
            await asyncio.wait_for(started.wait(), 60)
            execution.cancel()
            result = await execution
            self.assertTrue(result["cancelled"], result)
            completions = await pyk.complete("pri")
            self.assertIn("print", completions["matches"])

    async def test_an_error_answer_raises(self) -> None:
        async with await start_async() as pyk:
            with self.assertRaises(PykServeError) as raised:
                await pyk.interrupt("nobody")
            self.assertNotEqual(raised.exception.code, 0)


if __name__ == "__main__":
    unittest.main()
