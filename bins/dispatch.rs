//! The multi-call dispatcher: the basename of `argv[0]` picks the tool; `kmod <command>`
//! runs `help`, `list` or `static-nodes`.

use crate::env::Env;
use crate::getopt::{self, Getopt, Opt};
use crate::usage::{self, Layout, Part};
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

/// What `kmod`'s own options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-h`.
    Help,
    /// `-V`.
    Version,
}

/// `kmod`'s own options (before the command).
pub const OPTS: &[Opt<Id>] = &[getopt::help(Id::Help), getopt::version(Id::Version)];

/// `kmod`'s commands with their help text.
pub const COMMANDS: &[(&str, &str)] = &[
    ("help", "show help message"),
    ("list", "list currently loaded modules"),
    (
        "static-nodes",
        "output the static-node information installed with the currently running kernel",
    ),
];

/// `kmod --help`, before the lists of commands and tools.
pub const HELP: Layout = Layout {
    width: 18,
    parts: &[
        Part::Text(
            "kmod - Manage kernel modules: list, load, unload, etc\nUsage:\n\
\t{prog} [options] command [command_options]\n\nOptions:\n",
        ),
        Part::Rows(&["version", "help"]),
        Part::Text("\nCommands:\n"),
    ],
};

/// Run the tool named by `argv[0]` (or `kmod <command>`).
pub fn run(argv: &[OsString], env: &mut Env<'_>) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    let argv0 = argv.first().map_or(&b"kmod"[..], |a| a.as_bytes());
    let name = usage::short_name(argv0);
    let rest = argv.get(1..).unwrap_or_default();
    if let Some((_, run)) = TOOLS.iter().find(|(n, _)| *n == name) {
        return run(argv0, rest, env);
    }
    if name == "kmod" {
        return kmod(argv0, rest, env);
    }
    1
}

fn kmod_help(prog: &str) -> String {
    let mut s = HELP.render(OPTS, prog);
    for (n, h) in COMMANDS {
        let _ = writeln!(s, "  {n:<12} {h}");
    }
    s.push_str("\nkmod also handles gracefully if called from following symlinks:\n");
    for (n, _) in TOOLS {
        let _ = writeln!(s, "  {n:<12} compat {n} command");
    }
    s
}

/// `kmod [options] command [command options]` (kmod's `handle_kmod_commands`).
fn kmod(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    let prog = usage::short_name(argv0);
    let mut options = Getopt::new(argv0, args, OPTS, true);
    // the first option ends it: -h, -V or an error
    if let Some(f) = options.next() {
        return usage::help_or_version(f.id == Id::Help, env, || kmod_help(&prog));
    }
    let Some(operands) = options.finish(env.err) else {
        return 1;
    };
    let Some(cmd) = operands.first() else {
        let _ = env.err.write_all(b"missing command\n");
        let _ = env.out.write_all(kmod_help(&prog).as_bytes());
        return 1;
    };
    // kmod hands the command the arguments after the command, and as argv[0] the
    // element after its own (the command, or a `--` before it) for glibc's messages
    let cmd_argv0 = args.first().map_or(&b""[..], |a| a.as_bytes());
    let rest: Vec<OsString> = operands[1..].iter().map(|a| getopt::os(a)).collect();
    match cmd.as_slice() {
        b"help" => {
            let _ = env.out.write_all(kmod_help(&prog).as_bytes());
            0
        }
        b"list" => crate::tools::lsmod::run_list(cmd_argv0, &rest, env),
        b"static-nodes" => crate::tools::static_nodes::run(cmd_argv0, &rest, env),
        _ => {
            let m = [b"invalid command '", cmd.as_slice(), b"'\n"].concat();
            let _ = env.err.write_all(&m);
            let _ = env.out.write_all(kmod_help(&prog).as_bytes());
            1
        }
    }
}

/// Every tool's option table and `--help` layout, by the name `--help` is asked of
/// (`static-nodes` and `kmod` are kmod's commands).
#[must_use]
pub fn help_tables() -> [(&'static str, Vec<Opt<()>>, Layout); 8] {
    use crate::getopt::untyped;
    use crate::tools;
    [
        ("insmod", untyped(tools::insmod::OPTS), tools::insmod::HELP),
        ("rmmod", untyped(tools::rmmod::OPTS), tools::rmmod::HELP),
        ("lsmod", untyped(tools::lsmod::OPTS), tools::lsmod::HELP),
        (
            "modinfo",
            untyped(tools::modinfo::OPTS),
            tools::modinfo::HELP,
        ),
        (
            "modprobe",
            untyped(tools::modprobe::OPTS),
            tools::modprobe::HELP,
        ),
        ("depmod", untyped(tools::depmod::OPTS), tools::depmod::HELP),
        (
            "static-nodes",
            untyped(tools::static_nodes::OPTS),
            tools::static_nodes::HELP,
        ),
        ("kmod", untyped(OPTS), HELP),
    ]
}

#[cfg(test)]
mod tests {
    /// Every help layout lists each option of its table that has a help text, once,
    /// and nothing else; every layout renders.
    #[test]
    fn help_layouts_cover_their_tables() {
        for (tool, table, layout) in super::help_tables() {
            let mut listed: Vec<&str> = layout.names().collect();
            listed.sort_unstable();
            let mut expected: Vec<&str> = table
                .iter()
                .filter(|o| o.listed())
                .filter_map(|o| o.long)
                .collect();
            expected.sort_unstable();
            assert_eq!(listed, expected, "{tool}");
            assert!(!layout.render(&table, tool).is_empty());
        }
    }
}
