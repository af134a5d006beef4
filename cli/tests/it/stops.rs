//! How `pyk` ends when it is told to stop: SIGTERM and SIGHUP shut the kernel down
//! through the whole ladder, and a stdout whose reader went away stops the cell.

use std::{
    io::{BufReader, Read},
    process::{Child, ChildStdout},
};

use crate::support::{
    HANG, collect, process_gone_within, pyk_with_python, python, spawn_reading_pid, wait,
};

/// A cell that starts `sleep 300` in the background, prints its pid, then sleeps.
const SPAWNS_A_CHILD: &str = "import subprocess, time\n\
    child = subprocess.Popen(['sleep', '300'])\n\
    print(child.pid, flush=True)\n\
    time.sleep(300)";

/// Starts `pyk exec -c code` and reads the first stdout line, a pid.
fn start(python: &str, code: &str) -> (Child, BufReader<ChildStdout>, i32) {
    spawn_reading_pid(pyk_with_python(python, &["exec", "-c", code]))
}

/// Sends `signal` to a `pyk` whose cell started a child, and checks the exit code and
/// that the child is gone once `pyk` has exited.
fn check_stop(signal: rustix::process::Signal, expected_code: i32) {
    let Some(python) = python() else { return };
    let (child, stdout, sleep_pid) = start(&python, SPAWNS_A_CHILD);
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), signal)
        .expect("pyk is running");
    let mut child = child;
    child.stdout = Some(stdout.into_inner());
    let finished = collect(child);
    assert_eq!(finished.code, Some(expected_code), "{finished:?}");
    // `sleep 300` cannot end on its own within the bound: only the shutdown can end it.
    assert!(
        process_gone_within(sleep_pid, HANG),
        "the cell's child {sleep_pid} outlived pyk"
    );
}

#[test]
fn sigterm_shuts_the_kernel_down_and_exits_143() {
    check_stop(rustix::process::Signal::TERM, 143);
}

#[test]
fn sighup_shuts_the_kernel_down_and_exits_129() {
    check_stop(rustix::process::Signal::HUP, 129);
}

#[test]
fn a_closed_stdout_stops_the_cell_and_exits_141_quietly() {
    let Some(python) = python() else { return };
    let code = "import os\nprint(os.getpid(), flush=True)\nwhile True: print('x' * 100)";
    let (mut child, stdout, runner_pid) = start(&python, code);
    // The reader goes away, as `head -1` does after its line.
    drop(stdout);
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let status = wait(&mut child, HANG);
    let mut errors = String::new();
    let _ = stderr.read_to_string(&mut errors);
    assert_eq!(status.code(), Some(141), "stderr: {errors}");
    assert_eq!(errors, "", "pyk is to exit quietly");
    assert!(
        process_gone_within(runner_pid, HANG),
        "runner {runner_pid} is still running"
    );
}

#[test]
fn ctrl_c_while_the_kernel_starts_exits_130_and_says_so() {
    use std::{os::unix::fs::PermissionsExt, process::Stdio};
    // An "interpreter" that never answers: pyk is inside the start until Ctrl-C.
    let dir = crate::support::temp_dir("start-interrupted");
    let marker = dir.join("started");
    let python = dir.join("python3");
    let script = format!(
        "#!/bin/sh\necho $$ >> {}\nexec sleep 300\n",
        marker.display()
    );
    std::fs::write(&python, script).expect("write the fake interpreter");
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755))
        .expect("make it executable");
    let mut command = pyk_with_python(&python.to_string_lossy(), &["exec", "-c", "1"]);
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pyk starts");
    let waited = std::time::Instant::now();
    while !marker.exists() && waited.elapsed() < HANG {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .expect("pyk is running");
    let finished = collect(child);
    for pid in std::fs::read_to_string(&marker).unwrap_or_default().lines() {
        if let Some(pid) = pid
            .trim()
            .parse()
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(finished.code, Some(130), "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("pyk: interrupted while the kernel was starting"),
        "{}",
        finished.stderr
    );
}
