// Finding the `pyk` binary: it ships in one npm package per platform, and npm installs
// only the one whose `os` and `cpu` fit (the layout esbuild and biome use).

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The platform package that carries `pyk` for this machine, such as `@pykernel-rs/linux-x64`. */
export function platformPackage(): string {
  return `@pykernel-rs/${process.platform}-${process.arch}`;
}

/**
 * The path of the `pyk` binary installed with this package.
 *
 * `PYKERNEL_RS_BINARY` overrides it (a binary built from source, or a platform without a
 * package yet).
 *
 * @throws Error when no platform package for this machine is installed.
 */
export function findPyk(): string {
  const override = process.env.PYKERNEL_RS_BINARY;
  if (override) return override;
  const name = platformPackage();
  const require = createRequire(import.meta.url);
  let manifest: string;
  try {
    manifest = require.resolve(`${name}/package.json`);
  } catch {
    throw new Error(
      `pykernel-rs: the package ${name} is not installed; it is an optional dependency ` +
        `that npm installs only where it fits (pykernel-rs ships for linux-x64), so this ` +
        `platform has no pyk binary yet: set PYKERNEL_RS_BINARY to one built with ` +
        "`cargo install pykernel-cli`",
    );
  }
  const binary = join(dirname(manifest), "bin", process.platform === "win32" ? "pyk.exe" : "pyk");
  if (!existsSync(binary)) throw new Error(`pykernel-rs: ${binary} is missing; reinstall ${name}`);
  return binary;
}
