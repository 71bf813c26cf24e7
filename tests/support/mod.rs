//! Shared test helpers: temp dirs, running our binary and the reference kmod,
//! locating the reference data, comparing outputs.

#![allow(dead_code)]

pub mod ko;
pub mod schema;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "kmod-rs-test-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("KMOD_RS_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Our multi-call binary run as `tool`.
pub fn ours(tool: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kmod"));
    c.arg0(tool);
    c.stdin(Stdio::null());
    c
}

/// The outcome of one command, for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: Option<i32>,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            stdout: o.stdout,
            stderr: o.stderr,
            status: o.status.code(),
        }
    }
}

pub fn run(mut c: Command) -> Run {
    c.output().expect("spawn").into()
}

/// Where the reference data lives.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("KMOD_RS_CACHE") {
        return PathBuf::from(p);
    }
    if nix_is_root() {
        PathBuf::from("/var/cache/kmod-rs")
    } else {
        let base = std::env::var_os("XDG_CACHE_HOME").map_or_else(
            || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"),
            PathBuf::from,
        );
        base.join("kmod-rs")
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A real module tree from the cache.
#[derive(Debug, Clone)]
pub struct Tree {
    pub name: String,
    /// The root (contains lib/modules/<kver>).
    pub root: PathBuf,
    pub kver: String,
}

impl Tree {
    pub fn moddir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.kver)
    }

    /// Every module file of the tree, sorted.
    pub fn modules(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        walk(&self.moddir(), &mut v);
        v.retain(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".ko")
                || s.ends_with(".ko.xz")
                || s.ends_with(".ko.zst")
                || s.ends_with(".ko.gz")
        });
        v.sort();
        v
    }
}

pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            walk(&p, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

/// The reference kmod and trees.
pub struct Oracle {
    pub bin: PathBuf,
    pub bin30: PathBuf,
    pub trees: Vec<Tree>,
}

impl Oracle {
    /// The reference, or None (skip) — or a panic if `KMOD_RS_REQUIRE_ORACLE` is set.
    pub fn get() -> Option<Oracle> {
        let cache = cache_dir();
        let bin = cache.join("kmod34/bin");
        let mut trees = Vec::new();
        if let Ok(rd) = std::fs::read_dir(cache.join("trees")) {
            for e in rd.flatten() {
                let root = e.path();
                if let Ok(k) = std::fs::read_to_string(root.join("KVER")) {
                    trees.push(Tree {
                        name: e.file_name().to_string_lossy().into_owned(),
                        root,
                        kver: k.trim().to_string(),
                    });
                }
            }
        }
        trees.sort_by(|a, b| a.name.cmp(&b.name));
        let ok = bin.join("modinfo").exists() && !trees.is_empty();
        if !ok {
            assert!(
                std::env::var_os("KMOD_RS_REQUIRE_ORACLE").is_none(),
                "reference kmod or trees missing under {} (run scripts/fetch-reference.sh)",
                cache.display()
            );
            eprintln!("SKIP: no reference data under {}", cache.display());
            return None;
        }
        Some(Oracle {
            bin30: cache.join("kmod30/bin"),
            bin,
            trees,
        })
    }

    pub fn tree(&self, name: &str) -> &Tree {
        self.trees
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("tree {name} missing"))
    }

    /// kmod 34.2's `tool`.
    pub fn theirs(&self, tool: &str) -> Command {
        let mut c = Command::new(self.bin.join(tool));
        c.stdin(Stdio::null());
        c
    }
}

/// Collects mismatches between two runs and reports them all at the end.
#[derive(Default)]
pub struct Diffs {
    pub failures: Vec<String>,
    pub compared: usize,
}

/// Our `--help` text as kmod's: without the rows of the options beyond kmod 34.2
/// (a deliberate difference: `--json`, `--select`, insmod's `--force-modversion`
/// and `--force-vermagic`). Other output is left alone.
pub fn help_as_kmod(stdout: &[u8]) -> Vec<u8> {
    if !stdout.starts_with(b"Usage:") {
        return stdout.to_vec();
    }
    let mut out = stdout.to_vec();
    for (_, table, layout) in kmod_rs::dispatch::help_tables() {
        for o in table.iter().filter(|o| o.beyond_kmod && o.listed()) {
            let row = kmod_rs::usage::row_text(layout.width, o);
            out = replace(&out, row.as_bytes(), b"");
        }
    }
    out
}

impl Diffs {
    /// Compare our run with kmod's (`expected`); our `--help` texts count as kmod's
    /// without the options beyond kmod ([`help_as_kmod`]).
    pub fn check(&mut self, what: &str, expected: &Run, got: &Run) {
        self.compared += 1;
        let got = &Run {
            stdout: help_as_kmod(&got.stdout),
            ..got.clone()
        };
        if expected == got {
            return;
        }
        let mut msg = format!("== {what}\n");
        if expected.status != got.status {
            let _ = writeln!(
                msg,
                "status: kmod {:?}, ours {:?}",
                expected.status, got.status
            );
        }
        for (name, e, g) in [
            ("stdout", &expected.stdout, &got.stdout),
            ("stderr", &expected.stderr, &got.stderr),
        ] {
            if e != g {
                msg.push_str(&first_diff(name, e, g));
            }
        }
        self.failures.push(msg);
    }

    pub fn finish(self, what: &str) {
        eprintln!(
            "{what}: {} comparisons, {} mismatches",
            self.compared,
            self.failures.len()
        );
        if !self.failures.is_empty() {
            let shown: Vec<&String> = self.failures.iter().take(8).collect();
            panic!(
                "{what}: {} of {} comparisons differ from kmod:\n{}",
                self.failures.len(),
                self.compared,
                shown.iter().map(|s| s.as_str()).collect::<String>()
            );
        }
    }
}

pub fn first_diff(name: &str, e: &[u8], g: &[u8]) -> String {
    let el: Vec<&[u8]> = e.split(|&c| c == b'\n').collect();
    let gl: Vec<&[u8]> = g.split(|&c| c == b'\n').collect();
    for i in 0..el.len().max(gl.len()) {
        let a = el.get(i).copied();
        let b = gl.get(i).copied();
        if a != b {
            return format!(
                "{name} line {}:\n  kmod: {:?}\n  ours: {:?}\n",
                i + 1,
                a.map(String::from_utf8_lossy),
                b.map(String::from_utf8_lossy)
            );
        }
    }
    format!("{name}: differ\n")
}

/// Split `items` into batches of `n`.
pub fn batches<T: Clone>(items: &[T], n: usize) -> Vec<Vec<T>> {
    items.chunks(n).map(<[T]>::to_vec).collect()
}

/// Replace every occurrence of `from` with `to` in `b`.
pub fn replace(b: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(c: &mut Command, it: I) -> &mut Command {
    c.args(it)
}

/// A hard-linked copy of a tree's root (cheap), with kmod's depmod run on it so
/// the indexes exist.
pub fn indexed_copy(o: &Oracle, tree: &Tree, tmp: &Path) -> PathBuf {
    let root = tmp.join(&tree.name);
    let st = Command::new("cp")
        .arg("-al")
        .arg(&tree.root)
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    let out = o
        .theirs("depmod")
        .arg("-b")
        .arg(&root)
        .arg(&tree.kver)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kmod depmod failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

/// A small deterministic PRNG (xorshift) for generated inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---- depmod helpers -------------------------------------------------------------

/// The depmod under test: our binary called as `depmod`. Only to check the depmod
/// tests themselves, `KMOD_RS_DEPMOD_UNDER_TEST=<program>` replaces it (e.g. kmod
/// 34.2's own `depmod` wrapper: every differential comparison must then pass).
pub fn ours_depmod() -> Command {
    if let Some(p) = std::env::var_os("KMOD_RS_DEPMOD_UNDER_TEST") {
        let mut c = Command::new(p);
        c.stdin(Stdio::null());
        return c;
    }
    ours("depmod")
}

/// The files depmod writes into `<moddir>/<kver>`, in the order it writes them.
pub const DEPMOD_OUTPUTS: [&str; 11] = [
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.weakdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

/// kmod-rs's depmod cache in the output directory (beyond kmod: left out when
/// directories written by both are compared).
pub const DEPMOD_CACHE: &str = "modules.kmod-rs-cache.bin";

/// `cp -al src dst`: a hard-linked copy of a tree. Never write through one of its
/// files (that would change the cache): use [`replace_file`].
pub fn link_copy(src: &Path, dst: &Path) {
    let st = Command::new("cp")
        .arg("-al")
        .arg(src)
        .arg(dst)
        .status()
        .unwrap();
    assert!(st.success(), "cp -al {} {}", src.display(), dst.display());
}

/// Replace `path` (maybe a hard link into the cache) by a new file holding `data`.
pub fn replace_file(path: &Path, data: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, data).unwrap();
}

/// Give `path` (maybe a hard link into the cache) its own inode, same contents.
pub fn unlink_copy(path: &Path) {
    let data = std::fs::read(path).unwrap();
    replace_file(path, &data);
}

/// Module name of a path as depmod derives it: basename up to the first `.`,
/// `-` turned into `_`.
pub fn modname_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split('.').next().unwrap_or(base).replace('-', "_")
}

/// Whether `name` (a file name in depmod's output directory) looks like a temporary
/// file depmod writes before renaming it: kmod 34's `<output>.<pid>.<usec>.<sec>`
/// (kmod-rs names its cache's the same way), kmod master's `tmpfileXXXXXX`, or a
/// hidden file. Never a name a reader opens.
pub fn is_depmod_temp_name(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if name.starts_with('.') {
        return true;
    }
    if let Some(rest) = name.strip_prefix("tmpfile") {
        return rest.len() == 6 && rest.bytes().all(|c| c.is_ascii_alphanumeric());
    }
    DEPMOD_OUTPUTS.iter().chain([&DEPMOD_CACHE]).any(|o| {
        name.strip_prefix(o)
            .and_then(|r| r.strip_prefix('.'))
            .is_some_and(|r| {
                let parts: Vec<&str> = r.split('.').collect();
                parts.len() == 3 && parts.iter().all(|p| digits(p))
            })
    })
}

/// The module names of `modules.dep`, with dashes (as the modprobe oracle tests
/// name them).
pub fn module_names(moddir: &Path) -> Vec<String> {
    std::fs::read_to_string(moddir.join("modules.dep"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(|p| modname_of(p).replace('_', "-"))
        .collect()
}

/// A concrete string matching an alias pattern.
pub fn instantiate(p: &str) -> String {
    let mut out = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push('1'),
            '?' => out.push('B'),
            '[' => {
                let mut first = None;
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if first.is_none() && c != '!' && c != '^' {
                        first = Some(c);
                    }
                }
                if let Some(f) = first {
                    out.push(f);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A fake root with `proc/modules` holding `proc_modules` and the `/sys/module`
/// entries of `fat` (used by `vfat`) and `vfat`.
pub fn fat_vfat_root(r: &Path, proc_modules: &str) {
    let put = |p: &str, s: &str| {
        let p = r.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    };
    put("proc/modules", proc_modules);
    put("sys/module/fat/refcnt", "1\n");
    put("sys/module/fat/coresize", "90112\n");
    std::fs::create_dir_all(r.join("sys/module/fat/holders/vfat")).unwrap();
    put("sys/module/vfat/refcnt", "0\n");
    put("sys/module/vfat/coresize", "20480\n");
    std::fs::create_dir_all(r.join("sys/module/vfat/holders")).unwrap();
}
