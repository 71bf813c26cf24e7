//! What a module file says about itself: [`ModuleInfo`], [`ModuleImage`].

use crate::diag::{Diagnostic, Level, Sink};
use crate::elf::{self, ModuleElf};
use crate::error::{Error, errno};
use crate::file::{ExtraRanges, Image, ModuleFile, ReadBuffers};
use crate::signature;
use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What a module file says about itself: [`ModuleInfo`] (the `.modinfo` key/value
/// list followed by the signature fields, or a builtin module's entries from
/// `modules.builtin.modinfo`), and [`ModuleImage`] (a whole module image with its
/// symbols).
///
/// `modules.builtin.modinfo` is a sequence of NUL-terminated strings
/// `<module>.<key>=<value>`; the strings of one module are contiguous.
///
/// ```no_run
/// use libkmod_rs::{ModuleInfo, Root};
///
/// let file = Root::host().module_dir("6.1.0-57-amd64").join("kernel/drivers/block/loop.ko");
/// let info = ModuleInfo::read(&file)?;
/// for (key, value) in info.entries() {
///     println!("{}: {}", String::from_utf8_lossy(key), String::from_utf8_lossy(value));
/// }
/// for p in info.params(&mut ()) {
///     println!("parm {}", String::from_utf8_lossy(p.name));
/// }
/// # Ok::<(), libkmod_rs::Error>(())
/// ```
///
/// The information of a module: its `key=value` entries in kmod's order.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// The `.modinfo` entries.
    modinfo: Entries,
    /// The signature trailer, if the image has one: only the bytes its parser
    /// reads, decoded into the five signature entries when they are first asked
    /// for (a caller after `firmware=` or `alias=` never pays for it).
    trailer: Vec<u8>,
    signature: OnceLock<Entries>,
}

impl PartialEq for ModuleInfo {
    fn eq(&self, other: &Self) -> bool {
        self.modinfo == other.modinfo && self.trailer == other.trailer
    }
}

impl Eq for ModuleInfo {}

/// The keys of the signature entries.
const SIGNATURE_KEYS: [&[u8]; 5] = [
    b"sig_id",
    b"signer",
    b"sig_key",
    b"sig_hashalgo",
    b"signature",
];

/// `key=value` entries: every key and value one after the other (two allocations
/// per module, not two per entry: a driver may have hundreds of `alias=` entries),
/// and where each key and each value ends (each starts where the one before ends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Entries {
    bytes: Vec<u8>,
    ends: Vec<(u32, u32)>,
}

impl Entries {
    /// Add an entry at the end.
    fn push(&mut self, key: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(key);
        let k = self.bytes.len() as u32;
        self.bytes.extend_from_slice(value);
        self.ends.push((k, self.bytes.len() as u32));
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, v)| v));
        starts.zip(&self.ends).map(|(start, &(k, v))| {
            let (start, k, v) = (start as usize, k as usize, v as usize);
            (&self.bytes[start..k], &self.bytes[k..v])
        })
    }
}

/// A module parameter, merged from its `parm=` (description) and `parmtype=`
/// (type) entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter name.
    pub name: &'a [u8],
    /// Its description (`parm=name:description`), if any.
    pub description: Option<&'a [u8]>,
    /// Its type (`parmtype=name:type`), if any.
    pub ty: Option<&'a [u8]>,
}

fn split_entry(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&c| c == b'=') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

thread_local! {
    /// Buffers module files are read into, reused from one module to the next.
    static BUFFERS: RefCell<ReadBuffers> = RefCell::new(ReadBuffers::default());
}

impl ModuleInfo {
    /// The information of the module file at `path` (`.ko`, `.ko.xz`, `.ko.zst`,
    /// `.ko.gz`): its `.modinfo` entries in section order, then (if the image carries
    /// a signature) `sig_id`, `signer`, `sig_key`, `sig_hashalgo`, `signature`. Of a
    /// plain file only the ELF headers, `.modinfo` and the signature are read.
    pub fn read(path: &Path) -> Result<ModuleInfo, Error> {
        let file = ModuleFile::open(path)?;
        BUFFERS.with(|bufs| {
            let mut bufs = bufs.borrow_mut();
            let signature: &ExtraRanges<'_> = &|img| {
                let d = img.suffix();
                signature::range(img.file_len(), &d[d.len().saturating_sub(64)..])
                    .into_iter()
                    .collect()
            };
            bufs.read_with(&file, &[b".modinfo"], true, Some(signature), |image| {
                let elf = ModuleElf::parse_sparse(image?).map_err(|e| Error::from(e).at(path))?;
                Self::of_elf(path, &elf)
            })
        })
    }

    fn of_elf(path: &Path, elf: &ModuleElf<'_>) -> Result<ModuleInfo, Error> {
        let strings = elf.modinfo_strings().map_err(|e| Error::from(e).at(path))?;
        let mut modinfo = Entries {
            bytes: Vec::with_capacity(strings.iter().map(|s| s.len()).sum()),
            ends: Vec::with_capacity(strings.len()),
        };
        for s in &strings {
            let (k, v) = split_entry(s);
            modinfo.push(k, v);
        }
        let suffix = elf.image().suffix();
        let tail = &suffix[suffix.len().saturating_sub(64)..];
        let trailer = match signature::range(suffix.len() as u64, tail) {
            Some((start, _)) => suffix[start as usize..].to_vec(),
            None => Vec::new(),
        };
        Ok(ModuleInfo {
            modinfo,
            trailer,
            signature: OnceLock::new(),
        })
    }

    /// The signature entries (none without a valid signature).
    fn signature(&self) -> &Entries {
        self.signature.get_or_init(|| {
            let mut e = Entries::default();
            if let Some(sig) = signature::parse(&self.trailer) {
                e.push(b"sig_id", sig.id_type.as_bytes());
                e.push(b"signer", &sig.signer);
                e.push(b"sig_key", signature::hex(&sig.key_id).as_bytes());
                e.push(b"sig_hashalgo", sig.hash_algo.as_bytes());
                e.push(b"signature", signature::hex(&sig.signature).as_bytes());
            }
            e
        })
    }

    /// The information of builtin module `name` from `<dir>/modules.builtin.modinfo`:
    /// an `ENOENT` error if the file does not exist, no entries if the module is not
    /// in it.
    pub(crate) fn builtin(dir: &Path, name: &[u8]) -> Result<ModuleInfo, Error> {
        let path = dir.join(crate::paths::MODULES_BUILTIN_MODINFO);
        let mut data = Vec::new();
        std::fs::File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(|e| Error::io(&path, e))?;
        builtin_from_bytes(&path, &data, name)
    }

    /// Every `key=value` entry, in kmod's order.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.modinfo.iter().chain(self.signature().iter())
    }

    /// The values of every entry called `key`, in order.
    pub fn get<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        // the signature is decoded only for one of its own keys
        let signature = SIGNATURE_KEYS
            .contains(&key)
            .then(|| self.signature().iter())
            .into_iter()
            .flatten();
        self.modinfo
            .iter()
            .chain(signature)
            .filter(move |(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The parameters, in the order kmod prints them (the reverse of the first
    /// appearance of each name among the `parm=`/`parmtype=` entries). An entry
    /// without `:` is reported to `sink` (at `ERR`, modinfo's message) and skipped.
    pub fn params(&self, sink: &mut dyn Sink) -> Vec<Param<'_>> {
        let mut params: Vec<Param<'_>> = Vec::new();
        for (key, value) in self.entries() {
            if key != b"parm" && key != b"parmtype" {
                continue;
            }
            let Some(colon) = value.iter().position(|&c| c == b':') else {
                let mut msg = b"Found invalid \"".to_vec();
                msg.extend_from_slice(key);
                msg.push(b'=');
                msg.extend_from_slice(value);
                msg.extend_from_slice(b"\": missing ':'\n");
                sink.report(Diagnostic::new(Level::Err, "modinfo", msg));
                continue;
            };
            let (name, rest) = (&value[..colon], &value[colon + 1..]);
            let idx = if let Some(i) = params.iter().position(|p| p.name == name) {
                i
            } else {
                params.push(Param {
                    name,
                    description: None,
                    ty: None,
                });
                params.len() - 1
            };
            if key == b"parm" {
                params[idx].description = Some(rest);
            } else {
                params[idx].ty = Some(rest);
            }
        }
        params.reverse();
        params
    }
}

/// The entries of builtin module `name` in the bytes of a `modules.builtin.modinfo`.
fn builtin_from_bytes(path: &Path, data: &[u8], name: &[u8]) -> Result<ModuleInfo, Error> {
    let mut info = ModuleInfo::default();
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
            if info.modinfo.ends.is_empty() {
                continue;
            }
            break;
        }
        let (k, v) = split_entry(&s[dot + 1..]);
        info.modinfo.push(k, v);
    }
    Ok(info)
}

/// A symbol of a module: an exported one, a needed one, or a `__versions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Symbol {
    /// The name.
    pub name: Vec<u8>,
    /// Its CRC (0 when the module has none for it).
    pub crc: u64,
    /// For a needed symbol: weak (the module loads without it).
    pub weak: bool,
}

/// A whole module image (decompressed), to read its symbols from. `Send + Sync`.
#[derive(Debug)]
pub struct ModuleImage {
    path: PathBuf,
    image: Image,
}

impl ModuleImage {
    /// Open and (if compressed) decompress the module file at `path`; the ELF
    /// headers are checked as kmod checks them.
    pub fn open(path: &Path) -> Result<ModuleImage, Error> {
        let image = ModuleFile::open(path)?.load()?;
        ModuleElf::parse(&image).map_err(|e| Error::from(e).at(path))?;
        Ok(ModuleImage {
            path: path.to_path_buf(),
            image,
        })
    }

    /// A module image already in memory (plain, not compressed), e.g. read from a
    /// package; errors name no file.
    pub fn from_bytes(image: Vec<u8>) -> Result<ModuleImage, Error> {
        ModuleElf::parse(&image)?;
        Ok(ModuleImage {
            path: PathBuf::new(),
            image: Image::Owned(image),
        })
    }

    fn elf(&self) -> Result<ModuleElf<'_>, Error> {
        ModuleElf::parse(&self.image).map_err(|e| Error::from(e).at(&self.path))
    }

    fn symbols<'a>(
        &'a self,
        f: impl FnOnce(&ModuleElf<'a>) -> Result<Vec<elf::Symbol<'a>>, elf::ElfError>,
    ) -> Result<Vec<Symbol>, Error> {
        let elf = self.elf()?;
        let syms = f(&elf).map_err(|e| Error::from(e).at(&self.path))?;
        Ok(syms
            .into_iter()
            .map(|s| Symbol {
                name: s.name.to_vec(),
                crc: s.crc,
                weak: s.bind == elf::Bind::Weak,
            })
            .collect())
    }

    /// The information (`.modinfo` and signature).
    pub fn info(&self) -> Result<ModuleInfo, Error> {
        ModuleInfo::of_elf(&self.path, &self.elf()?)
    }

    /// The `__versions` entries (`kmod_module_get_versions`,
    /// `modprobe --show-modversions`).
    pub fn versions(&self) -> Result<Vec<Symbol>, Error> {
        self.symbols(ModuleElf::modversions)
    }

    /// The exported symbols with their CRCs (`kmod_module_get_symbols`,
    /// `modprobe --show-exports`).
    pub fn exports(&self) -> Result<Vec<Symbol>, Error> {
        self.symbols(ModuleElf::exported_symbols)
    }

    /// The symbols the module needs, with the CRCs its `__versions` gives them
    /// (`kmod_module_get_dependency_symbols`).
    pub fn needed(&self) -> Result<Vec<Symbol>, Error> {
        self.symbols(ModuleElf::dependency_symbols)
    }

    /// The extended modversions (`__version_ext_crcs`/`__version_ext_names`, Linux
    /// 6.15 and later, for symbols whose names do not fit `__versions`), which kmod
    /// 34.2 does not read; none when the module has no such sections.
    pub fn extended_versions(&self) -> Result<Vec<Symbol>, Error> {
        self.symbols(|elf| Ok(elf.extended_modversions()))
    }

    /// The GNU build-id (`.note.gnu.build-id`), which kmod after 34.2 shows as
    /// `build-id:`.
    pub fn build_id(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.elf()?.build_id().map(<[u8]>::to_vec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(i: &ModuleInfo) -> Vec<(&[u8], &[u8])> {
        i.entries().collect()
    }

    #[test]
    fn builtin_contiguous_strings() {
        let data = b"a.license=GPL\0b.license=MIT\0b.file=x/y\0c.license=BSD\0b.alias=late\0";
        let v = builtin_from_bytes(Path::new("f"), data, b"b").unwrap();
        assert_eq!(
            keys(&v),
            vec![(&b"license"[..], &b"MIT"[..]), (b"file", b"x/y")]
        );
        assert!(
            builtin_from_bytes(Path::new("f"), data, b"zz")
                .unwrap()
                .entries()
                .next()
                .is_none()
        );
        assert_eq!(
            builtin_from_bytes(Path::new("f"), b"nodot\0", b"b")
                .unwrap_err()
                .errno(),
            crate::Errno::EINVAL
        );
    }

    #[test]
    fn entry_without_equals() {
        assert_eq!(split_entry(b"key").1, b"");
        assert_eq!(split_entry(b"k=a=b").1, b"a=b");
    }

    #[test]
    fn params_merged_and_reversed() {
        let mut info = ModuleInfo::default();
        info.modinfo.push(b"parm", b"a:first");
        info.modinfo.push(b"parmtype", b"b:int");
        info.modinfo.push(b"parm", b"bad");
        info.modinfo.push(b"parmtype", b"a:bool");
        let mut log: Vec<Diagnostic> = Vec::new();
        let p = info.params(&mut log);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, b"b");
        assert_eq!(p[0].ty, Some(&b"int"[..]));
        assert_eq!(p[1].description, Some(&b"first"[..]));
        assert_eq!(p[1].ty, Some(&b"bool"[..]));
        assert_eq!(log[0].message, b"Found invalid \"parm=bad\": missing ':'\n");
    }
}
