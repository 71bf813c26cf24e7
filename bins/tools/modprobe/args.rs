//! modprobe's command line: its option table, `MODPROBE_OPTIONS`, and what the
//! options decide.

use crate::diag::Log;
use crate::env::Env;
use crate::getopt::{self, Found, HasArg, Opt};
use crate::usage::{self, Layout, Part};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// `-q`: nothing is shown (`LOG_EMERG`).
const LOG_EMERG: i32 = 0;

/// What modprobe's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-a`.
    All,
    /// `-r`.
    Remove,
    /// `--remove-holders` (and its old name `--remove-dependencies`).
    RemoveHolders,
    /// `-w MSEC`.
    Wait,
    /// `-R`.
    ResolveAlias,
    /// `--first-time`.
    FirstTime,
    /// `-i`.
    IgnoreCommands,
    /// `-b`.
    UseBlacklist,
    /// `-f`.
    Force,
    /// `--force-modversion`.
    ForceModversion,
    /// `--force-vermagic`.
    ForceVermagic,
    /// `-D`.
    ShowDepends,
    /// `-c`.
    ShowConfig,
    /// `--show-modversions`.
    ShowModversions,
    /// `--show-exports`.
    ShowExports,
    /// `-n`.
    DryRun,
    /// `-C FILE`.
    Config,
    /// `-d DIR`.
    Dirname,
    /// `-S VERSION`.
    SetVersion,
    /// `-s`.
    Syslog,
    /// `-q`.
    Quiet,
    /// `-v`.
    Verbose,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
    /// `--json` (beyond kmod).
    Json,
    /// `--select PATTERN` (beyond kmod).
    Select,
}

/// modprobe's options, in kmod's order.
pub const OPTS: &[Opt<Id>] = &[
    Opt::new(
        b'a',
        "all",
        HasArg::No,
        Id::All,
        "Consider every non-argument to\nbe a module name to be inserted\nor removed (-r)",
    ),
    Opt::new(
        b'r',
        "remove",
        HasArg::No,
        Id::Remove,
        "Remove modules instead of inserting",
    ),
    Opt::long(
        "remove-dependencies",
        HasArg::No,
        Id::RemoveHolders,
        "Deprecated: use --remove-holders",
    ),
    Opt::long(
        "remove-holders",
        HasArg::No,
        Id::RemoveHolders,
        "Also remove module holders (use together with -r)",
    ),
    Opt::new(
        b'w',
        "wait",
        HasArg::Required,
        Id::Wait,
        "When removing a module, wait up to MSEC for\nmodule's refcount to become 0 so it can be\nremoved (use together with -r)",
    )
    .metavar("=<MSEC>"),
    Opt::new(
        b'R',
        "resolve-alias",
        HasArg::No,
        Id::ResolveAlias,
        "Only lookup and print alias and exit",
    ),
    Opt::long(
        "first-time",
        HasArg::No,
        Id::FirstTime,
        "Fail if module already inserted or removed",
    ),
    Opt::new(
        b'i',
        "ignore-install",
        HasArg::No,
        Id::IgnoreCommands,
        "Ignore install commands",
    ),
    Opt::new(
        b'i',
        "ignore-remove",
        HasArg::No,
        Id::IgnoreCommands,
        "Ignore remove commands",
    ),
    Opt::new(
        b'b',
        "use-blacklist",
        HasArg::No,
        Id::UseBlacklist,
        "Apply blacklist to resolved alias.",
    ),
    Opt::new(
        b'f',
        "force",
        HasArg::No,
        Id::Force,
        "Force module insertion or removal.\nimplies --force-modversions and\n--force-vermagic",
    ),
    getopt::force_modversion(Id::ForceModversion),
    getopt::force_vermagic(Id::ForceVermagic),
    Opt::new(
        b'D',
        "show-depends",
        HasArg::No,
        Id::ShowDepends,
        "Only print module dependencies and exit",
    ),
    Opt::new(
        b'c',
        "showconfig",
        HasArg::No,
        Id::ShowConfig,
        "Print out known configuration and exit",
    ),
    Opt::new(
        b'c',
        "show-config",
        HasArg::No,
        Id::ShowConfig,
        "Same as --showconfig",
    ),
    Opt::long(
        "show-modversions",
        HasArg::No,
        Id::ShowModversions,
        "Dump module symbol version and exit",
    ),
    Opt::long(
        "dump-modversions",
        HasArg::No,
        Id::ShowModversions,
        "Same as --show-modversions",
    ),
    Opt::long(
        "show-exports",
        HasArg::No,
        Id::ShowExports,
        "Only print module exported symbol versions and exit",
    ),
    Opt::new(
        b'n',
        "dry-run",
        HasArg::No,
        Id::DryRun,
        "Do not execute operations, just print out",
    ),
    Opt::new(b'n', "show", HasArg::No, Id::DryRun, "Same as --dry-run"),
    Opt::new(
        b'C',
        "config",
        HasArg::Required,
        Id::Config,
        "Use FILE instead of default search paths",
    )
    .metavar("=FILE"),
    Opt::new(
        b'd',
        "dirname",
        HasArg::Required,
        Id::Dirname,
        "Use DIR as filesystem root for /lib/modules",
    )
    .metavar("=DIR"),
    Opt::new(
        b'S',
        "set-version",
        HasArg::Required,
        Id::SetVersion,
        "Use VERSION instead of `uname -r`",
    )
    .metavar("=VERSION"),
    getopt::syslog(Id::Syslog),
    Opt::new(b'q', "quiet", HasArg::No, Id::Quiet, "disable messages"),
    getopt::verbose(Id::Verbose),
    getopt::version(Id::Version),
    getopt::help(Id::Help),
    getopt::json(
        Id::Json,
        "With --show-depends: print the load plan of every\nmodule as one JSON document",
    ),
    Opt::long(
        "select",
        HasArg::Required,
        Id::Select,
        "Add every module under PATTERN, a directory of the\nmodule directory or a glob on the paths in it\n(implies -a)",
    )
    .metavar("=PATTERN")
    .beyond_kmod(),
];

/// `--help`.
pub const HELP: Layout = Layout {
    width: 28,
    parts: &[
        Part::Text(
            "Usage:\n\
\t{prog} [options] [-i] [-b] modulename\n\
\t{prog} [options] -a [-i] [-b] modulename [modulename...]\n\
\t{prog} [options] -r [-i] modulename\n\
\t{prog} [options] -r -a [-i] modulename [modulename...]\n\
\t{prog} [options] -c\n\
\t{prog} [options] --dump-modversions filename\n\
Management Options:\n",
        ),
        Part::Rows(&[
            "all",
            "remove",
            "remove-dependencies",
            "remove-holders",
            "wait",
            "first-time",
            "ignore-install",
            "ignore-remove",
            "use-blacklist",
            "force",
            "force-modversion",
            "force-vermagic",
        ]),
        Part::Text("\nQuery Options:\n"),
        Part::Rows(&[
            "resolve-alias",
            "show-depends",
            "showconfig",
            "show-config",
            "show-modversions",
            "dump-modversions",
            "show-exports",
            "json",
            "select",
        ]),
        Part::Text("\nGeneral Options:\n"),
        Part::Rows(&[
            "dry-run",
            "show",
            "config",
            "dirname",
            "set-version",
            "syslog",
            "quiet",
            "verbose",
            "version",
            "help",
        ]),
    ],
};

/// `strtoul(s, &end, 0)` accepted only when it consumes all of a non-empty `s`.
fn parse_wait(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut base = 10u32;
    if s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'x' | b'X')) {
        if s.get(i + 2).is_some_and(u8::is_ascii_hexdigit) {
            base = 16;
            i += 2;
        } else {
            // "0x" without hex digits: strtoul parses the "0" and stops at 'x'
            return None;
        }
    } else if s.get(i) == Some(&b'0') {
        base = 8;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).and_then(|&c| char::from(c).to_digit(base)) {
        match v
            .checked_mul(u64::from(base))
            .and_then(|x| x.checked_add(u64::from(d)))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start || i != s.len() {
        return None;
    }
    if overflow {
        return Some(u64::MAX);
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `MODPROBE_OPTIONS` split as kmod splits it: on spaces; a token starting with a
/// quote runs to the matching quote (quotes dropped); a quoted part inside a token
/// loses its quotes.
pub(super) fn split_env_options(env: &[u8]) -> Vec<Vec<u8>> {
    let mut buf = env.to_vec();
    let mut out = Vec::new();
    let mut str_start = 0usize;
    let mut quote: Option<usize> = None;
    let mut s = 0usize;
    while s < buf.len() {
        match quote {
            None => {
                if buf[s] == b' ' {
                    out.push(buf[str_start..s].to_vec());
                    str_start = s + 1;
                } else if buf[s] == b'"' || buf[s] == b'\'' {
                    quote = Some(s);
                }
            }
            Some(q) => {
                if buf[s] == buf[q] {
                    if q == str_start {
                        out.push(buf[str_start + 1..s].to_vec());
                        str_start = s + 1;
                    } else {
                        // drop the two quote bytes: shift the rest left
                        buf.remove(q);
                        buf.remove(s - 1);
                        s -= 2;
                    }
                    quote = None;
                }
            }
        }
        s += 1;
    }
    if str_start < s.min(buf.len()) {
        out.push(buf[str_start..].to_vec());
    }
    out
}

/// Everything the command line decides.
#[derive(Default)]
pub(super) struct Opts {
    pub(super) use_all: bool,
    pub(super) remove: bool,
    pub(super) remove_holders: bool,
    pub(super) wait_msec: u64,
    pub(super) lookup_only: bool,
    pub(super) first_time: bool,
    pub(super) ignore_commands: bool,
    pub(super) use_blacklist: bool,
    pub(super) force: bool,
    pub(super) strip_modversion: bool,
    pub(super) strip_vermagic: bool,
    pub(super) ignore_loaded: bool,
    pub(super) dry_run: bool,
    pub(super) do_show: bool,
    pub(super) show_config: bool,
    pub(super) show_modversions: bool,
    pub(super) show_exports: bool,
    pub(super) config_paths: Option<Vec<PathBuf>>,
    pub(super) root: Option<Vec<u8>>,
    pub(super) kversion: Option<Vec<u8>>,
    pub(super) use_syslog: bool,
    pub(super) verbose: i32,
    /// `-a`: `LOG()` warns instead of ending the tool with FATAL.
    pub(super) log_warning: bool,
    /// `MODPROBE_OPTIONS` for commands run from here.
    pub(super) env_options: Option<Vec<u8>>,
    /// `-D` was given.
    pub(super) show_depends: bool,
    /// `--json`.
    pub(super) json: bool,
    /// `--select` patterns.
    pub(super) select: Vec<Vec<u8>>,
}

impl Opts {
    fn env_append(&mut self, v: &[u8]) {
        match &mut self.env_options {
            Some(e) => {
                e.push(b' ');
                e.extend_from_slice(v);
            }
            None => self.env_options = Some(v.to_vec()),
        }
    }
}

/// What happens after an option: go on, or end the tool with this status.
pub(super) enum Step {
    Go,
    Exit(i32),
}

pub(super) fn apply(o: &mut Opts, f: Found<Id>, prog: &str, env: &mut Env<'_>) -> Step {
    let val = f.value.unwrap_or_default();
    match f.id {
        Id::All => {
            o.log_warning = true;
            o.use_all = true;
        }
        Id::Remove => o.remove = true,
        Id::RemoveHolders => o.remove_holders = true,
        Id::Wait => {
            if let Some(w) = parse_wait(&val) {
                o.wait_msec = w;
            } else {
                let mut m = b"unexpected wait value '".to_vec();
                m.extend_from_slice(&val);
                m.extend_from_slice(b"'.\n");
                Log::new(prog).error(env.err, &m);
                return Step::Exit(1);
            }
        }
        Id::FirstTime => o.first_time = true,
        Id::IgnoreCommands => o.ignore_commands = true,
        Id::UseBlacklist => o.use_blacklist = true,
        Id::Force => o.force = true,
        Id::ForceModversion => o.strip_modversion = true,
        Id::ForceVermagic => o.strip_vermagic = true,
        Id::ShowDepends => {
            o.show_depends = true;
            o.ignore_loaded = true;
            o.dry_run = true;
            o.do_show = true;
        }
        Id::ResolveAlias => o.lookup_only = true,
        Id::ShowConfig => o.show_config = true,
        Id::ShowModversions => o.show_modversions = true,
        Id::ShowExports => o.show_exports = true,
        Id::DryRun => o.dry_run = true,
        Id::Config => {
            o.config_paths
                .get_or_insert_with(Vec::new)
                .push(PathBuf::from(OsString::from_vec(val.clone())));
            o.env_append(b"-C");
            o.env_append(&val);
        }
        Id::Dirname => o.root = Some(val),
        Id::SetVersion => o.kversion = Some(val),
        Id::Syslog => {
            o.env_append(b"-s");
            o.use_syslog = true;
        }
        Id::Quiet => {
            o.env_append(b"-q");
            o.verbose = LOG_EMERG;
        }
        Id::Verbose => {
            o.env_append(b"-v");
            o.verbose += 1;
        }
        Id::Json => o.json = true,
        Id::Select => o.select.push(val),
        Id::Help | Id::Version => {
            return Step::Exit(usage::help_or_version(f.id == Id::Help, env, || {
                HELP.render(OPTS, prog)
            }));
        }
    }
    Step::Go
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn env_split() {
        let v = split_env_options(b"-v 'a b' x\"y z\"w -C c");
        let v: Vec<String> = v.iter().map(|x| lossy(x)).collect();
        // kmod yields an empty word after a quoted one followed by a space
        assert_eq!(v, vec!["-v", "a b", "", "xy zw", "-C", "c"]);
        assert!(split_env_options(b"").is_empty());
        let v: Vec<String> = split_env_options(b"a  b ")
            .iter()
            .map(|x| lossy(x))
            .collect();
        assert_eq!(v, vec!["a", "", "b"]);
    }

    #[test]
    fn wait_values() {
        assert_eq!(parse_wait(b"10"), Some(10));
        assert_eq!(parse_wait(b"0x10"), Some(16));
        assert_eq!(parse_wait(b"010"), Some(8));
        assert_eq!(parse_wait(b""), None);
        assert_eq!(parse_wait(b"1x"), None);
        assert_eq!(parse_wait(b"-1"), Some(u64::MAX));
    }
}
