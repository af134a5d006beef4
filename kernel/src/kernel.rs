//! The public handle: [`Kernel`], [`Execution`] and what they report.

use pykernel_transport::ExitStatus;

/// What [`Kernel::shutdown`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether the runner's exit was observed (it is gone).
    pub confirmed: bool,
    /// How the runner exited, when it was observed.
    pub status: Option<ExitStatus>,
}
