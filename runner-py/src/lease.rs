//! Leases on the staged runner package, so a package that had to be staged in a
//! temporary directory (the cache could not be trusted) is removed once no kernel runs
//! from it, instead of one `pykernel-<random>` directory being left behind per process.

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

use crate::stage;

/// A staged runner package in use; see [`crate::lease_runner`].
///
/// Hold it for as long as a runner started from [`RunnerLease::path`] may run: the
/// runner imports some of its modules on first use.
#[derive(Debug)]
#[must_use = "the package may be removed once the lease is dropped"]
pub struct RunnerLease {
    package: PathBuf,
    stager: &'static Stager,
}

impl RunnerLease {
    /// The staged package directory, for [`crate::python_args`].
    pub fn path(&self) -> &Path {
        &self.package
    }
}

impl Drop for RunnerLease {
    fn drop(&mut self) {
        self.stager.release();
    }
}

/// Where the package is staged, and how many leases hold it.
#[derive(Debug)]
pub(crate) struct Stager {
    state: Mutex<Staged>,
}

#[derive(Debug)]
struct Staged {
    package: Option<PathBuf>,
    /// The temporary directory that holds `package`, removed with the last lease.
    temp_dir: Option<PathBuf>,
    leases: usize,
}

impl Stager {
    pub(crate) const fn new() -> Self {
        Self {
            state: Mutex::new(Staged {
                package: None,
                temp_dir: None,
                leases: 0,
            }),
        }
    }

    /// Stages `files` (or checks the package staged before) and takes a lease on it.
    pub(crate) fn lease(
        &'static self,
        cache_root: Option<&Path>,
        temp_base: &Path,
        files: &[(&str, &str)],
    ) -> io::Result<RunnerLease> {
        let mut staged = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let package = match &staged.package {
            Some(package) => {
                stage::ensure_content(package, files)?;
                package.clone()
            }
            None => {
                let package = stage::stage(cache_root, temp_base, files)?;
                staged.temp_dir = temp_dir_of(&package, temp_base);
                staged.package = Some(package.clone());
                package
            }
        };
        staged.leases += 1;
        Ok(RunnerLease {
            package,
            stager: self,
        })
    }

    fn release(&self) {
        let mut staged = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        staged.leases = staged.leases.saturating_sub(1);
        if staged.leases > 0 {
            return;
        }
        if let Some(dir) = staged.temp_dir.take() {
            staged.package = None;
            // Nothing to report to: a directory that cannot be removed stays, as before.
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// The `pykernel-<random>` directory under `temp_base` that holds `package`, if that is
/// where it was staged.
fn temp_dir_of(package: &Path, temp_base: &Path) -> Option<PathBuf> {
    let dir = package.parent()?;
    let name = dir.file_name()?.to_str()?;
    (dir.parent() == Some(temp_base) && name.starts_with("pykernel-")).then(|| dir.to_path_buf())
}
