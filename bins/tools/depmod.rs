//! `depmod`: generate `modules.dep` and the other module indexes (kmod's
//! `tools/depmod.c`; the work is the library's [`libkmod_rs::Depmod`]).

use super::common;
use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::json;
use crate::usage::{self, Layout, Part};
use libkmod_rs::{Depmod, DepmodOptions, DepmodReport, Diagnostic, Error, Level, Sink};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// What depmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-a`.
    All,
    /// `-A`.
    Quick,
    /// `-b DIR`.
    Basedir,
    /// `-m DIR`.
    Moduledir,
    /// `-o DIR`.
    Outdir,
    /// `-C PATH`.
    Config,
    /// `-E FILE`.
    Symvers,
    /// `-F FILE`.
    Filesyms,
    /// `-e`.
    Errsyms,
    /// `-v`.
    Verbose,
    /// `-n`.
    Show,
    /// `-P C`.
    SymbolPrefix,
    /// `-w`.
    Warn,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
    /// `--check` (beyond kmod).
    Check,
    /// `--no-cache` (beyond kmod).
    NoCache,
    /// `--json` (beyond kmod).
    Json,
}

/// depmod's options, in kmod's order.
pub const OPTS: &[Opt<Id>] = &[
    Opt::new(b'a', "all", HasArg::No, Id::All, "Probe all modules"),
    Opt::new(
        b'A',
        "quick",
        HasArg::No,
        Id::Quick,
        "Only does the work if there's a new module",
    ),
    Opt::new(
        b'b',
        "basedir",
        HasArg::Required,
        Id::Basedir,
        "Root path (default: /).",
    )
    .metavar("=DIR"),
    Opt::new(
        b'm',
        "moduledir",
        HasArg::Required,
        Id::Moduledir,
        "Module directory (default: /lib/modules).",
    )
    .metavar("=DIR"),
    Opt::new(
        b'o',
        "outdir",
        HasArg::Required,
        Id::Outdir,
        "Output root path (default: same as <basedir>).",
    )
    .metavar("=DIR"),
    Opt::new(
        b'C',
        "config",
        HasArg::Required,
        Id::Config,
        "Read configuration from PATH",
    )
    .metavar("=PATH"),
    Opt::new(
        b'E',
        "symvers",
        HasArg::Required,
        Id::Symvers,
        "Use Module.symvers file to check\nsymbol versions.",
    )
    .metavar("=FILE"),
    Opt::new(
        b'F',
        "filesyms",
        HasArg::Required,
        Id::Filesyms,
        "Use the file instead of the\ncurrent kernel symbols.",
    )
    .metavar("=FILE"),
    Opt::new(
        b'e',
        "errsyms",
        HasArg::No,
        Id::Errsyms,
        "Report not supplied symbols",
    ),
    Opt::new(
        b'v',
        "verbose",
        HasArg::No,
        Id::Verbose,
        "Enable verbose mode",
    ),
    Opt::new(
        b'n',
        "show",
        HasArg::No,
        Id::Show,
        "Write the dependency file on stdout only",
    ),
    // not listed by kmod's --help
    Opt::new(b'n', "dry-run", HasArg::No, Id::Show, ""),
    Opt::new(
        b'P',
        "symbol-prefix",
        HasArg::Required,
        Id::SymbolPrefix,
        "Architecture symbol prefix",
    ),
    Opt::new(b'w', "warn", HasArg::No, Id::Warn, "Warn on duplicates"),
    getopt::version(Id::Version),
    getopt::help(Id::Help),
    getopt::json(
        Id::Json,
        "Print a JSON report (with -n: instead of the outputs)",
    ),
    Opt::long(
        "check",
        HasArg::No,
        Id::Check,
        "List the stale or missing indexes,\nwrite nothing (exit 1 if any)",
    )
    .beyond_kmod(),
    Opt::long(
        "no-cache",
        HasArg::No,
        Id::NoCache,
        "Do not use modules.kmod-rs-cache.bin",
    )
    .beyond_kmod(),
];

/// `--help`.
pub const HELP: Layout = Layout {
    width: 21,
    parts: &[
        Part::Text(
            "Usage:\n\t{prog} -[aA] [options] [forced_version]\n\n\
If no arguments (except options) are given, \"depmod -a\" is assumed\n\n\
depmod will output a dependency list suitable for the modprobe utility.\n\n\
Options:\n",
        ),
        Part::Rows(&[
            "all",
            "quick",
            "errsyms",
            "show",
            "symbol-prefix",
            "config",
            "verbose",
            "warn",
            "json",
            "check",
            "no-cache",
            "version",
            "help",
        ]),
        Part::Text("\nThe following options are useful for people managing distributions:\n"),
        Part::Rows(&["basedir", "moduledir", "outdir", "filesyms", "symvers"]),
    ],
};

/// `sscanf(v, "%u.%u") == 2`.
fn is_version_number(v: &[u8]) -> bool {
    fn num(s: &[u8], pos: &mut usize) -> bool {
        while *pos < s.len() && s[*pos].is_ascii_whitespace() {
            *pos += 1;
        }
        if matches!(s.get(*pos), Some(b'+' | b'-')) {
            *pos += 1;
        }
        let start = *pos;
        while *pos < s.len() && s[*pos].is_ascii_digit() {
            *pos += 1;
        }
        *pos > start
    }
    let mut pos = 0;
    if !num(v, &mut pos) || v.get(pos) != Some(&b'.') {
        return false;
    }
    pos += 1;
    num(v, &mut pos)
}

fn path_of(b: &[u8]) -> PathBuf {
    PathBuf::from(getopt::os(b))
}

/// Run depmod. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = usage::short_name(argv0);
    let mut log = Log::new(&prog);
    let mut all = false;
    let mut quick = false;
    let mut dry_run = false;
    let mut json = false;
    let mut check = false;
    let mut no_cache = false;
    let mut root: Vec<u8> = Vec::new();
    let mut moddir: Vec<u8> = libkmod_rs::MODULE_DIR.as_bytes().to_vec();
    let mut out_root: Option<Vec<u8>> = None;
    let mut opts = DepmodOptions::default();
    let mut verbose = 0;
    let mut options = Getopt::new(argv0, args, OPTS, env.vars.posixly_correct);
    // the options are acted on in order (a bad -P ends depmod before a later --json
    // is seen): the report is kept whatever comes
    let report = Report::default();
    for f in options.by_ref() {
        let v = f.arg().to_vec();
        match f.id {
            Id::All => all = true,
            Id::Quick => quick = true,
            Id::Basedir => root = absolute(env, &v),
            Id::Moduledir => moddir = v,
            Id::Outdir => out_root = Some(absolute(env, &v)),
            Id::Config => opts.config.push(path_of(&v)),
            Id::Symvers => opts.symvers = Some(path_of(&v)),
            Id::Filesyms => opts.system_map = Some(path_of(&v)),
            Id::Errsyms => opts.report_unknown = true,
            Id::Verbose => verbose += 1,
            Id::Show => dry_run = true,
            Id::Json => json = true,
            Id::Check => check = true,
            Id::NoCache => no_cache = true,
            Id::SymbolPrefix => {
                if v.len() != 1 {
                    let m = b"-P only takes a single char\n";
                    log.fatal(env.err, m);
                    if json {
                        report.messages.borrow_mut().push((Level::Crit, m.to_vec()));
                        let _ = json::emit(env.out, &report.doc());
                    }
                    return if check { 2 } else { 1 };
                }
                opts.symbol_prefix = Some(v[0]);
            }
            Id::Warn => opts.warn_duplicates = true,
            Id::Help | Id::Version => {
                return usage::help_or_version(f.id == Id::Help, env, || HELP.render(OPTS, &prog));
            }
        }
    }
    let Some(operands) = options.finish(env.err) else {
        // `--check`'s errors are 2 (1 means "stale"), its own misuse included
        return if check || args.iter().any(|a| a == "--check") {
            2
        } else {
            1
        };
    };
    log.set_threshold(match verbose {
        0 => Level::Warning,
        1 => Level::Notice,
        2 => Level::Info,
        _ => Level::Debug,
    });
    opts.verbose = verbose > 0;
    let mut t = Tool {
        log,
        report: json.then_some(report),
    };
    let code = t.depmod(
        env,
        opts,
        &Dirs {
            all,
            quick,
            dry_run,
            check,
            no_cache,
            root,
            moddir,
            out_root,
        },
        operands,
    );
    if let Some(r) = t.report.take() {
        let _ = json::emit(env.out, &r.doc());
    }
    code
}

/// Where depmod reads and writes, and what it does.
struct Dirs {
    all: bool,
    quick: bool,
    dry_run: bool,
    /// `--check`: list the stale outputs, write nothing.
    check: bool,
    /// `--no-cache`.
    no_cache: bool,
    root: Vec<u8>,
    moddir: Vec<u8>,
    out_root: Option<Vec<u8>>,
}

/// `--json`: the report being gathered.
#[derive(Default)]
struct Report {
    doc: json::Depmod,
    /// Every message, as printed or not (the threshold is for stderr only).
    messages: std::cell::RefCell<Vec<(Level, Vec<u8>)>>,
}

impl Report {
    /// The document, with the messages sorted into warnings, errors and the
    /// duplicate index entries (`-w`).
    fn doc(mut self) -> json::Depmod {
        let messages = std::mem::take(&mut *self.messages.borrow_mut());
        for (level, m) in messages {
            if level > Level::Warning {
                continue;
            }
            if let Some(rest) = m.strip_prefix(b"duplicate module ")
                && let Some(colon) = rest.iter().position(|&c| c == b':')
                && rest.get(colon + 1) == Some(&b'\n')
            {
                self.doc.duplicate_index_entries.push(json::DuplicateEntry {
                    index: String::from_utf8_lossy(&rest[..colon]).into_owned(),
                    entry: json::Bytes::message(&rest[colon + 2..]),
                });
            }
            let msg = json::Message::new(None, level, &m);
            if level == Level::Warning {
                self.doc.warnings.push(msg);
            } else {
                self.doc.errors.push(msg);
            }
        }
        self.doc.counts.warnings = self.doc.warnings.len();
        self.doc.counts.errors = self.doc.errors.len();
        self.doc
    }
}

/// depmod after its options.
struct Tool {
    log: Log,
    report: Option<Report>,
}

impl Tool {
    /// The library's messages: printed as depmod prints them, and kept for the
    /// report.
    fn sink<'a>(&'a self, err: &'a mut dyn std::io::Write) -> impl Sink + 'a {
        let mut printed = self.log.sink(err);
        move |d: Diagnostic| {
            if let Some(r) = &self.report {
                r.messages.borrow_mut().push((d.level, d.message.clone()));
            }
            printed.report(d);
        }
    }

    fn say(&self, env: &mut Env<'_>, level: Level, m: &[u8]) {
        self.sink(env.err)
            .report(Diagnostic::new(level, "depmod", m.to_vec()));
    }

    fn depmod(
        &mut self,
        env: &mut Env<'_>,
        mut opts: DepmodOptions,
        d: &Dirs,
        operands: Vec<Vec<u8>>,
    ) -> i32 {
        let mut all = d.all;
        // `--check`: errors are 2 (1 means "stale")
        let failed = if d.check { 2 } else { 1 };
        let mut operands = operands.into_iter();
        let kversion = match operands.next() {
            Some(v) => {
                if !is_version_number(&v) {
                    let mut m = b"Bad version passed ".to_vec();
                    m.extend_from_slice(&v);
                    m.push(b'\n');
                    self.say(env, Level::Err, &m);
                    return failed;
                }
                v
            }
            None => match env.kernel.release() {
                Ok(r) => r.into_bytes(),
                Err(e) => {
                    self.say(
                        env,
                        Level::Crit,
                        format!("uname() failed: {e}\n").as_bytes(),
                    );
                    return failed;
                }
            },
        };
        opts.files = operands.map(|f| path_of(&f)).collect();
        let moddir: Vec<u8> = d
            .moddir
            .iter()
            .copied()
            .skip_while(|&c| c == b'/')
            .collect();
        let join = |r: &[u8]| {
            let mut d = r.to_vec();
            d.push(b'/');
            d.extend_from_slice(&moddir);
            d.push(b'/');
            d.extend_from_slice(&kversion);
            d
        };
        // without -b, the default root is the host's (or the test root's) "/"
        let (dirname, outdirname) = if d.root.is_empty() && !env.root.is_host() {
            let r = env.root.path("/").as_os_str().as_bytes().to_vec();
            let r: Vec<u8> = r.strip_suffix(b"/").unwrap_or(&r).to_vec();
            (join(&r), join(d.out_root.as_deref().unwrap_or(&r)))
        } else {
            (
                join(&d.root),
                join(d.out_root.as_deref().unwrap_or(&d.root)),
            )
        };
        if let Some(r) = &mut self.report {
            r.doc.module_dir = json::Bytes::of(&dirname);
            r.doc.output_dir = json::Bytes::of(&outdirname);
            r.doc.release = json::Bytes::of(&kversion);
        }
        // kmod formats both into PATH_MAX bytes
        for dir in [&dirname, &outdirname] {
            if dir.len() >= common::PATH_MAX {
                let m = [b"Bad directory ", dir.as_slice(), b": path too long\n"].concat();
                self.say(env, Level::Err, &m);
                return failed;
            }
        }
        opts.dir = path_of(&dirname);
        opts.release.clone_from(&kversion);
        if opts.files.is_empty() {
            all = true;
        }
        if !d.no_cache {
            opts.cache = Some(path_of(&outdirname));
        }
        if d.check {
            // as a run: `-a` or no module file named scans everything; `-A` and
            // `-n` do not apply
            if all {
                opts.files.clear();
            }
            self.log.hooked(env.err);
            return self.check(env, &opts, &path_of(&outdirname));
        }
        if d.quick {
            if d.dry_run {
                return 0;
            }
            if Depmod::is_up_to_date(&opts.dir, &mut self.sink(env.err)) {
                if let Some(r) = &mut self.report {
                    r.doc.up_to_date = true;
                }
                return 0;
            }
            all = true;
        }
        if all {
            opts.files.clear();
        }
        // libkmod announces the tool's log hook (`log_setup_kmod_log`) at INFO
        self.log.hooked(env.err);
        let run = Depmod::run(&env.root, &opts, &mut self.sink(env.err));
        let depmod = match run {
            Ok(d) => d,
            Err(e) => return self.fatal(env, &e),
        };
        if let Some(r) = &mut self.report {
            r.doc.symbol_sources = depmod
                .verbose_lines()
                .iter()
                .map(|l| json::Bytes::message(l))
                .collect();
            fill(&mut r.doc, depmod.report());
        } else {
            for line in depmod.verbose_lines() {
                let _ = env.out.write_all(line);
            }
        }
        let result = if !depmod.report().cycles.is_empty() {
            // reported already
            Err(Error::Fatal {
                message: Vec::new(),
            })
        } else if d.dry_run {
            if self.report.is_some() {
                // the same work and messages; the report replaces the text
                depmod.write_text(&mut std::io::sink(), &mut self.sink(env.err))
            } else {
                depmod.write_text(env.out, &mut self.sink(env.err))
            }
        } else {
            let r = depmod.write_files(&path_of(&outdirname), &mut self.sink(env.err));
            if let Some(rep) = &mut self.report {
                rep.doc.written = r.is_ok();
            }
            r
        };
        // The process ends next: freeing the module table piece by piece would only
        // add to depmod's run time (the kernel reclaims it all at once).
        std::mem::forget(depmod);
        match result {
            Ok(()) => {
                // and the end of its context (`kmod_unref` in `depmod_shutdown`)
                self.log.finish(env.err);
                0
            }
            Err(e) => self.fatal(env, &e),
        }
    }

    /// `depmod --check`: list the outputs that a run would change; 0 if none, 1 if
    /// any, 2 when depmod fails (its messages are a run's).
    fn check(&mut self, env: &mut Env<'_>, opts: &DepmodOptions, outdir: &Path) -> i32 {
        let run = Depmod::run(&env.root, opts, &mut self.sink(env.err));
        let depmod = match run {
            Ok(d) => d,
            Err(e) => return self.fatal(env, &e) + 1,
        };
        if let Some(r) = &mut self.report {
            fill(&mut r.doc, depmod.report());
        }
        let stale = depmod.stale_files(outdir, &mut self.sink(env.err));
        let stale = match stale {
            Ok(s) => s,
            Err(e) => return self.fatal(env, &e) + 1,
        };
        match &mut self.report {
            Some(r) => r.doc.stale = Some(stale.iter().map(|s| (*s).to_string()).collect()),
            None => {
                let _ = crate::render::stale_files(env.out, &stale);
            }
        }
        self.log.finish(env.err);
        i32::from(!stale.is_empty())
    }

    /// Print what stopped depmod: kmod's FATAL message, which ends the tool at
    /// once (`log_printf`); nothing more when it was reported already, and then
    /// libkmod's context ends as usual. The exit status.
    fn fatal(&self, env: &mut Env<'_>, e: &Error) -> i32 {
        match e {
            Error::Fatal { message } if message.is_empty() => self.log.finish(env.err),
            Error::Fatal { message } => self.say(env, Level::Crit, message),
            e => self.say(env, Level::Crit, format!("{e}\n").as_bytes()),
        }
        1
    }
}

/// The library's report into the document.
fn fill(doc: &mut json::Depmod, r: &DepmodReport) {
    let pairs = |v: &[(Vec<u8>, Vec<u8>)]| -> Vec<json::ModuleSymbol> {
        v.iter()
            .map(|(m, s)| json::ModuleSymbol {
                module: json::Bytes::of(m),
                symbol: json::Bytes::of(s),
            })
            .collect()
    };
    doc.unresolved = pairs(&r.unresolved);
    doc.crc_mismatches = pairs(&r.crc_mismatches);
    doc.cycles = r
        .cycles
        .iter()
        .map(|c| c.iter().map(|n| json::Bytes::of(n)).collect())
        .collect();
    doc.duplicate_modules = r
        .duplicates
        .iter()
        .map(|(name, kept, ignored)| json::DuplicateModule {
            name: json::Bytes::of(name),
            kept: json::Bytes::of(kept),
            ignored: json::Bytes::of(ignored),
        })
        .collect();
    doc.counts = json::DepmodCounts {
        modules: r.modules,
        aliases: r.aliases,
        symbols: r.symbols,
        unresolved: doc.unresolved.len(),
        crc_mismatches: doc.crc_mismatches.len(),
        cycles: doc.cycles.len(),
        duplicate_modules: doc.duplicate_modules.len(),
        warnings: 0,
        errors: 0,
    };
}

fn absolute(env: &Env<'_>, p: &[u8]) -> Vec<u8> {
    env.vars
        .absolute(Path::new(&getopt::os(p)))
        .into_os_string()
        .into_vec()
}
