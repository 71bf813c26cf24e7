//! Where the tools' stderr messages are written: the one logger ([`Log`], kmod's
//! `tools/log.c`: `<prog>: <LEVEL>: <message>` on stderr, or `<LEVEL>: <message>` to
//! the system log with `-s`), libkmod's own format used before a tool installs its
//! log hook (`libkmod: <LEVEL>: <function>: <message>`), and the sinks through which
//! the library's diagnostics reach them. The texts of the tools' own messages are
//! built in the tools (`bins/tools/*`), next to the decision they report.

use crate::syslog::Syslog;
use libkmod_rs::{Diagnostic, Level, Root, Sink};
use std::io::Write;

/// kmod's name for a level in libkmod's own format (`CRITICAL` where the tools
/// say `FATAL`).
fn libkmod_name(level: Level) -> String {
    match level {
        Level::Crit => "CRITICAL".into(),
        l => l.to_string(),
    }
}

/// A syslog priority's name as the tools print it (`LOG-nnn` beyond DEBUG).
fn level_name(priority: i32) -> String {
    match priority {
        2 => "FATAL".into(),
        3 => "ERROR".into(),
        4 => "WARNING".into(),
        5 => "NOTICE".into(),
        6 => "INFO".into(),
        7 => "DEBUG".into(),
        n => format!("LOG-{n:03}"),
    }
}

/// A tool's logger.
#[derive(Debug)]
pub struct Log {
    prog: String,
    threshold: i32,
    syslog: Option<Syslog>,
    /// libkmod's log hook is installed (`kmod_set_log_fn`).
    hooked: bool,
}

impl Log {
    /// A logger for `prog` (`program_invocation_short_name`), WARNING, on stderr.
    #[must_use]
    pub fn new(prog: &str) -> Self {
        Log {
            prog: prog.to_string(),
            threshold: Level::Warning.priority(),
            syslog: None,
            hooked: false,
        }
    }

    /// `log_open`: with `use_syslog`, messages go to `<root>/dev/log` from now on.
    pub fn open(&mut self, use_syslog: bool, root: &Root) {
        if use_syslog {
            self.syslog = Some(Syslog::open(&self.prog, root));
        }
    }

    /// Show messages up to `level` (depmod's `-v` steps).
    pub fn set_threshold(&mut self, level: Level) {
        self.threshold = level.priority();
    }

    /// `log_setup_kmod_log`: the threshold becomes ERR + `verbose`; libkmod announces
    /// the hook at INFO.
    pub fn setup(&mut self, err: &mut dyn Write, verbose: i32) {
        self.threshold = Level::Err.priority() + verbose;
        self.hooked(err);
    }

    /// libkmod's log hook installed (`kmod_set_log_fn`), which libkmod announces at
    /// INFO; [`Log::finish`] then reports the context's end.
    pub fn hooked(&mut self, err: &mut dyn Write) {
        self.hooked = true;
        let hook: fn(&mut Log, &mut dyn Write, i32) = Log::setup;
        let msg = format!(
            "custom logging function {:p} registered\n",
            hook as *const ()
        );
        self.log(err, Level::Info, msg.as_bytes());
    }

    /// The end of the tool (`kmod_unref`): libkmod's INFO line if the hook was set.
    pub fn finish(&self, err: &mut dyn Write) {
        if self.hooked {
            let msg = format!("context {:p} released\n", std::ptr::from_ref(self));
            self.log(err, Level::Info, msg.as_bytes());
        }
    }

    /// Would a message at `level` be shown?
    #[must_use]
    pub fn enabled(&self, level: Level) -> bool {
        level.priority() <= self.threshold
    }

    /// Log `msg` (which carries its own newline) at `level`.
    pub fn log(&self, err: &mut dyn Write, level: Level, msg: &[u8]) {
        if !self.enabled(level) {
            return;
        }
        let name = level_name(level.priority());
        if let Some(s) = &self.syslog {
            let mut m = name.into_bytes();
            m.extend_from_slice(b": ");
            m.extend_from_slice(msg);
            s.send(level.priority(), &m);
            return;
        }
        let mut line = Vec::with_capacity(msg.len() + 32);
        line.extend_from_slice(self.prog.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(msg);
        let _ = err.write_all(&line);
    }

    /// An ERROR message.
    pub fn error(&self, err: &mut dyn Write, msg: impl AsRef<[u8]>) {
        self.log(err, Level::Err, msg.as_ref());
    }

    /// A FATAL message.
    pub fn fatal(&self, err: &mut dyn Write, msg: impl AsRef<[u8]>) {
        self.log(err, Level::Crit, msg.as_ref());
    }

    /// The kernel's own log lines about a failed load (beyond kmod), at ERR:
    /// `<prog>: ERROR: kernel: <text>`.
    pub fn kernel_lines(&self, err: &mut dyn Write, lines: &[String]) {
        for l in lines {
            let mut m = b"kernel: ".to_vec();
            m.extend_from_slice(l.as_bytes());
            m.push(b'\n');
            self.log(err, Level::Err, &m);
        }
    }

    /// A sink printing the library's diagnostics through this log (libkmod's hook
    /// installed, as insmod, rmmod, lsmod and modprobe do, and depmod's own
    /// messages).
    pub fn sink<'a>(&'a self, err: &'a mut dyn Write) -> ToolSink<'a> {
        ToolSink { log: self, err }
    }
}

/// Diagnostics printed as the tool's messages (see [`Log::sink`]).
pub struct ToolSink<'a> {
    log: &'a Log,
    err: &'a mut dyn Write,
}

impl Sink for ToolSink<'_> {
    fn report(&mut self, d: Diagnostic) {
        self.log.log(self.err, d.level, &d.message);
    }
}

/// libkmod's default log format: `libkmod: <LEVEL>: <function>: <msg>` (a newline
/// added when the message has none).
pub fn libkmod(err: &mut dyn Write, d: &Diagnostic) {
    let mut line = format!("libkmod: {}: {}: ", libkmod_name(d.level), d.origin).into_bytes();
    line.extend_from_slice(&d.message);
    if line.last() != Some(&b'\n') {
        line.push(b'\n');
    }
    let _ = err.write_all(&line);
}

/// Diagnostics printed in libkmod's own format, up to a threshold (libkmod's log
/// before a tool installs its hook, and modinfo's, which never does).
pub struct LibkmodSink<'a> {
    /// The highest priority printed (`KMOD_LOG`, else ERR).
    pub threshold: i32,
    /// Where.
    pub err: &'a mut dyn Write,
}

impl Sink for LibkmodSink<'_> {
    fn report(&mut self, d: Diagnostic) {
        if d.level.priority() <= self.threshold {
            libkmod(self.err, &d);
        }
    }
}
