//! Persistent Python kernels: start, execute, interrupt, shut down.
#![warn(missing_docs)]

mod error;
mod options;
mod outcome;

pub use pykernel_protocol::{MimeBundle, Status};

pub use crate::{
    error::KernelError,
    options::{
        DEFAULT_INTERRUPT_GRACE, DEFAULT_SHUTDOWN_GRACE, DEFAULT_STARTUP_TIMEOUT, EnvPolicy,
        ExecuteOptions, KernelOptions,
    },
    outcome::{Outcome, Output, PyError},
};
