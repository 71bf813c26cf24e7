//! GNU `getopt_long` semantics, byte for byte: argument permutation, `--` as the end of
//! options, clustered short options, `-Xvalue` and `-X value`, `--name=value` and
//! `--name value`, unambiguous prefixes of long options (an exact match wins; several
//! candidates that mean the same thing are not ambiguous), and glibc's diagnostics,
//! which name the full `argv[0]`.
//!
//! kmod's behaviour on bad options is part of its interface (scripts look at the
//! messages and exit codes), so this replaces clap for parsing; the option tables here
//! are also what the man-page test and the completions are generated from.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Whether an option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    /// Never.
    No,
    /// Always (`-X v`, `-Xv`, `--x v`, `--x=v`).
    Required,
    /// Only attached (`-Xv`, `--x=v`).
    Optional,
}

/// One option of a tool.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// Short letter (`None` for long-only options).
    pub short: Option<u8>,
    /// Long name (`None` for short-only options).
    pub long: Option<&'static str>,
    /// Argument rule.
    pub arg: HasArg,
    /// What the option means: options with the same id are the same option.
    pub id: &'static str,
    /// One-line help text.
    pub help: &'static str,
}

/// `-s, --syslog`, as insmod, rmmod, lsmod and modprobe have it.
pub const SYSLOG: Opt = Opt::new(
    b's',
    "syslog",
    HasArg::No,
    "s",
    "print to syslog, not stderr",
);
/// `-v, --verbose`, as insmod, rmmod, lsmod and modprobe have it.
pub const VERBOSE: Opt = Opt::new(b'v', "verbose", HasArg::No, "v", "enables more messages");
/// `-V, --version` (see [`crate::dispatch::help_or_version`]).
pub const VERSION: Opt = Opt::new(b'V', "version", HasArg::No, "V", "show version");
/// `-h, --help` (see [`crate::dispatch::help_or_version`]).
pub const HELP: Opt = Opt::new(b'h', "help", HasArg::No, "h", "show this help");
/// `--force-modversion`, as insmod and modprobe have it.
pub const FORCE_MODVERSION: Opt = Opt::long(
    "force-modversion",
    HasArg::No,
    "force-modversion",
    "Ignore module's version",
);
/// `--force-vermagic`, as insmod and modprobe have it.
pub const FORCE_VERMAGIC: Opt = Opt::long(
    "force-vermagic",
    HasArg::No,
    "force-vermagic",
    "Ignore module's version magic",
);

impl Opt {
    /// An option with both forms.
    #[must_use]
    pub const fn new(
        short: u8,
        long: &'static str,
        arg: HasArg,
        id: &'static str,
        help: &'static str,
    ) -> Self {
        Opt {
            short: Some(short),
            long: Some(long),
            arg,
            id,
            help,
        }
    }
    /// A long-only option.
    #[must_use]
    pub const fn long(
        long: &'static str,
        arg: HasArg,
        id: &'static str,
        help: &'static str,
    ) -> Self {
        Opt {
            short: None,
            long: Some(long),
            arg,
            id,
            help,
        }
    }
}

/// One parsed option occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The option id.
    pub id: &'static str,
    /// Its argument, if any.
    pub value: Option<Vec<u8>>,
}

/// The result of parsing: options in command-line order and the operands.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    /// Options in order.
    pub opts: Vec<Found>,
    /// Operands (non-options) in order.
    pub operands: Vec<Vec<u8>>,
}

/// A glibc diagnostic (printed as is to stderr; the tool then exits 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetoptError(pub String);

/// Parse `args` (without `argv[0]`). `argv0` is used in diagnostics. With `stop_at_operand`
/// parsing stops at the first operand (`+` in a getopt optstring).
pub fn parse(
    argv0: &[u8],
    args: &[OsString],
    opts: &[Opt],
    stop_at_operand: bool,
) -> Result<Parsed, GetoptError> {
    let argv0 = String::from_utf8_lossy(argv0).into_owned();
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.clone().into_vec()).collect();
    let posix = stop_at_operand || std::env::var_os("POSIXLY_CORRECT").is_some();
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == b"--" {
            out.operands.extend(args[i..].iter().cloned());
            break;
        }
        if a.len() < 2 || a[0] != b'-' {
            out.operands.push(a.clone());
            if posix {
                out.operands.extend(args[i..].iter().cloned());
                break;
            }
            continue;
        }
        if let Some(body) = a.strip_prefix(b"--") {
            let (name, value) = match body.iter().position(|&c| c == b'=') {
                Some(p) => (&body[..p], Some(body[p + 1..].to_vec())),
                None => (body, None),
            };
            let opt = find_long(&argv0, body, name, opts)?;
            let long = opt.long.unwrap_or_default();
            match (opt.arg, value) {
                (HasArg::No, Some(_)) => {
                    return Err(GetoptError(format!(
                        "{argv0}: option '--{long}' doesn't allow an argument\n"
                    )));
                }
                (HasArg::No | HasArg::Optional, None) => out.opts.push(Found {
                    id: opt.id,
                    value: None,
                }),
                (_, Some(v)) => out.opts.push(Found {
                    id: opt.id,
                    value: Some(v),
                }),
                (HasArg::Required, None) => {
                    if i < args.len() {
                        out.opts.push(Found {
                            id: opt.id,
                            value: Some(args[i].clone()),
                        });
                        i += 1;
                    } else {
                        return Err(GetoptError(format!(
                            "{argv0}: option '--{long}' requires an argument\n"
                        )));
                    }
                }
            }
            continue;
        }
        // a cluster of short options
        let mut k = 1;
        while k < a.len() {
            let c = a[k];
            k += 1;
            let Some(opt) = opts.iter().find(|o| o.short == Some(c) && c != b':') else {
                return Err(GetoptError(format!(
                    "{argv0}: invalid option -- '{}'\n",
                    char::from(c)
                )));
            };
            match opt.arg {
                HasArg::No => out.opts.push(Found {
                    id: opt.id,
                    value: None,
                }),
                HasArg::Optional => {
                    let v = (k < a.len()).then(|| a[k..].to_vec());
                    out.opts.push(Found {
                        id: opt.id,
                        value: v,
                    });
                    break;
                }
                HasArg::Required => {
                    if k < a.len() {
                        out.opts.push(Found {
                            id: opt.id,
                            value: Some(a[k..].to_vec()),
                        });
                    } else if i < args.len() {
                        out.opts.push(Found {
                            id: opt.id,
                            value: Some(args[i].clone()),
                        });
                        i += 1;
                    } else {
                        return Err(GetoptError(format!(
                            "{argv0}: option requires an argument -- '{}'\n",
                            char::from(c)
                        )));
                    }
                    break;
                }
            }
        }
    }
    Ok(out)
}

fn find_long<'o>(
    argv0: &str,
    body: &[u8],
    name: &[u8],
    opts: &'o [Opt],
) -> Result<&'o Opt, GetoptError> {
    if let Some(o) = opts
        .iter()
        .find(|o| o.long.map(str::as_bytes) == Some(name))
    {
        return Ok(o);
    }
    let candidates: Vec<&Opt> = opts
        .iter()
        .filter(|o| o.long.is_some_and(|l| l.as_bytes().starts_with(name)))
        .collect();
    let Some(first) = candidates.first() else {
        return Err(GetoptError(format!(
            "{argv0}: unrecognized option '--{}'\n",
            String::from_utf8_lossy(body)
        )));
    };
    let ambiguous = candidates
        .iter()
        .any(|o| o.arg != first.arg || o.id != first.id);
    if ambiguous {
        let mut msg = format!(
            "{argv0}: option '--{}' is ambiguous; possibilities:",
            String::from_utf8_lossy(body)
        );
        // glibc lists the first candidate and those that differ from it
        for o in candidates
            .iter()
            .enumerate()
            .filter(|(k, o)| *k == 0 || o.arg != first.arg || o.id != first.id)
            .map(|(_, o)| o)
        {
            let _ = write!(msg, " '--{}'", o.long.unwrap_or_default());
        }
        msg.push('\n');
        return Err(GetoptError(msg));
    }
    Ok(first)
}

/// The last value of option `id`, if given.
#[must_use]
pub fn last<'p>(p: &'p Parsed, id: &str) -> Option<&'p Found> {
    p.opts.iter().rev().find(|f| f.id == id)
}

/// Bytes to an `OsString`.
#[must_use]
pub fn os(b: &[u8]) -> OsString {
    std::ffi::OsStr::from_bytes(b).to_os_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        Opt::new(b'a', "author", HasArg::No, "a", ""),
        Opt::new(b'F', "field", HasArg::Required, "F", ""),
        Opt::new(b'n', "show", HasArg::No, "n", ""),
        Opt::long("show-depends", HasArg::No, "D", ""),
        Opt::new(b'N', "dry-run", HasArg::No, "n", ""),
        Opt::long("shadow", HasArg::No, "s", ""),
    ];

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn permutation_and_clusters() {
        let p = parse(b"x", &args(&["m", "-aFdesc", "n", "--", "-a"]), OPTS, false).unwrap();
        assert_eq!(
            p.operands,
            vec![b"m".to_vec(), b"n".to_vec(), b"-a".to_vec()]
        );
        assert_eq!(p.opts[1].value.as_deref(), Some(&b"desc"[..]));
        let p = parse(
            b"x",
            &args(&["-F", "v", "--field=w", "--fie", "z"]),
            OPTS,
            false,
        )
        .unwrap();
        assert_eq!(p.opts.len(), 3);
        assert_eq!(p.opts[2].value.as_deref(), Some(&b"z"[..]));
    }

    #[test]
    fn long_prefixes() {
        // exact wins
        assert_eq!(
            parse(b"x", &args(&["--show"]), OPTS, false).unwrap().opts[0].id,
            "n"
        );
        // unique prefix
        assert_eq!(
            parse(b"x", &args(&["--show-"]), OPTS, false).unwrap().opts[0].id,
            "D"
        );
        // ambiguous
        let e = parse(b"x", &args(&["--sh"]), OPTS, false).unwrap_err();
        assert_eq!(
            e.0,
            "x: option '--sh' is ambiguous; possibilities: '--show' '--show-depends' '--shadow'\n"
        );
        let e = parse(b"x", &args(&["--nope=1"]), OPTS, false).unwrap_err();
        assert_eq!(e.0, "x: unrecognized option '--nope=1'\n");
        let e = parse(b"x", &args(&["--author=1"]), OPTS, false).unwrap_err();
        assert_eq!(e.0, "x: option '--author' doesn't allow an argument\n");
        let e = parse(b"x", &args(&["--field"]), OPTS, false).unwrap_err();
        assert_eq!(e.0, "x: option '--field' requires an argument\n");
        let e = parse(b"x", &args(&["-F"]), OPTS, false).unwrap_err();
        assert_eq!(e.0, "x: option requires an argument -- 'F'\n");
        let e = parse(b"x", &args(&["-Z"]), OPTS, false).unwrap_err();
        assert_eq!(e.0, "x: invalid option -- 'Z'\n");
    }

    #[test]
    fn stop_at_operand() {
        let p = parse(b"x", &args(&["cmd", "-a"]), OPTS, true).unwrap();
        assert_eq!(p.operands.len(), 2);
        assert!(p.opts.is_empty());
    }
}
