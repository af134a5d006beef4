//! Tidy tests: the invariants ARCHITECTURE.md states, checked by reading the tree.
//!
//! In rust-analyzer's manner, these are plain `#[test]`s that grep the sources, so
//! `cargo test` (and so `cargo xtask ci`) fails when a change breaks one.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The workspace root: xtask lives one level below it.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// Every file below `dir` (relative to the root) whose name ends with `extension`.
fn files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root().join(dir)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The source of `path`, with `//` comment lines dropped so docs may name what code may not use.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(index, line)| (index + 1, line.to_owned()))
        .collect()
}

/// The lines of `paths` that contain any of `needles`, as `path:line: text`.
fn offending(paths: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let root = root();
    let mut found = Vec::new();
    for path in paths {
        for (number, line) in code_lines(path) {
            if needles.iter().any(|needle| contains_token(&line, needle)) {
                let shown = path.strip_prefix(&root).unwrap_or(path);
                found.push(format!("{}:{number}: {}", shown.display(), line.trim()));
            }
        }
    }
    found
}

/// Whether `needle` occurs in `line` not followed by more of an identifier (so `.await`
/// does not match `.awaiting`).
fn contains_token(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(start, _)| {
        let next = line[start + needle.len()..].chars().next();
        !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The code of the sans-IO layers: the protocol crate and the session state machine
/// (its tests excluded: they may drive time).
fn sans_io_sources() -> Vec<PathBuf> {
    let mut paths = files("protocol/src", "rs");
    paths.push(root().join("kernel/src/machine.rs"));
    paths
}

#[test]
fn sans_io_layers_do_no_io_and_read_no_clock() {
    let found = offending(
        &sans_io_sources(),
        &[
            "tokio::",
            ".await",
            "async fn",
            "Instant::now",
            "SystemTime::now",
            "std::process",
            "std::fs",
            "std::net",
            "thread::sleep",
        ],
    );
    assert!(
        found.is_empty(),
        "sans-IO code does IO or reads the clock:\n{}",
        found.join("\n")
    );
}

#[test]
fn library_crates_do_not_print() {
    let mut paths = Vec::new();
    for dir in [
        "protocol/src",
        "transport/src",
        "kernel/src",
        "runner-py/src",
        "server/src",
    ] {
        paths.extend(files(dir, "rs"));
    }
    // Unit tests may print what they check, and test support (behind a `testing`
    // feature) why it skips.
    paths.retain(|path| {
        !path.ends_with("tests.rs") && !path.components().any(|part| part.as_os_str() == "testing")
    });
    let found = offending(
        &paths,
        &["println!(", "print!(", "eprintln!(", "eprint!(", "dbg!("],
    );
    assert!(
        found.is_empty(),
        "library crates print (log with tracing instead):\n{}",
        found.join("\n")
    );
}

/// The first `NAME = <integer>` or `NAME: u32 = <integer>;` assignment in `paths`.
fn version_in(paths: &[PathBuf], prefix: &str) -> Option<(PathBuf, u32)> {
    for path in paths {
        for (_, line) in code_lines(path) {
            let Some(rest) = line.trim().strip_prefix(prefix) else {
                continue;
            };
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(version) = digits.parse() {
                return Some((path.clone(), version));
            }
        }
    }
    None
}

#[test]
fn runner_and_protocol_crate_speak_the_same_version() {
    let rust = version_in(
        &files("protocol/src", "rs"),
        "pub const PROTOCOL_VERSION: u32 =",
    )
    .expect("the protocol crate declares PROTOCOL_VERSION");
    let python = version_in(&files("runner-py/python", "py"), "PROTOCOL_VERSION =")
        .expect("the runner declares PROTOCOL_VERSION");
    assert_eq!(
        rust.1,
        python.1,
        "{} says {}, {} says {}",
        rust.0.display(),
        rust.1,
        python.0.display(),
        python.1
    );
}

#[test]
fn every_crate_takes_the_workspace_lints() {
    let mut missing = Vec::new();
    for dir in [
        "protocol",
        "transport",
        "kernel",
        "runner-py",
        "cli",
        "server",
        "xtask",
    ] {
        let manifest = root().join(dir).join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        if !text.contains("[lints]\nworkspace = true") {
            missing.push(dir);
        }
    }
    assert!(
        missing.is_empty(),
        "crates without `[lints] workspace = true`: {missing:?}"
    );
}
