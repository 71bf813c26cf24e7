//! Checks before loading (beyond kmod, which leaves them to the kernel).
//!
//! Before `insmod`/`modprobe` make the syscall, the module file is checked the way
//! the kernel will check it, so that a module that cannot load is refused with a
//! precise message instead of an errno:
//! - the file is readable (a missing one is left to the insertion, reported as
//!   kmod does);
//! - its `vermagic=` matches the running kernel's by the kernel's rule
//!   (`same_magic`: with modversions only the part after the release is compared),
//!   the kernel's string being taken from an in-tree module of the running release;
//! - every undefined, non-weak symbol is provided by the kernel (`/proc/kallsyms`,
//!   names only), by a loaded module, or (for modprobe) by a module of its
//!   `modules.dep` line, loaded first (not refused when one of these files cannot
//!   be read: its exports are unknown);
//! - where the CRC of a symbol is known (`Module.symvers`, `/boot/symvers-<rel>`,
//!   the `__crc_` exports of the providing module's file), its `__versions` CRC
//!   agrees.
//!
//! Everything is conservative: whatever cannot be known (no reference module,
//! unreadable kallsyms, unknown CRC, unparsable file) is not refused; the kernel
//! still decides.

use crate::Root;
use crate::elf::{Bind, ModuleElf};
use crate::error::{errno, strerror};
use crate::file::ModuleFile;
use crate::insert::InsertFlags;
use crate::kernel::Kernel;
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a module is refused before loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The errno the kernel would have returned.
    pub errno: i32,
    /// The reason, one line without a newline (`version magic '...' should be
    /// '...'`, `Unknown symbol foo`, `disagrees about version of symbol foo`).
    pub reason: String,
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

/// The running kernel's vermagic, from the first in-tree module of `modules.dep`
/// that has one (at most a few are tried).
fn kernel_vermagic(dep: &[(PathBuf, Vec<PathBuf>)], moddir: &Path) -> Option<Vec<u8>> {
    let intree = moddir.join("kernel");
    dep.iter()
        .filter(|(p, _)| p.starts_with(&intree))
        .take(3)
        .find_map(|(p, _)| {
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

/// `/proc/kallsyms`: symbol name → module name (empty for the kernel image).
/// `None` when unreadable or empty.
fn kallsyms(root: &Root) -> Option<HashMap<Vec<u8>, Vec<u8>>> {
    let data = std::fs::read(root.path(crate::paths::PROC_KALLSYMS)).ok()?;
    let mut out = HashMap::new();
    for line in data.split(|&c| c == b'\n') {
        let mut words = line
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty());
        let (Some(_addr), Some(_kind), Some(name)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let module = words
            .next()
            .and_then(|m| m.strip_prefix(b"[")?.strip_suffix(b"]"))
            .unwrap_or_default();
        out.entry(name.to_vec()).or_insert_with(|| module.to_vec());
    }
    if out.is_empty() { None } else { Some(out) }
}

/// `Module.symvers`-format CRCs: symbol → CRC.
fn symvers(root: &Root, release: &str) -> HashMap<Vec<u8>, u64> {
    let mut out = HashMap::new();
    for p in [
        format!(
            "{}/{release}/build/Module.symvers",
            crate::paths::MODULE_DIR
        ),
        format!("/boot/symvers-{release}"),
    ] {
        let Ok(data) = std::fs::read(root.path(&p)) else {
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

/// Check the module file at `path` before loading it into the running kernel.
/// `with_deps`: the modules of its `modules.dep` line are loaded first (modprobe).
///
/// # Errors
/// The [`Refusal`] when the kernel would certainly refuse the module.
pub fn check_module(
    kernel: &dyn Kernel,
    root: &Root,
    path: &Path,
    flags: InsertFlags,
    with_deps: bool,
) -> Result<(), Refusal> {
    if let Err(e) = std::fs::File::open(path) {
        let errno = e.raw_os_error().unwrap_or(errno::ENOENT);
        // a missing file is reported as kmod does, by the insertion itself
        if errno == errno::ENOENT {
            return Ok(());
        }
        return Err(Refusal {
            errno,
            reason: strerror(errno),
        });
    }
    let Ok(release) = kernel.release() else {
        return Ok(());
    };
    let Some(image) = ModuleFile::open(path).ok().and_then(|f| f.load().ok()) else {
        return Ok(());
    };
    let Ok(elf) = ModuleElf::parse(&image) else {
        return Ok(());
    };
    let moddir = root.path(format!("{}/{release}", crate::paths::MODULE_DIR));
    let dep = modules_dep(&moddir);
    let versions = elf.modversions().unwrap_or_default();
    let has_crcs = elf.section_by_name(b"__versions").is_some();

    if !flags.force_vermagic
        && let Some(magic) = vermagic_of(&elf)
        && let Some(want) = kernel_vermagic(&dep, &moddir)
        && !same_magic(&magic, &want, has_crcs)
    {
        return Err(Refusal {
            errno: errno::ENOEXEC,
            reason: format!(
                "version magic '{}' should be '{}'",
                text(&magic),
                text(&want)
            ),
        });
    }

    // The modules that provide symbols besides the kernel: loaded ones, and (for
    // modprobe) the dependencies, by name → file.
    let by_name: HashMap<Vec<u8>, &PathBuf> = dep
        .iter()
        .filter_map(|(p, _)| {
            let n = crate::name::path_to_modname(p.as_os_str().as_bytes())?;
            Some((n, p))
        })
        .collect();
    let mut providers: Vec<PathBuf> = Vec::new();
    if with_deps {
        let me = crate::name::path_to_modname(path.as_os_str().as_bytes());
        if let Some(me) = me
            && let Some(p) = by_name.get(&me)
            && let Some((_, deps)) = dep.iter().find(|(q, _)| q == *p)
        {
            providers.extend(deps.iter().cloned());
        }
    }
    if let Ok(loaded) = crate::state::proc_modules(root) {
        for m in loaded {
            if let Some(p) = by_name.get(&crate::name::modname_normalize(&m.name)) {
                providers.push((*p).clone());
            }
        }
    }
    // a provider whose file cannot be read makes an unknown symbol uncertain
    let unreadable = std::cell::Cell::new(false);
    let mut cache: HashMap<PathBuf, HashMap<Vec<u8>, u64>> = HashMap::new();
    let mut exports = |p: &Path| -> HashMap<Vec<u8>, u64> {
        cache
            .entry(p.to_path_buf())
            .or_insert_with(|| {
                exports_of(p).unwrap_or_else(|| {
                    unreadable.set(true);
                    HashMap::new()
                })
            })
            .clone()
    };

    let ksyms = kallsyms(root);
    let known_crcs = symvers(root, &release);
    // symbol → the CRC its provider exports (None: provider unknown or unversioned)
    let mut resolve = |name: &[u8]| -> (bool, Option<u64>) {
        if let Some(ks) = &ksyms
            && let Some(module) = ks.get(name)
        {
            if module.is_empty() {
                return (true, known_crcs.get(name).copied());
            }
            let crc = by_name
                .get(&crate::name::modname_normalize(module))
                .and_then(|p| exports(p).get(name).copied())
                .filter(|&c| c != 0)
                .or_else(|| known_crcs.get(name).copied());
            return (true, crc);
        }
        for p in &providers {
            if let Some(&crc) = exports(p).get(name) {
                return (true, (crc != 0).then_some(crc));
            }
        }
        if ksyms.is_some() {
            let mut ks = b"__ksymtab_".to_vec();
            ks.extend_from_slice(name);
            if ksyms.as_ref().is_some_and(|k| k.contains_key(&ks)) {
                return (true, known_crcs.get(name).copied());
            }
        }
        if let Some(&crc) = known_crcs.get(name) {
            return (true, Some(crc));
        }
        (false, None)
    };

    let needed = elf.dependency_symbols().unwrap_or_default();
    let mut seen = HashSet::new();
    for s in &needed {
        if s.bind == Bind::Weak || ignored(s.name) || !seen.insert(s.name) {
            continue;
        }
        let (found, crc) = resolve(s.name);
        if !found {
            if ksyms.is_some() && !unreadable.get() {
                return Err(Refusal {
                    errno: errno::ENOENT,
                    reason: format!("Unknown symbol {}", text(s.name)),
                });
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
            return Err(Refusal {
                errno: errno::EINVAL,
                reason: format!(
                    "disagrees about version of symbol {} (module 0x{:08x}, kernel 0x{:08x})",
                    text(s.name),
                    v.crc as u32,
                    crc as u32
                ),
            });
        }
    }
    Ok(())
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
