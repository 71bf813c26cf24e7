//! The library's one error type, [`Error`], and [`Errno`], the C library's error
//! number where it is the real answer (system calls, the values libkmod returns).
//!
//! Every error knows the errno kmod would have returned for the same failure
//! ([`Error::errno`]), so the tools print kmod's messages (`strerror(errno)`) byte
//! for byte; [`Errno`]'s `Display` is glibc's `strerror` text.

use crate::diag::{Diagnostic, Level};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error number (Linux numbering), as the kernel and libkmod return them.
///
/// `Display` gives the C library's `strerror` text:
///
/// ```
/// use libkmod_rs::Errno;
/// assert_eq!(Errno::ENOENT.to_string(), "No such file or directory");
/// assert_eq!(Errno::from_raw(22), Errno::EINVAL);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(i32);

impl Errno {
    /// No such file or directory.
    pub const ENOENT: Errno = Errno(2);
    /// Exec format error.
    pub const ENOEXEC: Errno = Errno(8);
    /// Resource temporarily unavailable.
    pub const EAGAIN: Errno = Errno(11);
    /// Device or resource busy.
    pub const EBUSY: Errno = Errno(16);
    /// File exists.
    pub const EEXIST: Errno = Errno(17);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);

    /// The errno `n` (a positive number).
    #[must_use]
    pub const fn from_raw(n: i32) -> Errno {
        Errno(n)
    }

    /// The number.
    #[must_use]
    pub const fn raw(self) -> i32 {
        self.0
    }
}

impl Errno {
    /// Function not implemented.
    pub(crate) const ENOSYS: Errno = Errno(errno::ENOSYS);
}

impl From<&io::Error> for Errno {
    /// The errno of an I/O error (`EINVAL` when it carries none; `ENOENT` and
    /// `ENOMEM` for the matching kinds).
    fn from(e: &io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(match e.kind() {
            io::ErrorKind::NotFound => errno::ENOENT,
            io::ErrorKind::OutOfMemory => errno::ENOMEM,
            _ => errno::EINVAL,
        }))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = io::Error::from_raw_os_error(self.0).to_string();
        let text = match s.rfind(" (os error ") {
            Some(i) => &s[..i],
            None => &s,
        };
        f.write_str(text)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({}: {self})", self.0)
    }
}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.0)
    }
}

/// Raw errno numbers used inside the library (Linux numbering).
pub(crate) mod errno {
    pub(crate) const ENOENT: i32 = 2;
    pub(crate) const ENOEXEC: i32 = 8;
    pub(crate) const ENOMEM: i32 = 12;
    pub(crate) const EEXIST: i32 = 17;
    pub(crate) const EINVAL: i32 = 22;
    pub(crate) const EFBIG: i32 = 27;
    pub(crate) const ENAMETOOLONG: i32 = 36;
    pub(crate) const ENOSYS: i32 = 38;
    pub(crate) const ENODATA: i32 = 61;
    pub(crate) const EOPNOTSUPP: i32 = 95;
}

/// The C library's text for an errno value (`strerror`), without any suffix.
pub(crate) fn strerror(errno: i32) -> String {
    Errno(errno).to_string()
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
    /// A file is not in the expected format (ELF, builtin modinfo, a number in
    /// `/sys`...).
    Format {
        /// The file concerned.
        path: PathBuf,
        /// The errno kmod reports for this failure.
        errno: Errno,
        /// What exactly is wrong.
        reason: String,
    },
    /// A compressed module could not be decompressed.
    Decompress {
        /// The file concerned.
        path: PathBuf,
        /// The libkmod function that logs this failure (`load_xz`...).
        origin: &'static str,
        /// kmod's message, e.g. `xz: File is corrupt`.
        message: String,
        /// The errno kmod returns.
        errno: Errno,
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
    /// Nothing of that name was found.
    NotFound {
        /// What was looked up.
        name: Vec<u8>,
    },
    /// The kernel refused a module operation.
    Kernel {
        /// The operation (`init_module`, `finit_module`, `delete_module`).
        op: &'static str,
        /// The errno the kernel returned.
        errno: Errno,
        /// The kernel's own log lines about the attempt (from `/dev/kmsg`), when
        /// they could be read.
        log: Vec<String>,
    },
    /// A check before loading refuses the module: the kernel would refuse it.
    Refused {
        /// The module file.
        path: PathBuf,
        /// The errno the kernel would return.
        errno: Errno,
        /// Why, one line (`version magic '...' should be '...'`, `Unknown symbol
        /// foo`...).
        reason: String,
    },
    /// depmod cannot go on (a missing input, an unwritable output...); the
    /// message is kmod's (bytes: it may quote a byte of the input raw).
    Fatal {
        /// kmod's message, newline included.
        message: Vec<u8>,
    },
    /// An operation failed with an errno and nothing more to say (`EEXIST` for a
    /// module already loaded, `ENAMETOOLONG`...).
    Errno(Errno),
}

impl Error {
    /// The errno kmod would report for this error.
    #[must_use]
    pub fn errno(&self) -> Errno {
        match self {
            Error::Io { source, .. } => Errno::from(source),
            Error::Format { errno, .. }
            | Error::Decompress { errno, .. }
            | Error::Kernel { errno, .. }
            | Error::Refused { errno, .. }
            | Error::Errno(errno) => *errno,
            Error::Index { .. } | Error::Fatal { .. } => Errno::EINVAL,
            Error::NotFound { .. } => Errno::ENOENT,
        }
    }

    /// What libkmod itself logs (at `ERR`) when this error happens, if anything:
    /// the decompressors' messages (`xz: File is corrupt`).
    #[must_use]
    pub fn logged(&self) -> Option<Diagnostic> {
        match self {
            Error::Decompress {
                origin, message, ..
            } => {
                let mut text = message.clone().into_bytes();
                if text.last() != Some(&b'\n') {
                    text.push(b'\n');
                }
                Some(Diagnostic::new(Level::Err, origin, text))
            }
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
            errno: Errno(errno),
            reason: reason.into(),
        }
    }

    pub(crate) fn errno_raw(errno: i32) -> Self {
        Error::Errno(Errno(errno))
    }

    /// The same error about `path` when it names no file yet.
    #[must_use]
    pub(crate) fn at(mut self, file: &Path) -> Self {
        match &mut self {
            Error::Io { path, .. }
            | Error::Format { path, .. }
            | Error::Decompress { path, .. }
            | Error::Index { path, .. }
            | Error::Refused { path, .. }
                if path.as_os_str().is_empty() =>
            {
                *path = file.to_path_buf();
            }
            _ => {}
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format { path, reason, .. } | Error::Refused { path, reason, .. } => {
                write!(f, "{}: {reason}", path.display())
            }
            Error::Decompress { path, message, .. } => {
                write!(f, "{}: {}", path.display(), message.trim_end())
            }
            Error::Index {
                path,
                offset,
                message,
            } => write!(
                f,
                "{} (offset {offset}): {}",
                path.display(),
                message.trim_end()
            ),
            Error::NotFound { name } => {
                write!(f, "{}: not found", String::from_utf8_lossy(name))
            }
            Error::Kernel { op, errno, .. } => write!(f, "{op}: {errno}"),
            Error::Fatal { message } => f.write_str(String::from_utf8_lossy(message).trim_end()),
            Error::Errno(e) => write!(f, "{e}"),
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

impl From<io::Error> for Error {
    /// An I/O error about no particular file.
    fn from(source: io::Error) -> Self {
        Error::Io {
            path: PathBuf::new(),
            source,
        }
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Errno(e)
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
        assert_eq!(Errno::ENOENT.to_string(), "No such file or directory");
    }

    #[test]
    fn errno_of_each_error() {
        let io = Error::io("/x", io::Error::from_raw_os_error(13));
        assert_eq!(io.errno().raw(), 13);
        assert_eq!(
            Error::NotFound {
                name: b"x".to_vec()
            }
            .errno(),
            Errno::ENOENT
        );
        assert_eq!(Error::from(Errno::EEXIST).errno(), Errno::EEXIST);
        let e = Error::format("", errno::ENOEXEC, "bad").at(Path::new("/m.ko"));
        assert_eq!(e.to_string(), "/m.ko: bad");
    }
}
