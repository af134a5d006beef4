//! Resolution over fake directory trees; the process environment is never read or changed.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
};

use crate::interpreter::{HostLookup, resolve};

/// A scratch tree; paths in it render as `<root>/...`.
struct Tree {
    dir: tempfile::TempDir,
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

    /// An executable fake interpreter at `relative`.
    fn python(&self, relative: &str) -> &Self {
        self.file(relative, 0o755)
    }

    fn file(&self, relative: &str, mode: u32) -> &Self {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|err| panic!("mkdir: {err}"));
        }
        fs::write(&path, "#!/bin/sh\n").unwrap_or_else(|err| panic!("write: {err}"));
        set_mode(&path, mode);
        self
    }

    fn dir(&self, relative: &str) -> &Self {
        fs::create_dir_all(self.path(relative)).unwrap_or_else(|err| panic!("mkdir: {err}"));
        self
    }

    /// Resolves from `<root>/<cwd>` with the given PATH dirs (relative to the root),
    /// VIRTUAL_ENV and home, and renders the answer.
    fn check(
        &self,
        explicit: Option<&str>,
        cwd: &str,
        path: &[&str],
        venv: Option<&str>,
    ) -> String {
        let joined = std::env::join_paths(path.iter().map(|dir| self.path(dir)))
            .unwrap_or_else(|err| panic!("join_paths: {err}"));
        let host = HostLookup {
            path: Some(joined),
            virtual_env: venv.map(|venv| OsString::from(self.path(venv))),
            home: Some(self.path("home")),
        };
        self.dir(cwd);
        let result = resolve(explicit.map(Path::new), &self.path(cwd), &host);
        let text = match result {
            Ok(resolved) => format!(
                "{:?} {} venv={:?}",
                resolved.source,
                resolved.path.display(),
                resolved.venv.map(|venv| venv.display().to_string())
            ),
            Err(err) => format!("error: {err}"),
        };
        text.replace(&self.dir.path().display().to_string(), "<root>")
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

#[test]
fn path_python3_comes_before_python_and_path_order_holds() {
    let tree = Tree::new();
    tree.python("usr/bin/python")
        .python("opt/bin/python3")
        .python("usr/bin/python3");
    insta::assert_snapshot!(tree.check(None, "work", &["usr/bin", "opt/bin"], None), @"Path <root>/usr/bin/python3 venv=None");
    insta::assert_snapshot!(tree.check(None, "work", &["opt/bin", "usr/bin"], None), @"Path <root>/opt/bin/python3 venv=None");
    let only_python = Tree::new();
    only_python.python("usr/bin/python");
    insta::assert_snapshot!(only_python.check(None, "work", &["usr/bin"], None), @"Path <root>/usr/bin/python venv=None");
}

#[test]
fn the_active_virtualenv_wins_over_project_venvs_and_path() {
    let tree = Tree::new();
    tree.python("active/bin/python")
        .python("work/.venv/bin/python")
        .python("usr/bin/python3");
    insta::assert_snapshot!(
        tree.check(None, "work", &["usr/bin"], Some("active")),
        @r#"VirtualEnv <root>/active/bin/python venv=Some("<root>/active")"#
    );
    // A VIRTUAL_ENV without an interpreter is skipped.
    insta::assert_snapshot!(
        tree.check(None, "work", &["usr/bin"], Some("gone")),
        @r#"ProjectVenv("<root>/work/.venv") <root>/work/.venv/bin/python venv=Some("<root>/work/.venv")"#
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
        tree.check(None, "proj/pkg/src", &["usr/bin"], None),
        @r#"ProjectVenv("<root>/proj/pkg/.venv") <root>/proj/pkg/.venv/bin/python venv=Some("<root>/proj/pkg/.venv")"#
    );
    insta::assert_snapshot!(
        tree.check(None, "proj/other", &["usr/bin"], None),
        @r#"ProjectVenv("<root>/proj/.venv") <root>/proj/.venv/bin/python venv=Some("<root>/proj/.venv")"#
    );
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
    insta::assert_snapshot!(tree.check(Some(&absolute), "work", &["usr/bin"], Some("active")), @"Explicit <root>/custom/python3.13 venv=None");
    insta::assert_snapshot!(tree.check(Some(".venv/bin/python"), "work", &["usr/bin"], None), @r#"Explicit <root>/work/.venv/bin/python venv=Some("<root>/work/.venv")"#);
    insta::assert_snapshot!(tree.check(Some("~/venvs/py/bin/python"), "work", &["usr/bin"], None), @"Explicit <root>/home/venvs/py/bin/python venv=None");
    insta::assert_snapshot!(tree.check(Some("python3.12"), "work", &["usr/bin"], None), @"Explicit <root>/usr/bin/python3.12 venv=None");
}

#[test]
fn a_bad_explicit_path_is_an_error_naming_it() {
    let tree = Tree::new();
    tree.file("work/notexec", 0o644)
        .dir("work/adir")
        .python("usr/bin/python3");
    insta::assert_snapshot!(tree.check(Some("missing/python"), "work", &["usr/bin"], None), @"error: python interpreter <root>/work/missing/python is not usable: no such file");
    insta::assert_snapshot!(tree.check(Some("python9"), "work", &["usr/bin"], None), @"error: python interpreter python9 is not usable: not found in the working directory or on PATH");
    insta::assert_snapshot!(tree.check(Some("adir"), "work", &["usr/bin"], None), @"error: python interpreter <root>/work/adir is not usable: not a file");
    #[cfg(unix)]
    insta::assert_snapshot!(tree.check(Some("notexec"), "work", &["usr/bin"], None), @"error: python interpreter <root>/work/notexec is not usable: not executable");
}

#[test]
fn no_interpreter_lists_every_candidate() {
    let tree = Tree::new();
    // Not executable, so not a candidate.
    tree.file("usr/bin/python3", 0o644).dir("a");
    let host = HostLookup {
        path: Some(tree.path("usr/bin").into_os_string()),
        virtual_env: Some(tree.path("active").into_os_string()),
        home: None,
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
