//! Putting the runner on disk where nobody else can change it.
//!
//! Layout: `<cache root>/runner-<fnv1a64 of the source>/pykernel_runner.py`, the
//! directory 0700 and owned by the current user. When the cache cannot be trusted or
//! written, a fresh `pykernel-<random>` directory (0700) in the temp directory is used.

use std::{
    ffi::OsString,
    fs,
    hash::{BuildHasher, Hasher, RandomState},
    io::{self, Write},
    path::{Path, PathBuf},
    process,
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use crate::RUNNER_FILE_NAME;

/// The per-user cache directory for staged runners, from `$XDG_CACHE_HOME` or `$HOME`
/// (relative or empty values are ignored, as the XDG spec asks).
pub(crate) fn cache_root(
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let absolute =
        |value: Option<OsString>| value.map(PathBuf::from).filter(|path| path.is_absolute());
    if let Some(cache) = absolute(xdg_cache_home) {
        return Some(cache.join("pykernel"));
    }
    absolute(home).map(|home| home.join(".cache").join("pykernel"))
}

/// Stages `source` under `cache_root` when it can be trusted, else in a fresh private
/// directory under `temp_base`; returns the verified file's path.
pub(crate) fn stage(
    cache_root: Option<&Path>,
    temp_base: &Path,
    source: &str,
) -> io::Result<PathBuf> {
    if let Some(root) = cache_root {
        if let Ok(path) = stage_in_cache(root, source) {
            return Ok(path);
        }
    }
    let dir = private_temp_dir(temp_base)?;
    write_verified(&dir, source, None)
}

/// Checks that the staged file still holds `source`; rewrites it (atomically) if not.
pub(crate) fn ensure_content(path: &Path, source: &str) -> io::Result<()> {
    if fs::read(path).is_ok_and(|content| content == source.as_bytes()) {
        return Ok(());
    }
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("staged runner has no parent directory"))?;
    write_verified(dir, source, None).map(drop)
}

/// FNV-1a, 64 bits: a stable name for each version of the source.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

fn stage_in_cache(root: &Path, source: &str) -> io::Result<PathBuf> {
    create_private_dir(root, true)?;
    let dir = root.join(format!("runner-{:016x}", fnv1a64(source.as_bytes())));
    match create_private_dir(&dir, false) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    write_verified(&dir, source, Some(root))
}

/// Writes `source` to `dir/RUNNER_FILE_NAME` through a temporary file and a rename,
/// leaving an existing identical file untouched (its bytecode cache stays valid), then
/// reads it back. `dir` (and `root`, when given) must belong to the current user and
/// must not be open to others.
fn write_verified(dir: &Path, source: &str, root: Option<&Path>) -> io::Result<PathBuf> {
    let target = dir.join(RUNNER_FILE_NAME);
    let (temp_path, temp) = create_temp_file(dir)?;
    let outcome = replace_unless_identical(dir, root, temp, &temp_path, &target, source);
    if !matches!(outcome, Ok(true)) {
        let _ = fs::remove_file(&temp_path);
    }
    outcome?;
    if fs::read(&target)? != source.as_bytes() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "staged runner at {} does not match its source",
                target.display()
            ),
        ));
    }
    Ok(target)
}

/// Moves the temporary file over `target` unless `target` already holds `source`;
/// returns whether it did.
fn replace_unless_identical(
    dir: &Path,
    root: Option<&Path>,
    mut temp: fs::File,
    temp_path: &Path,
    target: &Path,
    source: &str,
) -> io::Result<bool> {
    check_trusted(dir, &temp, root)?;
    if fs::read(target).is_ok_and(|content| content == source.as_bytes()) {
        return Ok(false);
    }
    temp.write_all(source.as_bytes())?;
    temp.flush()?;
    fs::rename(temp_path, target)?;
    Ok(true)
}

fn create_temp_file(dir: &Path) -> io::Result<(PathBuf, fs::File)> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    loop {
        let path = dir.join(format!(".{RUNNER_FILE_NAME}.{:016x}.tmp", random_u64()));
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Refuses a directory another user owns or may write to. The current user's id is
/// read off the temporary file just created in it, which needs no extra crate.
#[cfg(unix)]
fn check_trusted(dir: &Path, probe: &fs::File, root: Option<&Path>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;

    let uid = probe.metadata()?.uid();
    let refuse = |path: &Path, why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing runner directory {}: {why}", path.display()),
        ))
    };
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return refuse(dir, "not a directory");
    }
    if meta.uid() != uid {
        return refuse(dir, "owned by another user");
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(dir, "accessible to other users (mode is not 0700)");
    }
    if let Some(root) = root {
        let meta = fs::symlink_metadata(root)?;
        if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
            return refuse(
                root,
                "not a directory of the current user closed to writes by others",
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_trusted(dir: &Path, _probe: &fs::File, _root: Option<&Path>) -> io::Result<()> {
    if fs::symlink_metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "runner directory is not a directory",
        ))
    }
}

fn create_private_dir(path: &Path, recursive: bool) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// A new directory with an unpredictable name that did not exist before.
fn private_temp_dir(base: &Path) -> io::Result<PathBuf> {
    loop {
        let dir = base.join(format!("pykernel-{:016x}", random_u64()));
        match create_private_dir(&dir, false) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

/// 64 unpredictable bits: std's randomly keyed hasher over the pid, the time and a
/// counter.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}
