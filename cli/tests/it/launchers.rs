//! `pyk` with `--launcher` and `--sandbox`, over a real Python (gated by
//! `PYKERNEL_TEST_PYTHON`).

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use pykernel_runner::testing::launchers::{marked, test_launchers};

use crate::support::{pyk_with_python, python, run};

/// A cell that leaves a child, a double-forked daemon in a session of its own and a busy
/// loop behind, and says `ready` once all three run.
const LEFTOVERS: &str = "import os, subprocess, time\n\
                         child = subprocess.Popen(['sleep', '300'])\n\
                         os.system('setsid sleep 301 &')\n\
                         time.sleep(0.2)\n\
                         print('ready', flush=True)\n\
                         while True: time.sleep(0.01)";

fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn exec_runs_through_a_launcher() {
    let Some(python) = python() else { return };
    for (name, words) in test_launchers(python.as_ref()) {
        let launcher = shell_words(&words);
        let finished = run(
            pyk_with_python(
                &python,
                &["exec", "--launcher", &launcher, "-c", "print(6 * 7)"],
            ),
            "",
        );
        assert_eq!(finished.code, Some(0), "{name}: {finished:?}");
        assert_eq!(finished.stdout, "42\n", "{name}");
    }
}

#[test]
fn a_bad_launcher_is_a_usage_error() {
    let finished = run(
        pyk_with_python("python3", &["exec", "--launcher", "ssh 'host", "-c", "1"]),
        "",
    );
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(
        finished.stderr.contains("unbalanced quotes"),
        "{finished:?}"
    );
}

#[test]
fn sigkill_of_pyk_mid_cell_leaves_nothing_on_the_far_side() {
    let Some(python) = python() else { return };
    for (name, words) in test_launchers(python.as_ref()) {
        let marker = format!("sigkill-{}-{name}", std::process::id()).replace(' ', "-");
        let launcher = shell_words(&words);
        let mut command = pyk_with_python(
            &python,
            &[
                "exec",
                "--launcher",
                &launcher,
                "--env",
                &format!("PYK_LAUNCHER_TEST={marker}"),
                "-c",
                LEFTOVERS,
            ],
        );
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the pyk binary runs");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.next().and_then(Result::ok);
        assert_eq!(ready.as_deref(), Some("ready"), "{name}");
        assert!(marked(&marker).len() >= 3, "{name}: {:?}", marked(&marker));
        // `Child::kill` sends SIGKILL: pyk gets no chance to clean up.
        child.kill().expect("pyk can be killed");
        let _ = child.wait();
        let started = Instant::now();
        while !marked(&marker).is_empty() && started.elapsed() < Duration::from_secs(2) {
            thread::sleep(Duration::from_millis(50));
        }
        assert!(
            marked(&marker).is_empty(),
            "{name}: still alive 2 s after pyk was killed: {:?}",
            marked(&marker)
        );
    }
}
