//! Focused on the PKCS#7 / legacy signature-trailer parser: the input is a
//! signature blob, wrapped in a valid module trailer (info block + magic) so that
//! almost every execution reaches the DER decoder. The first byte picks the
//! trailer's id_type (PGP / X509 / PKCS#7, mostly PKCS#7) and the signer and key-id
//! lengths of the legacy layout.
#![no_main]

use libfuzzer_sys::fuzz_target;

const MAGIC: &[u8] = b"~Module signature appended~\n";

fuzz_target!(|data: &[u8]| {
    let Some((&sel, blob)) = data.split_first() else {
        return;
    };
    let id_type = match sel % 4 {
        0 => 0,
        1 => 1,
        _ => 2,
    };
    let signer_len = (sel >> 2) & 0x7;
    let key_id_len = (sel >> 5) & 0x7;
    let mut image = Vec::with_capacity(blob.len() + 12 + MAGIC.len());
    image.extend_from_slice(blob);
    // algo RSA, hash sha256, id_type, signer_len, key_id_len, 3 pad, sig_len (BE)
    image.extend_from_slice(&[1, 4, id_type, signer_len, key_id_len, 0, 0, 0]);
    let sig_len = blob
        .len()
        .saturating_sub(usize::from(signer_len) + usize::from(key_id_len));
    image.extend_from_slice(&(sig_len as u32).to_be_bytes());
    image.extend_from_slice(MAGIC);
    // not an ELF file: the module reader stops at once, then the trailer is parsed
    libkmod_rs::fuzzing::module_elf(&image);
});
