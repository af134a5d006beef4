//! Integration tests of the server crate's service layer over a real Python (gated at
//! runtime by `PYKERNEL_TEST_PYTHON`).

#[cfg(unix)]
mod service;
