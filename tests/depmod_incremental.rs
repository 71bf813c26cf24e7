//! Incremental depmod: the cache (`modules.kmod-rs-cache.bin`), outputs left alone
//! when their contents do not change, and `depmod --check`.
//!
//! The main test runs seeded random sequences of changes on copies of part of two
//! real trees (bookworm amd64, plain `.ko`, with `-e -E Module.symvers -vvv`;
//! trixie amd64, `.ko.xz`, with `-e -F System.map`): modules added (from the rest of
//! the tree, or synthetic), removed, touched, rewritten in place with other contents
//! of the same size and the same modification time, renamed, moved, duplicated;
//! depmod.d, `modules.order` and the `-E`/`-F` file edited; the cache corrupted or
//! truncated; an index damaged or deleted; kmod 34.2's depmod run in place. After
//! each sequence:
//!
//! * a full run from scratch (ours, `--no-cache`, into an empty output root) gives
//!   the expected outputs, messages and status;
//! * `depmod --check` (writing nothing) lists exactly the outputs that differ from
//!   them, with status 1, or none with status 0;
//! * the incremental run (ours, with its cache) gives the same status, messages
//!   (WARNING and ERROR lines), `-v` lines and outputs, byte for byte, leaves every
//!   output whose contents did not change alone (same inode and time, but
//!   `modules.dep`'s time, brought forward when a module is newer), and leaves
//!   `depmod -A` seeing the tree up to date;
//! * kmod 34.2's depmod from scratch gives the same outputs, status and messages
//!   (after every other sequence on `.ko.xz`, whose decompression is this test's
//!   largest cost);
//! * `--check` then answers "up to date".
//!
//! `KMOD_RS_INCR_SEED` changes the seed, `KMOD_RS_INCR_SEQUENCES` the number of
//! sequences per tree (default 105).

use crate::support::ko::Ko;
use crate::support::*;
use object::{Architecture, Endianness};
use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The parts of each tree copied (about 300 plain modules, 220 `.ko.xz`: decompressing
/// is what a full run spends its time on), and those modules are added from.
const PLAIN_SUBSET: &[&str] = &[
    "kernel/fs",
    "kernel/lib",
    "kernel/crypto",
    "kernel/drivers/md",
    "kernel/drivers/block",
];
const XZ_SUBSET: &[&str] = &[
    "kernel/lib",
    "kernel/crypto",
    "kernel/drivers/md",
    "kernel/drivers/block",
    "kernel/fs/nls",
    "kernel/fs/fat",
    "kernel/fs/isofs",
    "kernel/fs/udf",
    "kernel/fs/nfs",
    "kernel/fs/netfs",
    "kernel/net/sunrpc",
];
const POOL: [&str; 2] = ["kernel/net/sched", "kernel/drivers/net/ethernet/intel"];

fn os(s: impl AsRef<OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

fn is_module(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.ends_with(".ko") || s.ends_with(".ko.xz")
}

/// Every module file under `dir`, sorted.
fn modules_under(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    walk(dir, &mut v);
    v.retain(|p| is_module(p));
    v.sort();
    v
}

type Outputs = Vec<Option<Vec<u8>>>;

fn read_outputs(dir: &Path) -> Outputs {
    DEPMOD_OUTPUTS
        .iter()
        .map(|n| std::fs::read(dir.join(n)).ok())
        .collect()
}

/// Each output's inode and modification time.
fn identities(dir: &Path) -> Vec<Option<(u64, SystemTime)>> {
    DEPMOD_OUTPUTS
        .iter()
        .map(|n| {
            std::fs::metadata(dir.join(n))
                .ok()
                .map(|m| (m.ino(), m.modified().unwrap()))
        })
        .collect()
}

/// stderr without the DEBUG and INFO lines (which differ by design: kmod's
/// per-module DEBUG lines, the cache's, addresses in libkmod's INFO lines).
fn messages(stderr: &[u8]) -> Vec<u8> {
    stderr
        .split_inclusive(|&c| c == b'\n')
        .filter(|l| !l.starts_with(b"depmod: DEBUG: ") && !l.starts_with(b"depmod: INFO: "))
        .flatten()
        .copied()
        .collect()
}

fn set_times(p: &Path, atime: SystemTime, mtime: SystemTime) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_times(
        std::fs::FileTimes::new()
            .set_accessed(atime)
            .set_modified(mtime),
    )
    .unwrap();
}

fn xz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let stream =
        liblzma::stream::Stream::new_easy_encoder(6, liblzma::stream::Check::Crc32).unwrap();
    let mut w = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

/// One working tree and how depmod is run on it.
struct Work<'o> {
    o: &'o Oracle,
    name: String,
    kver: String,
    tmp: PathBuf,
    /// The root: `<root>/lib/modules/<kver>`.
    root: PathBuf,
    dir: PathBuf,
    /// The depmod.d directory given with `-C`.
    conf: PathBuf,
    /// The `-E` or `-F` file.
    syms: PathBuf,
    syms_flag: &'static str,
    verbose: bool,
    xz: bool,
    /// Modules of the source tree outside the subset.
    pool: Vec<PathBuf>,
    /// Symbols exported by the subset (for synthetic modules to need).
    exported: Vec<String>,
    /// Synthetic modules in the tree: relative path and the seed of its contents.
    synthetic: Vec<(PathBuf, u64)>,
    rng: Rng,
    n: usize,
}

/// What a run gave.
struct Result_ {
    run: Run,
    outputs: Outputs,
}

impl<'o> Work<'o> {
    fn new(o: &'o Oracle, name: &str, tmp: &Path, seed: u64) -> Work<'o> {
        let t = o.tree(name);
        let xz = name.starts_with("trixie");
        let tmp = tmp.join(name);
        let root = tmp.join("root");
        let dir = root.join("lib/modules").join(&t.kver);
        std::fs::create_dir_all(&dir).unwrap();
        // real copies: files are rewritten in place
        for sub in if xz { XZ_SUBSET } else { PLAIN_SUBSET } {
            std::fs::create_dir_all(dir.join(sub).parent().unwrap()).unwrap();
            let st = Command::new("cp")
                .arg("-a")
                .arg(t.moddir().join(sub))
                .arg(dir.join(sub).parent().unwrap())
                .status()
                .unwrap();
            assert!(st.success());
        }
        for f in [
            "modules.order",
            "modules.builtin",
            "modules.builtin.modinfo",
        ] {
            std::fs::copy(t.moddir().join(f), dir.join(f)).unwrap();
        }
        let mut pool = Vec::new();
        for sub in POOL {
            pool.extend(modules_under(&t.moddir().join(sub)));
        }
        // the kernel's symbols: what the subset needs and does not export
        let mut needed = std::collections::BTreeMap::new();
        let mut exported = BTreeSet::new();
        for m in modules_under(&dir) {
            let img = libkmod_rs::ModuleImage::open(&m).unwrap();
            for s in img.exports().unwrap_or_default() {
                exported.insert(String::from_utf8_lossy(&s.name).into_owned());
            }
            for s in img.versions().unwrap_or_default() {
                needed.insert(String::from_utf8_lossy(&s.name).into_owned(), s.crc);
            }
        }
        let kernel: Vec<(&String, &u64)> = needed
            .iter()
            .filter(|(n, _)| !exported.contains(*n))
            .collect();
        let conf = tmp.join("depmod.d");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("00.conf"), "search updates built-in\n").unwrap();
        let (syms, syms_flag) = if xz {
            let p = tmp.join("System.map");
            let mut text = String::new();
            for (i, (n, _)) in kernel.iter().enumerate() {
                // one in ten left out: "needs unknown symbol"
                if i % 10 != 3 {
                    let _ = writeln!(text, "ffffffff81{i:06x} r __ksymtab_{n}");
                }
            }
            std::fs::write(&p, text).unwrap();
            (p, "-F")
        } else {
            let p = tmp.join("Module.symvers");
            let mut text = String::new();
            for (i, (n, crc)) in kernel.iter().enumerate() {
                // one in ten with another CRC: "disagrees about version"
                let crc = if i % 10 == 7 { *crc ^ 0x55 } else { **crc };
                let _ = writeln!(text, "0x{crc:08x}\t{n}\tvmlinux\tEXPORT_SYMBOL");
            }
            std::fs::write(&p, text).unwrap();
            (p, "-E")
        };
        Work {
            o,
            name: name.to_string(),
            kver: t.kver.clone(),
            tmp,
            root,
            dir,
            conf,
            syms,
            syms_flag,
            verbose: !xz,
            xz,
            pool,
            exported: exported.into_iter().collect(),
            synthetic: Vec::new(),
            rng: Rng(seed | 1),
            n: 0,
        }
    }

    fn pick(&mut self, n: usize) -> usize {
        (self.rng.next() % n.max(1) as u64) as usize
    }

    fn modules(&self) -> Vec<PathBuf> {
        modules_under(&self.dir)
    }

    /// depmod's arguments, with an output root.
    fn args(&self, outroot: Option<&Path>) -> Vec<OsString> {
        let mut a = vec![os("-e"), os(self.syms_flag), os(&self.syms)];
        if self.verbose {
            a.push(os("-vvv"));
        }
        a.extend([os("-C"), os(&self.conf), os("-b"), os(&self.root)]);
        if let Some(o) = outroot {
            a.extend([os("-o"), os(o)]);
        }
        a.push(os(&self.kver));
        a
    }

    fn ours(&self, extra: &[&str], outroot: Option<&Path>) -> Run {
        let mut c = ours_depmod();
        c.args(extra).args(self.args(outroot));
        run(c)
    }

    fn kmod(&self, outroot: Option<&Path>) -> Run {
        let mut c = self.o.theirs("depmod");
        c.args(self.args(outroot));
        run(c)
    }

    fn fresh_root(&mut self) -> PathBuf {
        self.n += 1;
        let p = self.tmp.join(format!("out-{}", self.n));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    /// A full run from scratch (ours, no cache) into a new output root.
    fn full(&mut self) -> Result_ {
        let out = self.fresh_root();
        let run = self.ours(&["--no-cache"], Some(&out));
        let outputs = read_outputs(&out.join("lib/modules").join(&self.kver));
        let _ = std::fs::remove_dir_all(&out);
        Result_ { run, outputs }
    }

    /// kmod 34.2 from scratch into a new output root.
    fn kmod_full(&mut self) -> Result_ {
        let out = self.fresh_root();
        let run = self.kmod(Some(&out));
        let outputs = read_outputs(&out.join("lib/modules").join(&self.kver));
        let _ = std::fs::remove_dir_all(&out);
        Result_ { run, outputs }
    }

    /// A synthetic module: needs two symbols of the subset, exports its own,
    /// aliases and a softdep from `seed` (the same length whatever the seed).
    fn synthetic_ko(&self, name: &str, seed: u64) -> Vec<u8> {
        let mut ko = Ko::new(Architecture::X86_64, Endianness::Little);
        ko.name = name.to_string();
        let letters = |k: u64| -> String {
            (0..8)
                .map(|i| char::from(b'a' + ((k >> (i * 5)) % 26) as u8))
                .collect()
        };
        ko.modinfo = vec![
            "license=GPL".into(),
            format!("alias=kmodrs-{}", letters(seed)),
            format!("alias=pci:v0000{:04X}d*", seed % 0xffff),
            format!("softdep=pre: {}", letters(seed >> 20)),
            format!("name={name}"),
        ];
        ko.exports = vec![(format!("{name}_fn"), seed & 0xffff)];
        let e = &self.exported;
        ko.needs = vec![
            (e[(seed as usize) % e.len()].clone(), false),
            (
                e[(seed as usize / 7) % e.len()].clone(),
                seed.is_multiple_of(3),
            ),
        ];
        let b = ko.build();
        if self.xz { xz(&b) } else { b }
    }

    fn ext(&self) -> &'static str {
        if self.xz { ".ko.xz" } else { ".ko" }
    }

    /// One random change to the tree, its inputs, its outputs or the cache; what it
    /// was.
    fn change(&mut self) -> String {
        let mods = self.modules();
        let i = self.pick(mods.len());
        let m = mods[i].clone();
        let moddir = self.dir.clone();
        let rel = |p: &Path| p.strip_prefix(&moddir).unwrap().display().to_string();
        match self.pick(17) {
            0 | 1 => {
                // a module of the same kernel, from outside the subset
                let i = self.pick(self.pool.len());
                let src = self.pool[i].clone();
                let dst = self.dir.join("kernel/added").join(src.file_name().unwrap());
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::copy(&src, &dst).unwrap();
                format!("add {}", rel(&dst))
            }
            2 => {
                self.n += 1;
                let name = format!("kmodrs_syn{}", self.n);
                let seed = self.rng.next();
                let p = PathBuf::from(format!("kernel/synthetic/{name}{}", self.ext()));
                let full = self.dir.join(&p);
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(&full, self.synthetic_ko(&name, seed)).unwrap();
                self.synthetic.push((p.clone(), seed));
                format!("add synthetic {}", p.display())
            }
            3 | 4 => {
                std::fs::remove_file(&m).unwrap();
                self.synthetic.retain(|(p, _)| self.dir.join(p) != m);
                format!("remove {}", rel(&m))
            }
            5 => {
                // now, or some time in the past
                let t = if self.pick(2) == 0 {
                    SystemTime::now()
                } else {
                    SystemTime::now() - Duration::from_secs(1 + self.rng.next() % 100_000_000)
                };
                set_times(&m, t, t);
                format!("touch {}", rel(&m))
            }
            6 | 7 => self.same_size_same_time(&m),
            8 => {
                // renamed in place (another module name), or moved (same name)
                let dst = if self.pick(2) == 0 {
                    let base = m.file_name().unwrap().to_string_lossy().into_owned();
                    m.with_file_name(format!("r{base}"))
                } else {
                    self.dir.join("kernel/moved").join(m.file_name().unwrap())
                };
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::rename(&m, &dst).unwrap();
                for s in &mut self.synthetic {
                    if self.dir.join(&s.0) == m {
                        s.0 = dst.strip_prefix(&self.dir).unwrap().to_path_buf();
                    }
                }
                format!("rename {} -> {}", rel(&m), rel(&dst))
            }
            9 => {
                // a second copy of a module where depmod.d's search may prefer it
                let dst = self.dir.join("updates").join(m.file_name().unwrap());
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::copy(&m, &dst).unwrap();
                format!("duplicate {} in updates", rel(&m))
            }
            10 => self.edit_conf(&mods),
            11 => self.edit_order(),
            12 => self.edit_syms(),
            13 => self.damage_cache(),
            14 => {
                let r = self.kmod(None);
                assert!(r.status.is_some(), "kmod crashed");
                "kmod's depmod in place".into()
            }
            15 => {
                let n = DEPMOD_OUTPUTS[self.pick(DEPMOD_OUTPUTS.len())];
                let p = self.dir.join(n);
                if self.pick(2) == 0 {
                    let _ = std::fs::remove_file(&p);
                    format!("delete {n}")
                } else {
                    let mut d = std::fs::read(&p).unwrap_or_default();
                    d.push(b'\n');
                    replace_file(&p, &d);
                    format!("damage {n}")
                }
            }
            _ => {
                // the newest module (the one "depmod -A" compares with)
                let t = SystemTime::now();
                set_times(&m, t, t);
                format!("touch (now) {}", rel(&m))
            }
        }
    }

    /// Other contents, same size, same modification time, written in place: in a
    /// plain tree, an alias's letter changed in a real module; else a synthetic
    /// module's other contents of the same (compressed) length.
    fn same_size_same_time(&mut self, _m: &Path) -> String {
        if !self.xz {
            let mods = self.modules();
            for _ in 0..20 {
                let m = mods[self.pick(mods.len())].clone();
                let data = std::fs::read(&m).unwrap();
                let Some(i) = data.windows(6).position(|w| w == b"alias=") else {
                    continue;
                };
                let len = data[i + 6..].iter().position(|&c| c == 0).unwrap_or(0);
                if len == 0 {
                    continue;
                }
                let at = i + 6 + len / 2;
                let c = if data[at] == b'q' { b'z' } else { b'q' };
                Self::write_in_place(&m, &[c], at as u64);
                return format!(
                    "rewrite {} in place (same size, same time)",
                    m.strip_prefix(&self.dir).unwrap().display()
                );
            }
        }
        if self.synthetic.is_empty() {
            return self.change();
        }
        let k = self.pick(self.synthetic.len());
        let (p, seed) = self.synthetic[k].clone();
        let full = self.dir.join(&p);
        let name = crate::support::modname_of(&p.to_string_lossy());
        let old = std::fs::read(&full).unwrap();
        // contents of the same compressed size
        for _ in 0..2000 {
            let s = self.rng.next();
            if s == seed {
                continue;
            }
            let b = self.synthetic_ko(&name, s);
            if b.len() == old.len() && b != old {
                Self::write_in_place(&full, &b, 0);
                self.synthetic[k].1 = s;
                return format!(
                    "rewrite synthetic {} in place (same size, same time)",
                    p.display()
                );
            }
        }
        format!("no same-size variant of {}", p.display())
    }

    /// Write `data` at `offset` into the file (same inode), then give it back its
    /// access and modification times: only its status change time tells.
    fn write_in_place(p: &Path, data: &[u8], offset: u64) {
        let meta = std::fs::metadata(p).unwrap();
        let (atime, mtime) = (meta.accessed().unwrap(), meta.modified().unwrap());
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .write_all_at(data, offset)
            .unwrap();
        set_times(p, atime, mtime);
        let after = std::fs::metadata(p).unwrap();
        assert_eq!(
            (after.ino(), after.len(), after.modified().unwrap()),
            (meta.ino(), meta.len(), mtime)
        );
    }

    fn edit_conf(&mut self, mods: &[PathBuf]) -> String {
        let m = &mods[self.pick(mods.len())];
        let rel = m.strip_prefix(&self.dir).unwrap();
        let sub = rel.parent().unwrap().display().to_string();
        let name = crate::support::modname_of(&rel.to_string_lossy());
        let text = match self.pick(6) {
            0 => String::new(),
            1 => "search updates built-in\n".into(),
            2 => "search kernel/fs built-in updates\n".into(),
            3 => format!("search updates built-in\noverride {name} * {sub}\n"),
            4 => "search updates built-in\nexclude md\n".into(),
            _ => "search built-in updates\nexclude moved\n".into(),
        };
        std::fs::write(self.conf.join("00.conf"), &text).unwrap();
        format!("depmod.d: {text:?}")
    }

    fn edit_order(&mut self) -> String {
        let p = self.dir.join("modules.order");
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let what = match self.pick(4) {
            0 if lines.len() > 1 => {
                let a = self.pick(lines.len());
                let b = self.pick(lines.len());
                lines.swap(a, b);
                "swap two lines"
            }
            1 if !lines.is_empty() => {
                let a = self.pick(lines.len());
                lines.remove(a);
                "remove a line"
            }
            2 => {
                // a listed module moved to the end
                let mods = self.modules();
                let m = &mods[self.pick(mods.len())];
                let rel = m.strip_prefix(&self.dir).unwrap().to_string_lossy();
                lines.push(rel.trim_end_matches(".xz").to_string());
                "append a module"
            }
            _ => {
                // the last line without its newline: kmod's error, no ordering
                std::fs::write(&p, format!("{}\nkernel/x.ko", lines.join("\n"))).unwrap();
                return "modules.order: corrupted last line".into();
            }
        };
        let mut out = lines.join("\n");
        out.push('\n');
        std::fs::write(&p, out).unwrap();
        format!("modules.order: {what}")
    }

    fn edit_syms(&mut self) -> String {
        let text = std::fs::read_to_string(&self.syms).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.is_empty() {
            return "no symbols".into();
        }
        let i = self.pick(lines.len());
        let what = if self.pick(2) == 0 || self.syms_flag == "-F" {
            lines.remove(i);
            format!("{}: remove a line", self.syms_flag)
        } else {
            // another CRC
            let rest = lines[i].split_once('\t').map_or("", |x| x.1).to_string();
            lines[i] = format!("0x{:08x}\t{rest}", self.rng.next() as u32);
            format!("{}: change a CRC", self.syms_flag)
        };
        std::fs::write(&self.syms, lines.join("\n") + "\n").unwrap();
        what
    }

    fn damage_cache(&mut self) -> String {
        let p = self.dir.join(DEPMOD_CACHE);
        let Ok(mut data) = std::fs::read(&p) else {
            return "no cache to damage".into();
        };
        let what = match self.pick(4) {
            0 if !data.is_empty() => {
                let n = self.pick(data.len());
                data.truncate(n);
                format!("cache truncated to {n} bytes")
            }
            1 if !data.is_empty() => {
                for _ in 0..=self.pick(4) {
                    let i = self.pick(data.len());
                    data[i] ^= 1 << self.pick(8);
                }
                "cache bytes flipped".into()
            }
            2 => {
                data = self.rng.bytes(data.len().min(4096));
                "cache replaced with garbage".into()
            }
            _ => {
                let _ = std::fs::remove_file(&p);
                return "cache deleted".into();
            }
        };
        // in place, as a damaged disk would
        std::fs::write(&p, data).unwrap();
        what
    }

    /// No module file newer than modules.dep, by the second (`depmod -A`'s test).
    fn quick_sees_up_to_date(&self) -> Result<(), String> {
        let d = std::fs::metadata(self.dir.join("modules.dep"))
            .map_err(|e| format!("modules.dep: {e}"))?;
        let dep = d.mtime();
        for m in self.modules() {
            let st = std::fs::metadata(&m).unwrap();
            let t = st.mtime();
            if t > dep {
                return Err(format!(
                    "{} is newer than modules.dep (module mtime {t}.{:09} ctime {}.{:09}, modules.dep mtime {dep}.{:09} ctime {}.{:09})",
                    m.display(),
                    st.mtime_nsec(),
                    st.ctime(),
                    st.ctime_nsec(),
                    d.mtime_nsec(),
                    d.ctime(),
                    d.ctime_nsec()
                ));
            }
        }
        Ok(())
    }
}

fn names_of(stale: &[&str]) -> String {
    stale.iter().fold(String::new(), |mut s, n| {
        s.push_str(n);
        s.push('\n');
        s
    })
}

/// One sequence's checks; failures appended to `failures`.
fn check_sequence(w: &mut Work<'_>, seq: usize, what: &str, failures: &mut Vec<String>) {
    let tree = w.name.clone();
    let fail = |failures: &mut Vec<String>, m: String| {
        failures.push(format!("{tree} sequence {seq} ({what}): {m}"));
    };
    let full = w.full();
    let before = read_outputs(&w.dir);
    let before_ids = identities(&w.dir);
    let stale: Vec<&str> = DEPMOD_OUTPUTS
        .iter()
        .zip(before.iter().zip(&full.outputs))
        .filter(|(_, (a, b))| a != b)
        .map(|(n, _)| *n)
        .collect();
    let full_ok = full.run.status == Some(0);
    // --check: exactly the stale outputs; nothing written
    let cache_before = std::fs::read(w.dir.join(DEPMOD_CACHE)).ok();
    let listing_before: BTreeSet<_> = std::fs::read_dir(&w.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let chk = w.ours(&["--check"], None);
    if full_ok {
        let want = (Some(i32::from(!stale.is_empty())), names_of(&stale));
        let got = (
            chk.status,
            String::from_utf8_lossy(&chk.stdout).into_owned(),
        );
        if want != got {
            fail(failures, format!("--check: expected {want:?}, got {got:?}"));
        }
        if messages(&chk.stderr) != messages(&full.run.stderr) {
            fail(
                failures,
                first_diff("--check stderr", &full.run.stderr, &chk.stderr),
            );
        }
    } else if chk.status != Some(2) {
        fail(
            failures,
            format!(
                "--check: depmod fails ({:?}), expected status 2, got {:?}",
                full.run.status, chk.status
            ),
        );
    }
    let listing_after: BTreeSet<_> = std::fs::read_dir(&w.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    if read_outputs(&w.dir) != before
        || identities(&w.dir) != before_ids
        || std::fs::read(w.dir.join(DEPMOD_CACHE)).ok() != cache_before
        || listing_after != listing_before
    {
        fail(failures, "--check wrote something".into());
    }
    // the incremental run
    let inc = w.ours(&[], None);
    if inc.status != full.run.status {
        fail(
            failures,
            format!(
                "status: full {:?}, incremental {:?}",
                full.run.status, inc.status
            ),
        );
    }
    if messages(&inc.stderr) != messages(&full.run.stderr) {
        fail(
            failures,
            first_diff(
                "stderr (full, incremental)",
                &messages(&full.run.stderr),
                &messages(&inc.stderr),
            ),
        );
    }
    if inc.stdout != full.run.stdout {
        fail(
            failures,
            first_diff("stdout (full, incremental)", &full.run.stdout, &inc.stdout),
        );
    }
    if full_ok {
        let after = read_outputs(&w.dir);
        for ((n, a), b) in DEPMOD_OUTPUTS.iter().zip(&after).zip(&full.outputs) {
            if a != b {
                fail(failures, format!("{n} differs from a full run's"));
            }
        }
        // outputs whose contents did not change were left alone
        for ((n, b), a) in DEPMOD_OUTPUTS
            .iter()
            .zip(&before_ids)
            .zip(identities(&w.dir))
        {
            if stale.contains(n) {
                continue;
            }
            let (Some(b), Some(a)) = (b, a) else { continue };
            if b.0 != a.0 || (b.1 != a.1 && *n != "modules.dep") {
                fail(failures, format!("{n} rewritten although unchanged"));
            }
        }
        if let Err(e) = w.quick_sees_up_to_date() {
            fail(failures, format!("depmod -A would run again: {e}"));
        }
        if !w.dir.join(DEPMOD_CACHE).exists() {
            fail(failures, "no cache written".into());
        }
        let again = w.ours(&["--check"], None);
        if (again.status, again.stdout.is_empty()) != (Some(0), true) {
            fail(
                failures,
                format!(
                    "--check after the run: {:?} {}",
                    again.status,
                    String::from_utf8_lossy(&again.stdout)
                ),
            );
        }
    }
    // kmod 34.2 from scratch (every other sequence on .ko.xz: its single-threaded
    // decompression is this test's largest cost)
    if w.xz && seq % 2 == 1 {
        return;
    }
    let k = w.kmod_full();
    if k.run.status != full.run.status {
        fail(
            failures,
            format!(
                "status: kmod {:?}, ours {:?}",
                k.run.status, full.run.status
            ),
        );
    }
    if messages(&k.run.stderr) != messages(&full.run.stderr) {
        fail(
            failures,
            first_diff(
                "stderr (kmod, ours)",
                &messages(&k.run.stderr),
                &messages(&full.run.stderr),
            ),
        );
    }
    if k.run.stdout != full.run.stdout {
        fail(
            failures,
            first_diff("stdout (kmod, ours)", &k.run.stdout, &full.run.stdout),
        );
    }
    if full_ok {
        for ((n, a), b) in DEPMOD_OUTPUTS.iter().zip(&k.outputs).zip(&full.outputs) {
            if a != b {
                fail(failures, format!("{n}: kmod's differs from ours"));
            }
        }
    }
}

#[test]
fn oracle_depmod_incremental_random_sequences() {
    let Some(o) = Oracle::get() else { return };
    let seed: u64 = std::env::var("KMOD_RS_INCR_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x696e_6372_656d_656e);
    let count: usize = std::env::var("KMOD_RS_INCR_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(105);
    let trace = std::env::var_os("KMOD_RS_INCR_TRACE").is_some();
    let tmp = TempDir::new("depmod-incr");
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let mut total = 0;
    for (k, name) in ["bookworm-amd64", "trixie-amd64"].iter().enumerate() {
        let mut w = Work::new(&o, name, tmp.path(), seed ^ (k as u64 * 0x9e37_79b9));
        // the first run: no cache yet
        let r = w.ours(&[], None);
        assert_eq!(r.status, Some(0), "{}", String::from_utf8_lossy(&r.stderr));
        for seq in 0..count {
            let n = 1 + w.pick(3);
            let what: Vec<String> = (0..n).map(|_| w.change()).collect();
            for c in &what {
                let kind = c.split([' ', ':']).next().unwrap_or_default().to_string();
                *kinds.entry(kind).or_default() += 1;
            }
            if trace {
                eprintln!("{name} {seq}: {}", what.join("; "));
            }
            check_sequence(&mut w, seq, &what.join("; "), &mut failures);
            total += 1;
            if failures.len() > 20 {
                break;
            }
        }
    }
    eprintln!("{total} sequences; changes made: {kinds:?}");
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed}):\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(total >= 200 || count < 100, "{total} sequences");
}

// ---- the command line, on a synthetic tree --------------------------------------

use crate::depmod_synthetic::{KVER, M, m, write_tree};

/// A small tree: `a` exports, `b` needs it, `c` is alone.
fn small_tree(root: &Path) {
    let mods = [
        m("kernel/a.ko", &["sym_a"], &[]),
        m("kernel/b.ko", &[], &["sym_a"]),
        M {
            info: &["alias=kmodrs-c", "devname:kmodrs", "char-major-10-250"],
            ..m("kernel/sub/c.ko", &[], &[])
        },
    ];
    write_tree(root, &mods, Architecture::X86_64, Endianness::Little);
}

fn depmod_in(root: &Path, args: &[&str]) -> Run {
    let mut c = ours_depmod();
    c.args(args).arg("-b").arg(root).arg(KVER);
    run(c)
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn stdout(r: &Run) -> String {
    String::from_utf8_lossy(&r.stdout).into_owned()
}

#[test]
fn depmod_check_lists_stale_outputs_and_writes_nothing() {
    let tmp = TempDir::new("depmod-check");
    let root = tmp.path().join("root");
    small_tree(&root);
    let dir = root.join("lib/modules").join(KVER);
    let inputs = listing(&dir);
    // nothing yet: every output missing, nothing written
    let r = depmod_in(&root, &["--check"]);
    assert_eq!(r.status, Some(1), "{r:?}");
    assert_eq!(stdout(&r), names_of(&DEPMOD_OUTPUTS));
    assert_eq!(listing(&dir), inputs);
    // after a run: up to date
    assert_eq!(depmod_in(&root, &[]).status, Some(0));
    assert!(dir.join(DEPMOD_CACHE).exists());
    let r = depmod_in(&root, &["--check"]);
    assert_eq!((r.status, stdout(&r)), (Some(0), String::new()), "{r:?}");
    // a changed module: the outputs it changes
    let ko = dir.join("kernel/sub/c.ko");
    let data = std::fs::read(&ko).unwrap();
    let at = data.windows(6).position(|w| w == b"kmodrs").unwrap();
    let mut d2 = data.clone();
    d2[at] = b'K';
    replace_file(&ko, &d2);
    let r = depmod_in(&root, &["--check"]);
    assert_eq!(r.status, Some(1), "{r:?}");
    assert_eq!(stdout(&r), "modules.alias\nmodules.alias.bin\n");
    // --no-cache gives the same answer
    let r2 = depmod_in(&root, &["--check", "--no-cache"]);
    assert_eq!((r2.status, &r2.stdout), (r.status, &r.stdout));
    // a missing and a damaged output
    assert_eq!(depmod_in(&root, &[]).status, Some(0));
    std::fs::remove_file(dir.join("modules.softdep")).unwrap();
    replace_file(&dir.join("modules.dep.bin"), b"junk");
    let r = depmod_in(&root, &["--check", "-a"]);
    assert_eq!(
        (r.status, stdout(&r)),
        (Some(1), "modules.dep.bin\nmodules.softdep\n".into())
    );
    // -n and -A do not apply
    let r = depmod_in(&root, &["--check", "-n", "-A"]);
    assert_eq!(r.status, Some(1));
    // errors are 2: a bad version, a bad option, -P, cycles
    for args in [
        &["--check", "x"][..],
        &["--check", "--bogus"],
        &["--bogus", "--check"],
        &["--check", "-P", "ab"],
    ] {
        let mut c = ours_depmod();
        c.args(args).arg("-b").arg(&root);
        assert_eq!(run(c).status, Some(2), "{args:?}");
    }
    let cyc = tmp.path().join("cycle");
    write_tree(
        &cyc,
        &[
            m("kernel/x.ko", &["sx"], &["sy"]),
            m("kernel/y.ko", &["sy"], &["sx"]),
        ],
        Architecture::X86_64,
        Endianness::Little,
    );
    let r = depmod_in(&cyc, &["--check"]);
    assert_eq!(r.status, Some(2), "{r:?}");
    assert!(String::from_utf8_lossy(&r.stderr).contains("Cycle detected"));
    assert_eq!(depmod_in(&cyc, &[]).status, Some(1));
    // --check never writes, not even the cache
    assert_eq!(depmod_in(&root, &[]).status, Some(0));
    std::fs::remove_file(dir.join(DEPMOD_CACHE)).unwrap();
    let before = listing(&dir);
    let ids = identities(&dir);
    assert_eq!(depmod_in(&root, &["--check"]).status, Some(0));
    assert_eq!((listing(&dir), identities(&dir)), (before, ids));
}

#[test]
fn depmod_cache_placement_and_no_cache() {
    let tmp = TempDir::new("depmod-cache-place");
    let root = tmp.path().join("root");
    small_tree(&root);
    let dir = root.join("lib/modules").join(KVER);
    // --no-cache: neither written nor read
    assert_eq!(depmod_in(&root, &["--no-cache"]).status, Some(0));
    assert!(!dir.join(DEPMOD_CACHE).exists());
    std::fs::write(dir.join(DEPMOD_CACHE), b"not a cache").unwrap();
    let r = depmod_in(&root, &["--no-cache", "-vvv"]);
    assert_eq!(r.status, Some(0));
    let err = String::from_utf8_lossy(&r.stderr);
    for m in ["ignoring cache", "using cache", "cache:", "wrote cache"] {
        assert!(!err.contains(m), "{err}");
    }
    assert_eq!(
        std::fs::read(dir.join(DEPMOD_CACHE)).unwrap(),
        b"not a cache"
    );
    // an invalid cache is ignored (DEBUG) and replaced
    let r = depmod_in(&root, &["-vvv"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains(&format!(
            "DEBUG: ignoring cache {}: truncated header",
            dir.join(DEPMOD_CACHE).display()
        )),
        "{err}"
    );
    assert!(err.contains("DEBUG: wrote cache"), "{err}");
    let r = depmod_in(&root, &["-vvv"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("DEBUG: cache: 3 of 3 module files unchanged"),
        "{err}"
    );
    assert!(
        err.contains("DEBUG: cache: same inputs as the last run"),
        "{err}"
    );
    assert!(!err.contains("wrote cache"), "{err}");
    // the record stands, but -n needs the text itself: the run is finished for it
    for v in [&[][..], &["-v"]] {
        let with = depmod_in(&root, &[v, &["-n"]].concat());
        let without = depmod_in(&root, &[v, &["-n", "--no-cache"]].concat());
        assert_eq!(with, without, "{v:?}");
        let text = String::from_utf8_lossy(&with.stdout);
        assert!(text.contains("\nkernel/b.ko: kernel/a.ko\n"), "{text}");
    }
    // -o: with the outputs, not in the module directory
    std::fs::remove_file(dir.join(DEPMOD_CACHE)).unwrap();
    let out = tmp.path().join("out");
    let mut c = ours_depmod();
    c.arg("-b").arg(&root).arg("-o").arg(&out).arg(KVER);
    assert_eq!(run(c).status, Some(0));
    assert!(
        out.join("lib/modules")
            .join(KVER)
            .join(DEPMOD_CACHE)
            .exists()
    );
    assert!(!dir.join(DEPMOD_CACHE).exists());
    // -m: in the other module directory
    let other = root.join("other").join(KVER);
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    link_copy(&dir, &other);
    let mut c = ours_depmod();
    c.arg("-b").arg(&root).arg("-m").arg("other").arg(KVER);
    assert_eq!(run(c).status, Some(0));
    assert!(other.join(DEPMOD_CACHE).exists());
    // module files named: no cache
    let mut c = ours_depmod();
    c.arg("-b")
        .arg(&root)
        .arg(KVER)
        .arg(dir.join("kernel/a.ko"));
    assert_eq!(run(c).status, Some(0));
    assert!(!dir.join(DEPMOD_CACHE).exists());
}

#[test]
fn depmod_leaves_unchanged_outputs_alone() {
    let tmp = TempDir::new("depmod-alone");
    let root = tmp.path().join("root");
    small_tree(&root);
    let dir = root.join("lib/modules").join(KVER);
    let ko = dir.join("kernel/sub/c.ko");
    let at = std::fs::read(&ko)
        .unwrap()
        .windows(13)
        .position(|w| w == b"alias=kmodrs-")
        .unwrap()
        + 6;
    for args in [&[][..], &["--no-cache"]] {
        assert_eq!(depmod_in(&root, args).status, Some(0));
        let ids = identities(&dir);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(depmod_in(&root, args).status, Some(0));
        assert_eq!(identities(&dir), ids, "{args:?}");
        // one module's alias changes: the alias files only
        let mut data = std::fs::read(&ko).unwrap();
        data[at + 1] ^= 0x20;
        replace_file(&ko, &data);
        assert_eq!(depmod_in(&root, args).status, Some(0));
        // (modules.dep's time moves: the module is newer than it)
        let now = identities(&dir);
        for ((n, a), b) in DEPMOD_OUTPUTS.iter().zip(&ids).zip(&now) {
            let changed = ["modules.alias", "modules.alias.bin"].contains(n);
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.0 != b.0, changed, "{n} {args:?}");
            assert_eq!(a.1 != b.1, changed || *n == "modules.dep", "{n} {args:?}");
        }
        // a module newer than modules.dep, the same contents: modules.dep's time
        // only is brought forward, and -A then finds the tree up to date
        let t = SystemTime::now();
        set_times(&dir.join("modules.dep"), t, t - Duration::from_secs(10));
        let newer = t - Duration::from_secs(5);
        set_times(&ko, newer, newer);
        let ids = identities(&dir);
        assert_eq!(depmod_in(&root, &["-A"]).status, Some(0));
        let after = identities(&dir);
        for ((n, a), b) in DEPMOD_OUTPUTS.iter().zip(&ids).zip(&after) {
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.0, b.0, "{n} replaced");
            if *n == "modules.dep" {
                assert!(b.1 > newer, "modules.dep's time not moved");
            } else {
                assert_eq!(a.1, b.1, "{n} touched");
            }
        }
        let ids = identities(&dir);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(depmod_in(&root, &["-A"]).status, Some(0));
        assert_eq!(identities(&dir), ids, "-A ran again");
    }
}

// ---- kernel package removal, and kmod's depmod before and after ours ------------

/// The removal loop of the postrm of a Debian kernel image package (its `for
/// extra_file in ...; do ... done` block, as the package ships it), run on `dir`
/// in place of `/lib/modules/$version`.
fn debian_postrm_loop(tree: &str, dir: &Path) {
    let p = cache_dir().join("control").join(tree).join("postrm");
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-reference.sh)", p.display()));
    let start = text.find("for extra_file in").expect("no removal loop");
    let end = start + text[start..].find("done").expect("no removal loop") + 4;
    let block = &text[start..end];
    assert!(block.contains("modules.\\*.bin"), "{block}");
    let block = block.replace("/lib/modules/$version/", "$dir/");
    let st = Command::new("sh")
        .arg("-ec")
        .arg(format!("dir=\"$1\"\n{block}"))
        .arg("sh")
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn oracle_depmod_cache_removed_with_the_kernel_package() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-postrm");
    let k = &t.kver;
    // ours and kmod's outputs, each in a module directory of their own
    let written = |name: &str, c: &mut Command| {
        let out = tmp.path().join(name);
        c.arg("-b").arg(&t.root).arg("-o").arg(&out).arg(k);
        let r = run(std::mem::replace(c, Command::new("true")));
        assert_eq!(r.status, Some(0), "{}", String::from_utf8_lossy(&r.stderr));
        out.join("lib/modules").join(k)
    };
    let ours = written("ours", &mut ours_depmod());
    let theirs = written("kmod", &mut o.theirs("depmod"));
    let mut expected: BTreeSet<String> = DEPMOD_OUTPUTS.iter().map(|s| (*s).to_string()).collect();
    assert_eq!(listing(&theirs), expected);
    expected.insert(DEPMOD_CACHE.into());
    assert_eq!(listing(&ours), expected);
    // trixie's postrm removes everything depmod writes, the cache with modules.*.bin
    let copy = tmp.path().join("copy");
    link_copy(&ours, &copy);
    debian_postrm_loop("trixie-amd64", &ours);
    assert_eq!(listing(&ours), BTreeSet::new());
    std::fs::remove_dir(&ours).unwrap();
    // bookworm's predates modules.weakdep (kmod 33): only that is left, as kmod's
    debian_postrm_loop("bookworm-amd64", &copy);
    debian_postrm_loop("bookworm-amd64", &theirs);
    let weakdep: BTreeSet<String> = ["modules.weakdep".to_string()].into();
    assert_eq!(
        (listing(&copy), listing(&theirs)),
        (weakdep.clone(), weakdep)
    );
}

#[test]
fn oracle_depmod_cache_and_kmods_depmod_in_turn() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-turns");
    let root = tmp.path().join("root");
    link_copy(&t.root, &root);
    let dir = root.join("lib/modules").join(&t.kver);
    let k = &t.kver;
    let ours = |args: &[&str]| {
        let mut c = ours_depmod();
        c.args(args).arg("-b").arg(&root).arg(k);
        run(c)
    };
    let kmod = |out: Option<&Path>| {
        let mut c = o.theirs("depmod");
        c.arg("-b").arg(&root);
        if let Some(out) = out {
            c.arg("-o").arg(out);
        }
        c.arg(k);
        let r = run(c);
        assert_eq!(r.status, Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    };
    let fresh = |name: &str| {
        let out = tmp.path().join(name);
        kmod(Some(&out));
        read_outputs(&out.join("lib/modules").join(k))
    };
    let modprobe = || {
        let mut c = o.theirs("modprobe");
        c.arg("-d")
            .arg(&root)
            .args(["-S", k, "-a", "--show-depends", "btrfs", "fs-btrfs", "xor"]);
        run(c)
    };
    let removed = dir.join("kernel/crypto/xor.ko");
    let stderr = |r: &Run| String::from_utf8_lossy(&r.stderr).into_owned();
    // ours, then kmod's: kmod writes what it writes without our cache there, and
    // its modprobe reads the indexes (-v: the record then has the -v lines the
    // -vvv runs below need)
    assert_eq!(ours(&["-v"]).status, Some(0));
    // twice: the files linked in the clock tick the first run started in were
    // not stored (they could still change unseen), so it left no record
    assert_eq!(ours(&["-v"]).status, Some(0));
    let want = fresh("kmod-1");
    kmod(None);
    assert!(
        read_outputs(&dir) == want,
        "kmod's outputs changed by our cache"
    );
    let q = modprobe();
    assert_eq!(q.status, Some(0), "{q:?}");
    // then ours: the same indexes in place (other inodes): nothing to do
    let ids = identities(&dir);
    let r = ours(&["-vvv"]);
    assert_eq!(r.status, Some(0));
    assert!(
        stderr(&r).contains("same inputs as the last run"),
        "{}",
        stderr(&r)
    );
    assert_eq!(identities(&dir), ids);
    assert!(read_outputs(&dir) == want);
    // kmod's run after a change leaves our cache behind the tree: ours still right
    std::fs::remove_file(&removed).unwrap();
    kmod(None);
    let want = fresh("kmod-2");
    assert!(read_outputs(&dir) == want);
    let r = ours(&["--check"]);
    assert_eq!((r.status, r.stdout.is_empty()), (Some(0), true), "{r:?}");
    let r = ours(&["-vvv"]);
    assert_eq!(r.status, Some(0));
    let e = stderr(&r);
    assert!(
        !e.contains("same inputs as the last run") && e.contains("module files unchanged"),
        "{e}"
    );
    assert!(read_outputs(&dir) == want);
    // and the other way: ours after the change, kmod's and modprobe agree
    std::fs::hard_link(t.moddir().join("kernel/crypto/xor.ko"), &removed).unwrap();
    assert_eq!(ours(&[]).status, Some(0));
    let want = fresh("kmod-3");
    assert!(read_outputs(&dir) == want);
    assert_eq!(modprobe(), q);
    kmod(None);
    assert!(read_outputs(&dir) == want);
    let r = ours(&["--check"]);
    assert_eq!((r.status, r.stdout.is_empty()), (Some(0), true), "{r:?}");
}
