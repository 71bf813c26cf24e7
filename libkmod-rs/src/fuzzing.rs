//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the internal
//! readers they exercise, behind these functions. Not part of the API.

/// glibc's `fnmatch(pattern, string, 0)` as the library implements it.
#[must_use]
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    crate::shared::fnmatch::fnmatch(pattern, string)
}

/// Every reader of the module ELF parser, and the signature parser, over `data`;
/// stripping must keep the length.
pub fn module_elf(data: &[u8]) {
    crate::elf::exercise(data);
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

/// Every reader of depmod's cache (`modules.kmod-rs-cache.bin`) over `data`: the
/// header, sections, entries, record and each module's facts.
pub fn depmod_cache(data: &[u8]) {
    crate::depmod::cache::exercise(data, |blob| {
        for crcs in [false, true] {
            let _ = crate::depmod::build::decode_facts(blob, crcs);
        }
    });
}
