//! Integration tests of the transports: the memory pair and fake runner, and real child
//! processes (plain `sh`, never Python, so they run anywhere).

mod memory;
#[cfg(unix)]
mod stdio;

use pykernel_protocol::Decoded;
use pykernel_transport::{Incoming, Transport};

/// Renders one received item as a transcript line: `< frame-json`, `! malformed`, `exit`.
fn render(incoming: &Incoming) -> String {
    match incoming {
        Incoming::Frame(Decoded::Frame(event)) => {
            // Serializing a decoded event cannot fail: it came from JSON.
            format!(
                "< {}",
                serde_json::to_string(event).expect("events serialize")
            )
        }
        Incoming::Frame(Decoded::Malformed(malformed)) => format!("! {malformed}"),
        Incoming::Exited(exit) => {
            format!("exit {} stderr={:?}", exit.status, exit.stderr_tail)
        }
    }
}

/// Receives until the transport yields `None` and renders the transcript, checking that
/// `None` stays `None`.
async fn drain(transport: &mut dyn Transport) -> String {
    let mut lines = Vec::new();
    while let Some(incoming) = transport.recv().await {
        lines.push(render(&incoming));
    }
    assert!(
        transport.recv().await.is_none(),
        "recv yields None forever after the exit"
    );
    lines.join("\n")
}
