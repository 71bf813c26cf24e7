//! Build an index with `IndexBuilder` from entries taken from the input, write
//! it, read it back with `Index` and check that the reader returns exactly what
//! was stored:
//! * `lookup_all(key)` = the key's values by ascending priority, a later
//!   insertion before earlier ones of equal priority (depmod's order);
//! * `for_each` visits every stored pair once;
//! * `search(s)` returns the values of exactly the stored patterns that
//!   `fnmatch` matches against a plain string `s` (checked when no key holds a
//!   backslash, where kmod's literal descent and fnmatch's escapes differ).
//!
//! Input: up to 256 lines; in each, the first byte modulo 4 is the priority
//! (few values, so many ties), then the key up to a tab, then the value (`v`
//! without a tab). The last line and the first keys are used as search strings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libkmod_rs::fuzzing::fnmatch;
use libkmod_rs::index::{Index, IndexBuilder};
use std::collections::BTreeMap;

/// One inserted value: priority, value string, insertion number.
type Entry = (u32, Vec<u8>, usize);

fuzz_target!(|data: &[u8]| {
    let mut builder = IndexBuilder::new();
    // key -> values in insertion order: (priority, value, insertion number)
    let mut expected: BTreeMap<Vec<u8>, Vec<Entry>> = BTreeMap::new();
    let mut inserted = 0usize;
    let mut lines: Vec<&[u8]> = Vec::new();
    for line in data.split(|&b| b == b'\n').take(256) {
        lines.push(line);
        let Some((&p, rest)) = line.split_first() else {
            continue;
        };
        let priority = u32::from(p % 4);
        let (key, value) = match rest.iter().position(|&b| b == b'\t') {
            Some(t) => (&rest[..t], &rest[t + 1..]),
            None => (rest, &b"v"[..]),
        };
        match builder.insert(key, value, priority) {
            Ok(_) => {
                expected.entry(key.to_vec()).or_default().push((
                    priority,
                    value.to_vec(),
                    inserted,
                ));
                inserted += 1;
            }
            Err(_) => {
                // refused: NUL or non-ASCII in the key, NUL in the value
                assert!(
                    key.contains(&0) || value.contains(&0) || key.iter().any(|&b| b >= 128),
                    "insert refused a valid pair"
                );
            }
        }
    }
    let bytes = builder.to_bytes().expect("small index must serialise");
    let index = Index::new(&bytes).expect("own output must open");

    let mut total = 0usize;
    for (key, vals) in &expected {
        let mut want = vals.clone();
        // ascending priority; among equal priorities the latest insertion first
        want.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
        let got: Vec<(u32, Vec<u8>)> = index
            .lookup_all(key)
            .into_iter()
            .map(|v| (v.priority, v.value.to_vec()))
            .collect();
        let want: Vec<(u32, Vec<u8>)> = want.into_iter().map(|(p, v, _)| (p, v)).collect();
        assert_eq!(got, want, "lookup_all({:?})", String::from_utf8_lossy(key));
        total += vals.len();
    }
    let mut visited = 0usize;
    index.for_each(|key, v| {
        visited += 1;
        assert!(
            expected.get(key).is_some_and(|vals| vals
                .iter()
                .any(|(p, val, _)| *p == v.priority && val == v.value)),
            "for_each invented {:?}",
            String::from_utf8_lossy(key)
        );
    });
    assert_eq!(visited, total, "for_each count");

    if expected.keys().any(|k| k.contains(&b'\\')) {
        return;
    }
    // Search strings are plain strings (as real modaliases are): with a `*`,
    // `?` or `[` in the string itself kmod's search also descends literally
    // through stored wildcards and reports such patterns more than once.
    let mut strings: Vec<Vec<u8>> = lines.last().map(|l| l.to_vec()).into_iter().collect();
    for key in expected.keys().take(4) {
        let mut s = Vec::with_capacity(key.len());
        for &b in key {
            match b {
                b'*' => s.extend_from_slice(b"0"),
                b'?' => s.push(b'x'),
                _ => s.push(b),
            }
        }
        strings.push(s);
    }
    for s in &strings {
        let s = s.split(|&b| b == 0).next().unwrap_or_default();
        if s.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            continue;
        }
        let mut got: Vec<(u32, Vec<u8>)> = index
            .search(s)
            .into_iter()
            .map(|v| (v.priority, v.value.to_vec()))
            .collect();
        let mut want: Vec<(u32, Vec<u8>)> = expected
            .iter()
            .filter(|(k, _)| fnmatch(k, s))
            .flat_map(|(_, vals)| vals.iter().map(|(p, v, _)| (*p, v.clone())))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "search({:?})", String::from_utf8_lossy(s));
    }
});
