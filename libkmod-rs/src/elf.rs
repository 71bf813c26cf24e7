//! ELF reading for kernel modules, with kmod's exact validation rules.
//!
//! One generic code path (over `object`'s raw `FileHeader32`/`FileHeader64` types with
//! a run-time byte order) serves ELFCLASS32 and ELFCLASS64, little and big endian, over
//! a borrowed `&[u8]`: any architecture's modules can be read on any host.
//!
//! Validation, as kmod does it (errno in brackets):
//! * `\x7fELF` and more than 16 bytes, else `ENOEXEC`; class 1/2 with a file longer
//!   than the ELF header, data LSB/MSB, else `EINVAL`;
//! * `e_shentsize` equal to the section header size, the section header table inside
//!   the file, the section-name table valid, non-empty and NUL-terminated, else `EINVAL`;
//! * a section whose data lies outside the file is ignored; the first section with a
//!   given name wins; a section at offset 0 counts as absent.
//!
//! What is read: `.modinfo` strings, `__versions` records (CRC 4 bytes on ELF32,
//! 8 on ELF64, name in the rest of a 64-byte record), exported symbols (`__crc_*`
//! symbols, or the `__ksymtab_strings` fallback), needed symbols (undefined symbols
//! plus unreferenced `__versions` entries), the module name from
//! `.gnu.linkonce.this_module`, extended modversions (`__version_ext_crcs` /
//! `__version_ext_names`, which kmod does not read) and the GNU build-id.

use crate::error::errno;
use object::Endianness;
use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, SectionHeader, Sym};
use std::cell::Cell;

/// Why an image is not a usable module ELF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElfError {
    /// kmod's errno for this failure.
    pub(crate) errno: i32,
    /// What is wrong.
    pub(crate) reason: &'static str,
}

impl From<ElfError> for crate::Error {
    /// kmod's errno for a module image it refuses, with what is wrong (the file is
    /// filled in by the caller).
    fn from(e: ElfError) -> crate::Error {
        crate::Error::format(std::path::PathBuf::new(), e.errno, e.reason)
    }
}

fn bad(errno: i32, reason: &'static str) -> ElfError {
    ElfError { errno, reason }
}

/// Symbol binding, as libkmod reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bind {
    /// No binding (unknown ELF binding).
    None,
    /// STB_LOCAL.
    Local,
    /// STB_GLOBAL.
    Global,
    /// STB_WEAK.
    Weak,
    /// An undefined (needed) symbol.
    Undef,
}

/// A symbol with its CRC (exported, needed, or a `__versions` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Symbol<'a> {
    /// Symbol name.
    pub(crate) name: &'a [u8],
    /// Its CRC (0 if unknown).
    pub(crate) crc: u64,
    /// Its binding.
    pub(crate) bind: Bind,
}

const SEC_KSYMTAB_STRINGS: usize = 0;
const SEC_MODINFO: usize = 1;
const SEC_STRTAB: usize = 2;
const SEC_SYMTAB: usize = 3;
const SEC_VERSIONS: usize = 4;
const SECTION_NAMES: [&[u8]; 5] = [
    b"__ksymtab_strings",
    b".modinfo",
    b".strtab",
    b".symtab",
    b"__versions",
];

const SHF_ALLOC: u64 = 0x2;
const SHN_UNDEF: u16 = 0;
const SHN_ABS: u16 = 0xfff1;
const EM_SPARC: u16 = 2;
const EM_SPARCV9: u16 = 43;
const STT_REGISTER: u8 = 13;
const VERSION_RECORD: usize = 64;

/// A part of a file held in a [`SparseImage`]: `len` bytes from file offset `off`,
/// at `at` in the image's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// File offset.
    pub(crate) off: u64,
    /// Length.
    pub(crate) len: u64,
    /// Position in the buffer.
    pub(crate) at: usize,
}

/// A module image: a whole file (no segments: the buffer is the file), or only the
/// parts of a file that were read, packed one after the other in a buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SparseImage<'a> {
    data: &'a [u8],
    segs: &'a [Segment],
    len: u64,
}

impl<'a> SparseImage<'a> {
    /// A whole file's bytes.
    #[must_use]
    pub(crate) fn whole(data: &'a [u8]) -> Self {
        SparseImage {
            data,
            segs: &[],
            len: data.len() as u64,
        }
    }

    /// Parts of a file of `len` bytes: `segs` says where each is in `data`.
    #[must_use]
    pub(crate) fn parts(data: &'a [u8], segs: &'a [Segment], len: u64) -> Self {
        SparseImage { data, segs, len }
    }

    /// The file's length.
    #[must_use]
    pub(crate) fn file_len(&self) -> u64 {
        self.len
    }

    /// The whole file, if this image holds all of it.
    #[must_use]
    pub(crate) fn whole_bytes(&self) -> Option<&'a [u8]> {
        self.segs.is_empty().then_some(self.data)
    }

    /// Bytes `off..off + size` of the file: None past its end or when not read.
    #[must_use]
    pub(crate) fn get(&self, off: u64, size: u64) -> Option<&'a [u8]> {
        let end = off.checked_add(size)?;
        if end > self.len {
            return None;
        }
        if self.segs.is_empty() {
            return self.data.get(off as usize..end as usize);
        }
        let s = self
            .segs
            .iter()
            .find(|s| s.off <= off && end <= s.off + s.len)?;
        let at = s.at + (off - s.off) as usize;
        self.data.get(at..at + size as usize)
    }

    /// Whether `off..off + size` lies inside the file (read or not).
    #[must_use]
    pub(crate) fn in_file(&self, off: u64, size: u64) -> bool {
        off.checked_add(size).is_some_and(|end| end <= self.len)
    }

    /// The longest run of bytes read that ends at the end of the file (all of it
    /// for a whole image; empty if the end was not read).
    #[must_use]
    pub(crate) fn suffix(&self) -> &'a [u8] {
        if self.segs.is_empty() {
            return self.data;
        }
        self.segs
            .iter()
            .filter(|s| s.off + s.len == self.len)
            .min_by_key(|s| s.off)
            .and_then(|s| self.data.get(s.at..s.at + s.len as usize))
            .unwrap_or(&[])
    }
}

thread_local! {
    /// The hash table [`ModuleElf::for_each_dependency_symbol`] finds `__versions`
    /// records with, reused from one module to the next.
    static VERSION_TABLE: std::cell::RefCell<Vec<u64>> = const {
        std::cell::RefCell::new(Vec::new())
    };
}

/// A parsed module ELF image.
#[derive(Debug, Clone)]
pub(crate) struct ModuleElf<'a> {
    img: SparseImage<'a>,
    is64: bool,
    endian: Endianness,
    shoff: u64,
    shnum: u16,
    machine: u16,
    /// The section header table.
    shdrs: &'a [u8],
    /// The section-name table.
    strings: &'a [u8],
    /// (offset, size) of the well-known sections found so far; offset 0 = absent
    /// (or not found yet).
    sections: Cell<[(u64, u64); 5]>,
    /// Bit k: `SECTION_NAMES[k]` has been found (its first section is the one
    /// recorded, whatever its offset).
    found: Cell<u8>,
    /// The sections below this index have been looked at for the well-known
    /// names: the table is scanned only as far as a caller needs (a `.modinfo`
    /// reader stops at `.modinfo`, about 40% of the way).
    scanned: Cell<u16>,
}

/// The bytes before the first NUL (all of them without one).
fn cstr(bytes: &[u8]) -> &[u8] {
    std::ffi::CStr::from_bytes_until_nul(bytes).map_or(bytes, std::ffi::CStr::to_bytes)
}

/// The length of the NUL-terminated string at the start of `b` (None: no NUL), and
/// the FxHash ([`crate::shared::fxhash::Fx`]) of the string (of all of `b` without a NUL),
/// found in one pass of 8-byte words.
fn name_hash(b: &[u8]) -> (Option<usize>, u64) {
    use crate::shared::fxhash::mix;
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut h: u64 = 0;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let zero = w.wrapping_sub(LO) & !w & HI;
        if zero != 0 {
            let n = (zero.trailing_zeros() / 8) as usize;
            let h = c[..n].iter().fold(h, |h, &x| mix(h, u64::from(x)));
            return (Some(at + n), h);
        }
        h = mix(h, w);
        at += 8;
    }
    for &x in chunks.remainder() {
        if x == 0 {
            return (Some(at), h);
        }
        h = mix(h, u64::from(x));
        at += 1;
    }
    (None, h)
}

/// [`cstr`], None without a NUL.
fn cstr_nul(bytes: &[u8]) -> Option<&[u8]> {
    std::ffi::CStr::from_bytes_until_nul(bytes)
        .ok()
        .map(std::ffi::CStr::to_bytes)
}

/// Per-class field readers, generic over `object`'s raw header types.
trait Class {
    fn ehdr_size() -> u64;
    fn shdr_size() -> u64;
    fn sym_size() -> u64;
    fn header(data: &[u8], e: Endianness) -> Option<(u64, u16, u16, u16, u16)>;
    fn section(data: &[u8], e: Endianness) -> Option<(u32, u64, u64, u64)>;
    fn sym(data: &[u8], e: Endianness) -> Option<(u32, u64, u8, u16)>;
}

struct C<H>(std::marker::PhantomData<H>);

impl<H> Class for C<H>
where
    H: FileHeader<Endian = Endianness>,
{
    fn ehdr_size() -> u64 {
        size_of::<H>() as u64
    }
    fn shdr_size() -> u64 {
        size_of::<H::SectionHeader>() as u64
    }
    fn sym_size() -> u64 {
        size_of::<H::Sym>() as u64
    }
    fn header(data: &[u8], e: Endianness) -> Option<(u64, u16, u16, u16, u16)> {
        let (h, _) = object::pod::from_bytes::<H>(data).ok()?;
        Some((
            h.e_shoff(e).into(),
            h.e_shnum(e),
            h.e_shentsize(e),
            h.e_shstrndx(e),
            h.e_machine(e),
        ))
    }
    fn section(data: &[u8], e: Endianness) -> Option<(u32, u64, u64, u64)> {
        let (s, _) = object::pod::from_bytes::<H::SectionHeader>(data).ok()?;
        Some((
            s.sh_name(e),
            s.sh_offset(e).into(),
            s.sh_size(e).into(),
            s.sh_flags(e).into(),
        ))
    }
    fn sym(data: &[u8], e: Endianness) -> Option<(u32, u64, u8, u16)> {
        let (s, _) = object::pod::from_bytes::<H::Sym>(data).ok()?;
        Some((
            s.st_name(e),
            s.st_value(e).into(),
            s.st_info(),
            s.st_shndx(e),
        ))
    }
}

type C32 = C<FileHeader32<Endianness>>;
type C64 = C<FileHeader64<Endianness>>;

macro_rules! by_class {
    ($self:expr, $f:ident ( $($arg:expr),* )) => {
        if $self.is64 { C64::$f($($arg),*) } else { C32::$f($($arg),*) }
    };
}

impl<'a> ModuleElf<'a> {
    /// Parse and validate a whole image.
    pub(crate) fn parse(data: &'a [u8]) -> Result<Self, ElfError> {
        Self::parse_sparse(SparseImage::whole(data))
    }

    /// Parse and validate an image of which only some parts may have been read
    /// (the ELF header, the section headers and their name table at least); the
    /// parts not read look like sections that cannot be read.
    pub(crate) fn parse_sparse(img: SparseImage<'a>) -> Result<Self, ElfError> {
        let data = img.get(0, img.len.min(64)).unwrap_or(&[]);
        if img.len <= 16 || !data.starts_with(b"\x7fELF") {
            return Err(bad(errno::ENOEXEC, "not an ELF file"));
        }
        let is64 = match data[4] {
            1 => false,
            2 => true,
            _ => return Err(bad(errno::EINVAL, "unknown ELF class")),
        };
        let ehdr = if is64 {
            C64::ehdr_size()
        } else {
            C32::ehdr_size()
        };
        if img.len <= ehdr {
            return Err(bad(errno::EINVAL, "file shorter than the ELF header"));
        }
        let endian = match data[5] {
            1 => Endianness::Little,
            2 => Endianness::Big,
            _ => return Err(bad(errno::EINVAL, "unknown ELF byte order")),
        };
        let (shoff, shnum, shentsize, shstrndx, machine) = if is64 {
            C64::header(data, endian)
        } else {
            C32::header(data, endian)
        }
        .ok_or(bad(errno::EINVAL, "truncated ELF header"))?;
        let shdr = if is64 {
            C64::shdr_size()
        } else {
            C32::shdr_size()
        };
        if u64::from(shentsize) != shdr {
            return Err(bad(errno::EINVAL, "unexpected section header size"));
        }
        let Some(shdrs) = img.get(shoff, shdr * u64::from(shnum)) else {
            return Err(bad(errno::EINVAL, "section headers outside the file"));
        };
        let mut elf = ModuleElf {
            img,
            is64,
            endian,
            shoff,
            shnum,
            machine,
            shdrs,
            strings: &[],
            sections: Cell::new([(0, 0); 5]),
            found: Cell::new(0),
            scanned: Cell::new(1),
        };
        let bad_strings = bad(errno::EINVAL, "bad section name table");
        let (name, off, size, _) = elf.raw_section(shstrndx).ok_or(bad_strings.clone())?;
        if u64::from(name) >= size {
            return Err(bad_strings);
        }
        let strings = img.get(off, size).ok_or(bad_strings.clone())?;
        if strings.last() != Some(&0) {
            return Err(bad_strings);
        }
        elf.strings = strings;
        Ok(elf)
    }

    /// (offset, size) of the first usable section called `SECTION_NAMES[which]`
    /// (offset 0: none), scanning the section table only as far as needed.
    fn known_section(&self, which: usize) -> (u64, u64) {
        let mut sections = self.sections.get();
        let mut found = self.found.get();
        let mut i = self.scanned.get();
        while found & (1 << which) == 0 && i < self.shnum {
            if let Some((name, off, size)) = self.section_info(i)
                && let Some(k) = SECTION_NAMES.iter().position(|&n| n == name)
                && found & (1 << k) == 0
            {
                sections[k] = (off, size);
                found |= 1 << k;
            }
            i += 1;
        }
        self.sections.set(sections);
        self.found.set(found);
        self.scanned.set(i);
        sections[which]
    }

    /// For reading only what is needed: the (offset, size) of the section header
    /// table, from the first bytes of a file (its ELF header). None if the header is
    /// not usable (the full parse then reports why).
    #[must_use]
    pub(crate) fn section_table_range(head: &[u8]) -> Option<(u64, u64)> {
        if head.len() <= 16 || !head.starts_with(b"\x7fELF") {
            return None;
        }
        let is64 = match head[4] {
            1 => false,
            2 => true,
            _ => return None,
        };
        let endian = match head[5] {
            1 => Endianness::Little,
            2 => Endianness::Big,
            _ => return None,
        };
        let (shoff, shnum, shentsize, _, _) = if is64 {
            C64::header(head, endian)
        } else {
            C32::header(head, endian)
        }?;
        Some((shoff, u64::from(shnum) * u64::from(shentsize)))
    }

    /// The (offset, size) of the section-name table, once the ELF header and the
    /// section header table are readable.
    #[must_use]
    pub(crate) fn name_table_range(img: SparseImage<'_>) -> Option<(u64, u64)> {
        let data = img.get(0, img.len.min(64))?;
        let is64 = data.get(4) == Some(&2);
        let endian = if data.get(5) == Some(&2) {
            Endianness::Big
        } else {
            Endianness::Little
        };
        let (shoff, shnum, _, shstrndx, _) = if is64 {
            C64::header(data, endian)
        } else {
            C32::header(data, endian)
        }?;
        if shstrndx == SHN_UNDEF || shstrndx >= shnum {
            return None;
        }
        let size = if is64 {
            C64::shdr_size()
        } else {
            C32::shdr_size()
        };
        let at = shoff.checked_add(u64::from(shstrndx) * size)?;
        let hdr = img.get(at, size)?;
        let (_, off, sz, _) = if is64 {
            C64::section(hdr, endian)
        } else {
            C32::section(hdr, endian)
        }?;
        Some((off, sz))
    }

    /// Every usable section: (index, name, offset, size).
    pub(crate) fn sections_iter(&self) -> impl Iterator<Item = (u16, &'a [u8], u64, u64)> + '_ {
        (1..self.shnum).filter_map(|i| self.section_info(i).map(|(n, o, s)| (i, n, o, s)))
    }

    /// [`ModuleElf::crc_section_ranges`] of the image `img` (none if it does not
    /// parse).
    pub(crate) fn crc_ranges_of(img: SparseImage<'_>) -> Vec<(u64, u64)> {
        ModuleElf::parse_sparse(img).map_or_else(|_| Vec::new(), |e| e.crc_section_ranges())
    }

    /// The (offset, size) of the first usable section called `name` (those the
    /// parse looks for are known without a search).
    #[must_use]
    pub(crate) fn section_range(&self, name: &[u8]) -> Option<(u64, u64)> {
        if let Some(k) = SECTION_NAMES.iter().position(|&n| n == name) {
            let (off, size) = self.known_section(k);
            return (off != 0).then_some((off, size));
        }
        self.sections_iter()
            .find(|&(_, n, _, _)| n == name)
            .map(|(_, _, off, size)| (off, size))
    }

    /// The (offset, size) of the sections that hold the CRCs of `__crc_*` symbols
    /// (those not absolute), which [`ModuleElf::exported_symbols`] reads.
    #[must_use]
    pub(crate) fn crc_section_ranges(&self) -> Vec<(u64, u64)> {
        let Some((symtab, count, strtab, symlen)) = self.symtab() else {
            return Vec::new();
        };
        let mut idx: Vec<u16> = Vec::new();
        for i in 1..count {
            let Some((name_off, _, _, shndx)) = self.sym_at(symtab, symlen, i) else {
                break;
            };
            if shndx == SHN_ABS || shndx == SHN_UNDEF || idx.contains(&shndx) {
                continue;
            }
            if strtab
                .get(name_off as usize..)
                .is_some_and(|n| n.starts_with(b"__crc_"))
            {
                idx.push(shndx);
            }
        }
        idx.into_iter()
            .filter_map(|i| self.section_info(i).map(|(_, o, s)| (o, s)))
            .collect()
    }

    /// Is this a big-endian image?
    #[must_use]
    pub(crate) fn is_big_endian(&self) -> bool {
        self.endian == Endianness::Big
    }

    /// The image.
    #[must_use]
    pub(crate) fn image(&self) -> SparseImage<'a> {
        self.img
    }

    fn uint(&self, off: u64, size: usize) -> Option<u64> {
        Some(self.uint_of(self.img.get(off, size as u64)?))
    }

    /// The unsigned integer held in `b`, in the file's byte order.
    fn uint_of(&self, b: &[u8]) -> u64 {
        let fold = |v: u64, &x: &u8| (v << 8) | u64::from(x);
        if self.is_big_endian() {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        }
    }

    fn shdr_offset(&self, idx: u16) -> Option<u64> {
        if idx == SHN_UNDEF || idx >= self.shnum {
            return None;
        }
        let size = by_class!(self, shdr_size());
        Some(self.shoff + u64::from(idx) * size)
    }

    /// Header fields of section `idx`: (sh_name, sh_offset, sh_size, sh_flags), with the
    /// section data checked to lie inside the file.
    fn raw_section(&self, idx: u16) -> Option<(u32, u64, u64, u64)> {
        if idx == SHN_UNDEF || idx >= self.shnum {
            return None;
        }
        let size = by_class!(self, shdr_size()) as usize;
        let hdr = self.shdrs.get(usize::from(idx) * size..)?.get(..size)?;
        let s = by_class!(self, section(hdr, self.endian))?;
        self.img.in_file(s.1, s.2).then_some(s)
    }

    /// (name, offset, size) of section `idx`, or None if it is unusable.
    fn section_info(&self, idx: u16) -> Option<(&'a [u8], u64, u64)> {
        let (name, off, size, _) = self.raw_section(idx)?;
        if name as usize >= self.strings.len() {
            return None;
        }
        Some((cstr(&self.strings[name as usize..]), off, size))
    }

    /// Index, offset and size of the first section called `name`.
    #[must_use]
    pub(crate) fn section_by_name(&self, name: &[u8]) -> Option<(u16, &'a [u8])> {
        (1..self.shnum).find_map(|i| {
            let (n, off, size) = self.section_info(i)?;
            (n == name).then(|| (i, self.img.get(off, size).unwrap_or(&[])))
        })
    }

    fn known(&self, which: usize) -> Option<(u64, &'a [u8])> {
        let (off, size) = self.known_section(which);
        if off == 0 {
            return None;
        }
        Some((off, self.img.get(off, size)?))
    }

    /// The `.modinfo` strings in section order (`key=value` each). `ENODATA` if the
    /// section is missing.
    pub(crate) fn modinfo_strings(&self) -> Result<Vec<&'a [u8]>, ElfError> {
        let (_, mut s) = self
            .known(SEC_MODINFO)
            .ok_or(bad(errno::ENODATA, "no .modinfo section"))?;
        while s.len() > 1 && s[0] == 0 {
            s = &s[1..];
        }
        if s.len() <= 1 {
            return Ok(Vec::new());
        }
        Ok(s.split(|&c| c == 0).filter(|x| !x.is_empty()).collect())
    }

    fn version_lengths(&self) -> (usize, usize) {
        // (crc length, name length) inside a 64-byte record
        if self.is64 { (8, 56) } else { (4, 60) }
    }

    /// The `__versions` records (CRC, name; a leading `.` dropped). `ENODATA` if missing.
    pub(crate) fn modversions(&self) -> Result<Vec<Symbol<'a>>, ElfError> {
        let (_, s) = self
            .known(SEC_VERSIONS)
            .ok_or(bad(errno::ENODATA, "no __versions section"))?;
        if s.len() % VERSION_RECORD != 0 {
            return Err(bad(errno::EINVAL, "__versions size not a multiple of 64"));
        }
        let (crclen, namelen) = self.version_lengths();
        let (off, _) = self.known_section(SEC_VERSIONS);
        let mut out = Vec::with_capacity(s.len() / VERSION_RECORD);
        for (i, rec) in s.chunks_exact(VERSION_RECORD).enumerate() {
            let field = &rec[crclen..crclen + namelen];
            let Some(n) = field.iter().position(|&c| c == 0) else {
                return Err(bad(errno::EINVAL, "__versions name too long"));
            };
            let mut name = &field[..n];
            if name.first() == Some(&b'.') {
                name = &name[1..];
            }
            let crc = self
                .uint(off + (i * VERSION_RECORD) as u64, crclen)
                .unwrap_or(0);
            out.push(Symbol {
                name,
                crc,
                bind: Bind::Undef,
            });
        }
        Ok(out)
    }

    fn symtab(&self) -> Option<(&'a [u8], u64, &'a [u8], u64)> {
        // (symtab, entry count, strtab, entry size)
        let (_, strtab) = self.known(SEC_STRTAB)?;
        let (_, symtab) = self.known(SEC_SYMTAB)?;
        let symlen = by_class!(self, sym_size());
        if !(symtab.len() as u64).is_multiple_of(symlen) {
            return None;
        }
        Some((symtab, symtab.len() as u64 / symlen, strtab, symlen))
    }

    /// Entry `i` of the symbol table `symtab`.
    fn sym_at(&self, symtab: &[u8], symlen: u64, i: u64) -> Option<(u32, u64, u8, u16)> {
        let b = symtab
            .get((i * symlen) as usize..)?
            .get(..symlen as usize)?;
        by_class!(self, sym(b, self.endian))
    }

    /// Exported symbols: `__crc_*` symbols with their CRCs, or, when there are none
    /// (or no usable symbol table), the strings of `__ksymtab_strings` with CRC 0.
    pub(crate) fn exported_symbols(&self) -> Result<Vec<Symbol<'a>>, ElfError> {
        if let Some(v) = self.crc_symbols() {
            return Ok(v);
        }
        self.ksymtab_strings()
    }

    fn crc_symbols(&self) -> Option<Vec<Symbol<'a>>> {
        let (symtab, count, strtab, symlen) = self.symtab()?;
        let mut out = Vec::new();
        for i in 1..count {
            let (name_off, value, info, shndx) = self.sym_at(symtab, symlen, i)?;
            if u64::from(name_off) >= strtab.len() as u64 {
                return None;
            }
            let Some(rest) = strtab[name_off as usize..].strip_prefix(b"__crc_") else {
                continue;
            };
            let rest = cstr(rest);
            let bind = match info >> 4 {
                0 => Bind::Local,
                1 => Bind::Global,
                2 => Bind::Weak,
                _ => Bind::None,
            };
            out.push(Symbol {
                name: rest,
                crc: self.resolve_crc(value, shndx),
                bind,
            });
        }
        (!out.is_empty()).then_some(out)
    }

    fn resolve_crc(&self, value: u64, shndx: u16) -> u64 {
        if shndx == SHN_ABS || shndx == SHN_UNDEF {
            return value;
        }
        let Some((_, off, size)) = self.section_info(shndx) else {
            return u64::MAX;
        };
        if size < 4 || value > size - 4 {
            return u64::MAX;
        }
        self.uint(off + value, 4).unwrap_or(u64::MAX)
    }

    fn ksymtab_strings(&self) -> Result<Vec<Symbol<'a>>, ElfError> {
        let (_, mut s) = self
            .known(SEC_KSYMTAB_STRINGS)
            .ok_or(bad(errno::ENODATA, "no __ksymtab_strings section"))?;
        while s.len() > 1 && s[0] == 0 {
            s = &s[1..];
        }
        if s.len() <= 1 {
            return Ok(Vec::new());
        }
        if s.last() != Some(&0) {
            return Err(bad(errno::EINVAL, "__ksymtab_strings not NUL-terminated"));
        }
        Ok(s.split(|&c| c == 0)
            .filter(|x| !x.is_empty())
            .map(|name| Symbol {
                name,
                crc: 0,
                bind: Bind::Global,
            })
            .collect())
    }

    /// Needed symbols: every undefined symbol with a name (CRC from `__versions`),
    /// then every `__versions` entry no symbol referenced (e.g. `module_layout`).
    pub(crate) fn dependency_symbols(&self) -> Result<Vec<Symbol<'a>>, ElfError> {
        let mut out = Vec::new();
        self.for_each_dependency_symbol(|s| out.push(s))?;
        Ok(out)
    }

    /// [`ModuleElf::dependency_symbols`] one at a time, without collecting them. On
    /// an error, `f` may have been called for some symbols already.
    pub(crate) fn for_each_dependency_symbol(
        &self,
        mut f: impl FnMut(Symbol<'a>),
    ) -> Result<(), ElfError> {
        let (crclen, namelen) = self.version_lengths();
        let versions: &[u8] = match self.known(SEC_VERSIONS) {
            Some((_, s)) if s.len() % VERSION_RECORD == 0 => s,
            _ => &[],
        };
        let einval = bad(errno::EINVAL, "bad symbol table");
        let (_, strtab) = self.known(SEC_STRTAB).ok_or(einval.clone())?;
        let (_, symtab) = self.known(SEC_SYMTAB).ok_or(einval.clone())?;
        let symlen = by_class!(self, sym_size());
        if !(symtab.len() as u64).is_multiple_of(symlen) {
            return Err(einval);
        }
        let count = symtab.len() as u64 / symlen;
        let nver = versions.len() / VERSION_RECORD;
        let field = |k: usize| &versions[k * VERSION_RECORD + crclen..][..namelen];
        let version_name = |k: usize| cstr_nul(field(k));
        // does record k hold exactly `name`? (no search for its NUL)
        let holds = |k: usize, name: &[u8]| {
            let f = field(k);
            f.get(name.len()) == Some(&0) && f.starts_with(name)
        };
        let version_crc = |k: usize| self.uint_of(&versions[k * VERSION_RECORD..][..crclen]);
        VERSION_TABLE.with(|table| {
            let mut table = table.borrow_mut();
            let table = &mut table;
            // the records by name (the first of equal names wins, as kmod's linear
            // search finds it): open addressing, a slot holds the name hash's high
            // half and the record number + 1 (0: empty)
            let slots = (nver * 2).next_power_of_two().max(16);
            table.clear();
            table.resize(slots, 0);
            let mask = slots - 1;
            let tag = |h: u64| h & !0xffff_ffff;
            for k in 0..nver {
                let (Some(len), h) = name_hash(field(k)) else {
                    continue;
                };
                let name = &field(k)[..len];
                let mut i = h as usize & mask;
                loop {
                    let e = table[i];
                    if e == 0 {
                        table[i] = tag(h) | (k as u64 + 1);
                        break;
                    }
                    if tag(e) == tag(h) && holds((e & 0xffff_ffff) as usize - 1, name) {
                        break;
                    }
                    i = (i + 1) & mask;
                }
            }
            let find = |name: &[u8], h: u64| {
                let mut i = h as usize & mask;
                loop {
                    let e = table[i];
                    if e == 0 {
                        return None;
                    }
                    let k = (e & 0xffff_ffff) as usize - 1;
                    if tag(e) == tag(h) && holds(k, name) {
                        return Some(k);
                    }
                    i = (i + 1) & mask;
                }
            };
            let mut visited = vec![false; nver];
            let registers = self.machine == EM_SPARC || self.machine == EM_SPARCV9;
            for i in 1..count {
                let (name_off, _, info, shndx) =
                    self.sym_at(symtab, symlen, i).ok_or(einval.clone())?;
                if shndx != SHN_UNDEF {
                    continue;
                }
                if registers && info & 0xf == STT_REGISTER {
                    continue;
                }
                if u64::from(name_off) >= strtab.len() as u64 {
                    return Err(einval.clone());
                }
                let rest = &strtab[name_off as usize..];
                let (len, h) = name_hash(rest);
                let name = &rest[..len.unwrap_or(rest.len())];
                if name.is_empty() {
                    continue;
                }
                let mut crc = 0;
                if let Some(k) = find(name, h) {
                    crc = version_crc(k);
                    visited[k] = true;
                }
                let bind = if info >> 4 == 2 {
                    Bind::Weak
                } else {
                    Bind::Undef
                };
                f(Symbol { name, crc, bind });
            }
            for (k, seen) in visited.iter().enumerate() {
                if *seen {
                    continue;
                }
                let Some(name) = version_name(k) else {
                    return Err(einval.clone());
                };
                f(Symbol {
                    name,
                    crc: version_crc(k),
                    bind: Bind::Undef,
                });
            }
            Ok(())
        })
    }

    /// Extended modversions (Linux ≥ 6.15): `__version_ext_crcs` (u32 each, file byte
    /// order) paired with the NUL-separated names of `__version_ext_names`. Empty if
    /// absent or inconsistent.
    #[must_use]
    pub(crate) fn extended_modversions(&self) -> Vec<Symbol<'a>> {
        let (Some((_, crcs)), Some((_, names))) = (
            self.section_by_name(b"__version_ext_crcs"),
            self.section_by_name(b"__version_ext_names"),
        ) else {
            return Vec::new();
        };
        let names: Vec<&[u8]> = names.split(|&c| c == 0).filter(|n| !n.is_empty()).collect();
        if crcs.len() % 4 != 0 || crcs.len() / 4 != names.len() {
            return Vec::new();
        }
        crcs.chunks_exact(4)
            .zip(names)
            .map(|(c, name)| {
                let b = [c[0], c[1], c[2], c[3]];
                let crc = if self.is_big_endian() {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                };
                Symbol {
                    name,
                    crc: u64::from(crc),
                    bind: Bind::Undef,
                }
            })
            .collect()
    }

    /// The module name recorded in `.gnu.linkonce.this_module` (`struct module.name`).
    #[cfg(any(test, feature = "fake-kernel", feature = "fuzzing"))]
    #[must_use]
    pub(crate) fn this_module_name(&self) -> Option<&'a [u8]> {
        let (_, s) = self.section_by_name(b".gnu.linkonce.this_module")?;
        let (off, len) = if self.is64 { (24, 56) } else { (12, 60) };
        let field = s.get(off..off + len)?;
        let n = field.iter().position(|&c| c == 0)?;
        (n > 0).then(|| &field[..n])
    }

    /// The GNU build-id bytes from `.note.gnu.build-id`.
    #[must_use]
    pub(crate) fn build_id(&self) -> Option<&'a [u8]> {
        let (_, s) = self.section_by_name(b".note.gnu.build-id")?;
        let rd = |o: usize| -> Option<u32> {
            let b: [u8; 4] = s.get(o..o + 4)?.try_into().ok()?;
            Some(if self.is_big_endian() {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let (namesz, descsz, ty) = (rd(0)? as usize, rd(4)? as usize, rd(8)?);
        if ty != 3 || namesz != 4 || s.get(12..16)? != b"GNU\0" {
            return None;
        }
        s.get(16..16 + descsz)
    }

    /// A copy of the image with `__versions` no longer allocated (force-modversion)
    /// and/or the first `vermagic=` string of `.modinfo` blanked (force-vermagic).
    /// `ENODATA` if force-vermagic finds no vermagic.
    pub(crate) fn strip(&self, modversion: bool, vermagic: bool) -> Result<Vec<u8>, ElfError> {
        let mut out = self
            .img
            .whole_bytes()
            .ok_or(bad(errno::EINVAL, "not a whole image"))?
            .to_vec();
        if modversion && let Some((idx, _)) = self.section_by_name(b"__versions") {
            let hdr = self.shdr_offset(idx).unwrap_or(0);
            let (off, size) = if self.is64 {
                (hdr + 8, 8)
            } else {
                (hdr + 8, 4)
            };
            if let Some(v) = self.uint(off, size) {
                let v = v & !SHF_ALLOC;
                let b = &mut out[off as usize..off as usize + size];
                for (k, byte) in b.iter_mut().enumerate() {
                    let shift = if self.is_big_endian() {
                        8 * (size - 1 - k)
                    } else {
                        8 * k
                    };
                    *byte = (v >> shift) as u8;
                }
            }
        }
        if vermagic {
            let (off, s) = self
                .known(SEC_MODINFO)
                .ok_or(bad(errno::ENODATA, "no vermagic"))?;
            let mut start = 0usize;
            while s.len() - start > 1 && s[start] == 0 {
                start += 1;
            }
            let mut done = false;
            let mut i = start;
            while i < s.len() {
                if s[i] == 0 {
                    i += 1;
                    continue;
                }
                let len = cstr(&s[i..]).len();
                if s[i..].starts_with(b"vermagic=") && i + 9 < s.len() {
                    let at = off as usize + i;
                    out[at..at + len].fill(0);
                    done = true;
                    break;
                }
                i += len;
            }
            if !done {
                return Err(bad(errno::ENODATA, "no vermagic"));
            }
        }
        Ok(out)
    }
}

/// Every reader of the parser over `data` (for the tests and the fuzz target):
/// each must return, never panic; stripping keeps the length.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn exercise(data: &[u8]) {
    if let Ok(elf) = ModuleElf::parse(data) {
        let _ = elf.sections_iter().count();
        let _ = elf.crc_section_ranges();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmod_testko::{Ko, all_kinds};

    #[test]
    fn reads_every_class_and_byte_order() {
        for ko in all_kinds() {
            let data = ko.build();
            let elf = ModuleElf::parse(&data).unwrap();
            assert_eq!(elf.is64, ko.is64());
            assert_eq!(elf.is_big_endian(), ko.endian == object::Endianness::Big);
            let info: Vec<&[u8]> = elf.modinfo_strings().unwrap();
            assert_eq!(
                info,
                ko.modinfo.iter().map(String::as_bytes).collect::<Vec<_>>()
            );
            let v = elf.modversions().unwrap();
            assert_eq!(v.len(), 2);
            assert_eq!((v[0].name, v[0].crc), (&b"module_layout"[..], 0x1234_5678));
            let ex = elf.exported_symbols().unwrap();
            assert_eq!(ex.len(), 1);
            assert_eq!((ex[0].name, ex[0].crc), (&b"mod_a_fn"[..], 0xcafe));
            let needs = elf.dependency_symbols().unwrap();
            let names: Vec<(&[u8], u64, Bind)> =
                needs.iter().map(|s| (s.name, s.crc, s.bind)).collect();
            assert_eq!(
                names,
                vec![
                    (&b"printk"[..], 0xdead_beef, Bind::Undef),
                    (&b"weak_thing"[..], 0, Bind::Weak),
                    (&b"module_layout"[..], 0x1234_5678, Bind::Undef),
                ],
                "{:?}",
                ko.arch
            );
            assert_eq!(elf.this_module_name(), Some(&b"mod_a"[..]));
        }
    }

    #[test]
    fn known_sections_found_in_any_order_of_queries() {
        // the table is scanned lazily, as far as each query needs: whatever the
        // order of the queries, each name gives its first usable section, as a
        // full scan does
        for ko in all_kinds() {
            let data = ko.build();
            let reference = |elf: &ModuleElf<'_>, name: &[u8]| {
                elf.sections_iter()
                    .find(|&(_, n, _, _)| n == name)
                    .map(|(_, _, off, size)| (off, size))
                    .filter(|&(off, _)| off != 0)
            };
            let mut order: Vec<&[u8]> = SECTION_NAMES.to_vec();
            order.push(b".gnu.linkonce.this_module");
            for round in 0..2 {
                let elf = ModuleElf::parse(&data).unwrap();
                let queries: Vec<&[u8]> = if round == 0 {
                    order.clone()
                } else {
                    order.iter().rev().copied().collect()
                };
                for name in queries {
                    assert_eq!(
                        elf.section_range(name),
                        reference(&elf, name),
                        "{:?} {}",
                        ko.arch,
                        String::from_utf8_lossy(name)
                    );
                }
            }
            // a later query after the whole table was scanned, and the readers
            // built on the same table
            let elf = ModuleElf::parse(&data).unwrap();
            assert!(elf.section_range(b"__versions").is_some());
            assert_eq!(elf.modinfo_strings().unwrap().len(), ko.modinfo.len());
        }
    }

    #[test]
    fn ksymtab_strings_fallback() {
        let mut ko = Ko::sample(object::Architecture::X86_64, object::Endianness::Little);
        ko.exports.clear();
        ko.ksymtab_strings = vec!["sym_one", "sym_two"];
        let data = ko.build();
        let elf = ModuleElf::parse(&data).unwrap();
        let ex = elf.exported_symbols().unwrap();
        let names: Vec<&[u8]> = ex.iter().map(|s| s.name).collect();
        assert_eq!(names, vec![&b"sym_one"[..], b"sym_two"]);
        assert!(ex.iter().all(|s| s.crc == 0));
    }

    #[test]
    fn missing_sections_give_enodata() {
        let mut ko = Ko::sample(object::Architecture::X86_64, object::Endianness::Little);
        ko.versions.clear();
        let data = ko.build();
        let elf = ModuleElf::parse(&data).unwrap();
        assert_eq!(elf.modversions().unwrap_err().errno, errno::ENODATA);
    }

    #[test]
    fn name_hash_agrees_with_fx_and_cstr() {
        use std::hash::Hasher;
        for len in 0..40usize {
            for tail in [&b""[..], b"\0", b"\0rest of it", b"x\0"] {
                let mut b: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                b.extend_from_slice(tail);
                let (n, h) = name_hash(&b);
                let name = cstr(&b);
                assert_eq!(n, cstr_nul(&b).map(<[u8]>::len), "{b:?}");
                let mut fx = crate::shared::fxhash::Fx::default();
                fx.write(name);
                assert_eq!(h, fx.finish(), "{b:?}");
            }
        }
    }

    #[test]
    fn header_errors() {
        assert_eq!(ModuleElf::parse(b"").unwrap_err().errno, errno::ENOEXEC);
        assert_eq!(
            ModuleElf::parse(&[0u8; 100]).unwrap_err().errno,
            errno::ENOEXEC
        );
        let data = Ko::sample(object::Architecture::X86_64, object::Endianness::Little).build();
        let mut bad = data.clone();
        bad[4] = 3;
        assert_eq!(ModuleElf::parse(&bad).unwrap_err().errno, errno::EINVAL);
        let mut bad = data.clone();
        bad[5] = 0;
        assert_eq!(ModuleElf::parse(&bad).unwrap_err().errno, errno::EINVAL);
        assert_eq!(
            ModuleElf::parse(&data[..64]).unwrap_err().errno,
            errno::EINVAL
        );
        assert_eq!(
            ModuleElf::parse(&data[..65]).unwrap_err().errno,
            errno::EINVAL
        );
    }

    /// Every prefix and many single-byte corruptions of every kind of module: an
    /// error or a result, never a panic.
    #[test]
    fn truncated_and_corrupted_never_panic() {
        for ko in all_kinds() {
            let data = ko.build();
            let exercise = |d: &[u8]| {
                let _ = ModuleElf::section_table_range(d);
                let _ = ModuleElf::name_table_range(SparseImage::whole(d));
                exercise(d);
            };
            for n in 0..data.len() {
                exercise(&data[..n]);
            }
            for i in 0..data.len() {
                for x in [0x00, 0xff, 0x80, 0x7f] {
                    let mut d = data.clone();
                    d[i] = x;
                    exercise(&d);
                }
            }
        }
    }

    #[test]
    fn strip_for_force_options() {
        for ko in all_kinds() {
            let data = ko.build();
            let elf = ModuleElf::parse(&data).unwrap();
            let stripped = elf.strip(true, true).unwrap();
            let s = ModuleElf::parse(&stripped).unwrap();
            let info = s.modinfo_strings().unwrap();
            assert!(!info.iter().any(|i| i.starts_with(b"vermagic=")));
            assert_eq!(info.len(), 2);
            let (idx, _) = s.section_by_name(b"__versions").unwrap();
            let (_, _, _, flags) = s.raw_section(idx).unwrap();
            assert_eq!(flags & SHF_ALLOC, 0);
        }
        let mut ko = Ko::sample(object::Architecture::X86_64, object::Endianness::Little);
        ko.modinfo = vec!["license=GPL".into()];
        let data = ko.build();
        let elf = ModuleElf::parse(&data).unwrap();
        assert_eq!(elf.strip(false, true).unwrap_err().errno, errno::ENODATA);
        assert!(elf.strip(true, false).is_ok());
    }
}
