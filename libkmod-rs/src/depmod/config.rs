//! depmod.d configuration, read exactly as kmod 34.2's depmod reads it, and the
//! duplicate-module priority decision that depends on it.
//!
//! # Files
//! The sources are the `-C` paths when any is given (each a file or a directory), else
//! [`paths::DEPMOD_D`](crate::paths::DEPMOD_D) resolved through a [`Root`].  A missing
//! source is skipped silently.  From a directory only entries whose name does not start
//! with `.` and ends in `.conf` (and is at least 6 bytes long) are taken; any other name
//! logs `All cfg files need .conf` (INFO); entries are followed through symlinks and a
//! directory entry is an error.  All files are merged sorted by file name (byte order);
//! for equal names the first one listed wins.  A file given directly is taken whatever
//! its name.
//!
//! # Lines
//! A backslash before a newline joins the next line; a backslash before any other byte
//! is dropped and the byte kept.  A line is a comment only when its first byte is `#`.
//! Words are separated by spaces and tabs only.  A NUL byte ends the line.
//!
//! # Storage order
//! depmod keeps its `search`, `override`, `external` and `exclude` entries in linked
//! lists that each new entry is *prepended* to.  [`DepmodConfig`] stores them in that
//! same order, in `VecDeque`s (a prepend costs no more than an append): the entry
//! parsed last comes first.  That is the order depmod walks them,
//! for the priority decision and for scanning the external directories.

use crate::shared::conf::{EntryKind, basename, dir_entries, lines, read_config, to_path};
use crate::{Errno, Root};
use std::collections::VecDeque;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub(crate) use crate::diag::{Diagnostic, Level};

/// A depmod message at `level`.
pub(crate) fn msg(level: Level, message: impl Into<Vec<u8>>) -> Diagnostic {
    Diagnostic::new(level, "depmod", message)
}

/// One word of a `search` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Search {
    /// A directory relative to the module directory (`updates`, `extra`...).
    Path(Vec<u8>),
    /// `built-in`: the priority of paths that no entry matches.
    BuiltIn,
    /// `external`: one priority slot per `external` directory.
    External,
}

/// The parsed depmod.d configuration.  Every list is in depmod's order: the entry
/// parsed last comes first (see the module documentation), each new entry pushed at
/// the front in constant time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DepmodConfig {
    /// `search` words; the entry listed first in the files is last here and has the
    /// highest priority.  Never empty after [`DepmodConfig::load`] (default `updates`).
    pub(crate) searches: VecDeque<Search>,
    /// `override` entries as `SUBDIR/MODNAME` (the words as written, no extension).
    pub(crate) overrides: VecDeque<Vec<u8>>,
    /// `external` directories, in the order depmod scans them.
    pub(crate) externals: VecDeque<PathBuf>,
    /// `exclude` names: any directory entry (file or directory) with such a name is
    /// skipped while scanning.
    pub(crate) excludes: VecDeque<Vec<u8>>,
}

/// A depmod message at `level`, from byte strings (names and paths as given).
fn bmsg(level: Level, parts: &[&[u8]]) -> Diagnostic {
    msg(level, parts.concat())
}

/// A configuration file to parse: its name (the sort key) and the path used to open
/// and report it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CfgFile {
    name: Vec<u8>,
    path: Vec<u8>,
}

/// Insert keeping the list sorted by name; a name already present is ignored.
fn insert_sorted(files: &mut Vec<CfgFile>, file: CfgFile, log: &mut Vec<Diagnostic>) {
    match files.binary_search_by(|f| f.name.as_slice().cmp(&file.name)) {
        Ok(_) => log.push(bmsg(
            Level::Debug,
            &[b"Ignoring duplicate config file: ", &file.path, b"\n"],
        )),
        Err(at) => files.insert(at, file),
    }
}

/// List one source (file or directory) into `files`.
fn list_source(files: &mut Vec<CfgFile>, path: &[u8], log: &mut Vec<Diagnostic>) {
    let meta = match std::fs::metadata(to_path(path)) {
        Ok(m) => m,
        Err(e) => {
            let e = Errno::from(&e).to_string();
            let m: &[&[u8]] = &[b"could not stat '", path, b"': ", e.as_bytes(), b"\n"];
            log.push(bmsg(Level::Debug, m));
            return;
        }
    };
    if !meta.is_dir() {
        let file = CfgFile {
            name: basename(path).to_vec(),
            path: path.to_vec(),
        };
        insert_sorted(files, file, log);
        return;
    }
    let entries = match dir_entries(path) {
        Ok(entries) => entries,
        Err(e) => {
            let e = Errno::from(&e).to_string();
            let m: &[&[u8]] = &[b"files list ", path, b": ", e.as_bytes(), b"\n"];
            log.push(bmsg(Level::Err, m));
            return;
        }
    };
    for e in entries {
        let (level, problem, slash): (_, &[u8], &[u8]) = match e.kind {
            EntryKind::NotConf => (Level::Info, b"All cfg files need .conf: ", b"/"),
            // kmod's message has no slash between the directory and the name
            EntryKind::Unstattable => (Level::Err, b"Cannot stat directory entry: ", b""),
            EntryKind::Dir => (
                Level::Err,
                b"Directories inside directories are not supported: ",
                b"/",
            ),
            EntryKind::Conf => {
                let file = CfgFile {
                    name: e.name,
                    path: e.path,
                };
                insert_sorted(files, file, log);
                continue;
            }
        };
        log.push(bmsg(level, &[problem, path, slash, &e.name, b"\n"]));
    }
    log.push(bmsg(
        Level::Debug,
        &[b"parsed configuration files from ", path, b"\n"],
    ));
}

/// `strtok_r(.., "\t ")` words of a line.
fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
}

/// Does the `override`/`external` kernel pattern `pattern` match `kversion`?
/// `*` matches everything; anything else is a POSIX extended regular expression
/// searched (unanchored) in the version, with glibc's syntax in the C locale.  An
/// invalid expression never matches; so does one using back-references, which this
/// implementation does not support, and so does one whose evaluation would need more
/// than 128 MiB (only conceivable for huge versions and patterns).
#[must_use]
pub(crate) fn kernel_matches(pattern: &[u8], kversion: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    crate::shared::ere::search(pattern, kversion)
}

/// The comparable parts of a module path for the priority decision.
struct PathView<'a> {
    /// The whole path.
    full: &'a [u8],
    /// Directory part with its slash, plus as many bytes as the module name has.
    len: usize,
    /// The bytes after `<dirname>/`, when the path starts with `dirname`.
    rel: Option<&'a [u8]>,
    /// `len - (dirname.len() + 1)`, negative standing for C's wrapped huge value.
    rel_len: isize,
}

impl<'a> PathView<'a> {
    fn new(dirname: &[u8], full: &'a [u8], modname_len: usize) -> Self {
        let base = full.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        let len = base.saturating_add(modname_len);
        // strncmp(path, dirname, len(dirname)) == 0
        let rel = full
            .starts_with(dirname)
            .then(|| full.get(dirname.len() + 1..).unwrap_or(&[]));
        let rel_len = len as isize - (dirname.len() as isize + 1);
        PathView {
            full,
            len,
            rel,
            rel_len,
        }
    }

    /// The relative path without extension, if it has a representable length.
    fn rel_trunc(&self) -> Option<&'a [u8]> {
        let rel = self.rel?;
        let n = usize::try_from(self.rel_len).ok()?;
        rel.get(..n)
    }

    /// `relpath` is under search directory `dir`.
    fn under(&self, dir: &[u8]) -> bool {
        let Some(rel) = self.rel else { return false };
        let longer = self.rel_len < 0 || self.rel_len as usize > dir.len();
        longer && rel.get(dir.len()) == Some(&b'/') && rel.starts_with(dir)
    }

    /// The full path is inside external directory `ext`.
    fn inside(&self, ext: &[u8]) -> bool {
        self.len > ext.len()
            && self.full.get(ext.len()) == Some(&b'/')
            && self.full.starts_with(ext)
    }
}

impl DepmodConfig {
    /// Everything of the configuration that depmod's results depend on, as bytes
    /// (for the cache's fingerprint).
    pub(crate) fn fingerprint_into(&self, out: &mut Vec<u8>) {
        use super::cache::Put;
        out.put_u32(self.searches.len() as u32);
        for s in &self.searches {
            match s {
                Search::Path(p) => {
                    out.put_u8(0);
                    out.put_str(p);
                }
                Search::BuiltIn => out.put_u8(1),
                Search::External => out.put_u8(2),
            }
        }
        for list in [&self.overrides, &self.excludes] {
            out.put_u32(list.len() as u32);
            for v in list {
                out.put_str(v);
            }
        }
        out.put_u32(self.externals.len() as u32);
        for e in &self.externals {
            out.put_str(e.as_os_str().as_bytes());
        }
    }

    /// Read the configuration like depmod does: the `config_paths` (`-C`) when not
    /// empty, else the default depmod.d directories resolved through `root`; then add
    /// the default `search updates` when no `search` line was seen.  `kversion` is the
    /// kernel version the `override`/`external` patterns are matched against.
    #[must_use]
    pub(crate) fn load(
        root: &Root,
        config_paths: &[PathBuf],
        kversion: &[u8],
    ) -> (Self, Vec<Diagnostic>) {
        let mut log = Vec::new();
        let files = Self::files(root, config_paths, &mut log);
        let mut cfg = DepmodConfig::default();
        for f in &files {
            cfg.parse_file(
                Path::new(std::ffi::OsStr::from_bytes(&f.path)),
                kversion,
                &mut log,
            );
        }
        cfg.finish(&mut log);
        (cfg, log)
    }

    /// The configuration files [`DepmodConfig::load`] parses, in parse order.
    fn files(root: &Root, config_paths: &[PathBuf], log: &mut Vec<Diagnostic>) -> Vec<CfgFile> {
        let mut files = Vec::new();
        if config_paths.is_empty() {
            for d in crate::paths::DEPMOD_D {
                list_source(&mut files, root.path(d).as_os_str().as_bytes(), log);
            }
        } else {
            for p in config_paths {
                list_source(&mut files, p.as_os_str().as_bytes(), log);
            }
        }
        files
    }

    /// Parse one configuration file into `self` (an unreadable file logs an error).
    pub(crate) fn parse_file(&mut self, path: &Path, kversion: &[u8], log: &mut Vec<Diagnostic>) {
        let name = path.as_os_str().as_bytes();
        let failed = |e: Errno| {
            bmsg(
                Level::Err,
                &[b"file parse ", name, b": ", e.to_string().as_bytes(), b"\n"],
            )
        };
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                log.push(failed(Errno::from(&e)));
                return;
            }
        };
        // at most 4 MiB: a bigger file (a device that never ends) is refused
        let Some(buf) = read_config(&mut file) else {
            log.push(failed(Errno::from_raw(crate::error::errno::EFBIG)));
            return;
        };
        self.parse_bytes(name, &buf, kversion, log);
    }

    /// Parse the contents of a configuration file called `filename` (used in messages).
    pub(crate) fn parse_bytes(
        &mut self,
        filename: &[u8],
        content: &[u8],
        kversion: &[u8],
        log: &mut Vec<Diagnostic>,
    ) {
        for (linenum, line) in lines(content) {
            let at = [filename, b":", linenum.to_string().as_bytes(), b": "].concat();
            let mut w = words(&line);
            let Some(cmd) = w.next() else { continue };
            let bad = |log: &mut Vec<Diagnostic>| {
                let m: &[&[u8]] = &[&at, b"ignoring bad line starting with '", cmd, b"'\n"];
                log.push(bmsg(Level::Err, m));
            };
            match cmd {
                b"search" => {
                    for sp in w {
                        self.search_add(sp, log);
                    }
                }
                b"override" => {
                    let (Some(modname), Some(version), Some(subdir)) =
                        (w.next(), w.next(), w.next())
                    else {
                        bad(log);
                        continue;
                    };
                    if !kernel_matches(version, kversion) {
                        let m: &[&[u8]] = &[&at, b"override kernel did not match ", version, b"\n"];
                        log.push(bmsg(Level::Info, m));
                        continue;
                    }
                    let o = [subdir, b"/", modname].concat();
                    log.push(bmsg(Level::Debug, &[b"override add: ", &o, b"\n"]));
                    self.overrides.push_front(o);
                }
                b"external" => {
                    let (Some(version), Some(dir)) = (w.next(), w.next()) else {
                        bad(log);
                        continue;
                    };
                    if !kernel_matches(version, kversion) {
                        let m: &[&[u8]] =
                            &[&at, b"external directory did not match ", version, b"\n"];
                        log.push(bmsg(Level::Info, m));
                        continue;
                    }
                    log.push(bmsg(Level::Debug, &[b"external add: ", dir, b"\n"]));
                    self.externals.push_front(to_path(dir));
                }
                b"exclude" => {
                    for sp in w {
                        log.push(bmsg(Level::Debug, &[b"exclude add: ", sp, b"\n"]));
                        self.excludes.push_front(sp.to_vec());
                    }
                }
                b"include" | b"make_map_files" => {
                    let m: &[&[u8]] = &[&at, b"command ", cmd, b" not implemented yet\n"];
                    log.push(bmsg(Level::Info, m));
                }
                _ => bad(log),
            }
        }
    }

    fn search_add(&mut self, word: &[u8], log: &mut Vec<Diagnostic>) {
        let (s, t) = match word {
            b"built-in" => (Search::BuiltIn, 1),
            b"external" => (Search::External, 2),
            _ => (Search::Path(word.to_vec()), 0),
        };
        let t = format!(", search type={t}\n");
        log.push(bmsg(Level::Debug, &[b"search add: ", word, t.as_bytes()]));
        self.searches.push_front(s);
    }

    /// After all files: `search updates` when no `search` word was seen.
    pub(crate) fn finish(&mut self, log: &mut Vec<Diagnostic>) {
        if self.searches.is_empty() {
            self.search_add(b"updates", log);
        }
    }

    /// Does depmod skip the directory entry `name` while scanning?  `.`, `..`,
    /// `build`, `source` and every `exclude` name are skipped, files and directories
    /// alike.
    #[must_use]
    /// Whether `exclude` lines name directories besides kmod's own four.
    pub(crate) fn has_excludes(&self) -> bool {
        !self.excludes.is_empty()
    }

    pub(crate) fn is_excluded(&self, name: &[u8]) -> bool {
        matches!(name, b"." | b".." | b"build" | b"source")
            || self.excludes.iter().any(|e| e == name)
    }

    /// depmod found `new_path` while a module of the same name `modname` is already
    /// known from `old_path`: does the new one replace it?  The inverse of kmod's
    /// `depmod_module_is_higher_priority`, reproduced exactly:
    ///
    /// * overrides first, most recently parsed first: the first one equal to a
    ///   candidate's `SUBDIR/NAME` (path relative to `dirname`, cut after as many bytes
    ///   of the file name as the module name has) decides for it, the new path tested
    ///   before the old one;
    /// * then each search entry in turn numbers the candidates it matches; a path entry
    ///   that matches the new path does not look at the old one, so two candidates
    ///   under the same search directory make the later-found one win, while two in
    ///   the unmatched (`built-in`) area keep the earlier one;
    /// * the new one wins only with a strictly higher number.
    #[must_use]
    pub(crate) fn new_wins(
        &self,
        dirname: &[u8],
        old_path: &[u8],
        new_path: &[u8],
        modname: &[u8],
    ) -> bool {
        let new = PathView::new(dirname, new_path, modname.len());
        let old = PathView::new(dirname, old_path, modname.len());
        let (new_rel, old_rel) = (new.rel_trunc(), old.rel_trunc());
        for ov in &self.overrides {
            if new_rel == Some(ov.as_slice()) {
                return true;
            }
            if old_rel == Some(ov.as_slice()) {
                return false;
            }
        }
        let (mut i, mut bprio, mut oldprio, mut newprio) = (0i32, -1i32, -1i32, -1i32);
        for se in &self.searches {
            match se {
                Search::BuiltIn => bprio = i,
                Search::External => {
                    for ext in &self.externals {
                        let ext = ext.as_os_str().as_bytes();
                        if new.inside(ext) {
                            newprio = i;
                        }
                        if old.inside(ext) {
                            oldprio = i;
                        }
                        i = i.wrapping_add(1);
                    }
                }
                Search::Path(dir) => {
                    if new.under(dir) {
                        newprio = i;
                    } else if old.under(dir) {
                        oldprio = i;
                    }
                }
            }
            i = i.wrapping_add(1);
        }
        if newprio < 0 {
            newprio = bprio;
        }
        if oldprio < 0 {
            oldprio = bprio;
        }
        newprio > oldprio
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// `n` lines: overrides mostly, with `search`, `external` and `exclude` lines.
    fn config(n: usize) -> Vec<u8> {
        let mut s = Vec::with_capacity(n * 40);
        for i in 0..n {
            let line = match i % 10 {
                0 => format!("search dir{i} built-in\n"),
                1 => format!("exclude ex{i}\n"),
                2 => format!("external * /nonexistent-kmodrs/ext{i}\n"),
                _ => format!("override mod{i} * dir{i}\n"),
            };
            s.extend_from_slice(line.as_bytes());
        }
        s
    }

    /// The best of three parses of `text`.
    fn parse_time(text: &[u8]) -> Duration {
        (0..3)
            .map(|_| {
                let mut cfg = DepmodConfig::default();
                let mut log = Vec::new();
                let t = Instant::now();
                cfg.parse_bytes(b"gen.conf", text, b"1.0", &mut log);
                cfg.finish(&mut log);
                t.elapsed()
            })
            .min()
            .unwrap()
    }

    #[test]
    fn depmod_config_parses_in_linear_time() {
        let small = config(20_000);
        let large = config(200_000);
        let (ts, tl) = (parse_time(&small), parse_time(&large));

        // ten times the lines: about ten times the time (quadratic would be a hundred)
        assert!(
            tl < ts * 25 + Duration::from_millis(50),
            "200,000 lines took {tl:?}, 20,000 lines {ts:?}: not linear"
        );
        // and the order is kmod's: the last parsed first
        let mut cfg = DepmodConfig::default();
        cfg.parse_bytes(b"gen.conf", &small, b"1.0", &mut Vec::new());
        assert_eq!(cfg.overrides.front().unwrap(), b"dir19999/mod19999");
        assert_eq!(cfg.overrides.back().unwrap(), b"dir3/mod3");
    }

    /// The priority number a module path gets on its own (overrides ignored): that of
    /// the highest-priority `search` entry matching it, else the `built-in` number,
    /// else -1.  Higher wins; the first-listed search entry has the highest number.  `dirname` is the module
    /// directory, `modname` the module name (only its length matters).  The real
    /// decision between two candidates is [`DepmodConfig::new_wins`], which differs
    /// from comparing two `priority` values (see there).
    #[must_use]
    fn priority(c: &DepmodConfig, dirname: &[u8], path: &[u8], modname: &[u8]) -> i32 {
        let p = PathView::new(dirname, path, modname.len());
        let (mut i, mut bprio, mut prio) = (0i32, -1i32, -1i32);
        for se in &c.searches {
            match se {
                Search::BuiltIn => bprio = i,
                Search::External => {
                    for ext in &c.externals {
                        if p.inside(ext.as_os_str().as_bytes()) {
                            prio = i;
                        }
                        i = i.wrapping_add(1);
                    }
                }
                Search::Path(dir) => {
                    if p.under(dir) {
                        prio = i;
                    }
                }
            }
            i = i.wrapping_add(1);
        }
        if prio < 0 { bprio } else { prio }
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kmodrs-depcfg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn parse(text: &str, kver: &str) -> (DepmodConfig, Vec<Diagnostic>) {
        let mut cfg = DepmodConfig::default();
        let mut log = Vec::new();
        cfg.parse_bytes(b"f.conf", text.as_bytes(), kver.as_bytes(), &mut log);
        (cfg, log)
    }

    fn msgs(log: &[Diagnostic], level: Level) -> Vec<String> {
        log.iter()
            .filter(|d| d.level == level)
            .map(|d| String::from_utf8(d.message.clone()).unwrap())
            .collect()
    }

    /// Results of glibc 2.41 `regcomp(REG_EXTENDED|REG_NOSUB)` + `regexec`
    /// (E: invalid pattern, which never matches).
    #[test]
    fn kernel_patterns_like_glibc() {
        let deep = format!("{}a{}", "(".repeat(300), ")".repeat(300));
        let stars = format!("a{}", "*".repeat(5000));
        let cases: &[(&str, &str, char)] = &[
            ("*", "anything", '1'),
            (&stars, "ab", '1'),
            (&deep, "ab", '1'),
            (r"^6\.1\.", "6.1.0-50-amd64", '1'),
            (r"6\.12", "6.1.0-50-amd64", '0'),
            (".*", "6.1.0", '1'),
            ("*foo", "foo", 'E'),
            ("^6.1.0-50-amd64$", "6.1.0-50-amd64", '1'),
            ("amd64|arm64", "6.1.0-50-arm64", '1'),
            ("a{,2}b", "aab", '1'),
            (r"[[:digit:]]+\.[[:digit:]]+", "6.1", '1'),
            ("(", "(", 'E'),
            (")", ")", '1'),
            ("a{1", "a{1", 'E'),
            ("\\", "\\", 'E'),
            ("[a", "[a", 'E'),
            ("x**", "y", '1'),
            (r"\<6", "6.1", '1'),
            ("[[.-.]]", "-", '1'),
            (r"\1", "1", 'E'),
            ("^*a", "a", 'E'),
            ("a|*b", "b", 'E'),
            (r"6\.1\.0-[0-9]+-amd64", "6.1.0-50-amd64", '1'),
            (r"^6\.(1|12)\.", "6.12.117+deb13-amd64", '1'),
            (r"\bamd64\b", "6.1.0-50-amd64", '1'),
            ("[[:alpha:]-z]", "a", 'E'),
            ("[a-z-0]", "a", 'E'),
            ("a{2,1}", "aa", 'E'),
            ("a{99999}", "a", 'E'),
            ("a{,}", "b", '1'),
            ("a{}", "a", 'E'),
            ("[[:foo:]]", "a", 'E'),
            ("[]", "a", 'E'),
            ("x\\", "x", 'E'),
            ("[[=a=]b]", "b", '1'),
            ("[[.ab.]]", "a", 'E'),
            ("()", "x", '1'),
            ("(|a)", "b", '1'),
            ("a$b", "ab", '0'),
            (r"\d", "d", '1'),
            (r"\d", "1", '0'),
        ];
        for (p, t, want) in cases {
            let got = kernel_matches(p.as_bytes(), t.as_bytes());
            assert_eq!(got, *want == '1', "pattern {p:?} on {t:?}");
        }
        // Valid back-references are not supported: never a match.
        assert!(!kernel_matches(br"(a)\1", b"aa"));
    }

    #[test]
    fn pathological_patterns_terminate() {
        let text = format!("6.1.0-50-amd64{}", "a".repeat(50));
        for p in [
            "((a|)*){32767}",
            "(((((((((a*)*)*)*)*)*)*)*)*)*b",
            "a{32767}",
            "(a{100}){100}",
            "(.*.*.*.*.*.*.*.*)*z",
        ] {
            let _ = kernel_matches(p.as_bytes(), text.as_bytes());
        }
        let too_deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
        assert!(!kernel_matches(too_deep.as_bytes(), b"a"));
    }

    #[test]
    fn continuation_and_line_numbers() {
        let (cfg, log) = parse(
            "# comment\n\nsearch a \\\n b\n  # not a comment\nbo\\gus\nsearch c\\",
            "1",
        );
        assert_eq!(
            cfg.searches,
            vec![
                Search::Path(b"c".to_vec()),
                Search::Path(b"b".to_vec()),
                Search::Path(b"a".to_vec())
            ]
        );
        assert_eq!(
            msgs(&log, Level::Err),
            vec![
                "f.conf:5: ignoring bad line starting with '#'\n".to_string(),
                "f.conf:6: ignoring bad line starting with 'bogus'\n".to_string(),
            ]
        );
    }

    #[test]
    fn nul_ends_line_and_only_space_tab_separate() {
        let (cfg, log) = parse("exclude a\0 b\nexclude\tc\rd  e\n\0search x\n", "1");
        assert_eq!(
            cfg.excludes,
            vec![b"e".to_vec(), b"c\rd".to_vec(), b"a".to_vec()]
        );
        assert!(cfg.searches.is_empty());
        assert!(msgs(&log, Level::Err).is_empty());
    }

    #[test]
    fn directives() {
        let text = "search updates built-in\n\
                    search extra external\n\
                    override snd * extra\n\
                    override e1000 ^6\\. updates/net\n\
                    override x 7\\. y\n\
                    override too few\n\
                    external * /opt/a\n\
                    external 9 /opt/b\n\
                    external ^6 /opt/c\n\
                    external lonely\n\
                    exclude foo bar\n\
                    include x.conf\n\
                    make_map_files\n\
                    frob x\n";
        let (cfg, log) = parse(text, "6.1.0-50-amd64");
        assert_eq!(
            cfg.searches,
            vec![
                Search::External,
                Search::Path(b"extra".to_vec()),
                Search::BuiltIn,
                Search::Path(b"updates".to_vec()),
            ]
        );
        assert_eq!(
            cfg.overrides,
            vec![b"updates/net/e1000".to_vec(), b"extra/snd".to_vec()]
        );
        assert_eq!(
            cfg.externals,
            vec![PathBuf::from("/opt/c"), PathBuf::from("/opt/a")]
        );
        assert_eq!(cfg.excludes, vec![b"bar".to_vec(), b"foo".to_vec()]);
        assert_eq!(
            msgs(&log, Level::Info),
            vec![
                // The line reader drops a backslash before any other byte.
                "f.conf:5: override kernel did not match 7.\n".to_string(),
                "f.conf:8: external directory did not match 9\n".to_string(),
                "f.conf:12: command include not implemented yet\n".to_string(),
                "f.conf:13: command make_map_files not implemented yet\n".to_string(),
            ]
        );
        assert_eq!(
            msgs(&log, Level::Err),
            vec![
                "f.conf:6: ignoring bad line starting with 'override'\n".to_string(),
                "f.conf:10: ignoring bad line starting with 'external'\n".to_string(),
                "f.conf:14: ignoring bad line starting with 'frob'\n".to_string(),
            ]
        );
        assert!(
            msgs(&log, Level::Debug).contains(&"search add: built-in, search type=1\n".to_string())
        );
        assert!(cfg.is_excluded(b"foo") && cfg.is_excluded(b"build") && cfg.is_excluded(b"source"));
        assert!(!cfg.is_excluded(b"kernel"));
    }

    #[test]
    fn default_search_is_updates() {
        let (mut cfg, mut log) = parse("exclude x\n", "1");
        cfg.finish(&mut log);
        assert_eq!(cfg.searches, vec![Search::Path(b"updates".to_vec())]);
        let (mut cfg, mut log) = parse("search built-in\n", "1");
        cfg.finish(&mut log);
        assert_eq!(cfg.searches, vec![Search::BuiltIn]);
    }

    #[test]
    fn file_set() {
        let root_dir = tmpdir("files");
        let root = Root::at(&root_dir);
        let d = crate::paths::DEPMOD_D;
        let first = root.path(d[0]);
        let last = root.path(d[d.len() - 1]);
        std::fs::create_dir_all(&first).unwrap();
        std::fs::create_dir_all(&last).unwrap();
        std::fs::write(first.join("b.conf"), "search first_b\n").unwrap();
        std::fs::write(last.join("b.conf"), "search last_b\n").unwrap();
        std::fs::write(last.join("a.conf"), "search last_a\n").unwrap();
        std::fs::write(last.join("c.txt"), "search never\n").unwrap();
        std::fs::write(last.join(".d.conf"), "search never\n").unwrap();
        std::fs::write(last.join(".conf"), "search never\n").unwrap();
        std::fs::create_dir(last.join("sub.conf")).unwrap();
        std::os::unix::fs::symlink("nowhere", last.join("dangling.conf")).unwrap();
        std::os::unix::fs::symlink("a.conf", last.join("link.conf")).unwrap();
        let files = DepmodConfig::files(&root, &[], &mut Vec::new());
        let names: Vec<String> = files
            .iter()
            .map(|f| String::from_utf8_lossy(&f.name).into_owned())
            .collect();
        assert_eq!(names, ["a.conf", "b.conf", "link.conf"]);
        assert!(to_path(&files[1].path).starts_with(&first));
        let (cfg, log) = DepmodConfig::load(&root, &[], b"1");
        // Files in name order; entries prepended: the last parsed comes first.
        assert_eq!(
            cfg.searches,
            vec![
                Search::Path(b"last_a".to_vec()),
                Search::Path(b"first_b".to_vec()),
                Search::Path(b"last_a".to_vec()),
            ]
        );
        let l = last.display();
        assert_eq!(
            msgs(&log, Level::Info),
            vec![format!("All cfg files need .conf: {l}/c.txt\n")]
        );
        let mut errs = msgs(&log, Level::Err);
        errs.sort();
        assert_eq!(
            errs,
            vec![
                format!("Cannot stat directory entry: {l}dangling.conf\n"),
                format!("Directories inside directories are not supported: {l}/sub.conf\n"),
            ]
        );

        // -C: files taken whatever their name, directories filtered; no defaults.
        let own = root_dir.join("own");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(own.join("z.cfg"), "search own_z\n").unwrap();
        std::fs::write(own.join("a.conf"), "search own_a\n").unwrap();
        let (cfg, log) =
            DepmodConfig::load(&root, &[own.join("z.cfg"), own.clone(), last.clone()], b"1");
        assert_eq!(
            cfg.searches,
            vec![
                Search::Path(b"own_z".to_vec()),
                Search::Path(b"last_a".to_vec()),
                Search::Path(b"last_b".to_vec()),
                Search::Path(b"own_a".to_vec()),
            ]
        );
        assert!(
            log.iter()
                .any(|d| d.message.starts_with(b"Ignoring duplicate config file: "))
        );
        // A missing source is silent (debug only); no search gives `updates`.
        let (cfg, log) = DepmodConfig::load(&root, &[root_dir.join("missing")], b"1");
        assert_eq!(cfg.searches, vec![Search::Path(b"updates".to_vec())]);
        assert!(log.iter().all(|d| d.level == Level::Debug));
        let _ = std::fs::remove_dir_all(&root_dir);
    }

    const D: &[u8] = b"/m/6.1";

    fn p(rel: &str) -> Vec<u8> {
        let mut v = D.to_vec();
        v.push(b'/');
        v.extend_from_slice(rel.as_bytes());
        v
    }

    fn cfg(text: &str) -> DepmodConfig {
        let (mut c, mut log) = parse(text, "6.1.0");
        c.finish(&mut log);
        c
    }

    #[test]
    fn default_priorities() {
        let c = cfg("");
        assert!(c.new_wins(D, &p("kernel/a.ko"), &p("updates/a.ko"), b"a"));
        assert!(!c.new_wins(D, &p("updates/a.ko"), &p("kernel/a.ko"), b"a"));
        // Same search directory: the later-found one wins.
        assert!(c.new_wins(D, &p("updates/x/a.ko"), &p("updates/y/a.ko"), b"a"));
        // Both unmatched: the earlier one stays.
        assert!(!c.new_wins(D, &p("kernel/a.ko"), &p("extra/a.ko.xz"), b"a"));
        assert_eq!(priority(&c, D, &p("updates/a.ko"), b"a"), 0);
        assert_eq!(priority(&c, D, &p("kernel/a.ko"), b"a"), -1);
        // A directory merely starting with the search word does not match.
        assert!(!c.new_wins(D, &p("kernel/a.ko"), &p("updates2/a.ko"), b"a"));
    }

    #[test]
    fn search_order_and_builtin() {
        let c = cfg("search extra built-in updates\n");
        assert_eq!(priority(&c, D, &p("extra/a.ko"), b"a"), 2);
        assert_eq!(priority(&c, D, &p("kernel/a.ko"), b"a"), 1);
        assert_eq!(priority(&c, D, &p("updates/a.ko"), b"a"), 0);
        assert!(c.new_wins(D, &p("kernel/a.ko"), &p("extra/a.ko"), b"a"));
        assert!(!c.new_wins(D, &p("kernel/a.ko"), &p("updates/a.ko"), b"a"));
        assert!(c.new_wins(D, &p("updates/a.ko"), &p("kernel/a.ko"), b"a"));
        // Nested search directories: the higher-priority entry counts.
        let c = cfg("search updates/dkms updates\n");
        assert_eq!(priority(&c, D, &p("updates/dkms/a.ko"), b"a"), 1);
        assert!(!c.new_wins(D, &p("updates/dkms/a.ko"), &p("updates/a.ko"), b"a"));
    }

    #[test]
    fn overrides_first() {
        let c = cfg("override a * extra\noverride a-b * kernel/x\n");
        assert!(c.new_wins(D, &p("updates/a.ko"), &p("extra/a.ko.xz"), b"a"));
        assert!(!c.new_wins(D, &p("extra/a.ko"), &p("updates/a.ko"), b"a"));
        // Names are compared as written in the file name.
        assert!(c.new_wins(D, &p("updates/a-b.ko"), &p("kernel/x/a-b.ko"), b"a_b"));
        assert!(!c.new_wins(D, &p("updates/a_b.ko"), &p("kernel/x/a_b.ko"), b"a_b"));
        // The most recent override is tested first.
        let c = cfg("override a * updates\noverride a * extra\n");
        assert!(c.new_wins(D, &p("updates/a.ko"), &p("extra/a.ko"), b"a"));
        assert!(!c.new_wins(D, &p("extra/a.ko"), &p("updates/a.ko"), b"a"));
    }

    #[test]
    fn externals() {
        let c = cfg("search updates external\nexternal * /opt/one\nexternal * /opt/two\n");
        assert_eq!(
            c.externals,
            vec![PathBuf::from("/opt/two"), PathBuf::from("/opt/one")]
        );
        // [External(two=0, one=1), gap 2, updates=3]
        assert_eq!(priority(&c, D, b"/opt/two/a.ko", b"a"), 0);
        assert_eq!(priority(&c, D, b"/opt/one/sub/a.ko", b"a"), 1);
        assert_eq!(priority(&c, D, &p("updates/a.ko"), b"a"), 3);
        assert!(c.new_wins(D, b"/opt/two/a.ko", b"/opt/one/a.ko", b"a"));
        assert!(c.new_wins(D, b"/opt/one/a.ko", &p("updates/a.ko"), b"a"));
        assert!(!c.new_wins(D, b"/opt/one/a.ko", &p("kernel/a.ko"), b"a"));
        // Two files in the same external directory: the earlier stays.
        assert!(!c.new_wins(D, b"/opt/one/x/a.ko", b"/opt/one/y/a.ko", b"a"));
        // Without `search external`, external modules are unmatched.
        let c = cfg("external * /opt/one\n");
        assert!(!c.new_wins(D, b"/opt/one/a.ko", &p("kernel/a.ko"), b"a"));
        assert!(c.new_wins(D, b"/opt/one/a.ko", &p("updates/a.ko"), b"a"));
    }
}
