//! Interpreter discovery end to end, with real interpreters: `pyk` runs in a controlled
//! environment whose pyenv root is a scratch directory linking the machine's pyenv
//! versions, and whose shims leave a marker file behind if anything ever runs them.
//!
//! Each test returns at once unless `PYKERNEL_TEST_PYTHON` is set, and skips (with a
//! message) when the machine's pyenv lacks a version it needs.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::support::{Finished, python, run, temp_dir};

/// A scratch machine: `pyenv/versions/<v>` links to the real installs, `pyenv/shims`
/// holds a `python3` shim in pyenv's layout, `home` is empty.
struct Machine {
    dir: PathBuf,
    /// The full version names linked, such as `3.12.1`.
    versions: Vec<String>,
}

impl Machine {
    /// Links the latest installed `3.N` for each of `minors`; `None` (after saying so)
    /// when the tests are off or the machine lacks one.
    fn new(name: &str, minors: &[&str]) -> Option<Self> {
        python()?;
        let real_root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))?;
        let dir = temp_dir(&format!("interp-{name}"));
        let mut versions = Vec::new();
        for minor in minors {
            let Some(version) = latest(&real_root.join("versions"), minor) else {
                eprintln!(
                    "skipped: pyenv has no {minor}.x under {}",
                    real_root.display()
                );
                return None;
            };
            let link = dir.join("pyenv").join("versions").join(&version);
            fs::create_dir_all(link.parent()?).ok()?;
            std::os::unix::fs::symlink(real_root.join("versions").join(&version), &link).ok()?;
            versions.push(version);
        }
        let machine = Self { dir, versions };
        // It runs the real pyenv over the scratch root, so `pyk doctor` can time it.
        let shim = format!(
            "#!/usr/bin/env bash\nset -e\ntouch {marker}\nprogram=\"${{0##*/}}\"\n\n\
             export PYENV_ROOT=\"{root}\"\nexec \"{pyenv}\" exec \"$program\" \"$@\"\n",
            marker = machine.path("shim-ran").display(),
            root = machine.path("pyenv").display(),
            pyenv = real_root.join("libexec").join("pyenv").display()
        );
        machine.write("pyenv/shims/python3", &shim);
        set_executable(&machine.path("pyenv/shims/python3"));
        fs::create_dir_all(machine.path("home")).ok()?;
        Some(machine)
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn write(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("the scratch dir is writable");
        }
        fs::write(path, contents).expect("the scratch dir is writable");
    }

    /// `pyk <args>` in `<dir>/<cwd>` with only this machine's environment, plus `extra`.
    fn pyk(&self, cwd: &str, args: &[&str], extra: &[(&str, &str)]) -> Finished {
        let cwd = self.path(cwd);
        fs::create_dir_all(&cwd).expect("the scratch dir is writable");
        let path = format!("{}:/usr/bin:/bin", self.path("pyenv/shims").display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_pyk"));
        command
            .env_clear()
            .current_dir(&cwd)
            .args(args)
            .env("PATH", path)
            .env("HOME", self.path("home"))
            .env("PYENV_ROOT", self.path("pyenv"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("PYK_HISTORY", "")
            .env("TERM", "dumb");
        for (key, value) in extra {
            command.env(key, value);
        }
        run(command, "")
    }

    /// The `(major, minor)` and `sys.executable` a default kernel runs, from `cwd`.
    fn version_from(&self, cwd: &str, args: &[&str], extra: &[(&str, &str)]) -> String {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        all.extend([
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)",
        ]);
        let finished = self.pyk(cwd, &all, extra);
        assert_eq!(finished.code, Some(0), "{finished:?}");
        assert!(!self.path("shim-ran").exists(), "a shim was run");
        self.normalise(&finished.stdout)
    }

    /// Paths under the scratch dir as `<dir>`, full versions as `<3.N>`.
    fn normalise(&self, text: &str) -> String {
        let mut text = text.replace(&self.dir.display().to_string(), "<dir>");
        for version in &self.versions {
            let minor: Vec<&str> = version.split('.').take(2).collect();
            text = text.replace(version.as_str(), &format!("<{}>", minor.join(".")));
        }
        text
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The highest installed `<minor>.N` in `versions`.
fn latest(versions: &Path, minor: &str) -> Option<String> {
    fs::read_dir(versions)
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            name.strip_prefix(minor)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|patch| patch.parse::<u32>().is_ok())
        })
        .max_by_key(|name| {
            name.rsplit('.')
                .next()
                .and_then(|patch| patch.parse::<u32>().ok())
        })
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod works");
}

/// Timings vary: `<n> ms` becomes `N ms`.
fn without_timings(text: &str) -> String {
    text.lines()
        .map(|line| {
            let words: Vec<String> = line
                .split(' ')
                .collect::<Vec<_>>()
                .windows(2)
                .map(|pair| {
                    let number = pair[0].chars().all(|c| c.is_ascii_digit() || c == '.');
                    if number && !pair[0].is_empty() && pair[1].starts_with("ms") {
                        "N".to_owned()
                    } else {
                        pair[0].to_owned()
                    }
                })
                .chain(line.split(' ').next_back().map(str::to_owned))
                .collect();
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_python_version_file_in_a_parent_gives_that_version() {
    let Some(machine) = Machine::new("pin", &["3.11", "3.12"]) else {
        return;
    };
    machine.write("pyenv/version", "3.11\n");
    machine.write("proj/.python-version", "3.12\n");
    insta::assert_snapshot!(machine.version_from("proj/src", &[], &[]), @"3.12 <dir>/pyenv/versions/<3.12>/bin/python3");
    // Outside the project, pyenv's global version.
    insta::assert_snapshot!(machine.version_from("elsewhere", &[], &[]), @"3.11 <dir>/pyenv/versions/<3.11>/bin/python3");
}

#[test]
fn pyenv_version_wins_over_the_version_file() {
    let Some(machine) = Machine::new("env", &["3.11", "3.12"]) else {
        return;
    };
    machine.write("proj/.python-version", "3.12\n");
    insta::assert_snapshot!(
        machine.version_from("proj", &[], &[("PYENV_VERSION", "3.11")]),
        @"3.11 <dir>/pyenv/versions/<3.11>/bin/python3"
    );
}

#[test]
fn a_version_request_finds_that_version() {
    let Some(machine) = Machine::new("request", &["3.10", "3.12"]) else {
        return;
    };
    insta::assert_snapshot!(machine.version_from("work", &["--python", "3.10"], &[]), @"3.10 <dir>/pyenv/versions/<3.10>/bin/python3");
    insta::assert_snapshot!(machine.version_from("work", &["--python", "python3.12"], &[]), @"3.12 <dir>/pyenv/versions/<3.12>/bin/python3");
}

#[test]
fn a_pyenv_shim_on_path_is_resolved_without_running_it() {
    let Some(machine) = Machine::new("shim", &["3.11", "3.12"]) else {
        return;
    };
    machine.write("pyenv/version", "3.12\n");
    // Named explicitly: the shim on PATH maps to pyenv's selection.
    insta::assert_snapshot!(machine.version_from("work", &["--python", "python3"], &[]), @"3.12 <dir>/pyenv/versions/<3.12>/bin/python3");
    // Found on PATH with no pyenv root known but the shim's own.
    let unknown_root = [("PYENV_ROOT", "/nonexistent")];
    insta::assert_snapshot!(machine.version_from("work", &[], &unknown_root), @"3.12 <dir>/pyenv/versions/<3.12>/bin/python3");
}

/// The error line with only the scratch machine's interpreters in its list (the
/// machine's own `python3.X` on `/usr/bin` vary).
fn scratch_only(text: &str) -> String {
    text.trim_end()
        .split(", ")
        .enumerate()
        .filter(|(index, item)| *index == 0 || item.contains("<dir>"))
        .map(|(_, item)| item)
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn a_missing_version_is_a_clear_error() {
    let Some(machine) = Machine::new("missing", &["3.12"]) else {
        return;
    };
    let finished = machine.pyk("work", &["exec", "--python", "3.99", "-c", "1"], &[]);
    assert_eq!(finished.code, Some(2), "{finished:?}");
    insta::assert_snapshot!(scratch_only(&machine.normalise(&finished.stderr)), @"pyk: cannot start the kernel: no installed python matches 3.99 (from --python); found <3.12> (<dir>/pyenv/versions/<3.12>/bin/python3)");
    machine.write("proj/.python-version", "3.98\n");
    let finished = machine.pyk("proj", &["exec", "-c", "1"], &[]);
    assert_eq!(finished.code, Some(2), "{finished:?}");
    insta::assert_snapshot!(scratch_only(&machine.normalise(&finished.stderr)), @"pyk: cannot start the kernel: no installed python matches 3.98 (from <dir>/proj/.python-version); found <3.12> (<dir>/pyenv/versions/<3.12>/bin/python3)");
}

#[test]
fn doctor_explains_the_choice() {
    let Some(machine) = Machine::new("doctor", &["3.11", "3.12"]) else {
        return;
    };
    machine.write("pyenv/version", "3.11\n");
    machine.write("proj/.python-version", "3.12\n");
    let finished = machine.pyk("proj", &["doctor", "--python", "python3"], &[]);
    // The doctor runs the shim on purpose, to time it against the direct interpreter.
    assert_eq!(finished.code, Some(0), "{finished:?}");
    insta::assert_snapshot!(without_timings(&machine.normalise(&finished.stdout)), @r"
    candidates (first match wins):
      * given explicitly (--python): <dir>/pyenv/versions/<3.12>/bin/python3 (<3.12>) via the pyenv shim <dir>/pyenv/shims/python3
        pinned by <dir>/proj/.python-version: <dir>/pyenv/versions/<3.12>/bin/python3 (<3.12>)
        pyenv's global version (<dir>/pyenv/version): <dir>/pyenv/versions/<3.11>/bin/python3 (<3.11>)
        installed by uv or pyenv, newest first: <dir>/pyenv/versions/<3.12>/bin/python3 (<3.12>)
        installed by uv or pyenv, newest first: <dir>/pyenv/versions/<3.11>/bin/python3 (<3.11>)
        the first of python3, python on PATH: <dir>/pyenv/versions/<3.12>/bin/python3 (<3.12>) via the pyenv shim <dir>/pyenv/shims/python3
    python:   <dir>/pyenv/versions/<3.12>/bin/python3
    chosen:   given explicitly (--python)
    warning:  found through the pyenv shim <dir>/pyenv/shims/python3; pykernel runs <dir>/pyenv/versions/<3.12>/bin/python3 directly
    shim:     python -c pass takes N ms through the shim, N ms direct
    version:  <3.12>
    engine:   light
    startup:  N ms
    runner:   ok (1+1 = 2 in N ms)
    status:   healthy
    ");
}
