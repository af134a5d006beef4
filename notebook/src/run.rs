//! Running a notebook's code cells, in order, in one kernel, as nbclient does.

use std::time::{Duration, SystemTime};

use pykernel::{ExecuteOptions, Kernel, KernelError, LEGACY_STATUS_MIME, Output, STATUS_MIME};

use crate::{
    apply::{Applier, CellEvent, StreamName},
    error::NotebookError,
    nbformat::Notebook,
    params::{self, Parameter},
    timing::CellTiming,
    widgets::Widgets,
};

/// The tag of cells that are not run.
pub const SKIP_TAG: &str = "skip-execution";
/// The tag of cells expected to raise: their error does not stop the run.
pub const RAISES_TAG: &str = "raises-exception";

/// How a notebook is run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Keep going after a cell raises, as `--allow-errors` does.
    pub allow_errors: bool,
    /// The longest one cell may run; it is interrupted then, and the run stops.
    pub timeout: Option<Duration>,
}

/// What happened as the run went along, for a progress display.
pub trait Observer {
    /// The cell at `index` (of `total` cells) is about to run.
    fn cell_started(&mut self, index: usize, total: usize);
    /// The cell at `index` ended.
    fn cell_finished(&mut self, index: usize, total: usize);
    /// Whether to run the next cell; `false` stops the run (after a Ctrl-C, say).
    fn keep_going(&mut self) -> bool {
        true
    }
}

/// An observer that watches nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn cell_started(&mut self, _index: usize, _total: usize) {}
    fn cell_finished(&mut self, _index: usize, _total: usize) {}
}

/// How a run ended. A run that stopped at a failing cell still leaves every output so
/// far in the notebook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// How many code cells ran.
    pub executed: usize,
    /// Cells that raised but were allowed to (`--allow-errors` or `raises-exception`).
    pub allowed_errors: usize,
    /// The cell that stopped the run, if one did.
    pub failure: Option<CellFailure>,
    /// The observer stopped the run before a cell ([`Observer::keep_going`]).
    pub stopped: bool,
}

/// The cell that stopped a run, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellFailure {
    /// The cell's index in the notebook (from 0).
    pub index: usize,
    /// The cell's id, when it has one.
    pub id: Option<String>,
    /// Why it stopped the run.
    pub reason: FailureReason,
}

/// Why a cell stopped the run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// It raised an exception.
    Raised {
        /// The exception's class name.
        ename: String,
        /// `str()` of the exception.
        evalue: String,
    },
    /// It ran longer than the timeout.
    TimedOut(Duration),
    /// The kernel died or was killed under it.
    KernelDied(String),
}

impl CellFailure {
    /// One line naming the cell and what went wrong.
    pub fn describe(&self) -> String {
        let cell = match &self.id {
            Some(id) => format!("cell {} (id {id})", self.index + 1),
            None => format!("cell {}", self.index + 1),
        };
        match &self.reason {
            FailureReason::Raised { ename, evalue } if evalue.is_empty() => {
                format!("{cell} raised {ename}")
            }
            FailureReason::Raised { ename, evalue } => format!("{cell} raised {ename}: {evalue}"),
            FailureReason::TimedOut(timeout) => {
                format!("{cell} timed out after {} s", timeout.as_secs_f64())
            }
            FailureReason::KernelDied(message) => format!("{cell}: {message}"),
        }
    }
}

/// Turns raw `-p` values into Python source in `kernel`: literals stay literals, anything
/// else becomes a string.
///
/// # Errors
/// [`NotebookError::Kernel`] when the kernel fails, [`NotebookError::Parameter`] when the
/// probe's answer cannot be read.
pub async fn resolve_parameters(
    kernel: &Kernel,
    assignments: &[(String, String)],
) -> Result<Vec<Parameter>, NotebookError> {
    if assignments.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<String> = assignments.iter().map(|(_, value)| value.clone()).collect();
    let mut execution = kernel.execute(params::literal_probe(&raw), ExecuteOptions::new().silent());
    let mut printed = String::new();
    while let Some(output) = execution.next_output().await {
        if let Output::Stdout(text) = output {
            printed.push_str(&text);
        }
    }
    let outcome = execution.outcome().await.map_err(NotebookError::Kernel)?;
    let sources: Vec<String> = serde_json::from_str(printed.trim())
        .ok()
        .filter(|sources: &Vec<String>| outcome.is_ok() && sources.len() == raw.len())
        .ok_or_else(|| {
            NotebookError::Parameter("the kernel could not read the parameter values".to_owned())
        })?;
    Ok(assignments
        .iter()
        .zip(sources)
        .map(|((name, _), value_source)| Parameter {
            name: name.clone(),
            value_source,
        })
        .collect())
}

/// Runs every code cell of `notebook` in `kernel`, writing outputs, execution counts and
/// timing into it. Stops at the first cell that raises (unless errors are allowed for
/// it), times out, or loses its kernel.
pub async fn run(
    kernel: &Kernel,
    notebook: &mut Notebook,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> RunReport {
    let mut applier = Applier::new();
    let mut widgets = Widgets::new();
    let mut report = RunReport {
        executed: 0,
        allowed_errors: 0,
        failure: None,
        stopped: false,
    };
    let total = notebook.cells.len();
    for index in 0..total {
        let cell = &notebook.cells[index];
        let Some(source) = cell.source_text() else {
            continue;
        };
        if !cell.is_code() || source.trim().is_empty() || cell.has_tag(SKIP_TAG) {
            continue;
        }
        if !observer.keep_going() {
            report.stopped = true;
            break;
        }
        let allow_error = options.allow_errors || cell.has_tag(RAISES_TAG);
        observer.cell_started(index, total);
        let failure = run_cell(
            kernel,
            notebook,
            (&mut applier, &mut widgets),
            index,
            &source,
            options,
        )
        .await;
        observer.cell_finished(index, total);
        report.executed += 1;
        let Some(reason) = failure else { continue };
        if allow_error && matches!(reason, FailureReason::Raised { .. }) {
            report.allowed_errors += 1;
            continue;
        }
        report.failure = Some(CellFailure {
            index,
            id: notebook.cells[index].id.clone(),
            reason,
        });
        break;
    }
    // nbclient writes the widget state once every cell ran.
    if report.failure.is_none() && !report.stopped {
        if let Some(state) = widgets.metadata() {
            notebook.metadata.insert("widgets".to_owned(), state);
        }
    }
    report
}

/// Runs one cell; `Some` says why it failed.
async fn run_cell(
    kernel: &Kernel,
    notebook: &mut Notebook,
    (applier, widgets): (&mut Applier, &mut Widgets),
    index: usize,
    source: &str,
    options: &RunOptions,
) -> Option<FailureReason> {
    // nbclient runs with stdin off: `input()` fails at once instead of waiting.
    let mut execute = ExecuteOptions::new().with_stdin(false);
    if let Some(timeout) = options.timeout {
        execute = execute.with_timeout(timeout);
    }
    let cells = &mut notebook.cells;
    applier.start_cell(cells, index);
    let started = SystemTime::now();
    let mut execution = kernel.execute(source, execute);
    let exec_id = execution.id().to_string();
    while let Some(output) = execution.next_output().await {
        if let Output::Comm(message) = &output {
            widgets.handle(message);
            continue;
        }
        let Some(event) = cell_event(output) else {
            continue;
        };
        if let CellEvent::Display {
            bundle,
            metadata,
            display_id: Some(display_id),
        } = &event
        {
            if widgets.captures(&exec_id) {
                // nbclient updates the displays with this id even when a widget takes it.
                let update = CellEvent::UpdateDisplay {
                    bundle: bundle.clone(),
                    metadata: metadata.clone(),
                    display_id: display_id.clone(),
                };
                applier.apply(cells, index, update);
            }
        }
        match widgets.capture(&exec_id, event) {
            // The kernel's widget learns its outputs, as nbclient's `sync_state` tells it.
            Ok(Some(sync)) => {
                if let Err(err) = kernel.send_comm_msg(sync) {
                    tracing::debug!("could not sync an Output widget: {err}");
                }
            }
            Ok(None) => {}
            Err(event) => applier.apply(cells, index, event),
        }
    }
    let outcome = execution.outcome().await;
    let timing = CellTiming {
        started,
        ended: SystemTime::now(),
    };
    timing.record(&mut cells[index]);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => {
            applier.finish_cell(cells, index, None);
            return Some(FailureReason::KernelDied(kernel_message(&err)));
        }
    };
    applier.finish_cell(cells, index, outcome.execution_count);
    if outcome.timed_out() {
        return Some(FailureReason::TimedOut(options.timeout.unwrap_or_default()));
    }
    if outcome.kernel_killed() {
        return Some(FailureReason::KernelDied(
            "the kernel was killed under it".to_owned(),
        ));
    }
    if outcome.is_ok() {
        return None;
    }
    let (ename, evalue) = outcome.error.map_or_else(
        || ("KeyboardInterrupt".to_owned(), String::new()),
        |error| (error.ename, error.evalue),
    );
    Some(FailureReason::Raised { ename, evalue })
}

/// The nbformat event an output of the kernel is, if it is one.
pub(crate) fn cell_event(output: Output) -> Option<CellEvent> {
    if is_status_or_pager(&output) {
        return None;
    }
    Some(match output {
        Output::Stdout(text) => CellEvent::Stream {
            name: StreamName::Stdout,
            text,
        },
        Output::Stderr(text) => CellEvent::Stream {
            name: StreamName::Stderr,
            text,
        },
        Output::Display { bundle, metadata } => CellEvent::Display {
            bundle,
            metadata,
            display_id: None,
        },
        Output::DisplayWithId {
            display_id,
            bundle,
            metadata,
        } => CellEvent::Display {
            bundle,
            metadata,
            display_id: Some(display_id),
        },
        Output::UpdateDisplay {
            display_id,
            bundle,
            metadata,
        } => CellEvent::UpdateDisplay {
            bundle,
            metadata,
            display_id,
        },
        Output::ClearOutput { wait } => CellEvent::ClearOutput { wait },
        Output::Result { bundle, metadata } => CellEvent::Result { bundle, metadata },
        // A magic's usage error is a line on stderr in ipykernel's notebooks, not an
        // error output (the cell still counts as failed).
        Output::Error(error) if is_usage_error(&error.ename, &error.evalue, &error.traceback) => {
            CellEvent::Stream {
                name: StreamName::Stderr,
                text: format!("UsageError: {}\n", error.evalue),
            }
        }
        Output::Error(error) => CellEvent::Error {
            ename: error.ename,
            evalue: error.evalue,
            traceback: error.traceback,
        },
        // Stdin is refused for notebook cells, so a request never waits.
        Output::InputRequest { .. } => return None,
        other => {
            tracing::debug!("an output with no nbformat form: {other:?}");
            return None;
        }
    })
}

/// Whether `output` is one of pykernel's status events (`%cd`, `%%bash`, `%timeit` and
/// other magics report what they did that way, for agents) or the pager's text (help,
/// `%magic`: metadata `{"pager": true}`). ipykernel sends neither as an output (the pager
/// goes in the reply's payload), so nbclient's notebook has neither.
fn is_status_or_pager(output: &Output) -> bool {
    match output {
        Output::Display { bundle, metadata } => {
            bundle.contains(STATUS_MIME)
                || bundle.contains(LEGACY_STATUS_MIME)
                || metadata.get("pager") == Some(&serde_json::Value::Bool(true))
        }
        _ => false,
    }
}

/// Whether an error is the runner's report of a magic's `UsageError` (its traceback is
/// the one line `UsageError: ...`), not an exception of that name from user code.
fn is_usage_error(ename: &str, evalue: &str, traceback: &[String]) -> bool {
    ename == "UsageError" && traceback.len() == 1 && traceback[0] == format!("UsageError: {evalue}")
}

fn kernel_message(err: &KernelError) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests;
