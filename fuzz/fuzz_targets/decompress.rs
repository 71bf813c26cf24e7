//! Garbage (and mutated real xz/zstd/gzip streams) through the decompressors: they
//! must return Err or a bounded Ok, never panic or abort, and respect the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libkmod_rs::compress::{Compression, decompress};
use std::path::Path;

const LIMIT: u64 = 1 << 24;

fuzz_target!(|data: &[u8]| {
    let compression = Compression::detect(data);
    if let Ok(out) = decompress(Path::new("f"), compression, data, LIMIT) {
        assert!(
            out.len() as u64 <= LIMIT,
            "output of {} bytes exceeds the cap",
            out.len()
        );
    }
});
