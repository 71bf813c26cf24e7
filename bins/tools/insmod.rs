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

use super::common;
use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, HasArg, Opt};
use libkmod_rs::{Checker, ConfigSource, Errno, Error, InsertFlags};
use std::ffi::OsString;
use std::path::Path;

/// insmod's options.
pub const OPTS: &[Opt] = &[
    Opt::new(
        b'f',
        "force",
        HasArg::No,
        "f",
        "DANGEROUS: forces a module load, may cause data corruption and crash your machine. implies --force-modversion and --force-vermagic",
    ),
    getopt::FORCE_MODVERSION,
    getopt::FORCE_VERMAGIC,
    getopt::SYSLOG,
    getopt::VERBOSE,
    getopt::VERSION,
    getopt::HELP,
];

fn help(prog: &str) -> String {
    format!(
        "Usage:\n\t{prog} [options] filename [module options]\nOptions:\n\
\t-f, --force              DANGEROUS: forces a module load, may cause\n\
\t                         data corruption and crash your machine.\n\
\t                         implies --force-modversion and\n\
\t                         --force-vermagic\n\
\t    --force-modversion   Ignore module's version\n\
\t    --force-vermagic     Ignore module's version magic\n\
\t-s, --syslog             print to syslog, not stderr\n\
\t-v, --verbose            enables more messages\n\
\t-V, --version            show version\n\
\t-h, --help               show this help\n"
    )
}

/// `ESRCH`: the kernel's answer to a module with a wrong symbol version.
const ESRCH: Errno = Errno::from_raw(3);

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
    let prog = crate::dispatch::short_name(argv0);
    let parsed = match common::parse_args(argv0, args, OPTS, false) {
        Ok(p) => p,
        Err(e) => {
            let _ = env.err.write_all(e.0.as_bytes());
            return 1;
        }
    };
    let mut flags = InsertFlags::default();
    let mut use_syslog = false;
    let mut verbose = 0;
    for f in &parsed.opts {
        match f.id {
            "f" => {
                flags = InsertFlags {
                    force_modversion: true,
                    force_vermagic: true,
                };
            }
            "force-modversion" => flags.force_modversion = true,
            "force-vermagic" => flags.force_vermagic = true,
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
    let Some(filename) = parsed.operands.first() else {
        log.error(env.err, "missing filename.\n");
        return 1;
    };
    if filename == b"-" {
        log.error(env.err, "this tool does not support loading from stdin!\n");
        return 1;
    }
    let opts = common::options_from_args(&parsed.operands[1..]);
    if common::kmod_new(env, None, &ConfigSource::None).is_none() {
        log.error(env.err, "kmod_new() failed!\n");
        return 1;
    }
    log.setup(env.err, verbose);
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
