//! `depmod`: generate `modules.dep` and the other module indexes (kmod-contract §2.5, §3).

use crate::diag::{Diag, Level};
use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::usage::{self, Layout, Part};
use libkmod_rs::depmod::build::{Depmod, Options};
use libkmod_rs::depmod::config::{self, DepmodConfig, Diagnostic};
use libkmod_rs::depmod::outputs;
use libkmod_rs::error::strerror;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What depmod's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-a`.
    All,
    /// `-A`.
    Quick,
    /// `-b DIR`.
    Basedir,
    /// `-m DIR`.
    Moduledir,
    /// `-o DIR`.
    Outdir,
    /// `-C PATH`.
    Config,
    /// `-E FILE`.
    Symvers,
    /// `-F FILE`.
    Filesyms,
    /// `-e`.
    Errsyms,
    /// `-v`.
    Verbose,
    /// `-n`.
    Show,
    /// `-P C`.
    SymbolPrefix,
    /// `-w`.
    Warn,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
}

/// depmod's options, in kmod's order.
pub const OPTS: &[Opt<Id>] = &[
    Opt::new(b'a', "all", HasArg::No, Id::All, "Probe all modules"),
    Opt::new(
        b'A',
        "quick",
        HasArg::No,
        Id::Quick,
        "Only does the work if there's a new module",
    ),
    Opt::new(
        b'b',
        "basedir",
        HasArg::Required,
        Id::Basedir,
        "Root path (default: /).",
    )
    .metavar("=DIR"),
    Opt::new(
        b'm',
        "moduledir",
        HasArg::Required,
        Id::Moduledir,
        "Module directory (default: /lib/modules).",
    )
    .metavar("=DIR"),
    Opt::new(
        b'o',
        "outdir",
        HasArg::Required,
        Id::Outdir,
        "Output root path (default: same as <basedir>).",
    )
    .metavar("=DIR"),
    Opt::new(
        b'C',
        "config",
        HasArg::Required,
        Id::Config,
        "Read configuration from PATH",
    )
    .metavar("=PATH"),
    Opt::new(
        b'E',
        "symvers",
        HasArg::Required,
        Id::Symvers,
        "Use Module.symvers file to check\nsymbol versions.",
    )
    .metavar("=FILE"),
    Opt::new(
        b'F',
        "filesyms",
        HasArg::Required,
        Id::Filesyms,
        "Use the file instead of the\ncurrent kernel symbols.",
    )
    .metavar("=FILE"),
    Opt::new(
        b'e',
        "errsyms",
        HasArg::No,
        Id::Errsyms,
        "Report not supplied symbols",
    ),
    Opt::new(
        b'v',
        "verbose",
        HasArg::No,
        Id::Verbose,
        "Enable verbose mode",
    ),
    Opt::new(
        b'n',
        "show",
        HasArg::No,
        Id::Show,
        "Write the dependency file on stdout only",
    ),
    // not listed by kmod's --help
    Opt::new(b'n', "dry-run", HasArg::No, Id::Show, ""),
    Opt::new(
        b'P',
        "symbol-prefix",
        HasArg::Required,
        Id::SymbolPrefix,
        "Architecture symbol prefix",
    ),
    Opt::new(b'w', "warn", HasArg::No, Id::Warn, "Warn on duplicates"),
    getopt::version(Id::Version),
    getopt::help(Id::Help),
];

/// `--help`.
pub const HELP: Layout = Layout {
    width: 21,
    parts: &[
        Part::Text(
            "Usage:\n\t{prog} -[aA] [options] [forced_version]\n\n\
If no arguments (except options) are given, \"depmod -a\" is assumed\n\n\
depmod will output a dependency list suitable for the modprobe utility.\n\n\
Options:\n",
        ),
        Part::Rows(&[
            "all",
            "quick",
            "errsyms",
            "show",
            "symbol-prefix",
            "config",
            "verbose",
            "warn",
            "version",
            "help",
        ]),
        Part::Text("\nThe following options are useful for people managing distributions:\n"),
        Part::Rows(&["basedir", "moduledir", "outdir", "filesyms", "symvers"]),
    ],
};

fn emit(diag: &Diag, env: &mut Env<'_>, log: &mut Vec<Diagnostic>) {
    for d in log.drain(..) {
        diag.log(env.err, to_level(d.level), d.message.as_bytes());
    }
}

fn to_level(l: config::Level) -> Level {
    match l {
        config::Level::Crit => Level::Crit,
        config::Level::Err => Level::Err,
        config::Level::Warning => Level::Warning,
        config::Level::Notice => Level::Notice,
        config::Level::Info => Level::Info,
        config::Level::Debug => Level::Debug,
    }
}

/// `PATH_MAX`.
const PATH_MAX: usize = 4096;

/// `sscanf(v, "%u.%u") == 2`.
fn is_version_number(v: &[u8]) -> bool {
    fn num(s: &[u8], pos: &mut usize) -> bool {
        while *pos < s.len() && s[*pos].is_ascii_whitespace() {
            *pos += 1;
        }
        if matches!(s.get(*pos), Some(b'+' | b'-')) {
            *pos += 1;
        }
        let start = *pos;
        while *pos < s.len() && s[*pos].is_ascii_digit() {
            *pos += 1;
        }
        *pos > start
    }
    let mut pos = 0;
    if !num(v, &mut pos) || v.get(pos) != Some(&b'.') {
        return false;
    }
    pos += 1;
    num(v, &mut pos)
}

fn path_of(b: &[u8]) -> PathBuf {
    PathBuf::from(getopt::os(b))
}

/// Run depmod. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = usage::short_name(argv0);
    let mut diag = Diag::new(&prog);
    let mut all = false;
    let mut quick = false;
    let mut dry_run = false;
    let mut root: Vec<u8> = Vec::new();
    let mut moddir: Vec<u8> = libkmod_rs::paths::MODULE_DIR.as_bytes().to_vec();
    let mut out_root: Option<Vec<u8>> = None;
    let mut config_paths: Vec<PathBuf> = Vec::new();
    let mut symvers: Option<Vec<u8>> = None;
    let mut system_map: Option<Vec<u8>> = None;
    let mut opts = Options::default();
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
        let v = f.arg().to_vec();
        match f.id {
            Id::All => all = true,
            Id::Quick => quick = true,
            Id::Basedir => root = absolute(&v),
            Id::Moduledir => moddir = v,
            Id::Outdir => out_root = Some(absolute(&v)),
            Id::Config => config_paths.push(path_of(&v)),
            Id::Symvers => {
                symvers = Some(v);
                opts.check_symvers = true;
            }
            Id::Filesyms => system_map = Some(v),
            Id::Errsyms => opts.print_unknown = true,
            Id::Verbose => verbose += 1,
            Id::Show => dry_run = true,
            Id::SymbolPrefix => {
                if v.len() != 1 {
                    diag.log(env.err, Level::Crit, b"-P only takes a single char\n");
                    return 1;
                }
                opts.sym_prefix = Some(v[0]);
            }
            Id::Warn => opts.warn_dups = true,
            Id::Help | Id::Version => {
                return usage::help_or_version(f.id == Id::Help, env, || HELP.render(OPTS, &prog));
            }
        }
    }
    diag.threshold = match verbose {
        0 => Level::Warning,
        1 => Level::Notice,
        2 => Level::Info,
        _ => Level::Debug,
    };
    opts.verbose = verbose > 0;
    let mut operands = options.operands().into_iter();
    let kversion = match operands.next() {
        Some(v) => {
            if !is_version_number(&v) {
                let mut m = b"Bad version passed ".to_vec();
                m.extend_from_slice(&v);
                m.push(b'\n');
                diag.error(env.err, m);
                return 1;
            }
            v
        }
        None => match env.kernel.release() {
            Ok(r) => r.into_bytes(),
            Err(e) => {
                diag.log(
                    env.err,
                    Level::Crit,
                    format!("uname() failed: {}\n", strerror(e)).as_bytes(),
                );
                return 1;
            }
        },
    };
    let files: Vec<Vec<u8>> = operands.collect();
    let moddir: Vec<u8> = moddir.iter().copied().skip_while(|&c| c == b'/').collect();
    let join = |r: &[u8]| {
        let mut d = r.to_vec();
        d.push(b'/');
        d.extend_from_slice(&moddir);
        d.push(b'/');
        d.extend_from_slice(&kversion);
        d
    };
    // without -b, the default root is the host's (or the test root's) "/"
    let (dirname, outdirname) = if root.is_empty() && !env.root.is_host() {
        let r = env.root.path("/").as_os_str().as_bytes().to_vec();
        let r: Vec<u8> = r.strip_suffix(b"/").unwrap_or(&r).to_vec();
        (join(&r), join(out_root.as_deref().unwrap_or(&r)))
    } else {
        (join(&root), join(out_root.as_deref().unwrap_or(&root)))
    };
    // kmod formats both into PATH_MAX bytes
    for d in [&dirname, &outdirname] {
        if d.len() >= PATH_MAX {
            let m = [b"Bad directory ", d.as_slice(), b": path too long\n"].concat();
            diag.error(env.err, m);
            return 1;
        }
    }
    opts.dirname.clone_from(&dirname);
    opts.kversion.clone_from(&kversion);
    if files.is_empty() {
        all = true;
    }
    if quick {
        if dry_run {
            return 0;
        }
        if up_to_date(&dirname, &diag, env) {
            return 0;
        }
        all = true;
    }
    let mut log: Vec<Diagnostic> = Vec::new();
    // libkmod announces the tool's log hook (`log_setup_kmod_log`) at INFO
    let hook = format!(
        "custom logging function {:p} registered\n",
        emit as *const ()
    );
    diag.log(env.err, Level::Info, hook.as_bytes());
    let mut depmod = Depmod::new(opts.clone(), DepmodConfig::default());
    // and the end of its context (`kmod_unref` in `depmod_shutdown`) at INFO, unless
    // a FATAL message ended the tool first
    let released = |diag: &Diag, env: &mut Env<'_>, depmod: &Depmod| {
        let m = format!("context {:p} released\n", std::ptr::from_ref(depmod));
        diag.log(env.err, Level::Info, m.as_bytes());
    };
    if let Some(f) = &symvers {
        if let Err(e) = depmod.load_symvers(&path_of(f)) {
            let m = [
                b"could not load ",
                f.as_slice(),
                b": ",
                strerror(e).as_bytes(),
                b"\n",
            ]
            .concat();
            diag.log(env.err, Level::Crit, &m);
            return 1;
        }
    } else if let Some(f) = &system_map {
        if let Err(e) = depmod.load_system_map(&path_of(f)) {
            let m = [
                b"could not load ",
                f.as_slice(),
                b": ",
                strerror(e).as_bytes(),
                b"\n",
            ]
            .concat();
            diag.log(env.err, Level::Crit, &m);
            return 1;
        }
    } else if depmod.opts.print_unknown {
        diag.log(env.err, Level::Warning, b"-e needs -E or -F\n");
        depmod.opts.print_unknown = false;
    }
    emit(&diag, env, &mut depmod.log);
    if all {
        let (cfg, mut cfg_log) = DepmodConfig::load(&env.root, &config_paths, &kversion);
        emit(&diag, env, &mut cfg_log);
        depmod.cfg = cfg;
        if let Err(e) = depmod.scan() {
            emit(&diag, env, &mut depmod.log);
            let m = format!("could not search modules: {}\n", strerror(e));
            diag.log(env.err, Level::Crit, m.as_bytes());
            return 1;
        }
    } else {
        for f in &files {
            if f.first() != Some(&b'/') {
                let mut m = f.clone();
                m.extend_from_slice(b": not absolute path.\n");
                diag.log(env.err, Level::Crit, &m);
                return 1;
            }
            if let Err(m) = depmod.add_file(f) {
                emit(&diag, env, &mut depmod.log);
                diag.log(env.err, Level::Crit, m.as_bytes());
                return 1;
            }
        }
    }
    emit(&diag, env, &mut depmod.log);
    depmod.build_array();
    emit(&diag, env, &mut depmod.log);
    let loaded = depmod.load();
    for line in depmod.show.drain(..) {
        let _ = env.out.write_all(&line);
    }
    emit(&diag, env, &mut depmod.log);
    if loaded.is_err() {
        released(&diag, env, &depmod);
        return 1;
    }
    let result = if dry_run {
        let r = outputs::write_stdout(&depmod, env.out, &mut log);
        emit(&diag, env, &mut log);
        r.map_err(|e| match e {
            outputs::OutputError::Fatal(m) => m,
            outputs::OutputError::Io(e) => format!("{e}\n").into_bytes(),
        })
    } else {
        let r = outputs::write_files(&depmod, &path_of(&outdirname), &mut log);
        emit(&diag, env, &mut log);
        r
    };
    let code = match result {
        Ok(()) => 0,
        Err(m) if m.is_empty() => 1,
        Err(m) => {
            // a FATAL message ends kmod's tools at once (`log_printf`)
            diag.log(env.err, Level::Crit, &m);
            std::mem::forget(depmod);
            return 1;
        }
    };
    released(&diag, env, &depmod);
    // The process ends next: freeing the module table piece by piece would only
    // add to depmod's run time (the kernel reclaims it all at once).
    std::mem::forget(depmod);
    code
}

fn absolute(p: &[u8]) -> Vec<u8> {
    libkmod_rs::file::make_absolute(Path::new(getopt::os(p).as_os_str()))
        .into_os_string()
        .into_vec()
}

use std::os::unix::ffi::OsStringExt;

/// Is any module file under `dir` newer than `mtime`? (`build`/`source` skipped.)
fn newer(dir: &Path, mtime: i64) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if name == "build" || name == "source" {
            continue;
        }
        let p = e.path();
        let Ok(m) = std::fs::metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            if newer(&p, mtime) {
                return true;
            }
        } else if m.is_file()
            && libkmod_rs::name::has_module_extension(name.as_bytes())
            && m.mtime() > mtime
        {
            return true;
        }
    }
    false
}

/// `-A`: is `modules.dep` newer than every module file? Errors count as "not up to date".
fn up_to_date(dirname: &[u8], diag: &Diag, env: &mut Env<'_>) -> bool {
    let dir = path_of(dirname);
    let dep = match std::fs::metadata(dir.join("modules.dep")) {
        Ok(m) => m.mtime(),
        Err(e) => {
            let e = strerror(e.raw_os_error().unwrap_or(2));
            let m = [
                b"could not fstatat(",
                dirname,
                b", modules.dep): ",
                e.as_bytes(),
                b"\n",
            ]
            .concat();
            diag.error(env.err, m);
            return false;
        }
    };
    !newer(&dir, dep)
}
