//! The kernel's log lines from one load attempt, read from `/dev/kmsg`.
//!
//! When the kernel refuses a module, kmod says only "see dmesg". [`KmsgWatch`] lets a
//! caller show the kernel's own words instead: [`KmsgWatch::start`] opens `/dev/kmsg`
//! non-blocking and seeks to its end before the syscall, [`KmsgWatch::read_new`]
//! returns the records logged since. The kernel writes its messages about a module
//! synchronously in the syscall, so they are all there when it returns.
//!
//! Record format (`Documentation/ABI/testing/dev-kmsg`), one record per `read()`:
//!
//! ```text
//! <prefix>,<seq>,<usec>,<flags>[,...];<text>\n
//!  KEY=value\n                 (optional continuation lines, each starting with a space)
//! ```
//!
//! `prefix` is `facility << 3 | level`; facility 0 is the kernel (userspace writes to
//! `/dev/kmsg` get facility 1 or more). Non-printable bytes in `text` arrive escaped
//! (`\x0a`). `read()` fails with `EAGAIN` at the end and with `EPIPE` when records were
//! overwritten before being read (the next read goes on with the oldest kept record).
//!
//! Reading `/dev/kmsg` needs `CAP_SYSLOG` where `dmesg_restrict=1`; when it cannot be
//! opened the watch is inactive and returns nothing. Under a test [`Root`] the path is
//! a regular file: records appended to it after `start` are returned.

use crate::Root;
use crate::paths;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};

/// `EPIPE`: records were overwritten before they were read.
const EPIPE: i32 = 32;
/// The kernel's largest record (`CONSOLE_EXT_LOG_MAX`) plus room.
const READ_BUF: usize = 8192 * 2;
/// At most this many reads per call (a log flooded by another source cannot hold us).
const MAX_READS: usize = 10_000;

/// One kernel log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KmsgRecord {
    /// Syslog level (0 emergency .. 7 debug).
    pub(crate) level: u8,
    /// Syslog facility (0: the kernel itself).
    pub(crate) facility: u32,
    /// Sequence number.
    pub(crate) seq: u64,
    /// Microseconds since boot.
    pub(crate) timestamp_us: u64,
    /// The message, as escaped by the kernel, without the newline.
    pub(crate) text: String,
}

impl KmsgRecord {
    /// Logged by the kernel itself (not written to `/dev/kmsg` from userspace)?
    #[must_use]
    pub(crate) fn is_kernel(&self) -> bool {
        self.facility == 0
    }
}

/// Parse one record line (`prefix,seq,usec,flags;text`). `None` for a continuation
/// line or anything malformed.
#[must_use]
pub(crate) fn parse_record(line: &[u8]) -> Option<KmsgRecord> {
    let semi = line.iter().position(|&c| c == b';')?;
    let header = std::str::from_utf8(&line[..semi]).ok()?;
    let mut fields = header.split(',');
    let prefix: u32 = fields.next()?.parse().ok()?;
    let seq: u64 = fields.next()?.parse().ok()?;
    let timestamp_us: u64 = fields.next()?.parse().ok()?;
    let mut text = &line[semi + 1..];
    if text.last() == Some(&b'\n') {
        text = &text[..text.len() - 1];
    }
    Some(KmsgRecord {
        level: (prefix & 7) as u8,
        facility: prefix >> 3,
        seq,
        timestamp_us,
        text: String::from_utf8_lossy(text).into_owned(),
    })
}

/// Records of the kernel log logged after a point in time.
#[derive(Debug)]
pub(crate) struct KmsgWatch {
    file: Option<File>,
}

impl KmsgWatch {
    /// Open `<root>/dev/kmsg` and move to its end. Inactive when that fails.
    #[must_use]
    pub(crate) fn start(root: &Root) -> Self {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(root.path(paths::DEV_KMSG))
            .ok()
            .and_then(|mut f| f.seek(SeekFrom::End(0)).ok().map(|_| f));
        KmsgWatch { file }
    }

    /// The records logged since [`KmsgWatch::start`] (or the previous call).
    pub(crate) fn read_new(&mut self) -> Vec<KmsgRecord> {
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let mut data = Vec::new();
        let mut buf = vec![0u8; READ_BUF];
        for _ in 0..MAX_READS {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(EPIPE) => {}
                Err(_) => break,
            }
        }
        data.split(|&c| c == b'\n')
            .filter(|l| !l.is_empty() && l[0] != b' ')
            .filter_map(parse_record)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records() {
        let r = parse_record(b"3,1234,5678,-;foo: Unknown symbol bar (err -2)\n").unwrap();
        assert_eq!(r.level, 3);
        assert_eq!(r.facility, 0);
        assert_eq!(r.seq, 1234);
        assert_eq!(r.timestamp_us, 5678);
        assert_eq!(r.text, "foo: Unknown symbol bar (err -2)");
        assert!(r.is_kernel());
        let u = parse_record(b"14,2,3,-,caller=T1;hello").unwrap();
        assert_eq!((u.level, u.facility), (6, 1));
        assert!(!u.is_kernel());
        assert!(parse_record(b" SUBSYSTEM=pci").is_none());
        assert!(parse_record(b"x;y").is_none());
        assert!(parse_record(b"").is_none());
    }

    #[test]
    fn watches_a_regular_file() {
        let dir = std::env::temp_dir().join(format!("kmod-rs-kmsg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dev")).unwrap();
        let root = Root::at(&dir);
        std::fs::write(root.path("/dev/kmsg"), b"6,1,0,-;old\n").unwrap();
        let mut w = KmsgWatch::start(&root);
        assert!(w.file.is_some());
        assert!(w.read_new().is_empty());
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(root.path("/dev/kmsg"))
                .unwrap();
            f.write_all(b"4,2,10,-;new one\n SUBSYSTEM=x\n3,3,11,-;new two\n")
                .unwrap();
        }
        let got = w.read_new();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].text, "new one");
        assert_eq!(got[1].text, "new two");
        assert!(w.read_new().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            KmsgWatch::start(&Root::at("/nonexistent-kmod-rs"))
                .file
                .is_none()
        );
    }
}

#[cfg(test)]
mod host {
    use super::*;

    /// On the real `/dev/kmsg` (when this process may read it): seeking to the end and
    /// reading up to `EAGAIN` terminates at once with no old records.
    #[test]
    fn real_kmsg_reads_nothing_old_and_does_not_block() {
        let mut w = KmsgWatch::start(&Root::host());
        let t = std::time::Instant::now();
        let got = w.read_new();
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        // anything returned was logged after start (not the boot log)
        assert!(got.iter().all(|r| r.seq > 0 || r.timestamp_us > 0));
    }
}
