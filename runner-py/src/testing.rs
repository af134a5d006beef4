//! The gate of the real-Python tests, in one place for every crate (feature `testing`).
//!
//! Tests that spawn a real interpreter run only when [`TEST_PYTHON_ENV`] names one;
//! `cargo xtask test-python` and `cargo xtask ci` set it to the bootstrapped virtualenv.
//! Otherwise they return at once, so `cargo test` stays fast and needs no Python.

use std::{env, path::PathBuf};

pub mod launchers;

/// The environment variable that names the interpreter for real-Python tests.
pub const TEST_PYTHON_ENV: &str = "PYKERNEL_TEST_PYTHON";

/// The interpreter real-Python tests use, or `None` when they are to be skipped.
pub fn test_python() -> Option<PathBuf> {
    env::var_os(TEST_PYTHON_ENV)
        .filter(|python| !python.is_empty())
        .map(PathBuf::from)
}
