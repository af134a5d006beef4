// The Node example client against a real `pyk serve`: run with `node --test clients/node/test`
// and PYK_BIN (the pyk binary) and PYK_PYTHON (the kernels' interpreter) set, as
// `cargo xtask ci` does.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { PykServe, PykServeError } from "../pyk-serve.mjs";

const python = process.env.PYK_PYTHON ?? "python3";

function start(options = {}) {
  return new PykServe({ args: ["--python", python, "--pool-size", "0"], ...options });
}

function processExists(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead, only waiting for its parent to reap it.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

test("a cell streams its outputs in order", async () => {
  const pyk = start();
  const outputs = [];
  const result = await pyk.execute(
    "import sys\nprint('out')\nprint('err', file=sys.stderr)\ndisplay({'text/plain': 'shown'}, raw=True)\n6 * 7",
    { onOutput: (output) => outputs.push(output) },
  );
  assert.equal(result.status, "ok");
  assert.equal(result.executionCount, 1);
  assert.deepEqual(outputs.map((o) => o.type), ["stdout", "stderr", "display", "result"]);
  assert.equal(outputs[3].bundle["text/plain"], "42");
  const failed = await pyk.execute("1/0");
  assert.equal(failed.error.ename, "ZeroDivisionError");
  assert.equal(await pyk.close(), 0);
});

test("input() is answered by the client", async () => {
  const prompts = [];
  const pyk = start({
    onInput: async ({ prompt, password }) => {
      prompts.push([prompt, password]);
      return "ada";
    },
  });
  const outputs = [];
  const result = await pyk.execute("import getpass\nprint(input('who? '), getpass.getpass('pw: '))", {
    onOutput: (o) => outputs.push(o.data),
  });
  assert.equal(result.status, "ok");
  assert.deepEqual(prompts, [["who? ", false], ["pw: ", true]]);
  assert.equal(outputs.join(""), "ada ada\n");
  assert.equal(await pyk.close(), 0);
});

test("host calls reach the client, and its errors raise in Python", async () => {
  const calls = [];
  const pyk = start({
    onCall: (name, args, session) => {
      calls.push([name, args, session]);
      if (name === "add") return args.reduce((a, b) => a + b, 0);
      throw new Error(`no tool named ${name}`);
    },
  });
  const outputs = [];
  const result = await pyk.execute(
    "print(host_call('add', [1, 2, 39]))\ntry:\n    host_call('fetch', url='x')\nexcept HostCallError as e:\n    print('raised:', e)",
    { session: "tools", onOutput: (o) => outputs.push(o.data) },
  );
  assert.equal(result.status, "ok");
  assert.deepEqual(calls, [["add", [1, 2, 39], "tools"], ["fetch", { url: "x" }, "tools"]]);
  assert.equal(outputs.join(""), "42\nraised: no tool named fetch\n");
  assert.equal(await pyk.close(), 0);
});

test("a runaway cell is cancelled, another interrupted, and the namespace survives", async () => {
  const pyk = start();
  await pyk.execute("kept = 1");
  let started;
  let running = new Promise((resolve) => (started = resolve));
  const runaway = pyk.executeAsync("import time\nprint('go', flush=True)\nwhile True: time.sleep(0.01)", {
    onOutput: () => started(),
  });
  await running;
  runaway.cancel();
  const cancelled = await runaway.result;
  assert.equal(cancelled.cancelled, true);
  assert.equal(cancelled.kernelKilled, false);

  running = new Promise((resolve) => (started = resolve));
  const spinning = pyk.executeAsync("print('go', flush=True)\nwhile True: pass", { onOutput: () => started() });
  await running;
  assert.deepEqual(await pyk.interrupt(), {});
  const interrupted = await spinning.result;
  assert.equal(interrupted.error.ename, "KeyboardInterrupt");
  assert.equal((await pyk.execute("kept")).status, "ok");
  assert.equal(await pyk.close(), 0);
});

test("sessions, completion, restart and shutdown", async () => {
  const pyk = start();
  await pyk.execute("value = 1", { session: "a" });
  await pyk.execute("other = 2", { session: "b" });
  assert.deepEqual((await pyk.sessions()).map((s) => s.name), ["a", "b"]);
  const completions = await pyk.complete("val", undefined, "a");
  assert.ok(completions.matches.includes("value"));
  assert.deepEqual(await pyk.restart("a"), { session: "a", generation: 2 });
  assert.equal((await pyk.execute("value", { session: "a" })).error.ename, "NameError");
  assert.deepEqual(await pyk.shutdown("b"), {});
  assert.deepEqual(await pyk.shutdown("b"), {});
  await assert.rejects(pyk.interrupt("b"), (error) => error instanceof PykServeError && error.code === -32002);
  assert.equal(await pyk.close(), 0);
});

test("bad input gets errors and the connection goes on", async () => {
  const received = [];
  const pyk = start({ onMessage: (direction, message) => direction === "<" && received.push(message) });
  pyk.sendLine("not json");
  await assert.rejects(pyk.request("nope"), (error) => error.code === -32601);
  await assert.rejects(pyk.request("execute", { code: 3 }), (error) => error.code === -32602);
  assert.deepEqual(received.filter((m) => m.error).map((m) => m.error.code), [-32700, -32601, -32602]);
  assert.equal((await pyk.execute("1 + 1")).status, "ok");
  assert.equal(await pyk.close(), 0);
});

test("the end of input shuts every kernel down and no Python process remains", async () => {
  const pyk = start();
  const outputs = [];
  await pyk.execute("import subprocess\nchild = subprocess.Popen(['sleep', '300'])\nprint(child.pid)", {
    session: "a",
    onOutput: (o) => outputs.push(o.data),
  });
  await pyk.execute("1", { session: "b" });
  const pids = (await pyk.sessions()).map((s) => s.pid);
  pids.push(Number(outputs.join("")));
  assert.equal(await pyk.close(), 0);
  assert.deepEqual(pids.filter(processExists), []);
});
