//! depmod compared with kmod 34.2 on Debian's real module trees: exit status, stdout,
//! stderr and every file written, byte for byte.
//!
//! Each comparison runs a *script* twice on a fresh hard-linked copy of a tree at the
//! same path (`<tmp>/root`): once with kmod 34.2's depmod, once with ours. The script
//! records every run (status, stdout, stderr), snapshots of directories (every entry;
//! the contents of every file with a single link, i.e. everything depmod wrote) and
//! notes; the two recordings must be identical. Because both runs use the same path,
//! no output needs rewriting. depmod never writes into an existing file (it creates a
//! temporary file and renames it), so hard links into the cache are safe; the scripts
//! themselves replace a file (`replace_file`) instead of writing through a link.
//!
//! `KMOD_RS_DEPMOD_UNDER_TEST=<program>` runs the scripts against another depmod
//! instead of ours (see `ours_depmod`): with kmod's own every check must pass, which
//! validates this harness.

use crate::support::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

fn os<P: AsRef<OsStr> + ?Sized>(p: &P) -> &OsStr {
    p.as_ref()
}

// ---- recordings -------------------------------------------------------------------

/// One entry of a directory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir(u32),
    /// Mode bits and, for a file with a single link (one depmod may have written),
    /// its contents. Files hard-linked into the cache are compared by name only.
    File(u32, Option<Vec<u8>>),
    Symlink(PathBuf),
    Other(u32),
}

/// A directory tree: relative path → entry (`.` is the directory itself; a missing
/// directory gives an empty map).
type Snap = BTreeMap<String, Entry>;

fn snapshot(dir: &Path) -> Snap {
    let mut m = Snap::new();
    if let Ok(md) = std::fs::symlink_metadata(dir) {
        m.insert(".".into(), Entry::Dir(md.permissions().mode() & 0o7777));
        snap_into(dir, "", &mut m);
    }
    m
}

fn snap_into(dir: &Path, rel: &str, m: &mut Snap) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // the cache is ours alone
        if name == DEPMOD_CACHE {
            continue;
        }
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let p = e.path();
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let mode = md.permissions().mode() & 0o7777;
        let ft = md.file_type();
        if ft.is_dir() {
            m.insert(r.clone(), Entry::Dir(mode));
            snap_into(&p, &r, m);
        } else if ft.is_file() {
            let data = (md.nlink() == 1).then(|| std::fs::read(&p).unwrap_or_default());
            m.insert(r, Entry::File(mode, data));
        } else if ft.is_symlink() {
            m.insert(
                r,
                Entry::Symlink(std::fs::read_link(&p).unwrap_or_default()),
            );
        } else {
            m.insert(r, Entry::Other(md.mode() & 0o170_000));
        }
    }
}

enum Item {
    Run(Run),
    Snap(Snap),
    Note(String),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Kmod,
    Ours,
}

/// What one script did with one depmod.
struct Rec<'a> {
    o: &'a Oracle,
    side: Side,
    /// Where the script builds its tree (`<tmp>/root`, absent at the start).
    root: PathBuf,
    log: Vec<(String, Item)>,
}

impl Rec<'_> {
    fn depmod_cmd(&self) -> Command {
        match self.side {
            Side::Kmod => self.o.theirs("depmod"),
            Side::Ours => ours_depmod(),
        }
    }

    /// Run depmod with `args` in the parent of the root, and record the run.
    fn depmod<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, label: &str, args: I) -> Run {
        let cwd = self.root.parent().unwrap().to_path_buf();
        self.depmod_in(label, &cwd, args)
    }

    fn depmod_in<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &mut self,
        label: &str,
        cwd: &Path,
        args: I,
    ) -> Run {
        let mut c = self.depmod_cmd();
        c.current_dir(cwd).args(args);
        self.cmd(label, c)
    }

    /// Run any command and record it (our depmod's `--help` without its options
    /// beyond kmod).
    fn cmd(&mut self, label: &str, mut c: Command) -> Run {
        let mut r = run_cmd(&mut c);
        if self.side == Side::Ours {
            r.stdout = help_as_kmod(&r.stdout);
        }
        self.log.push((label.to_string(), Item::Run(r.clone())));
        r
    }

    /// Record a snapshot of `dir`. Temporary files (see `is_depmod_temp_name`) are
    /// left out and removed: after a fatal error kmod leaves one behind (it exits
    /// in the middle of writing), which is no contract; after a successful run there
    /// must be none (a note lists them; its text only says whether the last run
    /// failed when it did, so that a different exit status is reported once, not as
    /// a diverging script).
    fn snap(&mut self, label: &str, dir: &Path) {
        let mut s = snapshot(dir);
        let temps: Vec<String> = s
            .keys()
            .filter(|k| is_depmod_temp_name(k.rsplit('/').next().unwrap()))
            .cloned()
            .collect();
        for t in &temps {
            s.remove(t);
            let _ = std::fs::remove_file(dir.join(t));
        }
        let last_ok = self.log.iter().rev().find_map(|(_, i)| match i {
            Item::Run(r) => Some(r.status == Some(0)),
            _ => None,
        });
        let note = if last_ok == Some(false) {
            "not checked: the last run failed".to_string()
        } else {
            format!("{}: {temps:?}", temps.len())
        };
        self.log
            .push((format!("temporary files left in {label}"), Item::Note(note)));
        self.log.push((format!("snapshot {label}"), Item::Snap(s)));
    }

    fn note(&mut self, label: &str, s: String) {
        self.log.push((label.to_string(), Item::Note(s)));
    }

    fn root(&self) -> PathBuf {
        self.root.clone()
    }
}

fn run_cmd(c: &mut Command) -> Run {
    c.output()
        .unwrap_or_else(|e| panic!("spawn {c:?}: {e}"))
        .into()
}

type Log = Vec<(String, Item)>;

/// Run `script` with one depmod on a fresh `<work>/root`.
fn record(o: &Oracle, side: Side, work: &Path, script: &dyn Fn(&mut Rec)) -> Log {
    let root = work.join("root");
    let _ = std::fs::remove_dir_all(&root);
    let mut r = Rec {
        o,
        side,
        root: root.clone(),
        log: Vec::new(),
    };
    script(&mut r);
    let _ = std::fs::remove_dir_all(&root);
    r.log
}

/// Run `script` with kmod's depmod, then with ours, and compare the recordings.
fn differential(o: &Oracle, d: &mut Diffs, what: &str, work: &Path, script: &dyn Fn(&mut Rec)) {
    let k = record(o, Side::Kmod, work, script);
    let u = record(o, Side::Ours, work, script);
    compare_logs(d, what, &k, &u);
}

/// With `KMOD_RS_DEPMOD_DUMP=<dir>`, every recording is also written out under
/// `<dir>/<what>/<kmod|ours>/` (runs as `NN.stdout`/`.stderr`/`.status`, snapshots as
/// the files depmod wrote) for looking at differences with diff(1).
fn dump(what: &str, side: &str, log: &Log) {
    let Some(base) = std::env::var_os("KMOD_RS_DEPMOD_DUMP") else {
        return;
    };
    let name: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = Path::new(&base).join(name).join(side);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut index = String::new();
    for (i, (label, item)) in log.iter().enumerate() {
        let _ = writeln!(index, "{i:03} {label}");
        match item {
            Item::Run(r) => {
                std::fs::write(dir.join(format!("{i:03}.stdout")), &r.stdout).unwrap();
                std::fs::write(dir.join(format!("{i:03}.stderr")), &r.stderr).unwrap();
                std::fs::write(
                    dir.join(format!("{i:03}.status")),
                    format!("{:?}\n", r.status),
                )
                .unwrap();
            }
            Item::Note(n) => std::fs::write(dir.join(format!("{i:03}.note")), n).unwrap(),
            Item::Snap(s) => {
                let sd = dir.join(format!("{i:03}.snap"));
                let mut listing = String::new();
                for (k, v) in s {
                    match v {
                        Entry::File(m, Some(data)) => {
                            let _ = writeln!(listing, "{k} file {m:o} {} bytes", data.len());
                            let f = sd.join(k);
                            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                            std::fs::write(f, data).unwrap();
                        }
                        Entry::File(_, None) => {}
                        other => {
                            let _ = writeln!(listing, "{k} {other:?}");
                        }
                    }
                }
                std::fs::create_dir_all(&sd).unwrap();
                std::fs::write(sd.join("LISTING"), listing).unwrap();
            }
        }
    }
    std::fs::write(dir.join("INDEX"), index).unwrap();
}

fn compare_logs(d: &mut Diffs, what: &str, k: &Log, u: &Log) {
    dump(what, "kmod", k);
    dump(what, "ours", u);
    if k.len() != u.len() {
        d.compared += 1;
        d.failures.push(format!(
            "== {what}: {} steps recorded vs {}\n",
            k.len(),
            u.len()
        ));
    }
    for ((kl, ki), (ul, ui)) in k.iter().zip(u) {
        let label = format!("{what}: {kl}");
        if kl != ul {
            d.compared += 1;
            d.failures
                .push(format!("== {label}: the script diverged (ours: {ul})\n"));
            return;
        }
        match (ki, ui) {
            (Item::Run(a), Item::Run(b)) => d.check(&label, a, b),
            (Item::Snap(a), Item::Snap(b)) => check_snap(d, &label, a, b),
            (Item::Note(a), Item::Note(b)) => {
                d.compared += 1;
                // a failed run on one side is reported with that run already
                let unchecked = |n: &str| n.starts_with("not checked");
                if a != b && !unchecked(a) && !unchecked(b) {
                    d.failures
                        .push(format!("== {label}\n  kmod: {a}\n  ours: {b}\n"));
                }
            }
            _ => unreachable!("same script, same item kinds"),
        }
    }
}

fn check_snap(d: &mut Diffs, what: &str, e: &Snap, g: &Snap) {
    d.compared += 1;
    if e == g {
        return;
    }
    let mut lines = Vec::new();
    for k in e.keys().filter(|k| !g.contains_key(*k)) {
        lines.push(format!("missing in ours: {k}\n"));
    }
    for k in g.keys().filter(|k| !e.contains_key(*k)) {
        lines.push(format!("extra in ours: {k}\n"));
    }
    for (k, ev) in e {
        if let Some(gv) = g.get(k)
            && ev != gv
        {
            lines.push(describe_entry(k, ev, gv));
        }
    }
    let n = lines.len();
    let mut msg = format!("== {what}: {n} differences\n");
    for l in lines.iter().take(12) {
        msg.push_str(l);
    }
    d.failures.push(msg);
}

fn describe_entry(name: &str, e: &Entry, g: &Entry) -> String {
    match (e, g) {
        (Entry::File(em, Some(ed)), Entry::File(gm, Some(gd))) => {
            let mut s = String::new();
            if em != gm {
                let _ = writeln!(s, "{name}: mode kmod {em:o}, ours {gm:o}");
            }
            if ed != gd {
                s.push_str(&content_diff(name, ed, gd));
            }
            s
        }
        _ => format!("{name}:\n  kmod: {e:.80?}\n  ours: {g:.80?}\n"),
    }
}

fn content_diff(name: &str, e: &[u8], g: &[u8]) -> String {
    if Path::new(name).extension().is_some_and(|e| e == "bin") {
        let at = e
            .iter()
            .zip(g)
            .position(|(a, b)| a != b)
            .unwrap_or(e.len().min(g.len()));
        format!(
            "{name}: {} bytes from kmod, {} from ours, first difference at offset {at:#x}\n",
            e.len(),
            g.len()
        )
    } else {
        first_diff(name, e, g)
    }
}

// ---- trees and queries ---------------------------------------------------------

fn moddir_of(root: &Path, t: &Tree) -> PathBuf {
    root.join("lib/modules").join(&t.kver)
}

/// A concrete string matching an alias pattern: `*`→`0`, `?`→`A`, `[abc]`→`a`.
fn instantiate(p: &str) -> String {
    let mut out = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push('0'),
            '?' => out.push('A'),
            '[' => {
                let mut first = None;
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    first.get_or_insert(c);
                }
                out.extend(first);
            }
            c => out.push(c),
        }
    }
    out
}

/// What to ask modprobe about, from kmod's outputs: every module, 500 aliases
/// (instantiated), 200 builtin modules, 200 symbols and a few that do not exist.
fn queries(moddir: &Path) -> Vec<String> {
    let read = |n: &str| std::fs::read_to_string(moddir.join(n)).unwrap_or_default();
    let mut q: Vec<String> = read("modules.dep")
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(modname_of)
        .collect();
    let aliases: Vec<String> = read("modules.alias")
        .lines()
        .filter_map(|l| l.strip_prefix("alias "))
        .filter_map(|l| l.rsplit_once(' ').map(|(a, _)| instantiate(a)))
        .collect();
    let step = (aliases.len() / 500).max(1);
    q.extend(aliases.into_iter().step_by(step).take(500));
    let builtin = read("modules.builtin");
    let b: Vec<&str> = builtin.lines().collect();
    q.extend(
        b.iter()
            .step_by((b.len() / 200).max(1))
            .map(|l| modname_of(l)),
    );
    let syms = read("modules.symbols");
    let s: Vec<&str> = syms
        .lines()
        .filter_map(|l| l.strip_prefix("alias "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    q.extend(
        s.iter()
            .step_by((s.len() / 200).max(1))
            .map(|x| (*x).to_string()),
    );
    q.extend(["no_such_module", "fs-no-such-fs", "symbol:no_such_symbol"].map(String::from));
    q
}

/// `modprobe -d <root> -S <kver> -a --show-depends` of kmod 30 and 34.2 over `q`, 400
/// names per process (stdout is then the concatenation of the one-name runs; only the
/// level of the "not found" message differs from them).
fn client_queries(r: &mut Rec, t: &Tree, q: &[String]) {
    let root = r.root();
    for (tool, bin) in [
        ("kmod30", r.o.bin30.join("modprobe")),
        ("kmod34", r.o.bin.join("modprobe")),
    ] {
        for (i, b) in q.chunks(400).enumerate() {
            let mut c = Command::new(&bin);
            c.arg("-d")
                .arg(&root)
                .args(["-S", &t.kver, "-a", "--show-depends"])
                .args(b);
            r.cmd(&format!("{tool} modprobe --show-depends batch {i}"), c);
        }
    }
}

/// Every tree as it is (plain, xz, ELF32, big-endian), then the indexes read back by
/// kmod 30's and 34.2's modprobe for every module name and 500 aliases.
#[test]
fn oracle_depmod_every_tree() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("depmod-trees");
    let mut d = Diffs::default();
    let mut nq = 0;
    for name in [
        "bookworm-amd64",
        "bookworm-arm64",
        "bookworm-i386",
        "bookworm-s390x",
        "trixie-amd64",
    ] {
        let t = o.tree(name);
        // the query list comes from kmod's run (recorded first) and is reused for ours
        let q: RefCell<Option<Vec<String>>> = RefCell::new(None);
        differential(&o, &mut d, name, tmp.path(), &|r| {
            let root = r.root();
            let moddir = moddir_of(&root, t);
            link_copy(&t.root, &root);
            r.depmod(
                "depmod -b ROOT KVER",
                [os("-b"), root.as_os_str(), os(&t.kver)],
            );
            r.snap("moddir", &moddir);
            let qs = q
                .borrow_mut()
                .get_or_insert_with(|| queries(&moddir))
                .clone();
            client_queries(r, t, &qs);
        });
        let n = q.borrow().as_ref().map_or(0, Vec::len);
        assert!(n > 1000, "{name}: only {n} queries");
        nq += n;
    }
    eprintln!("depmod trees: {nq} modprobe queries per side");
    d.finish("depmod on every tree");
}

// ---- compressed copies ------------------------------------------------------------

/// Compress every module under `root` with `cmd args -- files...` (which replaces
/// each file by its compressed version), in two parallel processes per batch.
fn compress_tree(root: &Path, cmd: &str, args: &[&str]) {
    let mut mods = Vec::new();
    walk(root, &mut mods);
    mods.retain(|p| p.to_string_lossy().ends_with(".ko"));
    mods.sort();
    assert!(!mods.is_empty());
    let half = mods.len().div_ceil(2);
    std::thread::scope(|s| {
        for part in mods.chunks(half) {
            s.spawn(move || {
                for b in part.chunks(500) {
                    let st = Command::new(cmd)
                        .args(args)
                        .arg("--")
                        .args(b)
                        .status()
                        .unwrap();
                    assert!(st.success(), "{cmd} failed");
                }
            });
        }
    });
}

/// modules.dep.bin as depmod builds it from modules.dep: key = module name, value =
/// the line, priority = line number.
fn dep_bin_from_text(dep: &[u8]) -> Vec<u8> {
    let mut b = libkmod_rs::index::IndexBuilder::new();
    let text = std::str::from_utf8(dep).unwrap();
    for (i, line) in text.lines().enumerate() {
        let path = line.split(':').next().unwrap();
        b.insert(modname_of(path).as_bytes(), line.as_bytes(), i as u32)
            .unwrap();
    }
    b.to_bytes().unwrap()
}

/// A recording of depmod on a plain tree turned into the one expected on the same
/// tree with every module compressed as `<name>.ko.<ext>`.
fn renamed(plain: &Log, ext: &str) -> Log {
    let dot = format!(".ko.{ext}");
    plain
        .iter()
        .map(|(l, i)| {
            let i = match i {
                Item::Run(r) => Item::Run(r.clone()),
                Item::Note(n) => Item::Note(n.clone()),
                Item::Snap(s) => {
                    let mut s2 = Snap::new();
                    for (k, v) in s {
                        let k = match v {
                            Entry::File(_, None)
                                if Path::new(k).extension().is_some_and(|e| e == "ko") =>
                            {
                                format!("{k}.{ext}")
                            }
                            _ => k.clone(),
                        };
                        s2.insert(k, v.clone());
                    }
                    if let Some(Entry::File(m, Some(dep))) = s.get("modules.dep") {
                        let dep = replace(dep, b".ko:", format!("{dot}:").as_bytes());
                        let dep = replace(&dep, b".ko ", format!("{dot} ").as_bytes());
                        let dep = replace(&dep, b".ko\n", format!("{dot}\n").as_bytes());
                        let bin = dep_bin_from_text(&dep);
                        s2.insert("modules.dep.bin".into(), Entry::File(*m, Some(bin)));
                        s2.insert("modules.dep".into(), Entry::File(*m, Some(dep)));
                    }
                    Item::Snap(s2)
                }
            };
            (l.clone(), i)
        })
        .collect()
}

fn snap_file<'a>(log: &'a Log, label: &str, file: &str) -> &'a [u8] {
    let snap = log
        .iter()
        .find_map(|(l, i)| match i {
            Item::Snap(s) if l == label => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {label}"));
    match snap.get(file) {
        Some(Entry::File(_, Some(d))) => d,
        other => panic!("{label}: {file} is {other:?}"),
    }
}

/// bookworm-amd64 with every module compressed with zstd (kmod reads it: direct
/// comparison) and with gzip (no Debian kmod reads `.ko.gz`: the expected outputs are
/// the plain tree's, `.ko` paths renamed, modules.dep.bin rebuilt from that text).
#[test]
fn oracle_depmod_zstd_and_gzip_trees() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-compressed");
    let zbase = tmp.path().join("zbase");
    let gbase = tmp.path().join("gbase");
    link_copy(&t.root, &zbase);
    link_copy(&t.root, &gbase);
    // zstd records the content size when it knows the input's (kmod needs it); both
    // tools only unlink the hard-linked original (-f: gzip refuses linked files)
    compress_tree(&moddir_of(&zbase, t), "zstd", &["-q", "--rm"]);
    compress_tree(&moddir_of(&gbase, t), "gzip", &["-n", "-1", "-f"]);
    let work = tmp.path().join("w");
    std::fs::create_dir(&work).unwrap();
    let mut d = Diffs::default();

    let script = |base: &Path| {
        let base = base.to_path_buf();
        move |r: &mut Rec| {
            let root = r.root();
            link_copy(&base, &root);
            r.depmod(
                "depmod -b ROOT KVER",
                [os("-b"), root.as_os_str(), os(&t.kver)],
            );
            r.snap("moddir", &moddir_of(&root, t));
        }
    };
    let plain = record(&o, Side::Kmod, &work, &script(&t.root));
    let kzst = record(&o, Side::Kmod, &work, &script(&zbase));
    let uzst = record(&o, Side::Ours, &work, &script(&zbase));
    compare_logs(&mut d, "zstd tree", &kzst, &uzst);

    // the expectation for gzip, checked on kmod's own zstd outputs first
    let dep = snap_file(&plain, "snapshot moddir", "modules.dep");
    assert_eq!(
        dep_bin_from_text(dep),
        snap_file(&plain, "snapshot moddir", "modules.dep.bin"),
        "harness: modules.dep.bin rebuilt from kmod's modules.dep differs from kmod's"
    );
    let mut harness = Diffs::default();
    compare_logs(
        &mut harness,
        "harness: plain tree renamed to .zst vs kmod on the zstd tree",
        &renamed(&plain, "zst"),
        &kzst,
    );
    harness.finish("the gzip expectation (checked on zstd)");

    if std::env::var_os("KMOD_RS_DEPMOD_UNDER_TEST").is_some() {
        eprintln!("gzip tree skipped: the depmod under test is not ours (no kmod reads .ko.gz)");
        d.finish("depmod on compressed trees");
        return;
    }
    let ugz = record(&o, Side::Ours, &work, &script(&gbase));
    compare_logs(
        &mut d,
        "gzip tree (expected: kmod on the plain tree, renamed)",
        &renamed(&plain, "gz"),
        &ugz,
    );
    d.finish("depmod on compressed trees");
}

// ---- options -------------------------------------------------------------------

/// Modules of bookworm-amd64 with dependencies between them (explicit-file runs).
const SAMPLE: [&str; 15] = [
    "kernel/drivers/block/loop.ko",
    "kernel/fs/btrfs/btrfs.ko",
    "kernel/crypto/xor.ko",
    "kernel/lib/raid6/raid6_pq.ko",
    "kernel/lib/libcrc32c.ko",
    "kernel/lib/zstd/zstd_compress.ko",
    "kernel/fs/ext4/ext4.ko",
    "kernel/fs/jbd2/jbd2.ko",
    "kernel/fs/mbcache.ko",
    "kernel/lib/crc16.ko",
    "kernel/drivers/hid/hid.ko",
    "kernel/drivers/hid/hid-generic.ko",
    "kernel/drivers/hid/hid-cherry.ko",
    "kernel/crypto/crc32c_generic.ko",
    "kernel/crypto/blake2b_generic.ko",
];

fn sample(dir: &Path) -> Vec<PathBuf> {
    let v: Vec<PathBuf> = SAMPLE
        .iter()
        .map(|s| dir.join(s))
        .filter(|p| p.exists())
        .collect();
    assert!(
        v.len() >= 10,
        "sample modules missing under {}",
        dir.display()
    );
    v
}

fn output_inodes(dir: &Path) -> Vec<(&'static str, u64)> {
    DEPMOD_OUTPUTS
        .iter()
        .map(|n| (*n, std::fs::metadata(dir.join(n)).map_or(0, |m| m.ino())))
        .collect()
}

/// Every output's contents (None: missing).
fn output_contents(dir: &Path) -> Vec<(&'static str, Option<Vec<u8>>)> {
    DEPMOD_OUTPUTS
        .iter()
        .map(|n| (*n, std::fs::read(dir.join(n)).ok()))
        .collect()
}

/// Which outputs changed between two [`output_contents`].
fn changed(before: &[(&str, Option<Vec<u8>>)], after: &[(&str, Option<Vec<u8>>)]) -> String {
    let v: Vec<&str> = before
        .iter()
        .zip(after)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0)
        .collect();
    format!("{v:?}")
}

/// Which outputs were replaced (new inode) between two [`output_inodes`].
fn rewritten(before: &[(&str, u64)], after: &[(&str, u64)]) -> String {
    let v: Vec<&str> = before
        .iter()
        .zip(after)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0)
        .collect();
    format!("{v:?}")
}

fn set_mtime(p: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// `-n`, `-A` (no modules.dep, up to date, stale), `-a` with module arguments, `-v`,
/// `-w`, `-P`, `-o` (absolute, relative, with `-n`), relative and slash-ended `-b`,
/// long options, on the full bookworm-amd64 tree.
#[test]
fn oracle_depmod_options() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-options");
    let mut d = Diffs::default();
    let k = os(&t.kver);
    differential(&o, &mut d, "options", tmp.path(), &|r| {
        let root = r.root();
        let dir = moddir_of(&root, t);
        link_copy(&t.root, &root);
        let b = root.as_os_str();
        r.depmod("-n", [os("-n"), os("-b"), b, k]);
        r.snap("after -n", &dir);
        r.depmod("-A -n", [os("-A"), os("-n"), os("-b"), b, k]);
        r.snap("after -A -n", &dir);
        r.depmod("-A without modules.dep", [os("-A"), os("-b"), b, k]);
        r.snap("after -A without modules.dep", &dir);
        let before = output_inodes(&dir);
        r.depmod("-A up to date", [os("-A"), os("-b"), b, k]);
        r.note(
            "-A up to date: files replaced",
            rewritten(&before, &output_inodes(&dir)),
        );
        // a module newer than modules.dep (by whole seconds: v34.2 compares seconds)
        let lp = dir.join(SAMPLE[0]);
        unlink_copy(&lp);
        let dep_mtime = std::fs::metadata(dir.join("modules.dep"))
            .unwrap()
            .modified()
            .unwrap();
        set_mtime(&lp, dep_mtime + Duration::from_secs(5));
        r.depmod("--quick stale", [os("--quick"), os("-b"), b, k]);
        // kmod replaces every output; kmod-rs only those whose contents change
        // (none here), but brings modules.dep's time forward all the same
        let dep_mtime_after = std::fs::metadata(dir.join("modules.dep"))
            .unwrap()
            .modified()
            .unwrap();
        r.note(
            "--quick stale: modules.dep's time moved forward",
            format!("{}", dep_mtime_after > dep_mtime),
        );
        r.snap("after -A stale", &dir);
        r.depmod(
            "-a ignores module arguments",
            [os("-a"), os("-b"), b, k, lp.as_os_str()],
        );
        r.snap("after -a FILE", &dir);
        r.depmod("-v", [os("-v"), os("-b"), b, k]);
        r.snap("after -v", &dir);
        r.depmod("-w", [os("-w"), os("-b"), b, k]);
        r.depmod("-P _", [os("-P"), os("_"), os("-b"), b, k]);
        r.snap("after -P _", &dir);
        r.depmod(
            "--symbol-prefix=ab",
            [os("--symbol-prefix=ab"), os("-b"), b, k],
        );
        r.depmod("-P ''", [os("-P"), os(""), os("-b"), b, k]);
        let out = root.join("out");
        r.depmod("-o ABS", [os("-o"), out.as_os_str(), os("-b"), b, k]);
        r.snap("-o output", &out);
        r.snap("moddir after -o", &dir);
        r.depmod_in(
            "relative -o and -b",
            &root,
            [os("--outdir"), os("out2"), os("--basedir=."), k],
        );
        r.snap("relative -o output", &root.join("out2"));
        r.depmod("relative -b", [os("-b"), os("root"), k]);
        r.snap("after relative -b", &dir);
        let out3 = root.join("out3");
        r.depmod(
            "-n -o",
            [os("-n"), os("-o"), out3.as_os_str(), os("-b"), b, k],
        );
        r.snap("-n -o output (none)", &out3);
        let slash = format!("{}/", root.display());
        r.depmod("-b ROOT/", [os("-b"), os(&slash), k]);
        r.depmod(
            "long options",
            [
                os("--all"),
                os("--warn"),
                os("--base"),
                b,
                os("--dry-run"),
                k,
            ],
        );
        r.depmod("options after the version", [os("-b"), b, k, os("--show")]);
        r.depmod("-- VERSION", [os("-b"), b, os("--"), k]);
        r.snap("at the end", &dir);
    });
    d.finish("depmod options");
}

/// Usage errors and bad arguments.
#[test]
fn oracle_depmod_cli() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-cli");
    let mut d = Diffs::default();
    let k = os(&t.kver);
    differential(&o, &mut d, "cli", tmp.path(), &|r| {
        let root = r.root();
        let dir = moddir_of(&root, t);
        link_copy(&t.root, &root);
        let b = root.as_os_str();
        let nofile = root.join("no/such/file");
        let cases: Vec<Vec<&OsStr>> = vec![
            vec![os("-h")],
            vec![os("--help")],
            vec![os("--bogus")],
            vec![os("--bogus=1")],
            vec![os("-Z")],
            vec![os("-b")],
            vec![os("--basedir")],
            vec![os("-C")],
            vec![os("-E")],
            vec![os("-F")],
            vec![os("-P")],
            vec![os("-m")],
            vec![os("-o")],
            // removed in v34
            vec![os("-u"), os("-b"), b, k],
            vec![os("-q"), os("-b"), b, k],
            vec![os("-r"), os("-b"), b, k],
            vec![os("--quiet"), os("-b"), b, k],
            vec![os("--unresolved-error"), os("-b"), b, k],
            vec![os("--root=/"), os("-b"), b, k],
            vec![os("--map"), os("-b"), b, k],
            // ambiguous prefix
            vec![os("--s"), os("-b"), b, k],
            // bad versions; without a version uname -r is used
            vec![os("-b"), b, os("abc")],
            vec![os("-b"), b, os("5")],
            vec![os("-b"), b, os("1.x")],
            vec![os("-b"), b, os("x.1")],
            vec![os("-b"), b, os("")],
            vec![os("-b"), b, os("1.2")],
            vec![os("-b"), b, os("1.2.3-no-such-kernel")],
            vec![os("-b"), b],
            vec![os("-n"), os("-b"), b, os("--"), os("1.2")],
            // module arguments
            vec![os("-b"), b, k, os("relative/x.ko")],
            vec![os("-b"), b, k, nofile.as_os_str()],
            // symbol files
            vec![os("-E"), nofile.as_os_str(), os("-b"), b, k],
            vec![os("-F"), nofile.as_os_str(), os("-b"), b, k],
            vec![os("-e"), os("-n"), os("-b"), b, k],
        ];
        for c in &cases {
            r.depmod(&format!("depmod {c:?}"), c);
        }
        r.snap("moddir", &dir);
    });
    // -V: kmod's layout, our own version text allowed
    let v = run({
        let mut c = ours_depmod();
        c.arg("-V");
        c
    });
    assert_eq!(v.status, Some(0), "depmod -V: {v:?}");
    assert!(v.stdout.starts_with(b"kmod version "), "depmod -V: {v:?}");
    d.finish("depmod cli");
}

/// Explicit module files (only those are indexed; a file outside the module
/// directory keeps its absolute path; relative, missing and duplicate files are
/// fatal) and `-m` (module directory, with and without leading slashes, with `-o`).
#[test]
fn oracle_depmod_files_and_moduledir() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-files");
    let mut d = Diffs::default();
    let k = os(&t.kver);
    differential(&o, &mut d, "module files", tmp.path(), &|r| {
        let root = r.root();
        let dir = moddir_of(&root, t);
        link_copy(&t.root, &root);
        let b = root.as_os_str();
        let files = sample(&dir);
        let outside = root.join("outside");
        std::fs::create_dir(&outside).unwrap();
        let mine = outside.join("my-loop.ko");
        std::fs::hard_link(&files[0], &mine).unwrap();
        let dup = outside.join("loop.ko");
        std::fs::hard_link(&files[0], &dup).unwrap();
        let mut a: Vec<&OsStr> = vec![os("-b"), b, k];
        a.extend(files.iter().map(|p| p.as_os_str()));
        r.depmod("sample files", &a);
        r.snap("after sample files", &dir);
        a.push(mine.as_os_str());
        r.depmod("sample files + one outside", &a);
        r.snap("after sample + outside", &dir);
        a.insert(0, os("-n"));
        r.depmod("-n sample files + one outside", &a);
        a.push(os("relative.ko"));
        r.depmod("... + a relative path", &a);
        a.pop();
        a.push(dup.as_os_str());
        r.depmod("... + a second loop.ko", &a);
        a.pop();
        let gone = outside.join("gone.ko");
        a.push(gone.as_os_str());
        r.depmod("... + a missing file", &a);
        r.depmod("one file", [os("-b"), b, k, mine.as_os_str()]);
        r.snap("after one file", &dir);
        r.snap("outside", &outside);
    });
    differential(&o, &mut d, "moduledir", tmp.path(), &|r| {
        let root = r.root();
        link_copy(&t.root, &root);
        std::fs::create_dir(root.join("custom")).unwrap();
        std::fs::rename(root.join("lib/modules"), root.join("custom/mods")).unwrap();
        let dir = root.join("custom/mods").join(&t.kver);
        let b = root.as_os_str();
        r.depmod(
            "-m /custom/mods",
            [os("-m"), os("/custom/mods"), os("-b"), b, k],
        );
        r.snap("after -m /custom/mods", &dir);
        std::fs::remove_file(dir.join("modules.dep")).unwrap();
        r.depmod(
            "--moduledir=custom/mods",
            [os("--moduledir=custom/mods"), os("-b"), b, k],
        );
        r.snap("after -m custom/mods", &dir);
        r.depmod(
            "-m //custom//mods/ -A",
            [os("-m"), os("//custom//mods/"), os("-A"), os("-b"), b, k],
        );
        let out = root.join("o");
        r.depmod(
            "-m with -o",
            [
                os("-m"),
                os("custom/mods"),
                os("-o"),
                out.as_os_str(),
                os("-b"),
                b,
                k,
            ],
        );
        r.snap("-m -o output", &out);
        r.depmod("default moduledir missing", [os("-b"), b, k]);
        r.depmod(
            "-m to a missing dir",
            [os("-m"), os("/nope"), os("-b"), b, k],
        );
        r.snap("at the end", &root);
    });
    d.finish("depmod module files and -m");
}

// ---- unusual trees ------------------------------------------------------------

/// `data` with the first occurrence of `from` replaced by `to` (same length).
fn patch(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = data
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(from)));
    let mut v = data.to_vec();
    v[at..at + to.len()].copy_from_slice(to);
    v
}

/// modules.order missing, unterminated, with duplicates and junk; modules.builtin and
/// modules.builtin.modinfo missing, empty or odd; an empty module directory.
#[test]
fn oracle_depmod_input_files() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-inputs");
    let mut d = Diffs::default();
    let k = os(&t.kver);
    differential(&o, &mut d, "input files", tmp.path(), &|r| {
        let root = r.root();
        let dir = moddir_of(&root, t);
        link_copy(&t.root, &root);
        let b = root.as_os_str();
        let args = [os("-b"), b, k];
        let order = std::fs::read(dir.join("modules.order")).unwrap();
        std::fs::remove_file(dir.join("modules.order")).unwrap();
        r.depmod("no modules.order (hash order)", args);
        r.snap("no modules.order", &dir);
        replace_file(&dir.join("modules.order"), &order[..order.len() - 1]);
        r.depmod("modules.order without final newline", args);
        r.snap("modules.order without final newline", &dir);
        // reversed, every 7th line twice (the first occurrence counts), junk lines
        let text = String::from_utf8(order.clone()).unwrap();
        let mut lines: Vec<String> = Vec::new();
        for (i, l) in text.lines().rev().enumerate() {
            lines.push(l.to_string());
            if i % 7 == 0 {
                lines.push(l.to_string());
            }
            if i % 500 == 0 {
                lines.extend([
                    "#336".to_string(),
                    String::new(),
                    "kernel/no/such.ko".to_string(),
                ]);
            }
        }
        lines.insert(
            lines.len() / 2,
            text.lines().nth(3).unwrap().replace(".ko", ".ko.xz"),
        );
        replace_file(
            &dir.join("modules.order"),
            format!("{}\n", lines.join("\n")).as_bytes(),
        );
        r.depmod("modules.order reversed, duplicated, junk", args);
        r.snap("modules.order reversed, duplicated, junk", &dir);
        replace_file(&dir.join("modules.order"), b"");
        r.depmod("empty modules.order", args);
        r.snap("empty modules.order", &dir);
        replace_file(&dir.join("modules.order"), &order);

        let builtin = std::fs::read(dir.join("modules.builtin")).unwrap();
        let binfo = std::fs::read(dir.join("modules.builtin.modinfo")).unwrap();
        std::fs::remove_file(dir.join("modules.builtin")).unwrap();
        r.depmod("no modules.builtin", args);
        r.snap("no modules.builtin", &dir);
        std::fs::remove_file(dir.join("modules.builtin.modinfo")).unwrap();
        r.depmod("no modules.builtin{,.modinfo}", args);
        r.snap("no modules.builtin{,.modinfo}", &dir);
        replace_file(&dir.join("modules.builtin"), b"");
        replace_file(&dir.join("modules.builtin.modinfo"), b"");
        r.depmod("empty modules.builtin{,.modinfo}", args);
        r.snap("empty modules.builtin{,.modinfo}", &dir);
        let mut odd = b"kernel/a/first-one.ko\n1bad/line.ko\n/abs/x.ko\nkernel/noext\nkernel/dup.ko\nkernel/dup.ko\n\nlast-without-newline.ko".to_vec();
        odd.splice(0..0, builtin.iter().copied());
        replace_file(&dir.join("modules.builtin"), &odd);
        let mut oddinfo = binfo.clone();
        oddinfo.extend_from_slice(
            b"foo.alias=bar-baz\0noequals\0.alias=x\0mod.alias=\0a-b.alias=c-d[x-y]\0\0dup.alias=p*\0dup.alias=p*\0un.alias=open[bracket\0hi.alias=caf\xc3\xa9\0trailing.alias=t",
        );
        replace_file(&dir.join("modules.builtin.modinfo"), &oddinfo);
        r.depmod("odd modules.builtin{,.modinfo}", args);
        r.snap("odd modules.builtin{,.modinfo}", &dir);
        replace_file(&dir.join("modules.builtin"), &builtin);
        replace_file(&dir.join("modules.builtin.modinfo"), &binfo);
    });
    differential(&o, &mut d, "empty trees", tmp.path(), &|r| {
        let root = r.root();
        let dir = moddir_of(&root, t);
        std::fs::create_dir_all(&dir).unwrap();
        let args = [os("-b"), root.as_os_str(), k];
        r.depmod("empty module directory", args);
        r.snap("empty module directory", &dir);
        r.depmod(
            "empty module directory -n",
            [os("-n"), os("-b"), root.as_os_str(), k],
        );
        for f in [
            "modules.order",
            "modules.builtin",
            "modules.builtin.modinfo",
        ] {
            std::fs::hard_link(moddir_of(&t.root, t).join(f), dir.join(f)).unwrap();
        }
        std::fs::create_dir_all(dir.join("kernel/empty/dir")).unwrap();
        r.depmod("inputs but no modules", args);
        r.snap("inputs but no modules", &dir);
    });
    d.finish("depmod input files");
}

/// Broken, random, truncated and odd files among the real modules: reported with their
/// path and skipped, the rest indexed as usual; aliases that cannot be normalised,
/// a devname without major:minor, non-ASCII (fatal), directories and links named
/// like modules, `build`/`source` skipped.
#[test]
fn oracle_depmod_broken_modules() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-broken");
    let mut d = Diffs::default();
    let k = os(&t.kver);
    let loop_bytes = std::fs::read(moddir_of(&t.root, t).join(SAMPLE[0])).unwrap();
    differential(&o, &mut d, "broken modules", tmp.path(), &|r| {
        let root = r.root();
        let dir = moddir_of(&root, t);
        link_copy(&t.root, &root);
        let args = [os("-b"), root.as_os_str(), k];
        let bad = dir.join("kernel/zz-broken");
        std::fs::create_dir(&bad).unwrap();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let lb = &loop_bytes;
        let shoff = u64::from_le_bytes(lb[0x28..0x30].try_into().unwrap()) as usize;
        let mut files: Vec<(&str, Vec<u8>)> = vec![
            ("empty.ko", vec![]),
            ("short.ko", b"abc".to_vec()),
            ("six.ko", b"\x7fELF\x02\x01".to_vec()),
            ("random.ko", rng.bytes(5000)),
            (
                "elfmagic.ko",
                [&b"\x7fELF\x02\x01\x01"[..], &rng.bytes(3000)].concat(),
            ),
            ("trunc-half.ko", lb[..lb.len() / 2].to_vec()),
            ("trunc-100.ko", lb[..100].to_vec()),
            (
                "xz-garbage.ko.xz",
                [&b"\xfd7zXZ\x00"[..], &rng.bytes(2000)].concat(),
            ),
            (
                "zst-garbage.ko.zst",
                [&b"\x28\xb5\x2f\xfd"[..], &rng.bytes(2000)].concat(),
            ),
            ("not-a-module.txt", b"hello".to_vec()),
            ("foo.ko.bz2", b"BZh9".to_vec()),
        ];
        let mut shoff_bad = lb.clone();
        shoff_bad[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        files.push(("shoff-bad.ko", shoff_bad));
        let mut secsize = lb.clone();
        let at = shoff + 5 * 64 + 32;
        secsize[at..at + 8].copy_from_slice(&(lb.len() as u64 * 4).to_le_bytes());
        files.push(("section-too-big.ko", secsize));
        for (n, data) in &files {
            std::fs::write(bad.join(n), data).unwrap();
        }
        // a directory named like a module (searched), links, a fifo
        std::fs::create_dir(bad.join("dir.ko")).unwrap();
        std::fs::hard_link(dir.join(SAMPLE[2]), bad.join("dir.ko/xor-again.ko")).unwrap();
        std::os::unix::fs::symlink("../drivers/block/loop.ko", bad.join("link-to-loop.ko"))
            .unwrap();
        std::os::unix::fs::symlink("../../kernel/lib", bad.join("linked-dir")).unwrap();
        let st = Command::new("mkfifo")
            .arg(bad.join("fifo.ko"))
            .status()
            .unwrap();
        assert!(st.success());
        for skip in ["build", "source"] {
            std::fs::create_dir(dir.join(skip)).unwrap();
            std::fs::hard_link(dir.join(SAMPLE[2]), dir.join(skip).join("in-build-dir.ko"))
                .unwrap();
        }
        // loop.ko: an alias that cannot be normalised, a devname without major:minor
        let lp = dir.join(SAMPLE[0]);
        let odd = patch(lb, b"block-major-7-*\0", b"block-major-7-[\0");
        let odd = patch(&odd, b"char-major-10-237", b"char-mXjor-10-237");
        replace_file(&lp, &odd);
        r.depmod("broken files", args);
        r.snap("broken files", &dir);
        r.depmod(
            "broken files -v",
            [os("-v"), os("-n"), os("-b"), root.as_os_str(), k],
        );
        // non-ASCII alias: fatal, nothing written
        replace_file(
            &lp,
            &patch(lb, b"devname:loop-control", b"devname:loop-contr\xc3\xa9"),
        );
        let before = output_contents(&dir);
        r.depmod("non-ASCII alias", args);
        // kmod replaces the outputs before the fatal one; kmod-rs only those of
        // them whose contents change
        r.note(
            "non-ASCII alias: files changed",
            changed(&before, &output_contents(&dir)),
        );
        r.snap("non-ASCII alias", &dir);
        replace_file(&lp, lb);
        // a dangling link: kmod names the directory's file descriptor in its message
        std::os::unix::fs::symlink("nowhere.ko", bad.join("dangling.ko")).unwrap();
        r.depmod("dangling symlink", args);
        r.snap("dangling symlink", &dir);
    });
    d.finish("depmod broken modules");

    // broken .ko.gz: no kmod here reads gzip, so only: reported with the path
    if std::env::var_os("KMOD_RS_DEPMOD_UNDER_TEST").is_some() {
        return;
    }
    let root = tmp.path().join("gz");
    link_copy(&t.root, &root);
    let bad = moddir_of(&root, t).join("kernel/zz-broken");
    std::fs::create_dir(&bad).unwrap();
    let mut rng = Rng(7);
    let garbage = [&b"\x1f\x8b\x08\x00"[..], &rng.bytes(2000)].concat();
    std::fs::write(bad.join("gz-garbage.ko.gz"), garbage).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &loop_bytes).unwrap();
    let gz = enc.finish().unwrap();
    std::fs::write(bad.join("trunc.ko.gz"), &gz[..gz.len() / 2]).unwrap();
    let mut c = ours_depmod();
    c.arg("-b").arg(&root).arg(&t.kver);
    let r = run(c);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status, Some(0), "broken .ko.gz: {err}");
    for n in ["gz-garbage.ko.gz", "trunc.ko.gz"] {
        assert!(
            err.lines()
                .any(|l| l.starts_with("depmod: ERROR: ") && l.contains(n)),
            "{n} not reported: {err}"
        );
    }
    let dep = std::fs::read_to_string(moddir_of(&root, t).join("modules.dep")).unwrap();
    // like every other unreadable module (kmod keeps them), listed without deps
    assert!(
        dep.contains("kernel/zz-broken/trunc.ko.gz:\n"),
        "broken .ko.gz not listed"
    );
    assert!(
        dep.contains("kernel/zz-broken/gz-garbage.ko.gz:\n"),
        "broken .ko.gz not listed"
    );
    assert!(dep.contains("kernel/drivers/block/loop.ko:"));
}

// ---- symbol files (-E, -F, -e) ---------------------------------------------------

/// Kernel symbols of a tree: versioned imports (from `__versions`) that no module
/// exports, with their CRCs.
fn kernel_symbols(t: &Tree) -> Vec<(String, u64)> {
    let mut exported = BTreeSet::new();
    let mut needed = BTreeMap::new();
    for m in t.modules() {
        let image = libkmod_rs::ModuleImage::open(&m).unwrap();
        for s in image.exports().unwrap_or_default() {
            exported.insert(String::from_utf8_lossy(&s.name).into_owned());
        }
        for s in image.versions().unwrap_or_default() {
            needed
                .entry(String::from_utf8_lossy(&s.name).into_owned())
                .or_insert(s.crc);
        }
    }
    needed
        .into_iter()
        .filter(|(n, _)| !exported.contains(n))
        .collect()
}

/// A Module.symvers and System.map for the kernel of bookworm-amd64 (generated: Debian
/// ships neither), with one symbol in 50 missing, one CRC in 70 wrong, and odd lines.
/// Also a System.map whose names carry one extra `_` (for `-P _`).
fn symbol_files(t: &Tree, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let syms = kernel_symbols(t);
    assert!(syms.len() > 1000, "only {} kernel symbols", syms.len());
    let mut symvers = String::new();
    let mut map = String::from("ffffffff81000000 T _stext\n");
    let mut map_prefixed = String::new();
    for (i, (name, crc)) in syms.iter().enumerate() {
        if i % 50 == 7 {
            continue;
        }
        let crc = if i % 70 == 3 { crc ^ 0x10 } else { *crc };
        let gpl = if i % 3 == 0 { "_GPL" } else { "" };
        let _ = writeln!(
            symvers,
            "0x{crc:08x}\t{name}\tvmlinux\tEXPORT_SYMBOL{gpl}\t"
        );
        let _ = writeln!(map, "ffffffff8{i:07x} r __ksymtab_{name}");
        let _ = writeln!(map, "ffffffff8{i:07x} T {name}");
        let _ = writeln!(map_prefixed, "ffffffff8{i:07x} r ___ksymtab_{name}");
    }
    symvers.push_str(
        "0x12345678\tin_a_module\tdrivers/foo/bar\tEXPORT_SYMBOL\t\n\
         0x12345678\tnewline_after_where\tvmlinux\n\
         0x12345678 space_separated vmlinux EXPORT_SYMBOL\n\
         12345678\tno_0x_prefix\tvmlinux\tEXPORT_SYMBOL\t\n\
         short line\n\
         \n",
    );
    map.push_str("garbage\nffffffff81000000 T\n\nffffffff81000000 R __ksymtab_\n");
    let files = (
        dir.join("Module.symvers"),
        dir.join("System.map"),
        dir.join("System.map.prefixed"),
    );
    std::fs::write(&files.0, symvers).unwrap();
    std::fs::write(&files.1, map).unwrap();
    std::fs::write(&files.2, map_prefixed).unwrap();
    files
}

/// `-e` with `-E` (unknown symbols and CRC mismatches reported), `-E` alone, `-F`,
/// both (`-E` wins), `-F` with `-P`, `-v`.
#[test]
fn oracle_depmod_symbol_files() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-symbols");
    let (symvers, map, map_prefixed) = symbol_files(t, tmp.path());
    let work = tmp.path().join("w");
    std::fs::create_dir(&work).unwrap();
    let mut d = Diffs::default();
    let k = os(&t.kver);
    differential(&o, &mut d, "symbol files", &work, &|r| {
        let root = r.root();
        let dir = moddir_of(&root, t);
        link_copy(&t.root, &root);
        let b = root.as_os_str();
        let (e, f) = (symvers.as_os_str(), map.as_os_str());
        r.depmod("-e -E", [os("-e"), os("-E"), e, os("-b"), b, k]);
        r.snap("after -e -E", &dir);
        r.depmod("-E", [os("-E"), e, os("-b"), b, k]);
        r.snap("after -E", &dir);
        r.depmod("-e -F", [os("-e"), os("-F"), f, os("-b"), b, k]);
        r.snap("after -e -F", &dir);
        r.depmod(
            "-e -F -E",
            [
                os("--errsyms"),
                os("--filesyms"),
                f,
                os("--symvers"),
                e,
                os("-n"),
                os("-b"),
                b,
                k,
            ],
        );
        r.depmod(
            "-e -F (prefixed) -P _",
            [
                os("-e"),
                os("-P"),
                os("_"),
                os("-F"),
                map_prefixed.as_os_str(),
                os("-b"),
                b,
                k,
            ],
        );
        r.snap("after -e -F -P _", &dir);
        r.depmod(
            "-v -e -E",
            [os("-v"), os("-e"), os("-E"), e, os("-b"), b, k],
        );
        let files = sample(&dir);
        let mut a: Vec<&OsStr> = vec![os("-e"), os("-E"), e, os("-b"), b, k];
        a.extend(files.iter().map(|p| p.as_os_str()));
        r.depmod("-e -E with module files", &a);
        r.snap("after -e -E with module files", &dir);
    });
    d.finish("depmod symbol files");
}

// ---- depmod.d ----------------------------------------------------------------------

/// depmod.d (`-C`): search (with built-in and external), override (kernel version
/// regexes, `-` vs `_`), external, exclude, bad lines, directories of files, several
/// `-C`, on a small tree of real modules copied into several directories.
#[test]
fn oracle_depmod_config() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("depmod-config");
    let mut d = Diffs::default();
    let k = os(&t.kver);
    let src = moddir_of(&t.root, t);
    let kv = t.kver.replace('.', "\\.").replace('+', "\\+");
    differential(&o, &mut d, "depmod.d", tmp.path(), &|r| {
        let root = r.root();
        let dir = moddir_of(&root, t);
        let place = |rel: &str, to: &Path| {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::hard_link(src.join(rel), to).unwrap();
        };
        for rel in SAMPLE {
            if src.join(rel).exists() {
                place(rel, &dir.join(rel));
            }
        }
        for f in [
            "modules.order",
            "modules.builtin",
            "modules.builtin.modinfo",
        ] {
            place(f, &dir.join(f));
        }
        let [
            lp,
            btrfs,
            xor,
            _,
            _,
            _,
            ext4,
            jbd2,
            mbcache,
            crc16,
            _,
            hidg,
            ..,
        ] = SAMPLE;
        for (rel, to) in [
            (lp, "updates/loop.ko"),
            (xor, "updates/xor.ko"),
            (lp, "extra/loop.ko"),
            (hidg, "extra/hid-generic.ko"),
            (jbd2, "extra/jbd2.ko"),
            (lp, "custom/sub/loop.ko"),
            (ext4, "custom/ext4.ko"),
            (crc16, "skipme/crc16.ko"),
            (mbcache, "kernel/junk.ko"),
            (lp, "build/loop.ko"),
            (xor, "source/xor.ko"),
            (btrfs, "extra/deeper/btrfs.ko"),
        ] {
            place(rel, &dir.join(to));
        }
        for (rel, to) in [
            (lp, "ext1/loop.ko"),
            (jbd2, "ext1/sub/jbd2.ko"),
            (xor, "ext2/xor.ko"),
            (hidg, "ext2/hid-generic.ko"),
            (lp, "ext3/loop.ko"),
        ] {
            place(rel, &root.join(to));
        }
        let conf = root.join("conf");
        let ext = |n: &str| root.join(n).display().to_string();
        let configs: Vec<(&str, String)> = vec![
            ("search-3", "search updates extra built-in\n".into()),
            ("search-2-lines", "search extra\nsearch updates\n".into()),
            (
                "search-built-in-first",
                "search built-in extra updates custom\n".into(),
            ),
            ("search-subdir", "search custom/sub extra/deeper\n".into()),
            (
                "external",
                format!(
                    "search external extra built-in\nexternal * {}\nexternal ^{kv}$ {}\nexternal ^0\\.0 {}\nexternal * {}\n",
                    ext("ext1"),
                    ext("ext2"),
                    ext("ext3"),
                    ext("no-such-dir")
                ),
            ),
            (
                "external-default-search",
                format!("external * {}\n", ext("ext2")),
            ),
            (
                "override",
                format!(
                    "search updates built-in\noverride loop * extra\noverride hid-generic {kv} extra\noverride ext4 ^0\\.0 custom\noverride xor .* extra\noverride jbd2 ( extra\n"
                ),
            ),
            (
                "override-underscore",
                "override loop * custom/sub\noverride hid_generic * extra\n".into(),
            ),
            (
                "override-later-wins",
                "override loop * custom/sub\noverride loop * extra\n".into(),
            ),
            (
                "exclude",
                "exclude extra skipme\nexclude junk.ko\nsearch extra updates built-in\n".into(),
            ),
            (
                "bad-lines",
                format!(
                    "bogus line here\nsearch\noverride loop\noverride loop *\ninclude /etc/foo\nmake_map_files\n# comment\n  # indented comment\n\n  search updates \\\n extra\nexternal * relative/dir\nexternal\nexclude\nsearch\textra\n{}",
                    "search custom"
                ),
            ),
        ];
        std::fs::create_dir_all(conf.join("empty")).unwrap();
        for (name, text) in &configs {
            std::fs::write(conf.join(format!("{name}.conf")), text).unwrap();
        }
        let b = root.as_os_str();
        let c = |n: &str| conf.join(n).into_os_string();
        let mut runs: Vec<(String, Vec<OsString>)> =
            vec![("-C empty dir".into(), vec![c("empty")])];
        for (name, _) in &configs {
            runs.push((format!("-C {name}"), vec![c(&format!("{name}.conf"))]));
        }
        // a directory of files (sorted; non-.conf skipped), same names in two dirs
        for (sub, files) in [
            (
                "dirA",
                &[
                    ("b.conf", "search updates\n"),
                    ("a.conf", "search extra\n"),
                    ("c.txt", "search custom\n"),
                    ("x.conf", "search custom\n"),
                ][..],
            ),
            (
                "dirB",
                &[
                    ("x.conf", "exclude custom\n"),
                    ("y.conf", "override loop * custom/sub\n"),
                ][..],
            ),
        ] {
            std::fs::create_dir_all(conf.join(sub)).unwrap();
            for (n, text) in files {
                std::fs::write(conf.join(sub).join(n), text).unwrap();
            }
        }
        runs.push(("-C dirA".into(), vec![c("dirA")]));
        runs.push((
            "-C dirA -C dirB".into(),
            vec![c("dirA"), os("-C").into(), c("dirB")],
        ));
        runs.push((
            "-C dirB -C dirA".into(),
            vec![c("dirB"), os("-C").into(), c("dirA")],
        ));
        runs.push(("-C missing".into(), vec![c("missing")]));
        runs.push((
            "--config=FILE".into(),
            vec![os("--config").into(), c("exclude.conf")],
        ));
        for (label, cargs) in &runs {
            let mut a: Vec<&OsStr> = Vec::new();
            if !label.starts_with("--config") {
                a.push(os("-C"));
            }
            a.extend(cargs.iter().map(OsString::as_os_str));
            a.extend([os("-v"), os("-b"), b, k]);
            r.depmod(&format!("{label} -v"), &a);
            r.snap(label, &dir);
            // -vv shows the INFO lines too (libkmod's two lines with pointers removed)
            a.insert(0, os("-v"));
            let mut c = r.depmod_cmd();
            c.args(&a);
            let mut run = run_cmd(&mut c);
            run.stdout.clear();
            run.stderr = without_pointer_lines(&run.stderr);
            r.log
                .push((format!("{label} -vv (stderr)"), Item::Run(run)));
        }
        r.depmod(
            "-C with explicit module files (config unused)",
            [
                os("-C"),
                c("override.conf").as_os_str(),
                os("-b"),
                b,
                k,
                dir.join(SAMPLE[0]).as_os_str(),
            ],
        );
        r.snap("explicit files", &dir);
    });
    d.finish("depmod.d");
}

/// Drop the INFO lines in which libkmod prints pointers (`custom logging function
/// 0x... registered`, `context 0x... released`).
fn without_pointer_lines(err: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(err);
    text.split_inclusive('\n')
        .filter(|l| {
            !(l.contains(": INFO: custom logging function 0x") || l.contains(": INFO: context 0x"))
        })
        .collect::<String>()
        .into_bytes()
}
