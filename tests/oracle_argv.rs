//! Command lines compared with kmod 34.2: random argument vectors built from each
//! tool's option table (short and long forms, abbreviations, attached and separate
//! values, clusters, `--`, bad options, operands, non-UTF-8 bytes), seeded and
//! reproducible; stdout, stderr and exit status must be identical.
//!
//! Only safe modes run: modprobe always gets `-n` (dry run), a module directory and a
//! configuration under a temporary directory; depmod `-n` and a root under it; insmod
//! and rmmod only ever name files and modules that do not exist; every path an option
//! may write to is under the temporary directory.
//!
//! The deliberate differences (README), normalised before comparing:
//! * `-V` prints `kmod version 34.2 (kmod-rs <version>)` and our feature line;
//! * `--help` lists the options beyond kmod 34.2's tool (insmod's
//!   `--force-modversion` and `--force-vermagic`, `--json`, modprobe's `--select`,
//!   depmod's `--check` and `--no-cache`), which are never generated here.
//!
//! Known gaps outside the command-line code, also taken out before comparing:
//! * depmod's DEBUG lines (`-vvv`): kmod prints libkmod's and depmod's per-module
//!   DEBUG lines (`try ...`, `add ...`, `load symbols ...`), kmod-rs only those of
//!   the configuration;
//! * depmod's library messages are UTF-8 strings: a path with other bytes in them
//!   (a `-b` value, say) is printed re-encoded, so its stderr is compared decoded;
//! * rmmod refuses a module name that is not UTF-8 with ENOENT before calling
//!   `delete_module` (the kernel interface takes `&str`); kmod asks the kernel,
//!   which answers ENOENT too unless it cannot unload modules at all (ENOSYS).
//!
//! `KMOD_RS_ARGV_SEED` changes the seed, `KMOD_RS_ARGV_COUNT` the number of vectors
//! per tool (default 300).

use crate::support::*;
use kmod_rs::completions;
use kmod_rs::getopt::{HasArg, Opt};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Command;

struct Setup {
    tmp: TempDir,
}

impl Setup {
    fn new() -> Self {
        let tmp = TempDir::new("argv");
        let root = tmp.path().join("root");
        for kver in ["1.2.3", &release()] {
            std::fs::create_dir_all(root.join("lib/modules").join(kver)).unwrap();
        }
        std::fs::create_dir_all(tmp.path().join("cwd")).unwrap();
        std::fs::write(
            tmp.path().join("modprobe.conf"),
            "alias kmodrs_alias kmodrs_none_a\noptions kmodrs_none_a p=1\n\
             blacklist kmodrs_none_b\ninstall kmodrs_none_c /bin/true\n",
        )
        .unwrap();
        Setup { tmp }
    }

    fn path(&self, p: &str) -> Vec<u8> {
        self.tmp.path().join(p).into_os_string().into_vec()
    }
}

fn release() -> String {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    r.trim().to_string()
}

/// Values for an option taking an argument.
fn values(s: &Setup, tool: &str, long: &str) -> Vec<Vec<u8>> {
    let v = |x: &[&[u8]]| x.iter().map(|b| b.to_vec()).collect::<Vec<_>>();
    match (tool, long) {
        ("modprobe", "wait") => v(&[b"0", b"100", b"x", b"", b"0x", b"010", b"-1", b"1\xff"]),
        ("modprobe", "config") => vec![s.path("modprobe.conf"), s.path("nothere.conf")],
        // a root too long for PATH_MAX too
        ("modprobe" | "modinfo" | "depmod", "dirname" | "basedir") => {
            vec![s.path("root"), s.path("none"), s.path(&"x".repeat(4100))]
        }
        (_, "set-version") => v(&[b"1.2.3", b"0.0", b"v\xff"]),
        ("depmod", "moduledir") => v(&[b"/lib/modules", b"lib/modules", b"other"]),
        ("depmod", "outdir") => vec![s.path("out"), s.path(&"y".repeat(4100))],
        ("depmod", "config") => vec![s.path("depmod.d"), s.path("nothere")],
        ("depmod", "symvers" | "filesyms") => vec![s.path("nothere")],
        ("depmod", "symbol-prefix") => v(&[b"_", b"", b"ab", b"\xff"]),
        ("modinfo", "field") => v(&[b"author", b"name", b"filename", b"x\xff"]),
        ("static-nodes", "output") => vec![s.path("sn/out")],
        ("static-nodes", "format") => v(&[b"human", b"tmpfiles", b"devname", b"bogus", b"b\xff"]),
        _ => panic!("no values for {tool} --{long}"),
    }
}

/// Operands for `tool`: none names anything that exists.
fn operands(tool: &str) -> Vec<Vec<u8>> {
    let v = |x: &[&[u8]]| x.iter().map(|b| b.to_vec()).collect::<Vec<_>>();
    match tool {
        "insmod" => v(&[
            b"/nonexistent-kmodrs/a.ko",
            b"kmodrs_none.ko",
            b"-",
            b"p=1",
            b"q=\"a b\"",
            b"x\xff.ko",
        ]),
        "rmmod" => v(&[
            b"kmodrs_none_a",
            b"kmodrs-none-b",
            b"/nonexistent-kmodrs/kmodrs_none_c.ko",
            b"kmodrs_\xff",
        ]),
        "depmod" => v(&[
            b"1.2.3",
            b"0.0",
            b"bad",
            b"/nonexistent-kmodrs/a.ko",
            b"rel.ko",
            b"9\xff",
        ]),
        "modinfo" | "modprobe" => v(&[
            b"kmodrs_none_a",
            b"kmodrs_alias",
            b"kmodrs_none_c",
            b"/nonexistent-kmodrs/a.ko",
            b"kmodrs_\xff",
        ]),
        _ => v(&[b"x", b"y\xff"]),
    }
}

/// Bad or odd tokens any tool may see.
const JUNK: &[&[u8]] = &[
    b"--",
    b"-",
    b"-Z",
    b"-q",
    b"-\xff",
    b"--bogus",
    b"--bogus=1",
    b"--\xfe",
    b"--=x",
    b"--verbose=1",
    b"--help=x",
    b"-:",
    b"-;",
];

/// One option occurrence, in a random form.
fn option(rng: &mut Rng, s: &Setup, tool: &str, o: &Opt<()>) -> Vec<Vec<u8>> {
    let long = o.long.unwrap_or_default();
    let value = || values(s, tool, long);
    let pick = |rng: &mut Rng, v: &[Vec<u8>]| v[rng.next() as usize % v.len()].clone();
    let use_short = o.short.is_some() && one_in(rng, 2);
    let name: Vec<u8> = if use_short {
        vec![b'-', o.short.unwrap()]
    } else {
        // the full name or an abbreviation (maybe ambiguous)
        let n = long.len();
        let cut = if one_in(rng, 3) {
            1 + rng.next() as usize % n
        } else {
            n
        };
        [b"--", &long.as_bytes()[..cut]].concat()
    };
    match o.arg {
        HasArg::No => {
            if !use_short && one_in(rng, 20) {
                vec![[&name[..], b"=1"].concat()]
            } else {
                vec![name]
            }
        }
        HasArg::Required | HasArg::Optional => {
            let v = pick(rng, &value());
            match rng.next() % 5 {
                // missing at the end of the line, or swallowing the next token
                0 => vec![name],
                1 | 2 => vec![name, v],
                _ if use_short => vec![[&name[..], &v[..]].concat()],
                _ => vec![[&name[..], b"=", &v[..]].concat()],
            }
        }
    }
}

/// A cluster of short options (`-sv`, `-fvC<value>`).
fn cluster(rng: &mut Rng, s: &Setup, tool: &str, table: &[Opt<()>]) -> Vec<Vec<u8>> {
    let shorts: Vec<&Opt<()>> = table.iter().filter(|o| o.short.is_some()).collect();
    let mut t = vec![b'-'];
    for _ in 0..2 + rng.next() % 3 {
        let o = shorts[rng.next() as usize % shorts.len()];
        t.push(o.short.unwrap());
        if o.arg != HasArg::No {
            if one_in(rng, 2) {
                let v = values(s, tool, o.long.unwrap_or_default());
                t.extend_from_slice(&v[rng.next() as usize % v.len()]);
            }
            break;
        }
    }
    vec![t]
}

fn vector(rng: &mut Rng, s: &Setup, tool: &str, table: &[Opt<()>]) -> Vec<Vec<u8>> {
    let kmod_opts: Vec<&Opt<()>> = table.iter().filter(|o| !o.beyond_kmod).collect();
    let ops = operands(tool);
    let mut v = Vec::new();
    for _ in 0..rng.next() % 6 {
        match rng.next() % 20 {
            0..=10 => {
                let o = kmod_opts[rng.next() as usize % kmod_opts.len()];
                v.extend(option(rng, s, tool, o));
            }
            11..=12 => v.extend(cluster(rng, s, tool, table)),
            13..=17 => v.push(ops[rng.next() as usize % ops.len()].clone()),
            _ => v.push(JUNK[rng.next() as usize % JUNK.len()].to_vec()),
        }
    }
    // -h and -V are common: make them rarer than the rest so errors are reached
    if v.iter().any(|a| is_help_or_version(a)) && !one_in(rng, 3) {
        v.retain(|a| !is_help_or_version(a));
    }
    v
}

fn one_in(rng: &mut Rng, n: u64) -> bool {
    rng.next().is_multiple_of(n)
}

fn is_help_or_version(a: &[u8]) -> bool {
    matches!(a, b"-h" | b"-V" | b"--help" | b"--version")
}

/// The fixed options that keep a tool in its safe mode, first on the line.
fn safe_prefix(s: &Setup, tool: &str) -> Vec<Vec<u8>> {
    match tool {
        "modprobe" => vec![
            b"-n".to_vec(),
            b"-d".to_vec(),
            s.path("root"),
            b"-C".to_vec(),
            s.path("modprobe.conf"),
        ],
        "depmod" => vec![b"-n".to_vec(), b"-b".to_vec(), s.path("root")],
        _ => Vec::new(),
    }
}

/// Environment variables a vector may set.
type Vars = Vec<(&'static str, Vec<u8>)>;

fn command(mut c: Command, s: &Setup, args: &[Vec<u8>], vars: &Vars) -> Command {
    c.args(args.iter().map(|a| OsString::from_vec(a.clone())));
    c.current_dir(s.tmp.path().join("cwd"));
    for var in ["MODPROBE_OPTIONS", "KMOD_LOG", "POSIXLY_CORRECT"] {
        c.env_remove(var);
    }
    for (k, v) in vars {
        c.env(k, OsString::from_vec(v.clone()));
    }
    c.env("LC_ALL", "C");
    c
}

/// Sometimes `POSIXLY_CORRECT` (options end at the first operand), and for
/// modprobe sometimes some of the tokens in `MODPROBE_OPTIONS` (read before the
/// command line).
fn vars(rng: &mut Rng, tool: &str, args: &mut Vec<Vec<u8>>, safe: usize) -> Vars {
    let mut v = Vars::new();
    if one_in(rng, 8) {
        v.push(("POSIXLY_CORRECT", b"1".to_vec()));
    }
    if tool == "modprobe" && args.len() > safe && one_in(rng, 6) {
        let n = 1 + rng.next() as usize % (args.len() - safe);
        let moved: Vec<Vec<u8>> = args.drain(safe..safe + n).collect();
        v.push(("MODPROBE_OPTIONS", moved.join(&b' ')));
    }
    v
}

/// libkmod's INFO lines at `-vv` carry addresses: mask every `0x<hex>`.
fn mask_pointers(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"0x") {
            out.extend_from_slice(b"0xPTR");
            i += 2;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Both outputs with the known gaps outside the command-line code (see the module
/// documentation) taken out.
fn known_gaps(tool: &str, r: &mut Run) {
    match tool {
        "depmod" => {
            r.stderr = r
                .stderr
                .split_inclusive(|&c| c == b'\n')
                .filter(|l| !l.starts_with(b"depmod: DEBUG: "))
                .flatten()
                .copied()
                .collect();
            r.stderr = String::from_utf8_lossy(&r.stderr).into_owned().into_bytes();
        }
        "rmmod" => {
            let mut out = Vec::new();
            for l in r.stderr.split_inclusive(|&c| c == b'\n') {
                match l.strip_suffix(b": Function not implemented\n") {
                    Some(head) if std::str::from_utf8(l).is_err() => {
                        out.extend_from_slice(head);
                        out.extend_from_slice(b": No such file or directory\n");
                    }
                    _ => out.extend_from_slice(l),
                }
            }
            r.stderr = out;
        }
        _ => {}
    }
}

/// Our output with the deliberate differences turned into kmod's.
fn normalise(mut ours: Run, theirs_version: &[u8], our_version: &[u8]) -> Run {
    if ours.stdout == our_version {
        ours.stdout = theirs_version.to_vec();
    }
    ours
}

fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn oracle_random_command_lines() {
    let Some(o) = Oracle::get() else { return };
    let s = Setup::new();
    let seed: u64 = std::env::var("KMOD_RS_ARGV_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6b6d_6f64_2d72_7321);
    let count: usize = std::env::var("KMOD_RS_ARGV_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let v = [b"-V".to_vec()];
    let theirs_version = run(command(o.theirs("kmod"), &s, &v, &Vars::new())).stdout;
    let our_version = run(command(ours("kmod"), &s, &v, &Vars::new())).stdout;
    let mut d = Diffs::default();
    for tool in [
        "insmod", "rmmod", "lsmod", "modinfo", "modprobe", "depmod", "kmod",
    ] {
        let tool: &'static str = tool;
        let mut rng = Rng(seed ^ tool.len() as u64 ^ (u64::from(tool.as_bytes()[0]) << 32));
        let table = completions::opts(tool).unwrap();
        for _ in 0..count {
            let mut args = safe_prefix(&s, tool);
            let safe = args.len();
            if tool == "kmod" {
                args.extend(kmod_vector(&mut rng, &s));
            } else {
                args.extend(vector(&mut rng, &s, tool, &table));
            }
            let vars = vars(&mut rng, tool, &mut args, safe);
            let run = Vector { tool, args, vars };
            compare(&o, &mut d, &s, &run, &theirs_version, &our_version);
        }
    }
    if std::env::var_os("KMOD_RS_ARGV_VERBOSE").is_some() {
        for f in &d.failures {
            eprint!("{f}");
        }
    }
    d.finish("random command lines");
}

/// `kmod [options] [command [command options]]`.
fn kmod_vector(rng: &mut Rng, s: &Setup) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    if one_in(rng, 4) {
        v.extend(vector(rng, s, "kmod", &completions::opts("kmod").unwrap()));
    }
    if one_in(rng, 8) {
        v.push(b"--".to_vec());
    }
    let cmd: &[u8] = match rng.next() % 8 {
        0 => b"help",
        1..=3 => b"list",
        4..=6 => b"static-nodes",
        _ => b"bogus\xff",
    };
    v.push(cmd.to_vec());
    let sub = if cmd == b"list" {
        "lsmod"
    } else {
        "static-nodes"
    };
    v.extend(vector(rng, s, sub, &completions::opts(sub).unwrap()));
    v
}

/// One command line to compare.
struct Vector {
    tool: &'static str,
    args: Vec<Vec<u8>>,
    vars: Vars,
}

fn compare(
    o: &Oracle,
    d: &mut Diffs,
    s: &Setup,
    v: &Vector,
    theirs_version: &[u8],
    our_version: &[u8],
) {
    let (tool, args) = (v.tool, &v.args);
    let clean = || {
        for p in ["out", "sn"] {
            let _ = std::fs::remove_dir_all(s.tmp.path().join(p));
        }
    };
    clean();
    let mut k = run(command(o.theirs(tool), s, args, &v.vars));
    clean();
    let u = run(command(ours(tool), s, args, &v.vars));
    let mut u = normalise(u, theirs_version, our_version);
    for r in [&mut k, &mut u] {
        r.stderr = mask_pointers(&r.stderr);
        known_gaps(tool, r);
    }
    let mut vars = String::new();
    for (k, v) in &v.vars {
        let _ = write!(vars, "{k}={:?} ", String::from_utf8_lossy(v));
    }
    d.check(&format!("{vars}{tool} {}", show(args)), &k, &u);
    assert!(
        !Path::new("/nonexistent-kmodrs").exists(),
        "a test path was created"
    );
}

/// Fixed command lines: every help text, and the cases that once differed.
#[test]
fn oracle_help_texts_and_fixed_command_lines() {
    let Some(o) = Oracle::get() else { return };
    let s = Setup::new();
    let v = [b"-V".to_vec()];
    let theirs_version = run(command(o.theirs("kmod"), &s, &v, &Vars::new())).stdout;
    let our_version = run(command(ours("kmod"), &s, &v, &Vars::new())).stdout;
    let mut cases: Vec<(&'static str, Vec<&[u8]>)> = Vec::new();
    for tool in ["insmod", "rmmod", "lsmod", "modinfo", "modprobe", "depmod"] {
        for h in [&b"-h"[..], b"--help", b"--he", b"-V", b"--version"] {
            cases.push((tool, vec![h]));
        }
        // options act in order: -h before a bad option wins, after it loses
        cases.push((tool, vec![b"-h", b"-Z"]));
        cases.push((tool, vec![b"-Z", b"-h"]));
        cases.push((tool, vec![b"--bogus\xff", b"-h"]));
        cases.push((tool, vec![b"-\xfe"]));
        cases.push((tool, vec![b"x\xff", b"-hZ"]));
    }
    for args in [
        &[&b"-h"[..]][..],
        &[b"--help"],
        &[b"help"],
        &[b"-h", b"-s"],
        &[b"-s", b"-h"],
        &[b"list", b"-h"],
        &[b"list", b"--help", b"-Z"],
        &[b"--", b"list", b"-Z"],
        &[b"static-nodes", b"-h"],
        &[b"static-nodes", b"--help"],
        &[b"static-nodes", b"x", b"-Z"],
        &[b"static-nodes", b"-f", b"bad\xff"],
        &[b"bad\xff"],
        &[],
    ] {
        cases.push(("kmod", args.to_vec()));
    }
    // kmod 34.2's insmod has only --force: these abbreviate it
    for f in [&b"--f"[..], b"--fo", b"--for", b"--forc", b"--force"] {
        cases.push(("insmod", vec![f, b"/nonexistent-kmodrs/a.ko"]));
    }
    cases.push(("modprobe", vec![b"-w", b"x\xff", b"-h"]));
    cases.push(("modprobe", vec![b"-h", b"-w", b"x"]));
    cases.push(("depmod", vec![b"-P", b"ab", b"-h"]));
    cases.push(("depmod", vec![b"-h", b"-P", b"ab"]));
    cases.push(("modinfo", vec![b"-F"]));
    let mut d = Diffs::default();
    for (tool, args) in cases {
        let mut a = safe_prefix(&s, tool);
        a.extend(args.iter().map(|x| x.to_vec()));
        let v = Vector {
            tool,
            args: a,
            vars: Vars::new(),
        };
        compare(&o, &mut d, &s, &v, &theirs_version, &our_version);
    }
    d.finish("help texts and fixed command lines");
}
