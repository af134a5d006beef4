//! The embedded runner against the protocol crate, and (gated at runtime on
//! `PYKERNEL_TEST_PYTHON`, which names an interpreter) the staged runner started the
//! way [`pykernel_runner::python_args`] says.

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Command, Stdio},
};

use pykernel_protocol::{Event, PROTOCOL_VERSION, Status};

#[test]
fn runner_speaks_the_protocol_version_of_the_protocol_crate() {
    assert_eq!(
        pykernel_runner::runner_protocol_version(),
        Some(PROTOCOL_VERSION)
    );
}

fn python() -> Option<PathBuf> {
    std::env::var_os("PYKERNEL_TEST_PYTHON")
        .filter(|python| !python.is_empty())
        .map(PathBuf::from)
}

/// Starts the staged runner, runs the prelude and one cell, and exits; returns the
/// frames it sent.
fn run_staged(python: &PathBuf, cell: &str) -> Vec<Event> {
    let runner = pykernel_runner::stage_runner().unwrap_or_else(|err| panic!("stage: {err}"));
    let mut child = Command::new(python)
        .args(pykernel_runner::python_args(&runner))
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {}: {err}", python.display()));
    let mut stdin = child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin pipe"));
    let requests = [
        serde_json::json!({"id": "prelude", "code": pykernel_runner::PRELUDE_SOURCE, "silent": true, "storeHistory": false}),
        serde_json::json!({"id": "cell", "code": cell}),
        serde_json::json!({"type": "exit"}),
    ];
    for request in requests {
        writeln!(stdin, "{request}").unwrap_or_else(|err| panic!("write: {err}"));
    }
    drop(stdin);
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout pipe"));
    let frames = BufReader::new(stdout)
        .lines()
        .map(|line| {
            let line = line.unwrap_or_else(|err| panic!("read: {err}"));
            serde_json::from_str::<Event>(&line)
                .unwrap_or_else(|err| panic!("bad frame {line}: {err}"))
        })
        .collect();
    let status = child.wait().unwrap_or_else(|err| panic!("wait: {err}"));
    assert!(status.success(), "runner exited with {status}");
    frames
}

#[test]
fn staged_runner_starts_as_an_imported_module_and_caches_its_bytecode() {
    let Some(python) = python() else { return };
    let frames = run_staged(
        &python,
        "import sys\nprint(sys.argv[0].endswith('pykernel_runner.py'))\nparallel([lambda: 6 * 7])",
    );
    let Some(Event::Hello(hello)) = frames.first() else {
        panic!("first frame is not hello: {frames:?}")
    };
    assert_eq!(hello.protocol, PROTOCOL_VERSION);
    let cell: Vec<&Event> = frames
        .iter()
        .filter(|frame| frame.exec_id().is_some_and(|id| id.as_str() == "cell"))
        .collect();
    let kinds: Vec<&str> = cell.iter().map(|frame| frame.kind()).collect();
    assert_eq!(kinds, ["started", "stdout", "result", "done"]);
    let Event::Stdout(out) = cell[1] else {
        unreachable!("checked above")
    };
    assert_eq!(out.data, "True\n");
    let Event::Result(result) = cell[2] else {
        unreachable!("checked above")
    };
    assert_eq!(result.bundle.get_str("text/plain"), Some("[42]"));
    let Event::Done(done) = cell[3] else {
        unreachable!("checked above")
    };
    assert_eq!(done.status, Status::Ok);
    assert_eq!(done.execution_count, Some(1));

    let runner = pykernel_runner::stage_runner().unwrap_or_else(|err| panic!("stage: {err}"));
    let cache = runner.with_file_name("__pycache__");
    let cached = std::fs::read_dir(&cache)
        .map(|entries| {
            entries.flatten().any(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("pykernel_runner.")
            })
        })
        .unwrap_or(false);
    assert!(cached, "no bytecode cached in {}", cache.display());
}
