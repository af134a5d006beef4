//! Persistent Python kernels: start, execute, interrupt, shut down.
#![warn(missing_docs)]

mod display;
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

pub use crate::display::{
    DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_TEXT_BYTES, LEGACY_STATUS_MIME,
    RenderLimits, Rendered, RenderedOutput, STATUS_MIME, html_to_text, render_bundle,
};
