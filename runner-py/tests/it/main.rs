//! The embedded runner against the protocol crate, and (gated at runtime on
//! `PYKERNEL_TEST_PYTHON`, which names an interpreter) the staged runner started the
//! way [`pykernel_runner::python_args`] says.

use std::{
    env, fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{self, Command, Stdio},
};

use pykernel_protocol::{Event, PROTOCOL_VERSION, Status};
use pykernel_runner::testing::test_python as python;

#[test]
fn runner_speaks_the_protocol_version_of_the_protocol_crate() {
    assert_eq!(
        pykernel_runner::runner_protocol_version(),
        Some(PROTOCOL_VERSION)
    );
}

/// Starts the staged runner, runs the prelude and one cell, and exits; returns the
/// frames it sent.
fn run_staged(python: &PathBuf, cell: &str) -> Vec<Event> {
    let runner = pykernel_runner::stage_runner().unwrap_or_else(|err| panic!("stage: {err}"));
    let mut command = Command::new(python);
    command.env_remove("PYTHONDONTWRITEBYTECODE");
    run_runner(command, &runner, cell)
}

/// Starts `runner` with `command` (an interpreter) the way `python_args` says, runs the
/// prelude and one cell, and exits; returns the frames it sent.
fn run_runner(mut command: Command, runner: &Path, cell: &str) -> Vec<Event> {
    let mut child = command
        .args(pykernel_runner::python_args(runner))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {command:?}: {err}"));
    let mut stdin = child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin pipe"));
    let requests = [
        serde_json::json!({"id": "prelude", "code": pykernel_runner::PRELUDE_SOURCE, "silent": true, "storeHistory": false}),
        serde_json::json!({"id": "cell", "code": cell}),
    ];
    for request in requests {
        writeln!(stdin, "{request}").unwrap_or_else(|err| panic!("write: {err}"));
    }
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout pipe"));
    let mut frames = Vec::new();
    let mut stdin = Some(stdin);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap_or_else(|err| panic!("read: {err}"));
        let frame = serde_json::from_str::<Event>(&line)
            .unwrap_or_else(|err| panic!("bad frame {line}: {err}"));
        let cell_done = matches!(&frame, Event::Done(done) if done.id.as_str() == "cell");
        frames.push(frame);
        // The end of input stops a running cell at once, so stdin stays open until the
        // cell is done; then `exit` and the end of input.
        if cell_done && let Some(mut stdin) = stdin.take() {
            writeln!(stdin, "{}", serde_json::json!({"type": "exit"}))
                .unwrap_or_else(|err| panic!("write: {err}"));
        }
    }
    let status = child.wait().unwrap_or_else(|err| panic!("wait: {err}"));
    assert!(status.success(), "runner exited with {status}");
    frames
}

#[test]
fn staged_runner_starts_as_an_imported_package_and_caches_its_bytecode() {
    let Some(python) = python() else { return };
    let frames = run_staged(
        &python,
        "import sys\nprint(sys.argv[0].endswith('pykernel_runner'))\nparallel([lambda: 6 * 7])",
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
    let cache = runner.join("__pycache__");
    let cached = cached_modules(&cache);
    assert!(
        cached.iter().any(|name| name == "__init__"),
        "no bytecode cached in {}: {cached:?}",
        cache.display()
    );
}

/// The modules with bytecode in the `__pycache__` directory `cache`.
fn cached_modules(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(cache)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.split_once('.').map(|(module, _)| module.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}

/// The kinds of the frames of execution `id`, and the stdout it wrote.
fn cell_stdout(frames: &[Event], id: &str) -> (Vec<&'static str>, String) {
    let cell: Vec<&Event> = frames
        .iter()
        .filter(|frame| frame.exec_id().is_some_and(|exec| exec.as_str() == id))
        .collect();
    let kinds = cell.iter().map(|frame| frame.kind()).collect();
    let stdout = cell
        .iter()
        .filter_map(|frame| match frame {
            Event::Stdout(out) => Some(out.data.as_str()),
            _ => None,
        })
        .collect();
    (kinds, stdout)
}

#[test]
fn bytecode_is_cached_even_under_pythondontwritebytecode_which_user_code_still_sees() {
    let Some(python) = python() else { return };
    // A private copy, so no earlier run can have cached its bytecode already.
    let dir = env::temp_dir().join(format!("pykernel-runner-it-bytecode-{}", process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("create {}: {err}", dir.display()));
    let runner = dir.join(pykernel_runner::RUNNER_PACKAGE);
    fs::create_dir_all(&runner).unwrap_or_else(|err| panic!("create {}: {err}", runner.display()));
    for (name, contents) in pykernel_runner::RUNNER_FILES {
        let path = runner.join(name);
        fs::write(&path, contents).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
    }

    let mut command = Command::new(&python);
    command.env("PYTHONDONTWRITEBYTECODE", "1");
    // `%pwd` imports the magics module, on first use.
    let frames = run_runner(
        command,
        &runner,
        "import sys\n%pwd\nprint(sys.dont_write_bytecode)",
    );
    let (kinds, stdout) = cell_stdout(&frames, "cell");
    let cached = cached_modules(&runner.join("__pycache__"));
    let _ = fs::remove_dir_all(&dir);

    // `%pwd` reports itself in a status event (a display) before the print.
    assert_eq!(kinds, ["started", "display", "stdout", "done"]);
    assert_eq!(
        stdout, "True\n",
        "user code must keep PYTHONDONTWRITEBYTECODE"
    );
    for module in ["__init__", "execution", "magics"] {
        assert!(
            cached.iter().any(|name| name == module),
            "no bytecode cached for {module}: {cached:?}"
        );
    }
}
