//! GNU `getopt_long` semantics, byte for byte: argument permutation, `--` as the end of
//! options, clustered short options, `-Xvalue` and `-X value`, `--name=value` and
//! `--name value`, unambiguous prefixes of long options (an exact match wins; several
//! candidates that mean the same thing are not ambiguous), and glibc's diagnostics,
//! which name the full `argv[0]` and quote the arguments' bytes as given.
//!
//! kmod's behaviour on bad options is part of its interface (scripts look at the
//! messages and exit codes), so this replaces clap for parsing. Like `getopt_long`,
//! [`Getopt`] hands out one option at a time: kmod's tools act on each option inside
//! their `getopt_long` loop, so a `-h` exits before a later bad option is even seen.
//! The option tables here are also what the help texts, the man-page test and the
//! completions are generated from.

use std::ffi::OsString;
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

/// One option of a tool; `Id` is the tool's enum of what its options mean.
#[derive(Debug, Clone, Copy)]
pub struct Opt<Id: Copy + Eq> {
    /// Short letter (`None` for long-only options). Several entries may share one
    /// letter (kmod's `-i` is `--ignore-install` and `--ignore-remove`): the letter
    /// then means the first of them, and the help text shows it on each.
    pub short: Option<u8>,
    /// Long name (`None` for short-only options).
    pub long: Option<&'static str>,
    /// Argument rule.
    pub arg: HasArg,
    /// What the option means: options with the same id are the same option.
    pub id: Id,
    /// Help text, kmod's lines split where kmod splits them (`\n`). Empty: the
    /// option is not listed by `--help` (as kmod does for depmod's `--dry-run`).
    pub help: &'static str,
    /// What `--help` shows after the long name (`=FILE`), if anything.
    pub metavar: &'static str,
    /// An option kmod 34.2 does not have: an abbreviation resolves among kmod's own
    /// options first, so every abbreviation kmod accepts keeps its meaning.
    pub beyond_kmod: bool,
}

impl<Id: Copy + Eq> Opt<Id> {
    /// An option with both forms.
    #[must_use]
    pub const fn new(
        short: u8,
        long: &'static str,
        arg: HasArg,
        id: Id,
        help: &'static str,
    ) -> Self {
        Opt {
            short: Some(short),
            ..Opt::long(long, arg, id, help)
        }
    }

    /// A long-only option.
    #[must_use]
    pub const fn long(long: &'static str, arg: HasArg, id: Id, help: &'static str) -> Self {
        Opt {
            short: None,
            long: Some(long),
            arg,
            id,
            help,
            metavar: "",
            beyond_kmod: false,
        }
    }

    /// The same option, shown in `--help` as `--long<metavar>`.
    #[must_use]
    pub const fn metavar(mut self, metavar: &'static str) -> Self {
        self.metavar = metavar;
        self
    }

    /// The same option with another help text.
    #[must_use]
    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }

    /// The same option, marked as one kmod 34.2 does not have.
    #[must_use]
    pub const fn beyond_kmod(mut self) -> Self {
        self.beyond_kmod = true;
        self
    }

    /// Does `--help` list it? (Not when it has no help text, as kmod's depmod does
    /// not list `--dry-run`.)
    #[must_use]
    pub const fn listed(&self) -> bool {
        !self.help.is_empty()
    }

    /// The entry without its id (for the completions and the man-page test).
    #[must_use]
    pub const fn untyped(&self) -> Opt<()> {
        Opt {
            short: self.short,
            long: self.long,
            arg: self.arg,
            id: (),
            help: self.help,
            metavar: self.metavar,
            beyond_kmod: self.beyond_kmod,
        }
    }

    /// The help text on one line.
    #[must_use]
    pub fn help_line(&self) -> String {
        self.help.replace('\n', " ")
    }
}

/// A table without its ids.
#[must_use]
pub fn untyped<Id: Copy + Eq>(table: &[Opt<Id>]) -> Vec<Opt<()>> {
    table.iter().map(Opt::untyped).collect()
}

/// `-s, --syslog`, as insmod, rmmod, lsmod and modprobe have it.
#[must_use]
pub const fn syslog<Id: Copy + Eq>(id: Id) -> Opt<Id> {
    Opt::new(
        b's',
        "syslog",
        HasArg::No,
        id,
        "print to syslog, not stderr",
    )
}

/// `-v, --verbose`, as insmod, rmmod, lsmod and modprobe have it.
#[must_use]
pub const fn verbose<Id: Copy + Eq>(id: Id) -> Opt<Id> {
    Opt::new(b'v', "verbose", HasArg::No, id, "enables more messages")
}

/// `-V, --version` (see [`crate::usage::help_or_version`]).
#[must_use]
pub const fn version<Id: Copy + Eq>(id: Id) -> Opt<Id> {
    Opt::new(b'V', "version", HasArg::No, id, "show version")
}

/// `-h, --help` (see [`crate::usage::help_or_version`]).
#[must_use]
pub const fn help<Id: Copy + Eq>(id: Id) -> Opt<Id> {
    Opt::new(b'h', "help", HasArg::No, id, "show this help")
}

/// `--json`, which the read-only tools have (beyond kmod).
#[must_use]
pub const fn json<Id: Copy + Eq>(id: Id, help: &'static str) -> Opt<Id> {
    Opt::long("json", HasArg::No, id, help).beyond_kmod()
}

/// `--force-modversion`, as modprobe has it (and insmod, beyond kmod).
#[must_use]
pub const fn force_modversion<Id: Copy + Eq>(id: Id) -> Opt<Id> {
    Opt::long(
        "force-modversion",
        HasArg::No,
        id,
        "Ignore module's version",
    )
}

/// `--force-vermagic`, as modprobe has it (and insmod, beyond kmod).
#[must_use]
pub const fn force_vermagic<Id: Copy + Eq>(id: Id) -> Opt<Id> {
    Opt::long(
        "force-vermagic",
        HasArg::No,
        id,
        "Ignore module's version magic",
    )
}

/// One parsed option occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<Id> {
    /// The option id.
    pub id: Id,
    /// Its argument, if any.
    pub value: Option<Vec<u8>>,
}

impl<Id> Found<Id> {
    /// The argument (empty if none).
    #[must_use]
    pub fn arg(&self) -> &[u8] {
        self.value.as_deref().unwrap_or_default()
    }
}

/// A glibc diagnostic, as bytes (printed as is to stderr; the tool then exits 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetoptError(pub Vec<u8>);

impl GetoptError {
    fn new(parts: &[&[u8]]) -> Self {
        GetoptError(parts.concat())
    }

    /// Print the diagnostic to `err`; the status the tool then exits with (1).
    pub fn report(&self, err: &mut dyn std::io::Write) -> i32 {
        let _ = err.write_all(&self.0);
        1
    }
}

/// `getopt_long` over `args` (without `argv[0]`): an iterator of options in
/// command-line order, ending at the end of the options or at the first error.
/// [`Getopt::finish`] then gives the operands in order, or prints that error.
pub struct Getopt<'t, Id: Copy + Eq> {
    argv0: Vec<u8>,
    args: Vec<Vec<u8>>,
    opts: &'t [Opt<Id>],
    /// Stop at the first operand (`+` in the option string, or `POSIXLY_CORRECT`).
    posix: bool,
    /// The next element of `args` to look at.
    next: usize,
    /// Inside a cluster of short options: the element and the next byte.
    cluster: Option<(usize, usize)>,
    operands: Vec<Vec<u8>>,
    done: bool,
    /// The error that ended the options.
    error: Option<GetoptError>,
}

impl<'t, Id: Copy + Eq> Getopt<'t, Id> {
    /// Parse `args` with `opts`. `argv0` is used in diagnostics. With
    /// `stop_at_operand` parsing stops at the first operand (`+` in a getopt
    /// option string; the tools pass it too when `POSIXLY_CORRECT` is set, see
    /// [`crate::env::Vars`]).
    #[must_use]
    pub fn new(
        argv0: &[u8],
        args: &[OsString],
        opts: &'t [Opt<Id>],
        stop_at_operand: bool,
    ) -> Self {
        Getopt {
            argv0: argv0.to_vec(),
            args: args.iter().map(|a| a.clone().into_vec()).collect(),
            opts,
            posix: stop_at_operand,
            next: 0,
            cluster: None,
            operands: Vec::new(),
            done: false,
            error: None,
        }
    }

    /// The operands, in order: those skipped over so far (all of them once the
    /// iterator has ended) and everything not yet looked at; or the error that
    /// ended the options.
    pub fn result(mut self) -> Result<Vec<Vec<u8>>, GetoptError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let rest = self.args.split_off(self.next.min(self.args.len()));
        self.operands.extend(rest);
        Ok(self.operands)
    }

    /// [`Getopt::result`], the error printed to `err` (`None`: the tool exits 1,
    /// as kmod's tools do on `getopt_long`'s `'?'`).
    pub fn finish(self, err: &mut dyn std::io::Write) -> Option<Vec<Vec<u8>>> {
        self.result().map_err(|e| e.report(err)).ok()
    }

    /// The option, or the end of parsing when `r` is an error.
    fn check(&mut self, r: Result<Found<Id>, GetoptError>) -> Option<Found<Id>> {
        match r {
            Ok(f) => Some(f),
            Err(e) => {
                self.done = true;
                self.error = Some(e);
                None
            }
        }
    }

    fn short(&mut self, i: usize, k: usize) -> Result<Found<Id>, GetoptError> {
        let a = &self.args[i];
        let c = a[k];
        let rest = k + 1 < a.len();
        self.cluster = rest.then_some((i, k + 1));
        let Some(opt) = self.opts.iter().find(|o| o.short == Some(c) && c != b':') else {
            let e = GetoptError::new(&[&self.argv0, b": invalid option -- '", &[c], b"'\n"]);
            return Err(e);
        };
        let (id, arg) = (opt.id, opt.arg);
        let value = match arg {
            HasArg::No => None,
            HasArg::Optional => {
                self.cluster = None;
                rest.then(|| a[k + 1..].to_vec())
            }
            HasArg::Required => {
                self.cluster = None;
                if rest {
                    Some(a[k + 1..].to_vec())
                } else if self.next < self.args.len() {
                    self.next += 1;
                    Some(self.args[self.next - 1].clone())
                } else {
                    let e = GetoptError::new(&[
                        &self.argv0,
                        b": option requires an argument -- '",
                        &[c],
                        b"'\n",
                    ]);
                    return Err(e);
                }
            }
        };
        Ok(Found { id, value })
    }

    fn long(&mut self, body: &[u8]) -> Result<Found<Id>, GetoptError> {
        let (name, value) = match body.iter().position(|&c| c == b'=') {
            Some(p) => (&body[..p], Some(body[p + 1..].to_vec())),
            None => (body, None),
        };
        let opt = find_long(&self.argv0, body, name, self.opts)?;
        let long = opt.long.unwrap_or_default().as_bytes();
        let value = match (opt.arg, value) {
            (HasArg::No, Some(_)) => {
                let e = GetoptError::new(&[
                    &self.argv0,
                    b": option '--",
                    long,
                    b"' doesn't allow an argument\n",
                ]);
                return Err(e);
            }
            (HasArg::No | HasArg::Optional, None) => None,
            (_, Some(v)) => Some(v),
            (HasArg::Required, None) => {
                if self.next < self.args.len() {
                    self.next += 1;
                    Some(self.args[self.next - 1].clone())
                } else {
                    let e = GetoptError::new(&[
                        &self.argv0,
                        b": option '--",
                        long,
                        b"' requires an argument\n",
                    ]);
                    return Err(e);
                }
            }
        };
        Ok(Found { id: opt.id, value })
    }
}

impl<Id: Copy + Eq> Iterator for Getopt<'_, Id> {
    type Item = Found<Id>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some((i, k)) = self.cluster {
            let r = self.short(i, k);
            return self.check(r);
        }
        while self.next < self.args.len() {
            let i = self.next;
            self.next += 1;
            let a = &self.args[i];
            if a == b"--" {
                break;
            }
            if a.len() < 2 || a[0] != b'-' {
                if self.posix {
                    // the operand stays for `operands`
                    self.next -= 1;
                    break;
                }
                self.operands.push(a.clone());
                continue;
            }
            if a[1] == b'-' {
                let body = a[2..].to_vec();
                let r = self.long(&body);
                return self.check(r);
            }
            let r = self.short(i, 1);
            return self.check(r);
        }
        self.done = true;
        None
    }
}

/// The table entry `--<name>` (maybe abbreviated) means: glibc's rules, applied to
/// kmod's own options first and, only when none of them matches, to the options
/// beyond kmod.
fn find_long<'o, Id: Copy + Eq>(
    argv0: &[u8],
    body: &[u8],
    name: &[u8],
    opts: &'o [Opt<Id>],
) -> Result<&'o Opt<Id>, GetoptError> {
    if let Some(o) = opts
        .iter()
        .find(|o| o.long.map(str::as_bytes) == Some(name))
    {
        return Ok(o);
    }
    let prefix_of = |o: &&Opt<Id>| o.long.is_some_and(|l| l.as_bytes().starts_with(name));
    let mut candidates: Vec<&Opt<Id>> = opts
        .iter()
        .filter(|o| !o.beyond_kmod)
        .filter(prefix_of)
        .collect();
    if candidates.is_empty() {
        candidates = opts
            .iter()
            .filter(|o| o.beyond_kmod)
            .filter(prefix_of)
            .collect();
    }
    let Some(first) = candidates.first() else {
        return Err(GetoptError::new(&[
            argv0,
            b": unrecognized option '--",
            body,
            b"'\n",
        ]));
    };
    let differs = |o: &&Opt<Id>| o.arg != first.arg || o.id != first.id;
    if candidates.iter().any(differs) {
        let mut msg = [
            argv0,
            b": option '--",
            body,
            b"' is ambiguous; possibilities:",
        ]
        .concat();
        // glibc lists the first candidate and those that differ from it
        for (k, o) in candidates.iter().enumerate() {
            if k == 0 || differs(o) {
                msg.extend_from_slice(b" '--");
                msg.extend_from_slice(o.long.unwrap_or_default().as_bytes());
                msg.push(b'\'');
            }
        }
        msg.push(b'\n');
        return Err(GetoptError(msg));
    }
    Ok(first)
}

/// The result of parsing a whole command line: options in order and the operands.
#[derive(Debug, Clone)]
pub struct Parsed<Id> {
    /// Options in order.
    pub opts: Vec<Found<Id>>,
    /// Operands (non-options) in order.
    pub operands: Vec<Vec<u8>>,
}

/// Parse a whole command line; the first error ends it.
pub fn parse<Id: Copy + Eq>(
    argv0: &[u8],
    args: &[OsString],
    opts: &[Opt<Id>],
    stop_at_operand: bool,
) -> Result<Parsed<Id>, GetoptError> {
    let mut g = Getopt::new(argv0, args, opts, stop_at_operand);
    let found = g.by_ref().collect();
    Ok(Parsed {
        opts: found,
        operands: g.result()?,
    })
}

/// Bytes to an `OsString`.
#[must_use]
pub fn os(b: &[u8]) -> OsString {
    std::ffi::OsStr::from_bytes(b).to_os_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum T {
        A,
        F,
        N,
        D,
        S,
        X,
    }

    const OPTS: &[Opt<T>] = &[
        Opt::new(b'a', "author", HasArg::No, T::A, ""),
        Opt::new(b'F', "field", HasArg::Required, T::F, ""),
        Opt::new(b'n', "show", HasArg::No, T::N, ""),
        Opt::long("show-depends", HasArg::No, T::D, ""),
        Opt::new(b'N', "dry-run", HasArg::No, T::N, ""),
        Opt::long("shadow", HasArg::No, T::S, ""),
        Opt::long("fieldx", HasArg::No, T::X, "").beyond_kmod(),
        Opt::long("extra", HasArg::No, T::X, "").beyond_kmod(),
        Opt::long("extras", HasArg::No, T::S, "").beyond_kmod(),
    ];

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn err(v: &[&str]) -> String {
        let e = parse(b"x", &args(v), OPTS, false).unwrap_err();
        String::from_utf8(e.0).unwrap()
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
            T::N
        );
        // unique prefix
        assert_eq!(
            parse(b"x", &args(&["--show-"]), OPTS, false).unwrap().opts[0].id,
            T::D
        );
        // ambiguous
        assert_eq!(
            err(&["--sh"]),
            "x: option '--sh' is ambiguous; possibilities: '--show' '--show-depends' '--shadow'\n"
        );
        assert_eq!(err(&["--nope=1"]), "x: unrecognized option '--nope=1'\n");
        assert_eq!(
            err(&["--author=1"]),
            "x: option '--author' doesn't allow an argument\n"
        );
        assert_eq!(
            err(&["--field"]),
            "x: option '--field' requires an argument\n"
        );
        assert_eq!(err(&["-F"]), "x: option requires an argument -- 'F'\n");
        assert_eq!(err(&["-Z"]), "x: invalid option -- 'Z'\n");
    }

    #[test]
    fn options_beyond_kmod_never_change_what_an_abbreviation_means() {
        // `--f` is kmod's --field, though --fieldx starts with it too
        let p = parse(b"x", &args(&["--f", "v"]), OPTS, false).unwrap();
        assert_eq!((p.opts[0].id, p.opts[0].arg()), (T::F, &b"v"[..]));
        assert_eq!(
            parse(b"x", &args(&["--fieldx"]), OPTS, false).unwrap().opts[0].id,
            T::X
        );
        // where no kmod option matches, the others are abbreviated as usual
        assert_eq!(
            parse(b"x", &args(&["--ex"]), OPTS, false).unwrap_err().0,
            b"x: option '--ex' is ambiguous; possibilities: '--extra' '--extras'\n"
        );
    }

    #[test]
    fn json_is_long_only_and_beyond_kmod() {
        const J: &[Opt<T>] = &[
            Opt::new(b'a', "author", HasArg::No, T::A, "a"),
            json(T::X, "json"),
        ];
        let o = &J[1];
        assert!(o.short.is_none() && o.beyond_kmod && o.listed());
        // no kmod option starts with `j`: every abbreviation reaches it
        assert_eq!(
            parse(b"x", &args(&["--j"]), J, false).unwrap().opts[0].id,
            T::X
        );
    }

    #[test]
    fn diagnostics_keep_the_bytes_given() {
        use std::os::unix::ffi::OsStringExt;
        let a = vec![OsString::from_vec(b"--\xff\xfe".to_vec())];
        assert_eq!(
            parse(b"\xe9", &a, OPTS, false).unwrap_err().0,
            b"\xe9: unrecognized option '--\xff\xfe'\n"
        );
        let a = vec![OsString::from_vec(b"-a\xff".to_vec())];
        assert_eq!(
            parse(b"x", &a, OPTS, false).unwrap_err().0,
            b"x: invalid option -- '\xff'\n"
        );
    }

    #[test]
    fn options_come_one_at_a_time_until_the_first_error() {
        let a = args(&["-a", "m", "-Z", "-n"]);
        let mut g = Getopt::new(b"x", &a, OPTS, false);
        assert_eq!(g.next().unwrap().id, T::A);
        assert!(g.next().is_none());
        assert!(g.next().is_none());
        assert_eq!(g.result().unwrap_err().0, b"x: invalid option -- 'Z'\n");
    }

    #[test]
    fn stop_at_operand() {
        let p = parse(b"x", &args(&["-a", "cmd", "-a"]), OPTS, true).unwrap();
        assert_eq!(p.operands, vec![b"cmd".to_vec(), b"-a".to_vec()]);
        assert_eq!(p.opts.len(), 1);
        let p = parse(b"x", &args(&["-a", "--", "-a"]), OPTS, true).unwrap();
        assert_eq!(p.operands, vec![b"-a".to_vec()]);
    }
}
