//! Building an index in memory and serialising it the way kmod 34's depmod
//! does.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
use std::hash::Hasher;

use crate::Error;
use crate::shared::fxhash::{FastHash, Fx};

use super::{
    CHILD_MAX, HEADER_SIZE, INDEX_MAGIC, INDEX_VERSION, NODE_CHILDREN, NODE_OFFSET_MASK,
    NODE_PREFIX, NODE_VALUES,
};

/// Why a key/value pair could not be added, or an index not serialised.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum BuildError {
    /// The key has a byte >= 128. kmod's depmod logs
    /// `Module index: bad character '%c'=0x%x - only 7-bit ASCII is
    /// supported:` and then indexes past its child table (undefined
    /// behaviour); the builder refuses the pair instead.
    NonAsciiKey {
        /// The offending byte (the first one).
        byte: u8,
        /// The whole key.
        key: Vec<u8>,
    },
    /// The key or the value contains a NUL byte, which the format cannot
    /// represent.
    Nul,
    /// The serialised index would need file offsets beyond the 28 bits a node
    /// reference has. Also the error of [`IndexBuilder::insert`] when the
    /// keys or the values inserted would take more than 4 GiB to store.
    TooLarge {
        /// Size the file would have (from `insert`: the bytes the builder
        /// would store).
        size: u64,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NonAsciiKey { byte, key } => write!(
                f,
                "Module index: bad character 0x{byte:x} - only 7-bit ASCII is supported:\n{}",
                String::from_utf8_lossy(key)
            ),
            BuildError::Nul => f.write_str("Module index: key or value contains a NUL byte"),
            BuildError::TooLarge { size } => write!(
                f,
                "Module index: {size} bytes is too large for 28-bit node offsets"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<BuildError> for Error {
    /// depmod's fatal message for an index it cannot build.
    fn from(e: BuildError) -> Error {
        Error::Fatal {
            message: format!("Module index: {e:?}\n").into_bytes(),
        }
    }
}

/// The first byte of `s` that is not 7-bit ASCII, if any. depmod checks both
/// keys and values with this rule and logs (with `CRIT` priority) for each
/// offender; values that fail it are still stored.
#[must_use]
pub(crate) fn first_non_ascii(s: &[u8]) -> Option<u8> {
    if s.is_ascii() {
        return None;
    }
    s.iter().copied().find(|&b| b >= CHILD_MAX)
}

/// "No entry" in an entry link.
const NIL: u32 = u32::MAX;

/// Where the root's reference goes: the header's third word.
const ROOT_SLOT: usize = 8;

/// The bytes of an insertion's record before its key: key length,
/// priority, value start and value length, each a `u32` in native order.
const REC_HEADER: usize = 16;

/// The header of an insertion's record.
#[derive(Debug, Clone, Copy)]
struct Rec {
    key_len: usize,
    priority: u32,
    /// The value is `values[value..value + value_len]`.
    value: usize,
    value_len: usize,
}

impl Rec {
    /// The header of the record at `r` of `recs`.
    fn at(recs: &[u8], r: usize) -> Rec {
        let h = &recs[r..r + REC_HEADER];
        let word = |i: usize| u32::from_ne_bytes(h[4 * i..4 * i + 4].try_into().unwrap());
        Rec {
            key_len: word(0) as usize,
            priority: word(1),
            value: word(2) as usize,
            value_len: word(3) as usize,
        }
    }

    /// The value, in the builder's `values`.
    fn value(self, values: &[u8]) -> &[u8] {
        &values[self.value..][..self.value_len]
    }
}

/// What [`IndexBuilder::insert`] needs to report duplicate pairs.
#[derive(Debug, Clone, Default)]
struct Duplicates {
    /// Hash of a (key, value) pair -> the last insertion (its number) with
    /// a distinct pair of that hash.
    by_hash: HashMap<u64, u32, FastHash>,
    /// Per insertion: its record.
    recs: Vec<u32>,
    /// Per insertion: the previous one with a distinct pair of the same
    /// hash, or [`NIL`].
    next: Vec<u32>,
}

/// Insertions `lo..hi` of sorting buffer `buf`, which share their first
/// `depth` key bytes and make the subtree of one node, whose reference goes
/// at `slot` in the output.
struct Group {
    lo: usize,
    hi: usize,
    depth: usize,
    /// Where the key bytes of the insertions' windows start (<= `depth`).
    base: usize,
    slot: usize,
    buf: usize,
}

/// An index being built: insert key/value pairs, then serialise with
/// [`IndexBuilder::to_bytes`]. Produces the
/// same bytes as kmod 34's depmod given the same insertions in the same
/// order (see the [module documentation](super) for the layout).
///
/// Inserting only records the pair: a record (key length, priority, where
/// the value is, then the key) appended to one array, the value to another.
/// The trie is made when serialising, by sorting the insertions on their
/// keys from the first byte on, one node at a time: the insertions of a
/// node are contiguous, its prefix is what all their keys share, its values
/// those whose key ends there (ascending priority, later insertions first
/// among equal priorities) and its children the runs of one next byte among
/// the others, sorted stably by that byte (a counting sort, a comparison
/// sort for small nodes). Each insertion being sorted carries a window of 8
/// bytes of its key, so that most nodes never read the records. The nodes
/// are written in pre-order as they are made, each child's reference
/// patched into its parent's child table when the child is written.
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    /// A record per insertion, in order (see [`REC_HEADER`]).
    recs: Vec<u8>,
    /// How many insertions.
    len: usize,
    /// Every value, back to back (a value equal to the previous one is not
    /// stored again).
    values: Vec<u8>,
    /// The span in `values` of the last value stored.
    last_value: (u32, u32),
    /// The total length of the values inserted (to size the output).
    value_bytes: usize,
    /// `None` when [`IndexBuilder::insert`] does not look for duplicates.
    dups: Option<Duplicates>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// The 8 bytes of `s` from `at` (zeros past its end), as a little-endian
/// word.
fn word_at(s: &[u8], at: usize) -> u64 {
    if let Some(w) = s.get(at..at + 8) {
        return u64::from_le_bytes(w.try_into().unwrap());
    }
    let mut w = [0; 8];
    let tail = s.get(at..).unwrap_or_default();
    w[..tail.len()].copy_from_slice(tail);
    u64::from_le_bytes(w)
}

/// Whether `s` has a NUL or, when `ascii`, a byte >= 128: eight bytes at a
/// time, without branches.
fn unfit(s: &[u8], ascii: bool) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let high = if ascii { HIGH } else { 0 };
    // The high bit of a byte is set in `w - ONES & !w` for a NUL (and maybe
    // for the bytes after one), never otherwise.
    let bad = |w: u64| (w.wrapping_sub(ONES) & !w & HIGH) | (w & high);
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap());
    let found = if s.len() >= 8 {
        // The last 8 bytes, which may overlap the last chunk.
        s.chunks_exact(8)
            .fold(bad(word(&s[s.len() - 8..])), |found, c| {
                found | bad(word(c))
            })
    } else {
        // The bytes, then ONES' bytes.
        let w = s
            .iter()
            .enumerate()
            .fold(ONES, |w, (i, &b)| w ^ u64::from(b ^ 1) << (8 * i));
        bad(w)
    };
    found != 0
}

/// `a == b`, without calling `memcmp` for empty strings: an empty `Vec`'s
/// pointer is dangling, and some `memcmp`s read from it (a masked load
/// that does not fault but costs hundreds of cycles).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// Append `src[start..start + len]` to `out`. Short strings are copied as a
/// block of fixed size (and the bytes past `len` cut off again): no call to
/// `memcpy`.
fn put(out: &mut Vec<u8>, src: &[u8], start: usize, len: usize) {
    const BLOCK: usize = 32;
    match src.get(start..start + BLOCK) {
        Some(block) if len <= BLOCK => {
            let block: &[u8; BLOCK] = block.try_into().unwrap();
            let at = out.len();
            out.extend_from_slice(block);
            out.truncate(at + len);
        }
        // (Not even a `memcpy` of nothing from a dangling pointer: see `same`.)
        _ if len == 0 => {}
        _ => out.extend_from_slice(&src[start..start + len]),
    }
}

/// See [`counting_sort`].
const LANES: usize = 4;

/// Sort a group's insertions and their windows (`from`) into `to` by their
/// next byte (`next`, below 128), stably, and record the runs of one byte.
/// The group is cut into [`LANES`] parts, each with its own counters
/// (`lanes`, all zeros), visited side by side: the updates of one counter
/// are then not all in a row, each waiting for the one before.
fn counting_sort(
    next: &[u8],
    (from, from_win): (&[u32], &[u64]),
    (to, to_win): (&mut [u32], &mut [u64]),
    lanes: &mut [[usize; 128]; LANES],
    runs: &mut Vec<(u8, usize, usize)>,
) {
    let part = next.len() / LANES;
    let tail = LANES * part..next.len();
    for i in 0..part {
        for (l, lane) in lanes.iter_mut().enumerate() {
            lane[usize::from(next[l * part + i] & 127)] += 1;
        }
    }
    for &b in &next[tail.clone()] {
        lanes[LANES - 1][usize::from(b & 127)] += 1;
    }
    let mut total = [0; 128];
    for lane in lanes.iter() {
        for (t, &c) in total.iter_mut().zip(lane) {
            *t += c;
        }
    }
    // Bit b: some insertion has next byte b.
    let present = |counts: &[usize]| {
        counts
            .iter()
            .enumerate()
            .fold(0u64, |set, (b, &c)| set | u64::from(c != 0) << b)
    };
    // Counters -> where each part's insertions with each byte go.
    let mut at = 0;
    for (half, mut set) in [(0, present(&total[..64])), (64, present(&total[64..]))] {
        while set != 0 {
            let b = half + set.trailing_zeros() as usize;
            set &= set - 1;
            runs.push((b as u8, at, at + total[b]));
            for lane in lanes.iter_mut() {
                (at, lane[b]) = (at + lane[b], at);
            }
        }
    }
    let mut put = |lane: &mut [usize; 128], k: usize| {
        let at = &mut lane[usize::from(next[k] & 127)];
        (to[*at], to_win[*at]) = (from[k], from_win[k]);
        *at += 1;
    };
    for i in 0..part {
        for (l, lane) in lanes.iter_mut().enumerate() {
            put(lane, l * part + i);
        }
    }
    for k in tail {
        put(&mut lanes[LANES - 1], k);
    }
    for lane in lanes.iter_mut() {
        lane.fill(0);
    }
}

impl IndexBuilder {
    /// An empty index whose [`IndexBuilder::insert`] reports duplicate pairs.
    #[must_use]
    pub fn new() -> Self {
        Self::with_duplicate_check(true)
    }

    /// An empty index; `check` says whether [`IndexBuilder::insert`] looks
    /// for duplicate pairs (without, it always returns `Ok(false)`). The
    /// check hashes every pair: depmod asks for it only with `-w`.
    #[must_use]
    pub fn with_duplicate_check(check: bool) -> Self {
        IndexBuilder {
            recs: Vec::new(),
            len: 0,
            values: Vec::new(),
            last_value: (0, 0),
            value_bytes: 0,
            dups: check.then(Duplicates::default),
        }
    }

    /// The header of the record at `r`.
    fn rec(&self, r: usize) -> Rec {
        Rec::at(&self.recs, r)
    }

    /// Add `value` with `priority` to the values of `key`. The key's values
    /// stay sorted by ascending priority, and a value is inserted *before*
    /// existing values of the same priority (as depmod does). Duplicates are
    /// kept; the result is `true` when the key already had an identical value
    /// string (depmod `-w` warns about those) and the builder checks for
    /// duplicates (see [`IndexBuilder::with_duplicate_check`]).
    ///
    /// Fails when the key has a byte >= 128 or either string contains a NUL.
    /// Values with bytes >= 128 are accepted (depmod logs about them but
    /// stores them).
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> Result<bool, Error> {
        Ok(self.add(key, value, priority)?)
    }

    fn add(&mut self, key: &[u8], value: &[u8], priority: u32) -> Result<bool, BuildError> {
        if unfit(key, true) || unfit(value, false) {
            return Err(Self::invalid(key, value));
        }
        let limit = u32::MAX as usize;
        if self.recs.len() + REC_HEADER + key.len() > limit
            || self.values.len() + value.len() > limit
        {
            return Err(BuildError::TooLarge {
                size: (self.recs.len() + self.values.len() + key.len() + value.len()) as u64,
            });
        }
        let duplicate = self.dups.is_some() && self.seen(key, value);
        let (last, last_len) = self.last_value;
        if !same(&self.values[last as usize..][..last_len as usize], value) {
            self.last_value = (self.values.len() as u32, value.len() as u32);
            self.values.extend_from_slice(value);
        }
        self.value_bytes += value.len();
        let mut header = [0; REC_HEADER];
        for (to, word) in header.chunks_exact_mut(4).zip([
            key.len() as u32,
            priority,
            self.last_value.0,
            value.len() as u32,
        ]) {
            to.copy_from_slice(&word.to_ne_bytes());
        }
        self.recs.extend_from_slice(&header);
        self.recs.extend_from_slice(key);
        self.len += 1;
        Ok(duplicate)
    }

    /// The error for a key or value [`IndexBuilder::insert`] refuses.
    #[cold]
    fn invalid(key: &[u8], value: &[u8]) -> BuildError {
        if key.contains(&0) || value.contains(&0) {
            return BuildError::Nul;
        }
        BuildError::NonAsciiKey {
            byte: first_non_ascii(key).unwrap_or_default(),
            key: key.to_vec(),
        }
    }

    /// Whether an earlier insertion has this pair; records the pair of the
    /// insertion about to be made.
    fn seen(&mut self, key: &[u8], value: &[u8]) -> bool {
        let mut h = Fx::default();
        h.write(key);
        h.write_usize(key.len());
        h.write(value);
        let IndexBuilder {
            recs,
            len,
            values,
            dups: Some(dups),
            ..
        } = self
        else {
            return false;
        };
        let id = *len as u32;
        dups.recs.push(recs.len() as u32);
        dups.next.push(NIL);
        match dups.by_hash.entry(h.finish()) {
            MapEntry::Vacant(slot) => {
                slot.insert(id);
            }
            MapEntry::Occupied(mut slot) => {
                let mut e = *slot.get();
                while e != NIL {
                    let r = dups.recs[e as usize] as usize;
                    let rec = Rec::at(recs, r);
                    if same(&recs[r + REC_HEADER..][..rec.key_len], key)
                        && same(rec.value(values), value)
                    {
                        return true;
                    }
                    e = dups.next[e as usize];
                }
                dups.next[id as usize] = *slot.get();
                slot.insert(id);
            }
        }
        false
    }

    /// Whether nothing was inserted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Serialise in kmod 34's pre-order layout (an [`Error::Fatal`] for an index
    /// too large for 28-bit node offsets).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(self.build()?)
    }

    fn build(&self) -> Result<Vec<u8>, BuildError> {
        /// Groups up to this size are sorted with a comparison sort, larger
        /// ones with a counting sort.
        const SMALL: usize = 32;
        let n = self.len;
        let mut out = Vec::with_capacity(HEADER_SIZE + self.recs.len() + self.value_bytes);
        out.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
        out.extend_from_slice(&INDEX_VERSION.to_be_bytes());
        out.extend_from_slice(&(HEADER_SIZE as u32).to_be_bytes());
        if n == 0 {
            return Ok(out);
        }
        // The insertions being sorted (their records) and their windows (8
        // bytes of the key from the group's `base`, zeros past its end), in
        // two buffers each: a group's are in one, they are sorted into the
        // other for its children.
        let mut idx = [Vec::with_capacity(n), vec![0u32; n]];
        let mut win = [Vec::with_capacity(n), vec![0u64; n]];
        let mut r = 0;
        while r < self.recs.len() {
            let key_len = self.rec(r).key_len;
            idx[0].push(r as u32);
            win[0].push(self.window(r, key_len, 0));
            r += REC_HEADER + key_len;
        }
        // Per insertion of a big group: its key's byte after the node's
        // prefix, 0 where the key ends there (keys have no NUL).
        let mut next = vec![0u8; n];
        // The counters of `counting_sort`.
        let mut lanes = [[0usize; 128]; LANES];
        let mut small: Vec<u32> = Vec::with_capacity(SMALL);
        // The sorted group's runs of one next byte: byte, start, end.
        let mut runs: Vec<(u8, usize, usize)> = Vec::new();
        let mut values: Vec<u32> = Vec::new();
        let mut pending: Vec<Group> = Vec::new();
        let mut stack = vec![Group {
            lo: 0,
            hi: n,
            depth: 0,
            base: 0,
            slot: ROOT_SLOT,
            buf: 0,
        }];
        while let Some(g) = stack.pop() {
            let ([idx_a, idx_b], [win_a, win_b]) = (&mut idx, &mut win);
            let (group, gwin, dst, dst_win) = if g.buf == 0 {
                (&idx_a[g.lo..g.hi], &mut win_a[g.lo..g.hi], idx_b, win_b)
            } else {
                (&idx_b[g.lo..g.hi], &mut win_b[g.lo..g.hi], idx_a, win_a)
            };
            let root = g.slot == ROOT_SLOT;
            if group.len() == 1 && !root {
                self.write_leaf(group[0] as usize, g.depth, g.slot, &mut out);
                continue;
            }
            // The node's key ends where its insertions' keys stop agreeing
            // (the root's prefix stays empty).
            let mut base = g.base;
            let mut end = g.depth;
            if !root {
                loop {
                    if end >= base + 8 {
                        self.refill(group, gwin, end);
                        base = end;
                    }
                    let w0 = gwin[0];
                    let diff = gwin.iter().fold(0, |d, &w| d | (w ^ w0)) >> (8 * (end - base));
                    if diff != 0 {
                        end += (diff.trailing_zeros() / 8) as usize;
                        break;
                    }
                    // All agree up to the window's end; if the first key ends
                    // before, they all end there.
                    end = base + 8;
                    let key_len = self.rec(group[0] as usize).key_len;
                    if end >= key_len {
                        end = key_len;
                        break;
                    }
                }
            }
            // The prefix, from the first window when it is there.
            let prefix_window = (g.depth >= base && end - base <= 8).then_some((gwin[0], base));
            if end >= base + 8 {
                self.refill(group, gwin, end);
                base = end;
            }
            let shift = 8 * (end - base);

            // Sort the insertions by their next byte, stably (the order of
            // insertion stays within each child and among the values), into
            // runs of one byte.
            let dst = &mut dst[g.lo..g.hi];
            let dst_win = &mut dst_win[g.lo..g.hi];
            runs.clear();
            if group.len() <= SMALL {
                // (byte, position) pairs: sorting them sorts stably.
                small.clear();
                small.extend(
                    gwin.iter()
                        .enumerate()
                        .map(|(i, &w)| u32::from((w >> shift) as u8) << 8 | i as u32),
                );
                if !small.is_sorted() {
                    small.sort_unstable();
                }
                for (j, &k) in small.iter().enumerate() {
                    let i = (k & 0xff) as usize;
                    (dst[j], dst_win[j]) = (group[i], gwin[i]);
                    let b = (k >> 8) as u8;
                    match runs.last_mut() {
                        Some(run) if run.0 == b => run.2 += 1,
                        _ => runs.push((b, j, j + 1)),
                    }
                }
            } else {
                let next = &mut next[g.lo..g.hi];
                let mut sorted = true;
                let mut prev = 0;
                for (next, &w) in next.iter_mut().zip(gwin.iter()) {
                    let b = (w >> shift) as u8;
                    *next = b;
                    sorted &= prev <= b;
                    prev = b;
                }
                if sorted {
                    dst.copy_from_slice(group);
                    dst_win.copy_from_slice(gwin);
                    let mut lo = 0;
                    for hi in 1..=next.len() {
                        if hi == next.len() || next[hi] != next[lo] {
                            runs.push((next[lo], lo, hi));
                            lo = hi;
                        }
                    }
                } else {
                    counting_sort(next, (group, gwin), (dst, dst_win), &mut lanes, &mut runs);
                }
            }
            let nvalues = match runs.first() {
                Some(&(0, _, hi)) => hi,
                _ => 0,
            };
            let arcs = &runs[usize::from(nvalues > 0)..];

            let mut mask = 0;
            if end > g.depth {
                mask |= NODE_PREFIX;
            }
            if !arcs.is_empty() {
                mask |= NODE_CHILDREN;
            }
            if nvalues > 0 {
                mask |= NODE_VALUES;
            }
            let node_ref = out.len() as u32 | mask;
            out[g.slot..g.slot + 4].copy_from_slice(&node_ref.to_be_bytes());
            if end > g.depth {
                match prefix_window {
                    Some((w, at)) => {
                        let len = out.len() + end - g.depth;
                        out.extend_from_slice(&(w >> (8 * (g.depth - at))).to_le_bytes());
                        out.truncate(len);
                    }
                    None => put(
                        &mut out,
                        &self.recs,
                        group[0] as usize + REC_HEADER + g.depth,
                        end - g.depth,
                    ),
                }
                out.push(0);
            }
            let table = out.len() + 2;
            let first_arc = arcs.first().map_or(0, |run| usize::from(run.0));
            if let Some(&(last_arc, _, _)) = arcs.last() {
                out.push(first_arc as u8);
                out.push(last_arc);
                let len = out.len() + 4 * (usize::from(last_arc) - first_arc + 1);
                if len - out.len() <= 64 {
                    // As `put` does: a fixed-size copy, cut.
                    out.extend_from_slice(&[0; 64]);
                    out.truncate(len);
                } else {
                    out.resize(len, 0);
                }
            }
            if nvalues > 0 {
                // Insertion order -> ascending priority, the later insertion
                // first among equal priorities.
                values.clear();
                values.extend(dst[..nvalues].iter().rev());
                if nvalues > 1 {
                    values.sort_by_key(|&r| self.rec(r as usize).priority);
                }
                out.extend_from_slice(&(nvalues as u32).to_be_bytes());
                for &r in &values {
                    self.write_value(self.rec(r as usize), &mut out);
                }
            }
            // One child per arc byte, in order: leaves up to the first other
            // child are written now, the rest are pushed last first so that
            // they are written in order.
            for &(b, lo, hi) in arcs {
                let slot = table + 4 * (usize::from(b) - first_arc);
                if hi - lo == 1 && pending.is_empty() {
                    self.write_leaf(dst[lo] as usize, end + 1, slot, &mut out);
                } else {
                    pending.push(Group {
                        lo: g.lo + lo,
                        hi: g.lo + hi,
                        depth: end + 1,
                        base,
                        slot,
                        buf: 1 - g.buf,
                    });
                }
            }
            stack.extend(pending.drain(..).rev());
        }
        if out.len() > NODE_OFFSET_MASK as usize {
            return Err(BuildError::TooLarge {
                size: out.len() as u64,
            });
        }
        Ok(out)
    }

    /// The 8 bytes from `base` of the key (of length `key_len`) of the
    /// record at `r`, as a little-endian word, zeros past the key's end.
    fn window(&self, r: usize, key_len: usize, base: usize) -> u64 {
        let w = word_at(&self.recs, r + REC_HEADER + base);
        match key_len - base {
            rest @ 0..8 => w & ((1 << (8 * rest)) - 1),
            _ => w,
        }
    }

    /// Move the windows of the insertions of `group` to `base`.
    fn refill(&self, group: &[u32], win: &mut [u64], base: usize) {
        for (w, &r) in win.iter_mut().zip(group) {
            let r = r as usize;
            *w = self.window(r, self.rec(r).key_len, base);
        }
    }

    /// Write the leaf of the record at `r` (the rest of its key after
    /// `depth`, one value) and its reference at `slot`.
    fn write_leaf(&self, r: usize, depth: usize, slot: usize, out: &mut Vec<u8>) {
        let rec = self.rec(r);
        let prefix_len = rec.key_len - depth;
        let mask = NODE_VALUES | if prefix_len == 0 { 0 } else { NODE_PREFIX };
        let node_ref = out.len() as u32 | mask;
        out[slot..slot + 4].copy_from_slice(&node_ref.to_be_bytes());
        if prefix_len != 0 {
            put(out, &self.recs, r + REC_HEADER + depth, prefix_len);
            out.push(0);
        }
        out.extend_from_slice(&1u32.to_be_bytes());
        self.write_value(rec, out);
    }

    /// Write a value: priority, string, NUL.
    fn write_value(&self, rec: Rec, out: &mut Vec<u8>) {
        out.extend_from_slice(&rec.priority.to_be_bytes());
        put(out, &self.values, rec.value, rec.value_len);
        out.push(0);
    }

    /// Serialise in the post-order layout of kmod 33 and older (children
    /// before their parent, root last): the nodes of
    /// [`IndexBuilder::to_bytes`] rewritten in that order. Only used to test
    /// that the reader handles old files.
    #[cfg(test)]
    pub(crate) fn to_bytes_postorder(&self) -> Vec<u8> {
        fn word(b: &[u8], at: usize) -> u32 {
            u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
        }
        fn nul(b: &[u8], at: usize) -> usize {
            at + b[at..].iter().position(|&c| c == 0).unwrap()
        }
        /// Copy the node `node_ref` refers to in `pre` (and its subtree) to
        /// `out`; its reference there.
        fn write(pre: &[u8], node_ref: u32, out: &mut Vec<u8>) -> u32 {
            let flags = node_ref & !NODE_OFFSET_MASK;
            let mut at = (node_ref & NODE_OFFSET_MASK) as usize;
            let mut prefix: &[u8] = &[];
            if flags & NODE_PREFIX != 0 {
                prefix = &pre[at..nul(pre, at)];
                at += prefix.len() + 1;
            }
            let mut table = Vec::new();
            let mut first = 0;
            if flags & NODE_CHILDREN != 0 {
                first = pre[at];
                let last = pre[at + 1];
                at += 2;
                for _ in first..=last {
                    let child = word(pre, at);
                    table.push(if child == 0 {
                        0
                    } else {
                        write(pre, child, out)
                    });
                    at += 4;
                }
            }
            let values = at;
            if flags & NODE_VALUES != 0 {
                at += 4;
                for _ in 0..word(pre, values) {
                    at = nul(pre, at + 4) + 1;
                }
            }
            let offset = out.len() as u32;
            if !prefix.is_empty() {
                out.extend_from_slice(prefix);
                out.push(0);
            }
            if !table.is_empty() {
                out.push(first);
                out.push(first + (table.len() - 1) as u8);
                for r in table {
                    out.extend_from_slice(&r.to_be_bytes());
                }
            }
            out.extend_from_slice(&pre[values..at]);
            offset | flags
        }
        let pre = self.to_bytes().unwrap();
        let mut out = pre[..HEADER_SIZE].to_vec();
        let root = write(&pre, word(&pre, ROOT_SLOT), &mut out);
        out[ROOT_SLOT..HEADER_SIZE].copy_from_slice(&root.to_be_bytes());
        out
    }
}
