//! [`KernelError`] clones: same message, same source chain.

use std::{error::Error, fmt::Write as _, io, sync::Arc};

use pykernel_transport::TransportError;

use crate::KernelError;

/// Renders `err` and its source chain, one per line, with the OS error kind where there
/// is one.
fn chain(err: &KernelError) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(out, "\n  caused by: {cause}");
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            let _ = write!(out, " ({:?})", io.kind());
        }
        source = cause.source();
    }
    out
}

fn check(err: &KernelError) -> String {
    let copy = err.clone();
    let (original, cloned) = (chain(err), chain(&copy));
    assert_eq!(original, cloned, "a clone differs from its original");
    cloned
}

#[test]
fn clones_keep_the_message_and_the_source_chain() {
    let spawn = KernelError::Spawn {
        path: "/opt/python3".into(),
        source: Arc::new(io::Error::new(io::ErrorKind::PermissionDenied, "denied")),
    };
    insta::assert_snapshot!(check(&spawn), @"
    failed to spawn /opt/python3
      caused by: denied (PermissionDenied)
    ");
    let transport = KernelError::from(TransportError::Io(io::Error::other("broken pipe")));
    insta::assert_snapshot!(check(&transport), @"
    kernel transport failed
      caused by: runner i/o failed
      caused by: broken pipe (Other)
    ");
    let stage = KernelError::StageRunner(Arc::new(io::Error::from(io::ErrorKind::NotFound)));
    insta::assert_snapshot!(check(&stage), @"
    failed to stage the runner
      caused by: entity not found (NotFound)
    ");
}
