//! `pyk exec` and `pyk doctor`: exit codes, streams, `--json`, options, display.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    HANG, collect, pyk, pyk_with_python, python, run, spawn_reading_pid, temp_dir,
};

fn exec(python: &str, code: &str, extra: &[&str]) -> crate::support::Finished {
    let mut command = pyk_with_python(python, &["exec", "-c", code]);
    command.args(extra);
    run(command, "")
}

// ---------------------------------------------------------------------------------------
// Without Python
// ---------------------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2() {
    let mut command = pyk();
    command.args(["exec"]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(finished.stderr.contains("required"), "{}", finished.stderr);

    let mut command = pyk();
    command.args(["exec", "-c", "1", "--env", "NOEQUALS"]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("expected KEY=VALUE, found `NOEQUALS`"),
        "{}",
        finished.stderr
    );
    assert_eq!(finished.stdout, "");

    let mut command = pyk();
    command.args(["exec", "-c", "1", "--timeout=-3"]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(finished.stderr.contains("--timeout"), "{}", finished.stderr);
}

#[test]
fn help_and_version_exit_0() {
    let mut command = pyk();
    command.arg("--help");
    let finished = run(command, "");
    assert_eq!(finished.code, Some(0));
    for word in ["exec", "repl", "doctor"] {
        assert!(finished.stdout.contains(word), "{}", finished.stdout);
    }
    let mut command = pyk();
    command.arg("--version");
    let finished = run(command, "");
    assert_eq!(finished.code, Some(0));
    assert!(finished.stdout.starts_with("pyk "), "{}", finished.stdout);
}

#[test]
fn a_missing_python_exits_2_naming_the_path() {
    let mut command = pyk();
    command.args(["exec", "-c", "1", "--python", "/nonexistent/bin/python3"]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(
        finished.stderr.contains("/nonexistent/bin/python3"),
        "{}",
        finished.stderr
    );
    assert_eq!(finished.stdout, "");
}

#[test]
fn a_missing_python_with_json_prints_one_outcome_line() {
    let mut command = pyk();
    command.args([
        "exec",
        "-c",
        "1",
        "--json",
        "--python",
        "/nonexistent/bin/python3",
    ]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    let lines: Vec<Value> = finished
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every stdout line is JSON"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", finished.stdout);
    assert_eq!(lines[0]["type"], "outcome");
    assert_eq!(lines[0]["status"], "error");
    let kernel_error = lines[0]["kernelError"]
        .as_str()
        .expect("kernelError is a string");
    assert!(
        kernel_error.contains("/nonexistent/bin/python3"),
        "{kernel_error}"
    );
}

#[test]
fn a_missing_file_exits_2() {
    let mut command = pyk();
    command.args(["exec", "/nonexistent/script.py"]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("cannot read /nonexistent/script.py"),
        "{}",
        finished.stderr
    );
}

// ---------------------------------------------------------------------------------------
// With Python
// ---------------------------------------------------------------------------------------

#[test]
fn success_streams_stdout_and_stderr_and_exits_0() {
    let Some(python) = python() else { return };
    let finished = exec(
        &python,
        "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6*7",
        &[],
    );
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(finished.stdout, "out\n42\n");
    assert!(finished.stderr.contains("err\n"), "{}", finished.stderr);
}

#[test]
fn a_python_error_exits_1_with_the_traceback_on_stderr() {
    let Some(python) = python() else { return };
    let finished = exec(&python, "print('before')\n1/0", &[]);
    assert_eq!(finished.code, Some(1), "{finished:?}");
    assert_eq!(finished.stdout, "before\n");
    assert!(
        finished
            .stderr
            .contains("ZeroDivisionError: division by zero"),
        "{}",
        finished.stderr
    );
}

#[test]
fn a_kernel_that_dies_exits_1_with_the_reason() {
    let Some(python) = python() else { return };
    let finished = exec(
        &python,
        "import os\nprint('bye', flush=True)\nos._exit(3)",
        &[],
    );
    assert_eq!(finished.code, Some(1), "{finished:?}");
    assert_eq!(finished.stdout, "bye\n");
    assert!(
        finished.stderr.contains("kernel died (exit code 3)"),
        "{}",
        finished.stderr
    );
}

#[test]
fn a_timeout_exits_124() {
    let Some(python) = python() else { return };
    let started = Instant::now();
    let finished = exec(&python, "while True: pass", &["--timeout", "1"]);
    assert_eq!(finished.code, Some(124), "{finished:?}");
    assert!(
        finished.stderr.contains("timed out after 1 s"),
        "{}",
        finished.stderr
    );
    // 1 s of timeout plus the 5 s interrupt grace, with room for a slow machine.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn code_from_stdin_and_from_a_file() {
    let Some(python) = python() else { return };
    let finished = run(
        pyk_with_python(&python, &["exec", "-"]),
        "x = 20\nprint(x + 1)\n",
    );
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(finished.stdout, "21\n");

    let dir = temp_dir("file");
    let script = dir.join("script.py");
    std::fs::write(&script, "print('from file')\n").expect("temp dir is writable");
    let finished = run(
        pyk_with_python(
            &python,
            &["exec", script.to_str().expect("utf-8 temp path")],
        ),
        "",
    );
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(finished.stdout, "from file\n");
}

#[test]
fn the_code_sees_sys_argv_and_file_as_python_gives_them() {
    let Some(python) = python() else { return };
    let dir = temp_dir("argv");
    let script = dir.join("args.py");
    std::fs::write(
        &script,
        "import sys\nprint(sys.argv[1:])\nprint(__file__)\nprint(sys.argv[0].endswith('args.py'))\n",
    )
    .expect("temp dir is writable");
    let script = script.to_str().expect("utf-8 temp path");
    // Everything after `--` goes to the code, so `--python` comes first here.
    let mut command = pyk();
    command.args([
        "exec",
        "--python",
        &python,
        script,
        "--",
        "one",
        "two words",
        "--flag",
    ]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(
        finished.stdout,
        format!("['one', 'two words', '--flag']\n{script}\nTrue\n")
    );

    let mut command = pyk();
    command.args([
        "exec",
        "--python",
        &python,
        "-c",
        "import sys; print(sys.argv)",
        "--",
        "x",
    ]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(finished.stdout, "['-c', 'x']\n");
}

#[test]
fn env_and_cwd_reach_the_kernel() {
    let Some(python) = python() else { return };
    let dir = temp_dir("cwd");
    let canonical = dir.canonicalize().expect("the temp dir exists");
    let finished = exec(
        &python,
        "import os\nprint(os.environ['GREETING'], os.environ['EMPTY'] == '', os.environ['EQ'])\nprint(os.getcwd())",
        &[
            "--env",
            "GREETING=hello",
            "--env",
            "EMPTY=",
            "--env",
            "EQ=a=b",
            "--cwd",
            dir.to_str().expect("utf-8 temp path"),
        ],
    );
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(
        finished.stdout,
        format!("hello True a=b\n{}\n", canonical.display())
    );
}

#[test]
fn input_reads_a_line_from_stdin() {
    let Some(python) = python() else { return };
    let finished = run(
        pyk_with_python(
            &python,
            &["exec", "-c", "name = input('name? ')\nprint('hi', name)"],
        ),
        "Bob\n",
    );
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(finished.stdout, "name? hi Bob\n");
}

#[test]
fn input_raises_eoferror_at_the_end_of_stdin() {
    let Some(python) = python() else { return };
    let code =
        "try:\n    input('name? ')\nexcept EOFError as exc:\n    print('eof:', exc)\ninput()";
    let finished = run(pyk_with_python(&python, &["exec", "-c", code]), "");
    assert_eq!(finished.code, Some(1), "{finished:?}");
    assert_eq!(finished.stdout, "name? eof: EOF when reading a line\n");
    assert!(finished.stderr.contains("EOFError"), "{}", finished.stderr);
}

#[test]
fn json_lines_for_every_event_then_the_outcome() {
    let Some(python) = python() else { return };
    let code = "import sys\nprint('a')\nprint('b', file=sys.stderr)\n1/0";
    let finished = exec(&python, code, &["--json"]);
    assert_eq!(finished.code, Some(1), "{finished:?}");
    let lines: Vec<Value> = finished
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every stdout line is JSON"))
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|line| line["type"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        kinds,
        ["stdout", "stderr", "error", "outcome"],
        "{}",
        finished.stdout
    );
    assert_eq!(lines[0]["data"], "a\n");
    assert_eq!(lines[1]["data"], "b\n");
    assert_eq!(lines[2]["ename"], "ZeroDivisionError");
    assert_eq!(lines[2]["evalue"], "division by zero");
    assert!(lines[2]["traceback"].is_array());
    let outcome = &lines[3];
    assert_eq!(outcome["status"], "error");
    assert_eq!(outcome["cancelled"], false);
    assert_eq!(outcome["timedOut"], false);
    assert_eq!(outcome["kernelKilled"], false);
    assert_eq!(outcome["error"]["ename"], "ZeroDivisionError");
    assert_eq!(outcome["kernelError"], Value::Null);
    assert!(outcome["executionCount"].is_u64(), "{outcome}");

    let finished = exec(&python, "print('x')\n1+1", &["--json"]);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    let lines: Vec<Value> = finished
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", finished.stdout);
    assert_eq!(
        lines[1],
        serde_json::json!({"type": "result", "bundle": {"text/plain": "2"}})
    );
    assert_eq!(lines[2]["status"], "ok");
    assert_eq!(lines[2]["error"], Value::Null);
}

#[test]
fn rich_displays_render_as_text() {
    let Some(python) = python() else { return };
    let code = r##"
class Html:
    def _repr_html_(self):
        return "<p>Hello <b>world</b></p>"
class Md:
    def _repr_markdown_(self):
        return "# Title"
class Js:
    def _repr_json_(self):
        return {"k": [1, 2]}
display(Html())
display(Md())
Js()
"##;
    let finished = exec(&python, code, &[]);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(
        finished.stdout,
        "Hello **world**\n# Title\n{\n  \"k\": [\n    1,\n    2\n  ]\n}\n"
    );
}

#[test]
fn images_are_placeholders_or_saved_files() {
    let Some(python) = python() else { return };
    let code = "class Png:\n    def _repr_png_(self):\n        return b'\\x89PNG\\r\\n\\x1a\\n' + b'\\0' * 2000\nPng()";
    let finished = exec(&python, code, &[]);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(finished.stdout, "[image/png 2.0 KiB]\n");

    let dir = temp_dir("images");
    let finished = exec(
        &python,
        code,
        &["--save-images", dir.to_str().expect("utf-8 temp path")],
    );
    assert_eq!(finished.code, Some(0), "{finished:?}");
    let path = dir.join("image-1.png");
    assert_eq!(
        finished.stdout,
        format!("[image/png 2.0 KiB saved to {}]\n", path.display())
    );
    let saved = std::fs::read(&path).expect("the image was saved");
    assert_eq!(saved.len(), 2008);
    assert!(saved.starts_with(b"\x89PNG"));
}

#[test]
fn doctor_reports_a_healthy_interpreter() {
    let Some(python) = python() else { return };
    let finished = run(pyk_with_python(&python, &["doctor"]), "");
    assert_eq!(finished.code, Some(0), "{finished:?}");
    for field in ["python:", "version:", "startup:", "runner:   ok (1+1 = 2"] {
        assert!(finished.stdout.contains(field), "{}", finished.stdout);
    }
    assert!(
        finished.stdout.ends_with("status:   healthy\n"),
        "{}",
        finished.stdout
    );

    let mut command = pyk();
    command.args(["doctor", "--python", "/nonexistent/bin/python3"]);
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(
        finished.stdout.contains("/nonexistent/bin/python3"),
        "{}",
        finished.stdout
    );
    assert!(
        finished.stdout.ends_with("status:   unhealthy\n"),
        "{}",
        finished.stdout
    );
}

// ---------------------------------------------------------------------------------------
// Ctrl-C (SIGINT sent to the pyk process)
// ---------------------------------------------------------------------------------------

/// Starts `pyk exec -c code`, waits for the runner's pid that the code prints first,
/// then sends SIGINT `n_signals` times (1 s apart) and returns what pyk left.
#[cfg(unix)]
fn interrupt(python: &str, code: &str, n_signals: usize) -> (crate::support::Finished, i32) {
    let (mut child, stdout, runner_pid) =
        spawn_reading_pid(pyk_with_python(python, &["exec", "-c", code]));
    let pyk_pid = rustix::process::Pid::from_child(&child);
    for index in 0..n_signals {
        if index > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        rustix::process::kill_process(pyk_pid, rustix::process::Signal::INT)
            .expect("pyk is running");
    }
    child.stdout = Some(stdout.into_inner());
    (collect(child), runner_pid)
}

#[cfg(unix)]
#[test]
fn sigint_interrupts_the_cell_and_exits_130() {
    let Some(python) = python() else { return };
    let code = "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(0.3)\nwhile True: pass";
    let (finished, runner_pid) = interrupt(&python, code, 1);
    assert_eq!(finished.code, Some(130), "{finished:?}");
    assert!(
        finished.stderr.contains("KeyboardInterrupt"),
        "{}",
        finished.stderr
    );
    assert!(
        crate::support::process_gone_within(runner_pid, HANG),
        "runner {runner_pid} is still running"
    );
}

#[cfg(unix)]
#[test]
fn a_second_sigint_kills_a_kernel_that_ignores_the_first() {
    let Some(python) = python() else { return };
    let marker = temp_dir("second-sigint").join("terminated");
    // The cell ignores SIGINT itself; catching KeyboardInterrupt in a busy loop is not
    // reliable on CPython 3.11, which can raise it at a jump outside the `try`. It leaves
    // a mark if it gets SIGTERM: the second Ctrl-C must kill it outright.
    let code = format!(
        "import os, signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n\
         signal.signal(signal.SIGTERM, lambda *_: open({marker:?}, 'w').close())\n\
         print(os.getpid(), flush=True)\nwhile True: pass",
        marker = marker.display().to_string()
    );
    let started = Instant::now();
    let (finished, runner_pid) = interrupt(&python, &code, 2);
    assert_eq!(finished.code, Some(130), "{finished:?}");
    assert!(
        finished.stderr.contains("killing the kernel"),
        "{}",
        finished.stderr
    );
    assert!(
        crate::support::process_gone_within(runner_pid, HANG),
        "runner {runner_pid} is still running"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(!marker.exists(), "the runner got SIGTERM");
}
