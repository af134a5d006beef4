"""The Jupyter side of `cargo xtask bench`: jupyter_client + ipykernel, measured like pykernel.

Run with the bench virtualenv's interpreter (the kernel is launched with that same
interpreter, `sys.executable`). Writes one flat JSON object of numbers to `--json`.
Every number is measured the way `kernel/examples/bench.rs` measures pykernel's; the
module docs of `xtask/src/bench.rs` say exactly what each covers.
"""

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

from jupyter_client import KernelManager

# Give up on any single wait after this long, so a broken kernel fails the bench instead
# of hanging it.
TIMEOUT_S = 60.0
LINE_BYTES = 1024  # one printed line, newline included
PNG_BYTES = 20_000_000  # the PNG the display measurement shows


def ms(seconds):
    return seconds * 1000.0


def percentile(values, fraction):
    """Nearest-rank percentile of `values` (0 < fraction <= 1)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without importing math
    return ordered[int(rank) - 1]


def vm_rss_mb(pid="self"):
    """VmRSS of a process in MB (10^6 bytes), from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def cpu_seconds(pid="self"):
    """utime + stime (all threads) of a process from /proc/<pid>/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuClock:
    """CPU time of this (host) process and of a kernel process since creation."""

    def __init__(self, kernel_pid):
        self.kernel_pid = kernel_pid
        self.host = cpu_seconds()
        self.kernel = cpu_seconds(kernel_pid)

    def elapsed(self):
        return cpu_seconds() - self.host, cpu_seconds(self.kernel_pid) - self.kernel


def ignore_output(_msg):
    pass


class Kernel:
    """One ipykernel with its blocking client, started the way a Jupyter host does."""

    def __init__(self):
        self.manager = KernelManager(kernel_name="python3")
        # The kernel's own stdout/stderr (not the cell's, which travel on iopub) would
        # only print the TCP-without-encryption warning on every start.
        self.manager.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = self.manager.blocking_client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=TIMEOUT_S)

    @property
    def pid(self):
        return self.manager.provisioner.process.pid

    def run(self, code, output_hook=ignore_output):
        """Runs `code` until its execute_reply and idle status, handing outputs to the hook."""
        reply = self.client.execute_interactive(
            code, timeout=TIMEOUT_S, output_hook=output_hook, allow_stdin=False
        )
        return reply["content"]

    def close(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def check_interpreter():
    """The kernel must run this very interpreter, so both sides compare the same Python."""
    kernel = Kernel()
    try:
        exe = os.path.realpath(f"/proc/{kernel.pid}/exe")
        mine = os.path.realpath(sys.executable)
        if exe != mine:
            raise RuntimeError(f"ipykernel runs {exe}, the bench runs {mine}")
    finally:
        kernel.close()


def cold_start(n):
    """Spawn until the first `pass` has run: start_kernel, channels, ready, execute('pass')."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        kernel = Kernel()
        content = kernel.run("pass")
        samples.append(ms(time.perf_counter() - started))
        kernel.close()
        if content["status"] != "ok":
            raise RuntimeError(f"`pass` failed: {content}")
    return statistics.median(samples)


def round_trips(kernel, n):
    """`1+1` from execute request until reply and idle status, its result consumed;
    also the CPU time per round trip of this client process and of the kernel."""
    for _ in range(min(50, n)):  # warm-up, not timed
        kernel.run("1+1")
    samples = []
    results = []

    def hook(msg):
        if msg["msg_type"] == "execute_result":
            results.append(msg["content"]["data"]["text/plain"])

    cpu = CpuClock(kernel.pid)
    for _ in range(n):
        started = time.perf_counter()
        kernel.run("1+1", hook)
        samples.append(ms(time.perf_counter() - started))
    host_s, kernel_s = cpu.elapsed()
    if results != ["2"] * n:
        raise RuntimeError(f"unexpected results: {results[:3]}...")
    return {
        "rtt_median_ms": statistics.median(samples),
        "rtt_p99_ms": percentile(samples, 0.99),
        "rtt_cpu_host_us": host_s * 1e6 / n,
        "rtt_cpu_kernel_us": kernel_s * 1e6 / n,
    }


def stdout_throughput(kernel, total_bytes):
    """`print` of `total_bytes` in 1 KiB lines; MB/s until the reply, every byte received;
    also the CPU time per MB of this client process and of the kernel."""
    lines = total_bytes // LINE_BYTES
    code = f"line = 'x' * {LINE_BYTES - 1}\nfor _ in range({lines}):\n    print(line)\n"
    received = [0]

    def hook(msg):
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            received[0] += len(msg["content"]["text"])

    cpu = CpuClock(kernel.pid)
    started = time.perf_counter()
    content = kernel.run(code, hook)
    elapsed = time.perf_counter() - started
    host_s, kernel_s = cpu.elapsed()
    expected = lines * LINE_BYTES
    if content["status"] != "ok" or received[0] != expected:
        raise RuntimeError(f"stdout: got {received[0]} of {expected} bytes ({content['status']})")
    mb = expected / 1e6
    return {
        "stdout_mb_per_s": mb / elapsed,
        "stdout_cpu_host_ms_per_mb": host_s * 1e3 / mb,
        "stdout_cpu_kernel_ms_per_mb": kernel_s * 1e3 / mb,
    }


def display_png(kernel, runs):
    """A 20 MB PNG shown with display(): ms from the request until the client has the
    whole display_data (its base64 of the right length), median of `runs`."""
    kernel.run(
        "import os\nclass _Png:\n    def _repr_png_(self):\n        return _png_data\n"
        f"_png_data = b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom({PNG_BYTES - 8})\n_png = _Png()"
    )
    want = (PNG_BYTES + 2) // 3 * 4
    samples = []
    for _ in range(runs):
        arrived = []

        def hook(msg):
            data = msg["content"].get("data", {})
            if msg["msg_type"] == "display_data" and "image/png" in data:
                arrived.append((time.perf_counter() - started, len(data["image/png"].rstrip())))

        started = time.perf_counter()
        content = kernel.run("display(_png)", hook)
        if content["status"] != "ok" or [n for _, n in arrived] != [want]:
            raise RuntimeError(f"display: got {[n for _, n in arrived]} of {want} base64 bytes")
        samples.append(arrived[0][0] * 1e3)
    kernel.run("del _png, _png_data, _Png")
    return statistics.median(samples)


def interrupt_latency(kernel, trials):
    """`while True: pass` after a flushed marker; interrupt until execute_reply."""
    samples = []
    code = "print('spinning', flush=True)\nwhile True:\n    pass\n"
    for _ in range(trials):
        client = kernel.client
        msg_id = client.execute(code, allow_stdin=False)
        wait_for_stream(client, msg_id, "spinning")
        time.sleep(0.1)  # let it settle into the loop
        started = time.perf_counter()
        kernel.manager.interrupt_kernel()
        reply = wait_for_reply(client, msg_id)
        samples.append(ms(time.perf_counter() - started))
        if reply["content"].get("ename") != "KeyboardInterrupt":
            raise RuntimeError(f"interrupt ended with {reply['content']}")
        drain_until_idle(client, msg_id)
    return statistics.median(samples)


def wait_for_stream(client, msg_id, text):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=TIMEOUT_S)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and text in msg["content"]["text"]:
            return
    raise RuntimeError("the spinning cell never printed its marker")


def wait_for_reply(client, msg_id):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        reply = client.get_shell_msg(timeout=TIMEOUT_S)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply
    raise RuntimeError("no execute_reply after the interrupt")


def drain_until_idle(client, msg_id):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=TIMEOUT_S)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            return
    raise RuntimeError("the interrupted cell never went idle")


def idle_memory(n):
    """Client RSS growth per kernel, and each idle ipykernel's own RSS, averaged over `n`."""
    gc.collect()
    before = vm_rss_mb()
    kernels = [Kernel() for _ in range(n)]
    for kernel in kernels:
        kernel.run("pass")
    time.sleep(0.5)  # let the kernels settle after their first cell
    gc.collect()
    after = vm_rss_mb()
    kernel_rss = [vm_rss_mb(kernel.pid) for kernel in kernels]
    for kernel in kernels:
        kernel.close()
    return (after - before) / n, statistics.mean(kernel_rss)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke test)")
    args = parser.parse_args()

    if args.quick:
        n_cold, n_rtt, stdout_bytes, n_stdout, n_interrupt, n_memory = 2, 100, 2 << 20, 1, 2, 2
    else:
        n_cold, n_rtt, stdout_bytes, n_stdout, n_interrupt, n_memory = 10, 1000, 50 << 20, 3, 5, 10

    # The first kernel also pays the client's one-time costs (imports, zmq context).
    check_interpreter()
    results = {}
    # Memory first, before the other measurements leave freed heap behind that new kernels
    # would reuse without growing the process.
    results["rss_host_mb"], results["rss_kernel_mb"] = idle_memory(n_memory)
    results["cold_start_ms"] = cold_start(n_cold)
    kernel = Kernel()
    try:
        results.update(round_trips(kernel, n_rtt))
        # The median of each figure over the runs (one 50 MB run is the noisiest figure).
        runs = [stdout_throughput(kernel, stdout_bytes) for _ in range(n_stdout)]
        for key in runs[0]:
            results[key] = statistics.median(run[key] for run in runs)
        results["interrupt_ms"] = interrupt_latency(kernel, n_interrupt)
        results["display_png_ms"] = display_png(kernel, n_stdout)
    finally:
        kernel.close()
    results["warm_start_ms"] = None  # jupyter_client has no pool of pre-started kernels

    with open(args.json, "w") as out:
        json.dump(results, out, indent=2)
        out.write("\n")
    for key, value in results.items():
        print(f"jupyter {key} = {value}", file=sys.stderr)


if __name__ == "__main__":
    main()
