// A typed client for `pyk serve`: persistent Python kernels over JSON-RPC 2.0 on stdio.
//
// `pyk serve` does the supervision (interrupt, kill after a grace, shutdown of every
// process group, death handling); this client spawns it, writes requests on its stdin and
// reads responses, `output` notifications and the server's own requests (`input`, `call`)
// on its stdout, one JSON object per line. Node's standard library only.

import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { createInterface } from "node:readline";

import { findPyk } from "./binary.js";

export { findPyk, platformPackage } from "./binary.js";

/** JSON-RPC error codes `pyk serve` answers with (see docs/serve.md). */
export const ErrorCode = {
  /** The session's kernel failed to start or died under the request. */
  KernelFailed: -32000,
  /** A new session would exceed `--max-sessions`. */
  TooManySessions: -32001,
  /** The request names a session that has no kernel. */
  NoSuchSession: -32002,
  /** The server is shutting down, or exited before answering. */
  ShuttingDown: -32003,
  /** A line over `--max-line-bytes` was skipped. */
  LineTooLong: -32004,
  /** No such method. */
  MethodNotFound: -32601,
  /** The parameters do not fit the method. */
  InvalidParams: -32602,
  /** The request was cancelled before its cell started. */
  RequestCancelled: -32800,
} as const;

/** A request id: this client sends numbers. */
export type RequestId = number | string;

/** A Python exception: class name, `str()` and formatted traceback entries. */
export interface ErrorInfo {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** A MIME bundle: `text/plain`, `text/html`, `image/png` (base64), ... */
export type MimeBundle = Record<string, unknown>;

/**
 * Jupyter's metadata of a bundle, present when there is some: keyed by MIME type
 * (`{"image/png": {"width": 50}}`) or for the whole bundle (`{"pager": true}` marks help
 * text IPython would page).
 */
export type DisplayMetadata = Record<string, unknown>;

/** One streamed output of a cell, told apart by `type`. */
export type Output =
  | { type: "stdout"; data: string }
  | { type: "stderr"; data: string }
  | { type: "display"; bundle: MimeBundle; displayId?: string; metadata?: DisplayMetadata }
  | { type: "update_display"; displayId: string; bundle: MimeBundle; metadata?: DisplayMetadata }
  | { type: "clear_output"; wait: boolean }
  | { type: "result"; bundle: MimeBundle; metadata?: DisplayMetadata }
  | ({ type: "error" } & ErrorInfo);

/** How a cell ended. A Python exception is `error` here, not a rejected promise. */
export interface ExecuteResult {
  /** `ok`, or `error` when an exception ended the cell or the kernel failed. */
  status: "ok" | "error";
  /** The kernel's execution counter after the cell; null when there is none. */
  executionCount: number | null;
  /** The exception that ended the cell. */
  error?: ErrorInfo;
  /** The cell was interrupted (cancel, `interrupt`, or its timeout). */
  cancelled: boolean;
  /** The cell hit its timeout. */
  timedOut: boolean;
  /** The kernel was killed or died under the cell; the next cell gets a fresh one. */
  kernelKilled: boolean;
  /** The previous kernel was gone: this cell ran in a fresh namespace. */
  kernelRestarted: boolean;
  /** The cell called `input()` although stdin was not allowed. */
  stdinRequested: boolean;
  /** Why the kernel itself failed under the cell. */
  kernelError?: string;
}

/** A cell waits in `input()` (or `getpass`, with `password` true). */
export interface InputRequest {
  session: string;
  requestId: RequestId;
  prompt: string;
  password: boolean;
}

/** One session, as `sessions()` lists it. */
export interface SessionInfo {
  name: string;
  alive: boolean;
  busy: boolean;
  idleSeconds: number | null;
  cwd: string | null;
  generation: number;
  pid: number;
}

/** Completions for `code` between `cursorStart` and `cursorEnd` (character offsets). */
export interface Completions {
  matches: string[];
  cursorStart: number;
  cursorEnd: number;
}

/** The session that got a fresh kernel, and its generation. */
export interface RestartResult {
  session: string;
  generation: number;
}

/** Options of `execute` and `startExecute`. */
export interface ExecuteOptions {
  /** The session (default `"default"`); a new name starts a new kernel. */
  session?: string;
  /** Called with each output as it happens, in order. */
  onOutput?: (output: Output) => void;
  /** Seconds; the cell is interrupted, then its kernel killed after the grace. */
  timeout?: number;
  /** Run without counting the cell or showing its result. */
  silent?: boolean;
  /** Whether `input()` reaches `onInput`; default whether `onInput` is set. */
  allowStdin?: boolean;
}

/** Options of `Client`. */
export interface ClientOptions {
  /** The `pyk` binary; default the one installed with this package. */
  pyk?: string;
  /** The interpreter kernels run (`--python`); default `pyk`'s choice. */
  python?: string;
  /** More arguments for `pyk serve` (`--pool-size`, `--cwd`, ...). */
  args?: string[];
  /** Answers `input()`: a string, or null for end of input (`EOFError` in Python). */
  onInput?: (request: InputRequest) => string | null | Promise<string | null>;
  /** Answers Python's `host_call(name, args)`; a thrown error is `HostCallError` in Python. */
  onCall?: (name: string, args: unknown, session: string) => unknown;
}

/** The server answered a request with a JSON-RPC error (or exited before answering). */
export class PykServeError extends Error {
  /** One of `ErrorCode`, or a standard JSON-RPC code. */
  readonly code: number;
  /** Whatever the server added. */
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(`${message} (code ${code})`);
    this.name = "PykServeError";
    this.code = code;
    this.data = data;
  }
}

/** A cell in flight: await `result`, or `cancel()` it. */
export interface Execution {
  /** The request id. */
  readonly id: number;
  /** How the cell ends; rejects with `PykServeError` if the server refused or exited. */
  readonly result: Promise<ExecuteResult>;
  /** Cancels the cell: interrupt, then kill the kernel after the grace. */
  cancel(): void;
}

interface Waiter {
  resolve: (result: unknown) => void;
  reject: (error: PykServeError) => void;
  onOutput?: (output: Output) => void;
}

interface Message {
  id?: RequestId;
  method?: string;
  params?: any;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/**
 * One `pyk serve` process and its connection.
 *
 * ```ts
 * const pyk = new Client();
 * const result = await pyk.execute("print('hi'); 6 * 7", { onOutput: console.log });
 * await pyk.close();
 * ```
 *
 * `pyk serve`'s log goes to this process's stderr.
 */
export class Client {
  /** Answers `input()` in cells; see `ClientOptions.onInput`. */
  onInput: ClientOptions["onInput"];
  /** Answers `host_call`; see `ClientOptions.onCall`. */
  onCall: ClientOptions["onCall"];
  /** Resolves with the server's exit status once it has exited. */
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly pending = new Map<RequestId, Waiter>();
  private nextId = 1;

  /** Starts `pyk serve`. */
  constructor(options: ClientOptions = {}) {
    this.onInput = options.onInput;
    this.onCall = options.onCall;
    const args = ["serve"];
    if (options.python !== undefined) args.push("--python", options.python);
    args.push(...(options.args ?? []));
    this.child = spawn(options.pyk ?? findPyk(), args, { stdio: ["pipe", "pipe", "inherit"] });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
    // A failed spawn (no binary) ends every request instead of throwing unhandled.
    this.child.on("error", () => this.failPending());
    this.child.stdin.on("error", () => {});
    createInterface({ input: this.child.stdout, crlfDelay: Infinity })
      .on("line", (line) => this.receive(line))
      .on("close", () => this.failPending());
  }

  /** The process id of `pyk serve`. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends request `method` and resolves with its result; rejects with `PykServeError`. */
  request<T = unknown>(method: string, params: object = {}): Promise<T> {
    return this.start(method, params).result as Promise<T>;
  }

  /** Sends a cell and returns at once; see `ExecuteOptions`. */
  startExecute(code: string, options: ExecuteOptions = {}): Execution {
    const params: Record<string, unknown> = {
      session: options.session ?? "default",
      code,
      silent: options.silent ?? false,
      allowStdin: options.allowStdin ?? this.onInput !== undefined,
    };
    if (options.timeout !== undefined) params.timeout = options.timeout;
    const { id, result } = this.start("execute", params, options.onOutput);
    return {
      id,
      result: result as Promise<ExecuteResult>,
      cancel: () => this.send({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id } }),
    };
  }

  /** Runs a cell and resolves with how it ended. */
  execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    return this.startExecute(code, options).result;
  }

  /** Interrupts the session's running cell (`KeyboardInterrupt` in Python). */
  async interrupt(session = "default"): Promise<void> {
    await this.request("interrupt", { session });
  }

  /** Gives the session a fresh kernel (a fresh namespace). */
  restart(session = "default"): Promise<RestartResult> {
    return this.request<RestartResult>("restart", { session });
  }

  /** Shuts the session's kernel down; nothing happens if it has none. */
  async shutdown(session = "default"): Promise<void> {
    await this.request("shutdown", { session });
  }

  /** The sessions that have a kernel. */
  async sessions(): Promise<SessionInfo[]> {
    return (await this.request<{ sessions: SessionInfo[] }>("sessions")).sessions;
  }

  /**
   * Completions at `cursor` (in characters, that is code points; default the end of
   * `code`) from the session's live namespace, without running user code.
   */
  complete(code: string, cursor = [...code].length, session = "default"): Promise<Completions> {
    return this.request<Completions>("complete", { session, code, cursor });
  }

  /** Ends the input: the server shuts every kernel down and exits; resolves with its status (0). */
  close(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }

  private start(method: string, params: object, onOutput?: (output: Output) => void) {
    const id = this.nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onOutput });
    });
    this.send({ jsonrpc: "2.0", id, method, params });
    return { id, result };
  }

  private send(message: object): void {
    if (this.child.stdin.writable) this.child.stdin.write(JSON.stringify(message) + "\n");
  }

  private receive(line: string): void {
    let message: Message;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    if (message === null || typeof message !== "object") return;
    if (message.method === undefined) {
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (waiter === undefined || message.id === undefined) return;
      this.pending.delete(message.id);
      if (message.error !== undefined) {
        waiter.reject(new PykServeError(message.error.code, message.error.message, message.error.data));
      } else {
        waiter.resolve(message.result);
      }
    } else if (message.id !== undefined) {
      void this.answer(message.id, message.method, message.params ?? {});
    } else if (message.method === "output") {
      this.pending.get(message.params?.requestId)?.onOutput?.(message.params.output);
    }
  }

  private async answer(id: RequestId, method: string, params: any): Promise<void> {
    let reply: object;
    try {
      if (method === "input" && this.onInput !== undefined) {
        reply = { jsonrpc: "2.0", id, result: { value: (await this.onInput(params)) ?? null } };
      } else if (method === "call" && this.onCall !== undefined) {
        const result = await this.onCall(params.name, params.args, params.session);
        reply = { jsonrpc: "2.0", id, result: result ?? null };
      } else {
        const message = `method not found: ${JSON.stringify(method)}`;
        reply = { jsonrpc: "2.0", id, error: { code: ErrorCode.MethodNotFound, message } };
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      reply = { jsonrpc: "2.0", id, error: { code: ErrorCode.KernelFailed, message } };
    }
    this.send(reply);
  }

  private failPending(): void {
    for (const waiter of this.pending.values()) {
      waiter.reject(new PykServeError(ErrorCode.ShuttingDown, "the server exited"));
    }
    this.pending.clear();
  }
}
