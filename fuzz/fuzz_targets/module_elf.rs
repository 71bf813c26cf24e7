//! Any byte string through the module ELF reader and the signature-trailer parser:
//! every reader must return (Ok or Err), never panic, index out of bounds or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| libkmod_rs::fuzzing::module_elf(data));
