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
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::usage::{self, Layout, Part};
use libkmod_rs::check;
use libkmod_rs::error::{errno, strerror};
use libkmod_rs::insert::{self, InsertFlags};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `ESRCH`.
const ESRCH: i32 = 3;

/// What insmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-f`: both version checks off.
    Force,
    /// `--force-modversion` (beyond kmod 34.2, as modprobe has it).
    ForceModversion,
    /// `--force-vermagic` (beyond kmod 34.2, as modprobe has it).
    ForceVermagic,
    /// `-s`.
    Syslog,
    /// `-v`.
    Verbose,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
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
    getopt::syslog(Id::Syslog),
    getopt::verbose(Id::Verbose),
    getopt::version(Id::Version),
    getopt::help(Id::Help),
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
    let prog = usage::short_name(argv0);
    let mut flags = InsertFlags::default();
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
            Id::Force => flags = InsertFlags::force(),
            Id::ForceModversion => flags.force_modversion = true,
            Id::ForceVermagic => flags.force_vermagic = true,
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
    let Some(filename) = operands.first() else {
        log.error(env.err, "missing filename.\n");
        return 1;
    };
    if filename == b"-" {
        log.error(env.err, "this tool does not support loading from stdin!\n");
        return 1;
    }
    let opts = insert::options_from_args(&operands[1..]);
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
