//! `pattern NUL string` through the fnmatch implementation: it must return
//! quickly for any input (the smoke run uses a 2 s per-input timeout, far above
//! what the O(pattern × string) matcher needs for 4 KiB) and agree with plain
//! comparison when the pattern has no special byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libkmod_rs::fuzzing::fnmatch;

fuzz_target!(|data: &[u8]| {
    let (pattern, string) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let matched = fnmatch(pattern, string);
    let s = string.split(|&b| b == 0).next().unwrap_or_default();
    if !pattern
        .iter()
        .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
    {
        assert_eq!(matched, pattern == s, "literal pattern");
    }
    // a pattern always matches itself once its special bytes are escaped
    let mut escaped = Vec::with_capacity(2 * s.len());
    for &b in s {
        if matches!(b, b'*' | b'?' | b'[' | b'\\' | b']') {
            escaped.push(b'\\');
        }
        escaped.push(b);
    }
    assert!(fnmatch(&escaped, s), "escaped string does not match itself");
    assert!(fnmatch(b"*", s));
});
