#!/usr/bin/env node
// The `pyk` and `pykernel-rs` commands: runs the platform's `pyk` binary with the same
// arguments and standard streams, and exits as it did.

import { spawn } from "node:child_process";

import { findPyk } from "./binary.js";

let pyk: string;
try {
  pyk = findPyk();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(127);
}

const child = spawn(pyk, process.argv.slice(2), { stdio: "inherit" });

// Signals sent to this launcher alone (a host stopping its MCP server) go on to pyk.
// Ctrl-C in a terminal already reaches pyk through the process group, so SIGINT is only
// kept from killing the launcher: forwarding it would interrupt twice.
const forwarded: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGQUIT"];
for (const signal of forwarded) {
  process.on(signal, () => child.kill(signal));
}
process.on("SIGINT", () => {});

child.on("error", (error) => {
  console.error(`pykernel-rs: cannot run ${pyk}: ${error.message}`);
  process.exit(127);
});

child.on("exit", (code, signal) => {
  if (signal !== null) {
    // Die of the same signal, so the caller sees what pyk saw.
    for (const name of [...forwarded, "SIGINT"]) process.removeAllListeners(name);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
