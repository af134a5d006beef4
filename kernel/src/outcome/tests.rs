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
                generation: 1,
                truncated: Vec::new(),
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

/// Applies `outputs` as a notebook does and lists what stays, one line each.
fn settle(outputs: Vec<crate::Output>) -> String {
    let settled: crate::SettledOutputs = outputs.into_iter().collect();
    settled
        .outputs()
        .iter()
        .map(|output| format!("{output:?}\n"))
        .collect()
}

fn text(plain: &str) -> pykernel_protocol::MimeBundle {
    pykernel_protocol::MimeBundle::from_iter([("text/plain", plain)])
}

#[test]
fn updates_rewrite_every_display_with_their_id_and_add_nothing() {
    use crate::Output;
    insta::assert_snapshot!(settle(vec![
        Output::DisplayWithId { display_id: "a".into(), bundle: text("a0") },
        Output::Stdout("x\n".into()),
        Output::DisplayWithId { display_id: "a".into(), bundle: text("a0 again") },
        Output::DisplayWithId { display_id: "b".into(), bundle: text("b0") },
        Output::UpdateDisplay { display_id: "a".into(), bundle: text("a1") },
        Output::UpdateDisplay { display_id: "missing".into(), bundle: text("nowhere") },
    ]), @r#"
    DisplayWithId { display_id: "a", bundle: MimeBundle({"text/plain": String("a1")}) }
    Stdout("x\n")
    DisplayWithId { display_id: "a", bundle: MimeBundle({"text/plain": String("a1")}) }
    DisplayWithId { display_id: "b", bundle: MimeBundle({"text/plain": String("b0")}) }
    "#);
}

#[test]
fn clears_drop_what_came_before_at_once_or_before_the_next_output() {
    use crate::Output;
    insta::assert_snapshot!(settle(vec![
        Output::Stdout("gone\n".into()),
        Output::ClearOutput { wait: false },
        Output::Stdout("also gone\n".into()),
        Output::DisplayWithId { display_id: "p".into(), bundle: text("0%") },
        Output::ClearOutput { wait: true },
        // An update does not fire the pending clear; the next output does.
        Output::UpdateDisplay { display_id: "p".into(), bundle: text("50%") },
        Output::Stderr("after the clear\n".into()),
        Output::ClearOutput { wait: true },
    ]), @r#"Stderr("after the clear\n")"#);
}
