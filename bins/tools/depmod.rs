//! `depmod`: generate `modules.dep` and the other module indexes (kmod's
//! `tools/depmod.c`; the work is the library's [`libkmod_rs::Depmod`]).

use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, HasArg, Opt};
use libkmod_rs::{Depmod, DepmodOptions, Error, Level};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// depmod's options.
pub const OPTS: &[Opt] = &[
    Opt::new(b'a', "all", HasArg::No, "a", "Probe all modules"),
    Opt::new(
        b'A',
        "quick",
        HasArg::No,
        "A",
        "Only does the work if there's a new module",
    ),
    Opt::new(
        b'b',
        "basedir",
        HasArg::Required,
        "b",
        "Root path (default: /).",
    ),
    Opt::new(
        b'm',
        "moduledir",
        HasArg::Required,
        "m",
        "Module directory (default: /lib/modules).",
    ),
    Opt::new(
        b'o',
        "outdir",
        HasArg::Required,
        "o",
        "Output root path (default: same as <basedir>).",
    ),
    Opt::new(
        b'C',
        "config",
        HasArg::Required,
        "C",
        "Read configuration from PATH",
    ),
    Opt::new(
        b'E',
        "symvers",
        HasArg::Required,
        "E",
        "Use Module.symvers file to check symbol versions.",
    ),
    Opt::new(
        b'F',
        "filesyms",
        HasArg::Required,
        "F",
        "Use the file instead of the current kernel symbols.",
    ),
    Opt::new(
        b'e',
        "errsyms",
        HasArg::No,
        "e",
        "Report not supplied symbols",
    ),
    Opt::new(b'v', "verbose", HasArg::No, "v", "Enable verbose mode"),
    Opt::new(
        b'n',
        "show",
        HasArg::No,
        "n",
        "Write the dependency file on stdout only",
    ),
    Opt::new(
        b'n',
        "dry-run",
        HasArg::No,
        "n",
        "Write the dependency file on stdout only",
    ),
    Opt::new(
        b'P',
        "symbol-prefix",
        HasArg::Required,
        "P",
        "Architecture symbol prefix",
    ),
    Opt::new(b'w', "warn", HasArg::No, "w", "Warn on duplicates"),
    getopt::VERSION,
    getopt::HELP,
];

fn help(prog: &str) -> String {
    format!(
        "Usage:\n\t{prog} -[aA] [options] [forced_version]\n\n\
If no arguments (except options) are given, \"depmod -a\" is assumed\n\n\
depmod will output a dependency list suitable for the modprobe utility.\n\n\
Options:\n\
\t-a, --all            Probe all modules\n\
\t-A, --quick          Only does the work if there's a new module\n\
\t-e, --errsyms        Report not supplied symbols\n\
\t-n, --show           Write the dependency file on stdout only\n\
\t-P, --symbol-prefix  Architecture symbol prefix\n\
\t-C, --config=PATH    Read configuration from PATH\n\
\t-v, --verbose        Enable verbose mode\n\
\t-w, --warn           Warn on duplicates\n\
\t-V, --version        show version\n\
\t-h, --help           show this help\n\n\
The following options are useful for people managing distributions:\n\
\t-b, --basedir=DIR    Root path (default: /).\n\
\t-m, --moduledir=DIR  Module directory (default: /lib/modules).\n\
\t-o, --outdir=DIR     Output root path (default: same as <basedir>).\n\
\t-F, --filesyms=FILE  Use the file instead of the\n\
\t                     current kernel symbols.\n\
\t-E, --symvers=FILE   Use Module.symvers file to check\n\
\t                     symbol versions.\n"
    )
}

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
    let prog = crate::dispatch::short_name(argv0);
    let mut log = Log::new(&prog);
    let parsed = match getopt::parse(argv0, args, OPTS, false) {
        Ok(p) => p,
        Err(e) => {
            let _ = env.err.write_all(e.0.as_bytes());
            return 1;
        }
    };
    let mut all = false;
    let mut quick = false;
    let mut dry_run = false;
    let mut root: Vec<u8> = Vec::new();
    let mut moddir: Vec<u8> = libkmod_rs::MODULE_DIR.as_bytes().to_vec();
    let mut out_root: Option<Vec<u8>> = None;
    let mut opts = DepmodOptions::default();
    let mut verbose = 0;
    for f in parsed.opts {
        let v = f.value.unwrap_or_default();
        match f.id {
            "a" => all = true,
            "A" => quick = true,
            "b" => root = absolute(env, &v),
            "m" => moddir = v,
            "o" => out_root = Some(absolute(env, &v)),
            "C" => opts.config.push(path_of(&v)),
            "E" => opts.symvers = Some(path_of(&v)),
            "F" => opts.system_map = Some(path_of(&v)),
            "e" => opts.report_unknown = true,
            "v" => verbose += 1,
            "n" => dry_run = true,
            "P" => {
                if v.len() != 1 {
                    log.fatal(env.err, b"-P only takes a single char\n");
                    return 1;
                }
                opts.symbol_prefix = Some(v[0]);
            }
            "w" => opts.warn_duplicates = true,
            id @ ("h" | "V") => {
                return crate::dispatch::help_or_version(id, env, || help(&prog));
            }
            _ => {}
        }
    }
    log.set_threshold(match verbose {
        0 => Level::Warning,
        1 => Level::Notice,
        2 => Level::Info,
        _ => Level::Debug,
    });
    opts.verbose = verbose > 0;
    let mut operands = parsed.operands.into_iter();
    let kversion = match operands.next() {
        Some(v) => {
            if !is_version_number(&v) {
                let mut m = b"Bad version passed ".to_vec();
                m.extend_from_slice(&v);
                m.push(b'\n');
                log.error(env.err, m);
                return 1;
            }
            v
        }
        None => match env.kernel.release() {
            Ok(r) => r.into_bytes(),
            Err(e) => {
                log.fatal(env.err, format!("uname() failed: {e}\n"));
                return 1;
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
    opts.dir = path_of(&dirname);
    opts.release.clone_from(&kversion);
    if opts.files.is_empty() {
        all = true;
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
    let depmod = match Depmod::run(&env.root, &opts, &mut log.sink(env.err)) {
        Ok(d) => d,
        Err(e) => return fatal(&log, env, &e),
    };
    for line in depmod.verbose_lines() {
        let _ = env.out.write_all(line);
    }
    if !depmod.report().cycles.is_empty() {
        return 1;
    }
    let result = if dry_run {
        depmod.write_text(env.out, &mut log.sink(env.err))
    } else {
        depmod.write_files(&path_of(&outdirname), &mut log.sink(env.err))
    };
    // The process ends next: freeing the module table piece by piece would only
    // add to depmod's run time (the kernel reclaims it all at once).
    std::mem::forget(depmod);
    match result {
        Ok(()) => 0,
        Err(e) => fatal(&log, env, &e),
    }
}

/// Print what stopped depmod (kmod's FATAL message; nothing when it was reported
/// already); the exit status.
fn fatal(log: &Log, env: &mut Env<'_>, e: &Error) -> i32 {
    match e {
        Error::Fatal { message } if message.is_empty() => {}
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
