//! Differential: our fnmatch against the host C library's `fnmatch(3)` with no
//! flags in the C locale (what kmod calls). Inputs: `pattern NUL string`.
//! glibc's matcher backtracks recursively on `*`, so inputs with many stars and
//! long strings are skipped to keep each execution fast.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libkmod_rs::fuzzing::fnmatch;
use std::ffi::CString;

fuzz_target!(|data: &[u8]| {
    let (pattern, string) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let string = string.split(|&b| b == 0).next().unwrap_or_default();
    let stars = pattern.iter().filter(|&&b| b == b'*').count();
    if pattern.len() > 256 || string.len() > 256 || (stars > 2 && string.len() > 32) || stars > 4 {
        return;
    }
    let (Ok(p), Ok(s)) = (CString::new(pattern), CString::new(string)) else {
        return;
    };
    // SAFETY: both are valid NUL-terminated strings; flags 0.
    #[allow(unsafe_code)]
    let theirs = unsafe { libc::fnmatch(p.as_ptr(), s.as_ptr(), 0) };
    let ours = fnmatch(pattern, string);
    // glibc returns 0 on a match, FNM_NOMATCH (1) otherwise, -1 on error
    // (which it never reports for flags 0 in the C locale)
    assert!(theirs == 0 || theirs == 1, "libc fnmatch returned {theirs}");
    assert_eq!(
        ours,
        theirs == 0,
        "fnmatch({:?}, {:?}): ours {ours}, libc {}",
        String::from_utf8_lossy(pattern),
        String::from_utf8_lossy(string),
        theirs == 0
    );
});
