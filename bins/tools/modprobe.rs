//! `modprobe`: add and remove modules with their dependencies (kmod-contract §2.6).

use super::logging::ToolLog;
use crate::diag::Level;
use crate::env::Env;
use crate::getopt::{self, Found, Getopt, HasArg, Opt};
use crate::usage::{self, Layout, Part};
use libkmod_rs::check::{self, Refusal};
use libkmod_rs::elf::ModuleElf;
use libkmod_rs::error::{Error, errno, strerror};
use libkmod_rs::file::ModuleFile;
use libkmod_rs::insert::{InsertFlags, insert_module};
use libkmod_rs::lookup::LogRecord;
use libkmod_rs::resolve::{
    Action, Context, InitState, InsertFailure, Mod, ModRef, ProbeFlags, ProbeHost,
};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

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

const LOG_EMERG: i32 = 0;
const LOG_CRIT: i32 = 2;
const LOG_ERR: i32 = 3;
const LOG_WARNING: i32 = 4;
const LOG_INFO: i32 = 6;
const DEFAULT_VERBOSE: i32 = LOG_WARNING;
const PATH_MAX: usize = 4096;

/// A FATAL message was printed: the tool exits 1 now.
struct Fatal;

/// The tool's log (kmod's `log.c`, shared with insmod/rmmod/lsmod) plus modprobe's
/// rule that a printed FATAL message ends the tool.
struct Log {
    t: ToolLog,
}

fn level(prio: i32) -> Level {
    match prio {
        i32::MIN..=2 => Level::Crit,
        3 => Level::Err,
        4 => Level::Warning,
        5 => Level::Notice,
        6 => Level::Info,
        _ => Level::Debug,
    }
}

impl Log {
    /// `log_printf`: print if within the threshold; a printed FATAL ends the tool.
    fn log(&self, err: &mut dyn Write, prio: i32, msg: &[u8]) -> Result<(), Fatal> {
        let l = level(prio);
        if !self.t.enabled(l) {
            return Ok(());
        }
        self.t.log(err, l, msg);
        if prio <= LOG_CRIT {
            return Err(Fatal);
        }
        Ok(())
    }

    /// Print at `prio` if enabled (never fatal).
    fn print(&self, err: &mut dyn Write, prio: i32, msg: &[u8]) {
        self.t.log(err, level(prio), msg);
    }

    /// libkmod's messages, through the hook.
    fn lib(&self, err: &mut dyn Write, ctx: &Context) {
        for r in ctx.take_log() {
            self.print(err, r.priority, r.message.as_bytes());
        }
    }
}

/// libkmod's default log format, used before the tool installs its hook.
fn early(err: &mut dyn Write, threshold: i32, records: Vec<LogRecord>) {
    if LOG_ERR > threshold {
        return;
    }
    for r in records {
        crate::diag::libkmod(err, crate::diag::Level::Err, r.func, &r.message);
    }
}

/// `KMOD_LOG`: a number, or a name starting with `err`, `info`, `debug`.
fn kmod_log_threshold() -> i32 {
    let Some(v) = std::env::var_os("KMOD_LOG") else {
        return LOG_ERR;
    };
    let v = v.as_bytes();
    let (n, rest) = strtol_prefix(v);
    if rest.is_empty() || rest[0].is_ascii_whitespace() || rest[0] == 0x0b {
        return n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    }
    if v.starts_with(b"err") {
        LOG_ERR
    } else if v.starts_with(b"info") {
        LOG_INFO
    } else if v.starts_with(b"debug") {
        7
    } else {
        0
    }
}

/// `strtol(s, &end, 10)`: the value and the rest (all of `s` when no digits).
fn strtol_prefix(s: &[u8]) -> (i64, &[u8]) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(i64::from(s[i] - b'0'));
        i += 1;
    }
    if i == start {
        return (0, s);
    }
    (if neg { -v } else { v }, &s[i..])
}

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
fn split_env_options(env: &[u8]) -> Vec<Vec<u8>> {
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

/// `options_from_array`: command-line parameters joined with spaces, a value with a
/// space (and no leading quote) wrapped in double quotes.
fn options_from_array(args: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut opts: Option<Vec<u8>> = None;
    for a in args {
        let o = opts.get_or_insert_with(Vec::new);
        if !o.is_empty() {
            o.push(b' ');
        }
        match a.iter().position(|&c| c == b'=') {
            Some(eq)
                if !matches!(a.get(eq + 1), Some(b'"' | b'\'')) && a[eq + 1..].contains(&b' ') =>
            {
                o.extend_from_slice(&a[..=eq]);
                o.push(b'"');
                o.extend_from_slice(&a[eq + 1..]);
                o.push(b'"');
            }
            _ => o.extend_from_slice(a),
        }
    }
    opts
}

/// Everything the command line decides.
#[derive(Default)]
struct Opts {
    use_all: bool,
    remove: bool,
    remove_holders: bool,
    wait_msec: u64,
    lookup_only: bool,
    first_time: bool,
    ignore_commands: bool,
    use_blacklist: bool,
    force: bool,
    strip_modversion: bool,
    strip_vermagic: bool,
    ignore_loaded: bool,
    dry_run: bool,
    do_show: bool,
    show_config: bool,
    show_modversions: bool,
    show_exports: bool,
    config_paths: Option<Vec<PathBuf>>,
    root: Option<Vec<u8>>,
    kversion: Option<Vec<u8>>,
    use_syslog: bool,
    verbose: i32,
    /// `LOG()`'s level: FATAL, or WARNING with `-a`.
    log_priority: i32,
    /// `MODPROBE_OPTIONS` for commands run from here.
    env_options: Option<Vec<u8>>,
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
enum Step {
    Go,
    Exit(i32),
}

fn apply(o: &mut Opts, f: Found<Id>, prog: &str, env: &mut Env<'_>) -> Step {
    let val = f.value.unwrap_or_default();
    match f.id {
        Id::All => {
            o.log_priority = LOG_WARNING;
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
                pre_hook(env, prog, LOG_ERR, &m);
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
        Id::Help | Id::Version => {
            return Step::Exit(usage::help_or_version(f.id == Id::Help, env, || {
                HELP.render(OPTS, prog)
            }));
        }
    }
    Step::Go
}

/// A message before the hook: threshold WARNING, stderr.
fn pre_hook(env: &mut Env<'_>, prog: &str, prio: i32, msg: &[u8]) {
    let log = Log {
        t: ToolLog::new(prog),
    };
    let _ = log.log(env.err, prio, msg);
}

/// Is file descriptor 2 usable? (kmod falls back to syslog when it is not.)
fn stderr_usable() -> bool {
    use std::os::fd::AsFd;
    std::io::stderr().as_fd().try_clone_to_owned().is_ok()
}

/// Run modprobe. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = usage::short_name(argv0);
    let env_opts = std::env::var_os("MODPROBE_OPTIONS").map(OsString::into_vec);
    let mut all: Vec<OsString> = Vec::new();
    if let Some(e) = &env_opts {
        all.extend(split_env_options(e).into_iter().map(OsString::from_vec));
    }
    all.extend(args.iter().cloned());
    let mut o = Opts {
        verbose: DEFAULT_VERBOSE,
        log_priority: LOG_CRIT,
        env_options: env_opts,
        ..Opts::default()
    };
    let mut options = Getopt::new(argv0, &all, OPTS, false);
    for f in options.by_ref() {
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                let _ = env.err.write_all(&e.0);
                return 1;
            }
        };
        if let Step::Exit(code) = apply(&mut o, f, &prog, env) {
            return code;
        }
    }
    let args = options.operands();
    if !o.use_syslog && env.root.is_host() && !stderr_usable() {
        o.use_syslog = true;
    }
    let mut log = Log {
        t: ToolLog::new(&prog),
    };
    log.t.open(o.use_syslog, &env.root);
    let emit_pre = |env: &mut Env<'_>, log: &Log, m: &[u8]| {
        let _ = log.log(env.err, LOG_ERR, m);
    };
    if !o.show_config && args.is_empty() {
        emit_pre(env, &log, b"missing parameters. See -h.\n");
        return 1;
    }
    let dirname: PathBuf = if o.root.is_some() || o.kversion.is_some() {
        let kver = match &o.kversion {
            Some(k) => k.clone(),
            None => match env.kernel.release() {
                Ok(r) => r.into_bytes(),
                Err(e) => {
                    emit_pre(
                        env,
                        &log,
                        format!("uname() failed: {}\n", strerror(e)).as_bytes(),
                    );
                    return 1;
                }
            },
        };
        let root = o.root.clone().unwrap_or_default();
        let mut p = root.clone();
        p.extend_from_slice(libkmod_rs::paths::MODULE_DIR.as_bytes());
        p.push(b'/');
        p.extend_from_slice(&kver);
        if p.len() >= PATH_MAX {
            let mut m = b"bad directory ".to_vec();
            m.extend_from_slice(&root);
            m.extend_from_slice(libkmod_rs::paths::MODULE_DIR.as_bytes());
            m.push(b'/');
            m.extend_from_slice(&kver);
            m.extend_from_slice(b": path too long\n");
            emit_pre(env, &log, &m);
            return 1;
        }
        PathBuf::from(OsString::from_vec(p))
    } else if let Ok(r) = env.kernel.release() {
        env.root.path(libkmod_rs::paths::MODULE_DIR).join(r)
    } else {
        early(
            env.err,
            kmod_log_threshold(),
            vec![LogRecord {
                func: "kmod_new",
                message: "could not retrieve directory\n".into(),
            }],
        );
        emit_pre(env, &log, b"kmod_new() failed!\n");
        return 1;
    };
    let (ctx, early_log) = Context::new(env.root.clone(), &dirname, o.config_paths.as_deref());
    early(env.err, kmod_log_threshold(), early_log);
    if kmod_log_threshold() >= LOG_INFO {
        let msg = format!("ctx {:p} created\n", &raw const ctx);
        crate::diag::libkmod(env.err, Level::Info, "kmod_new", &msg);
    }
    log.t.setup(env.err, o.verbose - LOG_ERR);
    ctx.load_resources();
    log.lib(env.err, &ctx);
    let mut t = Tool { o, log, ctx: &ctx };
    let result = if t.o.show_config {
        Ok(t.show_config(env))
    } else if t.o.show_modversions {
        t.show_symbols(env, &args[0], false)
    } else if t.o.show_exports {
        t.show_symbols(env, &args[0], true)
    } else if t.o.remove {
        t.rmmod_all(env, &args)
    } else if t.o.use_all {
        t.insmod_all(env, &args)
    } else {
        let opts = options_from_array(&args[1..]);
        t.insmod(env, &args[0], opts.as_deref())
    };
    t.log.lib(env.err, &ctx);
    let _ = env.out.flush();
    match result {
        Err(Fatal) => 1,
        Ok(err) => {
            t.log.t.finish(env.err);
            i32::from(err < 0)
        }
    }
}

struct Tool<'c> {
    o: Opts,
    log: Log,
    ctx: &'c Context,
}

fn msg(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

impl Tool<'_> {
    /// `LOG()`: FATAL (or WARNING with `-a`).
    fn fatal(&self, env: &mut Env<'_>, m: &[u8]) -> Result<(), Fatal> {
        self.log.lib(env.err, self.ctx);
        self.log.log(env.err, self.o.log_priority, m)
    }

    fn error(&self, env: &mut Env<'_>, m: &[u8]) {
        self.log.lib(env.err, self.ctx);
        let _ = self.log.log(env.err, LOG_ERR, m);
    }

    fn showing(&self) -> bool {
        self.o.do_show || self.o.verbose > DEFAULT_VERBOSE
    }

    /// `SHOW()`: printed and flushed when showing.
    fn show_line(&self, env: &mut Env<'_>, line: &[u8]) {
        if !self.showing() {
            return;
        }
        let _ = env.out.write_all(line);
        let _ = env.out.flush();
    }

    fn show_config(&self, env: &mut Env<'_>) -> i32 {
        let mut text = Vec::new();
        for r in self.ctx.config().records() {
            render_config_record(&mut text, r.keyword, &r.key, r.value.as_deref());
        }
        text.extend_from_slice(b"\n# End of configuration files. Dumping indexes now:\n\n");
        let _ = env.out.write_all(&text);
        let _ = env.out.flush();
        for f in ["modules.alias.bin", "modules.symbols.bin"] {
            let path = self.ctx.dirname().join(f);
            if let Ok(img) = libkmod_rs::file::map_file(&path)
                && let Ok(idx) = libkmod_rs::index::Index::new(&img)
            {
                let mut w = &mut *env.out;
                let _ = idx.dump_to(&mut w, true);
            }
        }
        0
    }

    fn show_symbols(
        &self,
        env: &mut Env<'_>,
        filename: &[u8],
        exports: bool,
    ) -> Result<i32, Fatal> {
        let path = PathBuf::from(OsString::from_vec(filename.to_vec()));
        let Ok(m) = self.ctx.new_from_path(&path) else {
            self.fatal(env, &msg(&[b"Module ", filename, b" not found.\n"]))?;
            return Ok(-1);
        };
        let entries = match symbols_of(self.ctx, &m, exports) {
            Ok(v) => v,
            Err(e) => {
                if let Some((_, text)) = e.libkmod_log() {
                    self.log
                        .print(env.err, LOG_ERR, with_newline(text).as_bytes());
                }
                let what: &[u8] = if exports {
                    b"could not get symbols of "
                } else {
                    b"could not get modversions of "
                };
                self.fatal(
                    env,
                    &msg(&[what, filename, b": ", e.strerror().as_bytes(), b"\n"]),
                )?;
                return Ok(-1);
            }
        };
        let mut text = Vec::new();
        for (crc, name) in entries {
            render_symbol(&mut text, crc, &name);
        }
        let _ = env.out.write_all(&text);
        Ok(0)
    }

    fn insmod_all(&mut self, env: &mut Env<'_>, args: &[Vec<u8>]) -> Result<i32, Fatal> {
        let mut err = 0;
        for a in args {
            let r = self.insmod(env, a, None)?;
            if r < 0 {
                err = r;
            }
        }
        Ok(err)
    }

    fn insmod(
        &mut self,
        env: &mut Env<'_>,
        alias: &[u8],
        extra: Option<&[u8]>,
    ) -> Result<i32, Fatal> {
        let list: Vec<ModRef> = if alias.starts_with(b"/") || alias.starts_with(b"./") {
            match self
                .ctx
                .new_from_path(Path::new(std::ffi::OsStr::from_bytes(alias)))
            {
                Ok(m) => vec![m],
                Err(e) => {
                    self.fatal(
                        env,
                        &msg(&[
                            b"Failed to get module from path ",
                            alias,
                            b": ",
                            strerror(e).as_bytes(),
                            b"\n",
                        ]),
                    )?;
                    return Ok(-errno::ENOENT);
                }
            }
        } else {
            match self.ctx.lookup(alias) {
                Ok(l) if !l.is_empty() => l,
                _ => {
                    let dir = self.ctx.dirname().as_os_str().as_bytes().to_vec();
                    self.fatal(
                        env,
                        &msg(&[b"Module ", alias, b" not found in directory ", &dir, b"\n"]),
                    )?;
                    return Ok(-errno::ENOENT);
                }
            }
        };
        let flags = ProbeFlags {
            force_modversion: self.o.strip_modversion || self.o.force,
            force_vermagic: self.o.strip_vermagic || self.o.force,
            ignore_command: self.o.ignore_commands,
            ignore_loaded: self.o.ignore_loaded,
            dry_run: self.o.dry_run,
            fail_on_loaded: self.o.first_time,
            blacklist_all: false,
            blacklist: self.o.use_blacklist,
            blacklist_alias_only: true,
        };
        let mut err = 0;
        for m in &list {
            err = self.insmod_insert(env, m, flags, extra);
        }
        Ok(err)
    }

    fn insmod_insert(
        &mut self,
        env: &mut Env<'_>,
        m: &ModRef,
        flags: ProbeFlags,
        extra: Option<&[u8]>,
    ) -> i32 {
        if self.o.lookup_only {
            let mut line = m.name().to_vec();
            line.push(b'\n');
            let _ = env.out.write_all(&line);
            return 0;
        }
        let show = self.showing();
        let (r, refusal) = {
            let mut host = Host {
                env: &mut *env,
                log: &self.log,
                env_options: self.o.env_options.as_deref(),
                refusal: None,
                checked: HashMap::new(),
            };
            let r = self.ctx.probe_insert(m, flags, extra, show, &mut host);
            (r, host.refusal)
        };
        match r {
            Ok(_) => 0,
            Err(e) => {
                let name = m.name();
                let text = match e {
                    _ if refusal.is_some() => refusal.unwrap_or_default(),
                    errno::EEXIST => msg(&[
                        b"could not insert '",
                        name,
                        b"': Module already in kernel\n",
                    ]),
                    errno::ENOENT => msg(&[
                        b"could not insert '",
                        name,
                        b"': Unknown symbol in module, or unknown parameter (see dmesg)\n",
                    ]),
                    _ => msg(&[
                        b"could not insert '",
                        name,
                        b"': ",
                        strerror(e).as_bytes(),
                        b"\n",
                    ]),
                };
                self.error(env, &text);
                -e
            }
        }
    }

    // ---- removal ---------------------------------------------------------------

    fn rmmod_all(&mut self, env: &mut Env<'_>, args: &[Vec<u8>]) -> Result<i32, Fatal> {
        let mut err = 0;
        for a in args {
            let r = self.rmmod(env, a)?;
            if r < 0 {
                err = r;
            }
        }
        Ok(err)
    }

    fn rmmod(&mut self, env: &mut Env<'_>, alias: &[u8]) -> Result<i32, Fatal> {
        let list = match self.ctx.lookup(alias) {
            Ok(l) => l,
            Err(e) => return Ok(-e),
        };
        let mut err = 0;
        if list.is_empty() {
            self.fatal(env, &msg(&[b"Module ", alias, b" not found.\n"]))?;
            err = -errno::ENOENT;
        }
        for m in &list {
            err = self.rmmod_do_module(env, m, self.o.remove_holders, false, 0)?;
            if err < 0 {
                break;
            }
        }
        Ok(err)
    }

    fn rmmod_do_modlist(
        &mut self,
        env: &mut Env<'_>,
        list: &[ModRef],
        stop_on_errors: bool,
        depth: u32,
    ) -> Result<i32, Fatal> {
        for m in list.iter().rev() {
            let r = self.rmmod_do_module(env, m, false, true, depth + 1)?;
            if r < 0 && stop_on_errors {
                return Ok(r);
            }
        }
        Ok(0)
    }

    fn rmmod_do_module(
        &mut self,
        env: &mut Env<'_>,
        m: &ModRef,
        remove_holders: bool,
        ignore_builtin: bool,
        depth: u32,
    ) -> Result<i32, Fatal> {
        // kmod recurses without bound through softdep cycles (and crashes); stop.
        if depth > 256 {
            return Ok(-ELOOP);
        }
        let name = m.name().to_vec();
        let (mut pre, mut post, mut cmd) = (Vec::new(), Vec::new(), None);
        if !self.o.ignore_commands {
            (pre, post) = self.ctx.softdeps(m);
            cmd = self.ctx.remove_command(m);
        }
        if cmd.is_none() && !self.o.ignore_loaded {
            match self.ctx.initstate(m) {
                Err(_) => {
                    if self.o.first_time {
                        self.fatal(env, &msg(&[b"Module ", &name, b" is not in kernel.\n"]))?;
                        return Ok(-errno::ENOENT);
                    }
                    return Ok(0);
                }
                Ok(InitState::Builtin) => {
                    if ignore_builtin {
                        return Ok(0);
                    }
                    self.fatal(env, &msg(&[b"Module ", &name, b" is builtin.\n"]))?;
                    return Ok(-errno::ENOENT);
                }
                Ok(_) => {}
            }
        }
        self.rmmod_do_modlist(env, &post, false, depth)?;
        if remove_holders {
            let holders = self.ctx.holders(m);
            let r = self.rmmod_do_modlist(env, &holders, true, depth)?;
            if r < 0 {
                return Ok(r);
            }
        }
        if cmd.is_none() && !self.o.ignore_loaded && self.o.wait_msec == 0 {
            let usage = self.ctx.refcnt(m);
            if matches!(usage, Ok(n) if n > 0) {
                self.fatal(env, &msg(&[b"Module ", &name, b" is in use.\n"]))?;
                return Ok(-EBUSY);
            }
        }
        let err = match &cmd {
            None => self.rmmod_do_remove_module(env, m)?,
            Some(c) => self.command_do(env, m, c)?,
        };
        if err < 0 {
            return Ok(err);
        }
        if cmd.is_none() {
            for d in self.ctx.dependencies(m) {
                if self.ctx.refcnt(&d) == Ok(0) {
                    self.rmmod_do_remove_module(env, &d)?;
                }
            }
        }
        self.rmmod_do_modlist(env, &pre, false, depth)?;
        Ok(err)
    }

    fn rmmod_do_remove_module(&mut self, env: &mut Env<'_>, m: &Mod) -> Result<i32, Fatal> {
        let name = m.name().to_vec();
        self.show_line(env, &msg(&[b"rmmod ", &name, b"\n"]));
        if self.o.dry_run {
            return Ok(0);
        }
        let wait = self.o.wait_msec;
        let mut t0: Option<std::time::Instant> = None;
        let mut interval: u64 = 0;
        let mut err;
        loop {
            err = match self
                .ctx
                .remove_module(&mut *env.kernel, m, self.o.force, wait != 0)
            {
                Ok(()) => 0,
                Err(e) => -e,
            };
            self.log.lib(env.err, self.ctx);
            if err == -errno::EEXIST {
                if self.o.first_time {
                    self.fatal(env, &msg(&[b"Module ", &name, b" is not in kernel.\n"]))?;
                } else {
                    err = 0;
                }
                break;
            }
            if err != -EAGAIN || wait == 0 {
                break;
            }
            // exponential backoff: doubling sleeps, the last one clipped to the
            // deadline; when no time is left the loop ends with success (v34.2)
            let start = *t0.get_or_insert_with(|| {
                interval = 1;
                std::time::Instant::now()
            });
            let t = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            interval = if interval == 0 { 1 } else { interval << 1 };
            while interval > 0 && t.saturating_add(interval) > wait {
                interval >>= 1;
            }
            if interval == 0 && wait > t {
                interval = wait - t;
            }
            let until = start + std::time::Duration::from_millis(t.saturating_add(interval));
            std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()));
            err = 0;
            if interval == 0 {
                break;
            }
        }
        if err < 0 && wait != 0 {
            self.error(
                env,
                &msg(&[
                    b"could not remove '",
                    &name,
                    b"': ",
                    strerror(-err).as_bytes(),
                    b"\n",
                ]),
            );
        }
        Ok(err)
    }

    /// The tool's `command_do` (remove commands): substitution with empty options,
    /// `remove <cmd>` shown, run unless dry-run.
    fn command_do(&mut self, env: &mut Env<'_>, m: &Mod, command: &[u8]) -> Result<i32, Fatal> {
        let cmd = libkmod_rs::resolve::substitute_cmdline_opts(command, b"");
        self.show_line(env, &msg(&[b"remove ", &cmd, b"\n"]));
        if self.o.dry_run {
            return Ok(0);
        }
        let r = run_shell(m.name(), &cmd, self.o.env_options.as_deref());
        match r {
            Ok(0) => Ok(0),
            Ok(code) => {
                self.fatal(
                    env,
                    &msg(&[b"Error running remove command for ", m.name(), b"\n"]),
                )?;
                Ok(-code)
            }
            Err(_) => {
                self.fatal(
                    env,
                    &msg(&[b"Error running remove command for ", m.name(), b"\n"]),
                )?;
                Ok(-1)
            }
        }
    }
}

const EAGAIN: i32 = 11;
const EBUSY: i32 = 16;
const ELOOP: i32 = 40;

fn with_newline(m: &str) -> String {
    if m.ends_with('\n') {
        m.to_string()
    } else {
        format!("{m}\n")
    }
}

// ---- stdout formats (kept here: bins/render.rs is shared with other tools) ------

/// One `modprobe -c` record: `kw key` then ` value` (if any) and a newline.
fn render_config_record(out: &mut Vec<u8>, keyword: &str, key: &[u8], value: Option<&[u8]>) {
    out.extend_from_slice(keyword.as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    if let Some(v) = value {
        out.push(b' ');
        out.extend_from_slice(v);
    }
    out.push(b'\n');
}

/// `--show-modversions`/`--show-exports`: `0x%08x<TAB>symbol`.
fn render_symbol(out: &mut Vec<u8>, crc: u64, name: &[u8]) {
    out.extend_from_slice(format!("0x{crc:08x}\t").as_bytes());
    out.extend_from_slice(name);
    out.push(b'\n');
}

/// A probe action: `install <cmd> <opts>`, `insmod <path> <opts>`, `builtin <name>`.
fn render_action(out: &mut Vec<u8>, action: &Action) {
    match action {
        Action::Install { command, options } => {
            out.extend_from_slice(b"install ");
            out.extend_from_slice(command);
            out.push(b' ');
            out.extend_from_slice(options);
        }
        Action::Insmod { path, options } => {
            out.extend_from_slice(b"insmod ");
            out.extend_from_slice(path.as_os_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(options);
        }
        Action::Builtin { name } => {
            out.extend_from_slice(b"builtin ");
            out.extend_from_slice(name);
        }
        Action::Nothing => return,
    }
    out.push(b'\n');
}

/// The versions (or exports) of a module file: `(crc, name)` pairs.
fn symbols_of(ctx: &Context, m: &ModRef, exports: bool) -> Result<Vec<(u64, Vec<u8>)>, Error> {
    let Some(path) = ctx.path(m) else {
        return Err(Error::NotFound { name: m.name_str() });
    };
    let file = ModuleFile::open(&path)?;
    let image = file.load()?;
    let fmt = |e: libkmod_rs::elf::ElfError| Error::Format {
        path: path.clone(),
        errno: e.errno,
        reason: e.reason.to_string(),
    };
    let elf = ModuleElf::parse(&image).map_err(fmt)?;
    let syms = if exports {
        elf.exported_symbols()
    } else {
        elf.modversions()
    }
    .map_err(fmt)?;
    Ok(syms.into_iter().map(|s| (s.crc, s.name.to_vec())).collect())
}

/// `system(cmd)` with `MODPROBE_MODULE` (and `MODPROBE_OPTIONS`) set: the exit code
/// (`WEXITSTATUS`: 0 when killed by a signal) or the errno of the spawn.
fn run_shell(modname: &[u8], cmd: &[u8], env_options: Option<&[u8]>) -> Result<i32, i32> {
    let mut c = std::process::Command::new("/bin/sh");
    c.arg("-c")
        .arg(std::ffi::OsStr::from_bytes(cmd))
        .env("MODPROBE_MODULE", std::ffi::OsStr::from_bytes(modname));
    if let Some(o) = env_options {
        c.env("MODPROBE_OPTIONS", std::ffi::OsStr::from_bytes(o));
    }
    match c.status() {
        Ok(st) => Ok(st.code().unwrap_or(0) & 0xff),
        Err(e) => Err(e.raw_os_error().unwrap_or(errno::ENOENT)),
    }
}

/// The probe's view of the tool: printing actions, inserting, running commands.
struct Host<'a, 'e> {
    env: &'a mut Env<'e>,
    log: &'a Log,
    env_options: Option<&'a [u8]>,
    /// The message of a module refused before loading (beyond kmod, see
    /// [`libkmod_rs::check`]).
    refusal: Option<Vec<u8>>,
    /// The results of [`ProbeHost::check_chain`] by file: not checked again at
    /// insertion.
    checked: HashMap<PathBuf, Result<(), Refusal>>,
}

impl Host<'_, '_> {
    fn refuse(&mut self, m: &Mod, r: &Refusal) {
        self.refusal = Some(msg(&[
            b"could not insert '",
            m.name(),
            b"': ",
            r.reason.as_bytes(),
            b"\n",
        ]));
    }
}

fn insert_flags(flags: ProbeFlags) -> InsertFlags {
    InsertFlags {
        force_modversion: flags.force_modversion,
        force_vermagic: flags.force_vermagic,
    }
}

impl ProbeHost for Host<'_, '_> {
    fn show(&mut self, _ctx: &Context, action: &Action) {
        let mut line = Vec::new();
        render_action(&mut line, action);
        let _ = self.env.out.write_all(&line);
    }

    fn insert(
        &mut self,
        ctx: &Context,
        m: &Mod,
        path: &Path,
        options: &[u8],
        flags: ProbeFlags,
    ) -> Result<(), InsertFailure> {
        self.log.lib(self.env.err, ctx);
        let iflags = insert_flags(flags);
        let checked = match self.checked.remove(path) {
            Some(r) => r,
            None => check::check_module(&*self.env.kernel, ctx.root(), path, iflags, true),
        };
        if let Err(r) = checked {
            self.refuse(m, &r);
            return Err(InsertFailure {
                errno: r.errno,
                opened: false,
            });
        }
        match insert_module(&mut *self.env.kernel, ctx.root(), path, options, iflags) {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(m) = &e.message {
                    self.log.print(self.env.err, LOG_ERR, &m.text);
                }
                Err(InsertFailure {
                    errno: e.errno,
                    opened: e.logs_failure(),
                })
            }
        }
    }

    fn system(&mut self, ctx: &Context, m: &Mod, command: &[u8]) -> Result<i32, i32> {
        self.log.lib(self.env.err, ctx);
        run_shell(m.name(), command, self.env_options)
    }

    /// Beyond kmod: every module of the chain is checked before the first is
    /// inserted, the earlier ones counting as loaded; a required module (the target,
    /// its dependencies) that fails ends the probe with nothing inserted. A softdep
    /// that fails is only skipped at its turn, as a failed insertion would be.
    fn check_chain(
        &mut self,
        ctx: &Context,
        chain: &[(ModRef, PathBuf)],
        flags: ProbeFlags,
    ) -> Result<(), i32> {
        let iflags = insert_flags(flags);
        let mut checker = check::Checker::new(&*self.env.kernel, ctx.root());
        let mut before: Vec<PathBuf> = Vec::new();
        for (m, path) in chain {
            let r = checker.check(path, iflags, &before, true);
            match &r {
                Ok(()) => before.push(path.clone()),
                Err(refusal) if m.required() => {
                    self.log.lib(self.env.err, ctx);
                    self.refuse(m, refusal);
                    return Err(refusal.errno);
                }
                Err(_) => {}
            }
            self.checked.insert(path.clone(), r);
        }
        Ok(())
    }
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

    #[test]
    fn params() {
        let a = vec![
            b"a=1".to_vec(),
            b"b=x y".to_vec(),
            b"c='p q'".to_vec(),
            b"d e".to_vec(),
        ];
        assert_eq!(
            options_from_array(&a).unwrap(),
            b"a=1 b=\"x y\" c='p q' d e".to_vec()
        );
        assert_eq!(options_from_array(&[]), None);
    }
}
