//! The launcher tests' machinery: bubblewrap and OpenSSH installed where missing, and a
//! throwaway `sshd` on 127.0.0.1 so the launcher tests also run over `ssh`.
//!
//! Everything the sshd needs lives under `target/launchers-ssh/` (the bench's under
//! `target/bench-ssh/`, so the two can run at once): its config, a fresh host
//! key and a fresh user key, `authorized_keys` and `known_hosts`. `/root/.ssh` and the
//! system's ssh configuration are never read or written.

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::shell::{cargo, cmd, project_root, run};

/// The variable that hands the launcher tests an ssh launcher (words separated by
/// spaces); without it they skip ssh.
const TEST_SSH_VAR: &str = "PYKERNEL_TEST_SSH";

/// The variable the tests mark the far side's processes with; sshd accepts it.
const MARKER_VAR: &str = "PYK_LAUNCHER_TEST";

/// Installs bubblewrap and OpenSSH with apt-get when one is missing and we are root;
/// otherwise says what is missing (the tests then skip what needs it).
pub(crate) fn install_tools() -> Result<(), String> {
    let missing: Vec<&str> = [
        ("bwrap", "bubblewrap"),
        ("ssh", "openssh-client"),
        ("/usr/sbin/sshd", "openssh-server"),
    ]
    .into_iter()
    .filter(|(program, _)| !runs(program))
    .map(|(_, package)| package)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        eprintln!(
            "xtask: not root, so not installing {}; the tests that need them skip",
            missing.join(", ")
        );
        return Ok(());
    }
    let install = |packages: &[&str]| {
        let mut command = Command::new("apt-get");
        command
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut command)
    };
    if install(&missing).is_err() {
        run(Command::new("apt-get").arg("update"))?;
        install(&missing)?;
    }
    Ok(())
}

/// Runs the kernel's and `pyk`'s launcher tests again over ssh to a throwaway sshd on
/// 127.0.0.1; skips (and says so) when OpenSSH is not there.
pub(crate) fn test_over_ssh(python: &Path) -> Result<(), String> {
    if !runs("/usr/sbin/sshd") || !runs("ssh") {
        eprintln!("xtask: no OpenSSH here; the launcher tests do not run over ssh");
        return Ok(());
    }
    let sshd = Sshd::start("launchers-ssh")?;
    let mut command = cargo();
    command
        .args([
            // The whole workspace, as the other test steps, so features resolve the same and
            // nothing is recompiled; only the kernel's and the CLI's `launchers` tests match.
            "test",
            "--workspace",
            "--test",
            "it",
            "launchers",
        ])
        .env("PYKERNEL_TEST_PYTHON", python)
        .env(TEST_SSH_VAR, sshd.launcher.join(" "))
        .env("INSTA_UPDATE", "no")
        .env("CI", "true");
    run(&mut command)
}

/// A running sshd on 127.0.0.1, killed when dropped.
pub(crate) struct Sshd {
    child: Child,
    /// The `ssh` command that reaches it as the current user, as words.
    pub(crate) launcher: Vec<String>,
}

impl Sshd {
    /// Writes fresh keys and a config under `target/<dir_name>/`, starts `sshd` on a
    /// free port and waits until `ssh` gets through.
    pub(crate) fn start(dir_name: &str) -> Result<Self, String> {
        let dir = project_root().join("target").join(dir_name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;
        let path = |name: &str| dir.join(name);
        for key in ["host_key", "user_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path(key)))?;
        }
        fs::copy(path("user_key.pub"), path("authorized_keys"))
            .map_err(|err| format!("authorized_keys: {err}"))?;
        let port = free_port()?;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {keys}\n\
             PidFile {pid}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\n\
             UsePAM no\nAcceptEnv {MARKER_VAR}\n",
            host = path("host_key").display(),
            keys = path("authorized_keys").display(),
            pid = path("sshd.pid").display(),
        );
        fs::write(path("sshd_config"), config).map_err(|err| format!("sshd_config: {err}"))?;
        // sshd's privilege separation directory; it refuses to start without it.
        if is_root() {
            let _ = fs::create_dir_all("/run/sshd");
        }
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| format!("starting sshd: {err}"))?;
        let user = output(Command::new("id").arg("-un"))?;
        let launcher = ssh_words(&dir, port, &user);
        let sshd = Self { child, launcher };
        sshd.wait_until_reachable()?;
        Ok(sshd)
    }

    fn wait_until_reachable(&self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let mut command = Command::new(&self.launcher[0]);
            command
                .args(&self.launcher[1..])
                .arg("true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if command.status().is_ok_and(|status| status.success()) {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "the test sshd did not answer `{}` within 10 s",
                    self.launcher.join(" ")
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `ssh` words that reach the test sshd: its own keys and known hosts, no user
/// configuration, no prompts, and the test marker sent along.
fn ssh_words(dir: &Path, port: u16, user: &str) -> Vec<String> {
    let file = |name: &str| dir.join(name).display().to_string();
    let option = |value: String| ["-o".to_owned(), value];
    let mut words = vec![
        "ssh".to_owned(),
        "-F".to_owned(),
        "/dev/null".to_owned(),
        "-p".to_owned(),
        port.to_string(),
        "-i".to_owned(),
        file("user_key"),
    ];
    for value in [
        "BatchMode=yes".to_owned(),
        "StrictHostKeyChecking=no".to_owned(),
        format!("UserKnownHostsFile={}", file("known_hosts")),
        "LogLevel=ERROR".to_owned(),
        format!("SendEnv={MARKER_VAR}"),
    ] {
        words.extend(option(value));
    }
    words.push(format!("{user}@127.0.0.1"));
    words
}

/// A port nobody listens on now.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|err| format!("finding a free port: {err}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|err| format!("finding a free port: {err}"))
}

/// Whether `program` can be started at all.
pub(crate) fn runs(program: &str) -> bool {
    let path = PathBuf::from(program);
    if path.is_absolute() {
        return path.is_file();
    }
    cmd("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|uid| uid == "0")
}

fn output(command: &mut Command) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|err| format!("running {command:?}: {err}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
