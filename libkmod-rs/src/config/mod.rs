//! The module configuration libkmod reads when a context is created, as kmod 34.2
//! reads it: the `modprobe.d` files, `modules.softdep`/`modules.weakdep` of the module
//! directory, and the kernel command line (libkmod's `kmod_config_new`).
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

use cmdline::parse_kcmdline;

use crate::diag::Sink;
use crate::shared::conf::{EntryKind, basename, dir_entries, read_config, to_path};
use crate::{Errno, Root};

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// glibc's `PATH_MAX`: `<dir>/<name>` paths this long or longer are not opened.
const PATH_MAX: usize = 4096;
/// kmod reads at most this many bytes of `/proc/cmdline` (its buffer is 4096 bytes).
const KCMDLINE_MAX: usize = 4095;

/// `alias PATTERN MODULE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alias {
    /// The fnmatch pattern (underscore-normalised).
    pub(crate) pattern: Vec<u8>,
    /// The module name (underscore-normalised).
    pub(crate) modname: Vec<u8>,
}

/// `options MODULE ...` (also from the kernel command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModOptions {
    /// Module name or alias the options apply to (underscore-normalised).
    pub(crate) modname: Vec<u8>,
    /// The options text, TABs turned into spaces.
    pub(crate) options: Vec<u8>,
}

/// `install MODULE COMMAND` or `remove MODULE COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModCommand {
    /// The module name pattern (underscore-normalised).
    pub(crate) modname: Vec<u8>,
    /// The shell command, raw.
    pub(crate) command: Vec<u8>,
}

/// Which list of a `softdep` line a name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SoftDepKind {
    /// After `pre:`.
    Pre,
    /// After `post:`.
    Post,
}

/// `softdep MODULE [pre: ...] [post: ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoftDep {
    /// The module name pattern (underscore-normalised).
    pub(crate) modname: Vec<u8>,
    /// The listed names in line order, each with the list it belongs to.
    pub(crate) entries: Vec<(SoftDepKind, Vec<u8>)>,
}

impl SoftDep {
    /// The `pre:` names in order.
    pub(crate) fn pre(&self) -> impl Iterator<Item = &[u8]> {
        self.of(SoftDepKind::Pre)
    }

    /// The `post:` names in order.
    pub(crate) fn post(&self) -> impl Iterator<Item = &[u8]> {
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
    pub(crate) fn value(&self) -> Vec<u8> {
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
pub(crate) struct WeakDep {
    /// The module name pattern (underscore-normalised).
    pub(crate) modname: Vec<u8>,
    /// The listed names.
    pub(crate) weak: Vec<Vec<u8>>,
}

impl WeakDep {
    /// The value `modprobe -c` prints: the names separated by one space.
    #[must_use]
    pub(crate) fn value(&self) -> Vec<u8> {
        self.weak.join(&b' ')
    }
}

/// The module configuration (`modprobe.d`, `modules.softdep`, `modules.weakdep`,
/// the kernel command line), every list in parse order (files in name order, then
/// the kernel command line). Read through [`crate::ModuleDir::config`] and the
/// [`crate::Module`] queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `alias` lines.
    pub(crate) aliases: Vec<Alias>,
    /// `blacklist` names (also `modprobe.blacklist=` of the kernel command line).
    pub(crate) blacklists: Vec<Vec<u8>>,
    /// `options` lines (and `mod.param[=value]` of the kernel command line).
    pub(crate) options: Vec<ModOptions>,
    /// `install` lines.
    pub(crate) install_commands: Vec<ModCommand>,
    /// `remove` lines.
    pub(crate) remove_commands: Vec<ModCommand>,
    /// `softdep` lines.
    pub(crate) softdeps: Vec<SoftDep>,
    /// `weakdep` lines.
    pub(crate) weakdeps: Vec<WeakDep>,
}

/// Where the configuration comes from (libkmod's `config_paths` argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The system's `modprobe.d` directories (`/etc`, `/run`, `/usr/local/lib`,
    /// `/usr/lib`, `/lib`), resolved through the [`Root`].
    System,
    /// These files and directories instead (`modprobe -C`), used as given.
    Paths(Vec<PathBuf>),
    /// No configuration files (what modinfo, insmod, rmmod and lsmod use): still
    /// the module directory's `modules.softdep`/`modules.weakdep` and the kernel
    /// command line.
    None,
}

/// The `pre:` and `post:` names of a softdep.
pub(crate) type PrePost<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

/// One configuration file to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConfFile {
    /// The name it is sorted by.
    name: Vec<u8>,
    /// The path it is opened with and reported as.
    path: PathBuf,
}

/// One configuration record as `modprobe -c` prints it: keyword, key and value
/// (`None` for `blacklist`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigRecord {
    /// `blacklist`, `install`, `remove`, `alias`, `options`, `softdep` or `weakdep`.
    pub keyword: &'static str,
    /// The key (module name or alias pattern).
    pub key: Vec<u8>,
    /// The value, if the record kind has one.
    pub value: Option<Vec<u8>>,
}

fn log(out: &mut dyn Sink, func: &'static str, message: &[&[u8]]) {
    crate::diag::err(out, func, message.concat());
}

/// Insert keeping the list sorted by name; a name already present is ignored.
fn insert_sorted(files: &mut Vec<ConfFile>, file: ConfFile) {
    if let Err(at) = files.binary_search_by(|f| f.name.as_slice().cmp(&file.name)) {
        files.insert(at, file);
    }
}

/// The files of one source (a file or a directory), as `conf_files_list` adds them.
fn list_source(files: &mut Vec<ConfFile>, path: &[u8], out: &mut dyn Sink) {
    let Ok(meta) = std::fs::metadata(to_path(path)) else {
        return;
    };
    if !meta.is_dir() {
        let file = ConfFile {
            name: basename(path).to_vec(),
            path: to_path(path),
        };
        insert_sorted(files, file);
        return;
    }
    let entries = match dir_entries(path) {
        Ok(entries) => entries,
        Err(e) => {
            let e = Errno::from(&e).to_string();
            let message: &[&[u8]] = &[b"opendir(", path, b"): ", e.as_bytes(), b"\n"];
            log(out, "conf_files_list", message);
            return;
        }
    };
    for e in entries {
        let problem: &[u8] = match e.kind {
            EntryKind::NotConf => continue,
            EntryKind::Unstattable => b"Cannot stat directory entry: ",
            EntryKind::Dir => b"Directories inside directories are not supported: ",
            EntryKind::Conf => {
                let file = ConfFile {
                    name: e.name,
                    path: to_path(&e.path),
                };
                insert_sorted(files, file);
                continue;
            }
        };
        let message: &[&[u8]] = &[problem, path, b"/", &e.name, b"\n"];
        log(out, "conf_files_filter_out", message);
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
    fn conf_files(
        root: &Root,
        dirname: &Path,
        source: &ConfigSource,
        out: &mut dyn Sink,
    ) -> Vec<ConfFile> {
        let config_paths: Option<&[PathBuf]> = match source {
            ConfigSource::System => None,
            ConfigSource::Paths(p) => Some(p),
            ConfigSource::None => Some(&[]),
        };
        let mut files = Vec::new();
        insert_sorted(&mut files, dir_entry(dirname, "modules.softdep"));
        insert_sorted(&mut files, dir_entry(dirname, "modules.weakdep"));
        match config_paths {
            Some(paths) => {
                for p in paths {
                    list_source(&mut files, p.as_os_str().as_bytes(), out);
                }
            }
            None => {
                for d in crate::paths::MODPROBE_D {
                    list_source(&mut files, root.path(d).as_os_str().as_bytes(), out);
                }
            }
        }
        files
    }

    /// Read the whole configuration as `kmod_new(dirname, config_paths)` does: the
    /// files, then the kernel command line (`/proc/cmdline` through `root`); what
    /// libkmod logs meanwhile goes to `out`.
    pub(crate) fn load(
        root: &Root,
        dirname: &Path,
        source: &ConfigSource,
        out: &mut dyn Sink,
    ) -> Config {
        let files = Config::conf_files(root, dirname, source, out);
        let mut cfg = Config::default();
        for f in &files {
            let bytes = f.path.as_os_str().as_bytes();
            if bytes.len() >= PATH_MAX {
                if let Some(cut) = bytes.len().checked_sub(f.name.len() + 1) {
                    let message: &[&[u8]] = &[
                        b"Error parsing ",
                        &bytes[..cut],
                        b"/",
                        &f.name,
                        b": path too long\n",
                    ];
                    log(out, "kmod_config_new", message);
                }
                continue;
            }
            let Ok(mut file) = std::fs::File::open(&f.path) else {
                continue;
            };
            let Some(buf) = read_config(&mut file) else {
                let e = Errno::from_raw(crate::error::errno::EFBIG).to_string();
                let message: &[&[u8]] = &[b"Error parsing ", bytes, b": ", e.as_bytes(), b"\n"];
                log(out, "kmod_config_new", message);
                continue;
            };
            cfg.parse_bytes(bytes, &buf, out);
        }
        cfg.read_kcmdline(root, out);
        cfg
    }

    /// Parse `/proc/cmdline` (through `root`); a missing file is not an error.
    fn read_kcmdline(&mut self, root: &Root, out: &mut dyn Sink) {
        let path = root.path(crate::paths::PROC_CMDLINE);
        let Ok(file) = std::fs::File::open(&path) else {
            return;
        };
        // /proc files report no size: one read of the most kmod reads
        let mut buf = Vec::with_capacity(KCMDLINE_MAX + 1);
        if let Err(e) = file.take(KCMDLINE_MAX as u64).read_to_end(&mut buf) {
            let e = Errno::from(&e).to_string();
            let message: &[&[u8]] = &[
                b"could not read from '",
                crate::paths::PROC_CMDLINE.as_bytes(),
                b"': ",
                e.as_bytes(),
                b"\n",
            ];
            log(out, "kmod_config_parse_kcmdline", message);
            return;
        }
        parse_kcmdline(self, &buf, out);
    }

    /// Parse the contents of one configuration file called `filename` (as reported
    /// in messages).
    pub(crate) fn parse_bytes(&mut self, filename: &[u8], content: &[u8], out: &mut dyn Sink) {
        parse::parse_file(self, filename, content, out);
    }

    /// The records `modprobe -c` prints, in its order: all blacklists, install
    /// commands, remove commands, aliases, options, softdeps, weakdeps.
    #[must_use]
    pub fn records(&self) -> Vec<ConfigRecord> {
        let mut v = Vec::new();
        for b in &self.blacklists {
            v.push(ConfigRecord {
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
                v.push(ConfigRecord {
                    keyword: kw,
                    key: c.modname.clone(),
                    value: Some(c.command.clone()),
                });
            }
        }
        for a in &self.aliases {
            v.push(ConfigRecord {
                keyword: "alias",
                key: a.pattern.clone(),
                value: Some(a.modname.clone()),
            });
        }
        for o in &self.options {
            v.push(ConfigRecord {
                keyword: "options",
                key: o.modname.clone(),
                value: Some(o.options.clone()),
            });
        }
        for s in &self.softdeps {
            v.push(ConfigRecord {
                keyword: "softdep",
                key: s.modname.clone(),
                value: Some(s.value()),
            });
        }
        for w in &self.weakdeps {
            v.push(ConfigRecord {
                keyword: "weakdep",
                key: w.modname.clone(),
                value: Some(w.value()),
            });
        }
        v
    }

    /// Is `name` blacklisted (a `blacklist` line with exactly that name)?
    #[must_use]
    pub(crate) fn is_blacklisted(&self, name: &[u8]) -> bool {
        self.blacklists.iter().any(|b| b == name)
    }

    /// The `alias` lines: (pattern, module name).
    pub(crate) fn aliases(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.aliases
            .iter()
            .map(|a| (a.pattern.as_slice(), a.modname.as_slice()))
    }

    /// The `pre:` and `post:` names of the first `softdep` line whose pattern
    /// matches `name`.
    pub(crate) fn softdep_for(&self, name: &[u8]) -> Option<PrePost<'_>> {
        self.softdeps
            .iter()
            .find(|s| crate::shared::fnmatch::fnmatch(&s.modname, name))
            .map(|s| (s.pre().collect(), s.post().collect()))
    }

    /// The names of the first `weakdep` line whose pattern matches `name`.
    pub(crate) fn weakdep_for(&self, name: &[u8]) -> Option<Vec<&[u8]>> {
        self.weakdeps
            .iter()
            .find(|s| crate::shared::fnmatch::fnmatch(&s.modname, name))
            .map(|w| w.weak.iter().map(Vec::as_slice).collect())
    }

    /// The command of the first `install` line whose pattern matches `name`.
    pub(crate) fn install_for(&self, name: &[u8]) -> Option<&[u8]> {
        Self::command_for(&self.install_commands, name)
    }

    /// The command of the first `remove` line whose pattern matches `name`.
    pub(crate) fn remove_for(&self, name: &[u8]) -> Option<&[u8]> {
        Self::command_for(&self.remove_commands, name)
    }

    /// The command of the first `install` line written for exactly `name`
    /// (`kmod_lookup_alias_from_commands`).
    pub(crate) fn install_exact(&self, name: &[u8]) -> Option<&[u8]> {
        Self::command_exact(&self.install_commands, name)
    }

    /// The command of the first `remove` line written for exactly `name`.
    pub(crate) fn remove_exact(&self, name: &[u8]) -> Option<&[u8]> {
        Self::command_exact(&self.remove_commands, name)
    }

    fn command_exact<'c>(list: &'c [ModCommand], name: &[u8]) -> Option<&'c [u8]> {
        list.iter()
            .find(|c| c.modname == name)
            .map(|c| c.command.as_slice())
    }

    fn command_for<'c>(list: &'c [ModCommand], name: &[u8]) -> Option<&'c [u8]> {
        list.iter()
            .find(|c| crate::shared::fnmatch::fnmatch(&c.modname, name))
            .map(|c| c.command.as_slice())
    }

    /// The options of a module called `name`, created through `alias` if any: every
    /// `options` line whose module equals the name or the alias, non-empty ones joined
    /// by one space; `None` when there are none.
    pub(crate) fn options_for(&self, name: &[u8], alias: Option<&[u8]>) -> Option<Vec<u8>> {
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
