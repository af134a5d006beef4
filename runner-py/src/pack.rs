//! Packing the runner package for a launcher: the bytes the bootstrap reads on stdin.
//!
//! Layout: one header line,
//! `pykernel-runner <sha256 hex> <cache name> <length> <settings length>\n`, then
//! `length` bytes holding every file as `name NUL size NUL contents`, then
//! `settings length` bytes holding the runner's `PYKERNEL_*` settings in the same form
//! (a launcher such as ssh carries no environment to the far side). The sha256 covers
//! the files, the code that runs; the cache name is the directory name [`crate::stage_runner`] uses locally
//! (`runner-<fnv1a64>`), so one version of the package has one name on both sides.

use std::{fmt::Write as _, sync::OnceLock};

use sha2::{Digest, Sha256};

use crate::{RUNNER_FILES, stage::files_hash};

/// The packed files and their hash, computed once per process.
struct Packed {
    body: Vec<u8>,
    hash: String,
}

fn packed() -> &'static Packed {
    static PACKED: OnceLock<Packed> = OnceLock::new();
    PACKED.get_or_init(|| {
        let body = pack_files(RUNNER_FILES);
        let hash = hex(&Sha256::digest(&body));
        Packed { body, hash }
    })
}

/// The files (or settings) as `name NUL size NUL contents`, in order.
pub(crate) fn pack_files(files: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, contents) in files {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(contents.len().to_string().as_bytes());
        body.push(0);
        body.extend_from_slice(contents.as_bytes());
    }
    body
}

/// The sha256 of the packed runner package, in lowercase hex: what a bootstrapped
/// runner reports in its `hello`.
pub(crate) fn runner_hash() -> &'static str {
    &packed().hash
}

/// The header line, the packed package and the packed `settings`.
pub(crate) fn bootstrap_input(settings: &[(&str, &str)]) -> Vec<u8> {
    let Packed { body, hash } = packed();
    let settings = pack_files(settings);
    let mut input = format!(
        "pykernel-runner {hash} runner-{:016x} {} {}\n",
        files_hash(RUNNER_FILES),
        body.len(),
        settings.len(),
    )
    .into_bytes();
    input.extend_from_slice(body);
    input.extend_from_slice(&settings);
    input
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests;
