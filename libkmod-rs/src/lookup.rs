//! A module directory (`<root>/lib/modules/<release>`) and the lookups over its
//! indexes: module name → `modules.dep.bin`, alias → `modules.alias.bin`, symbol →
//! `modules.symbols.bin`, builtin modules → `modules.builtin.bin` and
//! `modules.builtin.alias.bin`.
//!
//! Missing or unusable index files are treated as "not found", as kmod does when it
//! opens them on demand.

use crate::error::{Error, errno};
use crate::index::Index;
use crate::name;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    /// The index file name.
    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            IndexKind::Dep => "modules.dep.bin",
            IndexKind::Alias => "modules.alias.bin",
            IndexKind::Symbols => "modules.symbols.bin",
            IndexKind::BuiltinAlias => "modules.builtin.alias.bin",
            IndexKind::Builtin => "modules.builtin.bin",
        }
    }
}

/// A message libkmod would log while doing a lookup (the tools print them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The libkmod function kmod names in its default log format.
    pub func: &'static str,
    /// The message.
    pub message: String,
}

/// A module found by a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Normalised module name.
    pub name: Vec<u8>,
    /// The alias it was found by, if any.
    pub alias: Option<Vec<u8>>,
    /// Its file, when known (from `modules.dep` or given as a path).
    pub path: Option<PathBuf>,
    /// Known to be builtin (`Some(true)`), known not to be (`Some(false)`), or unknown.
    pub builtin: Option<bool>,
    /// Paths of its dependencies from `modules.dep`, in the order of the line.
    pub deps: Vec<PathBuf>,
    /// Whether the dependency line has been read.
    pub dep_loaded: bool,
}

impl Module {
    /// A module given by its file path (`modinfo ./x.ko`, `insmod x.ko`).
    #[must_use]
    pub fn from_path(path: PathBuf) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt;
        let name = name::path_to_modname(path.as_os_str().as_bytes())?;
        Some(Module {
            name,
            alias: None,
            path: Some(path),
            builtin: Some(false),
            deps: Vec::new(),
            dep_loaded: false,
        })
    }

    fn named(name: Vec<u8>, alias: Option<Vec<u8>>) -> Self {
        Module {
            name,
            alias,
            path: None,
            builtin: None,
            deps: Vec::new(),
            dep_loaded: false,
        }
    }

    /// The name as text.
    #[must_use]
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// An open module directory with lazily loaded indexes.
#[derive(Debug)]
pub struct ModuleDir {
    dir: PathBuf,
    indexes: RefCell<HashMap<IndexKind, Option<std::rc::Rc<crate::file::Image>>>>,
    log: RefCell<Vec<LogRecord>>,
}

impl ModuleDir {
    /// A module directory at `dir` (made absolute against the current directory).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let dir = if dir.is_absolute() {
            dir
        } else {
            crate::file::make_absolute(&dir)
        };
        ModuleDir {
            dir,
            indexes: RefCell::new(HashMap::new()),
            log: RefCell::new(Vec::new()),
        }
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Take the messages logged so far.
    pub fn take_log(&self) -> Vec<LogRecord> {
        std::mem::take(&mut self.log.borrow_mut())
    }

    fn log(&self, func: &'static str, message: String) {
        self.log.borrow_mut().push(LogRecord { func, message });
    }

    fn index_bytes(&self, kind: IndexKind) -> Option<std::rc::Rc<crate::file::Image>> {
        if let Some(v) = self.indexes.borrow().get(&kind) {
            return v.clone();
        }
        let path = self.dir.join(kind.file_name());
        let image = crate::file::map_file(&path).ok().map(std::rc::Rc::new);
        self.indexes.borrow_mut().insert(kind, image.clone());
        image
    }

    /// Exact lookup of `key` in an index: the first value.
    #[must_use]
    pub fn index_lookup(&self, kind: IndexKind, key: &[u8]) -> Option<Vec<u8>> {
        let bytes = self.index_bytes(kind)?;
        let idx = Index::new(&bytes).ok()?;
        idx.lookup(key).map(<[u8]>::to_vec)
    }

    /// Wildcard search of `key` in an alias-type index: module names by priority.
    #[must_use]
    pub fn index_search(&self, kind: IndexKind, key: &[u8]) -> Option<Vec<Vec<u8>>> {
        let bytes = self.index_bytes(kind)?;
        let idx = Index::new(&bytes).ok()?;
        Some(
            idx.search(key)
                .into_iter()
                .map(|v| v.value.to_vec())
                .collect(),
        )
    }

    /// Is `name` listed in `modules.builtin.bin`?
    #[must_use]
    pub fn is_builtin(&self, name: &[u8]) -> bool {
        self.index_lookup(IndexKind::Builtin, name).is_some()
    }

    /// Fill in a module's path and dependencies from its `modules.dep` line.
    pub fn load_deps(&self, module: &mut Module) {
        if module.dep_loaded {
            return;
        }
        let Some(line) = self.index_lookup(IndexKind::Dep, &module.name) else {
            return;
        };
        self.parse_depline(module, &line);
    }

    fn join(&self, p: &[u8]) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(p));
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            let mut s = self.dir.as_os_str().to_owned();
            s.push("/");
            s.push(p.as_os_str());
            PathBuf::from(s)
        }
    }

    fn parse_depline(&self, module: &mut Module, line: &[u8]) {
        module.dep_loaded = true;
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return;
        };
        if module.path.is_none() {
            module.path = Some(self.join(&line[..colon]));
        }
        let mut deps = Vec::new();
        for dep in line[colon + 1..]
            .split(|&c| c == b' ' || c == b'\t')
            .filter(|d| !d.is_empty())
        {
            let path = self.join(dep);
            if let Err(e) = std::fs::metadata(&path) {
                let errno = e.raw_os_error().unwrap_or(errno::ENOENT);
                self.log(
                    "kmod_module_parse_depline",
                    format!(
                        "ctx={:p} path={} error={}",
                        self,
                        path.display(),
                        crate::error::strerror(errno)
                    ),
                );
                module.dep_loaded = false;
                return;
            }
            deps.push(path);
        }
        // kmod builds the list by prepending, so it ends up reversed.
        deps.reverse();
        module.deps = deps;
    }

    /// Look up a module by name only (`modinfo -m`): `modules.dep.bin`, then
    /// `modules.builtin.bin`, then `modules.builtin.alias.bin`.
    #[must_use]
    pub fn lookup_name(&self, given: &[u8]) -> Option<Module> {
        let name = name::modname_normalize(given);
        if let Some(m) = self.by_moddep(&name) {
            return Some(m);
        }
        if let Some(m) = self.by_builtin(&name) {
            return Some(m);
        }
        self.by_builtin_alias(&name).into_iter().next()
    }

    fn by_moddep(&self, name: &[u8]) -> Option<Module> {
        if name.contains(&b':') {
            return None;
        }
        let line = self.index_lookup(IndexKind::Dep, name)?;
        let mut m = Module::named(name::modname_normalize(name), None);
        self.parse_depline(&mut m, &line);
        Some(m)
    }

    fn by_builtin(&self, name: &[u8]) -> Option<Module> {
        if !self.is_builtin(name) {
            return None;
        }
        let mut m = Module::named(name::modname_normalize(name), None);
        m.builtin = Some(true);
        Some(m)
    }

    fn by_alias_index(&self, kind: IndexKind, alias: &[u8]) -> Vec<Module> {
        self.index_search(kind, alias)
            .unwrap_or_default()
            .into_iter()
            .map(|real| Module::named(real, Some(alias.to_vec())))
            .collect()
    }

    fn by_builtin_alias(&self, alias: &[u8]) -> Vec<Module> {
        let mut v = self.by_alias_index(IndexKind::BuiltinAlias, alias);
        for m in &mut v {
            m.builtin = Some(true);
        }
        v
    }

    /// The lookup chain without configuration (modinfo): alias-normalise, then
    /// `modules.dep.bin`, `modules.symbols.bin` (for `symbol:` names),
    /// `modules.alias.bin`, `modules.builtin.bin`, `modules.builtin.alias.bin`; the
    /// first source with a match wins. `EINVAL` if the alias is malformed.
    pub fn lookup(&self, given: &[u8]) -> Result<Vec<Module>, Error> {
        let alias = name::alias_normalize(given).ok_or(Error::Format {
            path: PathBuf::new(),
            errno: errno::EINVAL,
            reason: "invalid alias".into(),
        })?;
        if let Some(m) = self.by_moddep(&alias) {
            return Ok(vec![m]);
        }
        if alias.starts_with(b"symbol:") {
            let v = self.by_alias_index(IndexKind::Symbols, &alias);
            if !v.is_empty() {
                return Ok(v);
            }
        }
        let v = self.by_alias_index(IndexKind::Alias, &alias);
        if !v.is_empty() {
            return Ok(v);
        }
        if let Some(m) = self.by_builtin(&alias) {
            return Ok(vec![m]);
        }
        Ok(self.by_builtin_alias(&alias))
    }

    /// Is this module builtin? (Resolves an unknown state with `modules.builtin.bin`.)
    pub fn module_is_builtin(&self, m: &mut Module) -> bool {
        if m.builtin.is_none() {
            m.builtin = Some(self.is_builtin(&m.name));
        }
        m.builtin == Some(true)
    }
}
