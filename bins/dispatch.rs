//! The multi-call dispatcher: the basename of `argv[0]` picks the tool; `kmod <command>`
//! runs `help`, `list` or `static-nodes`.

use crate::env::Env;
use std::ffi::OsString;
use std::fmt::Write as _;

type RunFn = fn(&[u8], &[OsString], &mut Env<'_>) -> i32;

/// The compat tools, by the name they are called as.
pub const TOOLS: &[(&str, RunFn)] = &[
    ("lsmod", crate::tools::lsmod::run),
    ("rmmod", crate::tools::rmmod::run),
    ("insmod", crate::tools::insmod::run),
    ("modinfo", crate::tools::modinfo::run),
    ("modprobe", crate::tools::modprobe::run),
    ("depmod", crate::tools::depmod::run),
];

/// `-h` (the tool's `help` text) or `-V` (the version), printed to stdout; the
/// exit code (0).
pub fn help_or_version(id: &str, env: &mut Env<'_>, help: impl FnOnce() -> String) -> i32 {
    let text = if id == "h" { help() } else { version() };
    let _ = std::io::Write::write_all(&mut env.out, text.as_bytes());
    0
}

/// kmod's version as printed by `-V`: kmod's layout, naming this project too.
#[must_use]
pub fn version() -> String {
    let f = |on: bool, name: &str| format!("{}{name}", if on { '+' } else { '-' });
    format!(
        "kmod version 34.2 (kmod-rs {})\n{} {} {} +OPENSSL\n",
        env!("CARGO_PKG_VERSION"),
        f(cfg!(feature = "zstd"), "ZSTD"),
        f(cfg!(feature = "xz"), "XZ"),
        f(cfg!(feature = "gzip"), "ZLIB"),
    )
}

/// `program_invocation_short_name`: the part of `argv[0]` after the last `/`.
#[must_use]
pub fn short_name(argv0: &[u8]) -> String {
    let base = match argv0.iter().rposition(|&c| c == b'/') {
        Some(i) => &argv0[i + 1..],
        None => argv0,
    };
    String::from_utf8_lossy(base).into_owned()
}

/// Run the tool named by `argv[0]` (or `kmod <command>`).
pub fn run(argv: &[OsString], env: &mut Env<'_>) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    let argv0 = argv.first().map_or(&b"kmod"[..], |a| a.as_bytes());
    let name = short_name(argv0);
    let rest = argv.get(1..).unwrap_or_default();
    if let Some((_, run)) = TOOLS.iter().find(|(n, _)| *n == name) {
        return run(argv0, rest, env);
    }
    if name == "kmod" {
        return kmod(argv0, rest, env);
    }
    1
}

fn kmod_help(env: &mut Env<'_>, prog: &str) {
    let mut s = format!(
        "kmod - Manage kernel modules: list, load, unload, etc\nUsage:\n\t{prog} [options] command [command_options]\n\n\
Options:\n\t-V, --version     show version\n\t-h, --help        show this help\n\nCommands:\n"
    );
    s.push_str("  help         show help message\n");
    s.push_str("  list         list currently loaded modules\n");
    s.push_str("  static-nodes output the static-node information installed with the currently running kernel\n");
    s.push_str("\nkmod also handles gracefully if called from following symlinks:\n");
    for (n, _) in TOOLS {
        let _ = writeln!(s, "  {n:<12} compat {n} command");
    }
    let _ = env.out.write_all(s.as_bytes());
}

fn kmod(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    use crate::getopt::{self, HasArg, Opt};
    const OPTS: &[Opt] = &[
        Opt::new(b'h', "help", HasArg::No, "h", "show this help"),
        Opt::new(b'V', "version", HasArg::No, "V", "show version"),
    ];
    let prog = short_name(argv0);
    let parsed = match getopt::parse(argv0, args, OPTS, true) {
        Ok(p) => p,
        Err(e) => {
            let _ = env.err.write_all(e.0.as_bytes());
            return 1;
        }
    };
    if let Some(f) = parsed.opts.first() {
        if f.id == "h" {
            kmod_help(env, &prog);
        } else {
            let _ = env.out.write_all(version().as_bytes());
        }
        return 0;
    }
    let Some(cmd) = parsed.operands.first() else {
        let _ = env.err.write_all(b"missing command\n");
        kmod_help(env, &prog);
        return 1;
    };
    if cmd == b"help" {
        kmod_help(env, &prog);
        return 0;
    }
    if cmd == b"static-nodes" {
        let rest: Vec<OsString> = parsed.operands[1..].iter().map(|a| getopt::os(a)).collect();
        return crate::tools::static_nodes::run(&rest, env);
    }
    if cmd == b"list" {
        let rest: Vec<OsString> = parsed.operands[1..].iter().map(|a| getopt::os(a)).collect();
        return crate::tools::lsmod::run_list(&rest, env);
    }
    let _ = env
        .err
        .write_all(format!("invalid command '{}'\n", String::from_utf8_lossy(cmd)).as_bytes());
    kmod_help(env, &prog);
    1
}
