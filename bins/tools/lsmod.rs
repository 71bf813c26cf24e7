//! `lsmod` (also `kmod list`): show the loaded modules (kmod-contract §2.1).
//!
//! One row per `/proc/modules` line, in its order: the name left-justified in 19
//! columns, the size right-justified in 8, the use count, and the holders joined by
//! commas (`printf("%-19s %8ld  %d")`, widths in bytes). The size comes from
//! `/sys/module/<m>/coresize` (else `/proc/modules`), the count from `refcnt`, the
//! holders from `holders/` in readdir order; unreadable values print as negative
//! errnos, as kmod prints them.

use super::logging::{self, ToolLog};
use crate::env::Env;
use crate::getopt::{self, Getopt, Opt};
use crate::usage::{self, Layout, Part};
use libkmod_rs::error::strerror;
use libkmod_rs::state;
use std::ffi::OsString;
use std::io::{self, Write};

/// What lsmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-s`.
    Syslog,
    /// `-v`.
    Verbose,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
}

/// lsmod's options.
pub const OPTS: &[Opt<Id>] = &[
    getopt::syslog(Id::Syslog),
    getopt::verbose(Id::Verbose),
    getopt::version(Id::Version),
    getopt::help(Id::Help),
];

/// `--help`.
pub const HELP: Layout = Layout {
    width: 18,
    parts: &[
        Part::Text("Usage:\n\t{prog} [options]\nOptions:\n"),
        Part::Rows(&["syslog", "verbose", "version", "help"]),
    ],
};

/// The header line.
pub const HEADER: &[u8] = b"Module                  Size  Used by\n";

/// One row: `%-19s %8ld  %d` and ` holder,holder` (no trailing space).
pub fn row(
    out: &mut dyn Write,
    name: &[u8],
    size: i64,
    refcnt: i32,
    holders: &[Vec<u8>],
) -> io::Result<()> {
    let mut line = Vec::with_capacity(name.len() + 40);
    line.extend_from_slice(name);
    line.resize(line.len().max(19), b' ');
    line.extend_from_slice(format!(" {size:>8}  {refcnt}").as_bytes());
    for (k, h) in holders.iter().enumerate() {
        line.push(if k == 0 { b' ' } else { b',' });
        line.extend_from_slice(h);
    }
    line.push(b'\n');
    out.write_all(&line)
}

/// Run lsmod. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = usage::short_name(argv0);
    lsmod(&prog, argv0, args, false, env)
}

/// `kmod list [options]`: lsmod named `kmod`, with glibc's messages naming `argv0`
/// (what followed `kmod`: `list`, or `--` in `kmod -- list`) and option parsing
/// stopping at the first operand (kmod's `+` option string stays in force for the
/// command).
pub fn run_list(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    lsmod("kmod", argv0, args, true, env)
}

fn lsmod(prog: &str, argv0: &[u8], args: &[OsString], posix: bool, env: &mut Env<'_>) -> i32 {
    let mut use_syslog = false;
    let mut verbose = 0;
    let mut options = Getopt::new(argv0, args, OPTS, posix);
    for f in options.by_ref() {
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                let _ = env.err.write_all(&e.0);
                return 1;
            }
        };
        match f.id {
            Id::Syslog => use_syslog = true,
            Id::Verbose => verbose += 1,
            Id::Help | Id::Version => {
                return usage::help_or_version(f.id == Id::Help, env, || HELP.render(OPTS, prog));
            }
        }
    }
    let operands = options.operands();
    let mut log = ToolLog::new(prog);
    log.open(use_syslog, &env.root);
    if !operands.is_empty() {
        log.error(env.err, "too many arguments provided.\n");
        return 1;
    }
    if logging::kmod_new(env).is_none() {
        log.error(env.err, "kmod_new() failed!\n");
        return 1;
    }
    log.setup(env.err, verbose);
    let r = list(&log, env);
    log.finish(env.err);
    let _ = env.out.flush();
    r
}

fn list(log: &ToolLog, env: &mut Env<'_>) -> i32 {
    let mut lib = Vec::new();
    let names = state::loaded_modules(&env.root, &mut lib);
    log.lib(env.err, &mut lib);
    let names = match names {
        Ok(n) => n,
        Err(e) => {
            log.error(
                env.err,
                format!("could not get list of modules: {}\n", strerror(e)),
            );
            return 1;
        }
    };
    let _ = env.out.write_all(HEADER);
    for name in &names {
        let refcnt = match state::refcnt(&env.root, name, &mut lib) {
            Ok(n) => n,
            Err(e) => -e,
        };
        log.lib(env.err, &mut lib);
        let size = state::size(&env.root, name, &mut lib);
        log.lib(env.err, &mut lib);
        let holders = state::holders(&env.root, name, &mut lib).unwrap_or_default();
        log.lib(env.err, &mut lib);
        let _ = row(env.out, name, size, refcnt, &holders);
    }
    0
}
