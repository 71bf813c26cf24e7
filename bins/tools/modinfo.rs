//! `modinfo`: show information about kernel modules (kmod's `tools/modinfo.c`).

use super::common;
use crate::diag::{LibkmodSink, Log};
use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::json;
use crate::render;
use crate::usage::{self, Layout, Part};
use libkmod_rs::{ConfigSource, Errno, Error, Level, Module, ModuleDir, ModuleInfo, Sink};
use std::collections::HashMap;
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
    /// `--json` (beyond kmod).
    Json,
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
    getopt::json(
        Id::Json,
        "Print one JSON document: an object per module, every field",
    ),
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
            "json",
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
    json: bool,
}

/// Run modinfo. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = usage::short_name(argv0);
    let log = Log::new(&prog);
    let mut a = Args {
        field: None,
        sep: b'\n',
        modname: false,
        kversion: None,
        basedir: None,
        names: Vec::new(),
        json: false,
    };
    let mut options = Getopt::new(argv0, args, OPTS, env.vars.posixly_correct);
    for f in options.by_ref() {
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
            Id::Json => a.json = true,
            Id::Help | Id::Version => {
                return usage::help_or_version(f.id == Id::Help, env, || HELP.render(OPTS, &prog));
            }
        }
    }
    let Some(names) = options.finish(env.err) else {
        return 1;
    };
    a.names = names;
    let mut doc = a.json.then(json::Modinfo::default);
    let code = modinfo(&a, &log, env, doc.as_mut());
    if let Some(d) = &doc {
        let _ = json::emit(env.out, d);
    }
    code
}

/// Everything after the options; with `doc`, what would be printed goes into it.
fn modinfo(a: &Args, log: &Log, env: &mut Env<'_>, mut doc: Option<&mut json::Modinfo>) -> i32 {
    let mut error = |env: &mut Env<'_>, m: &[u8]| {
        log.error(env.err, m);
        if let Some(d) = doc.as_deref_mut() {
            d.errors.push(json::Message::new(None, Level::Err, m));
        }
    };
    if a.names.is_empty() {
        error(env, b"missing module or filename.\n");
        return 1;
    }
    let dir = match common::module_dir(env, a.basedir.as_deref(), a.kversion.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            error(env, format!("uname() failed: {e}\n").as_bytes());
            return 1;
        }
    };
    // kmod formats it into PATH_MAX bytes
    if a.basedir.is_some() || a.kversion.is_some() {
        let p = dir.as_os_str().as_bytes();
        if p.len() >= common::PATH_MAX {
            error(env, &[b"bad directory ", p, b": path too long\n"].concat());
            return 1;
        }
    }
    let Some(ctx) = common::kmod_new(env, Some(dir), &ConfigSource::None) else {
        return 1;
    };
    let mut prefetched = if !a.modname && a.names.len() > 1 {
        prefetch(env, &a.names)
    } else {
        HashMap::new()
    };
    let threshold = env.vars.kmod_log_priority();
    let mut failed = false;
    for name in &a.names {
        let mut t = Tool {
            ctx: &ctx,
            a,
            log,
            prefetched: &mut prefetched,
            threshold,
            operand: name,
            doc: doc.as_deref_mut(),
        };
        let ok = if a.modname {
            t.name_do(name, env)
        } else if is_module_filename(name) {
            t.path_do(name, env)
        } else {
            t.alias_do(name, env)
        };
        failed |= !ok;
    }
    let _ = env.out.flush();
    i32::from(failed)
}

/// Read the module files named by several operands in parallel (decompression is
/// most of the time for `.ko.xz`); the results are used, in operand order, by
/// [`Tool::modinfo_do`].
fn prefetch(env: &Env<'_>, names: &[Vec<u8>]) -> HashMap<PathBuf, Result<ModuleInfo, Error>> {
    use rayon::prelude::*;
    let paths: Vec<PathBuf> = names
        .iter()
        .filter(|n| is_module_filename(n))
        .map(|n| env.vars.absolute(Path::new(&getopt::os(n))))
        .collect();
    paths
        .into_par_iter()
        .map(|p| {
            let info = ModuleInfo::read(&p);
            (p, info)
        })
        .collect()
}

fn is_module_filename(name: &[u8]) -> bool {
    libkmod_rs::name::has_module_extension(name)
        && std::fs::metadata(getopt::os(name)).is_ok_and(|m| m.is_file())
}

/// One operand's work.
struct Tool<'t> {
    ctx: &'t ModuleDir,
    a: &'t Args,
    log: &'t Log,
    /// Module information read ahead, by path.
    prefetched: &'t mut HashMap<PathBuf, Result<ModuleInfo, Error>>,
    /// libkmod's log threshold (`KMOD_LOG`): modinfo installs no log hook.
    threshold: i32,
    /// The operand.
    operand: &'t [u8],
    /// `--json`: the document being built.
    doc: Option<&'t mut json::Modinfo>,
}

impl Tool<'_> {
    /// libkmod's messages, in its own format.
    fn lib<'e>(&self, env: &'e mut Env<'_>) -> LibkmodSink<'e> {
        LibkmodSink {
            threshold: self.threshold,
            err: &mut *env.err,
        }
    }

    fn error(&mut self, env: &mut Env<'_>, parts: &[&[u8]]) -> bool {
        let m = parts.concat();
        self.log.error(env.err, &m);
        if let Some(d) = self.doc.as_deref_mut() {
            d.errors
                .push(json::Message::new(Some(self.operand), Level::Err, &m));
        }
        false
    }

    fn path_do(&mut self, name: &[u8], env: &mut Env<'_>) -> bool {
        let path = env.vars.absolute(Path::new(&getopt::os(name)));
        match self.ctx.module_from_path(&path, &mut self.lib(env)) {
            Ok(m) => self.modinfo_do(&m, env),
            Err(_) => self.error(env, &[b"Module file ", name, b" not found.\n"]),
        }
    }

    fn name_do(&mut self, name: &[u8], env: &mut Env<'_>) -> bool {
        match self.ctx.lookup_name(name, &mut self.lib(env)) {
            Some(m) => self.modinfo_do(&m, env),
            None => self.error(env, &[b"Module name ", name, b" not found.\n"]),
        }
    }

    fn alias_do(&mut self, name: &[u8], env: &mut Env<'_>) -> bool {
        let Ok(list) = self.ctx.lookup(name, &mut self.lib(env)) else {
            return self.error(env, &[b"Module alias ", name, b" not found.\n"]);
        };
        if list.is_empty() {
            return self.error(env, &[b"Module ", name, b" not found.\n"]);
        }
        let mut ok = true;
        for m in list {
            ok &= self.modinfo_do(&m, env);
        }
        ok
    }

    /// The information list of a module (`kmod_module_get_info`).
    fn info(
        &mut self,
        m: &Module,
        path: Option<&Path>,
        env: &mut Env<'_>,
    ) -> Result<ModuleInfo, Error> {
        if !m.is_builtin()
            && let Some(info) = path.and_then(|p| self.prefetched.remove(p))
        {
            return info;
        }
        m.info(&mut self.lib(env))
    }

    /// [`Self::info`], its failure reported as kmod's modinfo does: `Err(None)` for a
    /// builtin module, which has no information beyond the builtin index's (nothing
    /// to report), else `Err(Some(`the operand's result`))`.
    fn info_or_report(
        &mut self,
        m: &Module,
        path: Option<&Path>,
        is_builtin: bool,
        env: &mut Env<'_>,
    ) -> Result<ModuleInfo, Option<bool>> {
        self.info(m, path, env).map_err(|e| {
            if is_builtin && e.errno() == Errno::ENOENT {
                return None;
            }
            if let Some(d) = e.logged() {
                self.lib(env).report(d);
            }
            let text = format!("': {}\n", e.errno());
            Some(self.error(
                env,
                &[b"could not get modinfo from '", m.name(), text.as_bytes()],
            ))
        })
    }

    fn modinfo_do(&mut self, m: &Module, env: &mut Env<'_>) -> bool {
        if self.doc.is_some() {
            return self.modinfo_json(m, env);
        }
        let sep = self.a.sep;
        let field = self.a.field.as_deref();
        let path = m.path(&mut self.lib(env));
        let is_builtin = path.is_none();
        let filename: Vec<u8> = match &path {
            Some(p) => p.as_os_str().as_bytes().to_vec(),
            None => b"(builtin)".to_vec(),
        };
        let out = &mut *env.out;
        if is_builtin {
            match field {
                None => {
                    let _ = render::modinfo_field(out, b"name", m.name(), sep);
                }
                Some(b"name") => {
                    let _ = render::value(out, m.name(), sep);
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
        let info = match self.info_or_report(m, path.as_deref(), is_builtin, env) {
            Ok(i) => i,
            Err(None) => return true,
            Err(Some(ok)) => return ok,
        };
        let mut tool_sink = self.log.sink(env.err);
        if field == Some(b"parm") {
            let params = info.params(&mut tool_sink);
            for p in &params {
                let _ = render::modinfo_param_value(env.out, p, sep);
            }
            return true;
        }
        for (key, value) in info.entries() {
            if let Some(f) = field {
                if f == key {
                    let _ = render::value(env.out, value, sep);
                }
                continue;
            }
            if key == b"parm" || key == b"parmtype" {
                continue;
            }
            if sep == 0 {
                let _ = render::modinfo_pair(env.out, key, value, sep);
            } else {
                let _ = render::modinfo_field(env.out, key, value, sep);
            }
        }
        if field.is_some() {
            return true;
        }
        for p in info.params(&mut tool_sink) {
            let _ = render::modinfo_param(env.out, &p, sep);
        }
        true
    }
}

impl Tool<'_> {
    /// `modinfo_do` for `--json`: the same reads and messages, the fields as data.
    fn modinfo_json(&mut self, m: &Module, env: &mut Env<'_>) -> bool {
        let field = self.a.field.as_deref();
        let path = m.path(&mut self.lib(env));
        let is_builtin = path.is_none();
        let mut module = json::ModinfoModule {
            operand: json::Bytes::of(self.operand),
            name: json::Bytes::of(m.name()),
            filename: path.as_deref().map(json::Bytes::path),
            builtin: is_builtin,
            fields: json::Fields::default(),
            parameters: Vec::new(),
        };
        if field == Some(b"filename") {
            self.push(module);
            return true;
        }
        let info = match self.info_or_report(m, path.as_deref(), is_builtin, env) {
            Ok(i) => i,
            Err(None) => {
                self.push(module);
                return true;
            }
            Err(Some(ok)) => return ok,
        };
        let mut tool_sink = self.log.sink(env.err);
        if field.is_none() || field == Some(b"parm") {
            module.parameters = info
                .params(&mut tool_sink)
                .iter()
                .map(json::Param::from)
                .collect();
        }
        if field != Some(b"parm") {
            for (key, value) in info.entries() {
                let wanted = match field {
                    Some(f) => f == key,
                    None => key != b"parm" && key != b"parmtype",
                };
                if wanted {
                    module.fields.push(key, json::Bytes(one_line(key, value)));
                }
            }
        }
        self.push(module);
        true
    }

    fn push(&mut self, module: json::ModinfoModule) {
        if let Some(d) = self.doc.as_deref_mut() {
            d.modules.push(module);
        }
    }
}

/// A value as `--json` gives it: `sig_key` and `signature` without the line breaks
/// (`\n\t\t` every 20 bytes) of the text output.
fn one_line(key: &[u8], value: &[u8]) -> Vec<u8> {
    if key != b"sig_key" && key != b"signature" {
        return value.to_vec();
    }
    let mut v = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i..].starts_with(b"\n\t\t") {
            i += 3;
        } else {
            v.push(value[i]);
            i += 1;
        }
    }
    v
}
