"""`pyk mcp` over stdio, driven by the official Python MCP SDK."""

import base64
import json
import os
import signal
import subprocess

import anyio
import pytest
import mcp_types as types

from conftest import PYK, pyk_args, stdio_session, text_of, wait_for_file, wait_gone

pytestmark = pytest.mark.anyio


async def run(client, code, **arguments):
    return await client.call_tool("run_python", {"code": code, **arguments})


async def test_tools_are_listed_with_their_schemas():
    async with stdio_session() as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert sorted(tools) == ["interrupt_session", "list_sessions", "restart_session", "run_python"]
    run_python = tools["run_python"]
    assert run_python.input_schema["required"] == ["code"]
    assert run_python.input_schema["properties"]["session"]["default"] == "default"
    assert run_python.input_schema["properties"]["timeout"]["type"] == "number"
    assert "kernelRestarted" in run_python.output_schema["properties"]
    assert tools["interrupt_session"].input_schema["required"] == ["session"]
    assert all(tool.description and tool.output_schema for tool in tools.values())


async def test_state_is_kept_within_a_session_and_isolated_between_sessions():
    async with stdio_session() as session:
        await run(session, "x = 1")
        await run(session, "x = 2", session="other")
        first = await run(session, "x")
        second = await run(session, "x", session="other")
        listed = await session.call_tool("list_sessions", {})
    assert (text_of(first), text_of(second)) == ("1\n", "2\n")
    assert first.structured_content["status"] == "ok"
    assert first.structured_content["kernelRestarted"] is False
    names = sorted(s["name"] for s in listed.structured_content["sessions"])
    assert names == ["default", "other"]
    assert all(s["alive"] and not s["busy"] and s["cwd"] for s in listed.structured_content["sessions"])


async def test_two_sessions_run_at_once(tmp_path):
    # Session a can only finish once session b ran, so sequential calls would time out.
    flag = tmp_path / "flag"
    waiter = f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.01)\n'saw it'"
    setter = f"open({str(flag)!r}, 'w').close()\n'set it'"
    async with stdio_session() as session:
        results = {}

        async def call(name, code):
            results[name] = await run(session, code, session=name, timeout=20)

        async with anyio.create_task_group() as group:
            group.start_soon(call, "a", waiter)
            await anyio.sleep(0.2)
            group.start_soon(call, "b", setter)
    assert text_of(results["a"]) == "'saw it'\n"
    assert text_of(results["b"]) == "'set it'\n"
    assert not results["a"].structured_content["timedOut"]


async def test_a_matplotlib_plot_arrives_as_png_image_content():
    code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
    async with stdio_session() as session:
        result = await run(session, code)
    images = [block for block in result.content if block.type == "image"]
    assert result.is_error is False, text_of(result)
    assert len(images) == 1
    assert images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n")


async def test_a_python_error_is_a_tool_error_with_the_traceback():
    async with stdio_session() as session:
        result = await run(session, "def f():\n    return 1 / 0\nf()")
    assert result.is_error is True
    text = text_of(result)
    assert "Traceback" in text and "ZeroDivisionError: division by zero" in text
    assert "\x1b[" not in text
    assert result.structured_content["error"] == {"ename": "ZeroDivisionError", "evalue": "division by zero"}
    assert result.structured_content["status"] == "error"


async def test_a_timeout_returns_and_the_session_keeps_its_state():
    async with stdio_session() as session:
        await run(session, "kept = 'still here'")
        # Bounded by the timeout plus the interrupt grace (5 s), with room for a slow machine.
        with anyio.fail_after(1 + 5 + 10):
            result = await run(session, "while True: pass", timeout=1)
        after = await run(session, "kept")
    assert result.is_error is True
    assert result.structured_content["timedOut"] is True
    assert "KeyboardInterrupt" in text_of(result)
    assert "hit its timeout" in text_of(result)
    assert text_of(after) == "'still here'\n"
    assert after.structured_content["kernelRestarted"] is False


async def test_interrupt_session_stops_a_running_call(tmp_path):
    marker = tmp_path / "running"
    code = f"import time\nopen({str(marker)!r}, 'w').write('1')\nwhile True: time.sleep(0.01)"
    async with stdio_session() as session:
        await run(session, "y = 5", session="s")
        results = []

        async def call():
            results.append(await run(session, code, session="s", timeout=60))

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            await anyio.to_thread.run_sync(wait_for_file, str(marker))
            interrupted = await session.call_tool("interrupt_session", {"session": "s"})
        after = await run(session, "y", session="s")
    assert interrupted.structured_content == {"session": "s", "busy": True}
    assert results[0].structured_content["cancelled"] is True
    assert results[0].structured_content["error"]["ename"] == "KeyboardInterrupt"
    assert text_of(after) == "5\n"


async def test_a_client_cancellation_interrupts_the_cell(tmp_path):
    marker = tmp_path / "running"
    caught = tmp_path / "caught"
    code = (
        f"import time\nopen({str(marker)!r}, 'w').write('1')\n"
        f"try:\n    while True: time.sleep(0.01)\n"
        f"except KeyboardInterrupt:\n    open({str(caught)!r}, 'w').write('interrupted')\n    raise"
    )
    async with stdio_session() as session:
        async with anyio.create_task_group() as group:
            call = anyio.CancelScope()

            async def cancellable_call():
                with call:
                    await run(session, code)

            group.start_soon(cancellable_call)
            await anyio.to_thread.run_sync(wait_for_file, str(marker))
            # Abandoning the call makes the SDK send notifications/cancelled for it.
            call.cancel()
        assert await anyio.to_thread.run_sync(wait_for_file, str(caught)) == "interrupted"
        # The next call queues behind the cell still winding down, and runs after it.
        after = await run(session, "'usable'")
    assert text_of(after) == "'usable'\n", after.structured_content


async def test_progress_is_reported_while_a_long_cell_runs():
    code = "import time\nfor i in range(12):\n    print(f'step {i}', flush=True)\n    time.sleep(1)"
    reports = []

    async def on_progress(progress, total, message):
        reports.append((progress, message))

    async with stdio_session() as session:
        result = await session.call_tool(
            "run_python", {"code": code}, progress_callback=on_progress
        )
    assert result.is_error is False
    # At least one report every 5 s over 12 s.
    assert len(reports) >= 3, reports
    assert all(later[0] > earlier[0] for earlier, later in zip(reports, reports[1:]))
    assert any("last output: step" in message for _, message in reports), reports


async def test_a_50_mb_print_gives_a_bounded_result_and_saves_the_whole():
    code = "import sys\nline = 'x' * 1023 + '\\n'\nfor i in range(51200):\n    sys.stdout.write(line)\n'end'"
    async with stdio_session() as session:
        result = await run(session, code)
        # The saved output lives as long as the server.
        saved = result.structured_content["savedOutput"]
        saved_size = os.path.getsize(saved)
    text = text_of(result)
    assert result.is_error is False
    assert len(text) < 21_000
    assert result.structured_content["truncated"] is True
    assert "characters (" in text and "left out" in text
    assert saved in text
    assert saved_size == 51200 * 1024 + len("'end'\n")
    assert text.endswith("'end'\n")


async def test_input_without_elicitation_fails_at_once():
    async with stdio_session() as session:
        with anyio.fail_after(30):
            result = await run(session, "name = input('name? ')")
    assert result.is_error is True
    assert result.structured_content["stdinRequested"] is True
    assert "there is no stdin to answer it here" in text_of(result)


async def test_input_asks_the_user_through_elicitation():
    prompts = []

    async def elicit(context, params):
        prompts.append(params.message)
        return types.ElicitResult(action="accept", content={"input": "Ada"})

    async with stdio_session(elicitation_callback=elicit) as session:
        result = await run(session, "name = input('name? ')\nf'hello {name}'")
    assert result.is_error is False, text_of(result)
    assert text_of(result).endswith("'hello Ada'\n")
    assert prompts == ["The Python code asks: name?"]


async def test_a_killed_kernel_is_replaced_and_reported():
    async with stdio_session() as session:
        await run(session, "z = 1")
        died = await run(session, "import os; os.kill(os.getpid(), 9)")
        after = await run(session, "'z' in globals()")
    assert died.is_error is True
    assert died.structured_content["kernelKilled"] is True
    assert after.structured_content["kernelRestarted"] is True
    assert "earlier variables are gone" in text_of(after)
    assert text_of(after).endswith("False\n")


async def test_more_sessions_than_allowed_are_refused():
    async with stdio_session("--max-sessions", "1") as session:
        await run(session, "1", session="one")
        refused = await run(session, "1", session="two")
    assert refused.is_error is True
    assert "too many sessions" in text_of(refused)


def rpc(process, message):
    process.stdin.write((json.dumps(message) + "\n").encode())
    process.stdin.flush()


def start_raw_server(tmp_path):
    """`pyk mcp` spoken to by hand, with a cell running that wrote its pid."""
    pid_file = tmp_path / "pid"
    process = subprocess.Popen(
        [PYK, *pyk_args()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    rpc(process, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    process.stdout.readline()
    rpc(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    code = f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\nwhile True: pass"
    rpc(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                  "params": {"name": "run_python", "arguments": {"code": code}}})
    return process, int(wait_for_file(str(pid_file)))


def test_a_client_killed_mid_cell_leaves_no_python_process(tmp_path):
    process, pid = start_raw_server(tmp_path)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert wait_gone(pid, 2), f"kernel {pid} still runs 2 s after pyk mcp was killed"


def test_a_client_that_closes_stdin_mid_cell_leaves_no_python_process(tmp_path):
    process, pid = start_raw_server(tmp_path)
    process.stdin.close()
    assert wait_gone(pid, 2), f"kernel {pid} still runs 2 s after the client went away"
    assert process.wait(timeout=10) == 0
