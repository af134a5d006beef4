//! `--engine`: the IPython engine from the command line, and its errors.

use std::process::Command;

use crate::support::{pyk, pyk_with_python, python, run, temp_dir};

/// The test interpreter when it can import IPython; otherwise says why the test skips.
fn python_with_ipython() -> Option<String> {
    let python = python()?;
    let importable = Command::new(&python)
        .args(["-c", "import IPython"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !importable {
        eprintln!("skipped: {python} cannot import IPython (install ipython into it)");
        return None;
    }
    Some(python)
}

#[test]
fn every_command_takes_engine_and_an_unknown_one_is_a_usage_error() {
    for subcommand in ["exec", "repl", "doctor", "serve", "mcp"] {
        let mut command = pyk();
        command.args([subcommand, "--engine", "fast"]);
        let finished = run(command, "");
        assert_eq!(finished.code, Some(2), "{subcommand}: {finished:?}");
        assert!(
            finished
                .stderr
                .contains("unknown engine `fast` (expected light or ipython)"),
            "{subcommand}: {}",
            finished.stderr
        );
    }
}

#[test]
fn exec_runs_ipython_magics_with_the_ipython_engine() {
    let Some(python) = python_with_ipython() else {
        return;
    };
    let command = pyk_with_python(&python, &["exec", "--engine", "ipython", "-c", "%lsmagic"]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(0), "{finished:?}");
    // IPython 9 gives a string; IPython 8 a display whose JSON form pyk prints.
    assert!(
        finished.stdout.contains("Available line magics:")
            || finished.stdout.contains("\"lsmagic\": \"BasicMagics\""),
        "{}",
        finished.stdout
    );
    let command = pyk_with_python(&python, &["exec", "--engine", "ipython", "-c", "len?"]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert!(
        finished
            .stdout
            .contains("Return the number of items in a container."),
        "{}",
        finished.stdout
    );
}

#[test]
fn the_ipython_engine_without_ipython_exits_2_naming_the_interpreter() {
    let Some(python) = python() else { return };
    // A package named IPython that cannot be imported shadows any installed one.
    let dir = temp_dir("no-ipython");
    let shadow = dir.join("IPython");
    std::fs::create_dir_all(&shadow).expect("the scratch directory is writable");
    std::fs::write(shadow.join("__init__.py"), "raise ImportError('no')\n")
        .expect("the scratch directory is writable");
    let mut command = pyk_with_python(&python, &["exec", "--engine", "ipython", "-c", "1"]);
    command
        .arg("--env")
        .arg(format!("PYTHONPATH={}", dir.display()));
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(
        finished.stderr.contains("IPython is not importable by /")
            && finished.stderr.contains(": install ipython"),
        "{}",
        finished.stderr
    );
}
