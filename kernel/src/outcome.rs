//! What an execution yields: streamed outputs, then one outcome.

use std::collections::BTreeMap;

use pykernel_protocol::{ExecId, MimeBundle, Status};
use serde_json::{Map, Value};

/// One output of a running cell, in the order the runner produced it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Text written to standard output (Python-level or fd-level).
    Stdout(String),
    /// Text written to standard error.
    Stderr(String),
    /// A rich output from `display()`, a figure, or a status event.
    Display {
        /// The MIME bundle.
        bundle: MimeBundle,
        /// Jupyter's display metadata, keyed by MIME type or for the whole bundle (an
        /// image's `{"image/png": {"width": 50}}`); empty when there is none.
        metadata: Map<String, Value>,
    },
    /// A display with a display id (`display(obj, display_id=...)`), which a later
    /// [`Output::UpdateDisplay`] with the same id replaces.
    DisplayWithId {
        /// Names the display for later updates.
        display_id: String,
        /// The MIME bundle shown now.
        bundle: MimeBundle,
        /// Jupyter's display metadata; empty when there is none.
        metadata: Map<String, Value>,
    },
    /// Replaces the bundle and metadata of every earlier display with this id, in this
    /// cell or an earlier one (Jupyter's `update_display_data`); it adds no output of its
    /// own.
    UpdateDisplay {
        /// The display to replace.
        display_id: String,
        /// The new MIME bundle.
        bundle: MimeBundle,
        /// The new display metadata, which replaces the old even when empty.
        metadata: Map<String, Value>,
    },
    /// Clears the cell's output so far (Jupyter's `clear_output`); with `wait` the clear
    /// happens just before the cell's next output instead, so a redraw does not flicker.
    ClearOutput {
        /// Defer the clear to the next output.
        wait: bool,
    },
    /// The value of the cell's final expression.
    Result {
        /// The MIME bundle.
        bundle: MimeBundle,
        /// Jupyter's metadata of the result (Jupyter's `execute_result` has it too); empty
        /// when there is none.
        metadata: Map<String, Value>,
    },
    /// The exception that ended the cell; the same value is in [`Outcome::error`].
    Error(PyError),
    /// `input()` waits for a line; answer with [`crate::Execution::reply_input`].
    InputRequest {
        /// The prompt passed to `input()`.
        prompt: String,
        /// Whether the input should not be echoed.
        password: bool,
    },
    /// A Jupyter comm message from Python, such as an ipywidgets widget's state; it is
    /// no output of its own (a frontend renders the widget its display names).
    Comm(crate::CommMessage),
}

/// A cell's outputs as a notebook shows them: updates and clears applied as they arrive,
/// the way Jupyter's frontends and nbclient apply them.
///
/// [`Output::UpdateDisplay`] replaces the bundle and metadata of every
/// [`Output::DisplayWithId`] held with that id and adds nothing; [`Output::ClearOutput`] drops what is held, at once or
/// (`wait`) just before the next output that is not an update or an input request.
///
/// ```
/// use pykernel::{MimeBundle, Output, SettledOutputs};
///
/// let text = |s: &str| MimeBundle::from_iter([("text/plain", s)]);
/// let bar = |s: &str| (text(s), serde_json::Map::new());
/// let mut settled = SettledOutputs::new();
/// settled.push(Output::Stdout("loading\n".into()));
/// settled.push(Output::ClearOutput { wait: true });
/// let (bundle, metadata) = bar("0%");
/// settled.push(Output::DisplayWithId { display_id: "bar".into(), bundle, metadata });
/// let (bundle, metadata) = bar("100%");
/// settled.push(Output::UpdateDisplay { display_id: "bar".into(), bundle, metadata });
/// let (bundle, metadata) = bar("100%");
/// assert_eq!(
///     settled.outputs(),
///     [Output::DisplayWithId { display_id: "bar".into(), bundle, metadata }],
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SettledOutputs {
    outputs: Vec<Output>,
    /// A `clear_output(wait=True)` waits for the next output.
    clear_pending: bool,
}

impl SettledOutputs {
    /// No outputs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one output: an update or a clear changes what is held, anything else is
    /// appended (after a pending clear).
    pub fn push(&mut self, output: Output) {
        match output {
            Output::UpdateDisplay {
                display_id,
                bundle,
                metadata,
            } => {
                self.update(&display_id, &bundle, &metadata);
            }
            Output::ClearOutput { wait: true } => self.clear_pending = true,
            Output::ClearOutput { wait: false } => {
                self.outputs.clear();
                self.clear_pending = false;
            }
            Output::InputRequest { .. } => self.outputs.push(output),
            Output::Comm(_) => {}
            Output::Stdout(_)
            | Output::Stderr(_)
            | Output::Display { .. }
            | Output::DisplayWithId { .. }
            | Output::Result { .. }
            | Output::Error(_) => {
                if std::mem::take(&mut self.clear_pending) {
                    self.outputs.clear();
                }
                self.outputs.push(output);
            }
        }
    }

    /// Replaces the bundle and metadata of every held display with `display_id`, as
    /// Jupyter replaces both; returns whether one was held. Also what an update from a
    /// later cell does to this cell's outputs.
    pub fn update(
        &mut self,
        display_id: &str,
        bundle: &MimeBundle,
        metadata: &Map<String, Value>,
    ) -> bool {
        let mut found = false;
        for output in &mut self.outputs {
            if let Output::DisplayWithId {
                display_id: held,
                bundle: shown,
                metadata: shown_metadata,
            } = output
            {
                if held == display_id {
                    shown.clone_from(bundle);
                    shown_metadata.clone_from(metadata);
                    found = true;
                }
            }
        }
        found
    }

    /// The outputs as they stand.
    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// Consumes the log into its outputs.
    pub fn into_outputs(self) -> Vec<Output> {
        self.outputs
    }
}

impl FromIterator<Output> for SettledOutputs {
    fn from_iter<I: IntoIterator<Item = Output>>(iter: I) -> Self {
        let mut settled = Self::new();
        for output in iter {
            settled.push(output);
        }
        settled
    }
}

/// Output that came when no execution of its cell was being read: what a background
/// thread wrote after its cell ended. See [`crate::Kernel::take_unattached_output`].
#[derive(Clone, Debug, PartialEq)]
pub struct UnattachedOutput {
    /// The cell that ended before the output came (the last one that ended when it was
    /// written).
    pub id: ExecId,
    /// The output.
    pub output: Output,
}

/// A Python exception, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyError {
    /// The exception's class name, such as `ValueError`.
    pub ename: String,
    /// `str()` of the exception.
    pub evalue: String,
    /// Formatted traceback lines of the user's code.
    pub traceback: Vec<String>,
}

/// How an execution ended. A Python exception is a normal outcome, not a Rust error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok` when the cell ran to the end, `Error` when it raised or was stopped.
    pub status: Status,
    /// The execution counter the runner reported, when it reported one (`None` for a cell
    /// that never ran, or whose kernel was killed under it).
    pub execution_count: Option<u64>,
    /// The exception that ended the cell.
    pub error: Option<PyError>,
    /// Why the cell stopped before its own end; `None` when it ran to its end, with or
    /// without an exception of its own.
    pub stop: Option<Stop>,
    /// The incarnation of the kernel the cell was given to ([`crate::Kernel::generation`]):
    /// 1 for a kernel started on its own and for a session's first, one more for each
    /// kernel [`crate::Sessions`] started in a session's place since. A caller that sees
    /// it grow between two outcomes of one session knows the namespace was replaced and
    /// its variables are gone.
    pub generation: u64,
    /// The displays (and results, and display updates) the runner cut down to fit the
    /// host's limits, in the order they came: each one's output shows what was kept and a
    /// notice at the end of its `text/plain`. Empty when every display arrived whole. See
    /// [`crate::KernelOptions::with_max_display_bytes`].
    pub truncated: Vec<TruncatedDisplay>,
}

/// A display the runner cut down to fit the host's limits (the display cap for raw
/// payload parts, the line limit for what stays on the frame's line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncatedDisplay {
    /// The frame it came in: `display`, `result` or `update_display`.
    pub kind: &'static str,
    /// The display's id, when it has one.
    pub display_id: Option<String>,
    /// Each MIME type cut or shortened, with the size in bytes it had: its raw bytes when
    /// it would have gone as a payload part (an image's bytes, not their base64), its JSON
    /// text when it would have gone on the line.
    pub cut: BTreeMap<String, u64>,
}

/// Why a cell stopped before its own end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// An interruption ended the cell (or took it off the queue before it ran); the kernel
    /// lives on with its namespace.
    Interrupted(Interrupt),
    /// The kernel was killed or shut down while the cell ran or waited in the queue, so the
    /// kernel and its namespace are gone. The interruption the cell ignored, if one came first.
    KernelKilled(Option<Interrupt>),
    /// The cell never ran: one queued before it failed (see
    /// [`crate::ExecuteOptions::continue_on_error`]).
    Aborted,
}

/// What interrupted a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interrupt {
    /// The caller cancelled the execution ([`crate::Execution::cancel`], or dropping it).
    Cancel,
    /// The execution's timeout fired.
    Timeout,
    /// The cell called `input()` although stdin was not allowed for it.
    StdinRefused,
    /// A `KeyboardInterrupt` this execution did not ask for: [`crate::Kernel::interrupt`],
    /// a SIGINT from elsewhere, or user code raising it.
    Other,
}

impl Outcome {
    /// The outcome of a queued cell aborted unrun because one before it failed.
    pub(crate) fn aborted_unrun() -> Self {
        Self {
            status: Status::Error,
            execution_count: None,
            error: None,
            stop: Some(Stop::Aborted),
            generation: crate::machine::UNSTAMPED,
            truncated: Vec::new(),
        }
    }

    /// Whether the cell was aborted unrun because a cell queued before it failed.
    pub fn aborted(&self) -> bool {
        self.stop == Some(Stop::Aborted)
    }

    /// Whether the cell ran to the end without an exception.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The interruption that stopped the cell, whether or not the kernel was killed after it.
    pub fn interrupt(&self) -> Option<Interrupt> {
        match self.stop? {
            Stop::Interrupted(interrupt) => Some(interrupt),
            Stop::KernelKilled(interrupt) => interrupt,
            Stop::Aborted => None,
        }
    }

    /// Whether the cell was cancelled, timed out, interrupted or killed: every stop but a
    /// refused `input()` and an abort.
    pub fn cancelled(&self) -> bool {
        match self.stop {
            None | Some(Stop::Interrupted(Interrupt::StdinRefused) | Stop::Aborted) => false,
            Some(_) => true,
        }
    }

    /// Whether the cell hit its timeout (the kernel may have been killed after it).
    pub fn timed_out(&self) -> bool {
        self.interrupt() == Some(Interrupt::Timeout)
    }

    /// Whether the cell called `input()` although stdin was not allowed.
    pub fn stdin_requested(&self) -> bool {
        self.interrupt() == Some(Interrupt::StdinRefused)
    }

    /// Whether the runner cut any display of this cell down to fit (see
    /// [`Outcome::truncated`]).
    pub fn was_truncated(&self) -> bool {
        !self.truncated.is_empty()
    }

    /// Whether the kernel was killed or shut down under this cell; it is gone.
    pub fn kernel_killed(&self) -> bool {
        matches!(self.stop, Some(Stop::KernelKilled(_)))
    }
}

#[cfg(test)]
mod tests;
