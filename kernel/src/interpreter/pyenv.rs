//! pyenv's rules, read from files: which version is selected, where it is installed, and
//! what a shim would run. No shim and no `pyenv` command is ever run.
//!
//! pyenv selects versions from, first match wins: `PYENV_VERSION` (`:`-separated), the
//! nearest `.python-version` in the directory or a parent, then `$PYENV_ROOT/version`, and
//! else `system`. A version file holds one name per line (the first word of each; blank
//! lines and `#` comments are skipped, as are names with a `/` or `..`). A name is an
//! installed directory `$PYENV_ROOT/versions/<name>` (with or without a `python-`
//! prefix), or a prefix such as `3.12` meaning the latest installed `3.12.x` (no
//! pre-releases, `-dev` or free-threaded builds). `system` is the first `python3` on
//! `PATH` outside the shims.

use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
};

/// The pin file pyenv and uv read.
pub(crate) const VERSION_FILE: &str = ".python-version";

/// How much of a file is read to tell what kind of shim it is.
const SNIFF_BYTES: u64 = 4096;

/// A pyenv installation.
#[derive(Clone, Debug)]
pub(crate) struct Pyenv {
    pub(crate) root: PathBuf,
}

impl Pyenv {
    pub(crate) fn versions_dir(&self) -> PathBuf {
        self.root.join("versions")
    }

    /// The global version file, `$PYENV_ROOT/version`.
    pub(crate) fn global_file(&self) -> PathBuf {
        self.root.join("version")
    }

    /// The installed version names, sorted.
    pub(crate) fn installed(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.versions_dir()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|entry| entry.path().is_dir())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// The installed directory name `name` selects, as `pyenv version-name` resolves it:
    /// the name itself, without a `python-` prefix, or the latest installed version it is
    /// a prefix of.
    pub(crate) fn resolve_name(&self, name: &str) -> Option<String> {
        if !is_safe_name(name) {
            return None;
        }
        let versions = self.versions_dir();
        let stripped = name.strip_prefix("python-").unwrap_or(name);
        for exact in [name, stripped] {
            if versions.join(exact).is_dir() {
                return Some(exact.to_owned());
            }
        }
        [name, stripped]
            .iter()
            .find_map(|prefix| latest_with_prefix(&self.installed(), prefix))
    }

    /// `command` inside the installed version `name`, if it is there.
    pub(crate) fn command(&self, name: &str, command: &str) -> PathBuf {
        self.versions_dir().join(name).join("bin").join(command)
    }
}

/// The latest of `installed` that `prefix` selects, by pyenv's `latest` rule: names that
/// start with `<prefix>.` or `<prefix>-`, without pre-releases, `-dev`, `-src`, `-latest`
/// and free-threaded (`t`) builds, highest version first.
fn latest_with_prefix(installed: &[String], prefix: &str) -> Option<String> {
    installed
        .iter()
        .filter(|name| {
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'))
        })
        .filter(|name| {
            let excluded = ["-dev", "-src", "-latest", "t"]
                .iter()
                .any(|suffix| name.ends_with(suffix));
            !excluded && !is_prerelease(name)
        })
        .max_by_key(|name| version_key(name))
        .cloned()
}

/// `3.13.0a1`, `3.12.0rc2`: a letter group followed by digits at the end.
fn is_prerelease(name: &str) -> bool {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    ["a", "b", "rc"]
        .iter()
        .any(|tag| trimmed.ends_with(tag) && trimmed.len() < name.len())
}

/// A sort key comparing the numeric parts of a version name numerically.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect()
}

/// pyenv ignores names that could leave `$PYENV_ROOT/versions`.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty() && name != ".." && !name.contains('/') && !name.contains('\\')
}

/// The names a version file selects, in order; `None` when it has none (pyenv then
/// reads on, as for a missing file).
pub(crate) fn read_version_file(path: &Path) -> Option<Vec<String>> {
    let mut text = String::new();
    fs::File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    let names: Vec<String> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| !word.starts_with('#') && is_safe_name(word))
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

/// The names of a `PYENV_VERSION` value, `:`-separated.
pub(crate) fn split_env_version(value: &str) -> Option<Vec<String>> {
    let names: Vec<String> = value
        .split(':')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

/// The nearest `.python-version` in `dir` or a parent.
pub(crate) fn find_version_file(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|dir| dir.join(VERSION_FILE))
        .find(|file| file.is_file())
}

/// What an interpreter file is, as far as running it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A binary or a symlink to one: it runs itself.
    Direct,
    /// A pyenv shim, with the `PYENV_ROOT` it sets.
    PyenvShim(PathBuf),
    /// An asdf shim.
    AsdfShim,
    /// A mise shim (a link to the `mise` binary).
    MiseShim,
    /// Some other script (`#!`): what it runs is unknown until it is asked.
    Script,
}

/// Tells what `path` is by reading its first bytes (and its link target), never by
/// running it.
pub(crate) fn classify(path: &Path) -> FileKind {
    if let Ok(target) = fs::read_link(path) {
        let name = target.file_name().and_then(|name| name.to_str());
        if matches!(name, Some("mise" | "rtx")) {
            return FileKind::MiseShim;
        }
    }
    let mut head = Vec::new();
    let read = fs::File::open(path).and_then(|file| file.take(SNIFF_BYTES).read_to_end(&mut head));
    if read.is_err() || !head.starts_with(b"#!") {
        return FileKind::Direct;
    }
    let text = String::from_utf8_lossy(&head);
    if text.contains("pyenv\" exec") || text.contains("pyenv exec") {
        let root = text.lines().find_map(|line| {
            let value = line.trim().strip_prefix("export PYENV_ROOT=")?;
            Some(PathBuf::from(value.trim_matches('"').trim_matches('\'')))
        });
        // A shim without the line lives in `<root>/shims`.
        let root = root.or_else(|| path.parent()?.parent().map(Path::to_path_buf));
        if let Some(root) = root {
            return FileKind::PyenvShim(root);
        }
    }
    if text.contains("asdf exec") || text.contains("asdf-plugin") {
        return FileKind::AsdfShim;
    }
    FileKind::Script
}
