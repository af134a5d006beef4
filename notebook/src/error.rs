//! The crate's error type.

use std::{error::Error, fmt, io, path::PathBuf};

use pykernel::KernelError;

/// Why a notebook could not be read, run or written. A cell that raises is not an error
/// of this kind: it is in the [`crate::RunReport`].
#[derive(Debug)]
#[non_exhaustive]
pub enum NotebookError {
    /// The notebook file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not an nbformat 4 notebook.
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The output notebook could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A `-p NAME=VALUE` parameter is not usable.
    Parameter(String),
    /// The kernel failed outside a cell (while preparing parameters).
    Kernel(KernelError),
}

impl fmt::Display for NotebookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, .. } => write!(f, "cannot read the notebook {}", path.display()),
            Self::Parse { path, message } => {
                write!(f, "cannot read the notebook {}: {message}", path.display())
            }
            Self::Write { path, .. } => write!(f, "cannot write the notebook {}", path.display()),
            Self::Parameter(message) => write!(f, "bad parameter: {message}"),
            Self::Kernel(_) => f.write_str("the kernel failed"),
        }
    }
}

impl Error for NotebookError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Read { source, .. } | Self::Write { source, .. } => Some(source),
            Self::Kernel(source) => Some(source),
            Self::Parse { .. } | Self::Parameter(_) => None,
        }
    }
}
