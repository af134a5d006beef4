// pyk mcp over stdio, driven by the official TypeScript MCP SDK on Node.
// Run by `cargo xtask test-mcp`: node --test with NODE_PATH at target/mcp-node/node_modules,
// PYK_BIN the pyk binary and PYKERNEL_TEST_PYTHON the kernels' interpreter.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createRequire } from "node:module";
import path from "node:path";

// Resolve the SDK from the npm folder xtask installs into (NODE_PATH does not apply to ESM).
const require = createRequire(path.join(process.env.MCP_NODE_MODULES ?? "target/mcp-node/node_modules", "x.js"));
const { Client } = await import(require.resolve("@modelcontextprotocol/sdk/client/index.js"));
const { StdioClientTransport } = await import(require.resolve("@modelcontextprotocol/sdk/client/stdio.js"));

const pyk = process.env.PYK_BIN ?? "target/debug/pyk";
const python = process.env.PYKERNEL_TEST_PYTHON ?? "python3";

let client;

before(async () => {
  client = new Client({ name: "pykernel-ts-test", version: "0.0.0" });
  await client.connect(new StdioClientTransport({ command: pyk, args: ["mcp", "--python", python] }));
});

after(async () => {
  await client.close();
});

const text = (result) => result.content.filter((block) => block.type === "text").map((block) => block.text).join("");

test("the four tools are listed with schemas", async () => {
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((tool) => tool.name).sort(), ["interrupt_session", "list_sessions", "restart_session", "run_python"]);
  const run = tools.find((tool) => tool.name === "run_python");
  assert.deepEqual(run.inputSchema.required, ["code"]);
  assert.ok(run.outputSchema.properties.kernelRestarted);
});

test("run_python keeps state and returns structured content", async () => {
  await client.callTool({ name: "run_python", arguments: { code: "x = 20" } });
  const result = await client.callTool({ name: "run_python", arguments: { code: "print('hi')\nx + 22" } });
  assert.equal(result.isError, false);
  assert.equal(text(result), "hi\n42\n");
  assert.equal(result.structuredContent.status, "ok");
  assert.equal(result.structuredContent.kernelRestarted, false);
});

test("a Python exception is a tool error with the traceback", async () => {
  const result = await client.callTool({ name: "run_python", arguments: { code: "raise ValueError('nope')", session: "ts-errors" } });
  assert.equal(result.isError, true);
  assert.match(text(result), /Traceback[\s\S]*ValueError: nope/);
  assert.deepEqual(result.structuredContent.error, { ename: "ValueError", evalue: "nope" });
});

test("restart_session empties the namespace", async () => {
  await client.callTool({ name: "run_python", arguments: { code: "y = 1", session: "ts-restart" } });
  const restarted = await client.callTool({ name: "restart_session", arguments: { session: "ts-restart" } });
  assert.equal(restarted.structuredContent.generation, 2);
  const result = await client.callTool({ name: "run_python", arguments: { code: "'y' in globals()", session: "ts-restart" } });
  assert.equal(text(result), "False\n");
  assert.equal(result.structuredContent.kernelRestarted, false);
});
