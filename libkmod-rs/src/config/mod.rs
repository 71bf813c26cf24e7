//! The module configuration libkmod reads when a context is created, as kmod 34.2
//! reads it: the `modprobe.d` files, `modules.softdep`/`modules.weakdep` of the module
//! directory, and the kernel command line (kmod-contract §6.1, §6.3).
//!
//! # Files
//! The sources are the given paths (`modprobe -C`) when any is given, else
//! [`paths::MODPROBE_D`](crate::paths::MODPROBE_D) resolved through a [`Root`]; the
//! files `<dirname>/modules.softdep` and `<dirname>/modules.weakdep` always take part.
//! A source that cannot be `stat`ed is skipped silently; a source that is not a
//! directory is taken whatever its name.  From a directory only entries whose name
//! does not start with `.`, is at least 6 bytes long and ends in `.conf` are taken
//! (others silently skipped); an entry that is a directory (symlinks followed) or
//! cannot be `stat`ed is reported and skipped.  All files are merged into one list
//! sorted by file name (bytewise); for equal names the first one listed wins, and the
//! two module-directory files are listed first.  Unreadable files are skipped
//! silently.  A file holding more than 4 MiB (a device such as `/dev/zero`) is
//! ignored with an error (kmod would read it without end).  The kernel command
//! line is parsed after all files.
//!
//! # Messages
//! Everything reported here happens, in kmod, before a tool installs its log hook:
//! the tools print these records in libkmod's own format
//! (`libkmod: ERROR: <func>: <message>`).  All are errors.

mod cmdline;
pub(crate) mod parse;

pub use cmdline::parse_kcmdline;
pub use parse::{softdep_tokens, underscores};

use crate::Root;
use crate::lookup::LogRecord;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// glibc's `PATH_MAX`: `<dir>/<name>` paths this long or longer are not opened.
const PATH_MAX: usize = 4096;
/// kmod reads at most this many bytes of `/proc/cmdline` (its buffer is 4096 bytes).
pub const KCMDLINE_MAX: usize = 4095;

/// Configuration files (`modprobe.d`, `depmod.d`) are read up to this size: one
/// holding more, such as a device that never ends (`/dev/zero`), is ignored with
/// an error instead of being read without end.
pub(crate) const CONFIG_MAX: u64 = 4 << 20;

/// The contents of a configuration file, or None when it holds more than
/// [`CONFIG_MAX`] bytes. A read error ends the file as EOF does for `getc()`.
pub(crate) fn read_config(file: &mut std::fs::File) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let _ = file.take(CONFIG_MAX + 1).read_to_end(&mut buf);
    (buf.len() as u64 <= CONFIG_MAX).then_some(buf)
}

/// `alias PATTERN MODULE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The fnmatch pattern (underscore-normalised).
    pub pattern: Vec<u8>,
    /// The module name (underscore-normalised).
    pub modname: Vec<u8>,
}

/// `options MODULE ...` (also from the kernel command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModOptions {
    /// Module name or alias the options apply to (underscore-normalised).
    pub modname: Vec<u8>,
    /// The options text, TABs turned into spaces.
    pub options: Vec<u8>,
}

/// `install MODULE COMMAND` or `remove MODULE COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModCommand {
    /// The module name pattern (underscore-normalised).
    pub modname: Vec<u8>,
    /// The shell command, raw.
    pub command: Vec<u8>,
}

/// Which list of a `softdep` line a name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftDepKind {
    /// After `pre:`.
    Pre,
    /// After `post:`.
    Post,
}

/// `softdep MODULE [pre: ...] [post: ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftDep {
    /// The module name pattern (underscore-normalised).
    pub modname: Vec<u8>,
    /// The listed names in line order, each with the list it belongs to.
    pub entries: Vec<(SoftDepKind, Vec<u8>)>,
}

impl SoftDep {
    /// The `pre:` names in order.
    pub fn pre(&self) -> impl Iterator<Item = &[u8]> {
        self.of(SoftDepKind::Pre)
    }

    /// The `post:` names in order.
    pub fn post(&self) -> impl Iterator<Item = &[u8]> {
        self.of(SoftDepKind::Post)
    }

    fn of(&self, kind: SoftDepKind) -> impl Iterator<Item = &[u8]> {
        self.entries
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, n)| n.as_slice())
    }

    /// The value `modprobe -c` prints, with kmod's quirks: no space before `post:`
    /// when both lists exist, and each list printed as the span of line text from its
    /// first to its last name (so names of the other list written in between show up
    /// too when the lists alternate).
    #[must_use]
    pub fn value(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, prefix) in [(SoftDepKind::Pre, "pre: "), (SoftDepKind::Post, "post: ")] {
            let first = self.entries.iter().position(|(k, _)| *k == kind);
            let last = self.entries.iter().rposition(|(k, _)| *k == kind);
            let (Some(first), Some(last)) = (first, last) else {
                continue;
            };
            let span: Vec<&[u8]> = self.entries[first..=last]
                .iter()
                .map(|(_, n)| n.as_slice())
                .collect();
            let joined = span.join(&b' ');
            // kmod skips a list whose text span is empty (a single empty name).
            if joined.is_empty() {
                continue;
            }
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(&joined);
        }
        out
    }
}

/// `weakdep MODULE names...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakDep {
    /// The module name pattern (underscore-normalised).
    pub modname: Vec<u8>,
    /// The listed names.
    pub weak: Vec<Vec<u8>>,
}

impl WeakDep {
    /// The value `modprobe -c` prints: the names separated by one space.
    #[must_use]
    pub fn value(&self) -> Vec<u8> {
        self.weak.join(&b' ')
    }
}

/// The parsed configuration: every list in parse order (files in name order, then
/// the kernel command line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `alias` lines.
    pub aliases: Vec<Alias>,
    /// `blacklist` names (also `modprobe.blacklist=` of the kernel command line).
    pub blacklists: Vec<Vec<u8>>,
    /// `options` lines (and `mod.param[=value]` of the kernel command line).
    pub options: Vec<ModOptions>,
    /// `install` lines.
    pub install_commands: Vec<ModCommand>,
    /// `remove` lines.
    pub remove_commands: Vec<ModCommand>,
    /// `softdep` lines.
    pub softdeps: Vec<SoftDep>,
    /// `weakdep` lines.
    pub weakdeps: Vec<WeakDep>,
}

/// One configuration file to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfFile {
    /// The name it is sorted by.
    pub name: Vec<u8>,
    /// The path it is opened with and reported as.
    pub path: PathBuf,
}

/// One `modprobe -c` record: keyword, key and value (`None` for `blacklist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `blacklist`, `install`, `remove`, `alias`, `options`, `softdep` or `weakdep`.
    pub keyword: &'static str,
    /// The key (module name or alias pattern).
    pub key: Vec<u8>,
    /// The value, if the record kind has one.
    pub value: Option<Vec<u8>>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn to_path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(b.to_vec()))
}

fn log(out: &mut Vec<LogRecord>, func: &'static str, message: String) {
    out.push(LogRecord { func, message });
}

/// Insert keeping the list sorted by name; a name already present is ignored.
fn insert_sorted(files: &mut Vec<ConfFile>, file: ConfFile) {
    if let Err(at) = files.binary_search_by(|f| f.name.as_slice().cmp(&file.name)) {
        files.insert(at, file);
    }
}

/// The files of one source (a file or a directory), as `conf_files_list` adds them.
fn list_source(files: &mut Vec<ConfFile>, path: &[u8], out: &mut Vec<LogRecord>) {
    let Ok(meta) = std::fs::metadata(to_path(path)) else {
        return;
    };
    if !meta.is_dir() {
        // glibc basename(): everything after the last '/'.
        let name = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => &path[i + 1..],
            None => path,
        };
        insert_sorted(
            files,
            ConfFile {
                name: name.to_vec(),
                path: to_path(path),
            },
        );
        return;
    }
    let rd = match std::fs::read_dir(to_path(path)) {
        Ok(rd) => rd,
        Err(e) => {
            log(
                out,
                "conf_files_list",
                format!(
                    "opendir({}): {}\n",
                    lossy(path),
                    crate::error::strerror(e.raw_os_error().unwrap_or(5))
                ),
            );
            return;
        }
    };
    for entry in rd {
        let Ok(entry) = entry else { break };
        let name = entry.file_name();
        let name = name.as_bytes();
        if name.first() == Some(&b'.') || name.len() < 6 || !name.ends_with(b".conf") {
            continue;
        }
        let mut full = path.to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        match std::fs::metadata(to_path(&full)) {
            Err(_) => {
                log(
                    out,
                    "conf_files_filter_out",
                    format!(
                        "Cannot stat directory entry: {}/{}\n",
                        lossy(path),
                        lossy(name)
                    ),
                );
                continue;
            }
            Ok(m) if m.is_dir() => {
                log(
                    out,
                    "conf_files_filter_out",
                    format!(
                        "Directories inside directories are not supported: {}/{}\n",
                        lossy(path),
                        lossy(name)
                    ),
                );
                continue;
            }
            Ok(_) => {}
        }
        insert_sorted(
            files,
            ConfFile {
                name: name.to_vec(),
                path: to_path(&full),
            },
        );
    }
}

fn dir_entry(dirname: &Path, name: &str) -> ConfFile {
    let mut p = dirname.as_os_str().as_bytes().to_vec();
    p.push(b'/');
    p.extend_from_slice(name.as_bytes());
    ConfFile {
        name: name.as_bytes().to_vec(),
        path: to_path(&p),
    }
}

impl Config {
    /// The files a context for module directory `dirname` parses, in parse order.
    /// `config_paths`: the `-C` paths (used as given), or `None` for the default
    /// directories resolved through `root`.
    #[must_use]
    pub fn conf_files(
        root: &Root,
        dirname: &Path,
        config_paths: Option<&[PathBuf]>,
    ) -> (Vec<ConfFile>, Vec<LogRecord>) {
        let mut out = Vec::new();
        let mut files = Vec::new();
        insert_sorted(&mut files, dir_entry(dirname, "modules.softdep"));
        insert_sorted(&mut files, dir_entry(dirname, "modules.weakdep"));
        match config_paths {
            Some(paths) => {
                for p in paths {
                    list_source(&mut files, p.as_os_str().as_bytes(), &mut out);
                }
            }
            None => {
                for d in crate::paths::MODPROBE_D {
                    list_source(&mut files, root.path(d).as_os_str().as_bytes(), &mut out);
                }
            }
        }
        (files, out)
    }

    /// Read the whole configuration as `kmod_new(dirname, config_paths)` does: the
    /// files (see [`Config::conf_files`]), then the kernel command line
    /// (`/proc/cmdline` through `root`).  Returns the messages libkmod logs meanwhile.
    #[must_use]
    pub fn load(
        root: &Root,
        dirname: &Path,
        config_paths: Option<&[PathBuf]>,
    ) -> (Config, Vec<LogRecord>) {
        let (files, mut out) = Config::conf_files(root, dirname, config_paths);
        let mut cfg = Config::default();
        for f in &files {
            let bytes = f.path.as_os_str().as_bytes();
            if bytes.len() >= PATH_MAX {
                if let Some(cut) = bytes.len().checked_sub(f.name.len() + 1) {
                    log(
                        &mut out,
                        "kmod_config_new",
                        format!(
                            "Error parsing {}/{}: path too long\n",
                            lossy(&bytes[..cut]),
                            lossy(&f.name)
                        ),
                    );
                }
                continue;
            }
            let Ok(mut file) = std::fs::File::open(&f.path) else {
                continue;
            };
            let Some(buf) = read_config(&mut file) else {
                log(
                    &mut out,
                    "kmod_config_new",
                    format!(
                        "Error parsing {}: {}\n",
                        lossy(bytes),
                        crate::error::strerror(crate::error::errno::EFBIG)
                    ),
                );
                continue;
            };
            cfg.parse_bytes(&lossy(bytes), &buf, &mut out);
        }
        cfg.read_kcmdline(root, &mut out);
        (cfg, out)
    }

    /// Parse `/proc/cmdline` (through `root`); a missing file is not an error.
    pub fn read_kcmdline(&mut self, root: &Root, out: &mut Vec<LogRecord>) {
        let path = root.path(crate::paths::PROC_CMDLINE);
        let Ok(file) = std::fs::File::open(&path) else {
            return;
        };
        let mut buf = Vec::new();
        if let Err(e) = file.take(KCMDLINE_MAX as u64).read_to_end(&mut buf) {
            log(
                out,
                "kmod_config_parse_kcmdline",
                format!(
                    "could not read from '{}': {}\n",
                    crate::paths::PROC_CMDLINE,
                    crate::error::strerror(e.raw_os_error().unwrap_or(5))
                ),
            );
            return;
        }
        parse_kcmdline(self, &buf, out);
    }

    /// Parse the contents of one configuration file called `filename` (as reported
    /// in messages).
    pub fn parse_bytes(&mut self, filename: &str, content: &[u8], out: &mut Vec<LogRecord>) {
        parse::parse_file(self, filename, content, out);
    }

    /// The records `modprobe -c` prints, in its order: all blacklists, install
    /// commands, remove commands, aliases, options, softdeps, weakdeps.
    #[must_use]
    pub fn records(&self) -> Vec<Record> {
        let mut v = Vec::new();
        for b in &self.blacklists {
            v.push(Record {
                keyword: "blacklist",
                key: b.clone(),
                value: None,
            });
        }
        for (kw, list) in [
            ("install", &self.install_commands),
            ("remove", &self.remove_commands),
        ] {
            for c in list {
                v.push(Record {
                    keyword: kw,
                    key: c.modname.clone(),
                    value: Some(c.command.clone()),
                });
            }
        }
        for a in &self.aliases {
            v.push(Record {
                keyword: "alias",
                key: a.pattern.clone(),
                value: Some(a.modname.clone()),
            });
        }
        for o in &self.options {
            v.push(Record {
                keyword: "options",
                key: o.modname.clone(),
                value: Some(o.options.clone()),
            });
        }
        for s in &self.softdeps {
            v.push(Record {
                keyword: "softdep",
                key: s.modname.clone(),
                value: Some(s.value()),
            });
        }
        for w in &self.weakdeps {
            v.push(Record {
                keyword: "weakdep",
                key: w.modname.clone(),
                value: Some(w.value()),
            });
        }
        v
    }

    /// Is `name` blacklisted (exact match)?
    #[must_use]
    pub fn is_blacklisted(&self, name: &[u8]) -> bool {
        self.blacklists.iter().any(|b| b == name)
    }

    /// The first `softdep` line whose pattern matches `name`.
    #[must_use]
    pub fn softdep_for(&self, name: &[u8]) -> Option<&SoftDep> {
        self.softdeps
            .iter()
            .find(|s| crate::fnmatch::fnmatch(&s.modname, name))
    }

    /// The first `weakdep` line whose pattern matches `name`.
    #[must_use]
    pub fn weakdep_for(&self, name: &[u8]) -> Option<&WeakDep> {
        self.weakdeps
            .iter()
            .find(|s| crate::fnmatch::fnmatch(&s.modname, name))
    }

    /// The command of the first `install` line whose pattern matches `name`.
    #[must_use]
    pub fn install_for(&self, name: &[u8]) -> Option<&[u8]> {
        Self::command_for(&self.install_commands, name)
    }

    /// The command of the first `remove` line whose pattern matches `name`.
    #[must_use]
    pub fn remove_for(&self, name: &[u8]) -> Option<&[u8]> {
        Self::command_for(&self.remove_commands, name)
    }

    fn command_for<'c>(list: &'c [ModCommand], name: &[u8]) -> Option<&'c [u8]> {
        list.iter()
            .find(|c| crate::fnmatch::fnmatch(&c.modname, name))
            .map(|c| c.command.as_slice())
    }

    /// The options of a module called `name`, created through `alias` if any: every
    /// `options` line whose module equals the name or the alias, non-empty ones joined
    /// by one space; `None` when there are none.
    #[must_use]
    pub fn options_for(&self, name: &[u8], alias: Option<&[u8]>) -> Option<Vec<u8>> {
        let mut opts: Option<Vec<u8>> = None;
        for o in &self.options {
            if !(o.modname == name || alias.is_some_and(|a| a == o.modname.as_slice())) {
                continue;
            }
            // kmod works on C strings: the options end at a NUL (never present here).
            if o.options.is_empty() {
                continue;
            }
            match &mut opts {
                Some(v) => {
                    v.push(b' ');
                    v.extend_from_slice(&o.options);
                }
                None => opts = Some(o.options.clone()),
            }
        }
        opts
    }
}

#[cfg(test)]
mod tests;
