//! Any bytes as depmod's cache (`modules.kmod-rs-cache.bin`): the header and its
//! digests, the entries, the record of the last run and each module's facts must
//! be read or refused, never panic. The input is also sealed as the cache's four
//! sections with valid digests, so that mutations reach the section readers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    libkmod_rs::fuzzing::depmod_cache(data);
});
