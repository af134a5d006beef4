//! Resolution over fake directory trees; the process environment is never read or changed.
//!
//! Fake interpreters are executable files that are not scripts, so nothing here runs
//! them; the shims that stand for scripts say so by writing a marker file when run.

use std::{
    ffi::OsString,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use crate::interpreter::{HostLookup, discover, resolve};

/// A scratch tree; paths in it render as `<root>/...`.
struct Tree {
    dir: tempfile::TempDir,
}

/// The host variables of a check, relative to the tree's root.
#[derive(Default)]
struct Host<'a> {
    path: &'a [&'a str],
    venv: Option<&'a str>,
    conda: Option<&'a str>,
    /// `PYENV_ROOT`; the tree's `home/.pyenv` is found without it.
    pyenv_root: Option<&'a str>,
    pyenv_version: Option<&'a str>,
    uv_dir: Option<&'a str>,
}

impl Tree {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}")),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// An executable fake interpreter at `relative` (not a script: never run).
    fn python(&self, relative: &str) -> &Self {
        self.write(relative, "\x7fELF fake interpreter", 0o755)
    }

    fn file(&self, relative: &str, mode: u32) -> &Self {
        self.write(relative, "", mode)
    }

    fn write(&self, relative: &str, contents: &str, mode: u32) -> &Self {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|err| panic!("mkdir: {err}"));
        }
        fs::write(&path, contents).unwrap_or_else(|err| panic!("write: {err}"));
        set_mode(&path, mode);
        self
    }

    fn dir(&self, relative: &str) -> &Self {
        fs::create_dir_all(self.path(relative)).unwrap_or_else(|err| panic!("mkdir: {err}"));
        self
    }

    /// A pyenv shim at `relative` for the pyenv root `root`, laid out as pyenv writes
    /// them, that leaves `<root>/shim-ran` behind if it is ever run.
    fn pyenv_shim(&self, relative: &str, root: &str) -> &Self {
        let root = self.path(root);
        let marker = self.path("shim-ran");
        let script = format!(
            "#!/usr/bin/env bash\nset -e\ntouch {marker}\nprogram=\"${{0##*/}}\"\n\n\
             export PYENV_ROOT=\"{root}\"\nexec \"{root}/libexec/pyenv\" exec \"$program\" \"$@\"\n",
            marker = marker.display(),
            root = root.display()
        );
        self.write(relative, &script, 0o755)
    }

    fn host(&self, host: &Host<'_>) -> HostLookup {
        let joined = std::env::join_paths(host.path.iter().map(|dir| self.path(dir)))
            .unwrap_or_else(|err| panic!("join_paths: {err}"));
        let path = |relative: Option<&str>| relative.map(|relative| self.path(relative));
        HostLookup {
            path: Some(joined),
            virtual_env: path(host.venv).map(PathBuf::into_os_string),
            conda_prefix: path(host.conda).map(PathBuf::into_os_string),
            home: Some(self.path("home")),
            pyenv_root: path(host.pyenv_root),
            pyenv_version: host.pyenv_version.map(str::to_owned),
            uv_python_dir: Some(self.path(host.uv_dir.unwrap_or("home/uv-python"))),
            xdg_data_home: None,
            xdg_cache_home: Some(self.path("cache")),
            manager_env: vec![("PATH".to_owned(), "fixed".to_owned())],
        }
    }

    /// Resolves from `<root>/<cwd>` and renders the answer.
    fn check(&self, explicit: Option<&str>, cwd: &str, host: &Host<'_>) -> String {
        self.dir(cwd);
        let result = resolve(explicit.map(Path::new), &self.path(cwd), &self.host(host));
        let text = match result {
            Ok(resolved) => {
                let mut text = format!("{:?} {}", resolved.source, resolved.path.display());
                if let Some(venv) = resolved.venv {
                    let _ = write!(text, " venv={}", venv.display());
                }
                if let Some(version) = resolved.version {
                    let _ = write!(text, " version={version}");
                }
                if let Some(shim) = resolved.shim {
                    let _ = write!(text, " via {:?} {}", shim.kind, shim.path.display());
                }
                text
            }
            Err(err) => format!("error: {err}"),
        };
        self.relative(&text)
    }

    /// Lists every candidate discovery sees from `<root>/<cwd>`, the chosen one marked.
    fn check_all(&self, explicit: Option<&str>, cwd: &str, host: &Host<'_>) -> String {
        self.dir(cwd);
        let discovery = discover(explicit.map(Path::new), &self.path(cwd), &self.host(host));
        let mut text = String::new();
        for (index, candidate) in discovery.candidates.iter().enumerate() {
            let mark = if discovery.chosen == Some(index) {
                "*"
            } else {
                " "
            };
            let _ = write!(
                text,
                "{mark} {:?} {}",
                candidate.source,
                candidate.path.display()
            );
            if let Some(version) = &candidate.version {
                let _ = write!(text, " version={version}");
            }
            if let Some(shim) = &candidate.shim {
                let _ = write!(text, " via {:?}", shim.kind);
            }
            if let Some(skipped) = &candidate.skipped {
                let _ = write!(text, " skipped: {skipped}");
            }
            text.push('\n');
        }
        if let Err(err) = &discovery.result {
            let _ = writeln!(text, "error: {err}");
        }
        self.relative(&text)
    }

    fn relative(&self, text: &str) -> String {
        text.replace(&self.dir.path().display().to_string(), "<root>")
    }

    /// A fake pyenv root at `home/.pyenv` with these versions installed.
    fn pyenv(&self, versions: &[&str]) -> &Self {
        for version in versions {
            self.python(&format!("home/.pyenv/versions/{version}/bin/python3"));
        }
        self
    }

    /// Fake uv-managed CPythons at `home/uv-python`.
    fn uv(&self, versions: &[&str]) -> &Self {
        for version in versions {
            self.python(&format!(
                "home/uv-python/cpython-{version}-linux-x86_64-gnu/bin/python3"
            ));
        }
        self
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("chmod: {err}"));
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

fn on_path<'a>(path: &'a [&'a str]) -> Host<'a> {
    Host {
        path,
        ..Host::default()
    }
}

#[test]
fn path_python3_comes_before_python_and_path_order_holds() {
    let tree = Tree::new();
    tree.python("usr/bin/python")
        .python("opt/bin/python3")
        .python("usr/bin/python3");
    insta::assert_snapshot!(tree.check(None, "work", &on_path(&["usr/bin", "opt/bin"])), @"Path <root>/usr/bin/python3 version=3");
    insta::assert_snapshot!(tree.check(None, "work", &on_path(&["opt/bin", "usr/bin"])), @"Path <root>/opt/bin/python3 version=3");
    let only_python = Tree::new();
    only_python.python("usr/bin/python");
    insta::assert_snapshot!(only_python.check(None, "work", &on_path(&["usr/bin"])), @"Path <root>/usr/bin/python");
}

#[test]
fn the_active_virtualenv_wins_over_conda_project_venvs_and_path() {
    let tree = Tree::new();
    tree.python("active/bin/python")
        .write(
            "active/pyvenv.cfg",
            "home = /\nversion_info = 3.12.1.final.0\n",
            0o644,
        )
        .python("conda/bin/python")
        .file("conda/conda-meta/python-3.11.9-h955ad1f_0.json", 0o644)
        .python("work/.venv/bin/python")
        .python("usr/bin/python3");
    let host = |venv, conda| Host {
        path: &["usr/bin"],
        venv,
        conda,
        ..Host::default()
    };
    insta::assert_snapshot!(
        tree.check(None, "work", &host(Some("active"), Some("conda"))),
        @"VirtualEnv <root>/active/bin/python venv=<root>/active version=3.12.1"
    );
    insta::assert_snapshot!(
        tree.check(None, "work", &host(None, Some("conda"))),
        @"CondaEnv <root>/conda/bin/python version=3.11.9"
    );
    // A VIRTUAL_ENV without an interpreter is skipped.
    insta::assert_snapshot!(
        tree.check(None, "work", &host(Some("gone"), None)),
        @r#"ProjectVenv("<root>/work/.venv") <root>/work/.venv/bin/python venv=<root>/work/.venv"#
    );
}

#[test]
fn project_venvs_are_found_nearest_first_dot_venv_before_venv() {
    let tree = Tree::new();
    tree.python("proj/.venv/bin/python")
        .python("proj/pkg/venv/bin/python")
        .python("proj/pkg/.venv/bin/python")
        .python("usr/bin/python3");
    insta::assert_snapshot!(
        tree.check(None, "proj/pkg/src", &on_path(&["usr/bin"])),
        @r#"ProjectVenv("<root>/proj/pkg/.venv") <root>/proj/pkg/.venv/bin/python venv=<root>/proj/pkg/.venv"#
    );
    insta::assert_snapshot!(
        tree.check(None, "proj/other", &on_path(&["usr/bin"])),
        @r#"ProjectVenv("<root>/proj/.venv") <root>/proj/.venv/bin/python venv=<root>/proj/.venv"#
    );
}

#[cfg(unix)]
#[test]
fn a_broken_project_venv_is_skipped_with_a_note_and_the_next_rule_tried() {
    let tree = Tree::new();
    tree.dir("proj/.venv/bin")
        .write(
            "proj/venv/pyvenv.cfg",
            "home = /nonexistent/base/bin\n",
            0o644,
        )
        .python("proj/venv/bin/python")
        .python("usr/bin/python3");
    std::os::unix::fs::symlink(
        tree.path("gone/python3"),
        tree.path("proj/.venv/bin/python"),
    )
    .unwrap_or_else(|err| panic!("symlink: {err}"));
    insta::assert_snapshot!(tree.check_all(None, "proj", &on_path(&["usr/bin"])), @r#"
      ProjectVenv("<root>/proj/.venv") <root>/proj/.venv/bin/python skipped: a dangling link
      ProjectVenv("<root>/proj/venv") <root>/proj/venv/bin/python skipped: its base interpreter directory /nonexistent/base/bin is gone
    * Path <root>/usr/bin/python3 version=3
    "#);
}

#[test]
fn a_python_version_file_in_a_parent_selects_the_latest_installed_match() {
    let tree = Tree::new();
    tree.pyenv(&[
        "3.11.7",
        "3.12.2",
        "3.12.10",
        "3.12.11rc1",
        "3.13.0t",
        "3.12-dev",
    ])
    .write(
        "proj/.python-version",
        "# pinned for the project\n3.12\n",
        0o644,
    )
    .write("home/.pyenv/version", "3.11.7\n", 0o644)
    .python("usr/bin/python3");
    insta::assert_snapshot!(
        tree.check(None, "proj/src/pkg", &on_path(&["usr/bin"])),
        @r#"VersionFile("<root>/proj/.python-version") <root>/home/.pyenv/versions/3.12.10/bin/python3 version=3.12.10"#
    );
    // Without a pin, pyenv's global version.
    insta::assert_snapshot!(
        tree.check(None, "elsewhere", &on_path(&["usr/bin"])),
        @r#"PyenvGlobal("<root>/home/.pyenv/version") <root>/home/.pyenv/versions/3.11.7/bin/python3 version=3.11.7"#
    );
}

#[test]
fn pyenv_version_wins_over_the_version_file_as_in_pyenv() {
    let tree = Tree::new();
    tree.pyenv(&["3.11.7", "3.12.1"])
        .write("proj/.python-version", "3.12\n", 0o644)
        .python("usr/bin/python3");
    let host = Host {
        path: &["usr/bin"],
        pyenv_version: Some("3.11"),
        ..Host::default()
    };
    insta::assert_snapshot!(
        tree.check(None, "proj", &host),
        @"PyenvVersion <root>/home/.pyenv/versions/3.11.7/bin/python3 version=3.11.7"
    );
    // Several names: the first that is installed wins.
    let host = Host {
        pyenv_version: Some("3.99:3.12.1"),
        ..host
    };
    insta::assert_snapshot!(
        tree.check(None, "proj", &host),
        @"PyenvVersion <root>/home/.pyenv/versions/3.12.1/bin/python3 version=3.12.1"
    );
}

#[test]
fn system_in_a_pin_is_the_first_python3_on_path_that_is_not_a_shim() {
    let tree = Tree::new();
    tree.pyenv(&["3.12.1"])
        .write("home/.pyenv/version", "system\n", 0o644)
        .pyenv_shim("home/.pyenv/shims/python3", "home/.pyenv")
        .python("usr/bin/python3");
    insta::assert_snapshot!(
        tree.check(None, "work", &on_path(&["home/.pyenv/shims", "usr/bin"])),
        @r#"PyenvGlobal("<root>/home/.pyenv/version") <root>/usr/bin/python3 version=3"#
    );
    assert!(!tree.path("shim-ran").exists(), "a shim was run");
}

#[test]
fn a_pin_nothing_satisfies_is_an_error_listing_what_was_found() {
    let tree = Tree::new();
    tree.pyenv(&["3.11.7"])
        .uv(&["3.13.1"])
        .write("proj/.python-version", "3.99\n", 0o644)
        .pyenv_shim("home/.pyenv/shims/python3.13", "home/.pyenv")
        .python("usr/bin/python3.10")
        .python("usr/bin/python3");
    // pyenv's shims are not listed: they stand for pyenv's versions.
    insta::assert_snapshot!(
        tree.check(None, "proj", &on_path(&["home/.pyenv/shims", "usr/bin"])),
        @"error: no installed python matches 3.99 (from <root>/proj/.python-version); found 3.13.1 (<root>/home/uv-python/cpython-3.13.1-linux-x86_64-gnu/bin/python3), 3.11.7 (<root>/home/.pyenv/versions/3.11.7/bin/python3), 3.10 (<root>/usr/bin/python3.10)"
    );
    insta::assert_snapshot!(
        tree.check(Some("3.99"), "elsewhere", &on_path(&["usr/bin"])),
        @"error: no installed python matches 3.99 (from --python); found 3.13.1 (<root>/home/uv-python/cpython-3.13.1-linux-x86_64-gnu/bin/python3), 3.11.7 (<root>/home/.pyenv/versions/3.11.7/bin/python3), 3.10 (<root>/usr/bin/python3.10)"
    );
}

#[test]
fn version_requests_search_uv_then_pyenv_then_path() {
    let tree = Tree::new();
    tree.pyenv(&["3.10.13", "3.12.1"])
        .uv(&["3.12.8", "3.13.1"])
        .python("usr/bin/python3.9")
        .python("usr/bin/python3");
    let host = on_path(&["usr/bin"]);
    insta::assert_snapshot!(tree.check(Some("3.10"), "work", &host), @r#"ExplicitVersion("3.10") <root>/home/.pyenv/versions/3.10.13/bin/python3 version=3.10.13"#);
    insta::assert_snapshot!(tree.check(Some("python3.12"), "work", &host), @r#"ExplicitVersion("python3.12") <root>/home/uv-python/cpython-3.12.8-linux-x86_64-gnu/bin/python3 version=3.12.8"#);
    insta::assert_snapshot!(tree.check(Some("3.12.1"), "work", &host), @r#"ExplicitVersion("3.12.1") <root>/home/.pyenv/versions/3.12.1/bin/python3 version=3.12.1"#);
    insta::assert_snapshot!(tree.check(Some("py3.9"), "work", &host), @r#"ExplicitVersion("py3.9") <root>/usr/bin/python3.9 version=3.9"#);
    // Nothing pinned: the newest installed interpreter, uv's first.
    insta::assert_snapshot!(tree.check(None, "work", &host), @"Installed <root>/home/uv-python/cpython-3.13.1-linux-x86_64-gnu/bin/python3 version=3.13.1");
    insta::assert_snapshot!(tree.check_all(None, "work", &host), @"
    * Installed <root>/home/uv-python/cpython-3.13.1-linux-x86_64-gnu/bin/python3 version=3.13.1
      Installed <root>/home/uv-python/cpython-3.12.8-linux-x86_64-gnu/bin/python3 version=3.12.8
      Installed <root>/home/.pyenv/versions/3.12.1/bin/python3 version=3.12.1
      Installed <root>/home/.pyenv/versions/3.10.13/bin/python3 version=3.10.13
      Path <root>/usr/bin/python3 version=3
    ");
}

#[test]
fn a_pyenv_shim_on_path_is_resolved_without_running_it() {
    let tree = Tree::new();
    // The pyenv root is only known from the shim: the host has no ~/.pyenv.
    tree.python("opt/pyenv/versions/3.11.7/bin/python3")
        .python("opt/pyenv/versions/3.12.1/bin/python3")
        .write("opt/pyenv/version", "3.11.7\n", 0o644)
        .write("proj/.python-version", "3.12\n", 0o644)
        .pyenv_shim("opt/pyenv/shims/python3", "opt/pyenv")
        .python("usr/bin/python3");
    let host = on_path(&["opt/pyenv/shims", "usr/bin"]);
    insta::assert_snapshot!(
        tree.check(Some("python3"), "work", &host),
        @"Explicit <root>/opt/pyenv/versions/3.11.7/bin/python3 version=3.11.7 via Pyenv <root>/opt/pyenv/shims/python3"
    );
    // The pin file in the working directory is honoured as the shim would honour it.
    insta::assert_snapshot!(
        tree.check(Some("python3"), "proj", &host),
        @"Explicit <root>/opt/pyenv/versions/3.12.1/bin/python3 version=3.12.1 via Pyenv <root>/opt/pyenv/shims/python3"
    );
    assert!(!tree.path("shim-ran").exists(), "a shim was run");
}

#[test]
fn explicit_paths_are_used_as_given_and_activate_their_venv() {
    let tree = Tree::new();
    tree.python("custom/python3.13")
        .python("work/.venv/bin/python")
        .file("work/.venv/pyvenv.cfg", 0o644)
        .python("home/venvs/py/bin/python")
        .python("usr/bin/python3.12")
        .python("usr/bin/python3");
    let absolute = tree.path("custom/python3.13").display().to_string();
    let active = Host {
        path: &["usr/bin"],
        venv: Some("active"),
        ..Host::default()
    };
    let host = on_path(&["usr/bin"]);
    insta::assert_snapshot!(tree.check(Some(&absolute), "work", &active), @"Explicit <root>/custom/python3.13 version=3.13");
    insta::assert_snapshot!(tree.check(Some(".venv/bin/python"), "work", &host), @"Explicit <root>/work/.venv/bin/python venv=<root>/work/.venv");
    insta::assert_snapshot!(tree.check(Some("~/venvs/py/bin/python"), "work", &host), @"Explicit <root>/home/venvs/py/bin/python");
    insta::assert_snapshot!(tree.check(Some("python3.12"), "work", &host), @"Explicit <root>/usr/bin/python3.12 version=3.12");
    // A wrapper script named explicitly runs as given: it is not asked what it runs.
    let marker = tree.path("wrapper-ran");
    tree.write(
        "work/wrapper",
        &format!("#!/bin/sh\ntouch {}\n", marker.display()),
        0o755,
    );
    insta::assert_snapshot!(tree.check(Some("wrapper"), "work", &host), @"Explicit <root>/work/wrapper");
    assert!(!marker.exists(), "the wrapper was run");
}

#[test]
fn a_bad_explicit_path_is_an_error_naming_it() {
    let tree = Tree::new();
    tree.file("work/notexec", 0o644)
        .dir("work/adir")
        .python("usr/bin/python3");
    let host = on_path(&["usr/bin"]);
    insta::assert_snapshot!(tree.check(Some("missing/python"), "work", &host), @"error: python interpreter <root>/work/missing/python is not usable: no such file");
    insta::assert_snapshot!(tree.check(Some("python9x"), "work", &host), @"error: python interpreter python9x is not usable: not found in the working directory or on PATH");
    insta::assert_snapshot!(tree.check(Some("adir"), "work", &host), @"error: python interpreter <root>/work/adir is not usable: not a file");
    #[cfg(unix)]
    insta::assert_snapshot!(tree.check(Some("notexec"), "work", &host), @"error: python interpreter <root>/work/notexec is not usable: not executable");
}

#[cfg(unix)]
#[test]
fn an_unknown_script_is_asked_once_and_the_answer_cached_until_its_pin_changes() {
    let tree = Tree::new();
    tree.python("real/bin/python3.12");
    let count = tree.path("asked");
    let script = format!(
        "#!/bin/sh\necho x >> {count}\nprintf '%s' {real}\n",
        count = count.display(),
        real = tree.path("real/bin/python3.12").display()
    );
    tree.write("wrap/bin/python3", &script, 0o755).write(
        "proj/.tool-versions",
        "python 3.12.1\n",
        0o644,
    );
    let host = on_path(&["wrap/bin"]);
    let asked = || {
        fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let first = tree.check(None, "proj", &host);
    insta::assert_snapshot!(first, @"Path <root>/real/bin/python3.12 version=3.12 via Script <root>/wrap/bin/python3");
    assert_eq!(tree.check(None, "proj", &host), first);
    assert_eq!(asked(), 1, "the script was asked again");
    // Another pin asks again.
    tree.write("proj/.tool-versions", "python 3.11.7\n", 0o644);
    assert_eq!(tree.check(None, "proj", &host), first);
    assert_eq!(asked(), 2, "a pin change was not noticed");
    // A corrupt cache is ignored.
    tree.write("cache/pykernel/interpreters.json", "{not json", 0o644);
    assert_eq!(tree.check(None, "proj", &host), first);
    assert_eq!(asked(), 3);
}

#[cfg(unix)]
#[test]
fn a_script_that_gives_no_interpreter_is_skipped() {
    let tree = Tree::new();
    tree.write("wrap/bin/python3", "#!/bin/sh\nexit 3\n", 0o755)
        .python("usr/bin/python");
    insta::assert_snapshot!(tree.check_all(None, "work", &on_path(&["wrap/bin", "usr/bin"])), @"
      Path <root>/wrap/bin/python3 version=3 skipped: a script that failed when asked for sys.executable (exit status: 3)
    * Path <root>/usr/bin/python
    ");
}

#[test]
fn doctor_sees_every_rule_and_marks_the_winner() {
    let tree = Tree::new();
    tree.pyenv(&["3.11.7", "3.12.1"])
        .write("home/.pyenv/version", "3.11.7\n", 0o644)
        .write("proj/.python-version", "3.12\n", 0o644)
        .python("proj/.venv/bin/python")
        .write(
            "proj/.venv/pyvenv.cfg",
            "home = /\nversion = 3.12.1\n",
            0o644,
        )
        .pyenv_shim("home/.pyenv/shims/python3", "home/.pyenv")
        .python("usr/bin/python");
    let host = Host {
        path: &["home/.pyenv/shims", "usr/bin"],
        pyenv_version: Some("3.99"),
        ..Host::default()
    };
    insta::assert_snapshot!(tree.check_all(None, "proj/src", &host), @"
    * ProjectVenv(\"<root>/proj/.venv\") <root>/proj/.venv/bin/python version=3.12.1
      PyenvVersion $PYENV_VERSION skipped: no installed python matches 3.99 (from $PYENV_VERSION); found 3.12.1 (<root>/home/.pyenv/versions/3.12.1/bin/python3), 3.11.7 (<root>/home/.pyenv/versions/3.11.7/bin/python3)
      VersionFile(\"<root>/proj/.python-version\") <root>/home/.pyenv/versions/3.12.1/bin/python3 version=3.12.1
      PyenvGlobal(\"<root>/home/.pyenv/version\") <root>/home/.pyenv/versions/3.11.7/bin/python3 version=3.11.7
      Installed <root>/home/.pyenv/versions/3.12.1/bin/python3 version=3.12.1
      Installed <root>/home/.pyenv/versions/3.11.7/bin/python3 version=3.11.7
      Path <root>/home/.pyenv/shims/python3 version=3 skipped: a pyenv shim whose python3 is in no selected version and not on PATH
      Path <root>/usr/bin/python
    ");
    assert!(!tree.path("shim-ran").exists(), "a shim was run");
}

#[test]
fn no_interpreter_lists_every_candidate() {
    let tree = Tree::new();
    // Not executable, so not a candidate.
    tree.file("usr/bin/python3", 0o644).dir("a");
    let host = HostLookup {
        path: Some(tree.path("usr/bin").into_os_string()),
        virtual_env: Some(tree.path("active").into_os_string()),
        ..HostLookup::default()
    };
    let Err(crate::KernelError::PythonNotFound { tried }) = resolve(None, &tree.path("a"), &host)
    else {
        panic!("expected PythonNotFound");
    };
    // Candidates above the scratch tree depend on the machine; keep the tree's and the names.
    let root = tree.dir.path().display().to_string();
    let tried: Vec<String> = tried
        .iter()
        .map(|path| path.display().to_string())
        .filter(|path| path.starts_with(&root) || !path.contains('/'))
        .map(|path| path.replace(&root, "<root>"))
        .collect();
    insta::assert_snapshot!(tried.join("\n"), @"
    <root>/active/bin/python
    <root>/a/.venv/bin/python
    <root>/a/venv/bin/python
    <root>/.venv/bin/python
    <root>/venv/bin/python
    python3
    python
    ");
}

#[test]
fn home_free_lookup_never_touches_the_real_home() {
    // With no home and no PYENV_ROOT there is no pyenv and no uv directory to read.
    let host = HostLookup {
        path: Some(OsString::new()),
        ..HostLookup::default()
    };
    assert!(host.pyenv().is_none());
    assert!(host.uv_dir().is_none());
    assert!(host.cache_dir().is_none());
}
