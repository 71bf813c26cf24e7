//! Any byte string through the module ELF reader and the signature-trailer parser:
//! every reader must return (Ok or Err), never panic, index out of bounds or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libkmod_rs::elf::ModuleElf;

fuzz_target!(|data: &[u8]| {
    if let Ok(elf) = ModuleElf::parse(data) {
        let _ = elf.is_64bit();
        let _ = elf.is_big_endian();
        let _ = elf.machine();
        let _ = elf.modinfo_strings();
        let _ = elf.modversions();
        let _ = elf.exported_symbols();
        let _ = elf.dependency_symbols();
        let _ = elf.extended_modversions();
        let _ = elf.this_module_name();
        let _ = elf.build_id();
        for (modversion, vermagic) in [(true, true), (true, false), (false, true)] {
            if let Ok(stripped) = elf.strip(modversion, vermagic) {
                // Stripping only rewrites bytes in place. (The result need not
                // parse again: in a crafted file .modinfo may overlap the
                // section headers or the name table.)
                assert_eq!(stripped.len(), data.len());
                if let Ok(again) = ModuleElf::parse(&stripped) {
                    let _ = again.modinfo_strings();
                }
            }
        }
    }
    let _ = libkmod_rs::signature::parse(data);
});
