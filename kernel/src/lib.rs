//! Persistent Python kernels: start, execute, interrupt, shut down.
#![warn(missing_docs)]
