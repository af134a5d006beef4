// A client for `pyk serve`: persistent Python kernels over JSON-RPC 2.0 on stdio.
//
// Node's standard library only; copy this file into your project. `pyk serve` does the
// supervision (interrupt, kill after a grace, shutdown of every process group, death
// handling); this client only spawns it and moves lines. See docs/serve.md.
//
//   import { PykServe } from "./pyk-serve.mjs";
//   const pyk = new PykServe({ onInput: () => "ada", onCall: (name, args) => 42 });
//   const result = await pyk.execute("print('hi'); 6 * 7", { onOutput: console.log });
//   await pyk.close();

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** The server answered a request with a JSON-RPC error. */
export class PykServeError extends Error {
  constructor({ code, message, data }) {
    super(`${message} (code ${code})`);
    this.code = code;
    this.data = data;
  }
}

/** One `pyk serve` process and its connection. */
export class PykServe {
  /**
   * @param {object} [options]
   * @param {string} [options.pyk] the pyk binary (default: $PYK_BIN, else `pyk`)
   * @param {string[]} [options.args] more arguments for `pyk serve` (`--python`, ...)
   * @param {(params: {session, requestId, prompt, password}) => string|null|Promise<string|null>} [options.onInput]
   *   answers `input()` in cells run with `allowStdin`; null means end of input (EOFError)
   * @param {(name: string, args: any, session: string) => any} [options.onCall]
   *   answers Python's `host_call(name, args)`; a thrown error raises HostCallError in Python
   * @param {(direction: ">"|"<", message: object) => void} [options.onMessage]
   *   sees every message sent and received, for logging or tests
   * @param {(session: string, output: object) => void} [options.onLateOutput]
   *   gets what a background thread wrote after its cell ended (`lateOutput`)
   */
  constructor({
    pyk = process.env.PYK_BIN ?? "pyk",
    args = [],
    onInput,
    onCall,
    onMessage,
    onLateOutput,
  } = {}) {
    this.onInput = onInput;
    this.onCall = onCall;
    this.onMessage = onMessage;
    this.onLateOutput = onLateOutput;
    this.nextId = 1;
    this.pending = new Map();
    this.child = spawn(pyk, ["serve", ...args], { stdio: ["pipe", "pipe", "inherit"] });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
    createInterface({ input: this.child.stdout, crlfDelay: Infinity })
      .on("line", (line) => this.#receive(line))
      .on("close", () => this.#failPending());
  }

  /** Sends a request; resolves with its result or rejects with a PykServeError. */
  request(method, params = {}, onOutput) {
    return this.start(method, params, onOutput).result;
  }

  /** Sends a request and returns `{id, result}` at once; `result` is a promise. */
  start(method, params = {}, onOutput) {
    const id = this.nextId++;
    const result = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onOutput });
    });
    this.#send({ jsonrpc: "2.0", id, method, params });
    return { id, result };
  }

  /** Sends a notification (no answer). */
  notify(method, params) {
    this.#send({ jsonrpc: "2.0", method, params });
  }

  /**
   * Starts a cell; `onOutput(output)` gets each output as it happens. Returns `{id,
   * result, cancel}`: `cancel()` interrupts the cell, then kills the kernel after the grace.
   */
  executeAsync(code, { session = "default", onOutput, timeout, silent = false, allowStdin } = {}) {
    const params = { session, code, silent, allowStdin: allowStdin ?? this.onInput !== undefined };
    if (timeout !== undefined) params.timeout = timeout;
    const { id, result } = this.start("execute", params, onOutput);
    return { id, result, cancel: () => this.notify("$/cancelRequest", { id }) };
  }

  /** Runs a cell; resolves with how it ended (`status`, `executionCount`, ...). */
  execute(code, options = {}) {
    return this.executeAsync(code, options).result;
  }

  interrupt(session = "default") {
    return this.request("interrupt", { session });
  }

  restart(session = "default") {
    return this.request("restart", { session });
  }

  shutdown(session = "default") {
    return this.request("shutdown", { session });
  }

  async sessions() {
    return (await this.request("sessions", {})).sessions;
  }

  complete(code, cursor = [...code].length, session = "default") {
    return this.request("complete", { session, code, cursor });
  }

  /** Ends the input: the server shuts every kernel down and exits; resolves with its exit code (0). */
  close() {
    this.child.stdin.end();
    return this.exited;
  }

  /** Writes a raw line (for tests of bad input). */
  sendLine(line) {
    this.child.stdin.write(line + "\n");
  }

  #send(message) {
    this.onMessage?.(">", message);
    this.sendLine(JSON.stringify(message));
  }

  #receive(line) {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    this.onMessage?.("<", message);
    if (message.method === undefined) {
      const waiter = this.pending.get(message.id);
      if (waiter === undefined) return;
      this.pending.delete(message.id);
      if (message.error !== undefined) waiter.reject(new PykServeError(message.error));
      else waiter.resolve(message.result);
    } else if (message.id !== undefined) {
      this.#answer(message);
    } else if (message.method === "output") {
      this.pending.get(message.params.requestId)?.onOutput?.(message.params.output);
    } else if (message.method === "lateOutput") {
      this.onLateOutput?.(message.params.session, message.params.output);
    }
  }

  async #answer({ id, method, params }) {
    const reply = { jsonrpc: "2.0", id };
    try {
      if (method === "input" && this.onInput) {
        reply.result = { value: (await this.onInput(params)) ?? null };
      } else if (method === "call" && this.onCall) {
        reply.result = (await this.onCall(params.name, params.args, params.session)) ?? null;
      } else {
        reply.error = { code: -32601, message: `method not found: ${JSON.stringify(method)}` };
      }
    } catch (error) {
      delete reply.result;
      reply.error = { code: -32000, message: String(error?.message ?? error) };
    }
    if (this.child.stdin.writable) this.#send(reply);
  }

  #failPending() {
    for (const waiter of this.pending.values()) {
      waiter.reject(new PykServeError({ code: -32003, message: "the server exited" }));
    }
    this.pending.clear();
  }
}
