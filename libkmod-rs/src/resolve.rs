//! Module resolution with configuration, as a libkmod context does it: the lookup
//! chain (kmod-contract §2.6.2), the probe list and insertion (§2.6.3), and the
//! per-module facts removal needs (softdeps, commands, state, holders, §2.6.5).
//!
//! # Module objects
//! libkmod keeps one module object per key — the module name, or `name\alias` for a
//! module reached through an alias — for as long as anything references it. Several
//! observable behaviours hang on that identity: the probe list's *visited* mark (a
//! module reached both as a dependency and through a softdep alias is listed twice),
//! the *required* mark, cached paths, options and commands. [`Context`] keeps the same
//! pool: objects are shared through [`ModRef`] (`Rc`) and the pool holds weak
//! references, so an object lives exactly as long as kmod's would.
//!
//! # Messages
//! What libkmod would log (after the tool installed its hook) is queued in the
//! context as [`Log`] records; the caller takes them with [`Context::take_log`] and
//! prints them, in order with its own messages.

use crate::Root;
use crate::config::Config;
use crate::error::{errno, strerror};
use crate::lookup::{IndexKind, LogRecord, ModuleDir};
use crate::name;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

/// syslog priority of an error message.
pub const LOG_ERR: i32 = 3;
/// syslog priority of a warning.
pub const LOG_WARNING: i32 = 4;
/// syslog priority of an informational message.
pub const LOG_INFO: i32 = 6;

/// glibc's `PATH_MAX`.
const PATH_MAX: usize = 4096;

/// How deep softdeps of softdeps are followed when building a probe list.
pub const MAX_SOFTDEP_DEPTH: usize = 512;

/// `ENAMETOOLONG`.
const ENAMETOOLONG: i32 = errno::ENAMETOOLONG;

/// A message libkmod logs through the tool's hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// syslog priority ([`LOG_ERR`], [`LOG_INFO`]...).
    pub priority: i32,
    /// The libkmod function that logs it.
    pub func: &'static str,
    /// The text, newline included.
    pub message: String,
}

/// A shared module object.
pub type ModRef = Rc<Mod>;

/// A module object (libkmod's `struct kmod_module`).
#[derive(Debug)]
pub struct Mod {
    name: Vec<u8>,
    alias: Option<Vec<u8>>,
    key: Vec<u8>,
    st: RefCell<ModState>,
}

/// A lazily computed optional text.
#[derive(Debug, Clone, Default)]
enum Lazy {
    #[default]
    Unknown,
    Known(Option<Vec<u8>>),
}

#[derive(Debug, Default)]
struct ModState {
    path: Option<PathBuf>,
    dep: Vec<ModRef>,
    dep_init: bool,
    options: Lazy,
    install: Lazy,
    remove: Lazy,
    builtin: Option<bool>,
    visited: bool,
    ignorecmd: bool,
    required: bool,
}

impl Mod {
    /// The module name (normalised).
    #[must_use]
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The module name as text.
    #[must_use]
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The alias (or config alias pattern) the module was created from, if any.
    #[must_use]
    pub fn alias(&self) -> Option<&[u8]> {
        self.alias.as_deref()
    }

    /// The pool key: `name`, or `name\alias`.
    #[must_use]
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Whether the probe list marked it as "required" (the target or one of its
    /// dependencies, as opposed to a softdep only).
    #[must_use]
    pub fn required(&self) -> bool {
        self.st.borrow().required
    }

    /// Whether the probe list marked it to ignore its install command.
    #[must_use]
    pub fn ignorecmd(&self) -> bool {
        self.st.borrow().ignorecmd
    }
}

pub use crate::state::InitState;

/// Flags of [`Context::probe_insert`] (libkmod's `KMOD_PROBE_*`).
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

/// What `modprobe` shows for one probe-list entry.
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

/// Why a file could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertFailure {
    /// The errno.
    pub errno: i32,
    /// Whether the file was opened (libkmod then logs `Failed to insert module`).
    pub opened: bool,
}

/// What the probe needs from its caller: showing actions, inserting files and running
/// install commands.
pub trait ProbeHost {
    /// Show an action (only called when showing is on).
    fn show(&mut self, ctx: &Context, action: &Action);
    /// Insert the file at `path` with `options`.
    fn insert(
        &mut self,
        ctx: &Context,
        m: &Mod,
        path: &Path,
        options: &[u8],
        flags: ProbeFlags,
    ) -> Result<(), InsertFailure>;
    /// Run `command` with `/bin/sh -c` for module `m` (environment
    /// `MODPROBE_MODULE=<name>`): the exit code (0 when killed by a signal, like
    /// `WEXITSTATUS`), or the errno when it could not be run.
    fn system(&mut self, ctx: &Context, m: &Mod, command: &[u8]) -> Result<i32, i32>;
    /// Before anything is inserted (not on a dry run): the modules that
    /// [`ProbeHost::insert`] is about to be given, in order, with their files.
    /// `Err(errno)` ends the probe with that error before any insertion (beyond
    /// kmod: modprobe checks the whole chain first). By default, nothing.
    fn check_chain(
        &mut self,
        ctx: &Context,
        chain: &[(ModRef, PathBuf)],
        flags: ProbeFlags,
    ) -> Result<(), i32> {
        let _ = (ctx, chain, flags);
        Ok(())
    }
}

/// A libkmod context: module directory, configuration, module pool and log.
#[derive(Debug)]
pub struct Context {
    root: Root,
    dir: ModuleDir,
    config: Config,
    pool: RefCell<HashMap<Vec<u8>, Weak<Mod>>>,
    log: RefCell<Vec<Log>>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// Replace every `$CMDLINE_OPTS` in `command` with `options`.
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
#[must_use]
pub fn options_concat(opt: Option<&[u8]>, xopt: Option<&[u8]>) -> Option<Vec<u8>> {
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

impl Context {
    /// Create a context (`kmod_new`) for the module directory `dirname` (made
    /// absolute against the current directory): read the in-kernel decompressor
    /// and the configuration. `config_paths`: the `-C` paths, or `None` for the
    /// defaults. Returns the messages libkmod logs meanwhile, before any tool hook.
    #[must_use]
    pub fn new(
        root: Root,
        dirname: &Path,
        config_paths: Option<&[PathBuf]>,
    ) -> (Context, Vec<LogRecord>) {
        let dir = ModuleDir::new(dirname);
        let mut early = Vec::new();
        let mut msgs = Vec::new();
        crate::state::kernel_compression(&root, &mut msgs);
        for m in msgs {
            early.push(LogRecord {
                func: m.func,
                message: String::from_utf8_lossy(&m.text).into_owned(),
            });
        }
        let (config, log) = Config::load(&root, dir.dir(), config_paths);
        early.extend(log);
        (
            Context {
                root,
                dir,
                config,
                pool: RefCell::new(HashMap::new()),
                log: RefCell::new(Vec::new()),
            },
            early,
        )
    }

    /// The module directory.
    #[must_use]
    pub fn dirname(&self) -> &Path {
        self.dir.dir()
    }

    /// The module directory with its indexes.
    #[must_use]
    pub fn module_dir(&self) -> &ModuleDir {
        &self.dir
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The root system paths resolve through.
    #[must_use]
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Take the messages logged so far.
    pub fn take_log(&self) -> Vec<Log> {
        let mut v = std::mem::take(&mut *self.log.borrow_mut());
        for r in self.dir.take_log() {
            v.push(Log {
                priority: LOG_ERR,
                func: r.func,
                message: r.message,
            });
        }
        v
    }

    fn log(&self, priority: i32, func: &'static str, message: String) {
        self.log.borrow_mut().push(Log {
            priority,
            func,
            message,
        });
    }

    fn err(&self, func: &'static str, message: String) {
        self.log(LOG_ERR, func, message);
    }

    /// `kmod_load_resources`: open the indexes in kmod's order (dep, alias, symbols,
    /// builtin alias, builtin), logging what kmod logs for a bad header; the first
    /// failure other than the builtin alias index stops the loading.
    pub fn load_resources(&self) {
        for kind in [
            IndexKind::Dep,
            IndexKind::Alias,
            IndexKind::Symbols,
            IndexKind::BuiltinAlias,
            IndexKind::Builtin,
        ] {
            let path = self.dir.dir().join(kind.file_name());
            let ok = match std::fs::File::open(&path) {
                Err(_) => false,
                Ok(f) => {
                    let mut head = Vec::with_capacity(12);
                    let _ = f.take(12).read_to_end(&mut head);
                    if head.len() < 12 {
                        false
                    } else {
                        match crate::index::Index::new(&head) {
                            Ok(_) => true,
                            Err(e) => {
                                self.err("index_mm_open", format!("{e}\n"));
                                false
                            }
                        }
                    }
                }
            };
            if !ok && kind != IndexKind::BuiltinAlias {
                break;
            }
        }
    }

    // ---- the pool --------------------------------------------------------------

    fn pool_get(&self, key: &[u8]) -> Option<ModRef> {
        self.pool.borrow().get(key).and_then(Weak::upgrade)
    }

    fn pool_new(&self, key: Vec<u8>, name: Vec<u8>, alias: Option<Vec<u8>>) -> ModRef {
        if let Some(m) = self.pool_get(&key) {
            return m;
        }
        let m = Rc::new(Mod {
            name,
            alias,
            key: key.clone(),
            st: RefCell::new(ModState::default()),
        });
        let mut pool = self.pool.borrow_mut();
        if pool.len() > 1024 {
            pool.retain(|_, w| w.strong_count() > 0);
        }
        pool.insert(key, Rc::downgrade(&m));
        m
    }

    fn live_objects(&self) -> Vec<ModRef> {
        self.pool
            .borrow()
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// `kmod_module_new_from_name`: the object of module `name` (normalised).
    pub fn new_from_name(&self, name: &[u8]) -> ModRef {
        let n = name::modname_normalize(name);
        self.pool_new(n.clone(), n, None)
    }

    fn new_from_alias(&self, alias: &[u8], name: &[u8]) -> Result<ModRef, i32> {
        if name.len() + alias.len() + 2 > PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut key = name.to_vec();
        key.push(b'\\');
        key.extend_from_slice(alias);
        Ok(self.pool_new(key, name.to_vec(), Some(alias.to_vec())))
    }

    /// `kmod_module_new_from_path`: the object of the module file `path` (made
    /// absolute); the errno of `stat`, `ENOENT` for a path without a file name,
    /// `EEXIST` if a module of that name exists with another path.
    pub fn new_from_path(&self, path: &Path) -> Result<ModRef, i32> {
        let abs = crate::file::make_absolute(path);
        if let Err(e) = std::fs::metadata(&abs) {
            return Err(e.raw_os_error().unwrap_or(errno::ENOENT));
        }
        let Some(n) = name::path_to_modname(path.as_os_str().as_bytes()) else {
            return Err(errno::ENOENT);
        };
        let m = self.pool_new(n.clone(), n.clone(), None);
        {
            let mut st = m.st.borrow_mut();
            match &st.path {
                None => st.path = Some(abs),
                Some(p) if *p == abs => {}
                Some(p) => {
                    let old = p.display().to_string();
                    drop(st);
                    self.err(
                        "kmod_module_new_from_path",
                        format!(
                            "kmod_module '{}' already exists with different path: new-path='{}' old-path='{}'\n",
                            lossy(&n),
                            abs.display(),
                            old
                        ),
                    );
                    return Err(errno::EEXIST);
                }
            }
        }
        m.st.borrow_mut().builtin = Some(false);
        Ok(m)
    }

    fn join(&self, p: &[u8]) -> PathBuf {
        if p.first() == Some(&b'/') {
            return PathBuf::from(os(p));
        }
        let mut s = self.dir.dir().as_os_str().as_bytes().to_vec();
        s.push(b'/');
        s.extend_from_slice(p);
        PathBuf::from(os(&s))
    }

    /// `kmod_module_parse_depline`.
    fn parse_depline(&self, m: &ModRef, line: &[u8]) {
        if m.st.borrow().dep_init {
            return;
        }
        m.st.borrow_mut().dep_init = true;
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return;
        };
        if m.st.borrow().path.is_none() {
            let p = self.join(&line[..colon]);
            m.st.borrow_mut().path = Some(p);
        }
        let mut deps = Vec::new();
        for tok in line[colon + 1..]
            .split(|&c| c == b' ' || c == b'\t')
            .filter(|t| !t.is_empty())
        {
            let path = self.join(tok);
            match self.new_from_path(&path) {
                Ok(d) => deps.push(d),
                Err(e) => {
                    self.err(
                        "kmod_module_parse_depline",
                        format!(
                            "ctx={:p} path={} error={}\n",
                            self,
                            path.display(),
                            strerror(e)
                        ),
                    );
                    m.st.borrow_mut().dep_init = false;
                    return;
                }
            }
        }
        deps.reverse();
        m.st.borrow_mut().dep = deps;
    }

    fn load_deps(&self, m: &ModRef) {
        if m.st.borrow().dep_init {
            return;
        }
        if let Some(line) = self.dir.index_lookup(IndexKind::Dep, &m.name) {
            self.parse_depline(m, &line);
        }
    }

    /// `kmod_module_get_dependencies`: the modules of its `modules.dep` line, most
    /// basic first.
    pub fn dependencies(&self, m: &ModRef) -> Vec<ModRef> {
        self.load_deps(m);
        m.st.borrow().dep.clone()
    }

    /// `kmod_module_get_path`: the module file, from `modules.dep` when not known.
    pub fn path(&self, m: &ModRef) -> Option<PathBuf> {
        {
            let st = m.st.borrow();
            if st.path.is_some() || st.dep_init {
                return st.path.clone();
            }
        }
        self.load_deps(m);
        m.st.borrow().path.clone()
    }

    /// `kmod_module_get_options`: the config options of the module (by name or by
    /// the alias it was created from).
    pub fn options(&self, m: &Mod) -> Option<Vec<u8>> {
        if let Lazy::Known(o) = &m.st.borrow().options {
            return o.clone();
        }
        let o = self.config.options_for(&m.name, m.alias.as_deref());
        m.st.borrow_mut().options = Lazy::Known(o.clone());
        o
    }

    /// `kmod_module_get_install_commands`: the first matching `install` command.
    pub fn install_command(&self, m: &Mod) -> Option<Vec<u8>> {
        if let Lazy::Known(c) = &m.st.borrow().install {
            return c.clone();
        }
        let c = self.config.install_for(&m.name).map(<[u8]>::to_vec);
        m.st.borrow_mut().install = Lazy::Known(c.clone());
        c
    }

    /// `kmod_module_get_remove_commands`: the first matching `remove` command.
    pub fn remove_command(&self, m: &Mod) -> Option<Vec<u8>> {
        if let Lazy::Known(c) = &m.st.borrow().remove {
            return c.clone();
        }
        let c = self.config.remove_for(&m.name).map(<[u8]>::to_vec);
        m.st.borrow_mut().remove = Lazy::Known(c.clone());
        c
    }

    fn lookup_deps<'a>(&self, names: impl Iterator<Item = &'a [u8]>) -> Vec<ModRef> {
        let mut v = Vec::new();
        for n in names {
            match self.lookup(n) {
                Ok(l) => v.extend(l),
                Err(_) => self.err(
                    "lookup_dep",
                    format!(
                        "failed to lookup dependency '{}', continuing anyway.\n",
                        lossy(n)
                    ),
                ),
            }
        }
        v
    }

    /// `kmod_module_get_softdeps`: the modules of the first matching `softdep` line,
    /// each name resolved with [`Context::lookup`].
    pub fn softdeps(&self, m: &Mod) -> (Vec<ModRef>, Vec<ModRef>) {
        let Some(sd) = self.config.softdep_for(&m.name) else {
            return (Vec::new(), Vec::new());
        };
        let pre = self.lookup_deps(sd.pre());
        let post = self.lookup_deps(sd.post());
        (pre, post)
    }

    /// `kmod_module_get_weakdeps`: the modules of the first matching `weakdep` line.
    pub fn weakdeps(&self, m: &Mod) -> Vec<ModRef> {
        let Some(wd) = self.config.weakdep_for(&m.name) else {
            return Vec::new();
        };
        self.lookup_deps(wd.weak.iter().map(Vec::as_slice))
    }

    /// Is the module builtin (`modules.builtin.bin`, cached per object)?
    pub fn is_builtin(&self, m: &Mod) -> bool {
        let known = m.st.borrow().builtin;
        let b = known.unwrap_or_else(|| self.dir.is_builtin(&m.name));
        m.st.borrow_mut().builtin = Some(b);
        b
    }

    /// Is the module blacklisted (exact name)?
    #[must_use]
    pub fn is_blacklisted(&self, m: &Mod) -> bool {
        self.config.is_blacklisted(&m.name)
    }

    fn lib(&self, msgs: Vec<crate::state::LibMessage>) {
        for m in msgs {
            self.err(m.func, String::from_utf8_lossy(&m.text).into_owned());
        }
    }

    /// `kmod_module_get_initstate`: builtin, or from `/sys/module/<name>/initstate`;
    /// the errno when the module is not loaded.
    pub fn initstate(&self, m: &Mod) -> Result<InitState, i32> {
        let builtin = self.is_builtin(m);
        let mut log = Vec::new();
        let r = crate::state::initstate(&self.root, &m.name, builtin, &mut log);
        self.lib(log);
        r
    }

    /// Live or builtin.
    pub fn is_inkernel(&self, m: &Mod) -> bool {
        self.initstate(m).is_ok_and(InitState::in_kernel)
    }

    /// `kmod_module_get_refcnt`: `/sys/module/<name>/refcnt`, or the errno.
    pub fn refcnt(&self, m: &Mod) -> Result<i32, i32> {
        let mut log = Vec::new();
        let r = crate::state::refcnt(&self.root, &m.name, &mut log);
        self.lib(log);
        r
    }

    /// `kmod_module_get_holders`: the modules in `/sys/module/<name>/holders`, in
    /// directory order (none when it cannot be read, which is logged).
    pub fn holders(&self, m: &Mod) -> Vec<ModRef> {
        let mut log = Vec::new();
        let r = crate::state::holders(&self.root, &m.name, &mut log);
        self.lib(log);
        r.unwrap_or_default()
            .iter()
            .map(|n| self.new_from_name(n))
            .collect()
    }

    /// `kmod_module_remove_module`: `delete_module(name, O_NONBLOCK [| O_TRUNC])`;
    /// logs `could not remove` unless `nolog`.
    pub fn remove_module(
        &self,
        kernel: &mut dyn crate::kernel::Kernel,
        m: &Mod,
        force: bool,
        nolog: bool,
    ) -> Result<(), i32> {
        let mut flags = crate::kernel::O_NONBLOCK;
        if force {
            flags |= crate::kernel::O_TRUNC;
        }
        let r = kernel.delete_module(&m.name_str(), flags);
        if let Err(e) = r
            && !nolog
        {
            self.err(
                "kmod_module_remove_module",
                format!("could not remove '{}': {}\n", m.name_str(), strerror(e)),
            );
        }
        r
    }

    // ---- lookup ----------------------------------------------------------------

    /// `kmod_module_new_from_lookup`: resolve a user-given name (alias-normalised)
    /// through config aliases, `modules.dep.bin`, `modules.symbols.bin` (for
    /// `symbol:` names), install/remove commands, `modules.alias.bin`,
    /// `modules.builtin.bin` and `modules.builtin.alias.bin`; the first source with a
    /// match wins. `EINVAL` for a malformed alias.
    pub fn lookup(&self, given: &[u8]) -> Result<Vec<ModRef>, i32> {
        let given = &given[..given.len().min(PATH_MAX - 1)];
        let given = match given.iter().position(|&c| c == 0) {
            Some(n) => &given[..n],
            None => given,
        };
        let name = name::alias_normalize(given).ok_or(errno::EINVAL)?;
        let mut v = self.by_config(&name)?;
        if v.is_empty() {
            v = self.by_moddep(&name);
        }
        if v.is_empty() {
            v = self.by_symbols(&name)?;
        }
        if v.is_empty() {
            v = self.by_commands(&name);
        }
        if v.is_empty() {
            v = self.by_alias_index(IndexKind::Alias, &name)?;
        }
        if v.is_empty() {
            v = self.by_builtin(&name);
        }
        if v.is_empty() {
            v = self.by_builtin_alias(&name)?;
        }
        Ok(v)
    }

    fn by_config(&self, name: &[u8]) -> Result<Vec<ModRef>, i32> {
        let mut v = Vec::new();
        for a in &self.config.aliases {
            if crate::fnmatch::fnmatch(&a.pattern, name) {
                match self.new_from_alias(&a.pattern, &a.modname) {
                    Ok(m) => v.push(m),
                    Err(e) => {
                        self.err(
                            "kmod_lookup_alias_from_config",
                            format!(
                                "Could not create module for alias={} modname={}: {}\n",
                                lossy(name),
                                lossy(&a.modname),
                                strerror(e)
                            ),
                        );
                        return Err(e);
                    }
                }
            }
        }
        Ok(v)
    }

    fn by_moddep(&self, name: &[u8]) -> Vec<ModRef> {
        if name.contains(&b':') {
            return Vec::new();
        }
        let Some(line) = self.dir.index_lookup(IndexKind::Dep, name) else {
            return Vec::new();
        };
        let m = self.new_from_name(name);
        self.parse_depline(&m, &line);
        vec![m]
    }

    fn by_alias_index(&self, kind: IndexKind, name: &[u8]) -> Result<Vec<ModRef>, i32> {
        let mut v = Vec::new();
        for real in self.dir.index_search(kind, name).unwrap_or_default() {
            match self.new_from_alias(name, &real) {
                Ok(m) => v.push(m),
                Err(e) => {
                    self.err(
                        "kmod_lookup_alias_from_alias_bin",
                        format!(
                            "Could not create module for alias={} realname={}: {}\n",
                            lossy(name),
                            lossy(&real),
                            strerror(e)
                        ),
                    );
                    return Err(e);
                }
            }
        }
        Ok(v)
    }

    fn by_symbols(&self, name: &[u8]) -> Result<Vec<ModRef>, i32> {
        if !name.starts_with(b"symbol:") {
            return Ok(Vec::new());
        }
        self.by_alias_index(IndexKind::Symbols, name)
    }

    fn by_commands(&self, name: &[u8]) -> Vec<ModRef> {
        if let Some(c) = self
            .config
            .install_commands
            .iter()
            .find(|c| c.modname == name)
        {
            let m = self.new_from_name(&c.modname);
            m.st.borrow_mut().install = Lazy::Known(Some(c.command.clone()));
            return vec![m];
        }
        if let Some(c) = self
            .config
            .remove_commands
            .iter()
            .find(|c| c.modname == name)
        {
            let m = self.new_from_name(&c.modname);
            m.st.borrow_mut().remove = Lazy::Known(Some(c.command.clone()));
            return vec![m];
        }
        Vec::new()
    }

    fn by_builtin(&self, name: &[u8]) -> Vec<ModRef> {
        if !self.dir.is_builtin(name) {
            return Vec::new();
        }
        let m = self.new_from_name(name);
        m.st.borrow_mut().builtin = Some(true);
        vec![m]
    }

    fn by_builtin_alias(&self, name: &[u8]) -> Result<Vec<ModRef>, i32> {
        let v = self.by_alias_index(IndexKind::BuiltinAlias, name)?;
        for m in &v {
            m.st.borrow_mut().builtin = Some(true);
        }
        Ok(v)
    }

    // ---- probe -----------------------------------------------------------------

    /// `kmod_module_get_probe_list`: the modules to insert for `m`, in order
    /// (dependencies first, softdeps around the modules that have them).
    pub fn probe_list(&self, m: &ModRef, ignorecmd: bool) -> Vec<ModRef> {
        for o in self.live_objects() {
            let mut st = o.st.borrow_mut();
            st.visited = false;
            st.required = false;
        }
        let mut list = Vec::new();
        self.visit(m, true, ignorecmd, &mut list, 0);
        list
    }

    fn visit(
        &self,
        m: &ModRef,
        required: bool,
        ignorecmd: bool,
        list: &mut Vec<ModRef>,
        depth: usize,
    ) {
        if m.st.borrow().visited {
            return;
        }
        m.st.borrow_mut().visited = true;
        let deps = self.dependencies(m);
        if required {
            m.st.borrow_mut().required = true;
            for d in &deps {
                d.st.borrow_mut().required = true;
            }
        }
        for d in &deps {
            self.fill_softdep(d, list, depth);
        }
        if ignorecmd {
            list.push(m.clone());
            m.st.borrow_mut().ignorecmd = true;
        } else {
            self.fill_softdep(m, list, depth);
        }
    }

    fn fill_softdep(&self, m: &ModRef, list: &mut Vec<ModRef>, depth: usize) {
        let (pre, post) = self.softdeps(m);
        // Softdep chains only end at modules already visited; a configuration chaining
        // thousands of them would exhaust the stack (kmod's too): stop descending.
        let deeper = depth < MAX_SOFTDEP_DEPTH;
        if deeper {
            for p in &pre {
                self.visit(p, false, false, list, depth + 1);
            }
        }
        list.push(m.clone());
        m.st.borrow_mut().ignorecmd = !pre.is_empty() || !post.is_empty();
        if deeper {
            for p in &post {
                self.visit(p, false, false, list, depth + 1);
            }
        }
    }

    /// What `modprobe` shows for `m` with `options` when it is not an install
    /// command: `insmod`, `builtin`, or nothing.
    pub fn action(&self, m: &ModRef, options: &[u8]) -> Action {
        match self.path(m) {
            Some(path) => Action::Insmod {
                path,
                options: options.to_vec(),
            },
            None => {
                if self.initstate(m) == Ok(InitState::Builtin) {
                    Action::Builtin {
                        name: m.name.clone(),
                    }
                } else {
                    Action::Nothing
                }
            }
        }
    }

    /// `kmod_module_probe_insert_module`: insert `m` with its dependencies and
    /// softdeps. `extra` are the command-line options of the target; `show` calls
    /// [`ProbeHost::show`] for each action. Errors are errno values.
    pub fn probe_insert(
        &self,
        m: &ModRef,
        flags: ProbeFlags,
        extra: Option<&[u8]>,
        show: bool,
        host: &mut dyn ProbeHost,
    ) -> Result<ProbeOutcome, i32> {
        if !flags.ignore_loaded && self.is_inkernel(m) {
            if flags.fail_on_loaded {
                return Err(errno::EEXIST);
            }
            return Ok(ProbeOutcome::Done);
        }
        if self.is_blacklisted(m)
            && ((m.alias.is_some() && flags.blacklist_alias_only)
                || flags.blacklist_all
                || flags.blacklist)
        {
            return Ok(ProbeOutcome::Blacklisted);
        }
        let mut list = self.probe_list(m, flags.ignore_command);
        if flags.blacklist_all {
            list.retain(|x| !self.is_blacklisted(x));
            if list.is_empty() {
                return Ok(ProbeOutcome::Blacklisted);
            }
        }
        if !flags.dry_run {
            // what the loop below will hand to host.insert, in order
            let chain: Vec<(ModRef, PathBuf)> = list
                .iter()
                .filter(|x| flags.ignore_loaded || !self.is_inkernel(x))
                .filter(|x| x.ignorecmd() || self.install_command(x).is_none())
                .filter_map(|x| Some((x.clone(), self.path(x)?)))
                .collect();
            host.check_chain(self, &chain, flags)?;
        }
        let mut err = 0i32;
        for x in &list {
            let moptions = self.options(x);
            let cmd = self.install_command(x);
            if !flags.ignore_loaded && self.is_inkernel(x) {
                err = -errno::EEXIST;
            } else {
                let is_top = Rc::ptr_eq(x, m);
                let options =
                    options_concat(moptions.as_deref(), if is_top { extra } else { None });
                let opts = options.clone().unwrap_or_default();
                match cmd {
                    Some(cmd) if !x.ignorecmd() => {
                        if show {
                            host.show(
                                self,
                                &Action::Install {
                                    command: cmd.clone(),
                                    options: opts.clone(),
                                },
                            );
                        }
                        if !flags.dry_run {
                            err = self.run_install(x, &cmd, &opts, host);
                        }
                    }
                    _ => {
                        if show {
                            let a = self.action(x, &opts);
                            host.show(self, &a);
                        }
                        if !flags.dry_run {
                            err = self.insert(x, &opts, flags, host);
                        }
                    }
                }
            }
            if err == -errno::EEXIST && Rc::ptr_eq(x, m) && flags.fail_on_loaded {
                break;
            }
            if err == -errno::EEXIST || !x.required() {
                err = 0;
            } else if err < 0 {
                break;
            }
        }
        if err < 0 {
            Err(-err)
        } else {
            Ok(ProbeOutcome::Done)
        }
    }

    fn run_install(&self, m: &Mod, cmd: &[u8], options: &[u8], host: &mut dyn ProbeHost) -> i32 {
        let cmd = substitute_cmdline_opts(cmd, options);
        match host.system(self, m, &cmd) {
            Err(e) => {
                self.err(
                    "command_do",
                    format!(
                        "Could not run install command '{}' for module {}: {}\n",
                        lossy(&cmd),
                        m.name_str(),
                        strerror(e)
                    ),
                );
                -errno::EINVAL
            }
            Ok(0) => 0,
            Ok(code) => {
                self.err(
                    "command_do",
                    format!(
                        "Error running install command '{}' for module {}: retcode {code}\n",
                        lossy(&cmd),
                        m.name_str()
                    ),
                );
                -errno::EINVAL
            }
        }
    }

    /// `kmod_module_insert_module` over the host's insertion.
    fn insert(
        &self,
        m: &ModRef,
        options: &[u8],
        flags: ProbeFlags,
        host: &mut dyn ProbeHost,
    ) -> i32 {
        let Some(path) = self.path(m) else {
            self.err(
                "kmod_module_insert_module",
                format!("could not find module by name='{}'\n", m.name_str()),
            );
            return -errno::ENOENT;
        };
        match host.insert(self, m, &path, options, flags) {
            Ok(()) => 0,
            Err(f) => {
                if f.opened {
                    self.log(
                        LOG_INFO,
                        "kmod_module_insert_module",
                        format!(
                            "Failed to insert module '{}': {}\n",
                            path.display(),
                            strerror(f.errno)
                        ),
                    );
                }
                -f.errno
            }
        }
    }
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
