//! Runtime kernel state, read as libkmod reads it (`libkmod-module.c`):
//!
//! | path | what |
//! |---|---|
//! | `/proc/modules` | loaded modules, in kernel order: `name size refcnt users state address [taints]` |
//! | `/sys/module/<m>/initstate` | `live\n`, `coming\n` or `going\n` |
//! | `/sys/module/<m>/` | exists without `initstate`: the module is *coming* (or builtin with parameters) |
//! | `/sys/module/<m>/refcnt` | use count (decimal, newline-terminated) |
//! | `/sys/module/<m>/holders/` | the modules using it, in readdir order |
//! | `/sys/module/<m>/coresize` | size shown by lsmod (else the 2nd column of `/proc/modules`) |
//! | `/sys/module/<m>/parameters/` | current parameter values |
//! | `/sys/module/compression` | the kernel's in-kernel decompressor: `xz\n`, `zstd\n`, `gzip\n` |
//!
//! Nothing here fails loudly: every query returns its value or an errno, and pushes
//! the messages libkmod would log on the way ([`LibMessage`]) for the caller to print.
//! Odd contents are read exactly as libkmod reads them: `/proc/modules` in 4095-byte
//! `fgets` chunks with the name up to the first space or tab (a line holding only a
//! name keeps its newline), numbers with `strtol` followed by a mandatory whitespace,
//! small files truncated at 31 bytes and at the first NUL. Paths in messages are the
//! system paths (`/sys/module/x/holders`), whatever [`Root`] they were read under.

use crate::Root;
use crate::compress::Compression;
use crate::diag::Sink;
use crate::error::{Error, errno, strerror};
use crate::name::modname_normalize;
use crate::paths;
use crate::shared::strtol::{cstr, is_c_space, strtol};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// glibc's `PATH_MAX`.
const PATH_MAX: usize = 4096;
/// The bytes one `fgets(line, 4096, fp)` can return.
const LINE_MAX: usize = PATH_MAX - 1;

fn message(log: &mut dyn Sink, func: &'static str, parts: &[&[u8]]) {
    crate::diag::err(log, func, parts.concat());
}

/// The failure `func` logs as libkmod does (`<what> '<logical>': <strerror>`),
/// as an [`Error`].
fn logged_failure(
    log: &mut dyn Sink,
    func: &'static str,
    what: &[u8],
    logical: &[u8],
    errno: i32,
) -> Error {
    message(
        log,
        func,
        &[
            what,
            b" '",
            logical,
            b"': ",
            strerror(errno).as_bytes(),
            b"\n",
        ],
    );
    sys_error(logical, errno)
}

/// An error number found reading `logical` (a system path) as an [`Error`].
fn sys_error(logical: &[u8], errno: i32) -> Error {
    Error::Io {
        path: PathBuf::from(OsStr::from_bytes(logical)),
        source: std::io::Error::from_raw_os_error(errno),
    }
}

/// The init state of a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitState {
    /// Compiled into the kernel (listed in `modules.builtin.bin`).
    Builtin,
    /// Loaded and initialised.
    Live,
    /// Being loaded (or a `/sys/module` directory without `initstate`).
    Coming,
    /// Being removed.
    Going,
}

impl std::fmt::Display for InitState {
    /// kmod's name for the state (`kmod_module_initstate_str`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InitState::Builtin => "builtin",
            InitState::Live => "live",
            InitState::Coming => "coming",
            InitState::Going => "going",
        })
    }
}

impl InitState {
    /// "In kernel" as modprobe means it: live or builtin.
    #[must_use]
    pub(crate) fn in_kernel(self) -> bool {
        matches!(self, InitState::Live | InitState::Builtin)
    }
}

/// `/sys/module/<name><tail>` as the system path libkmod would use.
#[must_use]
pub(crate) fn sys_module_path(name: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut p = paths::SYS_MODULE.as_bytes().to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p.extend_from_slice(tail);
    p
}

/// A path as kmod's `snprintf(buf, PATH_MAX, ...)` leaves it: cut at 4095 bytes.
fn truncated(mut p: Vec<u8>) -> Vec<u8> {
    p.truncate(PATH_MAX - 1);
    p
}

fn resolve(root: &Root, logical: &[u8]) -> PathBuf {
    root.path(OsStr::from_bytes(logical))
}

fn io_errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(match e.kind() {
        ErrorKind::NotFound => errno::ENOENT,
        _ => errno::EINVAL,
    })
}

/// `read_str_safe(fd, buf, max + 1)`: at most `max` bytes, as a C string (cut at the
/// first NUL).
fn read_str(file: &mut File, max: usize) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; max];
    let mut done = 0;
    while done < max {
        match file.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(e) => return Err(io_errno(&e)),
        }
    }
    buf.truncate(done);
    Ok(cstr(&buf).to_vec())
}

/// `read_str_long`: a decimal number that must be followed by whitespace.
fn read_long(file: &mut File) -> Result<i64, i32> {
    let buf = read_str(file, 31)?;
    let (v, end) = strtol(&buf);
    if end == 0 || !buf.get(end).is_some_and(|&c| is_c_space(c)) {
        return Err(errno::EINVAL);
    }
    Ok(v)
}

/// `fgets` over a whole file: chunks of at most 4095 bytes, each ending after the
/// first newline it holds.
struct Fgets<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Fgets<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        let lim = rest.len().min(LINE_MAX);
        let end = rest[..lim]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(lim, |i| i + 1);
        self.pos += end;
        Some(&rest[..end])
    }
}

impl Fgets<'_> {
    /// kmod's `eat_line`: after a chunk of C-string length `len` that does not end in
    /// a newline, read (and drop) chunks until one does.
    fn eat_line(&mut self, last: &[u8]) {
        let ends = |l: &[u8]| l.last().map(|&c| c == b'\n');
        let mut state = ends(last);
        while state == Some(false) {
            match self.next() {
                Some(c) => state = ends(cstr(c)),
                None => break,
            }
        }
    }
}

/// `strtok_r(s, " \t")`: the next token from `*pos`.
fn strtok<'a>(s: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let is_delim = |c: u8| c == b' ' || c == b'\t';
    while *pos < s.len() && is_delim(s[*pos]) {
        *pos += 1;
    }
    if *pos >= s.len() {
        return None;
    }
    let start = *pos;
    while *pos < s.len() && !is_delim(s[*pos]) {
        *pos += 1;
    }
    let tok = &s[start..*pos];
    if *pos < s.len() {
        *pos += 1;
    }
    Some(tok)
}

fn read_proc_modules(root: &Root) -> Result<Vec<u8>, i32> {
    let mut f = File::open(root.path(paths::PROC_MODULES)).map_err(|e| io_errno(&e))?;
    let mut data = Vec::new();
    // a read error ends the list where it happened, as fgets returning NULL does
    let _ = f.read_to_end(&mut data);
    Ok(data)
}

/// `/proc/modules`, or the error `func` logs as libkmod does when it cannot be
/// opened.
fn proc_modules_logged(
    root: &Root,
    log: &mut dyn Sink,
    func: &'static str,
) -> Result<Vec<u8>, Error> {
    read_proc_modules(root).map_err(|e| {
        message(
            log,
            func,
            &[
                b"could not open /proc/modules: ",
                strerror(e).as_bytes(),
                b"\n",
            ],
        );
        sys_error(paths::PROC_MODULES.as_bytes(), e)
    })
}

/// The loaded modules' names, in `/proc/modules` order, as `kmod_module_new_from_loaded`
/// finds them: the first space/tab-separated token of each line, normalised. A line with
/// no token is logged and skipped.
pub(crate) fn loaded_modules(root: &Root, log: &mut dyn Sink) -> Result<Vec<Vec<u8>>, Error> {
    const FUNC: &str = "kmod_module_new_from_loaded";
    let data = proc_modules_logged(root, log, FUNC)?;
    let mut names = Vec::new();
    let mut it = Fgets {
        data: &data,
        pos: 0,
    };
    while let Some(chunk) = it.next() {
        let line = cstr(chunk);
        let mut pos = 0;
        match strtok(line, &mut pos) {
            Some(tok) => names.push(modname_normalize(tok)),
            None => message(
                log,
                FUNC,
                &[
                    b"could not get module from name '(null)': ",
                    strerror(errno::ENOENT).as_bytes(),
                    b"\n",
                ],
            ),
        }
        it.eat_line(line);
    }
    Ok(names)
}

/// One line of `/proc/modules`, split on whitespace (fields that are missing or
/// unparsable are `None`): what the kernel says of a loaded module.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadedModule {
    /// The name as the kernel prints it.
    pub name: Vec<u8>,
    /// Core size in bytes.
    pub size: Option<u64>,
    /// Reference count (`None` also when the kernel prints `-`: no module unloading).
    pub refcount: Option<i64>,
    /// The modules using it (`-` → empty).
    pub users: Vec<Vec<u8>>,
    /// `Live`, `Loading` or `Unloading`.
    pub state: Option<Vec<u8>>,
    /// Load address (0 when hidden by kptr_restrict).
    pub address: Option<u64>,
    /// Taint flags, e.g. `(OE)`.
    pub taints: Option<Vec<u8>>,
}

impl LoadedModule {
    /// Every line of `/proc/modules` (under `root`) with a name, split into fields.
    pub fn list(root: &Root) -> Result<Vec<LoadedModule>, Error> {
        proc_modules(root)
    }
}

/// Every line of `/proc/modules` with a name, split into fields.
pub(crate) fn proc_modules(root: &Root) -> Result<Vec<LoadedModule>, Error> {
    let data = read_proc_modules(root).map_err(|e| sys_error(paths::PROC_MODULES.as_bytes(), e))?;
    let num = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
    };
    let mut out = Vec::new();
    for line in data.split(|&c| c == b'\n') {
        let mut f = line
            .split(u8::is_ascii_whitespace)
            .filter(|t| !t.is_empty());
        let Some(name) = f.next() else { continue };
        let size = f.next().and_then(num);
        let refcount = f.next().and_then(|b| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        });
        let users = f.next().map_or_else(Vec::new, |u| {
            u.split(|&c| c == b',')
                .filter(|s| !s.is_empty() && *s != b"-")
                .map(<[u8]>::to_vec)
                .collect()
        });
        let state = f.next().map(<[u8]>::to_vec);
        let address = f.next().and_then(|a| {
            let a = a
                .strip_prefix(b"0x")
                .or_else(|| a.strip_prefix(b"0X"))
                .unwrap_or(a);
            std::str::from_utf8(a)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
        });
        let taints = f.next().map(<[u8]>::to_vec);
        out.push(LoadedModule {
            name: name.to_vec(),
            size,
            refcount,
            users,
            state,
            address,
            taints,
        });
    }
    Ok(out)
}

/// `kmod_module_get_initstate` without the builtin test: the state from
/// `/sys/module/<name>/initstate`, COMING when only the directory exists, else the
/// errno of opening the file (`ENOENT`: not loaded).
pub(crate) fn sys_initstate(
    root: &Root,
    name: &[u8],
    log: &mut dyn Sink,
) -> Result<InitState, Error> {
    const FUNC: &str = "kmod_module_get_initstate";
    let logical = sys_module_path(name, b"/initstate");
    if logical.len() >= PATH_MAX {
        return Err(Error::errno_raw(errno::ENAMETOOLONG));
    }
    let mut f = match File::open(resolve(root, &logical)) {
        Ok(f) => f,
        Err(e) => {
            let dir = sys_module_path(name, b"");
            if std::fs::metadata(resolve(root, &dir)).is_ok_and(|m| m.is_dir()) {
                return Ok(InitState::Coming);
            }
            return Err(sys_error(&logical, io_errno(&e)));
        }
    };
    let buf = read_str(&mut f, 31)
        .map_err(|e| logged_failure(log, FUNC, b"could not read from", &logical, e))?;
    match buf.as_slice() {
        b"live\n" => Ok(InitState::Live),
        b"coming\n" => Ok(InitState::Coming),
        b"going\n" => Ok(InitState::Going),
        _ => {
            message(log, FUNC, &[b"unknown ", &logical, b": '", &buf, b"'\n"]);
            Err(Error::format(
                PathBuf::from(OsStr::from_bytes(&logical)),
                errno::EINVAL,
                "unknown state",
            ))
        }
    }
}

/// `kmod_module_get_refcnt`: `/sys/module/<name>/refcnt` as an `int`; the errno of
/// opening it (`ENOENT`: not loaded, or unloading not supported) or of parsing it.
pub(crate) fn refcnt(root: &Root, name: &[u8], log: &mut dyn Sink) -> Result<i32, Error> {
    let logical = truncated(sys_module_path(name, b"/refcnt"));
    let mut f =
        File::open(resolve(root, &logical)).map_err(|e| sys_error(&logical, io_errno(&e)))?;
    match read_long(&mut f) {
        Ok(v) => Ok(v as i32),
        Err(e) => {
            message(
                log,
                "kmod_module_get_refcnt",
                &[
                    b"could not read integer from '",
                    &logical,
                    b"': '",
                    strerror(e).as_bytes(),
                    b"'\n",
                ],
            );
            Err(Error::format(
                PathBuf::from(OsStr::from_bytes(&logical)),
                e,
                "not a number",
            ))
        }
    }
}

/// `kmod_module_get_size`: `/sys/module/<name>/coresize`, else the second column of
/// the module's `/proc/modules` line; an error when the module has no `/sys/module`
/// entry or its line is missing (`ENOENT`) or malformed, 0 when `coresize` is
/// unreadable (kmod's quirk).
pub(crate) fn size(root: &Root, name: &[u8], log: &mut dyn Sink) -> Result<i64, Error> {
    const FUNC: &str = "kmod_module_get_size";
    let dir_logical = truncated(sys_module_path(name, b""));
    let dir = resolve(root, &dir_logical);
    if let Err(e) = File::open(&dir) {
        return Err(sys_error(&dir_logical, io_errno(&e)));
    }
    if let Ok(mut f) = File::open(dir.join("coresize")) {
        if let Ok(v) = read_long(&mut f) {
            return Ok(v);
        }
        message(
            log,
            FUNC,
            &[b"failed to read coresize from ", &dir_logical, b"\n"],
        );
        return Ok(0);
    }
    let data = proc_modules_logged(root, log, FUNC)?;
    let mut size = Err(sys_error(paths::PROC_MODULES.as_bytes(), errno::ENOENT));
    let mut it = Fgets {
        data: &data,
        pos: 0,
    };
    let mut lineno = 0u64;
    while let Some(chunk) = it.next() {
        let line = cstr(chunk);
        lineno += 1;
        let mut pos = 0;
        if strtok(line, &mut pos) != Some(name) {
            it.eat_line(line);
            continue;
        }
        let value = strtok(line, &mut pos).and_then(|tok| {
            let (v, end) = strtol(tok);
            (end != 0 && end == tok.len()).then_some(v)
        });
        match value {
            Some(v) => size = Ok(v),
            None => message(
                log,
                FUNC,
                &[
                    b"invalid line format at /proc/modules:",
                    lineno.to_string().as_bytes(),
                    b"\n",
                ],
            ),
        }
        break;
    }
    size
}

/// `kmod_module_get_holders`: the (normalised) names in `/sys/module/<name>/holders/`,
/// in readdir order; the errno (logged) when the directory cannot be read.
pub(crate) fn holders(root: &Root, name: &[u8], log: &mut dyn Sink) -> Result<Vec<Vec<u8>>, Error> {
    let logical = truncated(sys_module_path(name, b"/holders"));
    let rd = match std::fs::read_dir(resolve(root, &logical)) {
        Ok(rd) => rd,
        Err(e) => {
            let func = "kmod_module_get_holders";
            return Err(logged_failure(
                log,
                func,
                b"could not open",
                &logical,
                io_errno(&e),
            ));
        }
    };
    let mut out = Vec::new();
    for entry in rd {
        let Ok(entry) = entry else { break };
        out.push(modname_normalize(entry.file_name().as_bytes()));
    }
    Ok(out)
}

/// The kernel's in-kernel decompressor from `/sys/module/compression`; `None` when the
/// file is missing (old kernel, or `CONFIG_MODULE_DECOMPRESS=n`), unreadable or
/// unknown (the last two logged, as `kmod_new` does).
pub(crate) fn kernel_compression(root: &Root, log: &mut dyn Sink) -> Compression {
    const FUNC: &str = "get_kernel_compression";
    let Ok(mut f) = File::open(root.path(paths::SYS_MODULE_COMPRESSION)) else {
        return Compression::None;
    };
    let Ok(buf) = read_str(&mut f, 15).map_err(|e| {
        let path = paths::SYS_MODULE_COMPRESSION.as_bytes();
        logged_failure(log, FUNC, b"could not read from", path, e)
    }) else {
        return Compression::None;
    };
    match buf.as_slice() {
        b"zstd\n" => Compression::Zstd,
        b"xz\n" => Compression::Xz,
        b"gzip\n" => Compression::Gzip,
        _ => {
            message(log, FUNC, &[b"unknown kernel compression ", &buf]);
            Compression::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tmp(tag: &str) -> (Tmp, Root) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "kmod-rs-state-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("proc")).unwrap();
        std::fs::create_dir_all(p.join("sys/module")).unwrap();
        (Tmp(p.clone()), Root::at(p))
    }
    /// The errno of a result, for comparisons.
    fn e<T>(r: Result<T, Error>) -> Result<T, i32> {
        r.map_err(|e| e.errno().raw())
    }
    /// `kmod_module_get_initstate` as a module object answers it.
    fn initstate(
        root: &Root,
        name: &[u8],
        builtin: bool,
        log: &mut Vec<crate::Diagnostic>,
    ) -> Result<InitState, i32> {
        if builtin {
            return Ok(InitState::Builtin);
        }
        e(sys_initstate(root, name, log))
    }
    fn put(root: &Root, rel: &str, data: &[u8]) {
        let p = root.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    #[test]
    fn loaded_list_like_kmod() {
        let (_t, root) = tmp("loaded");
        let mut long = vec![b'a'; 5000];
        long.extend_from_slice(b" 1 2\nafter-long 3\n");
        let mut data = b"foo 16384 0 - Live 0x0\n  bar-baz.x\t1\nonly\n\n".to_vec();
        data.extend_from_slice(&long);
        data.extend_from_slice(b"   ");
        put(&root, "proc/modules", &data);
        let mut log = Vec::new();
        let names = loaded_modules(&root, &mut log).unwrap();
        let want: Vec<Vec<u8>> = vec![
            b"foo".to_vec(),
            b"bar_baz".to_vec(),
            b"only\n".to_vec(),
            b"\n".to_vec(),
            vec![b'a'; 4095],
            b"after_long".to_vec(),
        ];
        assert_eq!(names, want);
        assert_eq!(log.len(), 1);
        assert_eq!(
            log[0].message,
            b"could not get module from name '(null)': No such file or directory\n"
        );
        let (_t2, empty) = tmp("noproc");
        std::fs::remove_dir_all(empty.path("/proc")).unwrap();
        let mut log = Vec::new();
        assert_eq!(e(loaded_modules(&empty, &mut log)), Err(errno::ENOENT));
        assert_eq!(
            log[0].message,
            b"could not open /proc/modules: No such file or directory\n"
        );
    }

    #[test]
    fn states() {
        let (_t, root) = tmp("states");
        put(&root, "sys/module/a/initstate", b"live\n");
        put(&root, "sys/module/b/initstate", b"going\n");
        put(&root, "sys/module/c/initstate", b"weird");
        std::fs::create_dir_all(root.path("sys/module/d/parameters")).unwrap();
        let mut log = Vec::new();
        assert_eq!(initstate(&root, b"a", false, &mut log), Ok(InitState::Live));
        assert_eq!(
            initstate(&root, b"a", true, &mut log),
            Ok(InitState::Builtin)
        );
        assert_eq!(
            initstate(&root, b"b", false, &mut log),
            Ok(InitState::Going)
        );
        assert_eq!(
            initstate(&root, b"d", false, &mut log),
            Ok(InitState::Coming)
        );
        assert_eq!(initstate(&root, b"e", false, &mut log), Err(errno::ENOENT));
        assert!(log.is_empty());
        assert_eq!(initstate(&root, b"c", false, &mut log), Err(errno::EINVAL));
        assert_eq!(
            log[0].message,
            b"unknown /sys/module/c/initstate: 'weird'\n"
        );
        let long = vec![b'x'; 5000];
        assert_eq!(
            initstate(&root, &long, false, &mut log),
            Err(errno::ENAMETOOLONG)
        );
    }

    #[test]
    fn refcnt_size_holders() {
        let (_t, root) = tmp("rsh");
        put(&root, "sys/module/a/refcnt", b"3\n");
        put(&root, "sys/module/b/refcnt", b"3");
        put(&root, "sys/module/a/coresize", b"4096\n");
        put(&root, "sys/module/b/coresize", b"zz\n");
        std::fs::create_dir_all(root.path("sys/module/c")).unwrap();
        std::fs::create_dir_all(root.path("sys/module/a/holders/x-y")).unwrap();
        put(
            &root,
            "proc/modules",
            b"a 1 0 - Live 0x0\nc 777 0 - Live 0x0\nd \n",
        );
        let mut log = Vec::new();
        assert_eq!(e(refcnt(&root, b"a", &mut log)), Ok(3));
        assert_eq!(e(refcnt(&root, b"z", &mut log)), Err(errno::ENOENT));
        assert!(log.is_empty());
        assert_eq!(e(refcnt(&root, b"b", &mut log)), Err(errno::EINVAL));
        assert_eq!(
            log.pop().unwrap().message,
            b"could not read integer from '/sys/module/b/refcnt': 'Invalid argument'\n"
        );
        assert_eq!(e(size(&root, b"a", &mut log)), Ok(4096));
        assert_eq!(e(size(&root, b"b", &mut log)), Ok(0));
        assert_eq!(
            log.pop().unwrap().message,
            b"failed to read coresize from /sys/module/b\n"
        );
        assert_eq!(e(size(&root, b"c", &mut log)), Ok(777));
        assert_eq!(e(size(&root, b"z", &mut log)), Err(2));
        std::fs::create_dir_all(root.path("sys/module/d")).unwrap();
        assert_eq!(e(size(&root, b"d", &mut log)), Err(2));
        assert_eq!(
            log.pop().unwrap().message,
            b"invalid line format at /proc/modules:3\n"
        );
        assert_eq!(e(holders(&root, b"a", &mut log)), Ok(vec![b"x_y".to_vec()]));
        assert_eq!(e(holders(&root, b"c", &mut log)), Err(errno::ENOENT));
        assert_eq!(
            log.pop().unwrap().message,
            b"could not open '/sys/module/c/holders': No such file or directory\n"
        );
    }

    #[test]
    fn compression_file() {
        let (_t, root) = tmp("comp");
        let mut log = Vec::new();
        assert_eq!(kernel_compression(&root, &mut log), Compression::None);
        put(&root, "sys/module/compression", b"xz\n");
        assert_eq!(kernel_compression(&root, &mut log), Compression::Xz);
        put(&root, "sys/module/compression", b"zstd\n");
        assert_eq!(kernel_compression(&root, &mut log), Compression::Zstd);
        put(&root, "sys/module/compression", b"gzip\n");
        assert_eq!(kernel_compression(&root, &mut log), Compression::Gzip);
        assert!(log.is_empty());
        put(&root, "sys/module/compression", b"lz4\n");
        assert_eq!(kernel_compression(&root, &mut log), Compression::None);
        assert_eq!(log[0].message, b"unknown kernel compression lz4\n");
    }

    #[test]
    fn proc_module_fields() {
        let (_t, root) = tmp("fields");
        put(
            &root,
            "proc/modules",
            b"a 16384 2 b,c, Live 0xffffffffc0000000 (OE)\nb 1 - - Loading 0x0\n\nx\n",
        );
        let m = proc_modules(&root).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].size, Some(16384));
        assert_eq!(m[0].refcount, Some(2));
        assert_eq!(m[0].users, vec![b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(m[0].address, Some(0xffff_ffff_c000_0000));
        assert_eq!(m[0].taints.as_deref(), Some(&b"(OE)"[..]));
        assert_eq!(m[1].refcount, None);
        assert_eq!(m[1].state.as_deref(), Some(&b"Loading"[..]));
        assert_eq!(m[2].name, b"x");
        assert_eq!(m[2].size, None);
    }
}
