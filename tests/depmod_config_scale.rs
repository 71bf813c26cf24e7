//! depmod.d at scale: a configuration of many `override`, `search`, `external` and
//! `exclude` lines parses in time linear in its size (kmod keeps each in a list it
//! prepends to; doing that by inserting at the front of an array made 200,000
//! `override` lines take seconds), and a generated configuration gives outputs
//! identical to kmod 34.2's.

use crate::depmod_synthetic::{KVER, M, m, write_tree};
use crate::support::*;
use libkmod_rs::depmod::config::DepmodConfig;
use object::{Architecture, Endianness};
use std::time::{Duration, Instant};

/// `n` lines: overrides mostly, with `search`, `external` and `exclude` lines.
fn config(n: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(n * 40);
    for i in 0..n {
        let line = match i % 10 {
            0 => format!("search dir{i} built-in\n"),
            1 => format!("exclude ex{i}\n"),
            2 => format!("external * /nonexistent-kmodrs/ext{i}\n"),
            _ => format!("override mod{i} * dir{i}\n"),
        };
        s.extend_from_slice(line.as_bytes());
    }
    s
}

/// The best of three parses of `text`.
fn parse_time(text: &[u8]) -> Duration {
    (0..3)
        .map(|_| {
            let mut cfg = DepmodConfig::default();
            let mut log = Vec::new();
            let t = Instant::now();
            cfg.parse_bytes("gen.conf", text, KVER.as_bytes(), &mut log);
            cfg.finish(&mut log);
            t.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn depmod_config_parses_in_linear_time() {
    let small = config(20_000);
    let large = config(200_000);
    let (ts, tl) = (parse_time(&small), parse_time(&large));
    eprintln!("20,000 lines: {ts:?}, 200,000 lines: {tl:?}");
    // ten times the lines: about ten times the time (quadratic would be a hundred)
    assert!(
        tl < ts * 25 + Duration::from_millis(50),
        "200,000 lines took {tl:?}, 20,000 lines {ts:?}: not linear"
    );
    // and the order is kmod's: the last parsed first
    let mut cfg = DepmodConfig::default();
    cfg.parse_bytes("gen.conf", &small, KVER.as_bytes(), &mut Vec::new());
    assert_eq!(cfg.overrides.front().unwrap(), b"dir19999/mod19999");
    assert_eq!(cfg.overrides.back().unwrap(), b"dir3/mod3");
}

/// Modules of the same names in several directories, so that overrides, search
/// order and external directories decide which one depmod takes.
fn tree() -> Vec<M> {
    let mut v = Vec::new();
    for dir in ["kernel/a", "kernel/b", "updates", "extra", "dir7", "ex11"] {
        for name in ["dup1", "dup2", "dup3"] {
            let path: &'static str = Box::leak(format!("{dir}/{name}.ko").into_boxed_str());
            v.push(m(path, &[], &[]));
        }
    }
    v.push(m("kernel/a/user.ko", &[], &["sym_none"]));
    v
}

#[test]
fn oracle_depmod_generated_config() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("dcfg-scale");
    let root = tmp.path().join("root");
    write_tree(&root, &tree(), Architecture::X86_64, Endianness::Little);
    let moddir = root.join("lib/modules").join(KVER);
    std::fs::create_dir_all(root.join("ext")).unwrap();
    std::fs::create_dir_all(root.join("ext/deep")).unwrap();
    std::fs::copy(moddir.join("extra/dup3.ko"), root.join("ext/deep/dup3.ko")).unwrap();
    let mut d = Diffs::default();
    let mut outputs = std::collections::HashSet::new();
    let mut rng = Rng(0x6465_706d_6f64_2e64);
    for round in 0..6 {
        // a generated configuration with real entries among many others
        let mut text = config(2_000 + round * 500);
        let dirs = ["kernel/a", "kernel/b", "updates", "extra", "dir7", "kernel"];
        for _ in 0..12 {
            let pick = |rng: &mut Rng, v: &[&str]| v[rng.next() as usize % v.len()].to_string();
            let line = match rng.next() % 5 {
                0 => format!(
                    "override {} * {}\n",
                    pick(&mut rng, &["dup1", "dup2", "dup3", "user"]),
                    pick(&mut rng, &dirs)
                ),
                1 => format!(
                    "search {} {}\n",
                    pick(&mut rng, &dirs),
                    pick(&mut rng, &["built-in", "external", "updates"])
                ),
                2 => format!("external {KVER} {}\n", root.join("ext").display()),
                3 => format!("exclude {}\n", pick(&mut rng, &["ex11", "dir7", "b"])),
                _ => format!("override dup{} 1.* extra\n", rng.next() % 3 + 1),
            };
            let at = rng.next() as usize % text.len();
            let at = text[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
            text.splice(at..at, line.into_bytes());
        }
        let conf = tmp.path().join(format!("gen{round}.conf"));
        std::fs::write(&conf, &text).unwrap();
        for verbose in [&[][..], &["-v"]] {
            let args = |c: &mut std::process::Command| {
                c.args(verbose)
                    .arg("-n")
                    .arg("-b")
                    .arg(&root)
                    .arg("-C")
                    .arg(&conf)
                    .arg(KVER);
            };
            let mut k = o.theirs("depmod");
            args(&mut k);
            let mut u = ours("depmod");
            args(&mut u);
            let k = run(k);
            d.check(
                &format!("generated config {round} {verbose:?}"),
                &k,
                &run(u),
            );
            outputs.insert(k.stdout);
        }
    }
    // the configurations chose different modules
    assert!(outputs.len() > 2, "{} different outputs", outputs.len());
    d.finish("depmod with generated depmod.d");
}
