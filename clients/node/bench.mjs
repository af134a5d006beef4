// The round trip of `execute` of `1+1` through `pyk serve`, from this client: 1000 timed
// rounds after 50 untimed ones, each from the request until its response (the `output`
// notification with the result comes before it). Prints the median and p99 (nearest rank)
// in milliseconds as one JSON line, and writes them to `--json PATH` as
// `{"serve_rtt_median_ms": x, "serve_rtt_p99_ms": y}`; `cargo xtask bench` runs it.
//
//   PYK_BIN=target/release/pyk node clients/node/bench.mjs --python PYTHON [--json PATH] [--quick]

import { writeFileSync } from "node:fs";

import { PykServe } from "./pyk-serve.mjs";

const args = process.argv.slice(2);
const option = (name) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const rounds = args.includes("--quick") ? 100 : 1000;
const pyk = new PykServe({ args: ["--python", option("--python") ?? "python3", "--pool-size", "0"] });

// Warm up: start the kernel and let both sides settle.
for (let i = 0; i < 50; i++) await pyk.execute("1+1");
const times = [];
for (let i = 0; i < rounds; i++) {
  let results = 0;
  const start = process.hrtime.bigint();
  const outcome = await pyk.execute("1+1", { onOutput: () => results++ });
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
  if (outcome.status !== "ok" || results !== 1) throw new Error(`1+1 failed: ${JSON.stringify(outcome)}`);
}
const code = await pyk.close();
if (code !== 0) throw new Error(`pyk serve exited with ${code}`);
times.sort((a, b) => a - b);
const nearestRank = (q) => times[Math.max(0, Math.ceil(q * times.length) - 1)];
const report = { serve_rtt_median_ms: nearestRank(0.5), serve_rtt_p99_ms: nearestRank(0.99) };
console.log(JSON.stringify(report));
if (option("--json")) writeFileSync(option("--json"), JSON.stringify(report) + "\n");
