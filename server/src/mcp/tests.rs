use pykernel::{Artifacts, MimeBundle, Output};

use crate::{mcp::Settling, transcript::Transcript};

/// Feeds `outputs` through a [`Settling`] holding at most `hold` bytes and renders the
/// text a tool result would carry.
fn check(outputs: Vec<Output>, hold: usize) -> String {
    let artifacts = Artifacts::create_private().expect("a private directory");
    let mut transcript = Transcript::new(&artifacts, 10_000);
    let mut settling = Settling::new(10_000);
    settling.max_bytes = hold;
    for output in outputs {
        settling.push(output, &mut transcript);
    }
    settling.finish(&mut transcript);
    transcript.finish().text
}

fn shown(id: &str, plain: &str) -> Output {
    Output::DisplayWithId {
        display_id: id.into(),
        bundle: MimeBundle::from_iter([("text/plain", plain)]),
        metadata: serde_json::Map::new(),
    }
}

fn update(id: &str, plain: &str) -> Output {
    Output::UpdateDisplay {
        display_id: id.into(),
        bundle: MimeBundle::from_iter([("text/plain", plain)]),
        metadata: serde_json::Map::new(),
    }
}

#[test]
fn the_result_shows_the_final_state_of_updated_and_cleared_output() {
    let outputs = vec![
        Output::Stdout("loading\n".into()),
        Output::ClearOutput { wait: true },
        shown("bar", "0%"),
        update("bar", "50%"),
        Output::Stdout("step\n".into()),
        update("bar", "100%"),
    ];
    insta::assert_snapshot!(check(outputs, 1 << 20), @"
    100%
    step
    ");
}

#[test]
fn an_update_of_a_display_already_written_out_is_shown_anew() {
    let outputs = vec![
        shown("bar", "0%"),
        Output::Stdout("x".repeat(40) + "\n"),
        update("bar", "100%"),
        update("never-shown", "nothing"),
    ];
    insta::assert_snapshot!(check(outputs, 16), @"
    0%
    xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
    100%
    ");
}
