//! `IndexBuilder` against the straightforward [`ReferenceBuilder`] (the builder it
//! replaced): the same insertions must give the same results (duplicate flags,
//! errors) and the same bytes, on random inputs and on the indexes of real module
//! trees (depmod's text outputs, `modules.dep`, `modules.alias`,
//! `modules.symbols`, `modules.builtin`, of the bookworm and trixie trees indexed
//! by kmod 34.2's depmod).

use super::Rng;
use super::reference::{BuildError, ReferenceBuilder};
use crate::support::{Oracle, TempDir, indexed_copy};
use libkmod_rs::index::IndexBuilder;
use std::collections::HashMap;
use std::path::Path;

/// What an insertion or a serialisation gives, comparable across the two builders:
/// the value, or the library's error message (`Module index: <error>`).
fn outcome<T>(r: Result<T, libkmod_rs::Error>) -> Result<T, Vec<u8>> {
    r.map_err(|e| match e {
        libkmod_rs::Error::Fatal { message } => message,
        e => panic!("unexpected error {e:?}"),
    })
}

fn reference<T>(r: Result<T, BuildError>) -> Result<T, Vec<u8>> {
    r.map_err(|e| format!("Module index: {e:?}\n").into_bytes())
}

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
        let want = reference(old.insert(k, v, *p));
        empty &= want.is_err();
        let what = format!("{what}: insertion {i} ({k:?}, {v:?}, {p})");
        assert_eq!(outcome(new.insert(k, v, *p)), want, "{what}");
        assert_eq!(
            outcome(unchecked.insert(k, v, *p)),
            want.map(|_| false),
            "{what}"
        );
    }
    assert_eq!(new.is_empty(), empty, "{what}: is_empty");
    let want = reference(old.to_bytes());
    assert!(outcome(new.to_bytes()) == want, "{what}: to_bytes differs");
    assert!(
        outcome(unchecked.to_bytes()) == want,
        "{what}: to_bytes differs"
    );
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
        assert_eq!(outcome(b.insert(&plain, &plain, 0)), Ok(false));
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
                assert_eq!(
                    outcome(b.insert(&s, &plain, 0)),
                    reference(key),
                    "key {s:?}"
                );
                assert_eq!(
                    outcome(b.insert(&plain, &s, 0)),
                    reference(value),
                    "value {s:?}"
                );
            }
        }
    }
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
    let modname = |path: &[u8]| libkmod_rs::name::path_to_modname(path).expect("module name");
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
                    libkmod_rs::name::alias_normalize(key)?
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
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("index-equiv");
    for name in ["bookworm-amd64", "trixie-amd64"] {
        let t = o.tree(name);
        let dir = indexed_copy(&o, t, tmp.path())
            .join("lib/modules")
            .join(&t.kver);
        for (file, entries) in real_inputs(&dir) {
            assert_same(&entries, &format!("{name}: {file}"));
        }
    }
}
