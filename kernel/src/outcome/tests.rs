use pykernel_protocol::Status;

use crate::{Interrupt, Outcome, Stop};

/// Renders the flags a caller derives from a stop, one line per stop.
fn check(stops: &[Option<Stop>]) -> String {
    stops
        .iter()
        .map(|stop| {
            let outcome = Outcome {
                status: Status::Error,
                execution_count: None,
                error: None,
                stop: *stop,
            };
            let flags: Vec<&str> = [
                ("cancelled", outcome.cancelled()),
                ("timed_out", outcome.timed_out()),
                ("stdin_requested", outcome.stdin_requested()),
                ("kernel_killed", outcome.kernel_killed()),
            ]
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect();
            let flags = if flags.is_empty() {
                "-".to_owned()
            } else {
                flags.join(" ")
            };
            format!("{stop:?}: {flags}\n")
        })
        .collect()
}

#[test]
fn each_stop_implies_its_flags() {
    let transcript = check(&[
        None,
        Some(Stop::Interrupted(Interrupt::Cancel)),
        Some(Stop::Interrupted(Interrupt::Timeout)),
        Some(Stop::Interrupted(Interrupt::StdinRefused)),
        Some(Stop::Interrupted(Interrupt::Other)),
        Some(Stop::KernelKilled(None)),
        Some(Stop::KernelKilled(Some(Interrupt::Timeout))),
        Some(Stop::KernelKilled(Some(Interrupt::StdinRefused))),
    ]);
    insta::assert_snapshot!(transcript, @r"
    None: -
    Some(Interrupted(Cancel)): cancelled
    Some(Interrupted(Timeout)): cancelled timed_out
    Some(Interrupted(StdinRefused)): stdin_requested
    Some(Interrupted(Other)): cancelled
    Some(KernelKilled(None)): cancelled kernel_killed
    Some(KernelKilled(Some(Timeout))): cancelled timed_out kernel_killed
    Some(KernelKilled(Some(StdinRefused))): cancelled stdin_requested kernel_killed
    ");
}
