//! A module directory and its modules: [`ModuleDir`], [`Module`].

use crate::config::{Config, ConfigSource};
use crate::diag::{self, Sink};
use crate::error::{Error, errno, strerror};
use crate::file::Image;
use crate::index::{Index, IndexError};
use crate::modinfo::ModuleInfo;
use crate::state::{self, InitState};
use crate::{Root, name};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

/// glibc's `PATH_MAX`.
const PATH_MAX: usize = 4096;

/// The binary indexes of a module directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// `modules.dep.bin`: module name → dependency line.
    Dep,
    /// `modules.alias.bin`: alias pattern → module name.
    Alias,
    /// `modules.symbols.bin`: `symbol:<name>` → module name.
    Symbols,
    /// `modules.builtin.alias.bin`: alias pattern → builtin module name.
    BuiltinAlias,
    /// `modules.builtin.bin`: builtin module name.
    Builtin,
}

impl IndexKind {
    /// Every index, in the order `kmod_load_resources` opens them.
    const ALL: [IndexKind; 5] = [
        IndexKind::Dep,
        IndexKind::Alias,
        IndexKind::Symbols,
        IndexKind::BuiltinAlias,
        IndexKind::Builtin,
    ];

    /// The index file name.
    #[must_use]
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            IndexKind::Dep => "modules.dep.bin",
            IndexKind::Alias => "modules.alias.bin",
            IndexKind::Symbols => "modules.symbols.bin",
            IndexKind::BuiltinAlias => "modules.builtin.alias.bin",
            IndexKind::Builtin => "modules.builtin.bin",
        }
    }
}

/// An opened module directory with its configuration ([`ModuleDir`], libkmod's
/// context) and the modules found in it ([`Module`], libkmod's `kmod_module`).
///
/// # Lookups
/// [`ModuleDir::lookup`] resolves what a user types — a module name, an alias, a
/// modalias, `symbol:<name>` — as `kmod_module_new_from_lookup` does, the first
/// source with a match winning: configuration `alias` lines, `modules.dep.bin`,
/// `modules.symbols.bin` (for `symbol:` names), `install`/`remove` commands,
/// `modules.alias.bin`, `modules.builtin.bin`, `modules.builtin.alias.bin`. With an
/// empty configuration ([`ConfigSource::None`], as modinfo opens it) the same lookup
/// skips the configuration's sources. Missing or unusable index files count as "not
/// found", as kmod opens them on demand.
///
/// # Module objects
/// libkmod keeps one module object per key — the module name, or `name\alias` for a
/// module reached through an alias — for as long as anything references it; what it
/// learns about a module (its file, its dependencies, an install command found by
/// the lookup) stays with the object. [`ModuleDir`] keeps the same pool: a
/// [`Module`] is a shared handle, the pool holds weak references, so an object lives
/// exactly as long as kmod's would and two lookups of the same key meet the same
/// object.
///
/// # Threads
/// A [`ModuleDir`] and its [`Module`]s are `Send + Sync`: the indexes are mapped
/// once, the pool and each object's cached facts sit behind locks that are never
/// held across a call into another object.
///
/// A module directory (`<root>/lib/modules/<release>`), its configuration and its
/// indexes: libkmod's context. Cheap to clone (shared).
///
/// ```no_run
/// use libkmod_rs::{ConfigSource, ModuleDir, Root};
///
/// let root = Root::host();
/// let mut sink = |d: libkmod_rs::Diagnostic| eprintln!("{d}");
/// let dir = ModuleDir::open(&root, root.module_dir("6.1.0-57-amd64"), &ConfigSource::System, &mut sink);
/// for m in dir.lookup(b"fs-btrfs", &mut sink)? {
///     println!("{m} {:?}", m.path(&mut sink));
/// }
/// # Ok::<(), libkmod_rs::Error>(())
/// ```
#[derive(Clone)]
pub struct ModuleDir {
    inner: Arc<Inner>,
}

/// An index file whose header was read (see [`Inner::checked`]).
type CheckedIndex = (std::fs::File, u64, Option<u32>);
/// A mapped index and its root offset if known (see [`Inner::indexes`]).
type MappedIndex = (Image, Option<u32>);

struct Inner {
    root: Root,
    dir: PathBuf,
    config: Config,
    /// Each index's image and, when its header was checked before it was mapped,
    /// the root node's offset (a valid header), so that lookups need not read it
    /// again (and fault in the file's first page).
    indexes: [OnceLock<Option<MappedIndex>>; 5],
    /// Index files opened by [`ModuleDir::load_resources`] to check their header,
    /// mapped (from the same open file) at their first lookup: (file, size, root
    /// offset if the header is valid).
    checked: Mutex<[Option<CheckedIndex>; 5]>,
    pool: Mutex<HashMap<Vec<u8>, Weak<Node>>>,
}

/// A module of a [`ModuleDir`]: a shared handle to libkmod's module object. Two
/// handles are equal when they are the same object.
#[derive(Clone)]
pub struct Module(Arc<Node>);

struct Node {
    ctx: Arc<Inner>,
    name: Vec<u8>,
    alias: Option<Vec<u8>>,
    key: Vec<u8>,
    st: Mutex<NodeState>,
}

/// A lazily computed optional text.
#[derive(Debug, Clone, Default)]
enum Lazy {
    #[default]
    Unknown,
    Known(Option<Vec<u8>>),
}

#[derive(Default)]
struct NodeState {
    path: Option<PathBuf>,
    /// `path` was found to exist by `new_from_path`: later calls for the same
    /// path need not look again.
    path_seen: bool,
    dep: Vec<Module>,
    dep_init: bool,
    options: Lazy,
    install: Lazy,
    remove: Lazy,
    builtin: Option<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic while holding a lock leaves plain data behind: keep going with it
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl fmt::Debug for ModuleDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleDir")
            .field("dir", &self.inner.dir)
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl ModuleDir {
    /// Open the module directory `dir` (made absolute against the current
    /// directory) as `kmod_new` does: read the kernel's in-kernel decompressor
    /// (`/sys/module/compression`) and the configuration from `config`; what
    /// libkmod logs meanwhile goes to `sink`. Never fails: missing files are
    /// missing configuration and empty indexes.
    pub fn open(
        root: &Root,
        dir: impl AsRef<Path>,
        config: &ConfigSource,
        sink: &mut dyn Sink,
    ) -> ModuleDir {
        let dir = dir.as_ref();
        let dir = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            crate::file::make_absolute(dir)
        };
        state::kernel_compression(root, sink);
        let config = Config::load(root, &dir, config, sink);
        ModuleDir {
            inner: Arc::new(Inner {
                root: root.clone(),
                dir,
                config,
                indexes: Default::default(),
                checked: Mutex::default(),
                pool: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The root system paths resolve through.
    #[must_use]
    pub fn root(&self) -> &Root {
        &self.inner.root
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// `kmod_load_resources`: open the indexes in kmod's order, reporting what kmod
    /// logs for a bad header; the first failure other than the builtin alias index
    /// stops the loading.
    pub fn load_resources(&self, sink: &mut dyn Sink) {
        for kind in IndexKind::ALL {
            let ok = match self.inner.index_header(kind) {
                Some(Ok(_)) => true,
                Some(Err(e)) => {
                    diag::err(sink, "index_mm_open", format!("{e}\n"));
                    false
                }
                None => false,
            };
            if !ok && kind != IndexKind::BuiltinAlias {
                break;
            }
        }
    }

    /// Write `kmod_dump_index`'s text of one index: a `key value` line per value
    /// (`alias` first for the alias and symbol indexes, as `modprobe -c` prints).
    pub fn dump_index(&self, kind: IndexKind, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let Some(idx) = self.inner.index(kind) else {
            return Ok(());
        };
        let mut out = out;
        idx.dump_to(
            &mut out,
            matches!(kind, IndexKind::Alias | IndexKind::Symbols),
        )
    }

    /// `kmod_module_new_from_lookup`: resolve a user-given name, alias or modalias
    /// (see [`ModuleDir`]); `Ok` with no modules when nothing
    /// matches. `EINVAL` for a malformed alias.
    pub fn lookup(&self, given: &[u8], sink: &mut dyn Sink) -> Result<Vec<Module>, Error> {
        self.inner.lookup(given, sink)
    }

    /// `kmod_module_new_from_name_lookup` (`modinfo -m`): by name only, in
    /// `modules.dep.bin`, then `modules.builtin.bin`, then
    /// `modules.builtin.alias.bin`.
    #[must_use]
    pub fn lookup_name(&self, given: &[u8], sink: &mut dyn Sink) -> Option<Module> {
        let name = name::modname_normalize(given);
        let inner = &self.inner;
        if let Some(m) = inner.by_moddep(&name, sink).into_iter().next() {
            return Some(m);
        }
        if let Some(m) = inner.by_builtin(&name).into_iter().next() {
            return Some(m);
        }
        inner
            .by_builtin_alias(&name, sink)
            .ok()
            .and_then(|v| v.into_iter().next())
    }

    /// `kmod_module_new_from_name`: the module object of `name` (normalised).
    #[must_use]
    pub fn module(&self, name: &[u8]) -> Module {
        self.inner.new_from_name(name)
    }

    /// `kmod_module_new_from_path`: the module object of the file `path` (made
    /// absolute). The errno of `stat`; `ENOENT` for a path without a file name;
    /// `EEXIST` (logged) if a module of that name is known with another file.
    pub fn module_from_path(&self, path: &Path, sink: &mut dyn Sink) -> Result<Module, Error> {
        self.inner.new_from_path(path, sink)
    }

    /// `kmod_module_new_from_loaded`: the modules in `/proc/modules`, in its order.
    pub fn loaded(&self, sink: &mut dyn Sink) -> Result<Vec<Module>, Error> {
        let names = state::loaded_modules(&self.inner.root, sink)?;
        Ok(names.iter().map(|n| self.inner.new_from_name(n)).collect())
    }
}

impl Inner {
    /// The reader of an index (mapped at its first use), None if the file
    /// cannot be read or its header is wrong.
    fn index(&self, kind: IndexKind) -> Option<Index<'_>> {
        let i = Self::index_slot(kind);
        let (image, root) = self.indexes[i]
            .get_or_init(|| {
                let path = self.dir.join(kind.file_name());
                match lock(&self.checked)[i].take() {
                    Some((file, len, root)) => crate::file::map_open_file(&path, &file, len)
                        .ok()
                        .map(|image| (image, root)),
                    None => crate::file::map_file(&path).ok().map(|image| (image, None)),
                }
            })
            .as_ref()?;
        match root {
            Some(root) => Some(Index::with_root(image, *root)),
            None => Index::open(image).ok(),
        }
    }

    fn index_slot(kind: IndexKind) -> usize {
        IndexKind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
    }

    /// The check of an index file's header (its first
    /// [`crate::index::HEADER_SIZE`] bytes): the root offset or what is wrong;
    /// None when the file cannot be opened or its size (`fstat`, as kmod's
    /// `index_mm_open`) is smaller. An index not mapped yet is read with one
    /// `pread` and kept open for its first lookup: an index no lookup needs
    /// (`modules.symbols.bin` for a module name) is never mapped.
    fn index_header(&self, kind: IndexKind) -> Option<Result<u32, IndexError>> {
        use std::os::unix::fs::FileExt;
        let n = crate::index::HEADER_SIZE;
        let i = Self::index_slot(kind);
        if let Some(mapped) = self.indexes[i].get() {
            let head = mapped.as_ref()?.0.get(..n)?;
            return Some(Index::open(head).map(|idx| idx.root()));
        }
        let file = std::fs::File::open(self.dir.join(kind.file_name())).ok()?;
        let len = file.metadata().ok()?.len();
        if len < n as u64 {
            return None;
        }
        let mut head = [0; crate::index::HEADER_SIZE];
        file.read_exact_at(&mut head, 0).ok()?;
        let checked = Index::open(&head).map(|idx| idx.root());
        lock(&self.checked)[i] = Some((file, len, checked.as_ref().ok().copied()));
        Some(checked)
    }

    /// Exact lookup of `key`: the first value.
    fn index_lookup(&self, kind: IndexKind, key: &[u8]) -> Option<Vec<u8>> {
        let idx = self.index(kind)?;
        idx.lookup(key).map(<[u8]>::to_vec)
    }

    /// Wildcard search of `key` in an alias-type index: module names by priority.
    fn index_search(&self, kind: IndexKind, key: &[u8]) -> Vec<Vec<u8>> {
        let Some(idx) = self.index(kind) else {
            return Vec::new();
        };
        idx.search(key)
            .into_iter()
            .map(|v| v.value.to_vec())
            .collect()
    }

    // ---- the pool ----------------------------------------------------------------

    fn pool_new(self: &Arc<Self>, key: Vec<u8>, name: Vec<u8>, alias: Option<Vec<u8>>) -> Module {
        let mut pool = lock(&self.pool);
        if let Some(n) = pool.get(&key).and_then(Weak::upgrade) {
            return Module(n);
        }
        let node = Arc::new(Node {
            ctx: Arc::clone(self),
            name,
            alias,
            key: key.clone(),
            st: Mutex::new(NodeState::default()),
        });
        // drop the entries of freed modules when the table would grow: swept at
        // each doubling, the cost stays proportional to the insertions
        if pool.len() >= 1024 && pool.len() == pool.capacity() {
            pool.retain(|_, w| w.strong_count() > 0);
        }
        pool.insert(key, Arc::downgrade(&node));
        Module(node)
    }

    fn new_from_name(self: &Arc<Self>, name: &[u8]) -> Module {
        let n = name::modname_normalize(name);
        self.pool_new(n.clone(), n, None)
    }

    fn new_from_alias(self: &Arc<Self>, alias: &[u8], name: &[u8]) -> Result<Module, i32> {
        if name.len() + alias.len() + 2 > PATH_MAX {
            return Err(errno::ENAMETOOLONG);
        }
        let mut key = name.to_vec();
        key.push(b'\\');
        key.extend_from_slice(alias);
        Ok(self.pool_new(key, name.to_vec(), Some(alias.to_vec())))
    }

    fn new_from_path(self: &Arc<Self>, path: &Path, sink: &mut dyn Sink) -> Result<Module, Error> {
        let abs = crate::file::make_absolute(path);
        // a path already found in this directory's pool is not looked at again
        // (kmod stats it at every call: the answer is the same within one run,
        // and a closure of every module asks for each dependency many times)
        let name = name::path_to_modname(path.as_os_str().as_bytes());
        if let Some(n) = &name {
            let known = lock(&self.pool).get(n).and_then(Weak::upgrade);
            if let Some(node) = known {
                let mut st = lock(&node.st);
                if st.path_seen && st.path.as_ref() == Some(&abs) {
                    st.builtin = Some(false);
                    drop(st);
                    return Ok(Module(node));
                }
            }
        }
        if let Err(e) = std::fs::metadata(&abs) {
            return Err(Error::io(abs, e));
        }
        let Some(n) = name else {
            return Err(Error::errno_raw(errno::ENOENT));
        };
        let m = self.pool_new(n.clone(), n.clone(), None);
        let old = {
            let mut st = lock(&m.0.st);
            match &st.path {
                None => {
                    st.path = Some(abs.clone());
                    st.path_seen = true;
                    None
                }
                Some(p) if *p == abs => {
                    st.path_seen = true;
                    None
                }
                Some(p) => Some(p.display().to_string()),
            }
        };
        if let Some(old) = old {
            diag::err(
                sink,
                "kmod_module_new_from_path",
                format!(
                    "kmod_module '{}' already exists with different path: new-path='{}' old-path='{}'\n",
                    lossy(&n),
                    abs.display(),
                    old
                ),
            );
            return Err(Error::errno_raw(errno::EEXIST));
        }
        lock(&m.0.st).builtin = Some(false);
        Ok(m)
    }

    fn join(&self, p: &[u8]) -> PathBuf {
        if p.first() == Some(&b'/') {
            return PathBuf::from(OsStr::from_bytes(p));
        }
        let mut s = self.dir.as_os_str().as_bytes().to_vec();
        s.push(b'/');
        s.extend_from_slice(p);
        PathBuf::from(OsStr::from_bytes(&s))
    }

    /// `kmod_module_parse_depline`. The dependencies are stored once all are
    /// found (a thread asking meanwhile finds none stored yet and parses the line
    /// too; the first to finish stores them).
    fn parse_depline(self: &Arc<Self>, m: &Module, line: &[u8], sink: &mut dyn Sink) {
        if lock(&m.0.st).dep_init {
            return;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            lock(&m.0.st).dep_init = true;
            return;
        };
        {
            let mut st = lock(&m.0.st);
            if st.path.is_none() {
                st.path = Some(self.join(&line[..colon]));
            }
        }
        let mut deps = Vec::new();
        for tok in line[colon + 1..]
            .split(|&c| c == b' ' || c == b'\t')
            .filter(|t| !t.is_empty())
        {
            let path = self.join(tok);
            match self.new_from_path(&path, sink) {
                Ok(d) => deps.push(d),
                Err(e) => {
                    diag::err(
                        sink,
                        "kmod_module_parse_depline",
                        format!(
                            "ctx={:p} path={} error={}\n",
                            Arc::as_ptr(self),
                            path.display(),
                            e.errno()
                        ),
                    );
                    return;
                }
            }
        }
        deps.reverse();
        let mut st = lock(&m.0.st);
        if !st.dep_init {
            st.dep_init = true;
            st.dep = deps;
        }
    }

    fn load_deps(self: &Arc<Self>, m: &Module, sink: &mut dyn Sink) {
        if lock(&m.0.st).dep_init {
            return;
        }
        if let Some(line) = self.index_lookup(IndexKind::Dep, &m.0.name) {
            self.parse_depline(m, &line, sink);
        }
    }

    // ---- lookup ------------------------------------------------------------------

    fn lookup(self: &Arc<Self>, given: &[u8], sink: &mut dyn Sink) -> Result<Vec<Module>, Error> {
        let given = &given[..given.len().min(PATH_MAX - 1)];
        let given = match given.iter().position(|&c| c == 0) {
            Some(n) => &given[..n],
            None => given,
        };
        let name = name::alias_normalize(given).ok_or(Error::errno_raw(errno::EINVAL))?;
        let mut v = self.by_config(&name, sink)?;
        if v.is_empty() {
            v = self.by_moddep(&name, sink);
        }
        if v.is_empty() && name.starts_with(b"symbol:") {
            v = self.by_alias_index(IndexKind::Symbols, &name, sink)?;
        }
        if v.is_empty() {
            v = self.by_commands(&name);
        }
        if v.is_empty() {
            v = self.by_alias_index(IndexKind::Alias, &name, sink)?;
        }
        if v.is_empty() {
            v = self.by_builtin(&name);
        }
        if v.is_empty() {
            v = self.by_builtin_alias(&name, sink)?;
        }
        Ok(v)
    }

    fn by_config(self: &Arc<Self>, name: &[u8], sink: &mut dyn Sink) -> Result<Vec<Module>, Error> {
        let mut v = Vec::new();
        for (pattern, modname) in self.config.aliases() {
            if crate::shared::fnmatch::fnmatch(pattern, name) {
                match self.new_from_alias(pattern, modname) {
                    Ok(m) => v.push(m),
                    Err(e) => {
                        diag::err(
                            sink,
                            "kmod_lookup_alias_from_config",
                            format!(
                                "Could not create module for alias={} modname={}: {}\n",
                                lossy(name),
                                lossy(modname),
                                strerror(e)
                            ),
                        );
                        return Err(Error::errno_raw(e));
                    }
                }
            }
        }
        Ok(v)
    }

    fn by_moddep(self: &Arc<Self>, name: &[u8], sink: &mut dyn Sink) -> Vec<Module> {
        if name.contains(&b':') {
            return Vec::new();
        }
        let Some(line) = self.index_lookup(IndexKind::Dep, name) else {
            return Vec::new();
        };
        let m = self.new_from_name(name);
        self.parse_depline(&m, &line, sink);
        vec![m]
    }

    fn by_alias_index(
        self: &Arc<Self>,
        kind: IndexKind,
        name: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<Vec<Module>, Error> {
        let mut v = Vec::new();
        for real in self.index_search(kind, name) {
            match self.new_from_alias(name, &real) {
                Ok(m) => v.push(m),
                Err(e) => {
                    diag::err(
                        sink,
                        "kmod_lookup_alias_from_alias_bin",
                        format!(
                            "Could not create module for alias={} realname={}: {}\n",
                            lossy(name),
                            lossy(&real),
                            strerror(e)
                        ),
                    );
                    return Err(Error::errno_raw(e));
                }
            }
        }
        Ok(v)
    }

    fn by_commands(self: &Arc<Self>, name: &[u8]) -> Vec<Module> {
        if let Some(command) = self.config.install_exact(name) {
            let m = self.new_from_name(name);
            lock(&m.0.st).install = Lazy::Known(Some(command.to_vec()));
            return vec![m];
        }
        if let Some(command) = self.config.remove_exact(name) {
            let m = self.new_from_name(name);
            lock(&m.0.st).remove = Lazy::Known(Some(command.to_vec()));
            return vec![m];
        }
        Vec::new()
    }

    fn by_builtin(self: &Arc<Self>, name: &[u8]) -> Vec<Module> {
        if self.index_lookup(IndexKind::Builtin, name).is_none() {
            return Vec::new();
        }
        let m = self.new_from_name(name);
        lock(&m.0.st).builtin = Some(true);
        vec![m]
    }

    fn by_builtin_alias(
        self: &Arc<Self>,
        name: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<Vec<Module>, Error> {
        let v = self.by_alias_index(IndexKind::BuiltinAlias, name, sink)?;
        for m in &v {
            lock(&m.0.st).builtin = Some(true);
        }
        Ok(v)
    }

    fn lookup_deps<'a>(
        self: &Arc<Self>,
        names: impl Iterator<Item = &'a [u8]>,
        sink: &mut dyn Sink,
    ) -> Vec<Module> {
        let mut v = Vec::new();
        for n in names {
            match self.lookup(n, sink) {
                Ok(l) => v.extend(l),
                Err(_) => diag::err(
                    sink,
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
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("name", &lossy(&self.0.name))
            .field("alias", &self.0.alias.as_deref().map(lossy))
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Module {
    /// The name (UTF-8, lossily).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0.name))
    }
}

impl PartialEq for Module {
    fn eq(&self, other: &Module) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Module {}

impl Module {
    /// The module name (normalised: `-` turned into `_`).
    #[must_use]
    pub fn name(&self) -> &[u8] {
        &self.0.name
    }

    /// The alias (or configuration alias pattern) the module was found by, if any.
    #[must_use]
    pub fn alias(&self) -> Option<&[u8]> {
        self.0.alias.as_deref()
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.0.key
    }

    /// `kmod_module_get_path`: the module file, from `modules.dep` when not known
    /// yet (`None` for builtin modules and modules not in the tree).
    pub fn path(&self, sink: &mut dyn Sink) -> Option<PathBuf> {
        {
            let st = lock(&self.0.st);
            if st.path.is_some() || st.dep_init {
                return st.path.clone();
            }
        }
        self.0.ctx.load_deps(self, sink);
        lock(&self.0.st).path.clone()
    }

    /// `kmod_module_get_dependencies`: the modules of its `modules.dep` line, the
    /// most basic first (the order they are loaded in).
    pub fn dependencies(&self, sink: &mut dyn Sink) -> Vec<Module> {
        self.0.ctx.load_deps(self, sink);
        lock(&self.0.st).dep.clone()
    }

    /// `kmod_module_get_softdeps`: the modules of the first `softdep` line whose
    /// pattern matches the name, `(pre, post)`, each name resolved with
    /// [`ModuleDir::lookup`] (a failure is reported and skipped).
    pub fn softdeps(&self, sink: &mut dyn Sink) -> (Vec<Module>, Vec<Module>) {
        let ctx = &self.0.ctx;
        let Some((pre, post)) = ctx.config.softdep_for(&self.0.name) else {
            return (Vec::new(), Vec::new());
        };
        let pre = ctx.lookup_deps(pre.into_iter(), sink);
        let post = ctx.lookup_deps(post.into_iter(), sink);
        (pre, post)
    }

    /// `kmod_module_get_weakdeps`: the modules of the first matching `weakdep` line.
    pub fn weakdeps(&self, sink: &mut dyn Sink) -> Vec<Module> {
        let ctx = &self.0.ctx;
        let Some(names) = ctx.config.weakdep_for(&self.0.name) else {
            return Vec::new();
        };
        ctx.lookup_deps(names.into_iter(), sink)
    }

    /// `kmod_module_get_options`: the configured options (for the name, or for the
    /// alias the module was found by), joined by spaces.
    #[must_use]
    pub fn options(&self) -> Option<Vec<u8>> {
        if let Lazy::Known(o) = &lock(&self.0.st).options {
            return o.clone();
        }
        let o = self.0.ctx.config.options_for(&self.0.name, self.alias());
        lock(&self.0.st).options = Lazy::Known(o.clone());
        o
    }

    /// `kmod_module_get_install_commands`: the first matching `install` command.
    #[must_use]
    pub fn install_command(&self) -> Option<Vec<u8>> {
        if let Lazy::Known(c) = &lock(&self.0.st).install {
            return c.clone();
        }
        let c = self
            .0
            .ctx
            .config
            .install_for(&self.0.name)
            .map(<[u8]>::to_vec);
        lock(&self.0.st).install = Lazy::Known(c.clone());
        c
    }

    /// `kmod_module_get_remove_commands`: the first matching `remove` command.
    #[must_use]
    pub fn remove_command(&self) -> Option<Vec<u8>> {
        if let Lazy::Known(c) = &lock(&self.0.st).remove {
            return c.clone();
        }
        let c = self
            .0
            .ctx
            .config
            .remove_for(&self.0.name)
            .map(<[u8]>::to_vec);
        lock(&self.0.st).remove = Lazy::Known(c.clone());
        c
    }

    /// Is the module builtin (`modules.builtin.bin`; known from the lookup that
    /// found it, else looked up once)?
    #[must_use]
    pub fn is_builtin(&self) -> bool {
        let known = lock(&self.0.st).builtin;
        let b = known.unwrap_or_else(|| {
            self.0
                .ctx
                .index_lookup(IndexKind::Builtin, &self.0.name)
                .is_some()
        });
        lock(&self.0.st).builtin = Some(b);
        b
    }

    /// Is the module blacklisted (a `blacklist` line with its exact name)?
    #[must_use]
    pub fn is_blacklisted(&self) -> bool {
        self.0.ctx.config.is_blacklisted(&self.0.name)
    }

    /// `kmod_module_get_info`: a builtin module's information from
    /// `modules.builtin.modinfo`, else its file's (`.modinfo` then the signature).
    pub fn info(&self, sink: &mut dyn Sink) -> Result<ModuleInfo, Error> {
        if self.is_builtin() {
            return ModuleInfo::builtin(&self.0.ctx.dir, &self.0.name);
        }
        let Some(path) = self.path(sink) else {
            return Err(Error::NotFound {
                name: self.0.name.clone(),
            });
        };
        ModuleInfo::read(&path)
    }

    /// `kmod_module_get_initstate`: builtin, or from `/sys/module/<name>/initstate`;
    /// an error (`ENOENT`) when the module is not loaded.
    pub fn initstate(&self, sink: &mut dyn Sink) -> Result<InitState, Error> {
        if self.is_builtin() {
            return Ok(InitState::Builtin);
        }
        state::sys_initstate(&self.0.ctx.root, &self.0.name, sink)
    }

    /// Loaded or builtin (what modprobe calls "in kernel")?
    pub(crate) fn is_in_kernel(&self, sink: &mut dyn Sink) -> bool {
        self.initstate(sink).is_ok_and(InitState::in_kernel)
    }

    /// `kmod_module_get_refcnt`: `/sys/module/<name>/refcnt`.
    pub fn refcnt(&self, sink: &mut dyn Sink) -> Result<i32, Error> {
        state::refcnt(&self.0.ctx.root, &self.0.name, sink)
    }

    /// `kmod_module_get_holders`: the modules in `/sys/module/<name>/holders`, in
    /// directory order (none when it cannot be read, which is reported).
    pub fn holders(&self, sink: &mut dyn Sink) -> Vec<Module> {
        state::holders(&self.0.ctx.root, &self.0.name, sink)
            .unwrap_or_default()
            .iter()
            .map(|n| self.0.ctx.new_from_name(n))
            .collect()
    }

    /// `kmod_module_get_size`: `/sys/module/<name>/coresize`, else the size column
    /// of `/proc/modules` (kmod's quirk: 0 when `coresize` exists but cannot be
    /// read).
    pub fn size(&self, sink: &mut dyn Sink) -> Result<i64, Error> {
        state::size(&self.0.ctx.root, &self.0.name, sink)
    }

    /// `kmod_module_remove_module`: `delete_module(name, O_NONBLOCK)` (`| O_TRUNC`
    /// with `force`); a failure is reported as kmod logs it (pass `&mut ()` for
    /// `KMOD_REMOVE_NOLOG`).
    pub fn remove(
        &self,
        kernel: &mut dyn crate::kernel::Kernel,
        force: bool,
        sink: &mut dyn Sink,
    ) -> Result<(), Error> {
        let mut flags = crate::kernel::O_NONBLOCK;
        if force {
            flags |= crate::kernel::O_TRUNC;
        }
        kernel.delete_module(&self.0.name, flags).map_err(|e| {
            let mut msg = b"could not remove '".to_vec();
            msg.extend_from_slice(&self.0.name);
            msg.extend_from_slice(format!("': {e}\n").as_bytes());
            diag::err(sink, "kmod_module_remove_module", msg);
            Error::Kernel {
                op: "delete_module",
                errno: e,
                log: Vec::new(),
            }
        })
    }
}
