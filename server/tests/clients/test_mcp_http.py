"""`pyk mcp --http` over streamable HTTP, driven by the official Python MCP SDK."""

import contextlib
import json
import subprocess
import urllib.error
import urllib.request

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from conftest import PYK, http_server, pyk_args, text_of, wait_for_file, wait_gone

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}


@contextlib.asynccontextmanager
async def http_session(url, headers=None):
    async with httpx2.AsyncClient(headers=headers or {}, timeout=60) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def post_initialize(url, headers):
    """The HTTP status of a raw `initialize` POST."""
    request = urllib.request.Request(
        url,
        data=json.dumps(INITIALIZE).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


async def test_a_session_keeps_state_over_http():
    with http_server() as (url, _):
        async with http_session(url) as session:
            await session.call_tool("run_python", {"code": "x = 41"})
            result = await session.call_tool("run_python", {"code": "x + 1"})
            tools = await session.list_tools()
    assert text_of(result) == "42\n"
    assert len(tools.tools) == 4


async def test_a_token_is_required_when_set():
    with http_server("127.0.0.1:0", "--token", "s3cret") as (url, _):
        assert post_initialize(url, {}) == 401
        assert post_initialize(url, {"Authorization": "Bearer wrong"}) == 401
        async with http_session(url, {"Authorization": "Bearer s3cret"}) as session:
            result = await session.call_tool("run_python", {"code": "6 * 7"})
    assert text_of(result) == "42\n"


async def test_a_foreign_origin_is_refused():
    with http_server("127.0.0.1:0") as (url, _):
        assert post_initialize(url, {"Origin": "http://evil.example"}) == 403
        port = url.split(":")[2].split("/")[0]
        assert post_initialize(url, {"Origin": f"http://localhost:{port}"}) == 200
        assert post_initialize(url, {"Host": "evil.example"}) == 403


def test_a_public_address_without_a_token_is_refused():
    done = subprocess.run(
        [PYK, *pyk_args("--http", "0.0.0.0:0")], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "not a loopback address, without a token" in done.stderr


async def test_deleting_the_http_session_shuts_its_kernels_down(tmp_path):
    pid_file = tmp_path / "pid"
    with http_server("127.0.0.1:0") as (url, process):
        async with http_session(url) as session:
            await session.call_tool(
                "run_python", {"code": f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))"}
            )
        # Leaving the client deletes the HTTP session; the server keeps running.
        pid = int(wait_for_file(str(pid_file)))
        assert wait_gone(pid, 5), f"kernel {pid} still runs after its session was deleted"
        assert process.poll() is None
