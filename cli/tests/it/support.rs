//! Running `pyk` as a child process, with a bound on how long it may take.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::PathBuf,
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

/// A generous bound that only catches hangs.
pub(crate) const HANG: Duration = Duration::from_secs(60);

/// The interpreter for real-Python tests, or `None` to skip them.
pub(crate) fn python() -> Option<String> {
    pykernel_runner::testing::test_python().map(|python| python.to_string_lossy().into_owned())
}

/// `pyk` with a clean, predictable environment: no history file, no colors.
pub(crate) fn pyk() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyk"));
    command
        .env("PYK_HISTORY", "")
        .env_remove("RUST_LOG")
        .env("TERM", "dumb");
    command
}

/// `pyk <args> --python <test python>`.
pub(crate) fn pyk_with_python(python: &str, args: &[&str]) -> Command {
    let mut command = pyk();
    command.args(args).arg("--python").arg(python);
    command
}

/// What a finished `pyk` left.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `command` with `stdin` as its input, killing it (and failing) after [`HANG`].
pub(crate) fn run(mut command: Command, stdin: &str) -> Finished {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the pyk binary runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_owned();
    let writer = thread::spawn(move || {
        // pyk may exit without reading its stdin; that is not this test's failure.
        let _ = input.write_all(stdin.as_bytes());
    });
    let finished = collect(child);
    let _ = writer.join();
    finished
}

/// Starts `command` with piped stdout and stderr and reads its first stdout line, a pid
/// that the code prints first.
pub(crate) fn spawn_reading_pid(mut command: Command) -> (Child, BufReader<ChildStdout>, i32) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the pyk binary runs");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("pyk prints a pid");
    let pid: i32 = first
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a pid: {first:?}"));
    (child, stdout, pid)
}

/// Waits for `child` (with piped stdout and stderr) and collects its output.
pub(crate) fn collect(mut child: Child) -> Finished {
    let stdout = reader(child.stdout.take().expect("stdout is piped"));
    let stderr = reader(child.stderr.take().expect("stderr is piped"));
    let status = wait(&mut child, HANG);
    Finished {
        code: status.code(),
        stdout: stdout.join().expect("the reader thread does not panic"),
        stderr: stderr.join().expect("the reader thread does not panic"),
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits up to `bound` for `child`; kills it and panics when it takes longer.
pub(crate) fn wait(child: &mut Child, bound: Duration) -> ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait works on a child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pyk did not finish within {bound:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh empty directory under the system temp dir.
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyk-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temp dir is writable");
    dir
}

/// Whether a process with this id is still running (Unix: signal 0). A zombie that
/// nobody reaped yet (its parent, `pyk`, is gone) does not count as running.
#[cfg(unix)]
pub(crate) fn process_exists(pid: i32) -> bool {
    let Some(raw) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    if rustix::process::test_kill_process(raw).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesized command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Waits up to `bound` for the process to disappear; whether it did.
#[cfg(unix)]
pub(crate) fn process_gone_within(pid: i32, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while process_exists(pid) {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}
