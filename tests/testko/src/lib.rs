//! Synthetic kernel modules for kmod-rs's tests (the library's unit tests and the
//! integration tests; a dev-only crate), written with `object`'s ELF writer:
//! any class and byte order, with `.modinfo`, `__versions`, `__ksymtab_strings`,
//! `.gnu.linkonce.this_module`, exported (`__crc_*`) and undefined symbols.

use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

/// A module to build.
pub struct Ko {
    pub arch: Architecture,
    pub endian: Endianness,
    pub name: String,
    pub modinfo: Vec<String>,
    pub versions: Vec<(u64, &'static str)>,
    pub exports: Vec<(String, u64)>,
    pub ksymtab_strings: Vec<&'static str>,
    pub needs: Vec<(String, bool)>,
    /// Bytes of data placed between the sections (0: none), to spread them apart.
    pub padding: usize,
}

impl Ko {
    /// A minimal module (`license=GPL` only) named `mod_a`.
    #[must_use]
    pub fn new(arch: Architecture, endian: Endianness) -> Self {
        Ko {
            arch,
            endian,
            name: "mod_a".into(),
            modinfo: vec!["license=GPL".into()],
            versions: vec![],
            exports: vec![],
            ksymtab_strings: vec![],
            needs: vec![],
            padding: 0,
        }
    }

    /// A module with aliases, vermagic, `__versions`, one export and two needs.
    #[must_use]
    pub fn sample(arch: Architecture, endian: Endianness) -> Self {
        let mut ko = Ko::new(arch, endian);
        ko.modinfo = vec![
            "license=GPL".into(),
            "alias=foo-*".into(),
            "vermagic=6.1.0 SMP mod_unload ".into(),
        ];
        ko.versions = vec![(0x1234_5678, "module_layout"), (0xdead_beef, "printk")];
        ko.exports = vec![("mod_a_fn".into(), 0xcafe)];
        ko.needs = vec![("printk".into(), false), ("weak_thing".into(), true)];
        ko
    }

    #[must_use]
    pub fn is64(&self) -> bool {
        self.arch.address_size().is_some_and(|s| s.bytes() == 8)
    }

    #[must_use]
    pub fn build(&self) -> Vec<u8> {
        let mut obj = Object::new(BinaryFormat::Elf, self.arch, self.endian);
        let big = self.endian == Endianness::Big;
        let mut info = Vec::new();
        for s in &self.modinfo {
            info.extend_from_slice(s.as_bytes());
            info.push(0);
        }
        let pad = |obj: &mut Object<'_>, name: &[u8]| {
            if self.padding > 0 {
                let sec = obj.add_section(Vec::new(), name.to_vec(), SectionKind::Data);
                obj.append_section_data(sec, &vec![0x5a; self.padding], 1);
            }
        };
        pad(&mut obj, b".data.pad0");
        let sec = obj.add_section(Vec::new(), b".modinfo".to_vec(), SectionKind::ReadOnlyData);
        obj.append_section_data(sec, &info, 1);
        pad(&mut obj, b".data.pad1");
        if !self.versions.is_empty() {
            let crclen = if self.is64() { 8 } else { 4 };
            let mut v = Vec::new();
            for (crc, name) in &self.versions {
                let mut rec = vec![0u8; 64];
                let bytes = crc.to_le_bytes();
                for k in 0..crclen {
                    rec[if big { crclen - 1 - k } else { k }] = bytes[k];
                }
                rec[crclen..crclen + name.len()].copy_from_slice(name.as_bytes());
                v.extend_from_slice(&rec);
            }
            let sec = obj.add_section(Vec::new(), b"__versions".to_vec(), SectionKind::Data);
            obj.append_section_data(sec, &v, 8);
        }
        if !self.ksymtab_strings.is_empty() {
            let mut v = Vec::new();
            for s in &self.ksymtab_strings {
                v.extend_from_slice(s.as_bytes());
                v.push(0);
            }
            let sec = obj.add_section(
                Vec::new(),
                b"__ksymtab_strings".to_vec(),
                SectionKind::ReadOnlyData,
            );
            obj.append_section_data(sec, &v, 1);
        }
        pad(&mut obj, b".data.pad2");
        let (off, len) = if self.is64() { (24, 56) } else { (12, 60) };
        let mut this = vec![0u8; off + len + 64];
        this[off..off + self.name.len()].copy_from_slice(self.name.as_bytes());
        let sec = obj.add_section(
            Vec::new(),
            b".gnu.linkonce.this_module".to_vec(),
            SectionKind::Data,
        );
        obj.append_section_data(sec, &this, 8);
        for (name, crc) in &self.exports {
            obj.add_symbol(Symbol {
                name: format!("__crc_{name}").into_bytes(),
                value: *crc,
                size: 0,
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Absolute,
                flags: SymbolFlags::None,
            });
        }
        for (name, weak) in &self.needs {
            obj.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value: 0,
                size: 0,
                kind: SymbolKind::Text,
                scope: SymbolScope::Dynamic,
                weak: *weak,
                section: SymbolSection::Undefined,
                flags: SymbolFlags::None,
            });
        }
        obj.write().unwrap()
    }
}

/// One module per class/byte-order combination.
#[must_use]
pub fn all_kinds() -> Vec<Ko> {
    vec![
        Ko::sample(Architecture::X86_64, Endianness::Little),
        Ko::sample(Architecture::I386, Endianness::Little),
        Ko::sample(Architecture::S390x, Endianness::Big),
        Ko::sample(Architecture::PowerPc, Endianness::Big),
    ]
}
