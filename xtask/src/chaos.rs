//! `cargo xtask chaos [--quick] [NAME...]`: fault injection against the built `pyk`.
//!
//! Each scenario runs `pyk` the way a hostile user or a failing environment would (kills
//! it, closes its pipes, floods it, crashes the kernel in every way, interrupts code that
//! blocks in every way) and prints one line: `PASS name figure`, `FAIL name reason`, or
//! `SKIP name reason` when the machine lacks what the scenario needs (a `setpriv`, say).
//! Every process a scenario's code starts carries a unique marker in its command line,
//! so "nothing survives" is checked by scanning `/proc` for the marker, double-forked
//! daemons included.
//!
//! `--quick` runs the scenarios that take a second or two each (CI runs them, well under
//! three minutes); without it the slow ones run too (escalation after the 5 s interrupt
//! grace, a 1 GiB flood). Names select scenarios by substring.
//! Linux only: it reads `/proc`.

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use crate::{python::ensure_test_venv, shell::build_debug_pyk};

/// How long any one step may take before the scenario counts as hung.
const HANG: Duration = Duration::from_secs(60);

/// How long processes may outlive the way they were stopped.
const ORPHAN_BOUND: Duration = Duration::from_secs(1);

/// Runs the scenarios `args` select; fails when any scenario fails.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut names = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other if other.starts_with('-') => {
                return Err(format!("unexpected argument `{other}`"));
            }
            other => names.push(other.to_owned()),
        }
    }
    if !Path::new("/proc/self/cmdline").exists() {
        return Err("chaos needs Linux's /proc".to_owned());
    }
    let lab = Lab {
        pyk: build_debug_pyk()?,
        python: ensure_test_venv()?,
    };
    let selected: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|scenario| !quick || scenario.quick)
        .filter(|scenario| names.is_empty() || names.iter().any(|n| scenario.name.contains(n)))
        .collect();
    let started = Instant::now();
    let mut failed = Vec::new();
    for scenario in &selected {
        let res = (scenario.run)(&lab);
        let (word, text) = match res {
            Ok(Verdict::Pass(figure)) => ("PASS", figure),
            Ok(Verdict::Skip(reason)) => ("SKIP", reason),
            Err(reason) => {
                failed.push(scenario.name);
                ("FAIL", reason)
            }
        };
        println!("{word} {:<30} {text}", scenario.name);
    }
    println!(
        "{} scenarios in {:.1} s, {} failed",
        selected.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("chaos scenarios failed: {}", failed.join(", ")))
    }
}

/// What a scenario found.
enum Verdict {
    /// It held, with its figure (a time, a size).
    Pass(String),
    /// It could not run here, and why.
    Skip(String),
}

type Outcome = Result<Verdict, String>;

struct Scenario {
    name: &'static str,
    /// Runs in `--quick` (and so in CI).
    quick: bool,
    run: fn(&Lab) -> Outcome,
}

/// The scenarios, grouped as the issue lists them.
const SCENARIOS: &[Scenario] = &[
    // How the host stops, and whether what the cell started goes with it.
    Scenario {
        name: "stop-sigterm",
        quick: true,
        run: |lab| stop_by_signal(lab, "TERM", Some(143)),
    },
    Scenario {
        name: "stop-sighup",
        quick: true,
        run: |lab| stop_by_signal(lab, "HUP", Some(129)),
    },
    Scenario {
        name: "stop-sigint",
        quick: true,
        run: |lab| stop_by_signal(lab, "INT", Some(130)),
    },
    Scenario {
        name: "stop-sigkill",
        quick: true,
        run: |lab| stop_by_signal(lab, "KILL", None),
    },
    Scenario {
        name: "stop-timeout",
        quick: true,
        run: stop_by_timeout,
    },
    Scenario {
        name: "stop-broken-pipe",
        quick: true,
        run: stop_by_broken_pipe,
    },
    Scenario {
        name: "stop-normal-end-daemon",
        quick: true,
        run: daemon_after_normal_end,
    },
    Scenario {
        name: "stop-sigterm-daemon",
        quick: true,
        run: daemon_after_sigterm,
    },
    // The kernel dies.
    Scenario {
        name: "death-os-exit",
        quick: true,
        run: |lab| death(lab, "import os; os._exit(3)"),
    },
    Scenario {
        name: "death-sigkill",
        quick: true,
        run: |lab| {
            death(
                lab,
                "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
            )
        },
    },
    Scenario {
        name: "death-segfault",
        quick: true,
        run: |lab| death(lab, "import ctypes; ctypes.string_at(0)"),
    },
    Scenario {
        name: "death-abort",
        quick: true,
        run: |lab| death(lab, "import os; os.abort()"),
    },
    Scenario {
        name: "death-stack-overflow",
        quick: true,
        run: |lab| death(lab, STACK_OVERFLOW),
    },
    // Every interrupt path ends the cell.
    Scenario {
        name: "interrupt-sleep",
        quick: true,
        run: |lab| interrupt(lab, "import time", "time.sleep(300)"),
    },
    Scenario {
        name: "interrupt-c-sleep",
        quick: true,
        run: |lab| interrupt(lab, "import ctypes", "ctypes.CDLL(None).sleep(300)"),
    },
    Scenario {
        name: "interrupt-socket-recv",
        quick: true,
        run: |lab| {
            interrupt(
                lab,
                "import socket\na, b = socket.socketpair()",
                "a.recv(1)",
            )
        },
    },
    Scenario {
        name: "interrupt-lock",
        quick: true,
        run: |lab| {
            interrupt(
                lab,
                "import threading\nlock = threading.Lock()\nlock.acquire()",
                "lock.acquire()",
            )
        },
    },
    Scenario {
        name: "interrupt-regex",
        quick: true,
        run: |lab| interrupt(lab, "import re", "re.match(r'(a+)+$', 'a' * 64 + 'b')"),
    },
    Scenario {
        name: "interrupt-input",
        quick: true,
        run: |lab| interrupt(lab, "", "input('? ')"),
    },
    Scenario {
        name: "interrupt-sigint-ignored",
        quick: false,
        run: |lab| {
            interrupt(
                lab,
                "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)",
                "while True: pass",
            )
        },
    },
    Scenario {
        name: "interrupt-sigint-masked",
        quick: false,
        run: |lab| {
            interrupt(
                lab,
                "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})",
                "while True: pass",
            )
        },
    },
    Scenario {
        name: "interrupt-swallowed",
        quick: false,
        run: |lab| {
            interrupt(
                lab,
                "import time",
                "while True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass",
            )
        },
    },
    // Floods and slow consumers.
    Scenario {
        name: "flood-50mb",
        quick: true,
        run: flood_fast,
    },
    Scenario {
        name: "flood-1gib-idle-consumer",
        quick: false,
        run: flood_idle_consumer,
    },
    // The issue's other items.
    Scenario {
        name: "tty-read-fails-at-once",
        quick: true,
        run: tty_read,
    },
    Scenario {
        name: "env-secrets-filtered",
        quick: true,
        run: env_secrets,
    },
    Scenario {
        name: "env-secrets-via-proc",
        quick: true,
        run: env_secrets_via_proc,
    },
    Scenario {
        name: "staging-fallback-cleaned",
        quick: true,
        run: staging_fallback,
    },
    Scenario {
        name: "c-output-over-64k",
        quick: true,
        run: c_output_over_64k,
    },
    Scenario {
        name: "late-thread-output",
        quick: true,
        run: late_thread_output,
    },
    Scenario {
        name: "closed-fd1-next-cell",
        quick: true,
        run: closed_fd1,
    },
    Scenario {
        name: "deep-recursion",
        quick: false,
        run: deep_recursion,
    },
    Scenario {
        name: "big-html-not-silent",
        quick: false,
        run: big_html,
    },
];

/// A C stack overflow: `repr` of a list nested 100,000 deep recurses in C, and the
/// lifted limit lets it run past the end of the stack.
const STACK_OVERFLOW: &str = "import sys\nsys.setrecursionlimit(10**8)\nl = []\n\
    for _ in range(10**5): l = [l]\nrepr(l)";

/// What scenarios run: the built `pyk` and the test interpreter.
struct Lab {
    pyk: PathBuf,
    python: PathBuf,
}

impl Lab {
    /// `pyk <args> --python <test python>` with no history and no colors.
    fn pyk(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.pyk);
        command
            .args(args)
            .arg("--python")
            .arg(&self.python)
            .env("PYK_HISTORY", "")
            .env("TERM", "dumb")
            .env_remove("RUST_LOG");
        command
    }

    /// Starts `pyk exec -c code` with piped stdio.
    fn start(&self, code: &str, extra: &[&str]) -> Result<Running, String> {
        let mut command = self.pyk(&["exec", "-c", code]);
        command.args(extra);
        Running::start(command)
    }
}

/// A fresh marker for the command lines of the processes one scenario starts.
fn marker(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("pyk-chaos-{name}-{}-{n}", std::process::id())
}

/// Python that starts a child sleeping for 300 s with `marker` in its command line.
fn spawn_child(marker: &str) -> String {
    format!(
        "import subprocess as _sp, sys as _sys\n\
         _sp.Popen([_sys.executable, '-c', 'import time; time.sleep(300)', {marker:?}])\n"
    )
}

/// Python that starts a double-forked daemon (its own session, re-parented away from
/// the runner) with `marker` in its command line, and waits until it is detached.
fn spawn_daemon(marker: &str) -> String {
    let daemon = "import os, time\nif os.fork(): os._exit(0)\nos.setsid()\nif os.fork(): os._exit(0)\ntime.sleep(300)";
    format!(
        "import subprocess as _sp, sys as _sys\n\
         _sp.Popen([_sys.executable, '-c', {daemon:?}, {marker:?}]).wait()\n"
    )
}

/// A running `pyk` whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: thread::JoinHandle<String>,
}

impl Running {
    fn start(mut command: Command) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot run pyk: {err}"))?;
        let stdout = child.stdout.take().ok_or("stdout is not piped")?;
        let mut stderr = child.stderr.take().ok_or("stderr is not piped")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Ok(Self {
            child,
            lines,
            stderr,
        })
    }

    /// Waits for a stdout line equal to `wanted`.
    fn wait_line(&mut self, wanted: &str) -> Result<(), String> {
        let deadline = Instant::now() + HANG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == wanted => return Ok(()),
                Ok(_) => {}
                Err(_) => {
                    let _ = self.child.kill();
                    return Err(format!("pyk never printed {wanted:?}"));
                }
            }
        }
    }

    /// Sends `signal` (a name such as `TERM`) to `pyk`.
    fn signal(&self, signal: &str) -> Result<(), String> {
        send_signal(self.child.id(), signal)
    }

    /// Waits for `pyk` to exit; kills it and fails after [`HANG`].
    fn wait(mut self) -> Result<Finished, String> {
        drop(self.child.stdin.take());
        let status = wait_bounded(&mut self.child, HANG)?;
        let stdout: Vec<String> = self.lines.try_iter().collect();
        let stderr = self.stderr.join().unwrap_or_default();
        Ok(Finished {
            status,
            stdout,
            stderr,
        })
    }
}

/// What an exited `pyk` left.
struct Finished {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: String,
}

impl Finished {
    /// Fails unless `pyk` exited with `code`.
    fn expect_code(&self, code: i32) -> Result<(), String> {
        if self.status.code() == Some(code) {
            return Ok(());
        }
        let tail: String = self
            .stderr
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(format!(
            "exit {:?}, expected {code}; stderr ends: {tail:?}",
            self.status
        ))
    }
}

fn wait_bounded(child: &mut Child, bound: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().map_err(|err| err.to_string())? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("pyk hung for {bound:?} and was killed"));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .map_err(|err| format!("cannot run kill: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -s {signal} {pid} failed"))
    }
}

/// The live (not zombie) processes whose command line contains `marker`.
fn survivors(marker: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let marked = cmdline
                .split(|byte| *byte == 0)
                .any(|arg| arg == marker.as_bytes());
            marked && !is_zombie(*pid)
        })
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Waits up to [`ORPHAN_BOUND`] for every process carrying `marker` to be gone; the
/// time it took, or the survivors (which are then killed, so scenarios stay apart).
fn all_gone(marker: &str) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        let left = survivors(marker);
        if left.is_empty() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > ORPHAN_BOUND {
            for pid in &left {
                let _ = send_signal(*pid, "KILL");
            }
            return Err(format!(
                "{} process(es) outlived the stop by {ORPHAN_BOUND:?}: {left:?}",
                left.len()
            ));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Passes with `summary` once every process carrying `marker` is gone (see
/// [`all_gone`]).
fn all_gone_after(marker: &str, summary: String) -> Outcome {
    let gone = all_gone(marker)?;
    Ok(Verdict::Pass(format!(
        "{summary}, children gone {} later",
        ms(gone)
    )))
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------------------
// Stopping the host
// ---------------------------------------------------------------------------------------

/// A cell starts a child and sleeps; `pyk` gets `signal`; it must exit with `code` (or
/// die of it) and take the child along.
fn stop_by_signal(lab: &Lab, signal: &str, code: Option<i32>) -> Outcome {
    let marker = marker("stop");
    let cell = format!(
        "{}import time\nprint('ready', flush=True)\ntime.sleep(300)",
        spawn_child(&marker)
    );
    let mut pyk = lab.start(&cell, &[])?;
    pyk.wait_line("ready")?;
    let stopped = Instant::now();
    pyk.signal(signal)?;
    let finished = pyk.wait()?;
    let exited = stopped.elapsed();
    if let Some(code) = code {
        finished.expect_code(code)?;
    }
    all_gone_after(&marker, format!("pyk exited in {}", ms(exited)))
}

/// `--timeout` on a cell that started a child: 124, and the child goes with the kernel.
fn stop_by_timeout(lab: &Lab) -> Outcome {
    let marker = marker("timeout");
    let cell = format!("{}import time\ntime.sleep(300)", spawn_child(&marker));
    let started = Instant::now();
    let finished = lab.start(&cell, &["--timeout", "0.5"])?.wait()?;
    finished.expect_code(124)?;
    all_gone_after(&marker, format!("exit 124 after {}", ms(started.elapsed())))
}

/// `pyk exec -c "while True: print('x' * 100)" | head -1`.
fn stop_by_broken_pipe(lab: &Lab) -> Outcome {
    let pyk = lab.start("while True: print('x' * 100)", &[])?;
    let first = pyk
        .lines
        .recv_timeout(HANG)
        .map_err(|_| "no first line".to_owned())?;
    if first != "x".repeat(100) {
        return Err(format!("unexpected first line {first:?}"));
    }
    let closed = Instant::now();
    // Dropping the receiver ends the reader thread, which closes the pipe.
    let Running {
        mut child,
        lines,
        stderr,
    } = pyk;
    drop(lines);
    let status = wait_bounded(&mut child, HANG)?;
    let exited = closed.elapsed();
    let stderr = stderr.join().unwrap_or_default();
    if status.code() != Some(141) || !stderr.is_empty() {
        return Err(format!(
            "exit {status:?} with stderr {stderr:?}; expected 141, quietly"
        ));
    }
    Ok(Verdict::Pass(format!(
        "exit 141 {} after the reader left",
        ms(exited)
    )))
}

/// A double-forked `setsid` daemon started by a cell that then ends normally.
fn daemon_after_normal_end(lab: &Lab) -> Outcome {
    let marker = marker("daemon");
    let finished = lab.start(&spawn_daemon(&marker), &[])?.wait()?;
    finished.expect_code(0)?;
    let gone = all_gone(&marker)?;
    Ok(Verdict::Pass(format!(
        "daemon gone {} after pyk exited",
        ms(gone)
    )))
}

/// A double-forked daemon, then SIGTERM to `pyk` while the cell sleeps.
fn daemon_after_sigterm(lab: &Lab) -> Outcome {
    let marker = marker("daemon-term");
    let cell = format!(
        "{}import time\nprint('ready', flush=True)\ntime.sleep(300)",
        spawn_daemon(&marker)
    );
    let mut pyk = lab.start(&cell, &[])?;
    pyk.wait_line("ready")?;
    pyk.signal("TERM")?;
    pyk.wait()?.expect_code(143)?;
    let gone = all_gone(&marker)?;
    Ok(Verdict::Pass(format!(
        "daemon gone {} after pyk exited",
        ms(gone)
    )))
}

// ---------------------------------------------------------------------------------------
// Deaths
// ---------------------------------------------------------------------------------------

/// A cell that starts a child and then kills the kernel with `code`: `pyk` exits 1
/// saying the kernel died, and the child goes too.
fn death(lab: &Lab, code: &str) -> Outcome {
    let marker = marker("death");
    let cell = format!("{}{code}", spawn_child(&marker));
    let started = Instant::now();
    let finished = lab.start(&cell, &[])?.wait()?;
    let took = started.elapsed();
    finished.expect_code(1)?;
    if !finished.stderr.contains("kernel died") {
        return Err(format!("no death report: {:?}", finished.stderr));
    }
    all_gone_after(&marker, format!("reported in {} (whole run)", ms(took)))
}

// ---------------------------------------------------------------------------------------
// Interrupts
// ---------------------------------------------------------------------------------------

/// Runs `setup`, prints `ready`, then blocks in `block`; SIGINT to `pyk` must end it
/// with 130, and a child the cell started must not outlive it.
fn interrupt(lab: &Lab, setup: &str, block: &str) -> Outcome {
    let marker = marker("interrupt");
    let cell = format!(
        "{}{setup}\nprint('ready', flush=True)\n{block}",
        spawn_child(&marker)
    );
    let mut pyk = lab.start(&cell, &[])?;
    pyk.wait_line("ready")?;
    // The cell must be inside `block`; a short pause makes that very likely.
    thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    pyk.signal("INT")?;
    let finished = pyk.wait()?;
    let took = sent.elapsed();
    finished.expect_code(130)?;
    all_gone_after(&marker, format!("exit 130 {} after SIGINT", ms(took)))
}

// ---------------------------------------------------------------------------------------
// Floods
// ---------------------------------------------------------------------------------------

/// 50 MB in 1 KiB lines, read as fast as possible: every byte arrives.
fn flood_fast(lab: &Lab) -> Outcome {
    let lines = 50_000;
    let cell = format!("line = 'y' * 1023\nfor _ in range({lines}): print(line)");
    let started = Instant::now();
    let finished = lab.start(&cell, &[])?.wait()?;
    let took = started.elapsed();
    finished.expect_code(0)?;
    let whole = finished
        .stdout
        .iter()
        .filter(|line| line.len() == 1023)
        .count();
    if whole != lines {
        return Err(format!("{whole} of {lines} lines arrived whole"));
    }
    let mb = (lines * 1024) as f64 / 1e6;
    Ok(Verdict::Pass(format!(
        "{mb:.0} MB in {} ({:.0} MB/s, debug build)",
        ms(took),
        mb / took.as_secs_f64()
    )))
}

/// 1 GiB printed while nobody reads for 3 s: the host's memory stays flat; then every
/// byte arrives.
fn flood_idle_consumer(lab: &Lab) -> Outcome {
    let chunks = 1 << 14;
    let cell = format!("chunk = 'z' * 65535\nfor _ in range({chunks}): print(chunk)");
    let mut command = lab.pyk(&["exec", "-c", &cell]);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot run pyk: {err}"))?;
    let mut stdout = child.stdout.take().ok_or("stdout is not piped")?;
    thread::sleep(Duration::from_secs(3));
    let rss_idle = rss_kib(child.id());
    let mut total = 0usize;
    let mut peak = None;
    let mut buf = vec![0; 1 << 16];
    let mut next_sample = 0;
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(err) => return Err(format!("reading failed: {err}")),
        }
        // The high-water mark, sampled every 64 MiB while pyk surely still runs.
        if total >= next_sample {
            next_sample += 64 << 20;
            peak = peak_kib(child.id()).or(peak);
        }
    }
    let status = wait_bounded(&mut child, HANG)?;
    if status.code() != Some(0) || total != chunks * 65536 {
        return Err(format!("exit {status:?}, {total} bytes"));
    }
    let rss_idle = rss_idle.ok_or("no RSS")?;
    if rss_idle > 64 * 1024 {
        return Err(format!("pyk held {rss_idle} KiB while the consumer idled"));
    }
    Ok(Verdict::Pass(format!(
        "pyk RSS {} MB while idle, peak {} MB",
        rss_idle / 1024,
        peak.map_or(0, |kib| kib / 1024)
    )))
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

fn peak_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

// ---------------------------------------------------------------------------------------
// The issue's other items
// ---------------------------------------------------------------------------------------

/// Under a terminal, a cell that reads `/dev/tty` fails at once instead of being stopped
/// by SIGTTIN (issue item 14). Runs `pyk` under `script`, which gives it a terminal.
fn tty_read(lab: &Lab) -> Outcome {
    if Command::new("script").arg("--version").output().is_err() {
        return Ok(Verdict::Skip(
            "no `script` to provide a terminal".to_owned(),
        ));
    }
    let cell = "try:\n    open('/dev/tty').readline()\nexcept OSError as e:\n    print('tty-error', e.errno)";
    let pyk_command = format!(
        "{} exec --timeout 10 --python {} -c {}",
        shell_quote(&lab.pyk.to_string_lossy()),
        shell_quote(&lab.python.to_string_lossy()),
        shell_quote(cell)
    );
    let started = Instant::now();
    let mut script = Command::new("script");
    script
        .args(["-qec", &pyk_command, "/dev/null"])
        .env("PYK_HISTORY", "")
        .env("TERM", "dumb");
    let finished = Running::start(script)?.wait()?;
    let took = started.elapsed();
    let all = finished.stdout.join("\n");
    if !all.contains("tty-error") || finished.status.code() != Some(0) {
        return Err(format!(
            "exit {:?} after {}; output {all:?}",
            finished.status,
            ms(took)
        ));
    }
    Ok(Verdict::Pass(format!(
        "the read failed at once; run took {}",
        ms(took)
    )))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Made-up secret names under allowed prefixes and URL credentials never reach the
/// kernel (issue item 7).
fn env_secrets(lab: &Lab) -> Outcome {
    let planted = [
        ("XDG_X_PASSPHRASE", "hunter2"),
        ("LC_X_AUTH", "hunter2"),
        ("TERM_X_SIGNING_KEY_ID", "hunter2"),
        ("PYKERNEL_DB_URL", "postgres://app:hunter2@host/db"),
        ("OPENAI_API_KEY", "hunter2"),
    ];
    let mut command = lab.pyk(&[
        "exec",
        "-c",
        "import os\nprint(sorted(k for k, v in os.environ.items() if 'hunter2' in v))",
    ]);
    command.envs(planted);
    let finished = Running::start(command)?.wait()?;
    finished.expect_code(0)?;
    let leaked = finished.stdout.join("\n");
    if leaked != "[]" {
        return Err(format!("leaked into the kernel: {leaked}"));
    }
    Ok(Verdict::Pass(format!(
        "{} planted secrets, none reached the kernel",
        planted.len()
    )))
}

/// An unprivileged user's cell cannot read the host's environment back through
/// `/proc/<host>/environ` (issue item 7). Runs `pyk` as `nobody` with `setpriv`.
fn env_secrets_via_proc(lab: &Lab) -> Outcome {
    let system_python = Path::new("/usr/bin/python3");
    if !system_python.exists() || Command::new("setpriv").arg("--version").output().is_err() {
        return Ok(Verdict::Skip(
            "needs setpriv and /usr/bin/python3".to_owned(),
        ));
    }
    // Copies nobody can read: the checkout may sit under a private home.
    let dir = std::env::temp_dir().join(format!("pyk-chaos-proc-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
    let pyk = dir.join("pyk");
    fs::copy(&lab.pyk, &pyk).map_err(|err| err.to_string())?;
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&dir)
        .status();
    if !chown.is_ok_and(|status| status.success()) {
        return Ok(Verdict::Skip(
            "cannot hand a directory to nobody".to_owned(),
        ));
    }
    let cell = "import os\ntry:\n    data = open(f'/proc/{os.getppid()}/environ', 'rb').read()\n    print('read', b'hunter2' in data)\nexcept OSError as e:\n    print('refused', e.errno)";
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&pyk)
        .args(["exec", "-c", cell, "--python"])
        .arg(system_python)
        .current_dir(&dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &dir)
        .env("PYK_HISTORY", "")
        .env("OPENAI_API_KEY", "hunter2");
    let finished = Running::start(command)?.wait()?;
    let _ = fs::remove_dir_all(&dir);
    finished.expect_code(0)?;
    let answer = finished.stdout.join("\n");
    if !answer.starts_with("refused") {
        return Err(format!("the cell read the host's environ: {answer}"));
    }
    Ok(Verdict::Pass(format!(
        "the host's environ was refused ({answer})"
    )))
}

/// A runner staged in the temp directory, because the cache cannot be written, leaves
/// no `pykernel-*` directory behind (issue item 11).
fn staging_fallback(lab: &Lab) -> Outcome {
    let temp = std::env::temp_dir().join(format!("pyk-chaos-tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&temp);
    fs::create_dir_all(&temp).map_err(|err| err.to_string())?;
    // Where the runner package was staged.
    let mut command = lab.pyk(&[
        "exec",
        "-c",
        "import sys\nprint(sys.modules['pykernel_runner'].PACKAGE_DIR)",
    ]);
    // /proc cannot hold a cache directory, so the runner goes to TMPDIR.
    command
        .env("TMPDIR", &temp)
        .env("XDG_CACHE_HOME", "/proc/pyk-chaos")
        .env("HOME", "/proc/pyk-chaos");
    let finished = Running::start(command)?.wait()?;
    let left: Vec<String> = fs::read_dir(&temp)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let _ = fs::remove_dir_all(&temp);
    finished.expect_code(0)?;
    let staged_in_temp = finished
        .stdout
        .first()
        .is_some_and(|dir| Path::new(dir).starts_with(&temp));
    if !staged_in_temp {
        return Err(format!("not staged in TMPDIR: {:?}", finished.stdout));
    }
    if !left.is_empty() {
        return Err(format!("left behind in TMPDIR: {left:?}"));
    }
    Ok(Verdict::Pass(
        "the temporary runner directory was removed".to_owned(),
    ))
}

/// C output of more than 64 KiB while holding the GIL (issue item 3).
fn c_output_over_64k(lab: &Lab) -> Outcome {
    let cell = "import ctypes\nctypes.PyDLL(None).printf(b'%s\\n', b'z' * 100000)";
    let started = Instant::now();
    let finished = lab.start(cell, &["--timeout", "10"])?.wait()?;
    finished.expect_code(0)?;
    let got: usize = finished
        .stdout
        .iter()
        .map(|line| line.matches('z').count())
        .sum();
    if got != 100_000 {
        return Err(format!("{got} of 100000 bytes arrived"));
    }
    Ok(Verdict::Pass(format!(
        "100000 bytes in {}",
        ms(started.elapsed())
    )))
}

/// Output of a background thread after its cell ended (issue item 4), read by the REPL.
fn late_thread_output(lab: &Lab) -> Outcome {
    let first = "import threading, time\n\
        threading.Thread(target=lambda: [print(f'late-{i}') or time.sleep(.01) for i in range(50)]).start()\n";
    let mut running = Running::start(lab.pyk(&["repl"]))?;
    let mut stdin = running.child.stdin.take().ok_or("stdin is not piped")?;
    stdin
        .write_all(first.as_bytes())
        .map_err(|err| err.to_string())?;
    // No cell runs while the thread prints.
    thread::sleep(Duration::from_millis(1500));
    stdin.write_all(b"1 + 1\n").map_err(|err| err.to_string())?;
    drop(stdin);
    let finished = running.wait()?;
    let arrived = finished
        .stdout
        .iter()
        .map(|line| line.matches("late-").count())
        .sum::<usize>();
    if arrived != 50 {
        return Err(format!("{arrived} of 50 late lines arrived"));
    }
    Ok(Verdict::Pass("50 of 50 late lines arrived".to_owned()))
}

/// A cell that closes fd 1 and one that sets `sys.stdout = None` break no later cell
/// (issue item 9).
fn closed_fd1(lab: &Lab) -> Outcome {
    let cells =
        "import os, sys\nos.close(1)\nos.system('echo fd-ok')\nsys.stdout = None\nprint('py-ok')\n";
    let mut running = Running::start(lab.pyk(&["repl"]))?;
    let mut stdin = running.child.stdin.take().ok_or("stdin is not piped")?;
    stdin
        .write_all(cells.as_bytes())
        .map_err(|err| err.to_string())?;
    drop(stdin);
    let finished = running.wait()?;
    let all = finished.stdout.join("\n");
    if !all.contains("fd-ok") || !all.contains("py-ok") {
        return Err(format!("later cells lost their output: {all:?}"));
    }
    Ok(Verdict::Pass(
        "fd 1 and sys.stdout restored for the next cells".to_owned(),
    ))
}

/// `RecursionError` after `sys.setrecursionlimit(10**6)`: pykernel within twice plain
/// Python's time plus a second (issue item 8).
fn deep_recursion(lab: &Lab) -> Outcome {
    let code = "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\ntry:\n    f(0)\nexcept RecursionError:\n    print('deep-ok')";
    let started = Instant::now();
    let plain = Command::new(&lab.python)
        .args(["-c", code])
        .output()
        .map_err(|err| err.to_string())?;
    let plain_took = started.elapsed();
    if !String::from_utf8_lossy(&plain.stdout).contains("deep-ok") {
        return Ok(Verdict::Skip(
            "plain python crashed before the RecursionError".to_owned(),
        ));
    }
    let cell = "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)";
    let started = Instant::now();
    let finished = lab.start(cell, &["--timeout", "120"])?.wait()?;
    let took = started.elapsed();
    finished.expect_code(1)?;
    if !finished.stderr.contains("RecursionError") {
        return Err(format!(
            "no RecursionError: {:?}",
            finished.stderr.chars().take(300).collect::<String>()
        ));
    }
    if took > plain_took * 2 + Duration::from_secs(1) {
        return Err(format!(
            "{} against {} in plain python",
            ms(took),
            ms(plain_took)
        ));
    }
    Ok(Verdict::Pass(format!(
        "{} against {} in plain python",
        ms(took),
        ms(plain_took)
    )))
}

/// A 70 MB `_repr_html_`, over the 64 MiB line limit, arrives whole (a raw payload part);
/// 270 MB, over the 256 MiB display cap, is cut down with a notice in the result, on
/// stderr and in the outcome, never dropped in silence (issue item 13).
fn big_html(lab: &Lab) -> Outcome {
    let cell = |n: u32| {
        format!(
            "class H:\n    def _repr_html_(self):\n        return '<p>' + 'x' * {n} + '</p>'\nH()"
        )
    };
    let started = Instant::now();
    let finished = lab
        .start(&cell(70_000_000), &["--json", "--timeout", "60"])?
        .wait()?;
    finished.expect_code(0)?;
    let whole = format!("<p>{}</p>", "x".repeat(70_000_000));
    let arrived = finished
        .stdout
        .iter()
        .any(|line| line.contains("\"result\"") && line.contains(&whole));
    if !arrived
        || finished
            .stdout
            .iter()
            .any(|line| line.contains("\"truncated\""))
    {
        return Err("the 70 MB result did not arrive whole".to_owned());
    }
    let whole_took = started.elapsed();
    let finished = lab
        .start(&cell(270_000_000), &["--json", "--timeout", "60"])?
        .wait()?;
    finished.expect_code(0)?;
    // Past the display cap the result is cut down, and says so where it shows.
    let notice = "output truncated: text/html of 270000007 bytes dropped";
    let said = |kind: &str, what: &str| {
        finished
            .stdout
            .iter()
            .any(|line| line.contains(kind) && line.contains(what))
    };
    if !said("\"result\"", notice)
        || !said("\"stderr\"", notice)
        || !said(
            "\"outcome\"",
            "\"truncated\":[{\"kind\":\"result\",\"cut\":{\"text/html\":270000007}}]",
        )
    {
        let shown: String = finished.stdout.join("\n").chars().take(300).collect();
        return Err(format!(
            "no truncation notice in the result, on stderr and in the outcome: {shown}"
        ));
    }
    Ok(Verdict::Pass(format!(
        "70 MB of HTML whole in {}, 270 MB visibly cut to fit",
        ms(whole_took)
    )))
}
