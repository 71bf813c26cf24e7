//! The `--json` documents: one serde view per object the tools report, in one
//! place, serialised by `serde_json` (never by hand). Keys are stable snake_case;
//! `schemas/*.schema.json` and the man pages describe every key.
//!
//! Rules every document follows:
//!
//! * a tool given `--json` writes exactly one document to stdout — one line of
//!   compact JSON and a newline, built in memory and written once at the end, so
//!   stdout never holds half a document, whatever fails. Its messages still go to
//!   stderr as without `--json`, and its exit status is the same;
//! * **bytes** (paths, names, values, commands, messages: whatever the kernel or a
//!   file may hold that is not UTF-8) are a JSON string when they are valid UTF-8,
//!   else an object `{"hex": "<lowercase hex of every byte>"}` — lossless either way
//!   ([`Bytes`]);
//! * an object key made of bytes (a `.modinfo` key) is the key itself when it is
//!   valid UTF-8 and does not start with `hex:`, else `hex:` followed by the
//!   lowercase hex of its bytes ([`key`]).

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Lowercase hex of `b`.
fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Bytes in a document: a string when valid UTF-8, else `{"hex": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes of `b`.
    #[must_use]
    pub fn of(b: &[u8]) -> Bytes {
        Bytes(b.to_vec())
    }

    /// The bytes of a path.
    #[must_use]
    pub fn path(p: &Path) -> Bytes {
        Bytes(p.as_os_str().as_bytes().to_vec())
    }

    /// A message without its trailing newline.
    #[must_use]
    pub fn message(m: &[u8]) -> Bytes {
        Bytes(m.strip_suffix(b"\n").unwrap_or(m).to_vec())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Ok(t) = std::str::from_utf8(&self.0) {
            return s.serialize_str(t);
        }
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("hex", &hex(&self.0))?;
        m.end()
    }
}

/// An object key made of bytes (see the module documentation).
#[must_use]
pub fn key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if !s.starts_with("hex:") => s.to_string(),
        _ => format!("hex:{}", hex(k)),
    }
}

/// Write `doc` as one line of JSON and a newline, in one write.
pub fn emit<T: Serialize>(out: &mut dyn Write, doc: &T) -> io::Result<()> {
    let mut v = serde_json::to_vec(doc).map_err(io::Error::other)?;
    v.push(b'\n');
    out.write_all(&v)?;
    out.flush()
}

/// A message a tool printed on stderr, as data: its level (`fatal`, `error`,
/// `warning`) and text (without the `<tool>: LEVEL: ` prefix and the newline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The operand it concerns, if any.
    pub operand: Option<Bytes>,
    /// `fatal`, `error` or `warning`.
    pub level: &'static str,
    /// The text.
    pub message: Bytes,
}

impl Message {
    /// A message of `level` (libkmod's levels: `Crit` is `fatal`).
    #[must_use]
    pub fn new(operand: Option<&[u8]>, level: libkmod_rs::Level, text: &[u8]) -> Message {
        use libkmod_rs::Level;
        let level = match level {
            Level::Crit => "fatal",
            Level::Err => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        };
        Message {
            operand: operand.map(Bytes::of),
            level,
            message: Bytes::message(text),
        }
    }
}

// ---- lsmod --------------------------------------------------------------------

/// `lsmod --json`.
#[derive(Debug, Default, Serialize)]
pub struct Lsmod {
    /// The loaded modules, in `/proc/modules` order.
    pub modules: Vec<LoadedModule>,
    /// What went wrong (the messages lsmod printed).
    pub errors: Vec<Message>,
}

/// One loaded module.
#[derive(Debug, Serialize)]
pub struct LoadedModule {
    /// The name.
    pub name: Bytes,
    /// Its size in bytes (`/sys/module/<m>/coresize`, else `/proc/modules`), `null`
    /// when unreadable.
    pub size: Option<i64>,
    /// The use count (`/sys/module/<m>/refcnt`), `null` when unreadable.
    pub refcount: Option<i32>,
    /// The modules using it (`/sys/module/<m>/holders`, directory order).
    pub used_by: Vec<Bytes>,
    /// The state from `/proc/modules`, lowercased (`live`, `loading`,
    /// `unloading`), `null` if the kernel gives none.
    pub state: Option<String>,
    /// The taint flags from `/proc/modules` without parentheses (`OE`; empty when
    /// none).
    pub taints: Bytes,
    /// The module file, from the running release's `modules.dep`; `null` when
    /// unknown.
    pub path: Option<Bytes>,
}

// ---- modinfo ------------------------------------------------------------------

/// `modinfo --json`.
#[derive(Debug, Default, Serialize)]
pub struct Modinfo {
    /// One object per module found, in the order modinfo prints them.
    pub modules: Vec<ModinfoModule>,
    /// One entry per error message modinfo printed.
    pub errors: Vec<Message>,
}

/// Fields in order of first appearance, each with every value in order.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(Vec<u8>, Vec<Bytes>)>);

impl Fields {
    /// Add a value to `key`.
    pub fn push(&mut self, key: &[u8], value: Bytes) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => v.push(value),
            None => self.0.push((key.to_vec(), vec![value])),
        }
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&key(k), v)?;
        }
        m.end()
    }
}

/// A module parameter: its `parm=` description and `parmtype=` type merged.
#[derive(Debug, Serialize)]
pub struct Param {
    /// The name.
    pub name: Bytes,
    /// The type (`int`, `charp`...), `null` when not given.
    #[serde(rename = "type")]
    pub ty: Option<Bytes>,
    /// The description, `null` when not given.
    pub description: Option<Bytes>,
}

impl From<&libkmod_rs::Param<'_>> for Param {
    fn from(p: &libkmod_rs::Param<'_>) -> Self {
        Param {
            name: Bytes::of(p.name),
            ty: p.ty.map(Bytes::of),
            description: p.description.map(Bytes::of),
        }
    }
}

/// One module as `modinfo --json` reports it.
#[derive(Debug, Serialize)]
pub struct ModinfoModule {
    /// The operand it was found by.
    pub operand: Bytes,
    /// The module name.
    pub name: Bytes,
    /// The module file, `null` for a builtin module.
    pub filename: Option<Bytes>,
    /// Built into the kernel (its fields from `modules.builtin.modinfo`).
    pub builtin: bool,
    /// Every field modinfo prints but `filename` and `parm`: the `.modinfo`
    /// entries in order, then the signature fields (`sig_key` and `signature` on
    /// one line); each key's values as an array. With `-F`/`-a`/`-d`/`-l`, only
    /// that field; empty with `-n` and `-p`.
    pub fields: Fields,
    /// The parameters in modinfo's order (without a field selection, or with
    /// `-p`/`-F parm`).
    pub parameters: Vec<Param>,
}

// ---- depmod -------------------------------------------------------------------

/// `depmod --json`.
#[derive(Debug, Default, Serialize)]
pub struct Depmod {
    /// The module directory read.
    pub module_dir: Bytes,
    /// The kernel release.
    pub release: Bytes,
    /// Whether the output files were written (`false` with `-n`, on errors, or
    /// when `-A` found them up to date).
    pub written: bool,
    /// Where they were (or would have been) written.
    pub output_dir: Bytes,
    /// `-A` found the outputs up to date: nothing was done.
    pub up_to_date: bool,
    /// Counts.
    pub counts: DepmodCounts,
    /// Needed symbols nobody provides (`-e` with `-E`/`-F`).
    pub unresolved: Vec<ModuleSymbol>,
    /// Needed symbols whose CRC disagrees with the provider's (`-e` with `-E`).
    pub crc_mismatches: Vec<ModuleSymbol>,
    /// Dependency cycles, each as the module names along it (the first again at
    /// the end).
    pub cycles: Vec<Vec<Bytes>>,
    /// Modules found in several files: which file was kept.
    pub duplicate_modules: Vec<DuplicateModule>,
    /// Index keys given more than once (`-w` only, when writing).
    pub duplicate_index_entries: Vec<DuplicateEntry>,
    /// `-v`: the module each module takes its first symbol from each provider.
    pub symbol_sources: Vec<Bytes>,
    /// Every WARNING message.
    pub warnings: Vec<Message>,
    /// Every ERROR and FATAL message.
    pub errors: Vec<Message>,
    /// `--check`: the output files that are missing or would change (null
    /// without `--check`).
    pub stale: Option<Vec<String>>,
}

/// depmod's counts.
#[derive(Debug, Default, Serialize)]
pub struct DepmodCounts {
    /// Modules in the outputs.
    pub modules: usize,
    /// Aliases the modules declare.
    pub aliases: usize,
    /// Symbols the modules export.
    pub symbols: usize,
    /// Unresolved symbols.
    pub unresolved: usize,
    /// CRC mismatches.
    pub crc_mismatches: usize,
    /// Cycles.
    pub cycles: usize,
    /// Modules found in several files.
    pub duplicate_modules: usize,
    /// WARNING messages.
    pub warnings: usize,
    /// ERROR and FATAL messages.
    pub errors: usize,
}

/// A (module file, symbol) pair.
#[derive(Debug, Serialize)]
pub struct ModuleSymbol {
    /// The module file.
    pub module: Bytes,
    /// The symbol.
    pub symbol: Bytes,
}

/// A module name found in two files.
#[derive(Debug, Serialize)]
pub struct DuplicateModule {
    /// The module name.
    pub name: Bytes,
    /// The file depmod uses.
    pub kept: Bytes,
    /// The file it ignores.
    pub ignored: Bytes,
}

/// An index entry given twice (`-w`).
#[derive(Debug, Serialize)]
pub struct DuplicateEntry {
    /// `deps`, `alias` or `syms` (the word in depmod's warning).
    pub index: String,
    /// The entry (depmod's warning's second line).
    pub entry: Bytes,
}

// ---- modprobe --show-depends --------------------------------------------------

/// `modprobe --show-depends --json`: the closure of every operand.
#[derive(Debug, Default, Serialize)]
pub struct Closure {
    /// The module directory.
    pub module_dir: Bytes,
    /// Each operand (and each module `--select` added), in order, with what it
    /// resolved to.
    pub operands: Vec<Operand>,
    /// The lines `--show-depends` prints, as data, in its order (a module may
    /// appear more than once, as in the text).
    pub steps: Vec<Step>,
    /// Every module of `steps` once, in order of first appearance: kmod's load
    /// order.
    pub modules: Vec<ClosureModule>,
    /// Modules that modules of the closure name as weak dependencies (`weakdep`)
    /// and that are not in it: listed, not followed (modprobe does not load them).
    pub weakdep_modules: Vec<WeakModule>,
    /// Every firmware file the modules name (`firmware=`), once each, in order.
    pub firmware: Vec<Bytes>,
    /// The messages modprobe printed (operands not found, paths that are no
    /// module, ...).
    pub errors: Vec<Message>,
}

/// What one operand resolved to.
#[derive(Debug, Serialize)]
pub struct Operand {
    /// The operand as given.
    pub operand: Bytes,
    /// `ok` (modules to load), `not_found` (unknown name or alias), `blacklisted`
    /// (skipped by the blacklist: `-b`, or an alias), `builtin` (nothing to load:
    /// built into the kernel), `nothing` (resolved to a module without a file),
    /// `error` (a path that is not a module, a bad alias).
    pub result: &'static str,
    /// The modules it resolved to.
    pub modules: Vec<Bytes>,
}

/// One action of the load plan (one `--show-depends` line, or none for `none`).
#[derive(Debug, Serialize)]
pub struct Step {
    /// The index of the operand in `operands`.
    pub operand: usize,
    /// The module.
    pub module: Bytes,
    /// `insmod`, `install` (the configured command instead), `builtin`, or `none`
    /// (no file and not builtin: nothing printed).
    pub action: &'static str,
    /// The module file (`insmod`), else `null`.
    pub path: Option<Bytes>,
    /// The options (`insmod`, `install`; maybe empty), else `null`.
    pub options: Option<Bytes>,
    /// The install command, raw (`install`), else `null`.
    pub command: Option<Bytes>,
}

/// Soft dependencies of a module (`softdep` lines), by name.
#[derive(Debug, Default, Serialize)]
pub struct Softdeps {
    /// Loaded before it.
    pub pre: Vec<Bytes>,
    /// Loaded after it.
    pub post: Vec<Bytes>,
    /// Whether the probe followed them (not for an operand's own module with `-i`).
    pub followed: bool,
}

/// A module of the closure.
#[derive(Debug, Serialize)]
pub struct ClosureModule {
    /// The name.
    pub name: Bytes,
    /// Its first action: `insmod`, `install`, `builtin` or `none`.
    pub action: &'static str,
    /// The module file, `null` when it has none (builtin, or unknown).
    pub path: Option<Bytes>,
    /// Built into the kernel.
    pub builtin: bool,
    /// Needed by what was asked (an operand's module or one of its `modules.dep`
    /// dependencies) rather than only reached through soft dependencies, whose
    /// failure modprobe ignores.
    pub required: bool,
    /// Blacklisted by the configuration (`blacklist`).
    pub blacklisted: bool,
    /// The options it is loaded with (configuration, and the command line's for
    /// an operand's module), `null` when none.
    pub options: Option<Bytes>,
    /// The install command run instead of inserting it, `null` when none applies.
    pub install_command: Option<Bytes>,
    /// The remove command `modprobe -r` would run, `null` when none.
    pub remove_command: Option<Bytes>,
    /// Its `modules.dep` dependencies, in load order.
    pub dependencies: Vec<Bytes>,
    /// Its soft dependencies.
    pub softdeps: Softdeps,
    /// Its weak dependencies (`weakdep`): listed only, never followed.
    pub weakdeps: Vec<Bytes>,
    /// The firmware files it names (`firmware=`), in order.
    pub firmware: Vec<Bytes>,
    /// Why its file could not be read for `firmware`, `null` when it was (or has
    /// no file).
    pub firmware_error: Option<Bytes>,
}

/// A module named only as a weak dependency.
#[derive(Debug, Serialize)]
pub struct WeakModule {
    /// The name.
    pub name: Bytes,
    /// Its file, `null` when it has none.
    pub path: Option<Bytes>,
    /// Built into the kernel.
    pub builtin: bool,
    /// The modules of the closure naming it.
    pub wanted_by: Vec<Bytes>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_strings_or_hex() {
        let v = serde_json::to_string(&vec![Bytes::of(b"a\"b"), Bytes::of(b"\xff\x00a")]).unwrap();
        assert_eq!(v, r#"["a\"b",{"hex":"ff0061"}]"#);
        assert_eq!(key(b"license"), "license");
        assert_eq!(key(b"hex:1"), "hex:6865783a31");
        assert_eq!(key(b"\xe9"), "hex:e9");
    }

    #[test]
    fn fields_keep_order_and_repeat() {
        let mut f = Fields::default();
        f.push(b"alias", Bytes::of(b"a"));
        f.push(b"license", Bytes::of(b"GPL"));
        f.push(b"alias", Bytes::of(b"b"));
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"alias":["a","b"],"license":["GPL"]}"#
        );
    }

    #[test]
    fn one_line_then_newline() {
        let mut out = Vec::new();
        emit(&mut out, &Lsmod::default()).unwrap();
        assert_eq!(out, b"{\"modules\":[],\"errors\":[]}\n");
    }
}
