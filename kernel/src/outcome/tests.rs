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

fn metadata(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn shown(id: &str, plain: &str) -> crate::Output {
    crate::Output::DisplayWithId {
        display_id: id.into(),
        bundle: text(plain),
        metadata: serde_json::Map::new(),
    }
}

fn update(id: &str, plain: &str) -> crate::Output {
    crate::Output::UpdateDisplay {
        display_id: id.into(),
        bundle: text(plain),
        metadata: serde_json::Map::new(),
    }
}

#[test]
fn updates_rewrite_every_display_with_their_id_and_add_nothing() {
    use crate::Output;
    insta::assert_snapshot!(settle(vec![
        shown("a", "a0"),
        Output::Stdout("x\n".into()),
        shown("a", "a0 again"),
        shown("b", "b0"),
        update("a", "a1"),
        update("missing", "nowhere"),
    ]), @r#"
    DisplayWithId { display_id: "a", bundle: MimeBundle({"text/plain": String("a1")}), metadata: {} }
    Stdout("x\n")
    DisplayWithId { display_id: "a", bundle: MimeBundle({"text/plain": String("a1")}), metadata: {} }
    DisplayWithId { display_id: "b", bundle: MimeBundle({"text/plain": String("b0")}), metadata: {} }
    "#);
}

#[test]
fn updates_replace_the_metadata_too() {
    use crate::Output;
    let width = |width: u64| metadata(serde_json::json!({"image/png": {"width": width}}));
    insta::assert_snapshot!(settle(vec![
        Output::DisplayWithId { display_id: "img".into(), bundle: text("<Image>"), metadata: width(50) },
        Output::DisplayWithId { display_id: "other".into(), bundle: text("<Image>"), metadata: width(10) },
        Output::UpdateDisplay { display_id: "img".into(), bundle: text("<Image 2>"), metadata: width(80) },
        // An update without metadata clears it, as Jupyter's does.
        Output::UpdateDisplay { display_id: "other".into(), bundle: text("<Image 3>"), metadata: serde_json::Map::new() },
        Output::Result { bundle: text("r"), metadata: width(30) },
    ]), @r#"
    DisplayWithId { display_id: "img", bundle: MimeBundle({"text/plain": String("<Image 2>")}), metadata: {"image/png": Object {"width": Number(80)}} }
    DisplayWithId { display_id: "other", bundle: MimeBundle({"text/plain": String("<Image 3>")}), metadata: {} }
    Result { bundle: MimeBundle({"text/plain": String("r")}), metadata: {"image/png": Object {"width": Number(30)}} }
    "#);
}

#[test]
fn clears_drop_what_came_before_at_once_or_before_the_next_output() {
    use crate::Output;
    insta::assert_snapshot!(settle(vec![
        Output::Stdout("gone\n".into()),
        Output::ClearOutput { wait: false },
        Output::Stdout("also gone\n".into()),
        shown("p", "0%"),
        Output::ClearOutput { wait: true },
        // An update does not fire the pending clear; the next output does.
        update("p", "50%"),
        Output::Stderr("after the clear\n".into()),
        Output::ClearOutput { wait: true },
    ]), @r#"Stderr("after the clear\n")"#);
}
