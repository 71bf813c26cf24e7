//! How a depmod run uses its cache (the format and what it holds: `cache`).
//!
//! A run with a cache directory ([`DepmodOptions::cache`]) reads the cache before
//! scanning; the scan takes every module file's key and reuses the facts of the
//! files whose key is unchanged (`build`). After the scan the run either
//!
//! * finds that the cache's record of the last run stands for this one
//!   ([`Session::take_record`]: same fingerprint, same files with the same keys in
//!   the same order, and every output on disk still the recorded one), and then
//!   gives the recorded messages, report and `-v` lines without ordering,
//!   resolving or rendering anything; or
//! * orders, resolves and renders as always, from the reused and parsed facts,
//!   and records the result for the next run ([`Session::save`]).
//!
//! Writing the outputs leaves every file whose contents are already right alone;
//! `modules.dep`'s modification time is then brought forward if a module file is
//! newer than it, so that `depmod -A` (which compares those times) sees the tree up
//! to date, as after kmod's depmod, which rewrites every file.

use super::DepmodOptions;
use super::build;
use super::cache::{self, Key, Memo, NewFacts, OutputRecord, Put};
use super::outputs::OUTPUTS;
use crate::diag::{Diagnostic, Level};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The files of the module directory (besides the modules) whose contents the
/// outputs depend on.
const INPUTS: [&str; 3] = [
    "modules.order",
    "modules.builtin",
    "modules.builtin.modinfo",
];

/// A run's use of its cache.
#[derive(Debug)]
pub(crate) struct Session {
    /// The cache's directory.
    pub(crate) dir: PathBuf,
    /// Everything the results depend on besides the module files.
    fingerprint: [u64; 2],
    /// The messages after the scan, for the record (None: one of them cannot be
    /// recorded).
    log: Option<Vec<(Level, Vec<u8>)>>,
    /// The recorded run that stands for this one, with the outputs' identities
    /// as found now.
    pub(crate) memo: Option<Memo>,
    /// The outputs' identities changed since they were recorded (same contents).
    refresh: bool,
}

impl Session {
    /// A session for a run that has scanned its tree (`d`).
    pub(crate) fn new(dir: &Path, opts: &DepmodOptions, d: &build::Depmod) -> Session {
        Session {
            dir: dir.to_path_buf(),
            fingerprint: fingerprint(opts, d),
            log: Some(Vec::new()),
            memo: None,
            refresh: false,
        }
    }

    /// Keep a copy of a message given after the scan.
    pub(crate) fn note(&mut self, d: &Diagnostic) {
        if d.origin != "depmod" {
            self.log = None;
        }
        if let Some(l) = &mut self.log {
            l.push((d.level, d.message.clone()));
        }
    }

    /// Whether the cache's record stands for the run `d` has scanned, with every
    /// output in the cache's directory still as recorded (then kept in `memo`).
    pub(crate) fn take_record(&mut self, d: &build::Depmod) -> bool {
        let Some(c) = d.cache.as_deref() else {
            return false;
        };
        let Some(memo) = c.memo() else {
            return false;
        };
        let same_files = d.scanned_all
            && d.scanned.len() == c.len()
            && d.scanned
                .iter()
                .enumerate()
                .all(|(k, e)| matches!(e.facts, NewFacts::Old(i) if i as usize == k));
        if memo.fingerprint != self.fingerprint
            || !same_files
            || memo.outputs.len() != OUTPUTS.len()
            || (d.opts.verbose && memo.show.is_none())
        {
            return false;
        }
        let mut memo = memo.clone();
        for (o, rec) in OUTPUTS.iter().zip(&mut memo.outputs) {
            let path = self.dir.join(o.name);
            // the identity first: a change after it changes it again
            let key = Key::stat(&path);
            if key.is_some() && key == rec.key {
                continue;
            }
            // the same length first: a file of another size is not read
            if !matches!(std::fs::metadata(&path), Ok(m) if m.is_file() && m.len() == rec.len)
                || file_digest(&path).ok() != Some(rec.digest)
            {
                return false;
            }
            rec.key = key.filter(|k| !k.racy(d.start));
            self.refresh = true;
        }
        self.memo = Some(memo);
        true
    }

    /// Write the cache for the run `d` (facts of every module file scanned, and,
    /// when `records` has every output as now written, the record of the run):
    /// only if anything changed. `touched`: `modules.dep`'s time was brought
    /// forward (its identity is not recorded).
    pub(crate) fn save(
        &self,
        d: &build::Depmod,
        records: Option<Vec<OutputRecord>>,
        touched: bool,
        suffix: &str,
        log: &mut Vec<Diagnostic>,
    ) {
        let memo = match (&self.memo, records) {
            (Some(m), _) => {
                if !self.refresh && !touched {
                    return;
                }
                Some(m.clone())
            }
            (None, Some(outputs)) => match &self.log {
                Some(l) if d.scanned_all && outputs.len() == OUTPUTS.len() => Some(Memo {
                    fingerprint: self.fingerprint,
                    log: l.clone(),
                    report: d.report.clone(),
                    show: d.opts.verbose.then(|| d.show.clone()),
                    outputs,
                }),
                _ => None,
            },
            (None, None) => None,
        };
        let memo = memo.map(|mut m| {
            if touched {
                m.outputs[0].key = None;
            }
            m
        });
        cache::write(
            &self.dir,
            &d.scanned,
            d.cache.as_deref(),
            d.parse_crcs(),
            memo.as_ref(),
            suffix,
            log,
        );
    }
}

/// Everything depmod's results depend on besides the module files, as a digest:
/// the options, the module directory and release, the parsed depmod.d, the kernel
/// symbols file and the module directory's other inputs, by content.
fn fingerprint(opts: &DepmodOptions, d: &build::Depmod) -> [u64; 2] {
    let o = &d.opts;
    let mut b = Vec::new();
    b.put_str(&o.dirname);
    b.put_str(&opts.release);
    b.put_u8(u8::from(o.sym_prefix.is_some()));
    b.put_u8(o.sym_prefix.unwrap_or(0));
    // (-v only adds lines, recorded when given: see `take_record`)
    for f in [o.print_unknown, o.check_symvers, o.warn_dups] {
        b.put_u8(u8::from(f));
    }
    b.put_u8(if opts.symvers.is_some() {
        1
    } else if opts.system_map.is_some() {
        2
    } else {
        0
    });
    b.put_digest(d.kernel_symbols.unwrap_or_default());
    d.cfg.fingerprint_into(&mut b);
    let dir = Path::new(std::ffi::OsStr::from_bytes(&o.dirname));
    for name in INPUTS {
        match file_digest(&dir.join(name)) {
            Ok(d) => {
                b.put_u8(1);
                b.put_digest(d);
            }
            Err(e) => {
                b.put_u8(0);
                b.put_u32(e.raw_os_error().unwrap_or(0) as u32);
            }
        }
    }
    cache::digest(&b)
}

/// The digest of a file's contents, read in pieces.
fn file_digest(path: &Path) -> std::io::Result<[u64; 2]> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut d = cache::Digest::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(d.finish()),
            Ok(n) => d.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Bring `<outdir>/modules.dep`'s modification time forward when a module file is
/// newer (`newest`; without it, any module file under `dir` newer by the second, as
/// `depmod -A` compares them). Whether it was touched.
///
/// The file gets the current time, or `newest` when that is later: the file system
/// stamps with a coarse clock (one tick behind at most), so a module touched with
/// the precise time an instant ago may carry a later second than "now".
pub(crate) fn refresh_dep_time(outdir: &Path, dir: &Path, newest: Option<cache::Stamp>) -> bool {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let dep = outdir.join("modules.dep");
    let Some(k) = Key::stat(&dep) else {
        return false;
    };
    let newer = match newest {
        Some(n) => n > k.mtime,
        None => super::newer(dir, k.mtime.0),
    };
    if !newer {
        return false;
    }
    let precise = match nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME) {
        Ok(t) => (t.tv_sec(), t.tv_nsec() as u32),
        Err(_) => return false,
    };
    let (sec, nsec) = precise.max(newest.unwrap_or_default());
    let at = TimeSpec::new(sec, i64::from(nsec));
    utimensat(
        nix::fcntl::AT_FDCWD,
        &dep,
        &TimeSpec::UTIME_OMIT,
        &at,
        UtimensatFlags::FollowSymlink,
    )
    .is_ok()
}
