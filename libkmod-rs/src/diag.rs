//! Soft problems, reported as they happen: [`Diagnostic`], [`Level`], [`Sink`].

use crate::shared::strtol::{is_c_space, strtol};
use std::borrow::Cow;
use std::fmt;

/// How serious a diagnostic is: syslog's priorities, as kmod logs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `LOG_CRIT`: the tool stops (kmod prints `FATAL`).
    Crit,
    /// `LOG_ERR` (`ERROR`).
    Err,
    /// `LOG_WARNING` (`WARNING`).
    Warning,
    /// `LOG_NOTICE` (`NOTICE`).
    Notice,
    /// `LOG_INFO` (`INFO`).
    Info,
    /// `LOG_DEBUG` (`DEBUG`).
    Debug,
}

impl Level {
    /// The syslog priority number (`LOG_CRIT` = 2 ... `LOG_DEBUG` = 7).
    #[must_use]
    pub fn priority(self) -> i32 {
        match self {
            Level::Crit => 2,
            Level::Err => 3,
            Level::Warning => 4,
            Level::Notice => 5,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

impl fmt::Display for Level {
    /// The name kmod's tools print (`FATAL`, `ERROR`, `WARNING`, `NOTICE`, `INFO`,
    /// `DEBUG`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Crit => "FATAL",
            Level::Err => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        })
    }
}

/// One soft problem or notice, delivered to a [`Sink`] the caller passes in.
///
/// Whatever kmod logs without failing — a bad configuration line, a duplicate
/// module, an unknown symbol, a `/sys` file that cannot be read, a module file
/// missing from `modules.dep` — reaches the sink at the moment kmod would log it, so
/// a caller that prints each diagnostic at once reproduces kmod's order of
/// messages. The text is kmod's, byte for byte; the library never prints.
///
/// ```
/// use libkmod_rs::{Diagnostic, Level, Sink};
///
/// // a closure is a sink
/// let mut printed = Vec::new();
/// let mut sink = |d: Diagnostic| printed.push(format!("{}: {d}", d.level));
/// sink.report(Diagnostic::new(Level::Warning, "depmod", "-e needs -E or -F\n"));
/// assert_eq!(printed, ["WARNING: -e needs -E or -F"]);
///
/// // so is a Vec (collects), and () (discards)
/// let mut all: Vec<Diagnostic> = Vec::new();
/// all.report(Diagnostic::new(Level::Err, "x", "y\n"));
/// ().report(Diagnostic::new(Level::Err, "x", "y\n"));
/// assert_eq!(all.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// How serious it is.
    pub level: Level,
    /// Where it comes from: the libkmod function kmod names in its own log format
    /// (`kmod_module_parse_depline`, `kmod_config_parse`...), or the depmod step.
    pub origin: &'static str,
    /// The text as kmod prints it, newline included where kmod has one (bytes: it
    /// may quote names that are not UTF-8).
    pub message: Vec<u8>,
}

impl Diagnostic {
    /// A diagnostic.
    #[must_use]
    pub fn new(level: Level, origin: &'static str, message: impl Into<Vec<u8>>) -> Self {
        Diagnostic {
            level,
            origin,
            message: message.into(),
        }
    }

    /// The text without its trailing newline (UTF-8, lossily).
    #[must_use]
    pub(crate) fn text(&self) -> Cow<'_, str> {
        let m = self.message.strip_suffix(b"\n").unwrap_or(&self.message);
        String::from_utf8_lossy(m)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Where diagnostics go: a closure, a `Vec` that collects them, or `()` that drops
/// them.
pub trait Sink {
    /// Take one diagnostic.
    fn report(&mut self, d: Diagnostic);
}

impl<F: FnMut(Diagnostic)> Sink for F {
    fn report(&mut self, d: Diagnostic) {
        self(d);
    }
}

impl Sink for Vec<Diagnostic> {
    fn report(&mut self, d: Diagnostic) {
        self.push(d);
    }
}

impl Sink for () {
    fn report(&mut self, _: Diagnostic) {}
}

/// libkmod's log threshold from the value of `KMOD_LOG` (libkmod's
/// `log_priority`): a number (taken as C takes a `long` into an `int`), or a word
/// starting with `err`, `info` or `debug`; anything else is 0.
///
/// ```
/// use libkmod_rs::kmod_log_priority;
/// assert_eq!(kmod_log_priority(b"debug"), 7);
/// assert_eq!(kmod_log_priority(b"6"), 6);
/// assert_eq!(kmod_log_priority(b"bogus"), 0);
/// ```
#[must_use]
pub fn kmod_log_priority(value: &[u8]) -> i32 {
    let (n, end) = strtol(value);
    if end == value.len() || value.get(end).copied().is_some_and(is_c_space) {
        // glibc's strtol saturates at LONG_MAX; the int keeps the low 32 bits
        return n as i32;
    }
    if value.starts_with(b"err") {
        Level::Err.priority()
    } else if value.starts_with(b"info") {
        Level::Info.priority()
    } else if value.starts_with(b"debug") {
        Level::Debug.priority()
    } else {
        0
    }
}

/// A diagnostic at `ERR`, libkmod's level for everything it logs while doing a
/// lookup or reading the kernel's state.
pub(crate) fn err(sink: &mut dyn Sink, origin: &'static str, message: impl Into<Vec<u8>>) {
    sink.report(Diagnostic::new(Level::Err, origin, message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmod_log_like_libkmod() {
        assert_eq!(kmod_log_priority(b"3"), 3);
        assert_eq!(kmod_log_priority(b" 4 "), 4);
        assert_eq!(kmod_log_priority(b"4\x0b"), 4);
        assert_eq!(kmod_log_priority(b"4x"), 0);
        assert_eq!(kmod_log_priority(b""), 0);
        assert_eq!(kmod_log_priority(b"error"), 3);
        assert_eq!(kmod_log_priority(b"info"), 6);
        // LONG_MAX into an int: -1
        assert_eq!(kmod_log_priority(b"99999999999999999999"), -1);
        assert_eq!(kmod_log_priority(b"4294967297"), 1);
    }
}
