//! `cargo xtask fuzz`: build and run the protocol fuzz targets on a stable toolchain.
//!
//! The targets live in `fuzz/`, a workspace of its own (`decode_event`, `decode_request`,
//! `decode_chunked`), with hand-written seed inputs in `fuzz/corpus/<target>/seed-*`.
//!
//! How it works on stable Rust:
//! - cargo-fuzz is installed when missing (`cargo install cargo-fuzz --locked`, about a
//!   minute from crates.io).
//! - cargo-fuzz passes `-Zsanitizer=address` and other `-Z` flags; `RUSTC_BOOTSTRAP=1`
//!   makes the stable compiler accept them, so the targets build with AddressSanitizer,
//!   debug assertions and overflow checks, as on nightly.
//! - If cargo-fuzz cannot be installed, the targets are built with plain cargo and only
//!   stable flags (`--cfg fuzzing`, `-Cpasses=sancov-module` and the sanitizer-coverage
//!   LLVM options: coverage-guided, without AddressSanitizer) into
//!   `fuzz/target/plain`, and each binary, which is libFuzzer itself, is run directly.
//!
//! By hand, from the repository root:
//! ```text
//! cargo install cargo-fuzz --locked
//! RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz
//! RUSTC_BOOTSTRAP=1 cargo fuzz run decode_chunked --fuzz-dir fuzz -- -max_total_time=60
//! RUSTC_BOOTSTRAP=1 cargo fuzz run decode_event --fuzz-dir fuzz fuzz/artifacts/decode_event/crash-<hash>
//! ```
//! New interesting inputs go to `fuzz/corpus/<target>/` and crashes to
//! `fuzz/artifacts/<target>/`; git ignores both except the `seed-*` files.
//! A crash makes the run fail and prints the command that reproduces it.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

/// Every fuzz target, in the order they run.
const TARGETS: &[&str] = &["decode_event", "decode_request", "decode_chunked"];

/// libFuzzer's per-input time limit, in seconds: an input slower than this is a hang.
const INPUT_TIMEOUT_SECS: u64 = 10;

/// Builds every fuzz target.
pub(crate) fn build() -> Result<(), String> {
    match Fuzzer::find()? {
        Fuzzer::CargoFuzz => run_command(
            cargo()
                .args(["fuzz", "build", "--fuzz-dir"])
                .arg(fuzz_dir())
                .env("RUSTC_BOOTSTRAP", "1"),
        ),
        Fuzzer::Plain => build_plain(),
    }
}

/// Runs `target`, or every target one after the other, for `seconds` each.
///
/// Fails on the first target that crashes, panics, times out on an input or does not
/// exist.
pub(crate) fn run(target: Option<&str>, seconds: u64) -> Result<(), String> {
    let targets: Vec<&str> = match target {
        Some(name) if TARGETS.contains(&name) => vec![name],
        Some(name) => {
            return Err(format!(
                "no fuzz target `{name}` (targets: {})",
                TARGETS.join(", ")
            ));
        }
        None => TARGETS.to_vec(),
    };
    let fuzzer = Fuzzer::find()?;
    if fuzzer == Fuzzer::Plain {
        build_plain()?;
    }
    let fuzz_dir = fuzz_dir();
    for target in targets {
        eprintln!("fuzzing {target} for {seconds} s");
        let libfuzzer_args = [
            format!("-max_total_time={seconds}"),
            format!("-timeout={INPUT_TIMEOUT_SECS}"),
        ];
        // libFuzzer writes new inputs into the corpus and crashes next to it.
        let corpus = fuzz_dir.join("corpus").join(target);
        let artifacts = fuzz_dir.join("artifacts").join(target);
        std::fs::create_dir_all(&corpus)
            .map_err(|err| format!("cannot create {}: {err}", corpus.display()))?;
        std::fs::create_dir_all(&artifacts)
            .map_err(|err| format!("cannot create {}: {err}", artifacts.display()))?;
        let mut command = match fuzzer {
            Fuzzer::CargoFuzz => {
                let mut command = cargo();
                command
                    .args(["fuzz", "run", target, "--fuzz-dir"])
                    .arg(&fuzz_dir)
                    .arg("--")
                    .args(libfuzzer_args)
                    .env("RUSTC_BOOTSTRAP", "1");
                command
            }
            Fuzzer::Plain => {
                let mut command = Command::new(plain_binary(target)?);
                let mut artifact_prefix = OsString::from("-artifact_prefix=");
                artifact_prefix.push(&artifacts);
                artifact_prefix.push("/");
                command
                    .args(libfuzzer_args)
                    .arg(artifact_prefix)
                    .arg(&corpus);
                command
            }
        };
        run_command(&mut command).map_err(|err| format!("fuzz target {target} failed: {err}"))?;
    }
    Ok(())
}

/// How the targets are built and run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fuzzer {
    /// `cargo fuzz` with `RUSTC_BOOTSTRAP=1`: AddressSanitizer on.
    CargoFuzz,
    /// Plain cargo with stable coverage flags, binaries run directly.
    Plain,
}

impl Fuzzer {
    /// Uses cargo-fuzz, installing it first when missing; plain cargo if that fails.
    fn find() -> Result<Self, String> {
        if has_cargo_fuzz() {
            return Ok(Self::CargoFuzz);
        }
        eprintln!("cargo-fuzz is missing; installing it with `cargo install cargo-fuzz --locked`");
        match run_command(cargo().args(["install", "cargo-fuzz", "--locked"])) {
            Ok(()) if has_cargo_fuzz() => Ok(Self::CargoFuzz),
            Ok(()) => {
                Err("cargo-fuzz was installed but `cargo fuzz` still does not run".to_owned())
            }
            Err(err) => {
                eprintln!(
                    "cannot install cargo-fuzz ({err}); building with plain cargo, without AddressSanitizer"
                );
                Ok(Self::Plain)
            }
        }
    }
}

fn has_cargo_fuzz() -> bool {
    cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Flags for a coverage-guided libFuzzer build that stable rustc accepts.
const PLAIN_RUSTFLAGS: &[&str] = &[
    "--cfg=fuzzing",
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

fn build_plain() -> Result<(), String> {
    let fuzz_dir = fuzz_dir();
    // An explicit `--target` keeps the flags off build scripts and proc macros, which
    // cannot link the coverage runtime.
    run_command(
        cargo()
            .args([
                "build",
                "--release",
                "--bins",
                "--target",
                &host_triple()?,
                "--manifest-path",
            ])
            .arg(fuzz_dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(plain_target_dir())
            // `CARGO_ENCODED_RUSTFLAGS` would override `RUSTFLAGS`.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env("RUSTFLAGS", PLAIN_RUSTFLAGS.join(" ")),
    )
}

fn plain_binary(target: &str) -> Result<PathBuf, String> {
    Ok(plain_target_dir()
        .join(host_triple()?)
        .join("release")
        .join(target))
}

fn plain_target_dir() -> PathBuf {
    fuzz_dir().join("target").join("plain")
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String, String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|err| format!("cannot run rustc: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| format!("`rustc -vV` printed no host triple: {stdout}"))
}

/// The `fuzz/` workspace, next to `xtask/`.
fn fuzz_dir() -> PathBuf {
    // `CARGO_MANIFEST_DIR` is `<repo>/xtask`, which always has a parent.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("fuzz")
}

/// The cargo that runs xtask, so that the same toolchain builds the targets.
fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `command` with inherited stdio, echoing it first, and fails unless it exits
/// successfully.
fn run_command(command: &mut Command) -> Result<(), String> {
    let shown = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("$ {shown}");
    let status = command
        .status()
        .map_err(|err| format!("cannot run `{shown}`: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}
