//! `insmod`: insert one module file into the kernel (kmod-contract §2.2, §2.8, §5.5).
//!
//! No dependencies, no configuration: the file is inserted as given, with the
//! remaining arguments as its parameters. `-f` forces both version checks off; kmod
//! master's `--force-modversion` / `--force-vermagic` do one each.
//!
//! Beyond kmod: when the kernel refuses the module, its own log lines from that
//! attempt follow kmod's message (`insmod: ERROR: kernel: <line>`), and a compressed
//! file the kernel cannot decompress is decompressed here and loaded with
//! `init_module` (see [`libkmod_rs::insert`]).

use super::logging::{self, ToolLog};
use crate::diag::Level;
use crate::env::Env;
use crate::getopt::{self, HasArg, Opt};
use libkmod_rs::check;
use libkmod_rs::error::{errno, strerror};
use libkmod_rs::insert::{self, InsertFlags};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `ESRCH`.
const ESRCH: i32 = 3;

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

/// insmod's wording for the errors the kernel returns most (`mod_strerror`).
#[must_use]
pub fn mod_strerror(e: i32) -> String {
    match e {
        errno::ENOEXEC => "Invalid module format".into(),
        errno::ENOENT => "Unknown symbol in module".into(),
        ESRCH => "Module has wrong symbol version".into(),
        errno::EINVAL => "Invalid parameters".into(),
        _ => strerror(e),
    }
}

/// Run insmod. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = crate::dispatch::short_name(argv0);
    let parsed = match logging::parse_args(argv0, args, OPTS, false) {
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
            "f" => flags = InsertFlags::force(),
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
    let mut log = ToolLog::new(&prog);
    log.open(use_syslog, &env.root);
    let Some(filename) = parsed.operands.first() else {
        log.error(env.err, "missing filename.\n");
        return 1;
    };
    if filename == b"-" {
        log.error(env.err, "this tool does not support loading from stdin!\n");
        return 1;
    }
    let opts = insert::options_from_args(&parsed.operands[1..]);
    if logging::kmod_new(env).is_none() {
        log.error(env.err, "kmod_new() failed!\n");
        return 1;
    }
    log.setup(env.err, verbose);
    let r = insmod(&log, env, filename, &opts, flags);
    log.finish(env.err);
    r
}

fn insmod(
    log: &ToolLog,
    env: &mut Env<'_>,
    filename: &[u8],
    opts: &[u8],
    flags: InsertFlags,
) -> i32 {
    let path = libkmod_rs::file::make_absolute(Path::new(&getopt::os(filename)));
    let found = match std::fs::metadata(&path) {
        Ok(_) if libkmod_rs::name::path_to_modname(filename).is_none() => Err(errno::ENOENT),
        Ok(_) => Ok(()),
        Err(e) => Err(e.raw_os_error().unwrap_or(errno::ENOENT)),
    };
    if let Err(e) = found {
        let mut msg = b"could not load module ".to_vec();
        msg.extend_from_slice(filename);
        msg.extend_from_slice(format!(": {}\n", strerror(e)).as_bytes());
        log.error(env.err, msg);
        return 1;
    }
    // beyond kmod: refuse what the kernel would refuse, with a precise message
    if let Err(r) = check::check_module(env.kernel.as_ref(), &env.root, &path, flags, false) {
        let mut msg = b"could not insert module ".to_vec();
        msg.extend_from_slice(filename);
        msg.extend_from_slice(format!(": {}\n", r.reason).as_bytes());
        log.error(env.err, msg);
        return 1;
    }
    match insert::insert_module(env.kernel.as_mut(), &env.root, &path, opts, flags) {
        Ok(_) => 0,
        Err(e) => {
            let mut lib = e.message.iter().cloned().collect();
            log.lib(env.err, &mut lib);
            if e.logs_failure() {
                let mut msg = b"Failed to insert module '".to_vec();
                msg.extend_from_slice(path.as_os_str().as_bytes());
                msg.extend_from_slice(format!("': {}\n", strerror(e.errno)).as_bytes());
                log.log(env.err, Level::Info, &msg);
            }
            let mut msg = b"could not insert module ".to_vec();
            msg.extend_from_slice(filename);
            msg.extend_from_slice(format!(": {}\n", mod_strerror(e.errno)).as_bytes());
            log.error(env.err, msg);
            log.kernel_lines(env.err, &e.kernel_log);
            1
        }
    }
}
