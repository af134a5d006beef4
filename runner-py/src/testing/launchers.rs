//! Launchers for the launcher tests of every crate: the identity launcher `env`,
//! `unshare --pid --fork --mount-proc` where it works, and a relay that behaves like
//! `kubectl exec`; and a way to find the far side's processes without a pid.

use std::path::{Path, PathBuf};

/// A relay that starts its command detached, as `kubectl exec` or `docker exec` start
/// theirs on another machine: no descendant of the relay (it gives up being a child
/// subreaper and double-forks), in a session of its own, with no signal forwarded.
/// Killing the relay does to the command what killing a local `kubectl exec` does to the
/// remote process: nothing but the end of its stdin.
pub const NON_FORWARDING_WRAPPER: &str = r#"
import ctypes, os, signal, sys, threading
for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
    signal.signal(sig, signal.SIG_IGN)
ctypes.CDLL(None).prctl(36, 0, 0, 0, 0)
r0, w0 = os.pipe()
r1, w1 = os.pipe()
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork():
        os._exit(0)
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.dup2(r0, 0)
    os.dup2(w1, 1)
    for fd in (r0, w0, r1, w1):
        os.close(fd)
    os.execvp(sys.argv[1], sys.argv[1:])
os.waitpid(pid, 0)
os.close(r0)
os.close(w1)
def pump(src, dst):
    while True:
        data = os.read(src, 65536)
        if not data:
            break
        os.write(dst, data)
    os.close(dst)
threading.Thread(target=pump, args=(0, w0), daemon=True).start()
pump(r1, 1)
"#;

/// The launchers to test over, by name, as words. `unshare` is left out, with a note on
/// stderr, where it cannot make a PID namespace; `ssh` is in when [`TEST_SSH_ENV`] names
/// one.
pub fn test_launchers(python: &Path) -> Vec<(&'static str, Vec<String>)> {
    let words = |words: &[&str]| words.iter().map(|word| (*word).to_owned()).collect();
    let mut found = vec![("env", words(&["env"]))];
    let unshare = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .status();
    if unshare.is_ok_and(|status| status.success()) {
        found.push((
            "unshare",
            words(&["unshare", "--pid", "--fork", "--mount-proc"]),
        ));
    } else {
        eprintln!("skipping the unshare launcher: `unshare --pid --fork --mount-proc true` failed");
    }
    let python = python.to_string_lossy();
    found.push((
        "non-forwarding wrapper",
        words(&[&python, "-c", NON_FORWARDING_WRAPPER]),
    ));
    // `cargo xtask ci` starts a throwaway sshd on 127.0.0.1 and names it here.
    if let Some(ssh) = std::env::var(TEST_SSH_ENV)
        .ok()
        .filter(|ssh| !ssh.trim().is_empty())
    {
        found.push(("ssh", ssh.split_whitespace().map(str::to_owned).collect()));
    }
    found
}

/// The environment variable that names an ssh launcher to test over, as words separated
/// by spaces (`cargo xtask ci` sets it to a throwaway sshd on 127.0.0.1, which accepts
/// the marker variable `PYK_LAUNCHER_TEST` so the far side's processes carry it too).
pub const TEST_SSH_ENV: &str = "PYKERNEL_TEST_SSH";

/// The processes of this machine whose environment or command line holds `marker`.
pub fn marked(marker: &str) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = marker.as_bytes();
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let dir = PathBuf::from(format!("/proc/{pid}"));
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // A zombie has exited; only its parent's wait is missing.
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            if state == "Z" {
                return None;
            }
            let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
            let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            let holds = |bytes: &[u8]| bytes.windows(needle.len()).any(|window| window == needle);
            (holds(&environ) || holds(&cmdline)).then(|| {
                let command = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                (pid, command.chars().take(60).collect())
            })
        })
        .collect()
}
