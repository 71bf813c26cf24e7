//! The system log as glibc's `syslog(3)` writes it, without libc (the tools'
//! `-s/--syslog`): one datagram `<pri><ident>: <msg>` to `/dev/log`, connected at the
//! first message; if that fails (no syslog daemon), the message goes to
//! `/dev/console` (`LOG_CONS`). Unlike glibc the datagram carries no timestamp:
//! every receiver (journald, rsyslog, busybox syslogd) then stamps it with its own
//! clock in its own time zone, which is what glibc's local-time stamp is for,
//! without reading the time zone database here.

use libkmod_rs::Root;
use std::cell::RefCell;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// The local syslog socket.
const DEV_LOG: &str = "/dev/log";
/// The console, where messages go when `/dev/log` cannot take them (`LOG_CONS`).
const DEV_CONSOLE: &str = "/dev/console";
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

/// A connection to the system log (`openlog(ident, LOG_CONS, LOG_DAEMON)`).
#[derive(Debug)]
pub struct Syslog {
    ident: String,
    dev_log: PathBuf,
    console: PathBuf,
    sock: RefCell<Option<UnixDatagram>>,
}

impl Syslog {
    /// A log for `ident`, at `<root>/dev/log`.
    #[must_use]
    pub fn open(ident: &str, root: &Root) -> Self {
        Syslog {
            ident: ident.to_string(),
            dev_log: root.path(DEV_LOG),
            console: root.path(DEV_CONSOLE),
            sock: RefCell::new(None),
        }
    }

    fn connect(&self) -> Option<UnixDatagram> {
        let s = UnixDatagram::unbound().ok()?;
        s.connect(&self.dev_log).ok()?;
        Some(s)
    }

    /// Send `msg` at syslog priority `level`.
    pub fn send(&self, level: i32, msg: &[u8]) {
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
