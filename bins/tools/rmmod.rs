//! `rmmod`: remove modules from the kernel (kmod's `tools/rmmod.c`).
//!
//! Each argument is a module name, or a file whose basename names the module. Unless
//! `-f`, a module is first checked: not builtin, loaded, no holders, refcount zero.
//! Then `delete_module(name, O_NONBLOCK)` (`| O_TRUNC` with `-f`). A module that
//! cannot even be named stops the run; any other failure goes on with the next one.
//! The "in use by" message is kmod master's single line (34.2 split it over lines).

use super::common::{self, Shared, SharedFlags};
use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::usage::{self, Layout, Part};
use libkmod_rs::{ConfigSource, InitState, Module};
use std::ffi::OsString;
use std::path::Path;

/// What rmmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-f`.
    Force,
    /// `-s`, `-v`, `-V`, `-h`.
    Shared(Shared),
}

/// rmmod's options.
pub const OPTS: &[Opt<Id>] = &[
    Opt::new(
        b'f',
        "force",
        HasArg::No,
        Id::Force,
        "DANGEROUS: forces a module unload and may\ncrash your machine",
    ),
    getopt::syslog(Id::Shared(Shared::Syslog)),
    getopt::verbose(Id::Shared(Shared::Verbose)),
    getopt::version(Id::Shared(Shared::Version)),
    getopt::help(Id::Shared(Shared::Help)),
];

/// `--help`.
pub const HELP: Layout = Layout {
    width: 18,
    parts: &[
        Part::Text("Usage:\n\t{prog} [options] [list of modulenames]\nOptions:\n"),
        Part::Rows(&["force", "syslog", "verbose", "version", "help"]),
    ],
};

fn msg(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Run rmmod. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = usage::short_name(argv0);
    let mut force = false;
    let mut shared = SharedFlags::default();
    let mut options = Getopt::new(argv0, args, OPTS, env.vars.posixly_correct);
    for f in options.by_ref() {
        match f.id {
            Id::Force => force = true,
            Id::Shared(s) => {
                if let Some(status) = shared.take(s, env, || HELP.render(OPTS, &prog)) {
                    return status;
                }
            }
        }
    }
    let Some(operands) = options.finish(env.err) else {
        return 1;
    };
    let mut log = shared.log(&prog, env);
    if operands.is_empty() {
        log.error(env.err, "missing module name.\n");
        return 1;
    }
    let Some(dir) = common::kmod_new(env, None, &ConfigSource::None) else {
        log.error(env.err, "kmod_new() failed!\n");
        return 1;
    };
    log.setup(env.err, shared.verbose);
    let mut failed = false;
    for arg in &operands {
        let m = if std::fs::metadata(getopt::os(arg)).is_ok() {
            match dir.module_from_path(Path::new(&getopt::os(arg)), &mut log.sink(env.err)) {
                Ok(m) => m,
                Err(e) => {
                    let e = e.errno().to_string();
                    log.error(
                        env.err,
                        msg(&[b"could not use module ", arg, b": ", e.as_bytes(), b"\n"]),
                    );
                    failed = true;
                    break;
                }
            }
        } else {
            dir.module(arg)
        };
        if !force && !check_module_inuse(&log, env, &m) {
            failed = true;
            continue;
        }
        if let Err(e) = m.remove(&mut *env.kernel, force, &mut log.sink(env.err)) {
            let e = e.errno().to_string();
            log.error(
                env.err,
                msg(&[b"could not remove module ", arg, b": ", e.as_bytes(), b"\n"]),
            );
            failed = true;
        }
    }
    log.finish(env.err);
    i32::from(failed)
}

/// kmod's `check_module_inuse`: may the module be removed?
fn check_module_inuse(log: &Log, env: &mut Env<'_>, m: &Module) -> bool {
    let name = m.name();
    match m.initstate(&mut log.sink(env.err)) {
        Ok(InitState::Builtin) => {
            log.error(env.err, msg(&[b"Module ", name, b" is builtin.\n"]));
            return false;
        }
        Err(_) => {
            log.error(
                env.err,
                msg(&[b"Module ", name, b" is not currently loaded\n"]),
            );
            return false;
        }
        Ok(_) => {}
    }
    let holders = m.holders(&mut log.sink(env.err));
    if !holders.is_empty() {
        let mut text = msg(&[b"Module ", name, b" is in use by:"]);
        for holder in &holders {
            text.push(b' ');
            text.extend_from_slice(holder.name());
        }
        text.push(b'\n');
        log.error(env.err, text);
        return false;
    }
    // kmod's int: the count, or a negative errno
    let ret = match m.refcnt(&mut log.sink(env.err)) {
        Ok(n) => n,
        Err(e) => -e.errno().raw(),
    };
    if ret > 0 {
        log.error(env.err, msg(&[b"Module ", name, b" is in use\n"]));
        return false;
    } else if ret == -libkmod_rs::Errno::ENOENT.raw() {
        log.error(env.err, "Module unloading is not supported\n");
    }
    ret >= 0
}
