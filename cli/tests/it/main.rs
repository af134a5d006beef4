//! End-to-end tests of the `pyk` binary.
//!
//! Tests that need Python run only when `PYKERNEL_TEST_PYTHON` names an interpreter
//! (`cargo xtask test-python` sets it); the others always run.

mod engine;
mod exec;
#[cfg(unix)]
mod interpreters;
#[cfg(target_os = "linux")]
mod launchers;
mod notebook;
mod repl;
#[cfg(unix)]
mod stops;
mod support;
