//! [`IndexBuilder`] against the straightforward [`ReferenceBuilder`] (the
//! builder it replaced): the same insertions must give the same results
//! (duplicate flags, errors) and the same bytes, on random inputs and on the
//! indexes of real module trees from the test cache.
//!
//! The real-tree inputs are depmod's text outputs (`modules.dep`,
//! `modules.alias`, `modules.symbols`, `modules.builtin`) of every
//! `lib/modules/<kver>` under `trees/*/` and `vm/*/full/` of the cache
//! (`$KMOD_RS_CACHE`, `/var/cache/kmod-rs`, `~/.cache/kmod-rs`) and of
//! `$KMOD_RS_TEST_MODDIR`; without any, the real-tree test does nothing. The
//! ignored `bench_real_tree` times both builders on bookworm-amd64's:
//!
//! ```text
//! cargo test --release -p libkmod-rs --lib index::write_equiv::bench_real_tree -- --ignored --nocapture
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "tests: the benchmark prints its figures, the real-tree test what it compared"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::tests::Rng;
use super::write_reference::ReferenceBuilder;
use super::{BuildError, IndexBuilder};

/// One insertion: key, value, priority.
type Entry = (Vec<u8>, Vec<u8>, u32);

/// Insert `entries` into the builders, comparing every result, then compare
/// the serialisations (both layouts). Without the duplicate check,
/// `IndexBuilder::insert` answers `false` where it would answer `true`.
fn assert_same(entries: &[Entry], what: &str) {
    let mut new = IndexBuilder::new();
    let mut unchecked = IndexBuilder::with_duplicate_check(false);
    let mut old = ReferenceBuilder::new();
    let mut empty = true;
    for (i, (k, v, p)) in entries.iter().enumerate() {
        let want = old.insert(k, v, *p);
        empty &= want.is_err();
        let what = format!("{what}: insertion {i} ({k:?}, {v:?}, {p})");
        assert_eq!(new.insert(k, v, *p), want, "{what}");
        assert_eq!(unchecked.insert(k, v, *p), want.map(|_| false), "{what}");
    }
    assert_eq!(new.is_empty(), empty, "{what}: is_empty");
    let want = old.to_bytes();
    assert!(new.to_bytes() == want, "{what}: to_bytes differs");
    assert!(unchecked.to_bytes() == want, "{what}: to_bytes differs");
    assert!(
        new.to_bytes_postorder() == old.to_bytes_postorder(),
        "{what}: to_bytes_postorder differs"
    );
    let mut written = Vec::new();
    new.write_to(&mut written).unwrap();
    assert!(written == want.unwrap(), "{what}: write_to differs");
}

/// A random key: fresh, or derived from an earlier one (a prefix of it, an
/// extension of it, the same key) so that keys share prefixes, are prefixes
/// of each other and end inside other keys' prefixes.
fn random_key(rng: &mut Rng, alphabet: &[u8], earlier: &[Entry]) -> Vec<u8> {
    let fresh =
        |rng: &mut Rng, len: usize| -> Vec<u8> { (0..len).map(|_| rng.pick(alphabet)).collect() };
    if earlier.is_empty() || rng.below(4) == 0 {
        let len = match rng.below(8) {
            0 => 0,
            1 => 1,
            2 => 20 + rng.below(40),
            _ => rng.below(10),
        };
        return fresh(rng, len);
    }
    let base = &earlier[rng.below(earlier.len())].0;
    match rng.below(4) {
        0 => base.clone(),
        1 => base[..rng.below(base.len() + 1)].to_vec(),
        2 => {
            let mut k = base.clone();
            let more = rng.below(6);
            k.extend(fresh(rng, more));
            k
        }
        _ => {
            let mut k = base[..rng.below(base.len() + 1)].to_vec();
            let more = rng.below(6);
            k.extend(fresh(rng, more));
            k
        }
    }
}

#[test]
fn matches_reference_on_random_inputs() {
    let all_ascii: Vec<u8> = (1..=127).collect();
    let alphabets: [&[u8]; 5] = [
        b"ab",
        b"abc:_-*?",
        b"0123456789abcdef:*",
        &all_ascii,
        b"a\x7f\x01",
    ];
    let values: [&[u8]; 6] = [
        b"",
        b"m",
        b"mod_a",
        b"mod_b",
        b"x\xffy",
        b"kernel/drivers/a.ko: kernel/b.ko",
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..3000 {
        let alphabet = alphabets[round % alphabets.len()];
        let n = match rng.below(4) {
            0 => rng.below(4),
            1 | 2 => rng.below(60),
            _ => rng.below(600),
        };
        let prio_range = [1, 2, 4, 1000, usize::MAX][rng.below(5)];
        let mut entries: Vec<Entry> = Vec::with_capacity(n);
        for _ in 0..n {
            let k = random_key(&mut rng, alphabet, &entries);
            let v = if rng.below(3) == 0 {
                random_key(&mut rng, b"vwxyz\xfe", &[])
            } else {
                values[rng.below(values.len())].to_vec()
            };
            let p = if prio_range == usize::MAX {
                rng.next() as u32
            } else {
                rng.below(prio_range) as u32
            };
            entries.push((k, v, p));
        }
        // Now and then an insertion both builders must refuse.
        if n > 0 && rng.below(8) == 0 {
            let at = rng.below(n);
            let bad: &[u8] = [&b"a\xc3b"[..], b"a\0", b"\x80"][rng.below(3)];
            if rng.below(2) == 0 {
                entries[at].0 = bad.to_vec();
            } else {
                entries[at].1 = b"v\0w".to_vec();
            }
        }
        assert_same(&entries, &format!("round {round}"));
    }
}

#[test]
fn insert_checks_every_byte() {
    // A NUL or a byte >= 128 at each place of keys and values of lengths 0
    // to 20 (the check goes 8 bytes at a time).
    let mut b = IndexBuilder::with_duplicate_check(false);
    for len in 0..=20 {
        let plain = vec![b'k'; len];
        assert_eq!(b.insert(&plain, &plain, 0), Ok(false));
        for at in 0..len {
            for bad in [0, 0x80, 0xff, 0x7f, 0x01] {
                let mut s = plain.clone();
                s[at] = bad;
                let (key, value) = match bad {
                    0 => (Err(BuildError::Nul), Err(BuildError::Nul)),
                    0x80.. => (
                        Err(BuildError::NonAsciiKey {
                            byte: bad,
                            key: s.clone(),
                        }),
                        Ok(false),
                    ),
                    _ => (Ok(false), Ok(false)),
                };
                assert_eq!(b.insert(&s, &plain, 0), key, "key {s:?}");
                assert_eq!(b.insert(&plain, &s, 0), value, "value {s:?}");
            }
        }
    }
}

/// Where the test cache may be.
fn cache_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("KMOD_RS_CACHE") {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("/var/cache/kmod-rs"));
    if let Some(h) = std::env::var_os("HOME") {
        v.push(PathBuf::from(h).join(".cache/kmod-rs"));
    }
    v
}

fn sorted_subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// `lib/modules/<kver>` directories with depmod's text outputs, each with a
/// name (`trees/<tree>/<kver>`, `vm/<tree>/<kver>` or the directory).
fn real_moddirs() -> Vec<(String, PathBuf)> {
    let has_inputs = |d: &Path| {
        ["modules.dep", "modules.alias", "modules.symbols"]
            .iter()
            .all(|f| d.join(f).is_file())
    };
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    let mut seen = Vec::new();
    let mut add = |name: String, dir: PathBuf, out: &mut Vec<(String, PathBuf)>| {
        let canon = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if has_inputs(&dir) && !seen.contains(&canon) {
            seen.push(canon);
            out.push((name, dir));
        }
    };
    if let Some(d) = std::env::var_os("KMOD_RS_TEST_MODDIR") {
        let d = PathBuf::from(d);
        add(d.display().to_string(), d, &mut out);
    }
    for cache in cache_dirs() {
        for (kind, sub) in [("trees", ""), ("vm", "full")] {
            for tree in sorted_subdirs(&cache.join(kind)) {
                for kdir in sorted_subdirs(&tree.join(sub).join("lib/modules")) {
                    let name = format!(
                        "{kind}/{}/{}",
                        tree.file_name().unwrap().to_string_lossy(),
                        kdir.file_name().unwrap().to_string_lossy()
                    );
                    add(name, kdir, &mut out);
                }
            }
        }
    }
    out
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&c| c == b'\n').filter(|l| !l.is_empty())
}

/// depmod's insertions into each index, rebuilt from its text outputs:
/// `(file, entries)` for modules.dep.bin, modules.alias.bin,
/// modules.symbols.bin and (when `modules.builtin` is there)
/// modules.builtin.bin.
fn real_inputs(dir: &Path) -> Vec<(&'static str, Vec<Entry>)> {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let modname = |path: &[u8]| crate::name::path_to_modname(path).expect("module name");
    let dep_txt = read("modules.dep");
    let mut prio: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut dep = Vec::new();
    for (i, line) in lines(&dep_txt).enumerate() {
        let colon = line
            .iter()
            .position(|&c| c == b':')
            .expect("modules.dep line");
        let name = modname(&line[..colon]);
        prio.insert(name.clone(), i as u32);
        dep.push((name, line.to_vec(), i as u32));
    }
    // "alias KEY MODULE" lines, in depmod's insertion order.
    let alias_entries = |file: &str, normalize: bool| -> Vec<Entry> {
        let data = read(file);
        lines(&data)
            .filter_map(|l| l.strip_prefix(b"alias "))
            .filter_map(|rest| {
                let sp = rest.iter().rposition(|&c| c == b' ').expect("alias line");
                let (key, module) = (&rest[..sp], &rest[sp + 1..]);
                let key = if normalize {
                    crate::name::alias_normalize(key)?
                } else {
                    key.to_vec()
                };
                Some((key, module.to_vec(), prio[module]))
            })
            .collect()
    };
    let mut out = vec![
        ("modules.dep.bin", dep),
        ("modules.alias.bin", alias_entries("modules.alias", true)),
        (
            "modules.symbols.bin",
            alias_entries("modules.symbols", false),
        ),
    ];
    if let Ok(data) = std::fs::read(dir.join("modules.builtin")) {
        let builtin = lines(&data).map(|l| (modname(l), Vec::new(), 0)).collect();
        out.push(("modules.builtin.bin", builtin));
    }
    out
}

#[test]
fn matches_reference_on_real_trees() {
    let dirs = real_moddirs();
    if dirs.is_empty() {
        eprintln!("no module tree with depmod outputs in the cache: nothing compared");
        return;
    }
    for (name, dir) in dirs {
        for (file, entries) in real_inputs(&dir) {
            assert_same(&entries, &format!("{name}: {file}"));
            eprintln!("{name}: {file}: {} insertions, same bytes", entries.len());
        }
    }
}

/// Best of `runs` times of inserting `entries` and serialising.
fn best_of(runs: usize, mut build: impl FnMut() -> Vec<u8>) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(build());
            t.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn bench_real_tree() {
    let Some((name, dir)) = real_moddirs()
        .into_iter()
        .find(|(n, _)| n.contains("bookworm-amd64"))
    else {
        eprintln!("no bookworm-amd64 tree with depmod outputs in the cache");
        return;
    };
    println!("{name}: insert + to_bytes, best of 20 runs");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (file, entries) in real_inputs(&dir) {
        let reference = best_of(20, || {
            let mut b = ReferenceBuilder::new();
            for (k, v, p) in &entries {
                b.insert(k, v, *p).unwrap();
            }
            b.to_bytes().unwrap()
        });
        let new = |check| {
            best_of(20, || {
                let mut b = IndexBuilder::with_duplicate_check(check);
                for (k, v, p) in &entries {
                    b.insert(k, v, *p).unwrap();
                }
                b.to_bytes().unwrap()
            })
        };
        let (checked, unchecked) = (new(true), new(false));
        println!(
            "{file:<26} {:>6} insertions: reference {:>6.3} ms; new {:>6.3} ms ({:.2}x), \
             without the duplicate check {:>6.3} ms ({:.2}x)",
            entries.len(),
            ms(reference),
            ms(checked),
            ms(reference) / ms(checked),
            ms(unchecked),
            ms(reference) / ms(unchecked),
        );
    }
}
