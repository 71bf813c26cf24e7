//! Unit tests of the index reader and writer.
#![allow(clippy::many_single_char_names)]

use std::collections::BTreeMap;

use super::*;
use crate::shared::fnmatch::fnmatch;

/// Small deterministic PRNG (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick(&mut self, from: &[u8]) -> u8 {
        from[self.below(from.len())]
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn dump_all(idx: &Index<'_>) -> Vec<(Vec<u8>, u32, Vec<u8>)> {
    let mut out = Vec::new();
    idx.for_each(|k, v| out.push((k.to_vec(), v.priority, v.value.to_vec())));
    out
}

#[test]
fn empty_index_is_header_only() {
    let b = IndexBuilder::new();
    assert!(b.is_empty());
    let bytes = b.to_bytes().unwrap();
    assert_eq!(bytes, hex("b007f457 00020001 0000000c"));
    let idx = Index::new(&bytes).unwrap();
    assert_eq!(idx.lookup(b""), None);
    assert!(idx.search(b"anything").is_empty());
    assert!(dump_all(&idx).is_empty());
}

#[test]
fn depmod_symbols_example() {
    // depmod 34.2 with the modules cciss, scsi_mod, hpsa (module indexes
    // 0, 1, 2); scsi_mod exports dummy_export.
    let mut b = IndexBuilder::new();
    assert!(!b.insert(b"symbol:dummy_export", b"scsi_mod", 1).unwrap());
    let bytes = b.to_bytes().unwrap();
    let mut want = hex("b007f457 00020001 2000000c 73 73 c0000012");
    want.extend_from_slice(b"ymbol:dummy_export\0");
    want.extend_from_slice(&hex("00000001 00000001"));
    want.extend_from_slice(b"scsi_mod\0");
    assert_eq!(bytes, want);
    let idx = Index::new(&bytes).unwrap();
    assert_eq!(idx.lookup(b"symbol:dummy_export"), Some(&b"scsi_mod"[..]));
    assert_eq!(idx.lookup(b"symbol:dummy_expor"), None);
    assert_eq!(idx.lookup(b"symbol:dummy_exportt"), None);
    assert_eq!(
        idx.search(b"symbol:dummy_export"),
        vec![IndexValue {
            priority: 1,
            value: b"scsi_mod"
        }]
    );
    let mut text = Vec::new();
    idx.dump_to(&mut text, true).unwrap();
    assert_eq!(text, b"alias symbol:dummy_export scsi_mod\n");
}

#[test]
fn header_errors_carry_kmod_messages() {
    let e = Index::open(&[0; 11]).unwrap_err();
    assert_eq!(e, IndexError::TooShort { size: 11 });
    let e = Index::open(&hex("b007fa57 00020001 0000000c")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "magic check fail: b007fa57 instead of b007f457"
    );
    assert_eq!(e.offset(), 0);
    let e = Index::open(&hex("00000000 00020001 0000000c")).unwrap_err();
    assert_eq!(e.to_string(), "magic check fail: 0 instead of b007f457");
    let e = Index::open(&hex("b007f457 00010001 0000000c")).unwrap_err();
    assert_eq!(e.to_string(), "major version check fail: 1 instead of 2");
    assert_eq!(e.offset(), 4);
    let e = crate::Error::from(e);
    assert_eq!(e.errno(), crate::Errno::EINVAL);
    // The minor version is ignored.
    assert!(Index::new(&hex("b007f457 0002ffff 0000000c")).is_ok());
}

#[test]
fn values_order_and_duplicates() {
    let mut b = IndexBuilder::new();
    assert!(!b.insert(b"k", b"a", 1).unwrap());
    assert!(!b.insert(b"k", b"b", 1).unwrap());
    assert!(!b.insert(b"k", b"c", 0).unwrap());
    assert!(!b.insert(b"k", b"d", 7).unwrap());
    assert!(b.insert(b"k", b"a", 3).unwrap());
    let bytes = b.to_bytes().unwrap();
    let idx = Index::new(&bytes).unwrap();
    let got: Vec<(u32, &[u8])> = idx
        .lookup_all(b"k")
        .iter()
        .map(|v| (v.priority, v.value))
        .collect();
    let want: Vec<(u32, &[u8])> = vec![(0, b"c"), (1, b"b"), (1, b"a"), (3, b"a"), (7, b"d")];
    assert_eq!(got, want);
    assert_eq!(idx.lookup(b"k"), Some(&b"c"[..]));
}

#[test]
fn insert_rejects_unrepresentable_keys() {
    let mut b = IndexBuilder::new();
    let e = |r: Result<bool, crate::Error>| match r {
        Err(crate::Error::Fatal { message }) => String::from_utf8(message).unwrap(),
        r => panic!("{r:?}"),
    };
    assert_eq!(
        e(b.insert(b"ab\xc3\xa9", b"v", 0)),
        "Module index: NonAsciiKey { byte: 195, key: [97, 98, 195, 169] }\n"
    );
    assert_eq!(e(b.insert(b"a\0b", b"v", 0)), "Module index: Nul\n");
    assert_eq!(e(b.insert(b"ab", b"v\0", 0)), "Module index: Nul\n");
    // Values may have non-ASCII bytes.
    assert!(!b.insert(b"ab", b"v\xff", 0).unwrap());
    assert_eq!(first_non_ascii(b"v\xff"), Some(0xff));
    assert_eq!(first_non_ascii(b"plain"), None);
}

#[test]
fn node_split_layout() {
    // "ask", "ate", "on", "once", "one": the example tree of kmod's sources.
    let mut b = IndexBuilder::new();
    for (i, k) in ["ask", "ate", "on", "once", "one"].iter().enumerate() {
        b.insert(k.as_bytes(), k.as_bytes(), i as u32).unwrap();
    }
    let bytes = b.to_bytes().unwrap();
    // root: children 'a'..'o' (15 slots) = 2 + 60 bytes at 12..74.
    assert_eq!(&bytes[8..12], &hex("2000000c"));
    assert_eq!(bytes[12], b'a');
    assert_eq!(bytes[13], b'o');
    // Child 'a' (no prefix, children 's'..'t') right after the root.
    assert_eq!(&bytes[14..18], &hex("2000004a"));
    // Child 'o' after the whole 'a' subtree: node 'a' is 2+8 bytes, leaf "k"
    // (after arc 's') is 2+4+4+4 = 14 bytes, leaf "e" 14 bytes:
    // 74 + 10 + 14 + 14 = 112.
    assert_eq!(&bytes[14 + 14 * 4..14 + 15 * 4], &hex("e0000070"));
    let idx = Index::new(&bytes).unwrap();
    let keys: Vec<Vec<u8>> = dump_all(&idx).into_iter().map(|e| e.0).collect();
    let want: Vec<Vec<u8>> = ["ask", "ate", "on", "once", "one"]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    assert_eq!(keys, want);
    for k in ["ask", "ate", "on", "once", "one"] {
        assert_eq!(idx.lookup(k.as_bytes()), Some(k.as_bytes()));
    }
    for k in ["", "a", "o", "as", "onc", "ones", "b", "askk"] {
        assert_eq!(idx.lookup(k.as_bytes()), None, "{k}");
    }
}

/// kmod's insertion semantics, kept in a sorted map.
fn model_insert(m: &mut BTreeMap<Vec<u8>, Vec<(u32, Vec<u8>)>>, k: &[u8], v: &[u8], p: u32) {
    let vals = m.entry(k.to_vec()).or_default();
    let pos = vals.partition_point(|x| x.0 < p);
    vals.insert(pos, (p, v.to_vec()));
}

fn random_key(rng: &mut Rng, alphabet: &[u8]) -> Vec<u8> {
    let len = rng.below(9);
    (0..len).map(|_| rng.pick(alphabet)).collect()
}

#[test]
fn round_trip_random() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let mut b = IndexBuilder::new();
        let mut model = BTreeMap::new();
        let n = rng.below(60);
        for _ in 0..n {
            let k = random_key(&mut rng, b"abc:_-*?[]0129\x01\x7f");
            let v = random_key(&mut rng, b"xyz\xff");
            let p = rng.below(5) as u32;
            let dup = model
                .get(&k)
                .is_some_and(|vals: &Vec<(u32, Vec<u8>)>| vals.iter().any(|x| x.1 == v));
            assert_eq!(b.insert(&k, &v, p).unwrap(), dup);
            model_insert(&mut model, &k, &v, p);
        }
        for bytes in [b.to_bytes().unwrap(), b.to_bytes_postorder()] {
            let idx = Index::new(&bytes).unwrap();
            let mut flat = Vec::new();
            for (k, vals) in &model {
                for (p, v) in vals {
                    flat.push((k.clone(), *p, v.clone()));
                }
                let got: Vec<(u32, Vec<u8>)> = idx
                    .lookup_all(k)
                    .iter()
                    .map(|v| (v.priority, v.value.to_vec()))
                    .collect();
                assert_eq!(&got, vals, "round {round} key {k:?}");
                assert_eq!(idx.lookup(k), vals.first().map(|x| &x.1[..]));
            }
            assert_eq!(dump_all(&idx), flat, "round {round}");
            for _ in 0..20 {
                let k = random_key(&mut rng, b"abc:_-*?[]0129\x01\x7f");
                let want = model.get(&k).map(|v| v[0].1.clone());
                assert_eq!(idx.lookup(&k).map(<[u8]>::to_vec), want);
            }
        }
    }
}

#[test]
fn postorder_and_preorder_agree_on_layout_independent_results() {
    let mut b = IndexBuilder::new();
    for (i, k) in [
        "pci:v*d*",
        "pci:v00008086d*",
        "usb:v1234p*",
        "acpi*:PNP0A03:*",
    ]
    .iter()
    .enumerate()
    {
        b.insert(k.as_bytes(), format!("m{i}").as_bytes(), i as u32)
            .unwrap();
    }
    let pre = b.to_bytes().unwrap();
    let post = b.to_bytes_postorder();
    assert_ne!(pre, post);
    let (a, c) = (Index::new(&pre).unwrap(), Index::new(&post).unwrap());
    assert_eq!(dump_all(&a), dump_all(&c));
    for q in [
        "pci:v00008086d00001234",
        "usb:v1234p0001",
        "acpiXX:PNP0A03:",
        "pci:",
    ] {
        assert_eq!(a.search(q.as_bytes()), c.search(q.as_bytes()), "{q}");
    }
}

/// Does stored pattern `pat` match `key` under kmod's wildcard search rules?
/// The part before the first wildcard character is compared literally, the
/// rest with fnmatch.
fn model_wild_match(pat: &[u8], key: &[u8]) -> bool {
    match pat.iter().position(|c| matches!(c, b'*' | b'?' | b'[')) {
        None => pat == key,
        Some(w) => key.len() >= w && pat[..w] == key[..w] && fnmatch(&pat[w..], &key[w..]),
    }
}

#[test]
fn search_matches_model() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let alphabet = b"ab:*?[]!-\\";
    for round in 0..300 {
        let mut b = IndexBuilder::new();
        let mut model = BTreeMap::new();
        // Distinct priorities: the order among equal priorities depends on
        // the walk order and is tested separately.
        for p in 0..rng.below(30) as u32 {
            let k = random_key(&mut rng, alphabet);
            let v = format!("v{p}");
            b.insert(&k, v.as_bytes(), p).unwrap();
            model_insert(&mut model, &k, v.as_bytes(), p);
        }
        let bytes = b.to_bytes().unwrap();
        let idx = Index::new(&bytes).unwrap();
        for _ in 0..40 {
            // Queries without wildcard characters: with them, kmod can reach
            // the same pattern twice (see `search_query_with_wildcards`).
            let q = random_key(&mut rng, b"ab:]!-\\\xff");
            let mut want: Vec<(u32, Vec<u8>)> = model
                .iter()
                .filter(|(k, _)| model_wild_match(k, &q))
                .flat_map(|(_, v)| v.iter().cloned())
                .collect();
            want.sort();
            let got: Vec<(u32, Vec<u8>)> = idx
                .search(&q)
                .iter()
                .map(|v| (v.priority, v.value.to_vec()))
                .collect();
            assert_eq!(got, want, "round {round} query {q:?}");
        }
    }
}

#[test]
fn search_order_of_equal_priorities() {
    // Everything at priority 0, like modules.builtin.alias.bin. kmod visits,
    // at each node of the literal descent, the '*', '?' and '[' subtrees (in
    // that order, each children-first), then goes on literally; the result
    // lists later finds first.
    let mut b = IndexBuilder::new();
    for (k, v) in [
        ("*", "star"),
        ("?b", "q"),
        ("ab", "exact"),
        ("a*", "a-star"),
        ("a*b", "a-star-b"),
        ("a[b]", "a-bracket"),
        ("[a]b", "bracket"),
    ] {
        b.insert(k.as_bytes(), v.as_bytes(), 0).unwrap();
    }
    let bytes = b.to_bytes().unwrap();
    let idx = Index::new(&bytes).unwrap();
    let got: Vec<&[u8]> = idx.search(b"ab").iter().map(|v| v.value).collect();
    // Found order: root's '*' subtree ("*"), root's '?' subtree ("?b"),
    // root's '[' subtree ("[a]b"); then at "a": '*' subtree children first
    // ("a*b" then "a*"), '[' subtree ("a[b]"); then "ab" exactly.
    let want: Vec<&[u8]> = vec![
        b"exact",
        b"a-bracket",
        b"a-star",
        b"a-star-b",
        b"bracket",
        b"q",
        b"star",
    ];
    assert_eq!(got, want);
}

#[test]
fn search_query_with_wildcards() {
    // A query containing '[' follows the '[' arc both in the wildcard walk
    // and literally, so kmod reports the pattern "[*" twice for "[z]z"
    // (checked with kmod 34.2's `modprobe -R '[z]z'`).
    let mut b = IndexBuilder::new();
    b.insert(b"[*", b"x", 0).unwrap();
    let bytes = b.to_bytes().unwrap();
    let idx = Index::new(&bytes).unwrap();
    let got: Vec<&[u8]> = idx.search(b"[z]z").iter().map(|v| v.value).collect();
    assert_eq!(got, vec![&b"x"[..], &b"x"[..]]);
    assert_eq!(idx.search(b"zz"), vec![]);
}

#[test]
fn search_key_edge_cases() {
    let mut b = IndexBuilder::new();
    b.insert(b"usb:v*", b"any", 2).unwrap();
    b.insert(b"usb:v1", b"one", 1).unwrap();
    b.insert(b"usb:v\\*", b"esc", 0).unwrap();
    let bytes = b.to_bytes().unwrap();
    let idx = Index::new(&bytes).unwrap();
    let names =
        |q: &[u8]| -> Vec<Vec<u8>> { idx.search(q).iter().map(|v| v.value.to_vec()).collect() };
    assert_eq!(names(b"usb:v1"), vec![b"one".to_vec(), b"any".to_vec()]);
    // Non-ASCII bytes never match literally but '*' takes them.
    assert_eq!(names(b"usb:v\xff"), vec![b"any".to_vec()]);
    assert!(names(b"usb:\xff").is_empty());
    // The literal part before the first wildcard is compared byte by byte:
    // the backslash is not an escape there, the star after it is a wildcard.
    assert_eq!(names(b"usb:v\\x"), vec![b"esc".to_vec(), b"any".to_vec()]);
    // Keys end at a NUL, like C strings.
    assert_eq!(names(b"usb:v1\0zzz"), names(b"usb:v1"));
    assert_eq!(idx.lookup(b"usb:v1\0zzz"), Some(&b"one"[..]));
}

/// Run every read operation; the test is that this returns at all.
fn exercise(data: &[u8], keys: &[&[u8]]) {
    let Ok(idx) = Index::new(data) else { return };
    for k in keys {
        let _ = idx.lookup(k);
        let _ = idx.lookup_all(k);
        let _ = idx.search(k);
    }
    let mut n = 0usize;
    idx.for_each(|_, _| n += 1);
    let mut sink = Vec::new();
    idx.dump_to(&mut sink, true).unwrap();
}

#[test]
fn corrupt_inputs_never_panic() {
    let mut b = IndexBuilder::new();
    for (i, k) in [
        "pci:v*d*sv*",
        "pci:v00001234d*",
        "usb:v1p2",
        "symbol:foo",
        "a",
        "ab*c[x-z]",
    ]
    .iter()
    .enumerate()
    {
        b.insert(k.as_bytes(), b"module_name", i as u32).unwrap();
    }
    let good = b.to_bytes().unwrap();
    let keys: &[&[u8]] = &[
        b"pci:v00001234d00005678sv1",
        b"usb:v1p2",
        b"a",
        b"abxcy",
        b"",
        b"\xff",
    ];
    exercise(&good, keys);
    let mut rng = Rng(42);
    // Bit flips and byte rewrites of a valid file.
    for _ in 0..3000 {
        let mut d = good.clone();
        for _ in 0..=rng.below(4) {
            let i = HEADER_SIZE + rng.below(d.len() - HEADER_SIZE);
            if rng.below(2) == 0 {
                d[i] ^= 1 << rng.below(8);
            } else {
                d[i] = rng.next() as u8;
            }
        }
        exercise(&d, keys);
        // Truncations.
        let cut = rng.below(d.len() + 1);
        exercise(&d[..cut], keys);
    }
    // Random garbage after a valid header.
    for _ in 0..2000 {
        let len = HEADER_SIZE + rng.below(200);
        let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        d[..8].copy_from_slice(&hex("b007f457 00020001"));
        if rng.below(2) == 0 {
            let root = (HEADER_SIZE as u32) | (rng.next() as u32 & 0xe000_0000);
            d[8..12].copy_from_slice(&root.to_be_bytes());
        }
        exercise(&d, keys);
    }
}

#[test]
fn reference_cycles_terminate() {
    // Root at 12: children '*'..'a' whose every slot points back at the root
    // (flags CHILDREN|VALUES), plus one value.
    let mut d = hex("b007f457 00020001 6000000c");
    d.extend_from_slice(b"*a");
    let slots = usize::from(b'a' - b'*') + 1;
    for _ in 0..slots {
        d.extend_from_slice(&hex("6000000c"));
    }
    d.extend_from_slice(&hex("00000001 00000000"));
    d.extend_from_slice(b"loop\0");
    let idx = Index::new(&d).unwrap();
    let mut n = 0usize;
    idx.for_each(|_, _| n += 1);
    assert!(n > 0 && n <= d.len() * 2 + 64);
    assert!(idx.search(b"aaaa").len() <= d.len() * 2 + 64);
    assert_eq!(idx.lookup(b"aaaa"), Some(&b"loop"[..]));
    // A node whose prefix is the whole rest of the file, referencing itself.
    let mut d = hex("b007f457 00020001 a000000c");
    d.extend_from_slice(b"*\0");
    d.extend_from_slice(b"**");
    d.extend_from_slice(&hex("a000000c"));
    exercise(&d, &[b"x", b"", b"*"]);
}

#[test]
fn absent_and_out_of_range_references() {
    // Root ref past the end, root ref 0, child range not below 128.
    for root in ["0000000c", "00000000", "2fffffff", "e0000010"] {
        let mut d = hex("b007f457 00020001");
        d.extend_from_slice(&hex(root));
        d.extend_from_slice(&hex("00"));
        exercise(&d, &[b"", b"a"]);
        let idx = Index::new(&d).unwrap();
        assert_eq!(idx.lookup(b""), None);
    }
    let mut d = hex("b007f457 00020001 2000000c");
    d.extend_from_slice(&[0x80, 0x80]);
    d.extend_from_slice(&hex("4000000c"));
    let idx = Index::new(&d).unwrap();
    assert!(dump_all(&idx).is_empty());
    // A value count larger than the data: the list just ends.
    let mut d = hex("b007f457 00020001 4000000c ffffffff 00000003");
    d.extend_from_slice(b"one\0");
    d.extend_from_slice(&hex("00000004"));
    d.extend_from_slice(b"trunc");
    let idx = Index::new(&d).unwrap();
    assert_eq!(idx.lookup_all(b"").len(), 1);
    assert_eq!(idx.lookup(b""), Some(&b"one"[..]));
}
