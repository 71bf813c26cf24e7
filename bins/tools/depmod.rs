//! `depmod`: generate `modules.dep` and the other module indexes (kmod's
//! `tools/depmod.c`; the work is the library's [`libkmod_rs::Depmod`]).

use super::common;
use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::usage::{self, Layout, Part};
use libkmod_rs::{Depmod, DepmodOptions, Error, Level};
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
    /// `--check` (beyond kmod).
    Check,
    /// `--no-cache` (beyond kmod).
    NoCache,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
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
    getopt::version(Id::Version),
    getopt::help(Id::Help),
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
    let mut root: Vec<u8> = Vec::new();
    let mut moddir: Vec<u8> = libkmod_rs::MODULE_DIR.as_bytes().to_vec();
    let mut out_root: Option<Vec<u8>> = None;
    let mut opts = DepmodOptions::default();
    let mut verbose = 0;
    let mut check = false;
    let mut no_cache = false;
    let mut options = Getopt::new(argv0, args, OPTS, env.vars.posixly_correct);
    for f in options.by_ref() {
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                let _ = env.err.write_all(&e.0);
                return if check || args.iter().any(|a| a == "--check") {
                    2
                } else {
                    1
                };
            }
        };
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
            Id::SymbolPrefix => {
                if v.len() != 1 {
                    log.fatal(env.err, b"-P only takes a single char\n");
                    return if check { 2 } else { 1 };
                }
                opts.symbol_prefix = Some(v[0]);
            }
            Id::Warn => opts.warn_duplicates = true,
            Id::Check => check = true,
            Id::NoCache => no_cache = true,
            Id::Help | Id::Version => {
                return usage::help_or_version(f.id == Id::Help, env, || HELP.render(OPTS, &prog));
            }
        }
    }
    log.set_threshold(match verbose {
        0 => Level::Warning,
        1 => Level::Notice,
        2 => Level::Info,
        _ => Level::Debug,
    });
    opts.verbose = verbose > 0;
    // `--check`: errors are 2 (1 means "stale")
    let failed = if check { 2 } else { 1 };
    let mut operands = options.operands().into_iter();
    let kversion = match operands.next() {
        Some(v) => {
            if !is_version_number(&v) {
                let mut m = b"Bad version passed ".to_vec();
                m.extend_from_slice(&v);
                m.push(b'\n');
                log.error(env.err, m);
                return failed;
            }
            v
        }
        None => match env.kernel.release() {
            Ok(r) => r.into_bytes(),
            Err(e) => {
                log.fatal(env.err, format!("uname() failed: {e}\n"));
                return failed;
            }
        },
    };
    opts.files = operands.map(|f| path_of(&f)).collect();
    let moddir: Vec<u8> = moddir.iter().copied().skip_while(|&c| c == b'/').collect();
    let join = |r: &[u8]| {
        let mut d = r.to_vec();
        d.push(b'/');
        d.extend_from_slice(&moddir);
        d.push(b'/');
        d.extend_from_slice(&kversion);
        d
    };
    // without -b, the default root is the host's (or the test root's) "/"
    let (dirname, outdirname) = if root.is_empty() && !env.root.is_host() {
        let r = env.root.path("/").as_os_str().as_bytes().to_vec();
        let r: Vec<u8> = r.strip_suffix(b"/").unwrap_or(&r).to_vec();
        (join(&r), join(out_root.as_deref().unwrap_or(&r)))
    } else {
        (join(&root), join(out_root.as_deref().unwrap_or(&root)))
    };
    // kmod formats both into PATH_MAX bytes
    for d in [&dirname, &outdirname] {
        if d.len() >= common::PATH_MAX {
            let m = [b"Bad directory ", d.as_slice(), b": path too long\n"].concat();
            log.error(env.err, m);
            return failed;
        }
    }
    opts.dir = path_of(&dirname);
    opts.release.clone_from(&kversion);
    if opts.files.is_empty() {
        all = true;
    }
    if !no_cache {
        opts.cache = Some(path_of(&outdirname));
    }
    if check {
        // as a run: `-a` or no module file named scans everything; `-A` and `-n`
        // do not apply
        if all {
            opts.files.clear();
        }
        log.hooked(env.err);
        return check_outputs(&log, env, &opts, &path_of(&outdirname));
    }
    if quick {
        if dry_run {
            return 0;
        }
        if Depmod::is_up_to_date(&opts.dir, &mut log.sink(env.err)) {
            return 0;
        }
        all = true;
    }
    if all {
        opts.files.clear();
    }
    // libkmod announces the tool's log hook (`log_setup_kmod_log`) at INFO
    log.hooked(env.err);
    let depmod = match Depmod::run(&env.root, &opts, &mut log.sink(env.err)) {
        Ok(d) => d,
        Err(e) => return fatal(&log, env, &e),
    };
    for line in depmod.verbose_lines() {
        let _ = env.out.write_all(line);
    }
    let result = if !depmod.report().cycles.is_empty() {
        // reported already
        Err(Error::Fatal {
            message: Vec::new(),
        })
    } else if dry_run {
        depmod.write_text(env.out, &mut log.sink(env.err))
    } else {
        depmod.write_files(&path_of(&outdirname), &mut log.sink(env.err))
    };
    // The process ends next: freeing the module table piece by piece would only
    // add to depmod's run time (the kernel reclaims it all at once).
    std::mem::forget(depmod);
    match result {
        Ok(()) => {
            // and the end of its context (`kmod_unref` in `depmod_shutdown`)
            log.finish(env.err);
            0
        }
        Err(e) => fatal(&log, env, &e),
    }
}

/// `depmod --check`: list the outputs that a run would change; 0 if none, 1 if
/// any, 2 when depmod fails (its messages are a run's).
fn check_outputs(log: &Log, env: &mut Env<'_>, opts: &DepmodOptions, outdir: &Path) -> i32 {
    let depmod = match Depmod::run(&env.root, opts, &mut log.sink(env.err)) {
        Ok(d) => d,
        Err(e) => return fatal(log, env, &e) + 1,
    };
    let stale = match depmod.stale_files(outdir, &mut log.sink(env.err)) {
        Ok(s) => s,
        Err(e) => return fatal(log, env, &e) + 1,
    };
    let _ = crate::render::stale_files(env.out, &stale);
    log.finish(env.err);
    i32::from(!stale.is_empty())
}

/// Print what stopped depmod: kmod's FATAL message, which ends the tool at once
/// (`log_printf`); nothing more when it was reported already, and then libkmod's
/// context ends as usual. The exit status.
fn fatal(log: &Log, env: &mut Env<'_>, e: &Error) -> i32 {
    match e {
        Error::Fatal { message } if message.is_empty() => log.finish(env.err),
        Error::Fatal { message } => log.fatal(env.err, message),
        e => log.fatal(env.err, format!("{e}\n")),
    }
    1
}

fn absolute(env: &Env<'_>, p: &[u8]) -> Vec<u8> {
    env.vars
        .absolute(Path::new(&getopt::os(p)))
        .into_os_string()
        .into_vec()
}
