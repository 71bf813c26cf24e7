//! `modinfo`: show information about kernel modules (kmod-contract §2.4).

use crate::diag::{self, Diag};
use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::render::{self, Param};
use crate::usage::{self, Layout, Part};
use libkmod_rs::elf::ModuleElf;
use libkmod_rs::error::{Error, errno, strerror};
use libkmod_rs::file::ModuleFile;
use libkmod_rs::lookup::{Module, ModuleDir};
use libkmod_rs::modinfo::{self, InfoEntry};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What modinfo's options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-a`.
    Author,
    /// `-d`.
    Description,
    /// `-l`.
    License,
    /// `-p`.
    Parameters,
    /// `-n`.
    Filename,
    /// `-0`.
    Null,
    /// `-m`.
    Modname,
    /// `-F FIELD`.
    Field,
    /// `-k VERSION`.
    SetVersion,
    /// `-b DIR`.
    Basedir,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
}

/// modinfo's options.
pub const OPTS: &[Opt<Id>] = &[
    Opt::new(
        b'a',
        "author",
        HasArg::No,
        Id::Author,
        "Print only 'author'",
    ),
    Opt::new(
        b'd',
        "description",
        HasArg::No,
        Id::Description,
        "Print only 'description'",
    ),
    Opt::new(
        b'l',
        "license",
        HasArg::No,
        Id::License,
        "Print only 'license'",
    ),
    Opt::new(
        b'p',
        "parameters",
        HasArg::No,
        Id::Parameters,
        "Print only 'parm'",
    ),
    Opt::new(
        b'n',
        "filename",
        HasArg::No,
        Id::Filename,
        "Print only 'filename'",
    ),
    Opt::new(b'0', "null", HasArg::No, Id::Null, "Use \\0 instead of \\n"),
    Opt::new(
        b'm',
        "modname",
        HasArg::No,
        Id::Modname,
        "Handle argument as module name instead of alias or filename",
    ),
    Opt::new(
        b'F',
        "field",
        HasArg::Required,
        Id::Field,
        "Print only provided FIELD",
    )
    .metavar("=FIELD"),
    Opt::new(
        b'k',
        "set-version",
        HasArg::Required,
        Id::SetVersion,
        "Use VERSION instead of `uname -r`",
    )
    .metavar("=VERSION"),
    Opt::new(
        b'b',
        "basedir",
        HasArg::Required,
        Id::Basedir,
        "Use DIR as filesystem root for /lib/modules",
    )
    .metavar("=DIR"),
    getopt::version(Id::Version).help("Show version"),
    getopt::help(Id::Help).help("Show this help"),
];

/// `--help`.
pub const HELP: Layout = Layout {
    width: 28,
    parts: &[
        Part::Text("Usage:\n\t{prog} [options] <modulename|filename> [args]\nOptions:\n"),
        Part::Rows(&[
            "author",
            "description",
            "license",
            "parameters",
            "filename",
            "null",
            "modname",
            "field",
            "set-version",
            "basedir",
            "version",
            "help",
        ]),
    ],
};

struct Args {
    field: Option<Vec<u8>>,
    sep: u8,
    modname: bool,
    kversion: Option<Vec<u8>>,
    basedir: Option<Vec<u8>>,
    names: Vec<Vec<u8>>,
}

/// Run modinfo. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = usage::short_name(argv0);
    let diag = Diag::new(&prog);
    let mut a = Args {
        field: None,
        sep: b'\n',
        modname: false,
        kversion: None,
        basedir: None,
        names: Vec::new(),
    };
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
            Id::Author => a.field = Some(b"author".to_vec()),
            Id::Description => a.field = Some(b"description".to_vec()),
            Id::License => a.field = Some(b"license".to_vec()),
            Id::Parameters => a.field = Some(b"parm".to_vec()),
            Id::Filename => a.field = Some(b"filename".to_vec()),
            Id::Null => a.sep = 0,
            Id::Modname => a.modname = true,
            Id::Field => a.field = f.value,
            Id::SetVersion => a.kversion = f.value,
            Id::Basedir => a.basedir = f.value,
            Id::Help | Id::Version => {
                return usage::help_or_version(f.id == Id::Help, env, || HELP.render(OPTS, &prog));
            }
        }
    }
    a.names = options.operands();
    if a.names.is_empty() {
        diag.error(env.err, "missing module or filename.\n");
        return 1;
    }
    let dir: PathBuf = if a.basedir.is_some() || a.kversion.is_some() {
        let kver = match &a.kversion {
            Some(k) => k.clone(),
            None => match env.kernel.release() {
                Ok(r) => r.into_bytes(),
                Err(e) => {
                    diag.error(env.err, format!("uname() failed: {}\n", strerror(e)));
                    return 1;
                }
            },
        };
        let mut p = a.basedir.clone().unwrap_or_default();
        p.extend_from_slice(libkmod_rs::paths::MODULE_DIR.as_bytes());
        p.push(b'/');
        p.extend_from_slice(&kver);
        // kmod formats it into PATH_MAX bytes
        if p.len() >= 4096 {
            diag.error(
                env.err,
                [b"bad directory ", p.as_slice(), b": path too long\n"].concat(),
            );
            return 1;
        }
        PathBuf::from(getopt::os(&p))
    } else {
        match env.kernel.release() {
            Ok(r) => env.root.path(libkmod_rs::paths::MODULE_DIR).join(r),
            Err(e) => {
                diag.error(env.err, format!("uname() failed: {}\n", strerror(e)));
                return 1;
            }
        }
    };
    let ctx = ModuleDir::new(dir);
    if !a.modname && a.names.len() > 1 {
        prefetch(&a.names);
    }
    let mut failed = false;
    for name in &a.names {
        let ok = if a.modname {
            name_do(&ctx, &a, name, &diag, env)
        } else if is_module_filename(name) {
            path_do(&ctx, &a, name, &diag, env)
        } else {
            alias_do(&ctx, &a, name, &diag, env)
        };
        diag::libkmod_records(env.err, ctx.take_log());
        failed |= !ok;
    }
    let _ = env.out.flush();
    i32::from(failed)
}

/// Read the module files named by several operands in parallel (decompression is
/// most of the time for `.ko.xz`); the results are used, in operand order, by
/// [`get_info`].
fn prefetch(names: &[Vec<u8>]) {
    use rayon::prelude::*;
    let paths: Vec<PathBuf> = names
        .iter()
        .filter(|n| is_module_filename(n))
        .map(|n| libkmod_rs::file::make_absolute(Path::new(&getopt::os(n))))
        .collect();
    let infos: Vec<(PathBuf, Result<Vec<InfoEntry>, Error>)> = paths
        .into_par_iter()
        .map(|p| {
            let info = info_of_file(&p);
            (p, info)
        })
        .collect();
    PREFETCHED.with(|c| c.borrow_mut().extend(infos));
}

thread_local! {
    /// Module information read ahead by [`prefetch`], by path.
    static PREFETCHED: std::cell::RefCell<std::collections::HashMap<PathBuf, Result<Vec<InfoEntry>, Error>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn is_module_filename(name: &[u8]) -> bool {
    libkmod_rs::name::has_module_extension(name)
        && std::fs::metadata(getopt::os(name)).is_ok_and(|m| m.is_file())
}

fn path_do(ctx: &ModuleDir, a: &Args, name: &[u8], diag: &Diag, env: &mut Env<'_>) -> bool {
    let path = libkmod_rs::file::make_absolute(Path::new(&getopt::os(name)));
    let module = if std::fs::metadata(&path).is_ok() {
        Module::from_path(path)
    } else {
        None
    };
    let Some(mut m) = module else {
        let mut msg = b"Module file ".to_vec();
        msg.extend_from_slice(name);
        msg.extend_from_slice(b" not found.\n");
        diag.error(env.err, msg);
        return false;
    };
    modinfo_do(ctx, a, &mut m, diag, env)
}

fn name_do(ctx: &ModuleDir, a: &Args, name: &[u8], diag: &Diag, env: &mut Env<'_>) -> bool {
    let Some(mut m) = ctx.lookup_name(name) else {
        let mut msg = b"Module name ".to_vec();
        msg.extend_from_slice(name);
        msg.extend_from_slice(b" not found.\n");
        diag.error(env.err, msg);
        return false;
    };
    modinfo_do(ctx, a, &mut m, diag, env)
}

fn alias_do(ctx: &ModuleDir, a: &Args, name: &[u8], diag: &Diag, env: &mut Env<'_>) -> bool {
    let Ok(list) = ctx.lookup(name) else {
        let mut msg = b"Module alias ".to_vec();
        msg.extend_from_slice(name);
        msg.extend_from_slice(b" not found.\n");
        diag.error(env.err, msg);
        return false;
    };
    if list.is_empty() {
        let mut msg = b"Module ".to_vec();
        msg.extend_from_slice(name);
        msg.extend_from_slice(b" not found.\n");
        diag.error(env.err, msg);
        return false;
    }
    let mut ok = true;
    for mut m in list {
        ok &= modinfo_do(ctx, a, &mut m, diag, env);
    }
    ok
}

/// The information list of a module (kmod_module_get_info).
fn get_info(ctx: &ModuleDir, m: &mut Module) -> Result<Vec<InfoEntry>, Error> {
    if ctx.module_is_builtin(m) {
        return modinfo::builtin(ctx.dir(), &m.name);
    }
    let Some(path) = m.path.clone() else {
        return Err(Error::NotFound { name: m.name_str() });
    };
    if let Some(info) = PREFETCHED.with(|c| c.borrow_mut().remove(&path)) {
        return info;
    }
    info_of_file(&path)
}

/// The information list of a module file.
fn info_of_file(path: &Path) -> Result<Vec<InfoEntry>, Error> {
    let path = path.to_path_buf();
    let file = ModuleFile::open(&path)?;
    BUFFERS.with(|bufs| {
        // a plain file: only the ELF headers, `.modinfo` and the signature are read
        let mut bufs = bufs.borrow_mut();
        let signature: &libkmod_rs::file::ExtraRanges<'_> = &|elf| {
            let img = elf.image();
            let d = img.suffix();
            libkmod_rs::signature::range(img.file_len(), &d[d.len().saturating_sub(64)..])
                .into_iter()
                .collect()
        };
        let image = bufs.read(&file, &[b".modinfo"], true, Some(signature))?;
        info_of_image(&path, image)
    })
}

thread_local! {
    /// Buffers modules are read into, reused from one module to the next.
    static BUFFERS: std::cell::RefCell<libkmod_rs::file::ReadBuffers> =
        std::cell::RefCell::new(libkmod_rs::file::ReadBuffers::default());
}

fn info_of_image(
    path: &std::path::Path,
    image: libkmod_rs::elf::SparseImage<'_>,
) -> Result<Vec<InfoEntry>, Error> {
    let elf = ModuleElf::parse_sparse(image).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        errno: e.errno,
        reason: e.reason.to_string(),
    })?;
    modinfo::from_image(path, &elf)
}

fn modinfo_do(ctx: &ModuleDir, a: &Args, m: &mut Module, diag: &Diag, env: &mut Env<'_>) -> bool {
    let sep = a.sep;
    let field = a.field.as_deref();
    if m.path.is_none() {
        ctx.load_deps(m);
    }
    let is_builtin = m.path.is_none();
    let filename: Vec<u8> = match &m.path {
        Some(p) => p.as_os_str().as_bytes().to_vec(),
        None => b"(builtin)".to_vec(),
    };
    let out = &mut *env.out;
    if is_builtin {
        match field {
            None => {
                let _ = render::modinfo_field(out, b"name", &m.name, sep);
            }
            Some(b"name") => {
                let _ = render::value(out, &m.name, sep);
            }
            Some(_) => {}
        }
    }
    match field {
        Some(b"filename") => {
            let _ = render::value(out, &filename, sep);
            return true;
        }
        None => {
            let _ = render::modinfo_field(out, b"filename", &filename, sep);
        }
        Some(_) => {}
    }
    let info = match get_info(ctx, m) {
        Ok(i) => i,
        Err(e) => {
            if is_builtin && e.errno() == errno::ENOENT {
                return true;
            }
            diag::libkmod_error(env.err, &e);
            let mut msg = b"could not get modinfo from '".to_vec();
            msg.extend_from_slice(&m.name);
            msg.extend_from_slice(format!("': {}\n", e.strerror()).as_bytes());
            diag.error(env.err, msg);
            return false;
        }
    };
    if field == Some(b"parm") {
        let params = collect_params(&info, diag, env);
        for p in &params {
            let _ = render::modinfo_param_value(env.out, p, sep);
        }
        return true;
    }
    let mut params: Vec<Param<'_>> = Vec::new();
    for e in &info {
        if let Some(f) = field {
            if f == e.key.as_slice() {
                let _ = render::value(env.out, &e.value, sep);
            }
            continue;
        }
        if e.key == b"parm" || e.key == b"parmtype" {
            add_param(&mut params, e, diag, env);
            continue;
        }
        if sep == 0 {
            let _ = render::modinfo_pair(env.out, &e.key, &e.value, sep);
        } else {
            let _ = render::modinfo_field(env.out, &e.key, &e.value, sep);
        }
    }
    if field.is_some() {
        return true;
    }
    for p in params.iter().rev() {
        let _ = render::modinfo_param(env.out, p, sep);
    }
    true
}

fn collect_params<'i>(info: &'i [InfoEntry], diag: &Diag, env: &mut Env<'_>) -> Vec<Param<'i>> {
    let mut params = Vec::new();
    for e in info {
        if e.key == b"parm" || e.key == b"parmtype" {
            add_param(&mut params, e, diag, env);
        }
    }
    params.reverse();
    params
}

/// Merge a `parm=`/`parmtype=` entry into the list (kept in order of first
/// appearance; kmod prints it reversed).
fn add_param<'i>(params: &mut Vec<Param<'i>>, e: &'i InfoEntry, diag: &Diag, env: &mut Env<'_>) {
    let Some(colon) = e.value.iter().position(|&c| c == b':') else {
        let mut msg = b"Found invalid \"".to_vec();
        msg.extend_from_slice(&e.key);
        msg.push(b'=');
        msg.extend_from_slice(&e.value);
        msg.extend_from_slice(b"\": missing ':'\n");
        diag.error(env.err, msg);
        return;
    };
    let name = &e.value[..colon];
    let rest = &e.value[colon + 1..];
    let idx = if let Some(i) = params.iter().position(|p| p.name == name) {
        i
    } else {
        params.push(Param {
            name,
            desc: None,
            ty: None,
        });
        params.len() - 1
    };
    if e.key == b"parm" {
        params[idx].desc = Some(rest);
    } else {
        params[idx].ty = Some(rest);
    }
}
