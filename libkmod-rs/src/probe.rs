//! Loading a module with its dependencies: [`Module::probe`], [`ProbeHost`].

use crate::diag::{self, Sink};
use crate::error::{Errno, Error, errno};
use crate::moddir::Module;
use crate::state::InitState;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How deep softdeps of softdeps are followed when building a probe list.
const MAX_SOFTDEP_DEPTH: usize = 512;

/// Flags of [`Module::probe`] (libkmod's `KMOD_PROBE_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeFlags {
    /// Ignore the vermagic (`--force-vermagic`).
    pub force_vermagic: bool,
    /// Ignore symbol versions (`--force-modversion`).
    pub force_modversion: bool,
    /// Ignore the target's install command and softdeps (`-i`).
    pub ignore_command: bool,
    /// Do not check whether modules are loaded (`-D`).
    pub ignore_loaded: bool,
    /// Do not insert nor run anything.
    pub dry_run: bool,
    /// Fail with `EEXIST` when the target is already loaded (`--first-time`).
    pub fail_on_loaded: bool,
    /// Apply the blacklist to every module of the probe list.
    pub blacklist_all: bool,
    /// Apply the blacklist to the target (`-b`).
    pub blacklist: bool,
    /// Apply the blacklist to a target reached through an alias.
    pub blacklist_alias_only: bool,
}

/// How a probe ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The probe list was processed (or the target was already loaded).
    Done,
    /// The target is blacklisted and was skipped.
    Blacklisted,
}

/// One step of a probe, as `modprobe --show-depends` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `install <command> <options>`: the raw command (not substituted).
    Install {
        /// The install command.
        command: Vec<u8>,
        /// The options (maybe empty).
        options: Vec<u8>,
    },
    /// `insmod <path> <options>`.
    Insmod {
        /// The module file.
        path: PathBuf,
        /// The options (maybe empty).
        options: Vec<u8>,
    },
    /// `builtin <name>`.
    Builtin {
        /// The module name.
        name: Vec<u8>,
    },
    /// Nothing is shown (no file, not builtin).
    Nothing,
}

/// A module about to be inserted by a probe, with its file ([`ProbeHost::check_chain`]).
#[derive(Debug, Clone)]
pub struct Link {
    /// The module.
    pub module: Module,
    /// Its file.
    pub path: PathBuf,
    /// Part of what was asked for (the target or one of its dependencies), as
    /// opposed to a softdep, whose failure does not fail the probe.
    pub required: bool,
}

/// Loading a module with everything it needs, as `kmod_module_probe_insert_module`
/// does: its dependencies from `modules.dep`, the softdeps around the modules that
/// have them, install commands instead of insertion where configured, the
/// blacklist, and modules already loaded skipped.
///
/// The library decides what to do and in which order; the caller's [`ProbeHost`]
/// shows the actions (`modprobe --show-depends`), inserts files and runs commands,
/// and receives the diagnostics.
///
/// ```no_run
/// use libkmod_rs::{Action, ConfigSource, Diagnostic, Module, ModuleDir, ProbeFlags,
///     ProbeHost, Root, Sink};
///
/// /// Prints the load plan, like `modprobe --show-depends`.
/// struct Show;
/// impl Sink for Show {
///     fn report(&mut self, d: Diagnostic) { eprintln!("{d}") }
/// }
/// impl ProbeHost for Show {
///     fn show(&mut self, m: &Module, action: &Action) { println!("{m}: {action:?}") }
/// }
///
/// let root = Root::host();
/// let dir = ModuleDir::open(&root, root.module_dir("6.1.0-57-amd64"), &ConfigSource::System, &mut Show);
/// let flags = ProbeFlags { dry_run: true, ignore_loaded: true, ..ProbeFlags::default() };
/// for m in dir.lookup(b"btrfs", &mut Show)? {
///     m.probe(flags, None, true, &mut Show)?;
/// }
/// # Ok::<(), libkmod_rs::Error>(())
/// ```
///
/// What a probe needs from its caller: showing actions, inserting files, running
/// install commands; diagnostics go to its [`Sink`]. Every method but `show` has a
/// default: insertion and commands then fail with `ENOSYS` (enough for dry runs).
pub trait ProbeHost: Sink {
    /// Show what is done for module `m` (only called when showing is asked for).
    fn show(&mut self, m: &Module, action: &Action);

    /// Insert the file at `path` for `m` with `options` (e.g. with
    /// [`crate::insert`], which reports what libkmod logs).
    fn insert(
        &mut self,
        m: &Module,
        path: &Path,
        options: &[u8],
        flags: ProbeFlags,
    ) -> Result<(), Error> {
        let _ = (m, path, options, flags);
        Err(Error::Errno(Errno::ENOSYS))
    }

    /// Run `command` with `/bin/sh -c` for module `m` (environment
    /// `MODPROBE_MODULE=<name>`): its exit code (0 when killed by a signal, like
    /// `WEXITSTATUS`), or the errno when it could not be run.
    fn system(&mut self, m: &Module, command: &[u8]) -> Result<i32, Errno> {
        let _ = (m, command);
        Err(Errno::ENOSYS)
    }

    /// Before anything is inserted (not on a dry run): the modules that
    /// [`ProbeHost::insert`] is about to be given, in order. An error ends the
    /// probe before any insertion (beyond kmod: modprobe checks the whole chain
    /// first). By default, nothing.
    fn check_chain(&mut self, chain: &[Link], flags: ProbeFlags) -> Result<(), Error> {
        let _ = (chain, flags);
        Ok(())
    }
}

/// Replace every `$CMDLINE_OPTS` in `command` with `options` (what libkmod does to
/// install commands and modprobe to remove commands).
#[must_use]
pub fn substitute_cmdline_opts(command: &[u8], options: &[u8]) -> Vec<u8> {
    const VAR: &[u8] = b"$CMDLINE_OPTS";
    let mut out = Vec::with_capacity(command.len() + options.len());
    let mut i = 0;
    while i < command.len() {
        if command[i..].starts_with(VAR) {
            out.extend_from_slice(options);
            i += VAR.len();
        } else {
            out.push(command[i]);
            i += 1;
        }
    }
    out
}

/// libkmod's `module_options_concat`: config options, then the extra options; a
/// space always follows non-empty config options; `None` when both are empty.
fn options_concat(opt: Option<&[u8]>, xopt: Option<&[u8]>) -> Option<Vec<u8>> {
    let (ol, xl) = (opt.map_or(0, <[u8]>::len), xopt.map_or(0, <[u8]>::len));
    if ol == 0 && xl == 0 {
        return None;
    }
    let mut r = Vec::with_capacity(ol + xl + 1);
    if let Some(o) = opt {
        r.extend_from_slice(o);
        r.push(b' ');
    }
    if let Some(x) = xopt {
        r.extend_from_slice(x);
    }
    Some(r)
}

/// The marks libkmod keeps on module objects while building one probe list.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    visited: bool,
    required: bool,
    ignorecmd: bool,
}

/// A probe list being built: the modules in load order and their marks.
#[derive(Default)]
struct ProbeList {
    list: Vec<Module>,
    marks: HashMap<Vec<u8>, Marks>,
}

impl ProbeList {
    fn marks(&mut self, m: &Module) -> &mut Marks {
        self.marks.entry(m.key().to_vec()).or_default()
    }

    fn get(&self, m: &Module) -> Marks {
        self.marks.get(m.key()).copied().unwrap_or_default()
    }

    /// `kmod_module_get_probe_list`: the modules to insert for `m`, in order.
    fn build(m: &Module, ignorecmd: bool, sink: &mut dyn Sink) -> ProbeList {
        let mut p = ProbeList::default();
        p.visit(m, true, ignorecmd, 0, sink);
        p
    }

    fn visit(
        &mut self,
        m: &Module,
        required: bool,
        ignorecmd: bool,
        depth: usize,
        sink: &mut dyn Sink,
    ) {
        if self.get(m).visited {
            return;
        }
        self.marks(m).visited = true;
        let deps = m.dependencies(sink);
        if required {
            self.marks(m).required = true;
            for d in &deps {
                self.marks(d).required = true;
            }
        }
        for d in &deps {
            self.fill_softdep(d, depth, sink);
        }
        if ignorecmd {
            self.list.push(m.clone());
            self.marks(m).ignorecmd = true;
        } else {
            self.fill_softdep(m, depth, sink);
        }
    }

    fn fill_softdep(&mut self, m: &Module, depth: usize, sink: &mut dyn Sink) {
        let (pre, post) = m.softdeps(sink);
        // Softdep chains only end at modules already visited; a configuration chaining
        // thousands of them would exhaust the stack (kmod's too): stop descending.
        let deeper = depth < MAX_SOFTDEP_DEPTH;
        if deeper {
            for p in &pre {
                self.visit(p, false, false, depth + 1, sink);
            }
        }
        self.list.push(m.clone());
        self.marks(m).ignorecmd = !pre.is_empty() || !post.is_empty();
        if deeper {
            for p in &post {
                self.visit(p, false, false, depth + 1, sink);
            }
        }
    }
}

impl Module {
    /// What `modprobe` shows for this module with `options` when it is not an
    /// install command: `insmod`, `builtin`, or nothing.
    pub(crate) fn action(&self, options: &[u8], sink: &mut dyn Sink) -> Action {
        match self.path(sink) {
            Some(path) => Action::Insmod {
                path,
                options: options.to_vec(),
            },
            None => {
                if matches!(self.initstate(sink), Ok(InitState::Builtin)) {
                    Action::Builtin {
                        name: self.name().to_vec(),
                    }
                } else {
                    Action::Nothing
                }
            }
        }
    }

    /// `kmod_module_probe_insert_module`: insert the module with its dependencies
    /// and softdeps. `extra`: the command-line options of this module; `show`
    /// calls [`ProbeHost::show`] for each action.
    pub fn probe(
        &self,
        flags: ProbeFlags,
        extra: Option<&[u8]>,
        show: bool,
        host: &mut dyn ProbeHost,
    ) -> Result<ProbeOutcome, Error> {
        if !flags.ignore_loaded && self.is_in_kernel(host) {
            if flags.fail_on_loaded {
                return Err(Error::errno_raw(errno::EEXIST));
            }
            return Ok(ProbeOutcome::Done);
        }
        if self.is_blacklisted()
            && ((self.alias().is_some() && flags.blacklist_alias_only)
                || flags.blacklist_all
                || flags.blacklist)
        {
            return Ok(ProbeOutcome::Blacklisted);
        }
        let mut probe = ProbeList::build(self, flags.ignore_command, host);
        if flags.blacklist_all {
            probe.list.retain(|x| !x.is_blacklisted());
            if probe.list.is_empty() {
                return Ok(ProbeOutcome::Blacklisted);
            }
        }
        if !flags.dry_run {
            // what the loop below will hand to host.insert, in order
            let mut chain = Vec::new();
            for x in &probe.list {
                let marks = probe.get(x);
                if (flags.ignore_loaded || !x.is_in_kernel(host))
                    && (marks.ignorecmd || x.install_command().is_none())
                    && let Some(path) = x.path(host)
                {
                    chain.push(Link {
                        module: x.clone(),
                        path,
                        required: marks.required,
                    });
                }
            }
            host.check_chain(&chain, flags)?;
        }
        let mut err: Option<Errno> = None;
        for x in &probe.list {
            let marks = probe.get(x);
            let moptions = x.options();
            let cmd = x.install_command();
            let is_top = x == self;
            if !flags.ignore_loaded && x.is_in_kernel(host) {
                err = Some(Errno::EEXIST);
            } else {
                let options =
                    options_concat(moptions.as_deref(), if is_top { extra } else { None });
                let opts = options.unwrap_or_default();
                match cmd {
                    Some(cmd) if !marks.ignorecmd => {
                        if show {
                            host.show(
                                x,
                                &Action::Install {
                                    command: cmd.clone(),
                                    options: opts.clone(),
                                },
                            );
                        }
                        if !flags.dry_run {
                            err = run_install(x, &cmd, &opts, host);
                        }
                    }
                    _ => {
                        if show {
                            let a = x.action(&opts, host);
                            host.show(x, &a);
                        }
                        if !flags.dry_run {
                            err = insert(x, &opts, flags, host);
                        }
                    }
                }
            }
            if err == Some(Errno::EEXIST) && is_top && flags.fail_on_loaded {
                break;
            }
            if err == Some(Errno::EEXIST) || !marks.required {
                err = None;
            } else if err.is_some() {
                break;
            }
        }
        match err {
            Some(e) => Err(Error::Errno(e)),
            None => Ok(ProbeOutcome::Done),
        }
    }
}

fn run_install(m: &Module, cmd: &[u8], options: &[u8], host: &mut dyn ProbeHost) -> Option<Errno> {
    let cmd = substitute_cmdline_opts(cmd, options);
    let text = String::from_utf8_lossy(&cmd).into_owned();
    match host.system(m, &cmd) {
        Err(e) => {
            diag::err(
                host,
                "command_do",
                format!("Could not run install command '{text}' for module {m}: {e}\n"),
            );
            Some(Errno::EINVAL)
        }
        Ok(0) => None,
        Ok(code) => {
            diag::err(
                host,
                "command_do",
                format!("Error running install command '{text}' for module {m}: retcode {code}\n"),
            );
            Some(Errno::EINVAL)
        }
    }
}

/// `kmod_module_insert_module` over the host's insertion.
fn insert(
    m: &Module,
    options: &[u8],
    flags: ProbeFlags,
    host: &mut dyn ProbeHost,
) -> Option<Errno> {
    let Some(path) = m.path(host) else {
        diag::err(
            host,
            "kmod_module_insert_module",
            format!("could not find module by name='{m}'\n"),
        );
        return Some(Errno::ENOENT);
    };
    host.insert(m, &path, options, flags)
        .err()
        .map(|e| e.errno())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_quirks() {
        assert_eq!(options_concat(None, None), None);
        assert_eq!(options_concat(Some(b"a=1"), None), Some(b"a=1 ".to_vec()));
        assert_eq!(options_concat(None, Some(b"x")), Some(b"x".to_vec()));
        assert_eq!(
            options_concat(Some(b"a"), Some(b"x")),
            Some(b"a x".to_vec())
        );
        assert_eq!(options_concat(None, Some(b"")), None);
    }

    #[test]
    fn substitution() {
        assert_eq!(
            substitute_cmdline_opts(b"echo $CMDLINE_OPTS;$CMDLINE_OPTS", b"a=1 "),
            b"echo a=1 ;a=1 "
        );
    }
}
