//! The Python half of pykernel, embedded in the host binary.
#![warn(missing_docs)]
