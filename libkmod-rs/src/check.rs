//! Checks before loading (beyond kmod): [`Checker`].

use crate::Root;
use crate::elf::{Bind, ModuleElf};
use crate::error::{Errno, Error, errno, strerror};
use crate::file::ModuleFile;
use crate::insert::InsertFlags;
use crate::kernel::Kernel;
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The refusal of `path`: the errno the kernel would have returned, and the reason,
/// one line without a newline (`version magic '...' should be '...'`, `Unknown
/// symbol foo`, `disagrees about version of symbol foo`).
fn refused(path: &Path, errno: i32, reason: String) -> Error {
    Error::Refused {
        path: path.to_path_buf(),
        errno: Errno::from_raw(errno),
        reason,
    }
}

/// Names the kernel ignores when undefined (`ignore_undef_symbol`) or that are
/// version-only `__versions` entries.
fn ignored(name: &[u8]) -> bool {
    name == b"module_layout"
        || name == b"_GLOBAL_OFFSET_TABLE_"
        || name == b".TOC."
        || name == b"TOC."
        || name.starts_with(b".klp.")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The ELF header problems ([`ModuleElf::parse`]'s reasons) for which the kernel
/// certainly refuses a module (`elf_validity_check`: `ENOEXEC`); later ones (the
/// section name table) are left to it.
const KERNEL_REFUSES: [&str; 7] = [
    "not an ELF file",
    "unknown ELF class",
    "file shorter than the ELF header",
    "unknown ELF byte order",
    "truncated ELF header",
    "unexpected section header size",
    "section headers outside the file",
];

/// A file that is not a regular one (nor a directory, which the insertion reports
/// as kmod does): the kernel reads a module only from a regular file
/// (`kernel_read_file`: `EINVAL`).
fn not_regular(path: &Path) -> Option<Error> {
    use std::os::unix::fs::FileTypeExt;
    let t = std::fs::metadata(path).ok()?.file_type();
    // a directory fails to be read (EISDIR), as in kmod
    let what = if t.is_file() || t.is_dir() {
        return None;
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a file of another kind"
    };
    Some(refused(
        path,
        errno::EINVAL,
        format!("not a regular file but {what}"),
    ))
}

/// An ELF image that is not a relocatable object (an executable, a shared
/// library...): the kernel loads only those (`elf_validity_check`: `ENOEXEC`).
fn not_relocatable(path: &Path, image: &[u8]) -> Option<Error> {
    const ET_REL: u16 = 1;
    let b = image.get(16..18)?;
    let e_type = match image.get(5) {
        Some(2) => u16::from_be_bytes([b[0], b[1]]),
        _ => u16::from_le_bytes([b[0], b[1]]),
    };
    let what = match e_type {
        ET_REL => return None,
        2 => "an executable".to_string(),
        3 => "a shared object".to_string(),
        4 => "a core file".to_string(),
        t => format!("ELF type {t}"),
    };
    Some(refused(
        path,
        errno::ENOEXEC,
        format!("not a relocatable ELF object but {what}"),
    ))
}

/// `<root>/lib/modules/<release>/modules.dep`: (module path, dependency paths).
fn modules_dep(moddir: &Path) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let Ok(data) = std::fs::read(moddir.join("modules.dep")) else {
        return Vec::new();
    };
    let abs = |p: &[u8]| -> PathBuf {
        let p = Path::new(std::ffi::OsStr::from_bytes(p));
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            moddir.join(p)
        }
    };
    let mut out = Vec::new();
    for line in data.split(|&c| c == b'\n') {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let deps = line[colon + 1..]
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty())
            .map(abs)
            .collect();
        out.push((abs(&line[..colon]), deps));
    }
    out
}

/// The `vermagic=` of a module file.
fn vermagic_of(elf: &ModuleElf<'_>) -> Option<Vec<u8>> {
    elf.modinfo_strings()
        .ok()?
        .into_iter()
        .find_map(|s| s.strip_prefix(b"vermagic=").map(<[u8]>::to_vec))
}

/// The running kernel's vermagic, from an in-tree module of `modules.dep` that has
/// one (the smallest of the first 16; at most 3 are tried).
fn kernel_vermagic(dep: &[(PathBuf, Vec<PathBuf>)], moddir: &Path) -> Option<Vec<u8>> {
    let intree = moddir.join("kernel");
    // the smallest of the first few: reading (decompressing) it is cheapest
    let mut candidates: Vec<(u64, &PathBuf)> = dep
        .iter()
        .filter(|(p, _)| p.starts_with(&intree))
        .take(16)
        .filter_map(|(p, _)| Some((std::fs::metadata(p).ok()?.len(), p)))
        .collect();
    candidates.sort();
    candidates.into_iter().take(3).find_map(|(_, p)| {
        let image = ModuleFile::open(p).ok()?.load().ok()?;
        let elf = ModuleElf::parse(&image).ok()?;
        vermagic_of(&elf)
    })
}

/// The kernel's `same_magic`.
fn same_magic(a: &[u8], b: &[u8], has_crcs: bool) -> bool {
    if has_crcs {
        let tail = |s: &[u8]| -> Vec<u8> {
            match s.iter().position(|&c| c == b' ') {
                Some(n) => s[n..].to_vec(),
                None => Vec::new(),
            }
        };
        tail(a) == tail(b)
    } else {
        a == b
    }
}

/// What was read of `/proc/kallsyms`: symbol name → module name.
type Kallsyms = HashMap<Vec<u8>, Vec<u8>>;

/// `/proc/kallsyms`, only the names of `wanted` (and their `__ksymtab_` entries):
/// symbol name → module name (empty for the kernel image). Reading stops once every
/// name of `wanted` was seen (reading the file costs the kernel more than anything
/// else the checks do). `None` when unreadable or empty.
fn kallsyms(root: &Root, wanted: &HashSet<Vec<u8>>) -> Option<Kallsyms> {
    use std::io::BufRead;
    let f = std::fs::File::open(root.path(crate::paths::PROC_KALLSYMS)).ok()?;
    let mut r = std::io::BufReader::with_capacity(1 << 16, f);
    let ksymtab = |n: &[u8]| {
        let mut k = b"__ksymtab_".to_vec();
        k.extend_from_slice(n);
        k
    };
    let also: HashSet<Vec<u8>> = wanted.iter().map(|n| ksymtab(n)).collect();
    let mut out = HashMap::new();
    let mut left = wanted.len();
    let mut any = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        let mut words = line
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty());
        let (Some(_addr), Some(_kind), Some(name)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        any = true;
        let plain = wanted.contains(name);
        if !plain && !also.contains(name) {
            continue;
        }
        if out.contains_key(name) {
            continue;
        }
        let module = words
            .next()
            .and_then(|m| m.strip_prefix(b"[")?.strip_suffix(b"]"))
            .unwrap_or_default();
        out.insert(name.to_vec(), module.to_vec());
        if plain {
            left -= 1;
            if left == 0 {
                break;
            }
        }
    }
    any.then_some(out)
}

/// Where `Module.symvers`-format CRCs of a release may be: the kernel build tree
/// (Debian's linux-headers), Fedora's and SUSE's compressed copies.
fn symvers_paths(release: &str) -> Vec<String> {
    let moddir = format!("{}/{release}", crate::paths::MODULE_DIR);
    let mut out = vec![format!("{moddir}/build/Module.symvers")];
    for base in [
        format!("/boot/symvers-{release}"),
        format!("{moddir}/symvers"),
    ] {
        for ext in ["", ".xz", ".gz", ".zst"] {
            out.push(format!("{base}{ext}"));
        }
    }
    out
}

/// `Module.symvers`-format CRCs: symbol → CRC (files compressed with xz, gzip or
/// zstd are read too).
fn symvers(root: &Root, release: &str) -> HashMap<Vec<u8>, u64> {
    let mut out = HashMap::new();
    for p in symvers_paths(release) {
        let Some(data) = ModuleFile::open(root.path(&p))
            .ok()
            .and_then(|f| f.load().ok())
        else {
            continue;
        };
        for line in data.split(|&c| c == b'\n') {
            let mut w = line.split(|&c| c == b'\t' || c == b' ');
            let (Some(crc), Some(name)) = (w.next(), w.next()) else {
                continue;
            };
            let crc = crc.strip_prefix(b"0x").unwrap_or(crc);
            if let Ok(v) = u64::from_str_radix(&text(crc), 16) {
                out.entry(name.to_vec()).or_insert(v);
            }
        }
    }
    out
}

/// The exports of a module file: name → CRC (0 when unversioned).
fn exports_of(path: &Path) -> Option<HashMap<Vec<u8>, u64>> {
    let image = ModuleFile::open(path).ok()?.load().ok()?;
    let elf = ModuleElf::parse(&image).ok()?;
    let syms = elf.exported_symbols().ok()?;
    Some(syms.into_iter().map(|s| (s.name.to_vec(), s.crc)).collect())
}

/// Checks before loading (beyond kmod, which leaves them to the kernel).
///
/// Before `insmod`/`modprobe` make the syscall, the module file is checked the way
/// the kernel will check it, so that a module that cannot load is refused with a
/// precise message instead of an errno:
/// - the file is readable (a missing one is left to the insertion, reported as
///   kmod does);
/// - it is a module at all (unless forced with both `--force-modversion` and
///   `--force-vermagic`, as `-f` sets them): a regular file (the kernel's
///   `kernel_read_file` refuses others), whose (decompressed) contents have a
///   usable ELF header with a section header table inside the file and are a
///   relocatable object (the kernel's `elf_validity_check`); a file that cannot be
///   decompressed is left to the insertion, which reports it as kmod does;
/// - its `vermagic=` matches the running kernel's by the kernel's rule
///   (`same_magic`: with modversions only the part after the release is compared),
///   the kernel's string being taken from an in-tree module of the running release;
/// - every undefined, non-weak symbol is provided:
///   - for a module of the running release's `modules.dep` (what modprobe loads),
///     from depmod's resolution: a symbol one of its dependencies exports needs
///     that dependency loaded (or, for modprobe, loaded first); any other symbol is
///     the kernel image's, checked against `Module.symvers` when there is one and
///     trusted otherwise. `/proc/kallsyms` is not read: the kernel formats ~100k
///     lines for it (~65 ms natively, 0.15-0.3 s under QEMU), more than the rest
///     of the checks and the insertion together;
///   - for any other file, by the kernel (`/proc/kallsyms`, names only, read up to
///     the last name needed), by a loaded module, by a module loaded before it in
///     the chain, or (for modprobe) by a module of its `modules.dep` line (not
///     refused when one of these files cannot be read: its exports are unknown);
/// - where the CRC of a symbol is known (`build/Module.symvers`,
///   `/boot/symvers-<rel>[.xz|.gz|.zst]`, `<moddir>/symvers[.xz|.gz|.zst]`, the
///   `__crc_` exports of the providing module's file, which for a loaded module is
///   found through `modules.dep`), its `__versions` CRC agrees.
///
/// Everything is conservative: whatever cannot be known (no reference module,
/// unreadable kallsyms, unknown CRC, unparsable file) is not refused; the kernel
/// still decides.
///
/// Checks before loading (beyond kmod): does the running kernel certainly refuse
/// this module file? Several modules are checked against one view of the kernel:
/// its release, `modules.dep`, `/proc/kallsyms`, the known CRCs and the exports of
/// the module files are read once (modprobe checks a whole chain before inserting
/// it). See the module documentation for what is checked.
#[derive(Debug)]
pub struct Checker {
    root: Root,
    release: Option<String>,
    moddir: PathBuf,
    dep: Vec<(PathBuf, Vec<PathBuf>)>,
    by_name: HashMap<Vec<u8>, PathBuf>,
    kernel_magic: OnceCell<Option<Vec<u8>>>,
    /// `/proc/kallsyms` as read for the names asked so far (`None`: unreadable).
    ksyms: Option<(HashSet<Vec<u8>>, Option<Kallsyms>)>,
    known_crcs: OnceCell<HashMap<Vec<u8>, u64>>,
    /// Exports of module files (`None`: unreadable).
    exports: HashMap<PathBuf, Option<HashMap<Vec<u8>, u64>>>,
}

impl Checker {
    /// A checker for the running kernel `kernel` under `root`. Reads `modules.dep`;
    /// the rest is read when first needed.
    #[must_use]
    pub fn new(kernel: &dyn Kernel, root: &Root) -> Checker {
        let release = kernel.release().ok();
        let moddir = root.path(format!(
            "{}/{}",
            crate::paths::MODULE_DIR,
            release.as_deref().unwrap_or_default()
        ));
        let dep = if release.is_some() {
            modules_dep(&moddir)
        } else {
            Vec::new()
        };
        let by_name = dep
            .iter()
            .filter_map(|(p, _)| {
                let n = crate::name::path_to_modname(p.as_os_str().as_bytes())?;
                Some((n, p.clone()))
            })
            .collect();
        Checker {
            root: root.clone(),
            release,
            moddir,
            dep,
            by_name,
            kernel_magic: OnceCell::new(),
            ksyms: None,
            known_crcs: OnceCell::new(),
            exports: HashMap::new(),
        }
    }

    /// The exports of a module file, read once (`None`: unreadable).
    fn exports(&mut self, p: &Path) -> Option<&HashMap<Vec<u8>, u64>> {
        self.exports
            .entry(p.to_path_buf())
            .or_insert_with(|| exports_of(p))
            .as_ref()
    }

    /// Check the module file at `path`. `providers`: module files loaded before it
    /// (modprobe: the earlier modules of its chain); `with_deps`: the modules of its
    /// `modules.dep` line are loaded first too.
    ///
    /// # Errors
    /// [`Error::Refused`] when the kernel would certainly refuse the module.
    pub fn check(
        &mut self,
        path: &Path,
        flags: InsertFlags,
        providers: &[PathBuf],
        with_deps: bool,
    ) -> Result<(), Error> {
        if let Err(e) = std::fs::File::open(path) {
            let errno = e.raw_os_error().unwrap_or(errno::ENOENT);
            // a missing file is reported as kmod does, by the insertion itself
            if errno == errno::ENOENT {
                return Ok(());
            }
            return Err(refused(path, errno, strerror(errno)));
        }
        // a file that is no module at all is passed to the kernel only with -f
        let forced = flags.force_modversion && flags.force_vermagic;
        if !forced && let Some(r) = not_regular(path) {
            return Err(r);
        }
        let Some(image) = ModuleFile::open(path).ok().and_then(|f| f.load().ok()) else {
            return Ok(());
        };
        let elf = match ModuleElf::parse(&image) {
            Ok(elf) => elf,
            Err(e) if !forced && KERNEL_REFUSES.contains(&e.reason) => {
                return Err(refused(path, errno::ENOEXEC, e.reason.to_string()));
            }
            Err(_) => return Ok(()),
        };
        if !forced && let Some(r) = not_relocatable(path, &image) {
            return Err(r);
        }
        let Some(release) = self.release.clone() else {
            return Ok(());
        };
        let versions = elf.modversions().unwrap_or_default();
        let has_crcs = elf.section_by_name(b"__versions").is_some();

        if !flags.force_vermagic
            && let Some(magic) = vermagic_of(&elf)
            && let Some(want) = self
                .kernel_magic
                .get_or_init(|| kernel_vermagic(&self.dep, &self.moddir))
            && !same_magic(&magic, want, has_crcs)
        {
            return Err(refused(
                path,
                errno::ENOEXEC,
                format!(
                    "version magic '{}' should be '{}'",
                    text(&magic),
                    text(want)
                ),
            ));
        }

        let loaded: Vec<PathBuf> = crate::state::proc_modules(&self.root)
            .map(|l| {
                l.iter()
                    .filter_map(|m| {
                        self.by_name
                            .get(&crate::name::modname_normalize(&m.name))
                            .cloned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let needed = elf.dependency_symbols().unwrap_or_default();
        // A module of the running release's modules.dep: depmod resolved its symbols,
        // those its dependencies export come from them (available when loaded, given,
        // or loaded first by modprobe), the others from the kernel image. Reading
        // /proc/kallsyms, which costs more than everything else here, is not needed.
        let listed: Option<Vec<PathBuf>> = self
            .dep
            .iter()
            .find(|(q, _)| q == path)
            .map(|(_, d)| d.clone());
        // Otherwise the modules that provide symbols besides the kernel: the given
        // ones, (for modprobe) the dependencies, and the loaded ones.
        let mut all: Vec<PathBuf> = providers.to_vec();
        if listed.is_none() {
            if with_deps {
                let me = crate::name::path_to_modname(path.as_os_str().as_bytes());
                if let Some(me) = me
                    && let Some(p) = self.by_name.get(&me)
                    && let Some((_, deps)) = self.dep.iter().find(|(q, _)| q == p)
                {
                    all.extend(deps.iter().cloned());
                }
            }
            all.extend(loaded.iter().cloned());
            let names: HashSet<Vec<u8>> = needed
                .iter()
                .filter(|s| s.bind != Bind::Weak && !ignored(s.name))
                .map(|s| s.name.to_vec())
                .collect();
            // read kallsyms again only for names not asked before
            let cached = self
                .ksyms
                .as_ref()
                .is_some_and(|(asked, _)| names.is_subset(asked));
            if !cached {
                let mut asked = self.ksyms.take().map(|(a, _)| a).unwrap_or_default();
                asked.extend(names);
                let found = kallsyms(&self.root, &asked);
                self.ksyms = Some((asked, found));
            }
        }
        self.known_crcs
            .get_or_init(|| symvers(&self.root, &release));

        let mut seen = HashSet::new();
        // a provider whose file cannot be read makes an unknown symbol uncertain
        let mut unreadable = false;
        for s in &needed {
            if s.bind == Bind::Weak || ignored(s.name) || !seen.insert(s.name) {
                continue;
            }
            let (found, crc) = match &listed {
                Some(deps) => self.resolve_listed(s.name, deps, |d| {
                    with_deps || all.contains(d) || loaded.contains(d)
                }),
                None => self.resolve(s.name, &all, &mut unreadable),
            };
            if !found {
                if listed.is_some()
                    || (self.ksyms.as_ref().is_some_and(|(_, k)| k.is_some()) && !unreadable)
                {
                    return Err(refused(
                        path,
                        errno::ENOENT,
                        format!("Unknown symbol {}", text(s.name)),
                    ));
                }
                continue;
            }
            if flags.force_modversion || !has_crcs {
                continue;
            }
            let Some(crc) = crc else { continue };
            if let Some(v) = versions.iter().find(|v| v.name == s.name)
                && (v.crc as u32) != (crc as u32)
            {
                return Err(refused(
                    path,
                    errno::EINVAL,
                    format!(
                        "disagrees about version of symbol {} (module 0x{:08x}, kernel 0x{:08x})",
                        text(s.name),
                        v.crc as u32,
                        crc as u32
                    ),
                ));
            }
        }
        Ok(())
    }

    /// For a module of modules.dep with dependencies `deps`: whether `name` is
    /// provided (by the dependency that exports it when `available`; else by the
    /// kernel image, per the known CRCs when there are some), and its known CRC.
    fn resolve_listed(
        &mut self,
        name: &[u8],
        deps: &[PathBuf],
        available: impl Fn(&PathBuf) -> bool,
    ) -> (bool, Option<u64>) {
        for d in deps {
            if let Some(&crc) = self.exports(d).and_then(|e| e.get(name)) {
                return (available(d), (crc != 0).then_some(crc));
            }
        }
        // the kernel image: a Module.symvers lists all it exports; without one,
        // trusted (depmod could not tell a missing symbol from the kernel's)
        match self.known_crcs.get() {
            Some(k) if !k.is_empty() => match k.get(name) {
                Some(&crc) => (true, Some(crc)),
                None => (false, None),
            },
            _ => (true, None),
        }
    }

    /// Whether `name` is provided, and the CRC its provider exports (`None`:
    /// provider unknown or unversioned).
    fn resolve(
        &mut self,
        name: &[u8],
        providers: &[PathBuf],
        unreadable: &mut bool,
    ) -> (bool, Option<u64>) {
        let known = |c: &Checker| c.known_crcs.get().and_then(|k| k.get(name).copied());
        let module = self
            .ksyms
            .as_ref()
            .and_then(|(_, k)| k.as_ref())
            .and_then(|ks| ks.get(name).cloned());
        if let Some(module) = module {
            if module.is_empty() {
                return (true, known(self));
            }
            let crc = self
                .by_name
                .get(&crate::name::modname_normalize(&module))
                .cloned()
                .and_then(|p| self.exports(&p).and_then(|e| e.get(name).copied()))
                .filter(|&c| c != 0)
                .or_else(|| known(self));
            return (true, crc);
        }
        for p in providers {
            match self.exports(p) {
                Some(e) => {
                    if let Some(&crc) = e.get(name) {
                        return (true, (crc != 0).then_some(crc));
                    }
                }
                None => *unreadable = true,
            }
        }
        if let Some((_, Some(ks))) = &self.ksyms {
            let mut k = b"__ksymtab_".to_vec();
            k.extend_from_slice(name);
            if ks.contains_key(&k) {
                return (true, known(self));
            }
        }
        if let Some(crc) = known(self) {
            return (true, Some(crc));
        }
        (false, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_rule() {
        let k = b"6.12.1 SMP preempt mod_unload modversions ";
        assert!(same_magic(
            b"6.12.9 SMP preempt mod_unload modversions ",
            k,
            true
        ));
        assert!(!same_magic(
            b"6.12.9 SMP preempt mod_unload modversions ",
            k,
            false
        ));
        assert!(!same_magic(b"6.12.1 SMP mod_unload modversions ", k, true));
        assert!(same_magic(k, k, false));
    }
}
