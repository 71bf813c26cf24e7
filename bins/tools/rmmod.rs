//! `rmmod`: remove modules from the kernel (kmod-contract §2.3).
//!
//! Each argument is a module name, or a file whose basename names the module. Unless
//! `-f`, a module is first checked: not builtin, loaded, no holders, refcount zero.
//! Then `delete_module(name, O_NONBLOCK)` (`| O_TRUNC` with `-f`). A module that
//! cannot even be named stops the run; any other failure goes on with the next one.
//! The "in use by" message is kmod master's single line (34.2 split it over lines).

use super::logging::{self, ToolLog};
use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::usage::{self, Layout, Part};
use libkmod_rs::error::{errno, strerror};
use libkmod_rs::kernel::{O_NONBLOCK, O_TRUNC};
use libkmod_rs::lookup::ModuleDir;
use libkmod_rs::state::{self, InitState};
use std::ffi::OsString;

/// What rmmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-f`.
    Force,
    /// `-s`.
    Syslog,
    /// `-v`.
    Verbose,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
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
    getopt::syslog(Id::Syslog),
    getopt::verbose(Id::Verbose),
    getopt::version(Id::Version),
    getopt::help(Id::Help),
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
    let mut use_syslog = false;
    let mut verbose = 0;
    let mut options = Getopt::new(argv0, args, OPTS, false);
    for f in options.by_ref() {
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                let _ = env.err.write_all(&e.0);
                return 1;
            }
        };
        match f.id {
            Id::Force => force = true,
            Id::Syslog => use_syslog = true,
            Id::Verbose => verbose += 1,
            Id::Help | Id::Version => {
                return usage::help_or_version(f.id == Id::Help, env, || HELP.render(OPTS, &prog));
            }
        }
    }
    let operands = options.operands();
    let mut log = ToolLog::new(&prog);
    log.open(use_syslog, &env.root);
    if operands.is_empty() {
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
    for arg in &operands {
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
