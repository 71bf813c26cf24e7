//! `modprobe`: add and remove modules with their dependencies (kmod's
//! `tools/modprobe.c`).
//!
//! * `args`: the option table, `MODPROBE_OPTIONS`, what the options decide;
//! * `host`: the probe's view of the tool (showing, inserting, running commands);
//! * `remove`: the removal algorithm (`-r`);
//! * `closure`: `--show-depends --json`, the recorded load plan turned into data;
//! * `select`: `--select PATTERN`, modules picked by directory or glob;
//! * here: the main flow, `-c`, `--show-modversions`/`--show-exports`, insertion.

mod args;
mod closure;
mod host;
mod remove;
mod select;

pub use args::{HELP, Id, OPTS};

use super::common;
use crate::diag::{Log, ToolSink};
use crate::env::Env;
use crate::getopt::{self, Getopt};
use crate::render;
use args::{Opts, Step, apply, split_env_options};
use host::Host;
use libkmod_rs::{
    ConfigSource, Errno, IndexKind, Level, Module, ModuleDir, ModuleImage, ProbeFlags, Sink,
};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// The `-v` count's starting point (kmod's `DEFAULT_VERBOSE`: `LOG_WARNING`).
const DEFAULT_VERBOSE: i32 = 4;

/// A FATAL message was printed: the tool exits 1 now.
struct Fatal;

/// How a step of the tool ended: fine, or failed with this errno.
type Outcome = Result<(), Errno>;

/// The tool's log plus modprobe's rule that a printed FATAL message ends the tool.
struct MLog {
    t: Log,
}

impl MLog {
    /// `log_printf`: print if within the threshold; a printed FATAL ends the tool.
    fn log(&self, err: &mut dyn Write, level: Level, msg: &[u8]) -> Result<(), Fatal> {
        if !self.t.enabled(level) {
            return Ok(());
        }
        self.t.log(err, level, msg);
        if level == Level::Crit {
            return Err(Fatal);
        }
        Ok(())
    }
}

/// Is file descriptor 2 usable? (kmod falls back to syslog when it is not.)
fn stderr_usable() -> bool {
    use std::os::fd::AsFd;
    std::io::stderr().as_fd().try_clone_to_owned().is_ok()
}

fn msg(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `system(cmd)` with `MODPROBE_MODULE` (and `MODPROBE_OPTIONS`) set: the exit code
/// (`WEXITSTATUS`: 0 when killed by a signal) or the errno of the spawn.
fn run_shell(modname: &[u8], cmd: &[u8], env_options: Option<&[u8]>) -> Result<i32, Errno> {
    let mut c = std::process::Command::new("/bin/sh");
    c.arg("-c")
        .arg(std::ffi::OsStr::from_bytes(cmd))
        .env("MODPROBE_MODULE", std::ffi::OsStr::from_bytes(modname));
    if let Some(o) = env_options {
        c.env("MODPROBE_OPTIONS", std::ffi::OsStr::from_bytes(o));
    }
    match c.status() {
        Ok(st) => Ok(st.code().unwrap_or(0) & 0xff),
        Err(e) => Err(Errno::from(&e)),
    }
}

/// Run modprobe. Returns the exit status.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = crate::usage::short_name(argv0);
    let env_opts = env.vars.modprobe_options.clone().map(OsString::into_vec);
    let mut all: Vec<OsString> = Vec::new();
    if let Some(e) = &env_opts {
        all.extend(split_env_options(e).into_iter().map(OsString::from_vec));
    }
    all.extend(args.iter().cloned());
    let mut o = Opts {
        verbose: DEFAULT_VERBOSE,
        env_options: env_opts,
        ..Opts::default()
    };
    let mut options = Getopt::new(argv0, &all, OPTS, env.vars.posixly_correct);
    for f in options.by_ref() {
        if let Step::Exit(code) = apply(&mut o, f, &prog, env) {
            return code;
        }
    }
    let Some(args) = options.finish(env.err) else {
        return 1;
    };
    let mut json = o.json.then(closure::Recorder::default);
    let code = modprobe(&prog, o, args, env, &mut json);
    if let Some(r) = json {
        let _ = crate::json::emit(env.out, &r.doc);
        // the process ends here: freeing a closure of thousands of modules one
        // allocation at a time would cost a tenth of the whole call
        std::mem::forget(r);
    }
    code
}

/// modprobe after its options; with `json`, the plan and messages go into it.
fn modprobe(
    prog: &str,
    mut o: Opts,
    mut args: Vec<Vec<u8>>,
    env: &mut Env<'_>,
    json: &mut Option<closure::Recorder>,
) -> i32 {
    if !o.use_syslog && env.root.is_host() && !stderr_usable() {
        o.use_syslog = true;
    }
    let mut log = MLog { t: Log::new(prog) };
    log.t.open(o.use_syslog, &env.root);
    let emit_pre =
        |env: &mut Env<'_>, log: &MLog, json: &mut Option<closure::Recorder>, m: &[u8]| {
            let _ = log.log(env.err, Level::Err, m);
            if let Some(r) = json {
                r.message(None, Level::Err, m);
            }
        };
    if o.json
        && (!o.show_depends
            || o.show_config
            || o.show_modversions
            || o.show_exports
            || o.remove
            || o.lookup_only)
    {
        emit_pre(
            env,
            &log,
            json,
            b"--json needs --show-depends (and no other mode).\n",
        );
        return 1;
    }
    if !o.show_config && args.is_empty() && o.select.is_empty() {
        emit_pre(env, &log, json, b"missing parameters. See -h.\n");
        return 1;
    }
    let dirname = if o.root.is_some() || o.kversion.is_some() {
        let dir = match common::module_dir(env, o.root.as_deref(), o.kversion.as_deref()) {
            Ok(d) => d,
            Err(e) => {
                emit_pre(env, &log, json, format!("uname() failed: {e}\n").as_bytes());
                return 1;
            }
        };
        if dir.as_os_str().len() >= common::PATH_MAX {
            let mut m = b"bad directory ".to_vec();
            m.extend_from_slice(dir.as_os_str().as_bytes());
            m.extend_from_slice(b": path too long\n");
            emit_pre(env, &log, json, &m);
            return 1;
        }
        Some(dir)
    } else {
        None
    };
    let config = match &o.config_paths {
        Some(p) => ConfigSource::Paths(p.clone()),
        None => ConfigSource::System,
    };
    let Some(ctx) = common::kmod_new(env, dirname, &config) else {
        emit_pre(env, &log, json, b"kmod_new() failed!\n");
        return 1;
    };
    log.t.setup(env.err, o.verbose - Level::Err.priority());
    ctx.load_resources(&mut log.t.sink(env.err));
    if !o.select.is_empty() {
        args.extend(select::select(&ctx, &o.select));
        o.use_all = true;
        o.log_warning = true;
    }
    if let Some(r) = json.as_mut() {
        r.doc.module_dir = crate::json::Bytes::path(ctx.dir());
    }
    let mut t = Tool {
        o,
        log,
        ctx: &ctx,
        json: json.take(),
    };
    let result = if t.o.show_config {
        t.show_config(env);
        Ok(Ok(()))
    } else if t.o.show_modversions {
        t.show_symbols(env, &args[0], false)
    } else if t.o.show_exports {
        t.show_symbols(env, &args[0], true)
    } else if t.o.remove {
        t.rmmod_all(env, &args)
    } else if t.o.use_all {
        t.insmod_all(env, &args)
    } else {
        let opts = common::options_from_args(&args[1..]);
        t.insmod(env, &args[0], Some(&opts))
    };
    let _ = env.out.flush();
    if let Some(mut r) = t.json.take() {
        r.finish(t.o.ignore_commands);
        *json = Some(r);
    }
    match result {
        Err(Fatal) => 1,
        Ok(err) => {
            t.log.t.finish(env.err);
            i32::from(err.is_err())
        }
    }
}

/// The tool: its options, log and libkmod context.
struct Tool<'c> {
    o: Opts,
    log: MLog,
    ctx: &'c ModuleDir,
    /// `--json`: the plan being recorded.
    json: Option<closure::Recorder>,
}

impl Tool<'_> {
    /// libkmod's messages, through the tool's hook.
    fn sink<'e>(&'e self, env: &'e mut Env<'_>) -> ToolSink<'e> {
        self.log.t.sink(env.err)
    }

    /// `LOG()`: FATAL (or WARNING with `-a`).
    fn fatal(&mut self, env: &mut Env<'_>, m: &[u8]) -> Result<(), Fatal> {
        let level = if self.o.log_warning {
            Level::Warning
        } else {
            Level::Crit
        };
        if let Some(r) = &mut self.json {
            r.operand_message(level, m);
        }
        self.log.log(env.err, level, m)
    }

    fn error(&mut self, env: &mut Env<'_>, m: &[u8]) {
        if let Some(r) = &mut self.json {
            r.operand_message(Level::Err, m);
        }
        let _ = self.log.log(env.err, Level::Err, m);
    }

    fn showing(&self) -> bool {
        self.o.do_show || self.o.verbose > DEFAULT_VERBOSE
    }

    /// `SHOW()`: `<what> <text>` printed and flushed when showing.
    fn show(&self, env: &mut Env<'_>, what: &str, text: &[u8]) {
        if !self.showing() {
            return;
        }
        let _ = render::removal(env.out, what, text);
        let _ = env.out.flush();
    }

    fn show_config(&self, env: &mut Env<'_>) {
        let mut text = Vec::new();
        for r in self.ctx.config().records() {
            let _ = render::config_record(&mut text, r.keyword, &r.key, r.value.as_deref());
        }
        let _ = render::config_end(&mut text);
        let _ = env.out.write_all(&text);
        let _ = env.out.flush();
        for kind in [IndexKind::Alias, IndexKind::Symbols] {
            let _ = self.ctx.dump_index(kind, &mut *env.out);
        }
    }

    fn show_symbols(
        &mut self,
        env: &mut Env<'_>,
        filename: &[u8],
        exports: bool,
    ) -> Result<Outcome, Fatal> {
        let path = env.vars.absolute(Path::new(&getopt::os(filename)));
        let Ok(m) = self.ctx.module_from_path(&path, &mut self.sink(env)) else {
            self.fatal(env, &msg(&[b"Module ", filename, b" not found.\n"]))?;
            return Ok(Err(Errno::ENOENT));
        };
        let symbols = m
            .path(&mut self.sink(env))
            .ok_or_else(|| libkmod_rs::Error::NotFound {
                name: m.name().to_vec(),
            })
            .and_then(|p| ModuleImage::open(&p))
            .and_then(|image| {
                if exports {
                    image.exports()
                } else {
                    image.versions()
                }
            });
        let symbols = match symbols {
            Ok(v) => v,
            Err(e) => {
                if let Some(d) = e.logged() {
                    self.sink(env).report(d);
                }
                let what: &[u8] = if exports {
                    b"could not get symbols of "
                } else {
                    b"could not get modversions of "
                };
                let e = format!(": {}\n", e.errno());
                self.fatal(env, &msg(&[what, filename, e.as_bytes()]))?;
                return Ok(Err(Errno::ENOENT));
            }
        };
        let mut text = Vec::new();
        for s in symbols {
            let _ = render::symbol_version(&mut text, s.crc, &s.name);
        }
        let _ = env.out.write_all(&text);
        Ok(Ok(()))
    }

    fn insmod_all(&mut self, env: &mut Env<'_>, args: &[Vec<u8>]) -> Result<Outcome, Fatal> {
        let mut err = Ok(());
        for a in args {
            let r = self.insmod(env, a, None)?;
            if r.is_err() {
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
    ) -> Result<Outcome, Fatal> {
        if let Some(r) = &mut self.json {
            r.operand(alias);
        }
        let list: Vec<Module> = if alias.starts_with(b"/") || alias.starts_with(b"./") {
            let path = env
                .vars
                .absolute(Path::new(std::ffi::OsStr::from_bytes(alias)));
            match self.ctx.module_from_path(&path, &mut self.sink(env)) {
                Ok(m) => vec![m],
                Err(e) => {
                    if let Some(r) = &mut self.json {
                        r.result("error");
                    }
                    let e = format!(": {}\n", e.errno());
                    self.fatal(
                        env,
                        &msg(&[b"Failed to get module from path ", alias, e.as_bytes()]),
                    )?;
                    return Ok(Err(Errno::ENOENT));
                }
            }
        } else {
            let found = self.ctx.lookup(alias, &mut self.sink(env));
            match found {
                Ok(l) if !l.is_empty() => l,
                _ => {
                    if let Some(r) = &mut self.json {
                        r.result(if found.is_err() { "error" } else { "not_found" });
                    }
                    let dir = self.ctx.dir().as_os_str().as_bytes().to_vec();
                    self.fatal(
                        env,
                        &msg(&[b"Module ", alias, b" not found in directory ", &dir, b"\n"]),
                    )?;
                    return Ok(Err(Errno::ENOENT));
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
        if let Some(r) = &mut self.json {
            r.resolved(&list);
        }
        let mut err = Ok(());
        for m in &list {
            err = self.insmod_insert(env, m, flags, extra);
        }
        Ok(err)
    }

    fn insmod_insert(
        &mut self,
        env: &mut Env<'_>,
        m: &Module,
        flags: ProbeFlags,
        extra: Option<&[u8]>,
    ) -> Outcome {
        if self.o.lookup_only {
            let _ = render::name(env.out, m.name());
            return Ok(());
        }
        let show = self.showing();
        let mut steps = Vec::new();
        let (r, refusal) = {
            let mut host = Host {
                env: &mut *env,
                log: &self.log.t,
                env_options: self.o.env_options.as_deref(),
                refusal: None,
                checked: HashMap::new(),
                record: self.json.is_some().then_some(&mut steps),
            };
            let r = m.probe(flags, extra, show, &mut host);
            (r, host.refusal)
        };
        if let Some(rec) = &mut self.json {
            rec.probed(
                steps,
                matches!(r, Ok(libkmod_rs::ProbeOutcome::Blacklisted)),
            );
        }
        let Err(e) = r else {
            return Ok(());
        };
        let e = e.errno();
        let name = m.name();
        let text = match (refusal, e) {
            (Some(r), _) => r,
            (None, Errno::EEXIST) => msg(&[
                b"could not insert '",
                name,
                b"': Module already in kernel\n",
            ]),
            (None, Errno::ENOENT) => msg(&[
                b"could not insert '",
                name,
                b"': Unknown symbol in module, or unknown parameter (see dmesg)\n",
            ]),
            (None, e) => {
                let e = format!("': {e}\n");
                msg(&[b"could not insert '", name, e.as_bytes()])
            }
        };
        self.error(env, &text);
        Err(e)
    }
}
