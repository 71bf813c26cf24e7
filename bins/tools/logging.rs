//! The log of insmod, rmmod and lsmod (kmod's `tools/log.c`): messages go to stderr
//! as `<prog>: <LEVEL>: <msg>`, or with `-s/--syslog` to the system log as
//! `<LEVEL>: <msg>` (ident `<prog>`, facility daemon). Until the tool sets its
//! threshold (`setup`) it is WARNING; after, ERR plus one per `-v`. libkmod's own
//! messages ([`LibMessage`]) go through the same format once the tool has installed
//! its hook, as these tools do.
//!
//! Syslog is written as glibc's `syslog(3)` does, without libc: one datagram
//! `<pri><ident>: <msg>` to `/dev/log`, connected at the first message; if that fails
//! (no syslog daemon), the message goes to `/dev/console` (`LOG_CONS`). Unlike glibc
//! the datagram carries no timestamp: every receiver (journald, rsyslog, busybox
//! syslogd) then stamps it with its own clock in its own time zone, which is what glibc's
//! local-time stamp is for, without reading the time zone database here.

use crate::diag::Level;
use libkmod_rs::Root;
use libkmod_rs::kmsg::KmsgRecord;
use libkmod_rs::state::LibMessage;
use std::cell::RefCell;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// `LOG_DAEMON`.
const LOG_DAEMON: i32 = 3 << 3;

/// `O_NOCTTY` for opening the console.
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const O_NOCTTY: i32 = 0x800;
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const O_NOCTTY: i32 = 0x8000;
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
const O_NOCTTY: i32 = 0o400;

fn level_name(level: i32) -> String {
    match level {
        2 => "FATAL".into(),
        3 => "ERROR".into(),
        4 => "WARNING".into(),
        5 => "NOTICE".into(),
        6 => "INFO".into(),
        7 => "DEBUG".into(),
        n => format!("LOG-{n:03}"),
    }
}

/// A connection to the system log.
#[derive(Debug)]
struct Syslog {
    ident: String,
    dev_log: PathBuf,
    console: PathBuf,
    sock: RefCell<Option<UnixDatagram>>,
}

impl Syslog {
    fn connect(&self) -> Option<UnixDatagram> {
        let s = UnixDatagram::unbound().ok()?;
        s.connect(&self.dev_log).ok()?;
        Some(s)
    }

    fn send(&self, level: i32, msg: &[u8]) {
        let mut line = format!("<{}>{}: ", LOG_DAEMON | level, self.ident).into_bytes();
        let body = line.len() - self.ident.len() - 2;
        line.extend_from_slice(msg);
        let mut sock = self.sock.borrow_mut();
        for _ in 0..2 {
            if sock.is_none() {
                *sock = self.connect();
            }
            match sock.as_ref() {
                Some(s) if s.send(&line).is_ok() => return,
                Some(_) => *sock = None,
                None => break,
            }
        }
        // LOG_CONS: the message without its priority, then "\r\n"
        if let Ok(mut c) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NOCTTY)
            .open(&self.console)
        {
            let mut out = line[body..].to_vec();
            out.extend_from_slice(b"\r\n");
            let _ = c.write_all(&out);
        }
    }
}

/// A tool's logger.
#[derive(Debug)]
pub struct ToolLog {
    prog: String,
    threshold: i32,
    syslog: Option<Syslog>,
    ctx: bool,
}

impl ToolLog {
    /// A logger for `prog` (`program_invocation_short_name`), WARNING, on stderr.
    #[must_use]
    pub fn new(prog: &str) -> Self {
        ToolLog {
            prog: prog.to_string(),
            threshold: Level::Warning as i32,
            syslog: None,
            ctx: false,
        }
    }

    /// `log_open`: with `use_syslog`, messages go to `<root>/dev/log` from now on.
    pub fn open(&mut self, use_syslog: bool, root: &Root) {
        if use_syslog {
            self.syslog = Some(Syslog {
                ident: self.prog.clone(),
                dev_log: root.path(libkmod_rs::paths::DEV_LOG),
                console: root.path(libkmod_rs::paths::DEV_CONSOLE),
                sock: RefCell::new(None),
            });
        }
    }

    /// `log_setup_kmod_log`: the threshold becomes ERR + `verbose`; libkmod announces
    /// the hook at INFO.
    pub fn setup(&mut self, err: &mut dyn Write, verbose: i32) {
        self.threshold = Level::Err as i32 + verbose;
        self.ctx = true;
        let hook: fn(&mut ToolLog, &mut dyn Write, i32) = ToolLog::setup;
        let msg = format!(
            "custom logging function {:p} registered\n",
            hook as *const ()
        );
        self.log(err, Level::Info, msg.as_bytes());
    }

    /// The end of the tool (`kmod_unref`): libkmod's INFO line if a context existed.
    pub fn finish(&self, err: &mut dyn Write) {
        if self.ctx {
            let msg = format!("context {:p} released\n", std::ptr::from_ref(self));
            self.log(err, Level::Info, msg.as_bytes());
        }
    }

    /// Would a message at `level` be shown?
    #[must_use]
    pub fn enabled(&self, level: Level) -> bool {
        level as i32 <= self.threshold
    }

    /// Log `msg` (which carries its own newline) at `level`.
    pub fn log(&self, err: &mut dyn Write, level: Level, msg: &[u8]) {
        if !self.enabled(level) {
            return;
        }
        let name = level_name(level as i32);
        if let Some(s) = &self.syslog {
            let mut m = name.into_bytes();
            m.extend_from_slice(b": ");
            m.extend_from_slice(msg);
            s.send(level as i32, &m);
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

    /// libkmod's messages (ERR), through the tool's format.
    pub fn lib(&self, err: &mut dyn Write, messages: &mut Vec<LibMessage>) {
        for m in messages.drain(..) {
            self.log(err, Level::Err, &m.text);
        }
    }

    /// The kernel's own log lines about a failed load (beyond kmod), at ERR:
    /// `<prog>: ERROR: kernel: <text>`.
    pub fn kernel_lines(&self, err: &mut dyn Write, records: &[KmsgRecord]) {
        for r in records {
            let mut m = b"kernel: ".to_vec();
            m.extend_from_slice(r.text.as_bytes());
            m.push(b'\n');
            self.log(err, Level::Err, &m);
        }
    }
}

/// libkmod's threshold before a tool installs its hook: ERR, or `KMOD_LOG` (a number,
/// or a word starting with `err`, `info`, `debug`; anything else is 0).
fn libkmod_threshold() -> i32 {
    let Some(v) = std::env::var_os("KMOD_LOG") else {
        return Level::Err as i32;
    };
    let v = v.as_bytes();
    let (n, end) = libkmod_rs::state::strtol(v);
    if end == v.len() || v.get(end).is_some_and(u8::is_ascii_whitespace) {
        return i32::try_from(n).unwrap_or(0);
    }
    if v.starts_with(b"err") {
        Level::Err as i32
    } else if v.starts_with(b"info") {
        Level::Info as i32
    } else if v.starts_with(b"debug") {
        Level::Debug as i32
    } else {
        0
    }
}

/// What `kmod_new(NULL, {NULL})` does that the tools can see: find the module
/// directory from the kernel release (`None` if `uname` fails) and read
/// `/sys/module/compression`, logging in libkmod's own format since the tool's hook
/// is not installed yet. Returns `<root>/lib/modules/<release>`.
pub fn kmod_new(env: &mut crate::Env<'_>) -> Option<PathBuf> {
    let threshold = libkmod_threshold();
    let show = |l: Level| l as i32 <= threshold;
    let Ok(release) = env.kernel.release() else {
        if show(Level::Err) {
            crate::diag::libkmod(
                env.err,
                Level::Err,
                "kmod_new",
                "could not retrieve directory\n",
            );
        }
        return None;
    };
    let mut msgs = Vec::new();
    libkmod_rs::state::kernel_compression(&env.root, &mut msgs);
    if show(Level::Err) {
        for m in msgs {
            crate::diag::libkmod(
                env.err,
                Level::Err,
                m.func,
                &String::from_utf8_lossy(&m.text),
            );
        }
    }
    if show(Level::Info) {
        let msg = format!("ctx {:p} created\n", std::ptr::from_ref(env));
        crate::diag::libkmod(env.err, Level::Info, "kmod_new", &msg);
    }
    Some(env.root.path(libkmod_rs::paths::MODULE_DIR).join(release))
}
