//! The library as a third party uses it: the size of its public surface, one
//! opened module directory queried from several threads, and the examples in
//! `libkmod-rs/examples/` run against a real tree (compared with kmod 34.2).

use crate::support::{Oracle, TempDir, indexed_copy};
use libkmod_rs::{ConfigSource, Module, ModuleDir, Root};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `pub` item declaration under `libkmod-rs/src` (the `fuzzing` module, the
/// fuzz targets' entry points behind a feature, apart).
fn public_items() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("libkmod-rs/src");
    let mut files = Vec::new();
    crate::support::walk(&src, &mut files);
    let mut items = Vec::new();
    for f in files {
        if f.file_name().is_some_and(|n| n == "fuzzing.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim_start();
            let kinds = [
                "fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ", "mod ", "use ",
            ];
            if let Some(rest) = t.strip_prefix("pub ")
                && kinds.iter().any(|k| rest.starts_with(k))
            {
                items.push(format!("{}:{}: {t}", f.display(), n + 1));
            }
        }
    }
    items
}

#[test]
fn public_surface_fits_on_a_page() {
    let items = public_items();
    // 150, and `Depmod::stale_files` (`depmod --check`)
    assert!(
        items.len() <= 151,
        "{} public items:\n{}",
        items.len(),
        items.join("\n")
    );
    // nothing internal leaks through a public module
    for internal in [
        "mod elf",
        "mod file",
        "mod compress",
        "mod shared",
        "mod signature",
    ] {
        assert!(
            !items
                .iter()
                .any(|i| i.ends_with(&format!("pub {internal};"))),
            "{internal} is public"
        );
    }
}

/// What a lookup says of a module, comparable across threads.
fn describe(m: &Module, sink: &mut Vec<libkmod_rs::Diagnostic>) -> String {
    let deps: Vec<String> = m
        .dependencies(sink)
        .iter()
        .map(|d| format!("{:?}", d.path(sink)))
        .collect();
    let (pre, post) = m.softdeps(sink);
    format!(
        "{m} alias={:?} path={:?} builtin={} deps={deps:?} pre={} post={} options={:?}",
        m.alias().map(String::from_utf8_lossy),
        m.path(sink),
        m.is_builtin(),
        pre.len(),
        post.len(),
        m.options(),
    )
}

fn answers(dir: &ModuleDir, names: &[String]) -> Vec<String> {
    let mut sink = Vec::new();
    names
        .iter()
        .map(|n| match dir.lookup(n.as_bytes(), &mut sink) {
            Ok(ms) => ms
                .iter()
                .map(|m| describe(m, &mut sink))
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => format!("error {e}"),
        })
        .collect()
}

#[test]
fn one_module_dir_from_four_threads() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("api-threads");
    let t = o.tree("bookworm-amd64");
    let root = indexed_copy(&o, t, tmp.path());
    let moddir = root.join("lib/modules").join(&t.kver);
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
    let mut names: Vec<String> = dep
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(|p| {
            let base = p.rsplit('/').next().unwrap();
            base.split('.').next().unwrap().to_string()
        })
        .collect();
    names.extend(["fs-btrfs", "char-major-10-237", "crypto-sha256", "nope"].map(String::from));
    assert!(names.len() > 4000, "{} modules", names.len());
    let open = || ModuleDir::open(&Root::host(), &moddir, &ConfigSource::None, &mut Vec::new());
    let alone = answers(&open(), &names);
    let shared = open();
    let threads: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let (shared, names) = (&shared, &names);
                // each thread in another order, all over the same objects
                s.spawn(move || {
                    let mut order: Vec<usize> = (0..names.len()).collect();
                    order.rotate_left(k * names.len() / 4);
                    if k % 2 == 1 {
                        order.reverse();
                    }
                    let mut got = vec![String::new(); names.len()];
                    for i in order {
                        got[i] = answers(shared, std::slice::from_ref(&names[i])).remove(0);
                    }
                    got
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (k, got) in threads.iter().enumerate() {
        for (i, (a, b)) in alone.iter().zip(got).enumerate() {
            assert_eq!(a, b, "thread {k}, {}", names[i]);
        }
    }
    assert!(alone.iter().filter(|a| a.contains("path=Some")).count() > 4000);
}

/// An example program built by `cargo test --workspace` (examples are built with
/// the tests of their package).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let p = profile.join("examples").join(name);
    assert!(
        p.exists(),
        "{} missing: run `cargo test --workspace`, which builds the examples",
        p.display()
    );
    p
}

#[test]
fn example_initramfs_lists_what_modprobe_loads() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("api-initramfs");
    for tname in ["bookworm-amd64", "trixie-amd64"] {
        let t = o.tree(tname);
        let root = indexed_copy(&o, t, tmp.path());
        let moddir = root.join("lib/modules").join(&t.kver);
        let names = [
            "btrfs",
            "fs-vfat",
            "e1000e",
            "nvme",
            "crypto-sha256",
            "iwlwifi",
        ];
        let out = Command::new(example("initramfs"))
            .arg(&moddir)
            .args(names)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = String::from_utf8(out.stdout).unwrap();
        // kmod: the modules `modprobe --show-depends` inserts, in its order, once each
        let empty = tmp.path().join("empty.d");
        std::fs::create_dir_all(&empty).unwrap();
        let theirs = o
            .theirs("modprobe")
            .arg("-d")
            .arg(&root)
            .arg("-S")
            .arg(&t.kver)
            .arg("-C")
            .arg(&empty)
            .args(["-a", "-D"])
            .args(names)
            .output()
            .unwrap();
        let mut seen = HashSet::new();
        let mut want: Vec<String> = String::from_utf8(theirs.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| {
                l.strip_prefix("insmod ")
                    .map(|p| format!("module {}", p.trim_end()))
                    .or_else(|| l.strip_prefix("builtin ").map(|n| format!("builtin {n}")))
            })
            .filter(|l| seen.insert(l.clone()))
            .collect();
        // then every firmware file those modules name (kmod's modinfo -F firmware)
        let mut fw = HashSet::new();
        let mut firmware = Vec::new();
        for l in &want {
            let Some(path) = l.strip_prefix("module ") else {
                continue;
            };
            let info = o
                .theirs("modinfo")
                .args(["-F", "firmware", path])
                .output()
                .unwrap();
            for f in String::from_utf8(info.stdout).unwrap().lines() {
                if fw.insert(f.to_string()) {
                    firmware.push(format!("firmware {f}"));
                }
            }
        }
        assert!(!firmware.is_empty(), "{tname}: no firmware named");
        want.extend(firmware);
        let ours: Vec<&str> = ours.lines().collect();
        assert_eq!(ours, want, "{tname}");
    }
}

#[test]
fn example_lsmod_on_a_fake_root() {
    let tmp = TempDir::new("api-lsmod");
    let r = tmp.path();
    crate::support::fat_vfat_root(r, "fat 90112 1 vfat, Live 0x0\nvfat 20480 0 - Live 0x0\n");
    let out = Command::new(example("lsmod")).arg(r).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "fat 90112 1 [vfat]\nvfat 20480 0 []\n"
    );
}
