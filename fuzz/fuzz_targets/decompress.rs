//! Garbage (and mutated real xz/zstd/gzip streams) through the decompressors: they
//! must return Err or a bounded Ok, never panic or abort, and respect the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 24;

fuzz_target!(|data: &[u8]| {
    if let Some(len) = libkmod_rs::fuzzing::decompress(data, LIMIT) {
        assert!(len as u64 <= LIMIT, "output of {len} bytes exceeds the cap");
    }
});
