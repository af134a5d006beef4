"""`pyk mcp` through the official Python MCP client, and pykernel-mcp beside it.

Usage: mcp_bench.py --pyk PYK --python PYTHON --json OUT [--quick] [--pykernel-mcp CMD]

Numbers (all from this client's view; milliseconds):
- `mcp_rtt_median_ms`, `mcp_rtt_p99_ms`: `run_python` (pykernel-mcp: `execute_python`) of
  `1+1` on one session, N calls after 20 untimed warm-ups, each from `call_tool` until its
  result is back.
- `mcp_raw_rtt_median_ms` (pyk mcp only): the same call written by hand as one JSON-RPC
  line on the server's stdin until its response line, without the SDK: what the server
  and the kernel take, plus one pipe round trip.
- `mcp_first_call_ms` (pyk mcp only): median of 10 first calls in new sessions (`1+1` in
  session `s<i>`), the pool refilled before each (1 s pause).
- `mcp_server_rss_mb_idle20` (pyk mcp only): the server process's RSS with 20 idle
  sessions minus its RSS before the first session; the kernels' own RSS apart, as
  `mcp_kernels_rss_mb_idle20`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * p / 100 + 0.999999) - 1)]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


async def client_rtt(command, args, tool, code_key, n):
    params = StdioServerParameters(command=command, args=args)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(20):
                await session.call_tool(tool, {code_key: "1+1"})
            times = []
            for _ in range(n):
                start = time.perf_counter()
                result = await session.call_tool(tool, {code_key: "1+1"})
                times.append((time.perf_counter() - start) * 1000)
            assert "2" in "".join(getattr(b, "text", "") for b in result.content), result
    return statistics.median(times), percentile(times, 99)


def raw_rtt_and_memory(pyk, python, n):
    process = subprocess.Popen(
        [pyk, "mcp", "--python", python, "--max-sessions", "32"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    next_id = iter(range(1, 10**9))

    def call(method, params):
        request_id = next(next_id)
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        process.stdin.write(line.encode() + b"\n")
        process.stdin.flush()
        while True:
            message = json.loads(process.stdout.readline())
            if message.get("id") == request_id:
                return message

    call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}})
    process.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    process.stdin.flush()
    time.sleep(0.5)  # the pool's kernel starts
    base_rss = rss_mb(process.pid)
    run = {"name": "run_python", "arguments": {"code": "1+1"}}
    for _ in range(20):
        call("tools/call", run)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call("tools/call", run)
        times.append((time.perf_counter() - start) * 1000)
    first = []
    for i in range(10):
        time.sleep(1.0)
        start = time.perf_counter()
        call("tools/call", {"name": "run_python", "arguments": {"code": "1+1", "session": f"s{i}"}})
        first.append((time.perf_counter() - start) * 1000)
    for i in range(10, 19):
        call("tools/call", {"name": "run_python", "arguments": {"code": "1+1", "session": f"s{i}"}})
    time.sleep(1.0)  # the pool refills
    server_rss = rss_mb(process.pid)
    kernels = children(process.pid)
    kernels_rss = sum(rss_mb(pid) for pid in kernels)
    process.stdin.close()
    process.wait(timeout=30)
    return {
        "mcp_raw_rtt_median_ms": statistics.median(times),
        "mcp_first_call_ms": statistics.median(first),
        "mcp_server_rss_mb_idle20": server_rss - base_rss,
        "mcp_kernels_rss_mb_idle20": kernels_rss,
        "mcp_kernels_counted": len(kernels),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyk", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pykernel-mcp")
    args = parser.parse_args()
    n = 50 if args.quick else 500
    results = {"pyk_mcp": {}, "pykernel_mcp": {}}
    median, p99 = anyio.run(client_rtt, args.pyk, ["mcp", "--python", args.python], "run_python", "code", n)
    results["pyk_mcp"].update(mcp_rtt_median_ms=median, mcp_rtt_p99_ms=p99)
    results["pyk_mcp"].update(raw_rtt_and_memory(args.pyk, args.python, n))
    if args.pykernel_mcp:
        try:
            median, p99 = anyio.run(client_rtt, args.pykernel_mcp, [], "execute_python", "code", n)
            results["pykernel_mcp"].update(mcp_rtt_median_ms=median, mcp_rtt_p99_ms=p99)
        except Exception as err:  # a side that fails is reported, not fatal
            results["pykernel_mcp"]["error"] = repr(err)
    with open(args.json, "w") as out:
        json.dump(results, out, indent=2)
    print_table(results)


def print_table(results):
    ours, theirs = results["pyk_mcp"], results["pykernel_mcp"]
    rows = [
        ("run_python 1+1, MCP client round trip, median (ms)", "mcp_rtt_median_ms"),
        ("run_python 1+1, MCP client round trip, p99 (ms)", "mcp_rtt_p99_ms"),
        ("the same as a raw JSON-RPC line, no SDK, median (ms)", "mcp_raw_rtt_median_ms"),
        ("first call in a new session (pool), median of 10 (ms)", "mcp_first_call_ms"),
        ("server RSS growth with 20 idle sessions (MB)", "mcp_server_rss_mb_idle20"),
        ("the kernels' own RSS, 20 sessions + pool (MB)", "mcp_kernels_rss_mb_idle20"),
    ]
    print("\n| MCP metric | pyk mcp | pykernel-mcp |\n| --- | --- | --- |")
    for label, key in rows:
        cells = [f"{side[key]:.3f}" if key in side else "-" for side in (ours, theirs)]
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    if "error" in theirs:
        print(f"pykernel-mcp failed: {theirs['error']}")


if __name__ == "__main__":
    sys.exit(main())
