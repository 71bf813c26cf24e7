//! `insmod`: insert one module file into the kernel (kmod's `tools/insmod.c`).
//!
//! No dependencies, no configuration: the file is inserted as given, with the
//! remaining arguments as its parameters. `-f` forces both version checks off; kmod
//! master's `--force-modversion` / `--force-vermagic` do one each.
//!
//! Beyond kmod: when the kernel refuses the module, its own log lines from that
//! attempt follow kmod's message (`insmod: ERROR: kernel: <line>`), and a compressed
//! file the kernel cannot decompress is decompressed here and loaded with
//! `init_module` (see [`libkmod_rs::insert`]).

use super::common::{self, Shared, SharedFlags};
use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::usage::{self, Layout, Part};
use libkmod_rs::{Checker, ConfigSource, Errno, Error, InsertFlags};
use std::ffi::OsString;
use std::path::Path;

/// `ESRCH`: the kernel's answer to a module with a wrong symbol version.
const ESRCH: Errno = Errno::from_raw(3);

/// What insmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-f`: both version checks off.
    Force,
    /// `--force-modversion` (beyond kmod 34.2, as modprobe has it).
    ForceModversion,
    /// `--force-vermagic` (beyond kmod 34.2, as modprobe has it).
    ForceVermagic,
    /// `-s`, `-v`, `-V`, `-h`.
    Shared(Shared),
}

/// insmod's options, in kmod's order; `--force-modversion` and `--force-vermagic`
/// are beyond kmod 34.2's insmod (its abbreviations of `--force` keep their meaning).
pub const OPTS: &[Opt<Id>] = &[
    Opt::new(
        b'f',
        "force",
        HasArg::No,
        Id::Force,
        "DANGEROUS: forces a module load, may cause\ndata corruption and crash your machine",
    ),
    getopt::force_modversion(Id::ForceModversion).beyond_kmod(),
    getopt::force_vermagic(Id::ForceVermagic).beyond_kmod(),
    getopt::syslog(Id::Shared(Shared::Syslog)),
    getopt::verbose(Id::Shared(Shared::Verbose)),
    getopt::version(Id::Shared(Shared::Version)),
    getopt::help(Id::Shared(Shared::Help)),
];

/// `--help`: kmod's text, with the two options beyond kmod after `--force`.
pub const HELP: Layout = Layout {
    width: 18,
    parts: &[
        Part::Text("Usage:\n\t{prog} [options] filename [module options]\nOptions:\n"),
        Part::Rows(&[
            "force",
            "force-modversion",
            "force-vermagic",
            "syslog",
            "verbose",
            "version",
            "help",
        ]),
    ],
};

/// insmod's wording for the errors the kernel returns most (`mod_strerror`).
#[must_use]
pub fn mod_strerror(e: Errno) -> String {
    match e {
        Errno::ENOEXEC => "Invalid module format".into(),
        Errno::ENOENT => "Unknown symbol in module".into(),
        ESRCH => "Module has wrong symbol version".into(),
        Errno::EINVAL => "Invalid parameters".into(),
        _ => e.to_string(),
    }
}

/// Run insmod. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = usage::short_name(argv0);
    let mut flags = InsertFlags::default();
    let mut shared = SharedFlags::default();
    let mut options = Getopt::new(argv0, args, OPTS, env.vars.posixly_correct);
    for f in options.by_ref() {
        match f.id {
            Id::Force => {
                flags = InsertFlags {
                    force_modversion: true,
                    force_vermagic: true,
                };
            }
            Id::ForceModversion => flags.force_modversion = true,
            Id::ForceVermagic => flags.force_vermagic = true,
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
    let Some(filename) = operands.first() else {
        log.error(env.err, "missing filename.\n");
        return 1;
    };
    if filename == b"-" {
        log.error(env.err, "this tool does not support loading from stdin!\n");
        return 1;
    }
    let opts = common::options_from_args(&operands[1..]);
    if common::kmod_new(env, None, &ConfigSource::None).is_none() {
        log.error(env.err, "kmod_new() failed!\n");
        return 1;
    }
    log.setup(env.err, shared.verbose);
    let r = insmod(&log, env, filename, &opts, flags);
    log.finish(env.err);
    r
}

fn insmod(log: &Log, env: &mut Env<'_>, filename: &[u8], opts: &[u8], flags: InsertFlags) -> i32 {
    let path = env.vars.absolute(Path::new(&getopt::os(filename)));
    let found = match std::fs::metadata(&path) {
        Ok(_) if libkmod_rs::name::path_to_modname(filename).is_none() => Err(Errno::ENOENT),
        Ok(_) => Ok(()),
        Err(e) => Err(Errno::from(&e)),
    };
    if let Err(e) = found {
        let mut msg = b"could not load module ".to_vec();
        msg.extend_from_slice(filename);
        msg.extend_from_slice(format!(": {e}\n").as_bytes());
        log.error(env.err, msg);
        return 1;
    }
    // beyond kmod: refuse what the kernel would refuse, with a precise message
    if let Err(Error::Refused { reason, .. }) =
        Checker::new(env.kernel.as_ref(), &env.root).check(&path, flags, &[], false)
    {
        let mut msg = b"could not insert module ".to_vec();
        msg.extend_from_slice(filename);
        msg.extend_from_slice(format!(": {reason}\n").as_bytes());
        log.error(env.err, msg);
        return 1;
    }
    let r = libkmod_rs::insert(
        env.kernel.as_mut(),
        &env.root,
        &path,
        opts,
        flags,
        &mut log.sink(env.err),
    );
    match r {
        Ok(_) => 0,
        Err(e) => {
            let mut msg = b"could not insert module ".to_vec();
            msg.extend_from_slice(filename);
            msg.extend_from_slice(format!(": {}\n", mod_strerror(e.errno())).as_bytes());
            log.error(env.err, msg);
            if let Error::Kernel { log: lines, .. } = &e {
                log.kernel_lines(env.err, lines);
            }
            1
        }
    }
}
