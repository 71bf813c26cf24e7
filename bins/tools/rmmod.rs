//! `rmmod`: remove modules from the kernel (kmod-contract §2.3).
//!
//! Each argument is a module name, or a file whose basename names the module. Unless
//! `-f`, a module is first checked: not builtin, loaded, no holders, refcount zero.
//! Then `delete_module(name, O_NONBLOCK)` (`| O_TRUNC` with `-f`). A module that
//! cannot even be named stops the run; any other failure goes on with the next one.
//! The "in use by" message is kmod master's single line (34.2 split it over lines).

use super::logging::{self, ToolLog};
use crate::env::Env;
use crate::getopt::{self, HasArg, Opt};
use libkmod_rs::error::{errno, strerror};
use libkmod_rs::kernel::{O_NONBLOCK, O_TRUNC};
use libkmod_rs::lookup::ModuleDir;
use libkmod_rs::state::{self, InitState};
use std::ffi::OsString;

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
    let parsed = match logging::parse_args(argv0, args, OPTS, false) {
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
    let mut log = ToolLog::new(&prog);
    log.open(use_syslog, &env.root);
    if parsed.operands.is_empty() {
        log.error(env.err, "missing module name.\n");
        return 1;
    }
    let Some(dir) = logging::kmod_new(env) else {
        log.error(env.err, "kmod_new() failed!\n");
        return 1;
    };
    log.setup(env.err, verbose);
    let dir = ModuleDir::new(dir);
    let mut failed = false;
    for arg in &parsed.operands {
        let (name, may_be_builtin) = if std::fs::metadata(getopt::os(arg)).is_ok() {
            let Some(n) = libkmod_rs::name::path_to_modname(arg) else {
                let e = strerror(errno::ENOENT);
                log.error(
                    env.err,
                    msg(&[b"could not use module ", arg, b": ", e.as_bytes(), b"\n"]),
                );
                failed = true;
                break;
            };
            (n, false)
        } else {
            (libkmod_rs::name::modname_normalize(arg), true)
        };
        if !force && !check_module_inuse(&log, env, &dir, &name, may_be_builtin) {
            failed = true;
            continue;
        }
        let flags = O_NONBLOCK | if force { O_TRUNC } else { 0 };
        // A module name that is not UTF-8 names no module the kernel could hold.
        let r = match std::str::from_utf8(&name) {
            Ok(n) => env.kernel.delete_module(n, flags),
            Err(_) => Err(errno::ENOENT),
        };
        if let Err(e) = r {
            let e = strerror(e);
            log.error(
                env.err,
                msg(&[b"could not remove '", &name, b"': ", e.as_bytes(), b"\n"]),
            );
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
fn check_module_inuse(
    log: &ToolLog,
    env: &mut Env<'_>,
    dir: &ModuleDir,
    name: &[u8],
    may_be_builtin: bool,
) -> bool {
    let mut lib = Vec::new();
    let builtin = may_be_builtin && dir.is_builtin(name);
    let st = state::initstate(&env.root, name, builtin, &mut lib);
    log.lib(env.err, &mut lib);
    match st {
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
    let holders = state::holders(&env.root, name, &mut lib);
    log.lib(env.err, &mut lib);
    if let Ok(h) = holders
        && !h.is_empty()
    {
        let mut m = msg(&[b"Module ", name, b" is in use by:"]);
        for holder in &h {
            m.push(b' ');
            m.extend_from_slice(holder);
        }
        m.push(b'\n');
        log.error(env.err, m);
        return false;
    }
    let refcnt = state::refcnt(&env.root, name, &mut lib);
    log.lib(env.err, &mut lib);
    let ret = match refcnt {
        Ok(n) => n,
        Err(e) => -e,
    };
    if ret > 0 {
        log.error(env.err, msg(&[b"Module ", name, b" is in use\n"]));
        return false;
    } else if ret == -errno::ENOENT {
        log.error(env.err, "Module unloading is not supported\n");
    }
    ret >= 0
}
