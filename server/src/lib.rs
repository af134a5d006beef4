//! The service layer shared by pykernel's server frontends, `pyk mcp` and `pyk serve`.
//!
//! - [`Service`]: sessions addressed by name over [`pykernel::Sessions`] (warm pool, idle
//!   reaping, a session limit, a dead kernel replaced on the next call and reported as
//!   [`RunInfo::kernel_restarted`]), running cells as a stream of outputs ([`Run`]),
//!   interrupt, restart, shutdown of one session and of all.
//! - [`Transcript`]: one cell's outputs as text for a model or another text consumer:
//!   cleaned as a terminal would show it (ANSI stripped, carriage-return overwrites
//!   resolved), rich outputs rendered, images on the side, and the text bounded by a
//!   [`BoundedText`] that keeps head and tail and saves the whole text in a private
//!   [`Artifacts`] directory, which the service's kernels read back with Python's
//!   `output()`.
//!
//! Cancellation is the kernel's: dropping or cancelling a [`Run`] interrupts the cell and
//! kills the kernel after the interrupt grace.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pykernel_server::ServiceError> {
//! use pykernel::KernelOptions;
//! use pykernel_server::{RunOptions, Service, ServiceOptions, Transcript};
//!
//! let service = Service::new(ServiceOptions::new(KernelOptions::new()))?;
//! let mut run = service.run("default", "print('hi'); 6 * 7", RunOptions::new()).await?;
//! let mut transcript = Transcript::new(service.artifacts(), service.options().output_limit);
//! while let Some(output) = run.next_output().await {
//!     transcript.push(&output);
//! }
//! let outcome = run.outcome().await?;
//! assert!(outcome.is_ok());
//! assert_eq!(transcript.finish().text, "hi\n42\n");
//! service.shutdown_all().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod bounded;
mod error;
pub mod mcp;
pub mod serve;
mod service;
mod transcript;

pub use pykernel::{Artifact, ArtifactId, Artifacts};

pub use crate::{
    bounded::{BoundedOutput, BoundedText, DEFAULT_OUTPUT_LIMIT},
    error::{MAX_SESSION_NAME, ServiceError},
    service::{
        DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SESSIONS, DEFAULT_TIMEOUT, KernelStart, Opened, OwnerId,
        Run, RunInfo, RunOptions, Service, ServiceOptions, SessionInfo,
    },
    transcript::{CellText, Image, MAX_IMAGE_BYTES, MAX_IMAGES, Transcript},
};
