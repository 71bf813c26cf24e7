//! `rmmod`: remove modules from the kernel (kmod's `tools/rmmod.c`).
//!
//! Each argument is a module name, or a file whose basename names the module. Unless
//! `-f`, a module is first checked: not builtin, loaded, no holders, refcount zero.
//! Then `delete_module(name, O_NONBLOCK)` (`| O_TRUNC` with `-f`). A module that
//! cannot even be named stops the run; any other failure goes on with the next one.
//! The "in use by" message is kmod master's single line (34.2 split it over lines).

use super::common;
use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, HasArg, Opt};
use libkmod_rs::{ConfigSource, InitState, Module};
use std::ffi::OsString;
use std::path::Path;

/// rmmod's options.
pub const OPTS: &[Opt] = &[
    Opt::new(
        b'f',
        "force",
        HasArg::No,
        "f",
        "DANGEROUS: forces a module unload and may crash your machine",
    ),
    getopt::SYSLOG,
    getopt::VERBOSE,
    getopt::VERSION,
    getopt::HELP,
];

fn help(prog: &str) -> String {
    format!(
        "Usage:\n\t{prog} [options] [list of modulenames]\nOptions:\n\
\t-f, --force       DANGEROUS: forces a module unload and may\n\
\t                  crash your machine\n\
\t-s, --syslog      print to syslog, not stderr\n\
\t-v, --verbose     enables more messages\n\
\t-V, --version     show version\n\
\t-h, --help        show this help\n"
    )
}

fn msg(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Run rmmod. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = crate::dispatch::short_name(argv0);
    let parsed = match common::parse_args(argv0, args, OPTS, false) {
        Ok(p) => p,
        Err(e) => {
            let _ = env.err.write_all(e.0.as_bytes());
            return 1;
        }
    };
    let mut force = false;
    let mut use_syslog = false;
    let mut verbose = 0;
    for f in &parsed.opts {
        match f.id {
            "f" => force = true,
            "s" => use_syslog = true,
            "v" => verbose += 1,
            id @ ("h" | "V") => {
                return crate::dispatch::help_or_version(id, env, || help(&prog));
            }
            _ => {}
        }
    }
    let mut log = Log::new(&prog);
    log.open(use_syslog, &env.root);
    if parsed.operands.is_empty() {
        log.error(env.err, "missing module name.\n");
        return 1;
    }
    let Some(dir) = common::kmod_new(env, None, &ConfigSource::None) else {
        log.error(env.err, "kmod_new() failed!\n");
        return 1;
    };
    log.setup(env.err, verbose);
    let mut failed = false;
    for arg in &parsed.operands {
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
