//! depmod.d at scale: a generated configuration of many `override`, `search`,
//! `external` and `exclude` lines gives outputs identical to kmod 34.2's (that it
//! parses in linear time is tested beside the parser, in `depmod/config.rs`).

use crate::depmod_synthetic::{KVER, M, m, write_tree};
use crate::support::*;
use object::{Architecture, Endianness};

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
