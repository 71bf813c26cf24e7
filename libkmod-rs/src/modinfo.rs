//! Module information: the `.modinfo` key/value list of a module file (followed by
//! its signature fields), or of a builtin module from `modules.builtin.modinfo`.
//!
//! `modules.builtin.modinfo` is a sequence of NUL-terminated strings
//! `<module>.<key>=<value>`; the strings of one module are contiguous.

use crate::elf::ModuleElf;
use crate::error::{Error, errno};
use crate::signature;
use std::io::Read;
use std::path::Path;

/// One `key=value` entry of a module's information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoEntry {
    /// The key (`license`, `alias`, `parm`, `sig_id`, ...).
    pub key: Vec<u8>,
    /// The value (bytes, printed verbatim).
    pub value: Vec<u8>,
}

fn split_entry(s: &[u8]) -> InfoEntry {
    match s.iter().position(|&c| c == b'=') {
        Some(i) => InfoEntry {
            key: s[..i].to_vec(),
            value: s[i + 1..].to_vec(),
        },
        None => InfoEntry {
            key: s.to_vec(),
            value: Vec::new(),
        },
    }
}

/// The information list of a module image: `.modinfo` entries in section order, then
/// (if the image carries a signature trailer) `sig_id`, `signer`, `sig_key`,
/// `sig_hashalgo`, `signature`.
pub fn from_image(path: &Path, elf: &ModuleElf<'_>) -> Result<Vec<InfoEntry>, Error> {
    let strings = elf
        .modinfo_strings()
        .map_err(|e| Error::format(path, e.errno, e.reason))?;
    let mut out: Vec<InfoEntry> = strings.iter().map(|s| split_entry(s)).collect();
    if let Some(sig) = signature::parse(elf.image().suffix()) {
        let mut push = |k: &str, v: Vec<u8>| {
            out.push(InfoEntry {
                key: k.as_bytes().to_vec(),
                value: v,
            });
        };
        push("sig_id", sig.id_type.as_bytes().to_vec());
        push("signer", sig.signer.clone());
        push("sig_key", signature::hex(&sig.key_id).into_bytes());
        push("sig_hashalgo", sig.hash_algo.as_bytes().to_vec());
        push("signature", signature::hex(&sig.signature).into_bytes());
    }
    Ok(out)
}

/// The information of builtin module `name` from `<dir>/modules.builtin.modinfo`.
/// `Err` with `ENOENT` if the file does not exist; an empty list if the module is not
/// in it.
pub fn builtin(dir: &Path, name: &[u8]) -> Result<Vec<InfoEntry>, Error> {
    let path = dir.join(crate::paths::MODULES_BUILTIN_MODINFO);
    let mut data = Vec::new();
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| Error::io(&path, e))?;
    builtin_from_bytes(&path, &data, name)
}

/// [`builtin`] over the bytes of a `modules.builtin.modinfo` file.
pub fn builtin_from_bytes(path: &Path, data: &[u8], name: &[u8]) -> Result<Vec<InfoEntry>, Error> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (s, next) = match rest.iter().position(|&c| c == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = next;
        let Some(dot) = s.iter().position(|&c| c == b'.') else {
            return Err(Error::format(
                path,
                errno::EINVAL,
                "get_strings: unexpected string without modname prefix",
            ));
        };
        if &s[..dot] != name {
            if out.is_empty() {
                continue;
            }
            break;
        }
        out.push(split_entry(&s[dot + 1..]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_contiguous_strings() {
        let data = b"a.license=GPL\0b.license=MIT\0b.file=x/y\0c.license=BSD\0b.alias=late\0";
        let v = builtin_from_bytes(Path::new("f"), data, b"b").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].key, b"file");
        assert_eq!(v[1].value, b"x/y");
        assert!(
            builtin_from_bytes(Path::new("f"), data, b"zz")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            builtin_from_bytes(Path::new("f"), b"nodot\0", b"b")
                .unwrap_err()
                .errno(),
            errno::EINVAL
        );
    }

    #[test]
    fn entry_without_equals() {
        assert_eq!(split_entry(b"key").value, b"");
        assert_eq!(split_entry(b"k=a=b").value, b"a=b");
    }
}
