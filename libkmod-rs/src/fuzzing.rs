//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the internal
//! readers they exercise, behind three functions. Not part of the API.

/// glibc's `fnmatch(pattern, string, 0)` as the library implements it.
#[must_use]
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    crate::shared::fnmatch::fnmatch(pattern, string)
}

/// Every reader of the module ELF parser, and the signature parser, over `data`;
/// stripping must keep the length.
pub fn module_elf(data: &[u8]) {
    use crate::elf::ModuleElf;
    if let Ok(elf) = ModuleElf::parse(data) {
        let _ = elf.sections_iter().count();
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
                // parse again: in a crafted file .modinfo may overlap the section
                // headers or the name table.)
                assert_eq!(stripped.len(), data.len());
                if let Ok(again) = ModuleElf::parse(&stripped) {
                    let _ = again.modinfo_strings();
                }
            }
        }
    }
    if let Some(info) = crate::signature::parse(data) {
        let _ = crate::signature::hex(&info.key_id);
        let _ = crate::signature::hex(&info.signature);
    }
}

/// Decompress `data` (the algorithm told by its magic) with at most `limit` bytes
/// of output: the output's length, or `None` on an error.
#[must_use]
pub fn decompress(data: &[u8], limit: u64) -> Option<usize> {
    let c = crate::compress::Compression::detect(data);
    crate::compress::decompress(std::path::Path::new("f"), c, data, limit)
        .ok()
        .map(|v| v.len())
}
