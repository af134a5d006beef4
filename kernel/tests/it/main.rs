//! Integration tests of the kernel crate: the public API over the memory transport with a
//! scripted fake runner (paused tokio time), over a real Python (gated at runtime by
//! `PYKERNEL_TEST_PYTHON`), and display rendering.

mod artifacts;
mod big_displays;
#[cfg(target_os = "linux")]
mod comm;
mod display;
#[cfg(target_os = "linux")]
mod display_metadata;
#[cfg(target_os = "linux")]
mod engine;
mod fake;
#[cfg(target_os = "linux")]
mod interpreters;
#[cfg(target_os = "linux")]
mod launchers;
#[cfg(target_os = "linux")]
mod python;
mod sessions;
