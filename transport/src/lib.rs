//! Transports between the pykernel host and a Python runner.
#![warn(missing_docs)]
