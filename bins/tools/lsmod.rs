//! `lsmod` (also `kmod list`): show the loaded modules (kmod's `tools/lsmod.c`).
//!
//! One row per `/proc/modules` line, in its order: the name left-justified in 19
//! columns, the size right-justified in 8, the use count, and the holders joined by
//! commas (`printf("%-19s %8ld  %d")`, widths in bytes). The size comes from
//! `/sys/module/<m>/coresize` (else `/proc/modules`), the count from `refcnt`, the
//! holders from `holders/` in readdir order; unreadable values print as negative
//! errnos, as kmod prints them.

use super::common::{self, Shared, SharedFlags};
use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, Getopt, Opt};
use crate::render;
use crate::usage::{self, Layout, Part};
use libkmod_rs::ConfigSource;
use std::ffi::OsString;

/// What lsmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-s`, `-v`, `-V`, `-h`.
    Shared(Shared),
}

/// lsmod's options.
pub const OPTS: &[Opt<Id>] = &[
    getopt::syslog(Id::Shared(Shared::Syslog)),
    getopt::verbose(Id::Shared(Shared::Verbose)),
    getopt::version(Id::Shared(Shared::Version)),
    getopt::help(Id::Shared(Shared::Help)),
];

/// `--help`.
pub const HELP: Layout = Layout {
    width: 18,
    parts: &[
        Part::Text("Usage:\n\t{prog} [options]\nOptions:\n"),
        Part::Rows(&["syslog", "verbose", "version", "help"]),
    ],
};

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
    let mut shared = SharedFlags::default();
    let mut options = Getopt::new(argv0, args, OPTS, posix || env.vars.posixly_correct);
    for f in options.by_ref() {
        match f.id {
            Id::Shared(s) => {
                if let Some(status) = shared.take(s, env, || HELP.render(OPTS, prog)) {
                    return status;
                }
            }
        }
    }
    let Some(operands) = options.finish(env.err) else {
        return 1;
    };
    let mut log = shared.log(prog, env);
    if !operands.is_empty() {
        log.error(env.err, "too many arguments provided.\n");
        return 1;
    }
    let Some(dir) = common::kmod_new(env, None, &ConfigSource::None) else {
        log.error(env.err, "kmod_new() failed!\n");
        return 1;
    };
    log.setup(env.err, shared.verbose);
    let r = list(&log, &dir, env);
    log.finish(env.err);
    let _ = env.out.flush();
    r
}

fn list(log: &Log, dir: &libkmod_rs::ModuleDir, env: &mut Env<'_>) -> i32 {
    let modules = match dir.loaded(&mut log.sink(env.err)) {
        Ok(m) => m,
        Err(e) => {
            log.error(
                env.err,
                format!("could not get list of modules: {}\n", e.errno()),
            );
            return 1;
        }
    };
    let _ = render::lsmod_header(env.out);
    for m in &modules {
        let mut sink = log.sink(env.err);
        let refcnt = m.refcnt(&mut sink).unwrap_or_else(|e| -e.errno().raw());
        let size = m
            .size(&mut sink)
            .unwrap_or_else(|e| -i64::from(e.errno().raw()));
        let holders = m.holders(&mut sink);
        let holders: Vec<&[u8]> = holders.iter().map(libkmod_rs::Module::name).collect();
        let _ = render::lsmod_row(env.out, m.name(), size, refcnt, &holders);
    }
    0
}
