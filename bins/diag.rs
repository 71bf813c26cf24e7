//! Every message a tool prints to stderr: `<prog>: <LEVEL>: <message>` (kmod's
//! `log.c`), libkmod's own `libkmod: <LEVEL>: <function>: <message>` format used
//! before a tool installs its log hook (and always in modinfo), and exit codes.

use std::io::Write;

/// Log levels, syslog numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// FATAL: the tool exits 1 after printing.
    Crit = 2,
    /// ERROR.
    Err = 3,
    /// WARNING.
    Warning = 4,
    /// NOTICE.
    Notice = 5,
    /// INFO.
    Info = 6,
    /// DEBUG.
    Debug = 7,
}

impl Level {
    fn tool_name(self) -> &'static str {
        match self {
            Level::Crit => "FATAL",
            Level::Err => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    fn libkmod_name(self) -> &'static str {
        match self {
            Level::Crit => "CRITICAL",
            Level::Err => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// A tool's logger.
#[derive(Debug, Clone)]
pub struct Diag {
    /// `program_invocation_short_name`.
    pub prog: String,
    /// Messages above this level are not printed.
    pub threshold: Level,
}

impl Diag {
    /// A logger for `prog` with kmod's default threshold (WARNING).
    #[must_use]
    pub fn new(prog: &str) -> Self {
        Diag {
            prog: prog.to_string(),
            threshold: Level::Warning,
        }
    }

    /// Print `<prog>: <LEVEL>: <msg>` (msg carries its own newline).
    pub fn log(&self, err: &mut dyn Write, level: Level, msg: &[u8]) {
        if level > self.threshold {
            return;
        }
        let mut line = Vec::with_capacity(msg.len() + 32);
        line.extend_from_slice(self.prog.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(level.tool_name().as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(msg);
        let _ = err.write_all(&line);
    }

    /// An ERROR line.
    pub fn error(&self, err: &mut dyn Write, msg: impl AsRef<[u8]>) {
        self.log(err, Level::Err, msg.as_ref());
    }
}

/// libkmod's default log format: `libkmod: <LEVEL>: <function>: <msg>`.
pub fn libkmod(err: &mut dyn Write, level: Level, func: &str, msg: &str) {
    let _ = write!(err, "libkmod: {}: {func}: {msg}", level.libkmod_name());
    if !msg.ends_with('\n') {
        let _ = err.write_all(b"\n");
    }
}

/// Print what the library logged during a lookup, in libkmod's default format.
pub fn libkmod_records(err: &mut dyn Write, records: Vec<libkmod_rs::lookup::LogRecord>) {
    for r in records {
        libkmod(err, Level::Err, r.func, &r.message);
    }
}

/// Print the libkmod message an error carries, if any.
pub fn libkmod_error(err: &mut dyn Write, e: &libkmod_rs::Error) {
    if let Some((func, msg)) = e.libkmod_log() {
        libkmod(err, Level::Err, func, msg);
    }
}
