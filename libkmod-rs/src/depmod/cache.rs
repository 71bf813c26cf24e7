//! depmod's cache, `modules.kmod-rs-cache.bin` in the output directory: the facts
//! depmod extracted from each module file, keyed by the file's identity, and a
//! record of the last run's results, so that a run over a tree that barely changed
//! parses only the new or changed modules, and a run over an unchanged tree does
//! nothing but look.
//!
//! # What is reused, and when
//!
//! * **Facts of a module file** (what the parse step extracts: exported symbols, the
//!   `alias`/`softdep`/`weakdep` values, needed symbols with their binding, and with
//!   `-E -e` the CRCs) are reused when the file at the same path has the same
//!   [`Key`]: device, inode, size, modification and status-change times to the
//!   nanosecond. Any write to a file changes its status-change time (which no one
//!   can set back), a replaced file has another inode. Facts are only stored for a
//!   file whose status-change time is older than the run's start (read from the
//!   coarse clock the kernel stamps files with): a file written while depmod read
//!   it could otherwise keep its key with other contents. A file whose reading gave
//!   any message (a broken or unreadable module) is never stored: it is read again
//!   by every run, so its messages come again, and a passing error (memory, I/O) is
//!   never remembered.
//! * **The record of the last run** (its messages after the scan, report, `-v`
//!   lines, and each output's length, digest and file identity) stands for a new
//!   run only when everything the outputs depend on is the same: the same module
//!   files in the same scan order with the same keys (all of them with stored
//!   facts), and the same fingerprint of the rest (options but `-v`, the module
//!   directory, the parsed depmod.d, `modules.order`, `modules.builtin`,
//!   `modules.builtin.modinfo` and the `-E`/`-F` file, by content; a run with `-v`
//!   also needs a record with its lines). The outputs are then exactly the recorded
//!   ones; when each file on disk still is (same identity as recorded, or else same
//!   length and digest), nothing is rendered or written.
//! * The whole cache is ignored (with a DEBUG message) when it is missing, shorter
//!   than its header says, fails a digest, comes from another format or tool
//!   version, another byte order, or was made with other CRC settings (`-E -e`).
//!   Ignoring it only costs time: every module is then read again.
//!
//! # Layout
//!
//! Integers are in the byte order of the machine that wrote the file (the byte
//! order mark tells). Digests are 128 bits ([`digest`]). Strings are a `u32` length
//! and the bytes.
//!
//! ```text
//! header (160 bytes)
//!   0   magic "KRSCACHE"
//!   8   u32 byte order mark 0x01020304
//!  12   u32 format version
//!  16   4 × section { u64 offset, u64 length, u64 digest[2] }: META, ENTRIES, FACTS, MEMO
//! 144   u64 digest[2] of bytes 0..144
//! META
//!   str tool ("kmod-rs <version> facts <n>"), u8 CRCs parsed (-E -e)
//! ENTRIES: every module file found by the last scan, in scan order
//!   u32 count, count × { str path, key, u64 facts offset, u32 facts length,
//!                        digest of the facts }
//!   key (48 bytes): u64 device, u64 inode, u64 size, i64 mtime s, u32 mtime ns,
//!                   i64 ctime s, u32 ctime ns
//! FACTS: one blob per entry (see build.rs, Parsed::encode); its digest in the
//!   header is 0: each module's facts are checked against their own when used
//! MEMO (length 0: no record)
//!   digest fingerprint
//!   u32 n, n × message { u8 level, str text }      messages after the scan
//!   u64 modules; u32 n, n × (str, str) unresolved; u32 n, n × (str, str) CRC mismatches
//!   u32 n, n × cycle { u32 m, m × str }             the report (every field)
//!   u8 verbose, u32 n, n × str                      -v lines (when verbose)
//!   u32 n (= 11), n × output { u64 length, digest, u8 has key, key,
//!                               u32 m, m × message }
//! ```
//!
//! The file is written to a temporary name and renamed, like the outputs, after
//! them: a reader sees the old cache or the new one, and a run killed before the
//! rename leaves the old cache, whose record then disagrees with the new outputs
//! (so it does not stand) while its facts are still those of the files they name.

use crate::diag::{Diagnostic, Level};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The cache's file name in the output directory. Distributions' removal scripts
/// delete `modules.*.bin` with a kernel's module directory.
pub(crate) const CACHE_NAME: &str = "modules.kmod-rs-cache.bin";

const MAGIC: [u8; 8] = *b"KRSCACHE";
const BOM: u32 = 0x0102_0304;
/// The layout above.
const FORMAT: u32 = 2;
/// What the parse step extracts from a module (change it with `Parsed`).
const FACTS_VERSION: u32 = 1;
const SECTIONS: usize = 4;
const HEADER: usize = 16 + SECTIONS * 32 + 16;
const META: usize = 0;
const ENTRIES: usize = 1;
const FACTS: usize = 2;
const MEMO: usize = 3;
/// A larger cache is not read (a real tree's is a few MiB).
const MAX_SECTION: u64 = 1 << 30;

/// The tool that writes and reads the cache, with the version of its facts.
fn tool() -> Vec<u8> {
    format!(
        "kmod-rs {} facts {FACTS_VERSION}",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

// ---- digest -------------------------------------------------------------------

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge(acc: u64, v: u64) -> u64 {
    (acc ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4)
}

fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// XXH64 (Yann Collet's algorithm), fed in pieces.
#[derive(Debug, Clone)]
struct Xxh64 {
    seed: u64,
    v: [u64; 4],
    /// Bytes not yet making a whole 32-byte stripe.
    buf: [u8; 32],
    buf_len: usize,
    total: u64,
}

impl Xxh64 {
    fn new(seed: u64) -> Self {
        Xxh64 {
            seed,
            v: [
                seed.wrapping_add(P1).wrapping_add(P2),
                seed.wrapping_add(P2),
                seed,
                seed.wrapping_sub(P1),
            ],
            buf: [0; 32],
            buf_len: 0,
            total: 0,
        }
    }

    fn stripe(v: &mut [u64; 4], s: &[u8]) {
        v[0] = round(v[0], word(&s[0..]));
        v[1] = round(v[1], word(&s[8..]));
        v[2] = round(v[2], word(&s[16..]));
        v[3] = round(v[3], word(&s[24..]));
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.buf_len > 0 {
            let n = (32 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&data[..n]);
            self.buf_len += n;
            data = &data[n..];
            if self.buf_len < 32 {
                return;
            }
            let b = self.buf;
            Self::stripe(&mut self.v, &b);
            self.buf_len = 0;
        }
        let mut stripes = data.chunks_exact(32);
        for st in &mut stripes {
            Self::stripe(&mut self.v, st);
        }
        let rest = stripes.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    fn finish(&self) -> u64 {
        let v = self.v;
        let mut h = if self.total >= 32 {
            let mut h = v[0]
                .rotate_left(1)
                .wrapping_add(v[1].rotate_left(7))
                .wrapping_add(v[2].rotate_left(12))
                .wrapping_add(v[3].rotate_left(18));
            for x in v {
                h = merge(h, x);
            }
            h
        } else {
            self.seed.wrapping_add(P5)
        };
        h = h.wrapping_add(self.total);
        let rest = &self.buf[..self.buf_len];
        let mut words = rest.chunks_exact(8);
        for w in &mut words {
            h = (h ^ round(0, word(w)))
                .rotate_left(27)
                .wrapping_mul(P1)
                .wrapping_add(P4);
        }
        let mut rest = words.remainder();
        if rest.len() >= 4 {
            let k = u64::from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]));
            h = (h ^ k.wrapping_mul(P1))
                .rotate_left(23)
                .wrapping_mul(P2)
                .wrapping_add(P3);
            rest = &rest[4..];
        }
        for &b in rest {
            h = (h ^ u64::from(b).wrapping_mul(P5))
                .rotate_left(11)
                .wrapping_mul(P1);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(P2);
        h ^= h >> 29;
        h = h.wrapping_mul(P3);
        h ^ (h >> 32)
    }
}

#[cfg(test)]
fn xxh64(data: &[u8], seed: u64) -> u64 {
    let mut h = Xxh64::new(seed);
    h.update(data);
    h.finish()
}

/// The two seeds of [`digest`].
const SEEDS: [u64; 2] = [0, 0x6b6d_6f64_2d72_7321];

/// [`digest`] fed in pieces.
#[derive(Debug, Clone)]
pub(crate) struct Digest([Xxh64; 2]);

impl Digest {
    pub(crate) fn new() -> Self {
        Digest(SEEDS.map(Xxh64::new))
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        for h in &mut self.0 {
            h.update(data);
        }
    }

    pub(crate) fn finish(&self) -> [u64; 2] {
        [self.0[0].finish(), self.0[1].finish()]
    }
}

/// A 128-bit digest of `data` (two XXH64 with different seeds): what the cache
/// compares file contents and checks its own sections with. Not cryptographic: it
/// tells accidental changes and corruption, and whoever can write the cache can
/// write the outputs too.
#[must_use]
pub(crate) fn digest(data: &[u8]) -> [u64; 2] {
    let mut d = Digest::new();
    d.update(data);
    d.finish()
}

// ---- keys -----------------------------------------------------------------------

/// A file's identity: any change to the file (or another file at its path) changes
/// it. Stored as 48 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, u32),
    pub(crate) ctime: (i64, u32),
}

/// A point in time as the kernel stamps files: (seconds, nanoseconds).
pub(crate) type Stamp = (i64, u32);

impl Key {
    /// The key of a `stat` result.
    #[must_use]
    pub(crate) fn of(st: &nix::sys::stat::FileStat) -> Key {
        Key {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec as u32),
            ctime: (st.st_ctime, st.st_ctime_nsec as u32),
        }
    }

    /// The key of `path` (symbolic links followed).
    pub(crate) fn stat(path: &Path) -> Option<Key> {
        nix::sys::stat::stat(path).ok().map(|st| Key::of(&st))
    }

    /// Whether the file changed at or after `start` (its key could then be the
    /// same for other contents: see the module documentation).
    #[must_use]
    pub(crate) fn racy(&self, start: Stamp) -> bool {
        self.ctime >= start
    }

    fn put(&self, out: &mut Vec<u8>) {
        for v in [self.dev, self.ino, self.size, self.mtime.0 as u64] {
            out.extend_from_slice(&v.to_ne_bytes());
        }
        out.extend_from_slice(&self.mtime.1.to_ne_bytes());
        out.extend_from_slice(&(self.ctime.0 as u64).to_ne_bytes());
        out.extend_from_slice(&self.ctime.1.to_ne_bytes());
    }

    fn get(r: &mut Reader<'_>) -> Option<Key> {
        Some(Key {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mtime: (r.u64()? as i64, r.u32()?),
            ctime: (r.u64()? as i64, r.u32()?),
        })
    }
}

/// The time files written from now on will at least be stamped with: the coarse
/// real-time clock, which the kernel's file timestamps never precede.
#[must_use]
pub(crate) fn now() -> Stamp {
    use nix::time::{ClockId, clock_gettime};
    match clock_gettime(ClockId::CLOCK_REALTIME_COARSE) {
        Ok(t) => (t.tv_sec(), t.tv_nsec() as u32),
        // no clock: every file counts as racy (nothing is stored)
        Err(_) => (i64::MIN, 0),
    }
}

// ---- encoding -----------------------------------------------------------------

/// Appending native-endian values (the cache's encoding).
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    /// A length (`u32`) and the bytes.
    fn put_str(&mut self, v: &[u8]);
    fn put_digest(&mut self, d: [u64; 2]);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_ne_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_ne_bytes());
    }
    fn put_str(&mut self, v: &[u8]) {
        self.put_u32(v.len() as u32);
        self.extend_from_slice(v);
    }
    fn put_digest(&mut self, d: [u64; 2]) {
        self.put_u64(d[0]);
        self.put_u64(d[1]);
    }
}

/// A bounds-checked reader of native-endian values: every read past the end is
/// `None`.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[must_use]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        let b = self.bytes(8)?;
        Some(u64::from_ne_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    pub(crate) fn str(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }

    fn digest(&mut self) -> Option<[u64; 2]> {
        Some([self.u64()?, self.u64()?])
    }

    /// A count of items of at least `min` bytes each that the rest can hold (a
    /// corrupt count cannot make a reader reserve more than the file's size).
    pub(crate) fn count(&mut self, min: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(min.max(1))? <= self.buf.len() - self.pos).then_some(n)
    }

    /// Whether everything was read.
    #[must_use]
    pub(crate) fn done(&self) -> bool {
        self.pos == self.buf.len()
    }
}

// ---- the record of a run ------------------------------------------------------

/// One output as the last run left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OutputRecord {
    pub(crate) len: u64,
    pub(crate) digest: [u64; 2],
    /// The file's identity once it was older than a run's start.
    pub(crate) key: Option<Key>,
    /// What rendering it reported.
    pub(crate) log: Vec<(Level, Vec<u8>)>,
}

/// What a run gave after its scan, when it wrote every output (no cycles, no
/// error).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Memo {
    pub(crate) fingerprint: [u64; 2],
    /// The messages after the scan (module order, symbol resolution), all depmod's.
    pub(crate) log: Vec<(Level, Vec<u8>)>,
    pub(crate) report: super::DepmodReport,
    /// The `-v` lines, when the run was verbose (a verbose run needs them; the
    /// others stand with or without).
    pub(crate) show: Option<Vec<Vec<u8>>>,
    /// One per output, in the outputs' order.
    pub(crate) outputs: Vec<OutputRecord>,
}

fn level_code(l: Level) -> u8 {
    l.priority() as u8
}

fn level_of(c: u8) -> Option<Level> {
    Some(match c {
        2 => Level::Crit,
        3 => Level::Err,
        4 => Level::Warning,
        5 => Level::Notice,
        6 => Level::Info,
        7 => Level::Debug,
        _ => return None,
    })
}

fn put_log(out: &mut Vec<u8>, log: &[(Level, Vec<u8>)]) {
    out.put_u32(log.len() as u32);
    for (l, m) in log {
        out.put_u8(level_code(*l));
        out.put_str(m);
    }
}

fn get_log(r: &mut Reader<'_>) -> Option<Vec<(Level, Vec<u8>)>> {
    let n = r.count(5)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let l = level_of(r.u8()?)?;
        v.push((l, r.str()?.to_vec()));
    }
    Some(v)
}

fn put_pairs(out: &mut Vec<u8>, v: &[(Vec<u8>, Vec<u8>)]) {
    out.put_u32(v.len() as u32);
    for (a, b) in v {
        out.put_str(a);
        out.put_str(b);
    }
}

fn get_pairs(r: &mut Reader<'_>) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let n = r.count(8)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push((r.str()?.to_vec(), r.str()?.to_vec()));
    }
    Some(v)
}

impl Memo {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_digest(self.fingerprint);
        put_log(out, &self.log);
        // every field of the report (a new one must be stored too)
        let super::DepmodReport {
            modules,
            unresolved,
            crc_mismatches,
            cycles,
            duplicates,
            aliases,
            symbols,
        } = &self.report;
        out.put_u64(*modules as u64);
        put_pairs(out, unresolved);
        put_pairs(out, crc_mismatches);
        out.put_u32(cycles.len() as u32);
        for c in cycles {
            out.put_u32(c.len() as u32);
            for n in c {
                out.put_str(n);
            }
        }
        out.put_u32(duplicates.len() as u32);
        for (name, kept, ignored) in duplicates {
            out.put_str(name);
            out.put_str(kept);
            out.put_str(ignored);
        }
        out.put_u64(*aliases as u64);
        out.put_u64(*symbols as u64);
        out.put_u8(u8::from(self.show.is_some()));
        let show = self.show.as_deref().unwrap_or_default();
        out.put_u32(show.len() as u32);
        for s in show {
            out.put_str(s);
        }
        out.put_u32(self.outputs.len() as u32);
        for o in &self.outputs {
            out.put_u64(o.len);
            out.put_digest(o.digest);
            out.put_u8(u8::from(o.key.is_some()));
            o.key.unwrap_or_default().put(out);
            put_log(out, &o.log);
        }
    }

    fn decode(buf: &[u8]) -> Option<Memo> {
        let mut r = Reader::new(buf);
        let fingerprint = r.digest()?;
        let log = get_log(&mut r)?;
        let modules = usize::try_from(r.u64()?).ok()?;
        let unresolved = get_pairs(&mut r)?;
        let crc_mismatches = get_pairs(&mut r)?;
        let n = r.count(4)?;
        let mut cycles = Vec::with_capacity(n);
        for _ in 0..n {
            let m = r.count(4)?;
            let mut c = Vec::with_capacity(m);
            for _ in 0..m {
                c.push(r.str()?.to_vec());
            }
            cycles.push(c);
        }
        let n = r.count(12)?;
        let mut duplicates = Vec::with_capacity(n);
        for _ in 0..n {
            duplicates.push((r.str()?.to_vec(), r.str()?.to_vec(), r.str()?.to_vec()));
        }
        let aliases = usize::try_from(r.u64()?).ok()?;
        let symbols = usize::try_from(r.u64()?).ok()?;
        let verbose = r.u8()?;
        let n = r.count(4)?;
        let mut lines = Vec::with_capacity(n);
        for _ in 0..n {
            lines.push(r.str()?.to_vec());
        }
        let show = match verbose {
            0 if lines.is_empty() => None,
            1 => Some(lines),
            _ => return None,
        };
        let n = r.count(8 + 16 + 1 + 48 + 4)?;
        let mut outputs = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u64()?;
            let digest = r.digest()?;
            let has_key = r.u8()?;
            let key = Key::get(&mut r)?;
            let log = get_log(&mut r)?;
            outputs.push(OutputRecord {
                len,
                digest,
                key: match has_key {
                    0 => None,
                    1 => Some(key),
                    _ => return None,
                },
                log,
            });
        }
        if !r.done() {
            return None;
        }
        let mut report = super::DepmodReport {
            modules,
            ..super::DepmodReport::default()
        };
        report.unresolved = unresolved;
        report.crc_mismatches = crc_mismatches;
        report.cycles = cycles;
        report.duplicates = duplicates;
        report.aliases = aliases;
        report.symbols = symbols;
        Some(Memo {
            fingerprint,
            log,
            report,
            show,
            outputs,
        })
    }
}

// ---- the cache as read ----------------------------------------------------------

/// One module file of the last scan.
#[derive(Debug, Clone)]
struct Entry {
    path: std::ops::Range<usize>,
    key: Key,
    facts: std::ops::Range<usize>,
    /// The digest of its facts.
    digest: [u64; 2],
}

/// Where the sections are read from.
#[derive(Debug)]
enum Source {
    File(std::fs::File),
    #[cfg(any(test, feature = "fuzzing"))]
    Bytes(Vec<u8>),
}

impl Source {
    fn read(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let len = usize::try_from(len).ok()?;
        match self {
            #[cfg(any(test, feature = "fuzzing"))]
            Source::Bytes(b) => {
                let start = usize::try_from(offset).ok()?;
                b.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
            }
            Source::File(f) => {
                let mut buf = vec![0; len];
                f.read_exact_at(&mut buf, offset).ok()?;
                Some(buf)
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Section {
    offset: u64,
    len: u64,
    digest: [u64; 2],
}

/// A cache read back: its entries (checked when opened), its facts (read when
/// first needed, each module's checked against its digest when used), its record.
#[derive(Debug)]
pub(crate) struct Cache {
    source: Source,
    facts_section: Section,
    entries_buf: Vec<u8>,
    entries: Vec<Entry>,
    /// Entries by the hash of their path (checked against the path).
    by_path: std::collections::HashMap<u64, u32, crate::shared::fxhash::FastHash>,
    /// Entries whose path's hash an earlier entry has (looked through in turn).
    collisions: Vec<u32>,
    facts: std::sync::OnceLock<Option<Vec<u8>>>,
    memo: Option<Memo>,
}

/// Why a cache is not used (for the DEBUG message).
type Reject = &'static str;

/// The ENTRIES section, whose facts ranges must lie in a FACTS section of
/// `facts_len` bytes.
fn parse_entries(buf: &[u8], facts_len: u64) -> Option<Vec<Entry>> {
    let mut r = Reader::new(buf);
    let n = r.count(4 + 48 + 12 + 16)?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let start = r.pos + 4;
        let p = r.str()?;
        let key = Key::get(&mut r)?;
        let off = r.u64()?;
        let len = u64::from(r.u32()?);
        let digest = r.digest()?;
        let end = off.checked_add(len).filter(|&e| e <= facts_len)?;
        entries.push(Entry {
            path: start..start + p.len(),
            key,
            facts: usize::try_from(off).ok()?..usize::try_from(end).ok()?,
            digest,
        });
    }
    r.done().then_some(entries)
}

impl Cache {
    /// Read the cache in `dir`; None (and a DEBUG message) when there is none or it
    /// cannot be used. `crcs`: whether this run parses CRCs (`-E -e`).
    pub(crate) fn open(dir: &Path, crcs: bool, log: &mut Vec<Diagnostic>) -> Option<Cache> {
        let path = dir.join(CACHE_NAME);
        let why = match std::fs::File::open(&path) {
            Ok(f) => match Cache::parse(Source::File(f), crcs) {
                Ok(c) => {
                    log.push(debug(format!(
                        "using cache {} ({} module files)\n",
                        path.display(),
                        c.entries.len()
                    )));
                    return Some(c);
                }
                Err(why) => why.to_string(),
            },
            Err(e) => crate::error::strerror(e.raw_os_error().unwrap_or(5)),
        };
        log.push(debug(format!("ignoring cache {}: {why}\n", path.display())));
        None
    }

    /// A cache from bytes (for the fuzz target).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn from_bytes(data: Vec<u8>, crcs: bool) -> Result<Cache, Reject> {
        Cache::parse(Source::Bytes(data), crcs)
    }

    fn parse(source: Source, crcs: bool) -> Result<Cache, Reject> {
        let header = source.read(0, HEADER as u64).ok_or("truncated header")?;
        let mut r = Reader::new(&header);
        if r.bytes(8) != Some(&MAGIC[..]) {
            return Err("not a kmod-rs cache");
        }
        let bom = r.u32().ok_or("truncated header")?;
        if bom != BOM {
            return Err("written on a machine of another byte order");
        }
        if r.u32() != Some(FORMAT) {
            return Err("another format version");
        }
        let mut sections = [Section {
            offset: 0,
            len: 0,
            digest: [0; 2],
        }; SECTIONS];
        for s in &mut sections {
            *s = Section {
                offset: r.u64().ok_or("truncated header")?,
                len: r.u64().ok_or("truncated header")?,
                digest: r.digest().ok_or("truncated header")?,
            };
            if s.len > MAX_SECTION || s.offset > MAX_SECTION {
                return Err("section out of bounds");
            }
        }
        let body = HEADER - 16;
        if r.digest() != Some(digest(&header[..body])) {
            return Err("header digest mismatch");
        }
        let read = |s: Section| -> Result<Vec<u8>, Reject> {
            let b = source.read(s.offset, s.len).ok_or("truncated")?;
            if digest(&b) == s.digest {
                Ok(b)
            } else {
                Err("digest mismatch")
            }
        };
        let meta = read(sections[META])?;
        let mut r = Reader::new(&meta);
        if r.str() != Some(&tool()[..]) {
            return Err("written by another version");
        }
        if r.u8() != Some(u8::from(crcs)) || !r.done() {
            return Err("made with other CRC options (-E -e)");
        }
        let entries_buf = read(sections[ENTRIES])?;
        // (the facts have a digest per module, in the entries)
        let entries = parse_entries(&entries_buf, sections[FACTS].len).ok_or("bad entries")?;
        let mut by_path = std::collections::HashMap::with_capacity_and_hasher(
            entries.len(),
            crate::shared::fxhash::FastHash::default(),
        );
        let mut collisions = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let slot = by_path.entry(path_hash(&entries_buf[e.path.clone()]));
            if let std::collections::hash_map::Entry::Vacant(v) = slot {
                v.insert(i as u32);
            } else {
                collisions.push(i as u32);
            }
        }
        let memo = if sections[MEMO].len == 0 {
            None
        } else {
            Some(Memo::decode(&read(sections[MEMO])?).ok_or("bad record")?)
        };
        Ok(Cache {
            source,
            facts_section: sections[FACTS],
            entries_buf,
            entries,
            by_path,
            collisions,
            facts: std::sync::OnceLock::new(),
            memo,
        })
    }

    /// How many module files the last scan found.
    #[must_use]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry for `path` (whatever its key).
    #[must_use]
    pub(crate) fn find(&self, path: &[u8]) -> Option<u32> {
        match self.by_path.get(&path_hash(path)) {
            Some(&i) if self.path(i) == path => Some(i),
            Some(_) => self
                .collisions
                .iter()
                .copied()
                .find(|&i| self.path(i) == path),
            None => None,
        }
    }

    /// The key entry `i` was stored with.
    #[must_use]
    pub(crate) fn key(&self, i: u32) -> Key {
        self.entries[i as usize].key
    }

    /// The entry of the file at `path` if its key is still `key`.
    #[cfg(test)]
    fn lookup(&self, path: &[u8], key: &Key) -> Option<u32> {
        self.find(path).filter(|&i| self.key(i) == *key)
    }

    /// The path of entry `i`.
    fn path(&self, i: u32) -> &[u8] {
        &self.entries_buf[self.entries[i as usize].path.clone()]
    }

    /// The facts section, read on first use (None if it cannot be).
    fn facts_section(&self) -> Option<&[u8]> {
        self.facts
            .get_or_init(|| {
                let s = self.facts_section;
                self.source.read(s.offset, s.len)
            })
            .as_deref()
    }

    /// The facts blob of entry `i` and its digest, unchecked (to be copied).
    fn raw_facts(&self, i: u32) -> Option<(&[u8], [u64; 2])> {
        let e = self.entries.get(i as usize)?;
        Some((self.facts_section()?.get(e.facts.clone())?, e.digest))
    }

    /// The facts blob of entry `i`, if it can be read and has its digest.
    #[must_use]
    pub(crate) fn facts(&self, i: u32) -> Option<&[u8]> {
        self.raw_facts(i)
            .filter(|(b, d)| digest(b) == *d)
            .map(|(b, _)| b)
    }

    /// The record of the last run.
    #[must_use]
    pub(crate) fn memo(&self) -> Option<&Memo> {
        self.memo.as_ref()
    }
}

fn path_hash(path: &[u8]) -> u64 {
    let mut h = Xxh64::new(0);
    h.update(path);
    h.finish()
}

/// A DEBUG message about the cache.
pub(crate) fn debug(message: String) -> Diagnostic {
    Diagnostic::new(Level::Debug, "depmod", message)
}

// ---- writing ------------------------------------------------------------------

/// One module file of a scan, for the next cache.
#[derive(Debug, Clone)]
pub(crate) struct NewEntry {
    pub(crate) path: Vec<u8>,
    pub(crate) key: Key,
    pub(crate) facts: NewFacts,
}

/// Where an entry's facts come from.
#[derive(Debug, Clone)]
pub(crate) enum NewFacts {
    /// The old cache's entry.
    Old(u32),
    /// Freshly encoded, with its digest.
    New(Vec<u8>, [u64; 2]),
}

/// A cache holding `entries` (those whose facts are known) and `memo`, written to
/// `out`; `old` is the cache the `Old` facts come from. The facts are written from
/// where they are (no copy of the whole section is made). The number of bytes.
pub(crate) fn encode_to(
    out: &mut dyn std::io::Write,
    entries: &[NewEntry],
    old: Option<&Cache>,
    crcs: bool,
    memo: Option<&Memo>,
) -> std::io::Result<u64> {
    let mut meta = Vec::new();
    meta.put_str(&tool());
    meta.put_u8(u8::from(crcs));
    let mut ents = Vec::with_capacity(entries.len() * 160);
    let mut facts: Vec<&[u8]> = Vec::with_capacity(entries.len());
    let mut offset = 0u64;
    ents.put_u32(0);
    for e in entries {
        // an old module's facts are copied as they are: if damaged, the digest
        // tells the next run too
        let (blob, d): (&[u8], [u64; 2]) = match &e.facts {
            NewFacts::Old(i) => match old.and_then(|c| c.raw_facts(*i)) {
                Some(f) => f,
                None => continue,
            },
            NewFacts::New(b, d) => (b, *d),
        };
        ents.put_str(&e.path);
        e.key.put(&mut ents);
        ents.put_u64(offset);
        ents.put_u32(blob.len() as u32);
        ents.put_digest(d);
        offset += blob.len() as u64;
        facts.push(blob);
    }
    let n = facts.len() as u32;
    ents[..4].copy_from_slice(&n.to_ne_bytes());
    let mut rec = Vec::new();
    if let Some(m) = memo {
        m.encode(&mut rec);
    }
    seal_to(out, [&[&meta], &[&ents], &facts, &[&rec]])
}

/// [`encode_to`] into memory.
#[cfg(test)]
pub(crate) fn encode(
    entries: &[NewEntry],
    old: Option<&Cache>,
    crcs: bool,
    memo: Option<&Memo>,
) -> Vec<u8> {
    let mut out = Vec::new();
    encode_to(&mut out, entries, old, crcs, memo).unwrap();
    out
}

/// A cache file of these META, ENTRIES, FACTS and MEMO sections (each given in
/// pieces): the header (with every digest), then the sections. The number of
/// bytes written.
fn seal_to(out: &mut dyn std::io::Write, sections: [&[&[u8]]; SECTIONS]) -> std::io::Result<u64> {
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(&MAGIC);
    header.put_u32(BOM);
    header.put_u32(FORMAT);
    let mut offset = HEADER as u64;
    for (k, s) in sections.iter().enumerate() {
        let len: u64 = s.iter().map(|p| p.len() as u64).sum();
        // the facts have a digest per module (in the entries) instead
        let d = if k == FACTS {
            [0; 2]
        } else {
            let mut d = Digest::new();
            for piece in *s {
                d.update(piece);
            }
            d.finish()
        };
        header.put_u64(offset);
        header.put_u64(len);
        header.put_digest(d);
        offset += len;
    }
    let d = digest(&header);
    header.put_digest(d);
    let mut pieces: Vec<&[u8]> = vec![&header];
    pieces.extend(sections.iter().flat_map(|s| s.iter().copied()));
    write_pieces(out, &pieces)?;
    Ok(offset)
}

/// Write every piece, in order, with as few system calls as `write_vectored`
/// allows.
fn write_pieces(out: &mut dyn std::io::Write, pieces: &[&[u8]]) -> std::io::Result<()> {
    use std::io::IoSlice;
    for chunk in pieces.chunks(512) {
        let mut slices: Vec<IoSlice<'_>> = chunk
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| IoSlice::new(p))
            .collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match out.write_vectored(rest) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// [`seal_to`] into memory.
#[cfg(feature = "fuzzing")]
fn seal(sections: [&[u8]; SECTIONS]) -> Vec<u8> {
    let mut out = Vec::new();
    let [a, b, c, d] = sections;
    let _ = seal_to(&mut out, [&[a], &[b], &[c], &[d]]);
    out
}

/// Write the cache in `dir` (see [`encode_to`]): a temporary file renamed over the
/// old cache. Failures are DEBUG messages (the cache is only an optimisation).
pub(crate) fn write(
    dir: &Path,
    entries: &[NewEntry],
    old: Option<&Cache>,
    crcs: bool,
    memo: Option<&Memo>,
    suffix: &str,
    log: &mut Vec<Diagnostic>,
) {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!("{CACHE_NAME}{suffix}"));
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| encode_to(&mut f, entries, old, crcs, memo))
        .and_then(|n| std::fs::rename(&tmp, dir.join(CACHE_NAME)).map(|()| n));
    match r {
        Ok(n) => log.push(debug(format!(
            "wrote cache {} ({n} bytes)\n",
            dir.join(CACHE_NAME).display(),
        ))),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            log.push(debug(format!(
                "could not write cache {}: {}\n",
                dir.join(CACHE_NAME).display(),
                crate::error::strerror(e.raw_os_error().unwrap_or(5))
            )));
        }
    }
}

/// Every reader of the cache over `data` (the fuzz target): never a panic. The
/// data is read as a whole cache file, then as its four sections (each but the
/// last preceded by a `u32` length) sealed with valid digests, so that mutations
/// reach the section readers; and each section reader on its own.
#[cfg(feature = "fuzzing")]
pub(crate) fn exercise(data: &[u8], decode_facts: impl Fn(&[u8])) {
    let use_cache = |c: &Cache| {
        for i in 0..c.len() as u32 {
            let _ = c.find(c.path(i)).map(|j| c.key(j));
            if let Some(f) = c.facts(i) {
                decode_facts(f);
            }
        }
        let _ = c.memo().map(|m| m.outputs.len());
    };
    let mut r = Reader::new(data);
    let mut sections: [&[u8]; SECTIONS] = [&[]; SECTIONS];
    for s in sections.iter_mut().take(SECTIONS - 1) {
        let n = r.u32().unwrap_or(0) as usize;
        *s = r.bytes(n.min(r.buf.len() - r.pos)).unwrap_or_default();
    }
    sections[SECTIONS - 1] = &r.buf[r.pos..];
    // a META section that is this build's, most of the time
    let mut meta = Vec::new();
    meta.put_str(&tool());
    meta.put_u8(data.first().map_or(0, |b| b & 1));
    let sealed = seal(sections);
    let with_meta = seal([&meta, sections[1], sections[2], sections[3]]);
    for crcs in [false, true] {
        for bytes in [data, &sealed, &with_meta] {
            if let Ok(c) = Cache::from_bytes(bytes.to_vec(), crcs) {
                use_cache(&c);
            }
        }
    }
    let _ = Memo::decode(data);
    let _ = parse_entries(data, u64::MAX);
    decode_facts(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_known_values() {
        // the reference implementation's values
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a", 0), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
        assert_eq!(
            xxh64(b"Nobody inspects the spammish repetition", 0),
            0xFBCE_A83C_8A37_8BF1
        );
        let long: Vec<u8> = (0..100u8).collect();
        assert_ne!(xxh64(&long, 0), xxh64(&long[..99], 0));
        // in pieces: the same
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in [0, 1, 31, 32, 33, 64, 100, 200] {
            let whole = digest(&data[..len]);
            for cut in 0..=len {
                for cut2 in [cut, usize::midpoint(cut, len), len] {
                    let mut d = Digest::new();
                    d.update(&data[..cut]);
                    d.update(&data[cut..cut2]);
                    d.update(&data[cut2..len]);
                    assert_eq!(d.finish(), whole, "{len} {cut} {cut2}");
                }
            }
        }
    }

    fn sample_memo() -> Memo {
        let mut report = super::super::DepmodReport {
            modules: 7,
            ..Default::default()
        };
        report.unresolved = vec![(b"/a.ko".to_vec(), b"sym".to_vec())];
        report.crc_mismatches = vec![(b"/b.ko".to_vec(), b"s2".to_vec())];
        report.cycles = vec![vec![b"a".to_vec(), b"b".to_vec(), b"a".to_vec()]];
        Memo {
            fingerprint: [1, 2],
            log: vec![(Level::Warning, b"w\n".to_vec())],
            report,
            show: Some(vec![b"x needs \"y\": z\n".to_vec()]),
            outputs: vec![
                OutputRecord {
                    len: 3,
                    digest: digest(b"abc"),
                    key: Some(Key {
                        dev: 1,
                        ino: 2,
                        size: 3,
                        mtime: (4, 5),
                        ctime: (6, 7),
                    }),
                    log: vec![],
                },
                OutputRecord::default(),
            ],
        }
    }

    #[test]
    fn round_trip() {
        let memo = sample_memo();
        let entries = vec![
            NewEntry {
                path: b"/m/a.ko".to_vec(),
                key: Key {
                    dev: 9,
                    ino: 8,
                    size: 7,
                    mtime: (-1, 999_999_999),
                    ctime: (5, 4),
                },
                facts: NewFacts::New(b"facts of a".to_vec(), digest(b"facts of a")),
            },
            NewEntry {
                path: b"/m/b.ko".to_vec(),
                key: Key::default(),
                facts: NewFacts::New(Vec::new(), digest(b"")),
            },
        ];
        let bytes = encode(&entries, None, true, Some(&memo));
        let c = Cache::from_bytes(bytes.clone(), true).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.lookup(b"/m/a.ko", &entries[0].key), Some(0));
        assert_eq!(c.lookup(b"/m/a.ko", &Key::default()), None);
        assert_eq!(c.lookup(b"/m/c.ko", &Key::default()), None);
        assert_eq!(c.facts(0), Some(&b"facts of a"[..]));
        assert_eq!(c.facts(1), Some(&b""[..]));
        assert_eq!(c.memo(), Some(&memo));
        // facts copied from an old cache
        let again = encode(
            &[NewEntry {
                path: b"/m/a.ko".to_vec(),
                key: entries[0].key,
                facts: NewFacts::Old(0),
            }],
            Some(&c),
            true,
            None,
        );
        let d = Cache::from_bytes(again, true).unwrap();
        assert_eq!(d.facts(0), Some(&b"facts of a"[..]));
        assert!(d.memo().is_none());
        // other CRC options, truncations, any flipped byte: refused
        assert!(Cache::from_bytes(bytes.clone(), false).is_err());
        for n in 0..bytes.len() {
            assert!(Cache::from_bytes(bytes[..n].to_vec(), true).is_err(), "{n}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            // a module's facts are checked when used (the other module's stay
            // usable)
            if let Ok(c) = Cache::from_bytes(b, true) {
                assert!(c.facts(0).is_none(), "{i}");
                assert_eq!(c.facts(1), Some(&b""[..]), "{i}");
            }
        }
    }

    #[test]
    fn every_entry_is_found() {
        // many similar paths (FxHash, once used here, made two of a real tree's
        // paths collide), and a path stored twice: the first is found
        let mut entries: Vec<NewEntry> = (0..5000)
            .map(|i| NewEntry {
                path: format!("/tree/6.1.0-57-amd64/kernel/drivers/x/m{i}.ko").into_bytes(),
                key: Key {
                    ino: i,
                    ..Key::default()
                },
                facts: NewFacts::New(Vec::new(), digest(b"")),
            })
            .collect();
        entries.push(NewEntry {
            path: entries[7].path.clone(),
            key: Key::default(),
            facts: NewFacts::New(Vec::new(), digest(b"")),
        });
        let c = Cache::from_bytes(encode(&entries, None, false, None), false).unwrap();
        for (i, e) in entries.iter().enumerate().take(5000) {
            assert_eq!(c.lookup(&e.path, &e.key), Some(i as u32));
        }
        assert_eq!(c.find(b"/tree/none.ko"), None);
        // a hash shared by two paths: both found
        let mut c = c;
        let (a, b) = (c.entries[1].clone(), c.entries[2].clone());
        let h = path_hash(&c.entries_buf[b.path.clone()]);
        c.by_path.insert(h, 1);
        c.collisions.push(2);
        assert_eq!(c.find(&c.entries_buf[b.path.clone()]), Some(2));
        assert_eq!(c.find(&c.entries_buf[a.path.clone()]), Some(1));
    }

    #[test]
    fn other_byte_order_is_refused() {
        let mut bytes = encode(&[], None, false, None);
        bytes[8..12].copy_from_slice(&BOM.swap_bytes().to_ne_bytes());
        let d = digest(&bytes[..HEADER - 16]);
        bytes[HEADER - 16..HEADER - 8].copy_from_slice(&d[0].to_ne_bytes());
        bytes[HEADER - 8..HEADER].copy_from_slice(&d[1].to_ne_bytes());
        assert_eq!(
            Cache::from_bytes(bytes, false).err(),
            Some("written on a machine of another byte order")
        );
    }

    #[test]
    fn racy_keys() {
        let k = Key {
            ctime: (100, 5),
            ..Key::default()
        };
        assert!(k.racy((100, 5)));
        assert!(k.racy((99, 0)));
        assert!(!k.racy((100, 6)));
    }
}
