//! The library's one error type.
//!
//! Every error carries the path (and, where it helps, the offset) it is about and
//! the `errno` kmod would have returned for the same failure, so the tools can
//! print kmod's messages (`strerror(errno)`) byte for byte.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The errno values the library reports (Linux numbering).
pub mod errno {
    /// No such file or directory.
    pub const ENOENT: i32 = 2;
    /// Exec format error.
    pub const ENOEXEC: i32 = 8;
    /// Out of memory.
    pub const ENOMEM: i32 = 12;
    /// File exists.
    pub const EEXIST: i32 = 17;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// File too large.
    pub const EFBIG: i32 = 27;
    /// Function not implemented.
    pub const ENOSYS: i32 = 38;
    /// No data available.
    pub const ENODATA: i32 = 61;
    /// File name too long.
    pub const ENAMETOOLONG: i32 = 36;
}

/// The C library's text for an errno value (`strerror`), without any suffix.
#[must_use]
pub fn strerror(errno: i32) -> String {
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Everything that can go wrong in the library.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file is not in the expected format (ELF, signature, builtin modinfo...).
    Format {
        /// The file concerned.
        path: PathBuf,
        /// The errno kmod reports for this failure.
        errno: i32,
        /// What exactly is wrong (for verbose output and tests).
        reason: String,
    },
    /// A compressed module could not be decompressed.
    Decompress {
        /// The file concerned.
        path: PathBuf,
        /// The libkmod function that reports this failure (kmod's log prefix).
        func: &'static str,
        /// kmod's message, e.g. `xz: File is corrupt`.
        message: String,
        /// The errno kmod returns.
        errno: i32,
    },
    /// A `modules.*.bin` index is unusable.
    Index {
        /// The file concerned.
        path: PathBuf,
        /// Byte offset of the problem.
        offset: u64,
        /// kmod's message, e.g. `magic check fail: 0 instead of b007f457`.
        message: String,
    },
    /// A module, alias or file was not found.
    NotFound {
        /// What was looked up.
        name: String,
    },
    /// A syscall failed.
    Kernel {
        /// The operation (`init_module`, `finit_module`, `delete_module`, ...).
        op: &'static str,
        /// The errno the kernel returned.
        errno: i32,
    },
}

impl Error {
    /// The errno kmod would report for this error.
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io { source, .. } => source.raw_os_error().unwrap_or(match source.kind() {
                io::ErrorKind::NotFound => errno::ENOENT,
                io::ErrorKind::OutOfMemory => errno::ENOMEM,
                _ => errno::EINVAL,
            }),
            Error::Format { errno, .. }
            | Error::Decompress { errno, .. }
            | Error::Kernel { errno, .. } => *errno,
            Error::Index { .. } => errno::EINVAL,
            Error::NotFound { .. } => errno::ENOENT,
        }
    }

    /// `strerror(self.errno())`.
    #[must_use]
    pub fn strerror(&self) -> String {
        strerror(self.errno())
    }

    /// A message libkmod itself logs for this error (`(function, text)`), printed
    /// by the tools as `libkmod: ERROR: function: text` before their own message.
    #[must_use]
    pub fn libkmod_log(&self) -> Option<(&'static str, &str)> {
        match self {
            Error::Decompress { func, message, .. } => Some((func, message)),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, errno: i32, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            errno,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {}", path.display(), source),
            Error::Format { path, reason, .. } => write!(f, "{}: {}", path.display(), reason),
            Error::Decompress { path, message, .. } => {
                write!(f, "{}: {}", path.display(), message)
            }
            Error::Index {
                path,
                offset,
                message,
            } => write!(f, "{} (offset {}): {}", path.display(), offset, message),
            Error::NotFound { name } => write!(f, "{name}: not found"),
            Error::Kernel { op, errno } => write!(f, "{op}: {}", strerror(*errno)),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_libc_text() {
        assert_eq!(strerror(errno::EINVAL), "Invalid argument");
        assert_eq!(strerror(errno::ENOEXEC), "Exec format error");
        assert_eq!(strerror(errno::ENODATA), "No data available");
        assert_eq!(strerror(errno::ENOENT), "No such file or directory");
    }
}
