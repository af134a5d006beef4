//! Putting the runner package on disk where nobody else can change it.
//!
//! Layout: `<cache root>/runner-<fnv1a64 over all files>/pykernel_runner/<file>`, both
//! directories 0700 and owned by the current user, every file 0600. When the cache
//! cannot be trusted or written, a fresh `pykernel-<random>` directory (0700) in the temp
//! directory takes the package instead.

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

use crate::RUNNER_PACKAGE;

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

/// Stages the package `files` (name, contents) under `cache_root` when it can be
/// trusted, else in a fresh private directory under `temp_base`; returns the verified
/// package directory's path.
pub(crate) fn stage(
    cache_root: Option<&Path>,
    temp_base: &Path,
    files: &[(&str, &str)],
) -> io::Result<PathBuf> {
    if let Some(package) = cache_root.and_then(|root| stage_in_cache(root, files).ok()) {
        return Ok(package);
    }
    let dir = private_temp_dir(temp_base)?;
    write_package(&dir, files, None)
}

/// Checks that every staged file still holds its contents; rewrites (atomically) the
/// ones that do not.
pub(crate) fn ensure_content(package: &Path, files: &[(&str, &str)]) -> io::Result<()> {
    for (name, contents) in files {
        if fs::read(package.join(name)).is_ok_and(|found| found == contents.as_bytes()) {
            continue;
        }
        write_verified(package, name, contents, None)?;
    }
    Ok(())
}

/// One hash over the names and contents of all `files`, in order: a stable name for each
/// version of the package.
pub(crate) fn files_hash(files: &[(&str, &str)]) -> u64 {
    files
        .iter()
        .fold(FNV_OFFSET_BASIS, |hash, (name, contents)| {
            let hash = fnv1a64_update(hash, name.as_bytes());
            // The name's end and the contents' length keep the file boundaries unambiguous.
            let hash = fnv1a64_update(hash, &[0]);
            let hash = fnv1a64_update(hash, &(contents.len() as u64).to_le_bytes());
            fnv1a64_update(hash, contents.as_bytes())
        })
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits, of `bytes`.
#[cfg(test)]
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_update(FNV_OFFSET_BASIS, bytes)
}

/// Continues an FNV-1a (64 bits) hash over `bytes`.
fn fnv1a64_update(hash: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

fn stage_in_cache(root: &Path, files: &[(&str, &str)]) -> io::Result<PathBuf> {
    create_private_dir(root, true)?;
    let dir = root.join(format!("runner-{:016x}", files_hash(files)));
    create_private_dir_unless_present(&dir)?;
    write_package(&dir, files, Some(root))
}

/// Writes every file of the package into `dir/RUNNER_PACKAGE` and returns that path.
fn write_package(dir: &Path, files: &[(&str, &str)], root: Option<&Path>) -> io::Result<PathBuf> {
    let package = dir.join(RUNNER_PACKAGE);
    create_private_dir_unless_present(&package)?;
    for (name, contents) in files {
        write_verified(&package, name, contents, root)?;
    }
    Ok(package)
}

/// Writes `contents` to `package/name` through a temporary file and a rename, leaving an
/// existing identical file untouched (its bytecode cache stays valid), then reads it
/// back. `package` and the directory that holds it (and `root`, when given) must belong
/// to the current user and must not be open to others.
fn write_verified(
    package: &Path,
    name: &str,
    contents: &str,
    root: Option<&Path>,
) -> io::Result<()> {
    let target = package.join(name);
    let (temp_path, temp) = create_temp_file(package, name)?;
    let outcome = replace_unless_identical(package, root, temp, &temp_path, &target, contents);
    if !matches!(outcome, Ok(true)) {
        let _ = fs::remove_file(&temp_path);
    }
    outcome?;
    if fs::read(&target)? != contents.as_bytes() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "staged runner file {} does not match its source",
                target.display()
            ),
        ));
    }
    Ok(())
}

/// Moves the temporary file over `target` unless `target` already holds `contents`;
/// returns whether it did.
fn replace_unless_identical(
    package: &Path,
    root: Option<&Path>,
    mut temp: fs::File,
    temp_path: &Path,
    target: &Path,
    contents: &str,
) -> io::Result<bool> {
    check_trusted(package, &temp, root)?;
    if fs::read(target).is_ok_and(|found| found == contents.as_bytes()) {
        return Ok(false);
    }
    temp.write_all(contents.as_bytes())?;
    temp.flush()?;
    fs::rename(temp_path, target)?;
    Ok(true)
}

fn create_temp_file(dir: &Path, name: &str) -> io::Result<(PathBuf, fs::File)> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    loop {
        let path = dir.join(format!(".{name}.{:016x}.tmp", random_u64()));
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Refuses a package directory, or a directory that holds it, that another user owns or
/// may write to. The current user's id is read off the temporary file just created in
/// the package, which needs no extra crate.
#[cfg(unix)]
fn check_trusted(package: &Path, probe: &fs::File, root: Option<&Path>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;

    let uid = probe.metadata()?.uid();
    let refuse = |path: &Path, why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing runner directory {}: {why}", path.display()),
        ))
    };
    let holder = package.parent().unwrap_or(package);
    for dir in [package, holder] {
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
fn check_trusted(package: &Path, _probe: &fs::File, _root: Option<&Path>) -> io::Result<()> {
    if fs::symlink_metadata(package)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "runner directory is not a directory",
        ))
    }
}

/// Creates a private directory, or accepts one already there (checked before use).
fn create_private_dir_unless_present(path: &Path) -> io::Result<()> {
    match create_private_dir(path, false) {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
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
