//! Run Jupyter notebooks (nbformat 4) through a persistent [`pykernel::Kernel`].
//!
//! The outputs are written as nbclient writes them with ipykernel: consecutive stream
//! text merged, `execute_result` with its execution count, `display_data` (each with
//! its display `metadata`), `update_display_data` (replacing data and metadata) and
//! `clear_output` applied (display ids are followed across cells), `error` outputs with name, value and traceback, and each cell's timing in
//! `metadata.execution` as nbclient's `record_timing` records it. Cells tagged
//! `skip-execution` are not run; a cell tagged `raises-exception` may raise without
//! stopping the run; parameters are injected after the cell tagged `parameters`, as
//! papermill does.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use pykernel::{Kernel, KernelOptions};
//! use pykernel_notebook::{NoObserver, Notebook, RunOptions, run};
//!
//! let mut notebook = Notebook::read(Path::new("analysis.ipynb"))?;
//! let kernel = Kernel::start(KernelOptions::new()).await?;
//! let report = run(&kernel, &mut notebook, &RunOptions::default(), &mut NoObserver).await;
//! kernel.shutdown().await;
//! notebook.write_atomic(Path::new("analysis.out.ipynb"))?;
//! if let Some(failure) = report.failure {
//!     eprintln!("{}", failure.describe());
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod apply;
mod error;
mod nbformat;
mod params;
mod run;
mod timing;
mod widgets;

pub use crate::{
    apply::{Applier, CellEvent, StreamName},
    error::NotebookError,
    nbformat::{Cell, Notebook},
    params::{INJECTED_TAG, PARAMETERS_TAG, Parameter, inject, parse_assignment},
    run::{
        CellFailure, FailureReason, NoObserver, Observer, RAISES_TAG, RunOptions, RunReport,
        SKIP_TAG, resolve_parameters, run,
    },
    widgets::{WIDGET_STATE_MIME, Widgets},
};
