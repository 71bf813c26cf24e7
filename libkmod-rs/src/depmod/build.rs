//! The depmod pipeline: discover modules, parse them (in parallel), resolve needed
//! symbols into dependencies, sort topologically, report cycles.
//!
//! Every decision follows kmod 34.2's depmod, including its orders: the module array
//! is kmod's 512-bucket hash order of module names, stably sorted by `modules.order`;
//! exported symbols are owned by the last module (in array order) exporting them;
//! dependencies are kept in first-use order; the topological sort is Kahn's
//! algorithm with a LIFO stack; each `modules.dep` line lists the transitive
//! dependencies by ascending topological number.

use super::cache::{Cache, Key, NewEntry, NewFacts, Put, Reader, Stamp};
use super::config::{DepmodConfig, Diagnostic, Level, msg};
use crate::elf::{Bind, ModuleElf, SparseImage};
use crate::error::{Error, strerror};
use crate::file::{ExtraRanges, ModuleFile, ReadBuffers};
use crate::shared::fxhash::FastHash;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The modules have dependency cycles (reported in [`Depmod::log`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cycles;

/// A module of the tree.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mod {
    /// Normalised module name.
    pub(crate) name: Vec<u8>,
    /// Absolute path of the file.
    pub(crate) path: Vec<u8>,
    /// Path relative to the module directory (None for external modules).
    pub(crate) relpath: Option<Vec<u8>>,
    /// `relpath` with any compression suffix removed (matches `modules.order`).
    pub(crate) uncrelpath: Option<Vec<u8>>,
    /// `alias=` values in `.modinfo` order.
    pub(crate) aliases: Vec<Vec<u8>>,
    /// `softdep=` values.
    pub(crate) softdeps: Vec<Vec<u8>>,
    /// `weakdep=` values.
    pub(crate) weakdeps: Vec<Vec<u8>>,
    /// Direct dependencies (indexes into the module array), first-use order.
    pub(crate) deps: Vec<usize>,
    /// How many modules depend on this one.
    pub(crate) users: u32,
    /// Topological number.
    pub(crate) dep_sort_idx: usize,
    /// The file's facts, parsed while scanning or found in the cache (taken by
    /// [`Depmod::load`]).
    facts: Option<Facts>,
}

/// Where a module's facts come from.
#[derive(Debug, Clone)]
enum Facts {
    /// Parsed from the file while scanning.
    Parsed(Box<Parsed>),
    /// The cache's entry (the file has not changed since).
    Cached(u32),
}

impl Mod {
    /// The path written in `modules.dep`: relative, or absolute for externals.
    #[must_use]
    pub(crate) fn dep_path(&self) -> &[u8] {
        self.relpath.as_deref().unwrap_or(&self.path)
    }
}

/// What a module file gives depmod. Symbol names are copied back to back into one
/// buffer per module (two allocations per module instead of one per symbol).
#[derive(Debug, Clone, Default)]
struct Parsed {
    names: Vec<u8>,
    /// Exported symbols: name range in `names`, CRC.
    exports: Vec<(u32, u32, u64)>,
    info: [Vec<Vec<u8>>; 3],
    needs: Option<Vec<Need>>,
    /// The CRC of each need (only when CRCs are compared).
    need_crcs: Vec<u64>,
    log: Vec<Diagnostic>,
}

/// A needed symbol: name range in [`Parsed::names`], weak binding.
#[derive(Debug, Clone, Copy)]
struct Need {
    start: u32,
    end: u32,
    weak: bool,
}

impl Parsed {
    fn name(&self, start: u32, end: u32) -> &[u8] {
        &self.names[start as usize..end as usize]
    }

    /// The facts as the cache stores them (a module whose reading gave messages is
    /// never stored). Name ranges are stored as the gap from the previous range's
    /// end and a length (both 0 or small: names are appended in order); export
    /// CRCs only with `crcs` (without, they are never compared, and read back as
    /// 0).
    fn encode(&self, crcs: bool) -> Vec<u8> {
        let needs = self.needs.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(
            self.names.len()
                + 10 * self.exports.len()
                + 3 * needs.len()
                + 8 * self.need_crcs.len()
                + 64,
        );
        let mut prev = 0u32;
        let mut range = |out: &mut Vec<u8>, start: u32, end: u32, flag: Option<bool>| {
            put_varint(out, start.wrapping_sub(prev));
            let len = end.wrapping_sub(start);
            match flag {
                Some(f) => put_varint(out, (len << 1) | u32::from(f)),
                None => put_varint(out, len),
            }
            prev = end;
        };
        out.put_str(&self.names);
        out.put_u32(self.exports.len() as u32);
        for &(start, end, crc) in &self.exports {
            range(&mut out, start, end, None);
            if crcs {
                out.put_u64(crc);
            }
        }
        for list in &self.info {
            out.put_u32(list.len() as u32);
            for v in list {
                out.put_str(v);
            }
        }
        match &self.needs {
            None => out.put_u8(0),
            Some(needs) => {
                out.put_u8(1);
                out.put_u32(needs.len() as u32);
                for n in needs {
                    range(&mut out, n.start, n.end, Some(n.weak));
                }
            }
        }
        out.put_u32(self.need_crcs.len() as u32);
        for &c in &self.need_crcs {
            out.put_u64(c);
        }
        out
    }

    /// Facts read back from the cache; None when the blob is not one
    /// [`Parsed::encode`] wrote with the same `crcs` (every name range is checked).
    pub(crate) fn decode(blob: &[u8], crcs: bool) -> Option<Parsed> {
        let mut r = Reader::new(blob);
        let names = r.str()?.to_vec();
        let mut prev = 0u32;
        let mut range = |r: &mut Reader<'_>, flag: bool| -> Option<(u32, u32, bool)> {
            let start = prev.wrapping_add(get_varint(r)?);
            let v = get_varint(r)?;
            let (len, f) = if flag {
                (v >> 1, v & 1 == 1)
            } else {
                (v, false)
            };
            let end = start.checked_add(len)?;
            if end as usize > names.len() {
                return None;
            }
            prev = end;
            Some((start, end, f))
        };
        let n = r.count(2)?;
        let mut exports = Vec::with_capacity(n);
        for _ in 0..n {
            let (start, end, _) = range(&mut r, false)?;
            let crc = if crcs { r.u64()? } else { 0 };
            exports.push((start, end, crc));
        }
        let mut info: [Vec<Vec<u8>>; 3] = Default::default();
        for list in &mut info {
            let n = r.count(4)?;
            list.reserve_exact(n);
            for _ in 0..n {
                list.push(r.str()?.to_vec());
            }
        }
        let needs = match r.u8()? {
            0 => None,
            1 => {
                let n = r.count(2)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let (start, end, weak) = range(&mut r, true)?;
                    v.push(Need { start, end, weak });
                }
                Some(v)
            }
            _ => return None,
        };
        let n = r.count(8)?;
        let mut need_crcs = Vec::with_capacity(n);
        for _ in 0..n {
            need_crcs.push(r.u64()?);
        }
        r.done().then_some(Parsed {
            names,
            exports,
            info,
            needs,
            need_crcs,
            log: Vec::new(),
        })
    }
}

/// Decode a facts blob of the cache (the fuzz target's entry): whether it is one.
#[cfg(feature = "fuzzing")]
pub(crate) fn decode_facts(blob: &[u8], crcs: bool) -> bool {
    Parsed::decode(blob, crcs).is_some()
}

/// Append `v` in LEB128 (7 bits a byte, low first).
fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A LEB128 value of at most 32 bits.
fn get_varint(r: &mut Reader<'_>) -> Option<u32> {
    let mut v = 0u32;
    for shift in [0, 7, 14, 21, 28] {
        let b = r.u8()?;
        let bits = u32::from(b & 0x7f);
        if shift == 28 && bits > 0x0f {
            return None;
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Append `name` to a names buffer; its range there.
fn add_name(names: &mut Vec<u8>, name: &[u8]) -> (u32, u32) {
    let start = names.len() as u32;
    names.extend_from_slice(name);
    (start, names.len() as u32)
}

/// What resolving one module's needed symbols gives.
#[derive(Debug, Default)]
struct Resolved {
    deps: Vec<usize>,
    log: Vec<Diagnostic>,
    show: Vec<Vec<u8>>,
    /// Needed symbols reported unknown.
    unknown: Vec<Vec<u8>>,
    /// Needed symbols reported with another CRC.
    mismatched: Vec<Vec<u8>>,
}

/// A symbol: its owner module (None = the kernel) and CRC.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    /// Owning module index in the array; None for kernel symbols.
    pub(crate) owner: Option<usize>,
    /// CRC.
    pub(crate) crc: u64,
}

/// depmod options that affect the pipeline.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// The input module directory `<root>/<moddir>/<kver>`.
    pub(crate) dirname: Vec<u8>,
    /// `-P`: a symbol prefix character.
    pub(crate) sym_prefix: Option<u8>,
    /// `-e` (with `-E`/`-F`): report unknown symbols.
    pub(crate) print_unknown: bool,
    /// `-E`: compare CRCs.
    pub(crate) check_symvers: bool,
    /// `-w`: warn about duplicate index entries.
    pub(crate) warn_dups: bool,
    /// `-v`: print `needs` lines.
    pub(crate) verbose: bool,
}

/// The state of one depmod run.
#[derive(Debug, Default)]
pub(crate) struct Depmod {
    /// Options.
    pub(crate) opts: Options,
    /// depmod.d configuration.
    pub(crate) cfg: DepmodConfig,
    /// The module array (after [`Depmod::build_array`]).
    pub(crate) mods: Vec<Mod>,
    /// Modules by name while scanning.
    by_name: HashMap<Vec<u8>, usize, FastHash>,
    /// Symbols by name.
    pub(crate) symbols: HashMap<Vec<u8>, Symbol, FastHash>,
    /// Messages in the order kmod prints them.
    pub(crate) log: Vec<Diagnostic>,
    /// Lines for stdout (`-v` "needs" lines).
    pub(crate) show: Vec<Vec<u8>>,
    /// The facts of the run as data.
    pub(crate) report: super::DepmodReport,
    /// Each module's `modules.dep` line (computed once, used by two outputs).
    dep_lines: std::sync::OnceLock<Vec<Vec<u8>>>,
    /// Module-owned symbols in kmod's order (computed once, used by two outputs).
    owned: std::sync::OnceLock<Vec<(Vec<u8>, usize)>>,
    /// The cache this run reuses facts from.
    pub(crate) cache: Option<std::sync::Arc<Cache>>,
    /// Whether module files' keys are taken while scanning.
    pub(crate) keys: bool,
    /// Whether the facts are kept for a cache (`scanned`).
    pub(crate) store: bool,
    /// When the run started (see [`Key::racy`]).
    pub(crate) start: Stamp,
    /// Every module file found, in scan order, with its key and facts (for the
    /// next cache; with `store` only).
    pub(crate) scanned: Vec<NewEntry>,
    /// Whether `scanned` holds every module file found (none unreadable, racy or
    /// with messages).
    pub(crate) scanned_all: bool,
    /// The digest of the kernel symbols file (`-E`/`-F`) read.
    pub(crate) kernel_symbols: Option<[u64; 2]>,
    /// The newest modification time of the module files scanned (with `keys`).
    pub(crate) newest: Option<Stamp>,
    /// How many module files the scan found, and how many of them had their
    /// facts in the cache.
    pub(crate) found: (usize, usize),
}

fn diag(level: Level, message: String) -> Diagnostic {
    msg(level, message)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn os(b: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(b))
}

impl Depmod {
    /// A new run.
    #[must_use]
    pub(crate) fn new(opts: Options, cfg: DepmodConfig) -> Self {
        Depmod {
            opts,
            cfg,
            ..Depmod::default()
        }
    }

    fn strip_prefix<'a>(&self, name: &'a [u8]) -> &'a [u8] {
        match (self.opts.sym_prefix, name.first()) {
            (Some(p), Some(&c)) if p == c => &name[1..],
            _ => name,
        }
    }

    fn symbol_add(&mut self, name: &[u8], prefix_skipped: bool, crc: u64, owner: Option<usize>) {
        let name = if prefix_skipped {
            name
        } else {
            self.strip_prefix(name)
        };
        let sym = Symbol { owner, crc };
        match self.symbols.get_mut(name) {
            Some(old) => *old = sym,
            None => {
                self.symbols.insert(name.to_vec(), sym);
            }
        }
    }

    fn symbol_find(&self, name: &[u8]) -> Option<&Symbol> {
        let name = name.strip_prefix(b".").unwrap_or(name);
        let name = self.strip_prefix(name);
        self.symbols.get(name)
    }

    /// The fake kernel symbols added after `-E`/`-F`.
    pub(crate) fn add_fake_syms(&mut self) {
        self.symbol_add(b"__this_module", true, 0, None);
        self.symbol_add(b"_GLOBAL_OFFSET_TABLE_", true, 0, None);
        if self.symbol_find(b"TOC.").is_none() {
            self.symbol_add(b"TOC.", true, 0, None);
        }
    }

    /// `-E Module.symvers`: kernel symbols with CRCs (lines whose 3rd field is `vmlinux`).
    pub(crate) fn load_symvers(&mut self, path: &Path) -> Result<(), i32> {
        let data = std::fs::read(path).map_err(|e| e.raw_os_error().unwrap_or(2))?;
        self.kernel_symbols = Some(super::cache::digest(&data));
        for (n, line) in lines(&data).enumerate() {
            let mut f = line
                .split(|&c| c == b' ' || c == b'\t' || c == b'\n')
                .filter(|s| !s.is_empty());
            let (Some(ver), Some(sym), Some(wh)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if wh != b"vmlinux" {
                continue;
            }
            match parse_hex(ver) {
                Some(crc) => self.symbol_add(sym, false, crc, None),
                None => self.log.push(diag(
                    Level::Err,
                    format!(
                        "{}:{} Invalid symbol version {}: {}\n",
                        path.display(),
                        n + 1,
                        lossy(ver),
                        // kmod prints a stale errno here (%m after strtoull): in
                        // practice that of a failed lookup of an optional file
                        strerror(crate::error::errno::ENOENT)
                    ),
                )),
            }
        }
        self.add_fake_syms();
        Ok(())
    }

    /// `-F System.map`: kernel symbols from `__ksymtab_*` entries.
    pub(crate) fn load_system_map(&mut self, path: &Path) -> Result<(), i32> {
        let data = std::fs::read(path).map_err(|e| e.raw_os_error().unwrap_or(2))?;
        self.kernel_symbols = Some(super::cache::digest(&data));
        for (n, line) in lines(&data).enumerate() {
            let mut it = line.splitn(3, |&c| c == b' ');
            let (Some(_), Some(_), Some(mut p)) = (it.next(), it.next(), it.next()) else {
                self.log.push(diag(
                    Level::Err,
                    format!(
                        "{}:{}: invalid line: {}\n",
                        path.display(),
                        n + 1,
                        lossy(line)
                    ),
                ));
                continue;
            };
            if let (Some(pre), Some(&c)) = (self.opts.sym_prefix, p.first())
                && pre == c
            {
                p = &p[1..];
            }
            let Some(rest) = p.strip_prefix(b"__ksymtab_") else {
                continue;
            };
            let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
            let rest = match rest.iter().position(|&c| c == b'\n') {
                Some(i) => &rest[..i],
                None => rest,
            };
            self.symbol_add(rest, true, 0, None);
        }
        self.add_fake_syms();
        Ok(())
    }

    /// All-mode discovery: the module directory, then each `external` directory.
    /// Fails (with the errno) when the module directory itself cannot be read;
    /// unreadable `external` directories are only reported.
    pub(crate) fn scan(&mut self) -> Result<(), i32> {
        self.scanned_all = self.store;
        // as many modules as last time, most likely
        let hint = self.cache.as_ref().map_or(0, |c| c.len());
        self.by_name.reserve(hint);
        self.mods.reserve(hint);
        self.scanned.reserve(hint);
        let dirname = self.opts.dirname.clone();
        self.scan_path(&dirname)?;
        let externals = self.cfg.externals.clone();
        for ext in externals {
            let _ = self.scan_path(ext.as_os_str().as_bytes());
        }
        Ok(())
    }

    fn scan_path(&mut self, dir: &[u8]) -> Result<(), i32> {
        let opened = nix::dir::Dir::open(
            os(dir),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        let rd = match opened {
            Ok(rd) => rd,
            Err(e) => {
                let errno = e as i32;
                self.log.push(diag(
                    Level::Err,
                    format!(
                        "could not open directory {}: {}\n",
                        lossy(dir),
                        strerror(errno)
                    ),
                ));
                return Err(errno);
            }
        };
        let mut prefix = dir.to_vec();
        prefix.push(b'/');
        // kmod names the directory's file descriptor in some messages: 0-2 are the
        // standard streams, then one per directory level being read
        let ctx = ScanCtx {
            cfg: &self.cfg,
            crcs: self.parse_crcs(),
            keys: self.keys,
            store: self.store,
            cache: self.cache.as_deref(),
            start: self.start,
        };
        let found = scan_dir(&ctx, rd, &prefix, 3);
        for f in found {
            match f {
                Found::File(file) => self.search_file(*file),
                Found::Message(d) => self.log.push(d),
            }
        }
        Ok(())
    }

    /// Whether CRCs are read: they are only compared with -E and -e.
    pub(crate) fn parse_crcs(&self) -> bool {
        self.opts.check_symvers && self.opts.print_unknown
    }

    /// Record the file for the next cache, and add it if it is a module that wins
    /// over any module of the same name found before.
    fn search_file(&mut self, file: FoundFile) {
        let FoundFile {
            path,
            modname,
            facts,
            key,
            encoded,
        } = file;
        self.found.0 += 1;
        self.found.1 += usize::from(matches!(facts, Facts::Cached(_)));
        if self.keys
            && let Some(k) = key
        {
            self.newest = self.newest.max(Some(k.mtime));
        }
        if self.store {
            let facts = match (&facts, encoded) {
                (Facts::Cached(i), _) => Some(NewFacts::Old(*i)),
                (Facts::Parsed(_), Some((e, d))) => Some(NewFacts::New(e, d)),
                (Facts::Parsed(_), None) => None,
            };
            match (key, facts) {
                (Some(key), Some(facts)) => self.scanned.push(NewEntry {
                    path: path.clone(),
                    key,
                    facts,
                }),
                _ => self.scanned_all = false,
            }
        }
        if let Some(&old) = self.by_name.get(&modname) {
            let wins = self
                .cfg
                .new_wins(&self.opts.dirname, &self.mods[old].path, &path, &modname);
            let old_path = &self.mods[old].path;
            let (kept, ignored) = if wins {
                (path.clone(), old_path.clone())
            } else {
                (old_path.clone(), path.clone())
            };
            self.report
                .duplicates
                .push((modname.clone(), kept, ignored));
            if !wins {
                return;
            }
            self.mods[old] = self.new_mod(modname, path);
            self.mods[old].facts = Some(facts);
            return;
        }
        let mut m = self.new_mod(modname.clone(), path);
        m.facts = Some(facts);
        self.by_name.insert(modname, self.mods.len());
        self.mods.push(m);
    }

    fn new_mod(&self, name: Vec<u8>, path: Vec<u8>) -> Mod {
        let dir = &self.opts.dirname;
        let relpath =
            (path.len() > dir.len() + 1 && path.starts_with(dir) && path[dir.len()] == b'/')
                .then(|| path[dir.len() + 1..].to_vec());
        let uncrelpath = relpath.as_ref().map(|r| {
            // kmod: the relative path cut after the module name plus 3 bytes (".ko"
            // for every ordinary file name; `x.y.ko` gives `x.y.`)
            let slash = r.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
            let base = &r[slash..];
            let stem_len = base.iter().position(|&c| c == b'.').unwrap_or(base.len());
            r[..(slash + stem_len + 3).min(r.len())].to_vec()
        });
        Mod {
            name,
            path,
            relpath,
            uncrelpath,
            ..Mod::default()
        }
    }

    /// Explicit-files mode: add one module file (absolute path). Duplicate names fail
    /// (the messages for the log, then the fatal one, as kmod prints them).
    pub(crate) fn add_file(&mut self, path: &[u8]) -> Result<(), String> {
        if let Err(e) = std::fs::metadata(os(path)) {
            return Err(format!(
                "could not create module {}: {}\n",
                lossy(path),
                strerror(e.raw_os_error().unwrap_or(2))
            ));
        }
        let Some(modname) = crate::name::path_to_modname(path) else {
            return Err(format!(
                "could not create module {}: {}\n",
                lossy(path),
                strerror(2)
            ));
        };
        if let Some(&old) = self.by_name.get(&modname) {
            let old_path = &self.mods[old].path;
            if old_path.as_slice() != path {
                self.log.push(diag(
                    Level::Err,
                    format!(
                        "kmod_module '{}' already exists with different path: new-path='{}' old-path='{}'\n",
                        lossy(&modname),
                        lossy(path),
                        lossy(old_path)
                    ),
                ));
                return Err(format!(
                    "could not create module {}: {}\n",
                    lossy(path),
                    strerror(17)
                ));
            }
            self.log.push(diag(
                Level::Err,
                format!("hash_add_unique {}: {}\n", lossy(&modname), strerror(17)),
            ));
            return Err(format!(
                "could not add module {}: {}\n",
                lossy(path),
                strerror(17)
            ));
        }
        let m = self.new_mod(modname.clone(), path.to_vec());
        self.by_name.insert(modname, self.mods.len());
        self.mods.push(m);
        Ok(())
    }

    /// A copy of this run as scanned (its array not yet ordered, its modules not
    /// yet loaded), to be finished on its own.
    pub(crate) fn fork(&self) -> Depmod {
        Depmod {
            opts: self.opts.clone(),
            cfg: self.cfg.clone(),
            mods: self.mods.clone(),
            symbols: self.symbols.clone(),
            cache: self.cache.clone(),
            start: self.start,
            kernel_symbols: self.kernel_symbols,
            ..Depmod::default()
        }
    }

    /// Order the module array: hash order of names, then `modules.order`.
    pub(crate) fn build_array(&mut self) {
        let hashed = {
            let names: Vec<&[u8]> = self.mods.iter().map(|m| m.name.as_slice()).collect();
            super::hash::iteration_order(&names, super::hash::MODULE_BUCKETS)
        };
        let dir = self.opts.dirname.clone();
        let unc: Vec<Option<&[u8]>> = hashed
            .iter()
            .map(|&i| self.mods[i].uncrelpath.as_deref())
            .collect();
        let (perm, log) = super::order::sort_order(os(&dir), &unc);
        self.log.extend(log);
        let mut order: Vec<usize> = perm.into_iter().map(|j| hashed[j]).collect();
        permute(&mut self.mods, &mut order);
        self.by_name.clear();
    }

    /// Parse every module (in parallel), then resolve symbols, dependencies and the
    /// topological order. Fails when there are dependency cycles (reported in the log).
    pub(crate) fn load(&mut self) -> Result<(), Cycles> {
        use rayon::prelude::*;
        let crcs = self.parse_crcs();
        let cache = self.cache.as_deref();
        let mut parsed: Vec<Parsed> = self
            .mods
            .par_iter_mut()
            .map(|m| match m.facts.take() {
                Some(Facts::Parsed(p)) => *p,
                // a cache whose facts cannot be read only costs the parsing
                Some(Facts::Cached(i)) => cache
                    .and_then(|c| c.facts(i))
                    .and_then(|b| Parsed::decode(b, crcs))
                    .unwrap_or_else(|| parse_module(&m.path, crcs)),
                None => parse_module(&m.path, crcs),
            })
            .collect();
        // exports, in array order (later owners replace earlier ones)
        self.symbols
            .reserve(parsed.iter().map(|p| p.exports.len()).sum::<usize>());
        for (i, p) in parsed.iter_mut().enumerate() {
            self.log.append(&mut p.log);
            let [a, s, w] = std::mem::take(&mut p.info);
            self.mods[i].aliases = a;
            self.mods[i].softdeps = s;
            self.mods[i].weakdeps = w;
            for &(start, end, crc) in &p.exports {
                self.symbol_add(p.name(start, end), false, crc, Some(i));
            }
        }
        // needed symbols, each module on its own (the symbol table is read-only now)
        let resolved: Vec<Resolved> = parsed
            .par_iter()
            .enumerate()
            .map(|(i, p)| self.resolve_needs(i, p))
            .collect();
        drop(parsed);
        self.report.modules = self.mods.len();
        self.report.aliases = self.mods.iter().map(|m| m.aliases.len()).sum();
        self.report.symbols = self.symbols.values().filter(|s| s.owner.is_some()).count();
        for (i, mut r) in resolved.into_iter().enumerate() {
            self.log.append(&mut r.log);
            let path = &self.mods[i].path;
            self.report
                .unresolved
                .extend(r.unknown.into_iter().map(|s| (path.clone(), s)));
            self.report
                .crc_mismatches
                .extend(r.mismatched.into_iter().map(|s| (path.clone(), s)));
            self.show.append(&mut r.show);
            for &d in &r.deps {
                self.mods[d].users += 1;
            }
            self.mods[i].deps = r.deps;
        }
        self.toposort()
    }

    fn resolve_needs(&self, i: usize, p: &Parsed) -> Resolved {
        let mut r = Resolved::default();
        let Some(needs) = &p.needs else {
            return r;
        };
        let m = &self.mods[i];
        for (j, need) in needs.iter().enumerate() {
            let name = p.name(need.start, need.end);
            let Some(sym) = self.symbol_find(name) else {
                if self.opts.print_unknown && !need.weak {
                    r.unknown.push(name.to_vec());
                    r.log.push(diag(
                        Level::Warning,
                        format!("{} needs unknown symbol {}\n", lossy(&m.path), lossy(name)),
                    ));
                }
                continue;
            };
            if self.parse_crcs() && Some(&sym.crc) != p.need_crcs.get(j) && !need.weak {
                r.mismatched.push(name.to_vec());
                r.log.push(diag(
                    Level::Warning,
                    format!(
                        "{} disagrees about version of symbol {}\n",
                        lossy(&m.path),
                        lossy(name)
                    ),
                ));
            }
            let Some(owner) = sym.owner else { continue };
            if r.deps.contains(&owner) {
                continue;
            }
            r.deps.push(owner);
            if self.opts.verbose {
                let mut line = m.path.clone();
                line.extend_from_slice(b" needs \"");
                line.extend_from_slice(&self.symbol_display(name));
                line.extend_from_slice(b"\": ");
                line.extend_from_slice(&self.mods[owner].path);
                line.push(b'\n');
                r.show.push(line);
            }
        }
        r
    }

    fn symbol_display(&self, name: &[u8]) -> Vec<u8> {
        // kmod prints the stored symbol's name (prefix and leading '.' stripped)
        let n = name.strip_prefix(b".").unwrap_or(name);
        self.strip_prefix(n).to_vec()
    }

    fn toposort(&mut self) -> Result<(), Cycles> {
        let n = self.mods.len();
        let mut users: Vec<u32> = self.mods.iter().map(|m| m.users).collect();
        let mut stack: Vec<usize> = (0..n).filter(|&i| users[i] == 0).collect();
        let mut sorted = 0;
        while let Some(src) = stack.pop() {
            self.mods[src].dep_sort_idx = sorted;
            sorted += 1;
            for k in 0..self.mods[src].deps.len() {
                let dst = self.mods[src].deps[k];
                users[dst] -= 1;
                if users[dst] == 0 {
                    stack.push(dst);
                }
            }
        }
        if sorted < n {
            self.report_cycles(&users);
            return Err(Cycles);
        }
        let keys: Vec<usize> = self.mods.iter().map(|m| m.dep_sort_idx).collect();
        for m in &mut self.mods {
            m.deps.sort_by_key(|&d| keys[d]);
        }
        Ok(())
    }

    /// kmod's `depmod_report_cycles`. Its list of roots is a circular list whose
    /// head is the next root: taking the head moves it to the next element, and
    /// removing another element (`kmod_list_remove_data`) makes the element after
    /// it the head. That rotation decides where the next reported cycle starts, so
    /// the same is done here on a `VecDeque` whose front is the head.
    ///
    /// kmod never finishes when a root reaches a cycle that does not contain it;
    /// that path is cut here (see below), which changes nothing where kmod ends.
    fn report_cycles(&mut self, users: &[u32]) {
        let mut roots: std::collections::VecDeque<usize> =
            (0..self.mods.len()).filter(|&i| users[i] > 0).collect();
        let remove_data = |roots: &mut std::collections::VecDeque<usize>, m: usize| {
            if let Some(p) = roots.iter().position(|&r| r == m) {
                roots.remove(p);
                if !roots.is_empty() {
                    let n = p % roots.len();
                    roots.rotate_left(n);
                }
            }
        };
        let mut visited = vec![false; self.mods.len()];
        let mut loop_set: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        // vertices: (module, parent vertex)
        while let Some(root) = roots.pop_front() {
            let mut vertices: Vec<(usize, Option<usize>)> = vec![(root, None)];
            let mut stack: Vec<usize> = vec![0];
            while let Some(v) = stack.pop() {
                let m = vertices[v].0;
                if visited[m] && m == root {
                    // the path from the root to here, root first
                    let mut chain = Vec::new();
                    let mut p = vertices[v].1;
                    while let Some(pv) = p {
                        chain.push(vertices[pv].0);
                        p = vertices[pv].1;
                    }
                    chain.reverse();
                    let mut text = Vec::new();
                    let mut names = Vec::new();
                    for &c in &chain {
                        loop_set.insert(self.mods[c].name.clone());
                        text.extend_from_slice(&self.mods[c].name);
                        text.extend_from_slice(b" -> ");
                        names.push(self.mods[c].name.clone());
                        remove_data(&mut roots, c);
                    }
                    text.extend_from_slice(&self.mods[m].name);
                    names.push(self.mods[m].name.clone());
                    self.report.cycles.push(names);
                    self.log.push(diag(
                        Level::Err,
                        format!("Cycle detected: {}\n", lossy(&text)),
                    ));
                    continue;
                }
                visited[m] = true;
                if self.mods[m].deps.is_empty() {
                    remove_data(&mut roots, m);
                    continue;
                }
                // A module already on its own path is in a cycle without the root:
                // kmod expands it again and again (it never ends, or its stack
                // assertion aborts it); here that path ends.
                let mut p = vertices[v].1;
                let mut again = false;
                while let Some(pv) = p {
                    again |= vertices[pv].0 == m;
                    p = vertices[pv].1;
                }
                if again {
                    continue;
                }
                for k in 0..self.mods[m].deps.len() {
                    let d = self.mods[m].deps[k];
                    vertices.push((d, Some(v)));
                    stack.push(vertices.len() - 1);
                }
            }
        }
        self.log.push(diag(
            Level::Err,
            format!("Found {} modules in dependency cycles!\n", loop_set.len()),
        ));
    }

    fn all_deps_stamped(&self, i: usize, stamp: &mut [usize]) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        let mut stack: Vec<usize> = self.mods[i].deps.iter().rev().copied().collect();
        while let Some(d) = stack.pop() {
            if stamp[d] == i {
                continue;
            }
            stamp[d] = i;
            out.push(d);
            stack.extend(self.mods[d].deps.iter().rev().copied());
        }
        out.sort_by_key(|&d| self.mods[d].dep_sort_idx);
        out
    }

    /// Module-owned symbols in kmod's 2048-bucket hash order: (name, owner index).
    pub(crate) fn owned_symbols(&self) -> impl Iterator<Item = (&[u8], usize)> {
        self.owned
            .get_or_init(|| {
                let owned: Vec<(&Vec<u8>, usize)> = self
                    .symbols
                    .iter()
                    .filter_map(|(k, s)| s.owner.map(|o| (k, o)))
                    .collect();
                let names: Vec<&[u8]> = owned.iter().map(|(k, _)| k.as_slice()).collect();
                super::hash::iteration_order(&names, super::hash::SYMBOL_BUCKETS)
                    .into_iter()
                    .map(|i| (owned[i].0.clone(), owned[i].1))
                    .collect()
            })
            .iter()
            .map(|(k, o)| (k.as_slice(), *o))
    }

    /// Every module's `modules.dep` line (without the newline), in array order.
    pub(crate) fn dep_lines(&self) -> &[Vec<u8>] {
        self.dep_lines.get_or_init(|| {
            let mut stamp = vec![usize::MAX; self.mods.len()];
            (0..self.mods.len())
                .map(|i| {
                    let mut line = self.mods[i].dep_path().to_vec();
                    line.push(b':');
                    for d in self.all_deps_stamped(i, &mut stamp) {
                        line.push(b' ');
                        line.extend_from_slice(self.mods[d].dep_path());
                    }
                    line
                })
                .collect()
        })
    }
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&c| c == b'\n')
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    let t = std::str::from_utf8(s).ok()?;
    let t = t.trim_start();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(t, 16).ok()
}

/// Reorder `v` in place so that its element `k` is the old element `order[k]`
/// (`order` is a permutation; it is used up).
fn permute<T>(v: &mut [T], order: &mut [usize]) {
    for start in 0..v.len() {
        if order[start] == usize::MAX {
            continue;
        }
        let mut cur = start;
        loop {
            let src = order[cur];
            order[cur] = usize::MAX;
            if src == start {
                break;
            }
            v.swap(cur, src);
            cur = src;
        }
    }
}

/// What scanning a directory finds, in kmod's order (entries in `readdir` order,
/// each directory's contents in place of its entry).
enum Found {
    /// A module file (boxed: the lists are moved up through every directory level).
    File(Box<FoundFile>),
    /// A message about an entry that could not be looked at.
    Message(Diagnostic),
}

/// A module file found by the scan.
struct FoundFile {
    path: Vec<u8>,
    modname: Vec<u8>,
    facts: Facts,
    /// Its key (when keys are taken and the file could be opened).
    key: Option<Key>,
    /// Its parsed facts encoded for the cache, with their digest, when they may
    /// be stored.
    encoded: Option<(Vec<u8>, [u64; 2])>,
}

/// What the scan needs besides the directories.
struct ScanCtx<'a> {
    cfg: &'a DepmodConfig,
    /// Parse CRCs (`-E -e`).
    crcs: bool,
    /// Take each module file's key.
    keys: bool,
    /// Encode parsed facts for the cache.
    store: bool,
    cache: Option<&'a Cache>,
    start: Stamp,
}

/// Look at one module file (`name` in the directory `fd`): its facts from the
/// cache when its key is the cached one, else parsed.
fn scan_file(
    ctx: &ScanCtx<'_>,
    fd: std::os::fd::BorrowedFd<'_>,
    path: Vec<u8>,
    name: &std::ffi::CStr,
    modname: Vec<u8>,
) -> FoundFile {
    if let Some((c, i)) = ctx.cache.and_then(|c| Some((c, c.find(&path)?)))
        && let Ok(st) = nix::sys::stat::fstatat(fd, name, nix::fcntl::AtFlags::empty())
    {
        let key = Key::of(&st);
        if c.key(i) == key {
            return FoundFile {
                path,
                modname,
                facts: Facts::Cached(i),
                key: Some(key),
                encoded: None,
            };
        }
    }
    let (parsed, key) = BUFFERS.with(|b| {
        let bufs = &mut b.borrow_mut();
        let file = ModuleFile::open_at(fd, name, os(&path).to_path_buf());
        // the key before the contents are read: a later change changes the key
        let key = match &file {
            Ok(f) if ctx.keys => nix::sys::stat::fstat(f.file()).ok().map(|st| Key::of(&st)),
            _ => None,
        };
        (parse_file(&path, file, ctx.crcs, bufs), key)
    });
    let encoded = key
        .filter(|k| ctx.store && !k.racy(ctx.start) && parsed.log.is_empty())
        .map(|_| {
            let e = parsed.encode(ctx.crcs);
            let d = super::cache::digest(&e);
            (e, d)
        });
    FoundFile {
        path,
        modname,
        facts: Facts::Parsed(Box::new(parsed)),
        key,
        encoded,
    }
}

/// Scan the directory `rd` (whose path is `prefix` without its trailing `/`), its
/// subdirectories read and its modules parsed in parallel, giving what a depth-first
/// scan finds in the same order. `dfd` is the number kmod's messages give this
/// directory's descriptor.
fn scan_dir(ctx: &ScanCtx<'_>, mut rd: nix::dir::Dir, prefix: &[u8], dfd: u32) -> Vec<Found> {
    use nix::dir::Type;
    use rayon::iter::Either;
    use rayon::prelude::*;
    use std::os::fd::AsFd;
    enum Entry {
        Message(Diagnostic),
        Dir(Vec<u8>, std::ffi::CString),
        File(Vec<u8>, std::ffi::CString, Vec<u8>),
    }
    let cfg = ctx.cfg;
    let mut listing = rd.iter();
    let entries: Vec<Entry> = listing
        .by_ref()
        .flatten()
        .filter_map(|entry| {
            let cname = entry.file_name();
            let name = cname.to_bytes();
            if cfg.is_excluded(name) {
                return None;
            }
            let mut path = prefix.to_vec();
            path.extend_from_slice(name);
            let is_dir = match entry.file_type() {
                Some(Type::File) => false,
                Some(Type::Directory) => true,
                _ => match std::fs::metadata(os(&path)) {
                    Ok(m) if m.is_file() => false,
                    Ok(m) if m.is_dir() => true,
                    Ok(m) => {
                        use std::os::unix::fs::MetadataExt;
                        return Some(Entry::Message(diag(
                            Level::Err,
                            format!(
                                "unsupported file type {}: {:o}\n",
                                lossy(&path),
                                m.mode() & 0o170_000
                            ),
                        )));
                    }
                    Err(e) => {
                        return Some(Entry::Message(diag(
                            Level::Err,
                            format!(
                                "fstatat({}, {}): {}\n",
                                dfd,
                                lossy(name),
                                strerror(e.raw_os_error().unwrap_or(2))
                            ),
                        )));
                    }
                },
            };
            if is_dir {
                return Some(Entry::Dir(path, cname.to_owned()));
            }
            if !crate::name::has_module_extension(name) {
                return None;
            }
            let modname = crate::name::path_to_modname(&path)?;
            Some(Entry::File(path, cname.to_owned(), modname))
        })
        .collect();
    // nix rewinds the directory when its iterator is dropped: a system call for
    // nothing here (the directory is read once, then closed)
    std::mem::forget(listing);
    let fd = rd.as_fd();
    entries
        .into_par_iter()
        .flat_map_iter(|e| match e {
            Entry::Message(d) => Either::Left(Some(Found::Message(d)).into_iter()),
            Entry::File(path, name, modname) => Either::Left(
                Some(Found::File(Box::new(scan_file(
                    ctx, fd, path, &name, modname,
                ))))
                .into_iter(),
            ),
            Entry::Dir(mut path, name) => {
                match nix::dir::Dir::openat(
                    fd,
                    name.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(sub) => {
                        path.push(b'/');
                        Either::Right(scan_dir(ctx, sub, &path, dfd + 1).into_iter())
                    }
                    Err(e) => Either::Left(
                        Some(Found::Message(diag(
                            Level::Err,
                            format!(
                                "openat({}, {}, O_RDONLY): {}\n",
                                dfd,
                                lossy(name.as_bytes()),
                                strerror(e as i32)
                            ),
                        )))
                        .into_iter(),
                    ),
                }
            }
        })
        .collect()
}

/// [`parse_file`] of the module at `path`.
fn parse_module(path: &[u8], crcs: bool) -> Parsed {
    BUFFERS.with(|b| parse_file(path, ModuleFile::open(os(path)), crcs, &mut b.borrow_mut()))
}

thread_local! {
    static BUFFERS: std::cell::RefCell<ReadBuffers> = std::cell::RefCell::new(ReadBuffers::default());
}

/// Sections depmod reads.
pub(crate) const NEEDED: [&[u8]; 5] = [
    b"__ksymtab_strings",
    b".modinfo",
    b".strtab",
    b".symtab",
    b"__versions",
];

/// Parse one module file (`file`: its opening) the way depmod uses it: exports
/// (`failed to load symbols` on error), `.modinfo` aliases/softdeps/weakdeps,
/// needed symbols. It reads the module's sections, then (in a plain file, with
/// `crcs`) those holding export CRCs; without `crcs` the CRCs parsed are
/// meaningless (never compared): nothing else depends on them.
fn parse_file(
    path: &[u8],
    file: Result<ModuleFile, Error>,
    crcs: bool,
    bufs: &mut ReadBuffers,
) -> Parsed {
    let file = match file {
        Ok(f) => f,
        Err(e) => return load_failed(path, None, &e),
    };
    let crc_sections: &ExtraRanges<'_> = &crate::elf::ModuleElf::crc_ranges_of;
    bufs.read_with(
        &file,
        &NEEDED,
        false,
        crcs.then_some(crc_sections),
        |image| match image {
            Ok(image) => parse_image(path, image, crcs),
            Err(e) => load_failed(path, Some(&file), &e),
        },
    )
}

/// What depmod reports for a module that could not be read. Decompression errors
/// are logged once per read, as kmod (which retries) does: three times.
fn load_failed(path: &[u8], file: Option<&ModuleFile>, e: &Error) -> Parsed {
    let mut p = Parsed::default();
    let dlog = e.logged().map(|d| d.message);
    let push_d = |p: &mut Parsed| {
        if let Some(m) = &dlog {
            p.log.push(msg(Level::Err, m.clone()));
        }
    };
    push_d(&mut p);
    p.log.push(diag(
        Level::Err,
        format!(
            "failed to load symbols from {}: {}\n",
            lossy(path),
            e.errno()
        ),
    ));
    // kmod reads the module twice more (info, needed symbols)
    if let Some(v) = file.and_then(|f| retry_errors(f, e)) {
        for m in v {
            p.log.push(msg(Level::Err, m));
        }
    } else {
        push_d(&mut p);
        push_d(&mut p);
    }
    p
}

/// Parse the image of a module that could be read (see [`parse_file`]).
fn parse_image(path: &[u8], image: SparseImage<'_>, crcs: bool) -> Parsed {
    let mut p = Parsed::default();
    let elf = match ModuleElf::parse_sparse(image) {
        Ok(e) => e,
        Err(e) => {
            p.log.push(diag(
                Level::Err,
                format!(
                    "failed to load symbols from {}: {}\n",
                    lossy(path),
                    strerror(e.errno)
                ),
            ));
            return p;
        }
    };
    SCRATCH.with(|scratch| {
        let (names, needs) = &mut *scratch.borrow_mut();
        names.clear();
        needs.clear();
        match elf.exported_symbols() {
            Ok(v) => {
                p.exports.reserve_exact(v.len());
                for s in &v {
                    let (start, end) = add_name(names, s.name);
                    p.exports.push((start, end, s.crc));
                }
            }
            Err(e) if e.errno == crate::error::errno::ENODATA => {}
            Err(e) => p.log.push(diag(
                Level::Err,
                format!(
                    "failed to load symbols from {}: {}\n",
                    lossy(path),
                    strerror(e.errno)
                ),
            )),
        }
        if let Ok(strings) = elf.modinfo_strings() {
            for s in strings {
                let (k, v) = match s.iter().position(|&c| c == b'=') {
                    Some(i) => (&s[..i], &s[i + 1..]),
                    None => (s, &b""[..]),
                };
                match k {
                    b"alias" => p.info_push(0, v),
                    b"softdep" => p.info_push(1, v),
                    b"weakdep" => p.info_push(2, v),
                    _ => {}
                }
            }
        }
        let names_len = names.len();
        let got = elf.for_each_dependency_symbol(|s| {
            let (start, end) = add_name(names, s.name);
            needs.push(Need {
                start,
                end,
                weak: s.bind == Bind::Weak,
            });
            if crcs {
                p.need_crcs.push(s.crc);
            }
        });
        if got.is_ok() {
            p.needs = Some(needs.as_slice().to_vec());
        } else {
            names.truncate(names_len);
            p.need_crcs.clear();
        }
        p.names = names.as_slice().to_vec();
    });
    p
}

thread_local! {
    /// Per-thread buffers a module's symbol names and needs are gathered in (then
    /// copied out at their exact size).
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<Need>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

/// kmod's messages for its two further reads of a broken xz module (see
/// [`crate::compress::xz_retries`]); None when the retries repeat the first
/// message (every other case, and a module over the size cap, which kmod would
/// read whole).
fn retry_errors(file: &ModuleFile, e: &Error) -> Option<Vec<Vec<u8>>> {
    #[cfg(feature = "xz")]
    if let Error::Decompress {
        origin: "xz_uncompress_belch",
        errno,
        ..
    } = e
        && errno.raw() != crate::error::errno::EFBIG
    {
        let errs = file.xz_retry_errors(2);
        return Some(
            errs.iter()
                .filter_map(|e| e.logged().map(|d| d.message))
                .collect(),
        );
    }
    let _ = (file, e);
    None
}

impl Parsed {
    fn info_push(&mut self, kind: usize, v: &[u8]) {
        self.info[kind].push(v.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::{Need, Parsed};

    fn sample() -> Parsed {
        let mut names = Vec::new();
        let mut exports = Vec::new();
        for (n, crc) in [(&b"ex_a"[..], 0x1234_5678_u64), (b"ex_bb", 9)] {
            let (s, e) = super::add_name(&mut names, n);
            exports.push((s, e, crc));
        }
        let mut needs = Vec::new();
        for (n, weak) in [
            (&b"printk"[..], false),
            (b"", true),
            (&[b'x'; 300][..], true),
        ] {
            let (start, end) = super::add_name(&mut names, n);
            needs.push(Need { start, end, weak });
        }
        Parsed {
            names,
            exports,
            info: [
                vec![b"pci:v*".to_vec(), b"fs-x".to_vec()],
                vec![b"pre: a".to_vec()],
                vec![],
            ],
            needs: Some(needs),
            need_crcs: vec![1, 2, 3],
            log: Vec::new(),
        }
    }

    fn same(a: &Parsed, b: &Parsed) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn facts_round_trip() {
        let p = sample();
        let back = Parsed::decode(&p.encode(true), true).unwrap();
        assert!(same(&p, &back), "{back:?}");
        // without CRCs, export CRCs read back as 0
        let back = Parsed::decode(&p.encode(false), false).unwrap();
        assert_eq!(back.exports[0].2, 0);
        assert_eq!(back.names, p.names);
        let mut q = Parsed::default();
        assert!(same(&q, &Parsed::decode(&q.encode(false), false).unwrap()));
        q.needs = Some(Vec::new());
        assert!(same(&q, &Parsed::decode(&q.encode(false), false).unwrap()));
        // ranges out of order are kept too
        let mut r = sample();
        r.exports.reverse();
        assert!(same(&r, &Parsed::decode(&r.encode(true), true).unwrap()));
    }

    #[test]
    fn bad_facts_are_refused() {
        let blob = sample().encode(true);
        assert!(Parsed::decode(&blob, false).is_none());
        for n in 0..blob.len() {
            assert!(Parsed::decode(&blob[..n], true).is_none(), "{n}");
        }
        // any corruption is refused or gives ranges inside the names
        for i in 0..blob.len() {
            for bit in [0x01, 0x80] {
                let mut b = blob.clone();
                b[i] ^= bit;
                if let Some(p) = Parsed::decode(&b, true) {
                    for &(s, e, _) in &p.exports {
                        assert!(s <= e && e as usize <= p.names.len());
                    }
                    for n in p.needs.iter().flatten() {
                        let _ = p.name(n.start, n.end);
                    }
                }
            }
        }
    }

    #[test]
    fn varints() {
        for v in [0, 1, 127, 128, 300, 1 << 21, u32::MAX] {
            let mut out = Vec::new();
            super::put_varint(&mut out, v);
            let mut r = super::Reader::new(&out);
            assert_eq!(super::get_varint(&mut r), Some(v));
            assert!(r.done());
        }
        // more than 32 bits, or unterminated
        for bad in [&[0xff, 0xff, 0xff, 0xff, 0x1f][..], &[0x80, 0x80]] {
            assert_eq!(super::get_varint(&mut super::Reader::new(bad)), None);
        }
    }

    #[test]
    fn permute_applies_an_order() {
        let mut v = vec!['a', 'b', 'c', 'd', 'e'];
        super::permute(&mut v, &mut [3, 0, 4, 1, 2]);
        assert_eq!(v, vec!['d', 'a', 'e', 'b', 'c']);
        let mut w = vec![1, 2, 3];
        super::permute(&mut w, &mut [0, 1, 2]);
        assert_eq!(w, vec![1, 2, 3]);
        let mut x: Vec<u8> = Vec::new();
        super::permute(&mut x, &mut []);
        assert!(x.is_empty());
    }
}
