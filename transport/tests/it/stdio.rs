//! The stdio transport against real `sh` processes.

use std::{ffi::OsString, time::Duration};

use pykernel_protocol::Request;
use pykernel_transport::{SpawnOptions, StdioTransport, Transport, TransportError};

use crate::drain;

/// Generous bound that only catches hangs.
const HANG: Duration = Duration::from_secs(10);

/// Options to run `script` with `/bin/sh -c`, with the host's `PATH` only.
fn sh(script: &str) -> SpawnOptions {
    let mut options = SpawnOptions::new("/bin/sh");
    options.args = vec!["-c".into(), script.into()];
    options.env = std::env::var_os("PATH")
        .map(|path| (OsString::from("PATH"), path))
        .into_iter()
        .collect();
    options
}

/// Runs `script` to its exit and renders everything it sent.
async fn check(options: SpawnOptions) -> String {
    let mut transport = StdioTransport::spawn(options).expect("sh starts");
    tokio::time::timeout(HANG, drain(&mut transport))
        .await
        .expect("the transcript ends")
}

#[tokio::test]
async fn frames_printed_by_sh_are_decoded_and_a_malformed_line_is_skipped() {
    let transcript = check(sh(r#"
        printf '%s\n' '{"type":"started","id":"a"}' 'oops' '{"type":"stdout","id":"a","data":"hi\n"}'
        echo boom >&2
        exit 3
    "#))
    .await;
    insta::assert_snapshot!(transcript, @r#"
    < {"type":"started","id":"a"}
    ! line is not json: expected value at line 1 column 1 (starts "oops")
    < {"type":"stdout","id":"a","data":"hi\n"}
    exit exit code 3 stderr="boom\n"
    "#);
}

#[tokio::test]
async fn send_to_cat_echoes_the_request_line() {
    let mut options = SpawnOptions::new("/bin/cat");
    options.env.clear();
    let mut transport = StdioTransport::spawn(options).expect("cat starts");
    transport.send(&Request::Exit).await.expect("cat reads");
    transport.close_input().await.expect("closing works");
    let res = transport.send(&Request::Exit).await;
    assert!(matches!(res, Err(TransportError::Closed)), "{res:?}");
    let transcript = tokio::time::timeout(HANG, drain(&mut transport))
        .await
        .expect("cat exits");
    insta::assert_snapshot!(transcript, @r#"
    ! line is not a frame: unknown frame type `exit` (starts "{\"type\":\"exit\"}")
    exit exit code 0 stderr=""
    "#);
}
