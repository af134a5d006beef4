//! Persistent Python kernels: start, execute, interrupt, shut down.
#![warn(missing_docs)]

mod display;
mod error;
mod kernel;
mod options;
mod outcome;
// The driver that uses the session lands in the next commit.
#[cfg_attr(not(test), allow(dead_code))]
mod session;

pub use pykernel_protocol::{MimeBundle, Status};

pub use crate::{
    error::KernelError,
    kernel::ShutdownReport,
    options::{
        DEFAULT_INTERRUPT_GRACE, DEFAULT_SHUTDOWN_GRACE, DEFAULT_STARTUP_TIMEOUT, EnvPolicy,
        ExecuteOptions, HostFunction, HostFunctions, KernelOptions,
    },
    outcome::{Outcome, Output, PyError},
};

pub use crate::display::{
    DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_TEXT_BYTES, LEGACY_STATUS_MIME,
    RenderLimits, Rendered, RenderedOutput, STATUS_MIME, html_to_text, render_bundle,
};
