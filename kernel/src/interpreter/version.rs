//! Python versions read from names and files, and version requests such as `3.12`.
//!
//! Nothing here runs an interpreter: a version comes from a directory name (pyenv's
//! `3.12.1`, uv's `cpython-3.12.1-linux-x86_64-gnu`), a file name (`python3.12`), a
//! virtualenv's `pyvenv.cfg` or a conda environment's `conda-meta` record.

use std::{fmt, fs, path::Path};

/// A version as far as it is known: `3`, `3.12` or `3.12.1`.
///
/// Ordering is numeric per part, and a shorter version sorts before its extensions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Version(Vec<u32>);

impl Version {
    /// Parses `3`, `3.12` or `3.12.1` exactly; anything else (a suffix, four parts) is
    /// `None`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let parts = text
            .split('.')
            .map(|part| {
                let digits = !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
                digits.then(|| part.parse().ok()).flatten()
            })
            .collect::<Option<Vec<u32>>>()?;
        (1..=3).contains(&parts.len()).then_some(Self(parts))
    }

    /// The leading `X.Y.Z` of `text`, ignoring what follows the numeric parts, such as
    /// `.final.0` in a `version_info`.
    fn leading(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.trim().split('.').take(3).collect();
        let mut version = Vec::new();
        for part in parts {
            match part.parse() {
                Ok(number) => version.push(number),
                Err(_) => break,
            }
        }
        (!version.is_empty()).then_some(Self(version))
    }

    /// Whether `self`, a request, is satisfied by `version`: its parts are a prefix.
    pub(crate) fn matches(&self, version: &Self) -> bool {
        version.0.starts_with(&self.0)
    }

    /// How many parts the version has (1 to 3).
    pub(crate) fn precision(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, part) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(".")?;
            }
            write!(f, "{part}")?;
        }
        Ok(())
    }
}

/// A version request as `--python` or a `.python-version` pin gives it: `3.12`, `3.12.1`,
/// `python3.12`, `py3.12`, `cpython-3.12`; `None` when `text` is not one.
pub(crate) fn parse_request(text: &str) -> Option<Version> {
    let rest = ["cpython-", "cpython", "python-", "python", "py"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .unwrap_or(text);
    Version::parse(rest)
}

/// The version of a uv-managed CPython from its directory name,
/// `cpython-3.12.1-linux-x86_64-gnu`; `None` for other implementations and for
/// free-threaded or debug builds (`3.13.0+freethreaded`).
pub(crate) fn from_uv_dir_name(name: &str) -> Option<Version> {
    let rest = name.strip_prefix("cpython-")?;
    let (version, _platform) = rest.split_once('-')?;
    Version::parse(version)
}

/// The version in an interpreter's file name: `python3.12` gives `3.12`, `python3` gives
/// `3`; `python` gives `None`.
pub(crate) fn from_file_name(name: &str) -> Option<Version> {
    let name = name.strip_suffix(".exe").unwrap_or(name);
    Version::parse(name.strip_prefix("python")?)
}

/// The version a virtualenv's `pyvenv.cfg` records (`version_info`, else `version`).
pub(crate) fn from_pyvenv_cfg(venv: &Path) -> Option<Version> {
    let text = fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    let value = |wanted: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == wanted).then(|| value.trim().to_owned())
        })
    };
    ["version_info", "version"]
        .iter()
        .find_map(|key| value(key).and_then(|value| Version::leading(&value)))
}

/// The version of a conda environment's Python, from its `conda-meta/python-<version>-<build>.json`.
pub(crate) fn from_conda_meta(prefix: &Path) -> Option<Version> {
    fs::read_dir(prefix.join("conda-meta"))
        .ok()?
        .flatten()
        .find_map(|entry| {
            let name = entry.file_name();
            let rest = name.to_str()?.strip_prefix("python-")?;
            let (version, _build) = rest.split_once('-')?;
            Version::parse(version)
        })
}
