// The installed `pykernel-rs` npm package's client against the `pyk serve` of its
// platform package. `cargo xtask dist --check` installs both tarballs into a fresh folder,
// compiles this file there with `tsc` (so the package's `.d.ts` types are checked too)
// and runs it with `node --test`; kernels run on `$PYK_PYTHON`.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";

import {
  Client,
  type ClientOptions,
  ErrorCode,
  type ExecuteResult,
  findPyk,
  type Output,
  PykServeError,
} from "pykernel-rs";

function start(options: ClientOptions = {}): Client {
  return new Client({ python: process.env.PYK_PYTHON, args: ["--pool-size", "0"], ...options });
}

function stdoutText(outputs: Output[]): string {
  return outputs.map((output) => (output.type === "stdout" ? output.data : "")).join("");
}

test("the binary is the platform package's", () => {
  const pyk = findPyk();
  assert.match(pyk, /node_modules\/@pykernel-rs\/linux-x64\/bin\/pyk$/);
  assert.ok(existsSync(pyk));
});

test("a cell streams its outputs and returns its result", async () => {
  const pyk = start();
  const outputs: Output[] = [];
  const result: ExecuteResult = await pyk.execute(
    "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7",
    { onOutput: (output) => outputs.push(output) },
  );
  assert.equal(result.status, "ok");
  assert.equal(result.executionCount, 1);
  assert.deepEqual(outputs, [
    { type: "stdout", data: "out\n" },
    { type: "stderr", data: "err\n" },
    { type: "result", bundle: { "text/plain": "42" } },
  ]);
  const failed = await pyk.execute("1 / 0");
  assert.equal(failed.status, "error");
  assert.equal(failed.error?.ename, "ZeroDivisionError");
  assert.equal(await pyk.close(), 0);
});

test("input and host calls reach the handlers", async () => {
  const pyk = start({
    onInput: async (request) => (request.password ? "secret" : "ada"),
    onCall: (name, args, session) => {
      if (name === "add") return (args as number[]).reduce((sum, n) => sum + n, 0);
      throw new Error(`no tool ${name} in ${session}`);
    },
  });
  const outputs: Output[] = [];
  const result = await pyk.execute(
    "import getpass\nprint(input('who? '), getpass.getpass('pw: '), host_call('add', [1, 2, 39]))\n" +
      "try:\n    host_call('fetch', {})\nexcept Exception as error:\n    print(type(error).__name__, error)",
    { session: "tools", onOutput: (output) => outputs.push(output) },
  );
  assert.equal(result.status, "ok");
  assert.equal(stdoutText(outputs), "ada secret 42\nHostCallError no tool fetch in tools\n");
  await pyk.close();
});

test("a runaway cell is cancelled and the session goes on", async () => {
  const pyk = start();
  let started: () => void = () => {};
  const spinning = new Promise<void>((resolve) => (started = resolve));
  const execution = pyk.startExecute("print('spinning', flush=True)\nwhile True: pass", {
    onOutput: () => started(),
  });
  await spinning;
  execution.cancel();
  const result = await execution.result;
  assert.equal(result.cancelled, true);
  assert.equal(result.error?.ename, "KeyboardInterrupt");
  assert.equal((await pyk.execute("'alive'")).status, "ok");
  await pyk.close();
});

test("sessions, completions, restart and shutdown", async () => {
  const pyk = start();
  await pyk.execute("alpha_beta = 1", { session: "a" });
  assert.deepEqual((await pyk.sessions()).map((session) => session.name), ["a"]);
  const completions = await pyk.complete("alpha_b", undefined, "a");
  assert.ok(completions.matches.includes("alpha_beta"));
  assert.deepEqual([completions.cursorStart, completions.cursorEnd], [0, 7]);
  assert.equal((await pyk.restart("a")).session, "a");
  assert.equal((await pyk.execute("alpha_beta", { session: "a" })).error?.ename, "NameError");
  await pyk.shutdown("a");
  assert.deepEqual(await pyk.sessions(), []);
  await pyk.close();
});

test("an error answer rejects with its code", async () => {
  const pyk = start();
  await assert.rejects(pyk.request("no_such_method"), (error: unknown) => {
    assert.ok(error instanceof PykServeError);
    assert.equal(error.code, ErrorCode.MethodNotFound);
    return true;
  });
  await pyk.close();
});
