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

use crate::Root;
use crate::config::parse::next_line;
use crate::error::strerror;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The severity of a message, as kmod's tools log it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `LOG_CRIT`, printed as `FATAL`.
    Crit,
    /// `LOG_ERR`, printed as `ERROR`.
    Err,
    /// `LOG_WARNING`, printed as `WARNING`.
    Warning,
    /// `LOG_NOTICE`, printed as `NOTICE`.
    Notice,
    /// `LOG_INFO`, printed as `INFO`.
    Info,
    /// `LOG_DEBUG`, printed as `DEBUG`.
    Debug,
}

impl Level {
    /// The syslog priority number (`LOG_CRIT` = 2 ... `LOG_DEBUG` = 7).
    #[must_use]
    pub fn priority(self) -> i32 {
        match self {
            Level::Crit => 2,
            Level::Err => 3,
            Level::Warning => 4,
            Level::Notice => 5,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }

    /// The name kmod's tools print (`depmod: ERROR: ...`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Level::Crit => "FATAL",
            Level::Err => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// A message for the user, returned as data: the caller decides whether to print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Severity.
    pub level: Level,
    /// The text as kmod formats it, trailing newline included.
    pub message: String,
}

impl Diagnostic {
    /// A message.
    #[must_use]
    pub fn new(level: Level, message: String) -> Self {
        Diagnostic { level, message }
    }
}

/// One word of a `search` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
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
pub struct DepmodConfig {
    /// `search` words; the entry listed first in the files is last here and has the
    /// highest priority.  Never empty after [`DepmodConfig::load`] (default `updates`).
    pub searches: VecDeque<Search>,
    /// `override` entries as `SUBDIR/MODNAME` (the words as written, no extension).
    pub overrides: VecDeque<Vec<u8>>,
    /// `external` directories, in the order depmod scans them.
    pub externals: VecDeque<PathBuf>,
    /// `exclude` names: any directory entry (file or directory) with such a name is
    /// skipped while scanning.
    pub excludes: VecDeque<Vec<u8>>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The errno of an I/O error (EIO when it has none).
fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(5)
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
        Ok(_) => log.push(Diagnostic::new(
            Level::Debug,
            format!("Ignoring duplicate config file: {}\n", lossy(&file.path)),
        )),
        Err(at) => files.insert(at, file),
    }
}

fn to_path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(b.to_vec()))
}

/// List one source (file or directory) into `files`.
fn list_source(files: &mut Vec<CfgFile>, path: &[u8], log: &mut Vec<Diagnostic>) {
    let meta = match std::fs::metadata(to_path(path)) {
        Ok(m) => m,
        Err(e) => {
            log.push(Diagnostic::new(
                Level::Debug,
                format!(
                    "could not stat '{}': {}\n",
                    lossy(path),
                    strerror(errno_of(&e))
                ),
            ));
            return;
        }
    };
    if !meta.is_dir() {
        // GNU basename: everything after the last '/'.
        let name = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => &path[i + 1..],
            None => path,
        };
        insert_sorted(
            files,
            CfgFile {
                name: name.to_vec(),
                path: path.to_vec(),
            },
            log,
        );
        return;
    }
    let rd = match std::fs::read_dir(to_path(path)) {
        Ok(rd) => rd,
        Err(e) => {
            log.push(Diagnostic::new(
                Level::Err,
                format!("files list {}: {}\n", lossy(path), strerror(errno_of(&e))),
            ));
            return;
        }
    };
    for entry in rd {
        let Ok(entry) = entry else { break };
        let name = entry.file_name();
        let name = name.as_bytes();
        if name.first() == Some(&b'.') {
            continue;
        }
        if name.len() < 6 || !name.ends_with(b".conf") {
            log.push(Diagnostic::new(
                Level::Info,
                format!(
                    "All cfg files need .conf: {}/{}\n",
                    lossy(path),
                    lossy(name)
                ),
            ));
            continue;
        }
        let mut full = path.to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        match std::fs::metadata(to_path(&full)) {
            Err(_) => {
                log.push(Diagnostic::new(
                    Level::Err,
                    format!(
                        "Cannot stat directory entry: {}{}\n",
                        lossy(path),
                        lossy(name)
                    ),
                ));
                continue;
            }
            Ok(m) if m.is_dir() => {
                log.push(Diagnostic::new(
                    Level::Err,
                    format!(
                        "Directories inside directories are not supported: {}/{}\n",
                        lossy(path),
                        lossy(name)
                    ),
                ));
                continue;
            }
            Ok(_) => {}
        }
        insert_sorted(
            files,
            CfgFile {
                name: name.to_vec(),
                path: full,
            },
            log,
        );
    }
    log.push(Diagnostic::new(
        Level::Debug,
        format!("parsed configuration files from {}\n", lossy(path)),
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
pub fn kernel_matches(pattern: &[u8], kversion: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    ere::search(pattern, kversion)
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
    /// Read the configuration like depmod does: the `config_paths` (`-C`) when not
    /// empty, else the default depmod.d directories resolved through `root`; then add
    /// the default `search updates` when no `search` line was seen.  `kversion` is the
    /// kernel version the `override`/`external` patterns are matched against.
    #[must_use]
    pub fn load(root: &Root, config_paths: &[PathBuf], kversion: &[u8]) -> (Self, Vec<Diagnostic>) {
        let mut log = Vec::new();
        let sources: Vec<Vec<u8>> = if config_paths.is_empty() {
            crate::paths::DEPMOD_D
                .iter()
                .map(|d| root.path(d).into_os_string().into_vec())
                .collect()
        } else {
            config_paths
                .iter()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .collect()
        };
        let mut files = Vec::new();
        for s in &sources {
            list_source(&mut files, s, &mut log);
        }
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

    /// The configuration files [`DepmodConfig::load`] would parse, in parse order.
    #[must_use]
    pub fn config_files(root: &Root, config_paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
        let mut log = Vec::new();
        let mut files = Vec::new();
        if config_paths.is_empty() {
            for d in crate::paths::DEPMOD_D {
                list_source(&mut files, root.path(d).as_os_str().as_bytes(), &mut log);
            }
        } else {
            for p in config_paths {
                list_source(&mut files, p.as_os_str().as_bytes(), &mut log);
            }
        }
        (files.iter().map(|f| to_path(&f.path)).collect(), log)
    }

    /// Parse one configuration file into `self` (an unreadable file logs an error).
    pub fn parse_file(&mut self, path: &Path, kversion: &[u8], log: &mut Vec<Diagnostic>) {
        let name = lossy(path.as_os_str().as_bytes());
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                log.push(Diagnostic::new(
                    Level::Err,
                    format!("file parse {name}: {}\n", strerror(errno_of(&e))),
                ));
                return;
            }
        };
        let mut buf = Vec::new();
        // A read error ends the file like EOF does for getc().
        let _ = file.read_to_end(&mut buf);
        self.parse_bytes(&name, &buf, kversion, log);
    }

    /// Parse the contents of a configuration file called `filename` (used in messages).
    pub fn parse_bytes(
        &mut self,
        filename: &str,
        content: &[u8],
        kversion: &[u8],
        log: &mut Vec<Diagnostic>,
    ) {
        let mut pos = 0;
        let mut linenum = 0u32;
        while let Some(line) = next_line(content, &mut pos, &mut linenum) {
            let line = match line.iter().position(|&b| b == 0) {
                Some(n) => &line[..n],
                None => &line[..],
            };
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let mut w = words(line);
            let Some(cmd) = w.next() else { continue };
            let bad = |log: &mut Vec<Diagnostic>| {
                log.push(Diagnostic::new(
                    Level::Err,
                    format!(
                        "{filename}:{linenum}: ignoring bad line starting with '{}'\n",
                        lossy(cmd)
                    ),
                ));
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
                        log.push(Diagnostic::new(
                            Level::Info,
                            format!(
                                "{filename}:{linenum}: override kernel did not match {}\n",
                                lossy(version)
                            ),
                        ));
                        continue;
                    }
                    let mut o = subdir.to_vec();
                    o.push(b'/');
                    o.extend_from_slice(modname);
                    log.push(Diagnostic::new(
                        Level::Debug,
                        format!("override add: {}\n", lossy(&o)),
                    ));
                    self.overrides.push_front(o);
                }
                b"external" => {
                    let (Some(version), Some(dir)) = (w.next(), w.next()) else {
                        bad(log);
                        continue;
                    };
                    if !kernel_matches(version, kversion) {
                        log.push(Diagnostic::new(
                            Level::Info,
                            format!(
                                "{filename}:{linenum}: external directory did not match {}\n",
                                lossy(version)
                            ),
                        ));
                        continue;
                    }
                    log.push(Diagnostic::new(
                        Level::Debug,
                        format!("external add: {}\n", lossy(dir)),
                    ));
                    self.externals.push_front(to_path(dir));
                }
                b"exclude" => {
                    for sp in w {
                        log.push(Diagnostic::new(
                            Level::Debug,
                            format!("exclude add: {}\n", lossy(sp)),
                        ));
                        self.excludes.push_front(sp.to_vec());
                    }
                }
                b"include" | b"make_map_files" => log.push(Diagnostic::new(
                    Level::Info,
                    format!(
                        "{filename}:{linenum}: command {} not implemented yet\n",
                        lossy(cmd)
                    ),
                )),
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
        log.push(Diagnostic::new(
            Level::Debug,
            format!("search add: {}, search type={t}\n", lossy(word)),
        ));
        self.searches.push_front(s);
    }

    /// After all files: `search updates` when no `search` word was seen.
    pub fn finish(&mut self, log: &mut Vec<Diagnostic>) {
        if self.searches.is_empty() {
            self.search_add(b"updates", log);
        }
    }

    /// Does depmod skip the directory entry `name` while scanning?  `.`, `..`,
    /// `build`, `source` and every `exclude` name are skipped, files and directories
    /// alike.
    #[must_use]
    pub fn is_excluded(&self, name: &[u8]) -> bool {
        matches!(name, b"." | b".." | b"build" | b"source")
            || self.excludes.iter().any(|e| e == name)
    }

    /// The priority number a module path gets on its own (overrides ignored): that of
    /// the highest-priority `search` entry matching it, else the `built-in` number,
    /// else -1.  Higher wins; the first-listed search entry has the highest number.  `dirname` is the module
    /// directory, `modname` the module name (only its length matters).  The real
    /// decision between two candidates is [`DepmodConfig::new_wins`], which differs
    /// from comparing two `priority` values (see there).
    #[must_use]
    pub fn priority(&self, dirname: &[u8], path: &[u8], modname: &[u8]) -> i32 {
        let p = PathView::new(dirname, path, modname.len());
        let (mut i, mut bprio, mut prio) = (0i32, -1i32, -1i32);
        for se in &self.searches {
            match se {
                Search::BuiltIn => bprio = i,
                Search::External => {
                    for ext in &self.externals {
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
    pub fn new_wins(
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

/// POSIX extended regular expressions with glibc's `regcomp(REG_EXTENDED)` syntax in
/// the C locale, answering only "is there a match anywhere".
mod ere {
    use std::collections::HashMap;
    use std::rc::Rc;

    /// glibc's `RE_DUP_MAX`.
    const DUP_MAX: u32 = 0x7fff;
    /// Expressions nested deeper than this (parentheses, or operators applied to
    /// operators) are refused as invalid, to bound recursion; glibc accepts them.
    const MAX_DEPTH: u32 = 500;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Assert {
        LineFirst,
        LineLast,
        WordFirst,
        WordLast,
        WordDelim,
        NotWordDelim,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Tok {
        End,
        BackslashAtEnd,
        Char(u8),
        Alt,
        Star,
        Plus,
        Question,
        OpenDup,
        CloseDup,
        Open,
        Close,
        Bracket,
        Period,
        Anchor(Assert),
        /// `\w`, `\W`, `\s`, `\S`.
        Class(u8),
        BackRef(u8),
    }

    #[derive(Debug)]
    enum Node {
        Empty,
        Set(Box<[bool; 256]>),
        Assert(Assert),
        Concat(Vec<usize>),
        Alt(Vec<usize>),
        Repeat(usize, u32, Option<u32>),
    }

    #[derive(Debug)]
    enum Fail {
        Invalid,
        Unsupported,
    }

    type R<T> = Result<T, Fail>;

    struct Parser<'a> {
        p: &'a [u8],
        i: usize,
        tok: Tok,
        nodes: Vec<Node>,
        depth: Vec<u32>,
        nsub: u32,
        completed: u32,
    }

    fn is_word(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'_'
    }

    fn is_space(c: u8) -> bool {
        matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    }

    fn set_of(f: impl Fn(u8) -> bool) -> Box<[bool; 256]> {
        let mut s = Box::new([false; 256]);
        for c in 0..=255u8 {
            s[c as usize] = f(c);
        }
        s
    }

    fn class_named(name: &[u8]) -> Option<fn(u8) -> bool> {
        Some(match name {
            b"alpha" => |c: u8| c.is_ascii_alphabetic(),
            b"upper" => |c: u8| c.is_ascii_uppercase(),
            b"lower" => |c: u8| c.is_ascii_lowercase(),
            b"digit" => |c: u8| c.is_ascii_digit(),
            b"xdigit" => |c: u8| c.is_ascii_hexdigit(),
            b"space" => is_space,
            b"print" => |c: u8| (0x20..0x7f).contains(&c),
            b"punct" => |c: u8| c.is_ascii_punctuation(),
            b"graph" => |c: u8| c.is_ascii_graphic(),
            b"cntrl" => |c: u8| c < 0x20 || c == 0x7f,
            b"blank" => |c: u8| c == b' ' || c == b'\t',
            b"alnum" => |c: u8| c.is_ascii_alphanumeric(),
            _ => return None,
        })
    }

    /// One bracket element: a byte, or a class/equivalence name.
    enum Elem {
        Byte(u8),
        Coll(Vec<u8>),
        Equiv(Vec<u8>),
        Class(Vec<u8>),
    }

    /// Bracket-context token kinds.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum BTok {
        End,
        Char(u8),
        Range,
        Close,
        NonMatch,
        OpenColl,
        OpenEquiv,
        OpenClass,
    }

    impl Parser<'_> {
        fn add(&mut self, n: Node, depth: u32) -> R<usize> {
            if depth > MAX_DEPTH {
                return Err(Fail::Invalid);
            }
            self.nodes.push(n);
            self.depth.push(depth);
            Ok(self.nodes.len() - 1)
        }

        fn leaf(&mut self, n: Node) -> R<usize> {
            self.add(n, 1)
        }

        /// Read the next token (glibc's `peek_token` + skip, ERE syntax).
        fn fetch(&mut self) {
            let Some(&c) = self.p.get(self.i) else {
                self.tok = Tok::End;
                return;
            };
            self.i += 1;
            self.tok = match c {
                b'\\' => {
                    let Some(&c2) = self.p.get(self.i) else {
                        self.tok = Tok::BackslashAtEnd;
                        return;
                    };
                    self.i += 1;
                    match c2 {
                        b'1'..=b'9' => Tok::BackRef(c2 - b'1'),
                        b'<' => Tok::Anchor(Assert::WordFirst),
                        b'>' => Tok::Anchor(Assert::WordLast),
                        b'b' => Tok::Anchor(Assert::WordDelim),
                        b'B' => Tok::Anchor(Assert::NotWordDelim),
                        b'`' => Tok::Anchor(Assert::LineFirst),
                        b'\'' => Tok::Anchor(Assert::LineLast),
                        b'w' | b'W' | b's' | b'S' => Tok::Class(c2),
                        _ => Tok::Char(c2),
                    }
                }
                b'|' => Tok::Alt,
                b'*' => Tok::Star,
                b'+' => Tok::Plus,
                b'?' => Tok::Question,
                b'{' => Tok::OpenDup,
                b'}' => Tok::CloseDup,
                b'(' => Tok::Open,
                b')' => Tok::Close,
                b'[' => Tok::Bracket,
                b'.' => Tok::Period,
                b'^' => Tok::Anchor(Assert::LineFirst),
                b'$' => Tok::Anchor(Assert::LineLast),
                _ => Tok::Char(c),
            };
        }

        fn parse(mut self) -> R<(Vec<Node>, Option<usize>)> {
            self.fetch();
            let root = self.reg_exp(0)?;
            Ok((self.nodes, root))
        }

        fn reg_exp(&mut self, nest: u32) -> R<Option<usize>> {
            let initial = self.completed;
            let first = self.branch(nest)?;
            if self.tok != Tok::Alt {
                return Ok(first);
            }
            let mut alts = vec![first];
            while self.tok == Tok::Alt {
                self.fetch();
                let stop = matches!(self.tok, Tok::Alt | Tok::End)
                    || (nest != 0 && self.tok == Tok::Close);
                if stop {
                    alts.push(None);
                } else {
                    let accumulated = self.completed;
                    self.completed = initial;
                    let b = self.branch(nest)?;
                    self.completed |= accumulated;
                    alts.push(b);
                }
            }
            let mut ids = Vec::new();
            for a in alts {
                let id = match a {
                    Some(id) => id,
                    None => self.leaf(Node::Empty)?,
                };
                ids.push(id);
            }
            let d = ids.iter().map(|&i| self.depth[i]).max().unwrap_or(0) + 1;
            Ok(Some(self.add(Node::Alt(ids), d)?))
        }

        fn branch(&mut self, nest: u32) -> R<Option<usize>> {
            let mut parts = Vec::new();
            if let Some(e) = self.expression(nest)? {
                parts.push(e);
            }
            while !(matches!(self.tok, Tok::Alt | Tok::End)
                || (nest != 0 && self.tok == Tok::Close))
            {
                if let Some(e) = self.expression(nest)? {
                    parts.push(e);
                }
            }
            match parts.len() {
                0 => Ok(None),
                1 => Ok(Some(parts[0])),
                _ => {
                    let d = parts.iter().map(|&i| self.depth[i]).max().unwrap_or(0) + 1;
                    Ok(Some(self.add(Node::Concat(parts), d)?))
                }
            }
        }

        fn expression(&mut self, nest: u32) -> R<Option<usize>> {
            let tree = match self.tok {
                // A repetition operator with nothing to repeat (REG_BADRPT), or a
                // lone trailing backslash (REG_EESCAPE).
                Tok::Star | Tok::Plus | Tok::Question | Tok::OpenDup | Tok::BackslashAtEnd => {
                    return Err(Fail::Invalid);
                }
                Tok::Char(c) => Some(self.leaf(Node::Set(set_of(|x| x == c)))?),
                Tok::Close => Some(self.leaf(Node::Set(set_of(|x| x == b')')))?),
                Tok::CloseDup => Some(self.leaf(Node::Set(set_of(|x| x == b'}')))?),
                Tok::Period => Some(self.leaf(Node::Set(set_of(|x| x != 0)))?),
                Tok::Class(k) => {
                    let s = match k {
                        b'w' => set_of(is_word),
                        b'W' => set_of(|c| !is_word(c)),
                        b's' => set_of(is_space),
                        _ => set_of(|c| !is_space(c)),
                    };
                    Some(self.leaf(Node::Set(s))?)
                }
                Tok::Bracket => {
                    let s = self.bracket()?;
                    Some(self.leaf(Node::Set(s))?)
                }
                Tok::Open => Some(self.group(nest)?),
                Tok::BackRef(n) => {
                    return Err(if self.completed & (1 << n) == 0 {
                        Fail::Invalid
                    } else {
                        Fail::Unsupported
                    });
                }
                Tok::Anchor(a) => {
                    // Anchors take no repetition: the next operator starts over.
                    let id = self.leaf(Node::Assert(a))?;
                    self.fetch();
                    return Ok(Some(id));
                }
                Tok::Alt | Tok::End => return Ok(None),
            };
            self.fetch();
            let mut tree = tree;
            while matches!(
                self.tok,
                Tok::Star | Tok::Plus | Tok::Question | Tok::OpenDup
            ) {
                tree = self.dup(tree)?;
            }
            Ok(tree)
        }

        /// A parenthesised group; the current token is `(`.
        fn group(&mut self, nest: u32) -> R<usize> {
            if nest >= MAX_DEPTH {
                return Err(Fail::Invalid);
            }
            let sub = self.nsub;
            self.nsub += 1;
            self.fetch();
            let tree = if self.tok == Tok::Close {
                None
            } else {
                let t = self.reg_exp(nest + 1)?;
                if self.tok != Tok::Close {
                    return Err(Fail::Invalid);
                }
                t
            };
            if sub <= 8 {
                self.completed |= 1 << sub;
            }
            match tree {
                Some(t) => Ok(t),
                None => self.leaf(Node::Empty),
            }
        }

        /// glibc's `fetch_number`: -1 nothing, -2 invalid.
        fn number(&mut self) -> i64 {
            let mut num: i64 = -1;
            loop {
                self.fetch();
                match self.tok {
                    Tok::End => return -2,
                    Tok::CloseDup | Tok::Char(b',') => return num,
                    Tok::Char(c @ b'0'..=b'9') if num != -2 => {
                        let d = i64::from(c - b'0');
                        num = if num == -1 {
                            d
                        } else {
                            (num * 10 + d).min(i64::from(DUP_MAX) + 1)
                        };
                    }
                    _ => num = -2,
                }
            }
        }

        fn dup(&mut self, elem: Option<usize>) -> R<Option<usize>> {
            let (start, end): (u32, Option<u32>) = if self.tok == Tok::OpenDup {
                let mut start = self.number();
                if start == -1 {
                    if self.tok == Tok::Char(b',') {
                        start = 0;
                    } else {
                        return Err(Fail::Invalid);
                    }
                }
                let mut end = -2;
                if start != -2 {
                    end = match self.tok {
                        Tok::CloseDup => start,
                        Tok::Char(b',') => self.number(),
                        _ => -2,
                    };
                }
                if start == -2 || end == -2 {
                    return Err(Fail::Invalid);
                }
                if (end != -1 && start > end) || self.tok != Tok::CloseDup {
                    return Err(Fail::Invalid);
                }
                if i64::from(DUP_MAX) < (if end == -1 { start } else { end }) {
                    return Err(Fail::Invalid);
                }
                let s = u32::try_from(start).map_err(|_| Fail::Invalid)?;
                let e = if end == -1 {
                    None
                } else {
                    Some(u32::try_from(end).map_err(|_| Fail::Invalid)?)
                };
                (s, e)
            } else {
                match self.tok {
                    Tok::Plus => (1, None),
                    Tok::Question => (0, Some(1)),
                    _ => (0, None),
                }
            };
            self.fetch();
            let Some(elem) = elem else { return Ok(None) };
            if start == 0 && end == Some(0) {
                return Ok(None);
            }
            // Stacked operators on x*, x+ or x? fold into one repetition (same
            // language), so that `a*****...` stays shallow.
            if let Node::Repeat(x, a, b) = self.nodes[elem] {
                let folded = match (a, b) {
                    (0, None) => Some((0, None)),
                    (1, None) => Some((start, None)),
                    (0, Some(1)) => Some((0, end)),
                    _ => None,
                };
                if let Some((min, max)) = folded {
                    let d = self.depth[x] + 1;
                    return Ok(Some(self.add(Node::Repeat(x, min, max), d)?));
                }
            }
            let d = self.depth[elem] + 1;
            Ok(Some(self.add(Node::Repeat(elem, start, end), d)?))
        }

        fn btok(&self) -> (BTok, usize) {
            let Some(&c) = self.p.get(self.i) else {
                return (BTok::End, 0);
            };
            if c == b'[' {
                let c2 = self.p.get(self.i + 1).copied().unwrap_or(0);
                return match c2 {
                    b'.' => (BTok::OpenColl, 2),
                    b'=' => (BTok::OpenEquiv, 2),
                    b':' => (BTok::OpenClass, 2),
                    _ => (BTok::Char(c), 1),
                };
            }
            (
                match c {
                    b'-' => BTok::Range,
                    b']' => BTok::Close,
                    b'^' => BTok::NonMatch,
                    _ => BTok::Char(c),
                },
                1,
            )
        }

        fn bracket_symbol(&mut self, kind: BTok) -> R<Elem> {
            let delim = match kind {
                BTok::OpenColl => b'.',
                BTok::OpenEquiv => b'=',
                _ => b':',
            };
            if self.i >= self.p.len() {
                return Err(Fail::Invalid);
            }
            let mut name = Vec::new();
            loop {
                if name.len() >= 32 {
                    return Err(Fail::Invalid);
                }
                let ch = self.p[self.i];
                self.i += 1;
                if self.i >= self.p.len() {
                    return Err(Fail::Invalid);
                }
                if ch == delim && self.p[self.i] == b']' {
                    break;
                }
                name.push(ch);
            }
            self.i += 1;
            Ok(match kind {
                BTok::OpenColl => Elem::Coll(name),
                BTok::OpenEquiv => Elem::Equiv(name),
                _ => Elem::Class(name),
            })
        }

        fn bracket_element(&mut self, tok: BTok, len: usize, accept_hyphen: bool) -> R<Elem> {
            self.i += len;
            match tok {
                BTok::OpenColl | BTok::OpenEquiv | BTok::OpenClass => self.bracket_symbol(tok),
                BTok::Range => {
                    if !accept_hyphen && self.btok().0 != BTok::Close {
                        return Err(Fail::Invalid);
                    }
                    Ok(Elem::Byte(b'-'))
                }
                BTok::Close => Ok(Elem::Byte(b']')),
                BTok::NonMatch => Ok(Elem::Byte(b'^')),
                BTok::Char(c) => Ok(Elem::Byte(c)),
                BTok::End => Err(Fail::Invalid),
            }
        }

        fn range_end(e: &Elem) -> R<u8> {
            match e {
                Elem::Byte(c) => Ok(*c),
                Elem::Coll(n) if n.len() == 1 => Ok(n[0]),
                _ => Err(Fail::Invalid),
            }
        }

        /// A bracket expression; the input is just past `[`.
        fn bracket(&mut self) -> R<Box<[bool; 256]>> {
            let mut set = Box::new([false; 256]);
            let (mut tok, mut len) = self.btok();
            if tok == BTok::End {
                return Err(Fail::Invalid);
            }
            let mut non_match = false;
            if tok == BTok::NonMatch {
                non_match = true;
                self.i += len;
                (tok, len) = self.btok();
                if tok == BTok::End {
                    return Err(Fail::Invalid);
                }
            }
            if tok == BTok::Close {
                tok = BTok::Char(b']');
            }
            let mut first = true;
            loop {
                let start = self.bracket_element(tok, len, first)?;
                first = false;
                (tok, len) = self.btok();
                let mut range_end = None;
                if !matches!(start, Elem::Class(_) | Elem::Equiv(_)) {
                    if tok == BTok::End {
                        return Err(Fail::Invalid);
                    }
                    if tok == BTok::Range {
                        self.i += len;
                        let (tok2, len2) = self.btok();
                        if tok2 == BTok::End {
                            return Err(Fail::Invalid);
                        }
                        if tok2 == BTok::Close {
                            // A last '-' is an ordinary character.
                            self.i -= len;
                            tok = BTok::Char(b'-');
                        } else {
                            range_end = Some(self.bracket_element(tok2, len2, true)?);
                            (tok, len) = self.btok();
                        }
                    }
                }
                if let Some(end) = range_end {
                    if matches!(start, Elem::Class(_) | Elem::Equiv(_))
                        || matches!(end, Elem::Class(_) | Elem::Equiv(_))
                    {
                        return Err(Fail::Invalid);
                    }
                    let (a, b) = (Self::range_end(&start)?, Self::range_end(&end)?);
                    if a > b {
                        return Err(Fail::Invalid);
                    }
                    for c in a..=b {
                        set[c as usize] = true;
                    }
                } else {
                    match start {
                        Elem::Byte(c) => set[c as usize] = true,
                        Elem::Coll(n) | Elem::Equiv(n) => {
                            if n.len() != 1 {
                                return Err(Fail::Invalid);
                            }
                            set[n[0] as usize] = true;
                        }
                        Elem::Class(n) => {
                            let f = class_named(&n).ok_or(Fail::Invalid)?;
                            for c in 0..=255u8 {
                                if f(c) {
                                    set[c as usize] = true;
                                }
                            }
                        }
                    }
                }
                if tok == BTok::End {
                    return Err(Fail::Invalid);
                }
                if tok == BTok::Close {
                    break;
                }
            }
            self.i += len;
            if non_match {
                for b in set.iter_mut() {
                    *b = !*b;
                }
            }
            Ok(set)
        }
    }

    /// A set of text positions `0..=len`, as a bitset.
    type PosSet = Vec<u64>;

    fn put(s: &mut PosSet, i: usize) {
        s[i / 64] |= 1 << (i % 64);
    }

    fn union(into: &mut PosSet, from: &PosSet) {
        for (a, b) in into.iter_mut().zip(from) {
            *a |= *b;
        }
    }

    fn is_empty(s: &PosSet) -> bool {
        s.iter().all(|&w| w == 0)
    }

    fn members(s: &PosSet) -> impl Iterator<Item = usize> + '_ {
        s.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }

    /// Memoised sets allowed before giving up (as "no match"): 128 MiB of bitsets.
    const MEMO_BUDGET_WORDS: usize = 16 << 20;

    /// The memory budget ran out.
    struct OverBudget;

    struct Matcher<'a> {
        nodes: &'a [Node],
        text: &'a [u8],
        words: usize,
        /// Sets stored so far, for the budget.
        stored: usize,
        memo: HashMap<(usize, usize), Rc<PosSet>>,
        /// For a node `x`: the ends of `x*` from every position.
        star: HashMap<usize, Rc<Vec<PosSet>>>,
    }

    impl Matcher<'_> {
        fn word_before(&self, pos: usize) -> bool {
            pos > 0 && is_word(self.text[pos - 1])
        }

        fn word_after(&self, pos: usize) -> bool {
            self.text.get(pos).is_some_and(|&c| is_word(c))
        }

        fn holds(&self, a: Assert, pos: usize) -> bool {
            let (b, f) = (self.word_before(pos), self.word_after(pos));
            match a {
                Assert::LineFirst => pos == 0,
                Assert::LineLast => pos == self.text.len(),
                Assert::WordFirst => !b && f,
                Assert::WordLast => b && !f,
                Assert::WordDelim => b != f,
                Assert::NotWordDelim => b == f,
            }
        }

        fn empty(&self) -> PosSet {
            vec![0; self.words]
        }

        /// End positions of `node` matched from `start`.
        fn reach(&mut self, node: usize, start: usize) -> Result<Rc<PosSet>, OverBudget> {
            if let Some(r) = self.memo.get(&(node, start)) {
                return Ok(Rc::clone(r));
            }
            self.charge(1)?;
            let mut out = self.empty();
            let nodes = self.nodes;
            match &nodes[node] {
                Node::Empty => put(&mut out, start),
                Node::Set(s) => {
                    if let Some(&c) = self.text.get(start)
                        && s[c as usize]
                    {
                        put(&mut out, start + 1);
                    }
                }
                Node::Assert(a) => {
                    if self.holds(*a, start) {
                        put(&mut out, start);
                    }
                }
                Node::Concat(parts) => {
                    put(&mut out, start);
                    for &p in parts {
                        out = self.apply(p, &out)?;
                    }
                }
                Node::Alt(alts) => {
                    for &a in alts {
                        let r = self.reach(a, start)?;
                        union(&mut out, &r);
                    }
                }
                &Node::Repeat(sub, min, max) => {
                    let mut cur = self.empty();
                    put(&mut cur, start);
                    cur = self.exactly(sub, cur, min)?;
                    out = match max {
                        None => {
                            let star = self.star_of(sub)?;
                            let mut all = self.empty();
                            for p in members(&cur) {
                                union(&mut all, &star[p]);
                            }
                            all
                        }
                        Some(max) => self.up_to(sub, cur, max - min)?,
                    };
                }
            }
            let out = Rc::new(out);
            self.memo.insert((node, start), Rc::clone(&out));
            Ok(out)
        }

        /// Account for `sets` more stored sets.
        fn charge(&mut self, sets: usize) -> Result<(), OverBudget> {
            self.stored = self.stored.saturating_add(sets);
            if self.stored.saturating_mul(self.words) > MEMO_BUDGET_WORDS {
                return Err(OverBudget);
            }
            Ok(())
        }

        /// The ends of `sub*` from every position, computed right to left: from `s`,
        /// the closure is `s` plus the closures of the later positions one `sub`
        /// reaches (matches never go backwards).
        fn star_of(&mut self, sub: usize) -> Result<Rc<Vec<PosSet>>, OverBudget> {
            if let Some(t) = self.star.get(&sub) {
                return Ok(Rc::clone(t));
            }
            let n = self.text.len();
            self.charge(n + 1)?;
            let mut table = vec![self.empty(); n + 1];
            for s in (0..=n).rev() {
                let mut out = self.empty();
                put(&mut out, s);
                let r = self.reach(sub, s)?;
                for x in members(&r).filter(|&x| x > s) {
                    union(&mut out, &table[x]);
                }
                table[s] = out;
            }
            let table = Rc::new(table);
            self.star.insert(sub, Rc::clone(&table));
            Ok(table)
        }

        fn apply(&mut self, node: usize, from: &PosSet) -> Result<PosSet, OverBudget> {
            let mut out = self.empty();
            for s in members(from) {
                let r = self.reach(node, s)?;
                union(&mut out, &r);
            }
            Ok(out)
        }

        /// Positions reached after exactly `n` matches of `sub`.
        fn exactly(&mut self, sub: usize, mut cur: PosSet, n: u32) -> Result<PosSet, OverBudget> {
            let mut seen: HashMap<PosSet, u32> = HashMap::new();
            let mut history: Vec<PosSet> = Vec::new();
            let mut i = 0;
            while i < n {
                if is_empty(&cur) {
                    return Ok(cur);
                }
                if let Some(&j) = seen.get(&cur) {
                    // Periodic from step j on: jump to the equivalent step.
                    let k = j + (n - j) % (i - j);
                    return Ok(history[k as usize].clone());
                }
                seen.insert(cur.clone(), i);
                history.push(cur.clone());
                cur = self.apply(sub, &cur)?;
                i += 1;
            }
            Ok(cur)
        }

        /// Positions reached after at most `n` more matches.
        fn up_to(&mut self, sub: usize, cur: PosSet, n: u32) -> Result<PosSet, OverBudget> {
            let mut all = cur.clone();
            let mut frontier = cur;
            let mut i = 0u32;
            while i < n {
                let next = self.apply(sub, &frontier)?;
                let mut fresh = self.empty();
                for ((f, a), x) in fresh.iter_mut().zip(all.iter_mut()).zip(&next) {
                    *f = x & !*a;
                    *a |= x;
                }
                if is_empty(&fresh) {
                    break;
                }
                frontier = fresh;
                i += 1;
            }
            Ok(all)
        }
    }

    /// Does `pattern` match somewhere in `text`?  Invalid or unsupported patterns
    /// never match.
    pub(super) fn search(pattern: &[u8], text: &[u8]) -> bool {
        // Like C strings: stop at a NUL byte.
        let cut = |b: &[u8]| -> usize { b.iter().position(|&c| c == 0).unwrap_or(b.len()) };
        let pattern = &pattern[..cut(pattern)];
        let text = &text[..cut(text)];
        let parser = Parser {
            p: pattern,
            i: 0,
            tok: Tok::End,
            nodes: Vec::new(),
            depth: Vec::new(),
            nsub: 0,
            completed: 0,
        };
        let Ok((nodes, root)) = parser.parse() else {
            return false;
        };
        let Some(root) = root else { return true };
        let mut m = Matcher {
            nodes: &nodes,
            text,
            words: text.len() / 64 + 1,
            stored: 0,
            memo: HashMap::new(),
            star: HashMap::new(),
        };
        for s in 0..=text.len() {
            match m.reach(root, s) {
                Ok(r) if !is_empty(&r) => return true,
                Ok(_) => {}
                Err(OverBudget) => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kmodrs-depcfg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn parse(text: &str, kver: &str) -> (DepmodConfig, Vec<Diagnostic>) {
        let mut cfg = DepmodConfig::default();
        let mut log = Vec::new();
        cfg.parse_bytes("f.conf", text.as_bytes(), kver.as_bytes(), &mut log);
        (cfg, log)
    }

    fn msgs(log: &[Diagnostic], level: Level) -> Vec<String> {
        log.iter()
            .filter(|d| d.level == level)
            .map(|d| d.message.clone())
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
        let (files, _) = DepmodConfig::config_files(&root, &[]);
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.conf", "b.conf", "link.conf"]);
        assert!(files[1].starts_with(&first));
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
                .any(|d| d.message.starts_with("Ignoring duplicate config file: "))
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
        assert_eq!(c.priority(D, &p("updates/a.ko"), b"a"), 0);
        assert_eq!(c.priority(D, &p("kernel/a.ko"), b"a"), -1);
        // A directory merely starting with the search word does not match.
        assert!(!c.new_wins(D, &p("kernel/a.ko"), &p("updates2/a.ko"), b"a"));
    }

    #[test]
    fn search_order_and_builtin() {
        let c = cfg("search extra built-in updates\n");
        assert_eq!(c.priority(D, &p("extra/a.ko"), b"a"), 2);
        assert_eq!(c.priority(D, &p("kernel/a.ko"), b"a"), 1);
        assert_eq!(c.priority(D, &p("updates/a.ko"), b"a"), 0);
        assert!(c.new_wins(D, &p("kernel/a.ko"), &p("extra/a.ko"), b"a"));
        assert!(!c.new_wins(D, &p("kernel/a.ko"), &p("updates/a.ko"), b"a"));
        assert!(c.new_wins(D, &p("updates/a.ko"), &p("kernel/a.ko"), b"a"));
        // Nested search directories: the higher-priority entry counts.
        let c = cfg("search updates/dkms updates\n");
        assert_eq!(c.priority(D, &p("updates/dkms/a.ko"), b"a"), 1);
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
        assert_eq!(c.priority(D, b"/opt/two/a.ko", b"a"), 0);
        assert_eq!(c.priority(D, b"/opt/one/sub/a.ko", b"a"), 1);
        assert_eq!(c.priority(D, &p("updates/a.ko"), b"a"), 3);
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
