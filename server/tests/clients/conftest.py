"""Helpers for driving `pyk mcp` with the official Python MCP SDK.

`PYK_BIN` is the pyk binary and `PYKERNEL_TEST_PYTHON` the kernels' interpreter; both are
set by `cargo xtask test-mcp`.
"""

import contextlib
import os
import re
import subprocess
import time

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

PYK = os.environ.get("PYK_BIN", "target/debug/pyk")
PYTHON = os.environ.get("PYKERNEL_TEST_PYTHON", "python3")


@pytest.fixture
def anyio_backend():
    return "asyncio"


def pyk_args(*extra):
    return ["mcp", "--python", PYTHON, *extra]


@contextlib.asynccontextmanager
async def stdio_session(*extra, **session_kwargs):
    """An initialized client session over stdio with a fresh `pyk mcp`."""
    params = StdioServerParameters(command=PYK, args=pyk_args(*extra))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, **session_kwargs) as session:
            await session.initialize()
            yield session


def text_of(result):
    """The text content of a tool result, joined."""
    return "".join(block.text for block in result.content if block.type == "text")


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # A zombie has exited; only its parent's wait is missing.
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid, seconds):
    """Whether process `pid` is gone within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return not pid_alive(pid)


def wait_for_file(path, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as f:
                return f.read()
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear within {seconds} s")


@contextlib.contextmanager
def http_server(address="127.0.0.1:0", *extra):
    """`pyk mcp --http 127.0.0.1:0 ...` running; yields (url, process)."""
    process = subprocess.Popen(
        [PYK, *pyk_args("--http", address, *extra)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        match = re.search(r"serving MCP at (http://\S+)", line)
        assert match, f"unexpected first line from pyk mcp --http: {line!r}"
        yield match.group(1), process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
