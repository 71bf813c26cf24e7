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
use crate::json;
use crate::render;
use crate::usage::{self, Layout, Part};
use libkmod_rs::{ConfigSource, Level};
use std::ffi::OsString;

/// What lsmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-s`, `-v`, `-V`, `-h`.
    Shared(Shared),
    /// `--json` (beyond kmod).
    Json,
}

/// lsmod's options.
pub const OPTS: &[Opt<Id>] = &[
    getopt::syslog(Id::Shared(Shared::Syslog)),
    getopt::verbose(Id::Shared(Shared::Verbose)),
    getopt::version(Id::Shared(Shared::Version)),
    getopt::help(Id::Shared(Shared::Help)),
    getopt::json(Id::Json, "Print the loaded modules as one JSON document"),
];

/// `--help`.
pub const HELP: Layout = Layout {
    width: 18,
    parts: &[
        Part::Text("Usage:\n\t{prog} [options]\nOptions:\n"),
        Part::Rows(&["syslog", "verbose", "json", "version", "help"]),
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
    let mut json = false;
    let mut options = Getopt::new(argv0, args, OPTS, posix || env.vars.posixly_correct);
    for f in options.by_ref() {
        match f.id {
            Id::Shared(s) => {
                if let Some(status) = shared.take(s, env, || HELP.render(OPTS, prog)) {
                    return status;
                }
            }
            Id::Json => json = true,
        }
    }
    let Some(operands) = options.finish(env.err) else {
        return 1;
    };
    let mut log = shared.log(prog, env);
    let mut doc = json.then(json::Lsmod::default);
    let error = |env: &mut Env<'_>, log: &Log, doc: &mut Option<json::Lsmod>, m: &[u8]| {
        log.error(env.err, m);
        if let Some(d) = doc {
            d.errors.push(json::Message::new(None, Level::Err, m));
        }
    };
    let r = if !operands.is_empty() {
        error(env, &log, &mut doc, b"too many arguments provided.\n");
        1
    } else if let Some(dir) = common::kmod_new(env, None, &ConfigSource::None) {
        log.setup(env.err, shared.verbose);
        let r = match doc.as_mut() {
            Some(d) => list_json(&log, &dir, env, d),
            None => list(&log, &dir, env),
        };
        log.finish(env.err);
        r
    } else {
        error(env, &log, &mut doc, b"kmod_new() failed!\n");
        1
    };
    if let Some(d) = &doc {
        let _ = json::emit(env.out, d);
    }
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

/// `lsmod --json`: the same walk, the same messages, as data; beyond the table, each
/// module's state and taint flags (from `/proc/modules`) and its file (from the
/// running release's `modules.dep`, where it is listed).
fn list_json(
    log: &Log,
    dir: &libkmod_rs::ModuleDir,
    env: &mut Env<'_>,
    doc: &mut json::Lsmod,
) -> i32 {
    let modules = match dir.loaded(&mut log.sink(env.err)) {
        Ok(m) => m,
        Err(e) => {
            let m = format!("could not get list of modules: {}\n", e.errno());
            log.error(env.err, &m);
            doc.errors
                .push(json::Message::new(None, Level::Err, m.as_bytes()));
            return 1;
        }
    };
    // the same /proc/modules, split into its columns (state, taints)
    let lines = libkmod_rs::LoadedModule::list(&env.root).unwrap_or_default();
    for m in &modules {
        let mut sink = log.sink(env.err);
        let refcount = m.refcnt(&mut sink).ok();
        let size = m.size(&mut sink).ok();
        let used_by = m
            .holders(&mut sink)
            .iter()
            .map(|h| json::Bytes::of(h.name()))
            .collect();
        let line = lines.iter().find(|l| l.name == m.name());
        let state = line
            .and_then(|l| l.state.as_deref())
            .map(|s| String::from_utf8_lossy(s).to_lowercase());
        let taints = line.and_then(|l| l.taints.as_deref()).unwrap_or_default();
        let taints = taints
            .strip_prefix(b"(")
            .and_then(|t| t.strip_suffix(b")"))
            .unwrap_or(taints);
        // the file is looked up quietly: the table never reads modules.dep
        let path = m.path(&mut ()).map(|p| json::Bytes::path(&p));
        doc.modules.push(json::LoadedModule {
            name: json::Bytes::of(m.name()),
            size,
            refcount,
            used_by,
            state,
            taints: json::Bytes::of(taints),
            path,
        });
    }
    0
}
