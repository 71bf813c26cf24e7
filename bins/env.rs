//! `Env`: everything a tool touches outside its arguments — the root through which
//! system paths are resolved, the kernel, the two output streams, and the
//! environment variables kmod's tools read. Tools write only to `out` and `err` and
//! read variables only from `vars`, so tests run them in-process.

use libkmod_rs::Root;
use libkmod_rs::kernel::Kernel;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The environment variables the tools read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// `MODPROBE_OPTIONS`: options modprobe takes before its own.
    pub modprobe_options: Option<OsString>,
    /// `KMOD_LOG`: libkmod's log threshold before a tool installs its hook.
    pub kmod_log: Option<OsString>,
    /// `POSIXLY_CORRECT` is set: option parsing stops at the first operand.
    pub posixly_correct: bool,
    /// `PWD`: the current directory's name, when it names the same directory as `.`.
    pub pwd: Option<PathBuf>,
}

impl Vars {
    /// The process's variables.
    #[must_use]
    pub fn from_process() -> Self {
        Vars {
            modprobe_options: std::env::var_os("MODPROBE_OPTIONS"),
            kmod_log: std::env::var_os("KMOD_LOG"),
            posixly_correct: std::env::var_os("POSIXLY_CORRECT").is_some(),
            pwd: std::env::var_os("PWD").map(PathBuf::from),
        }
    }

    /// libkmod's log threshold before a tool installs its hook: `KMOD_LOG` read
    /// as libkmod reads it, `ERR` when unset.
    #[must_use]
    pub fn kmod_log_priority(&self) -> i32 {
        match &self.kmod_log {
            Some(v) => libkmod_rs::kmod_log_priority(v.as_bytes()),
            None => libkmod_rs::Level::Err.priority(),
        }
    }

    /// The current directory as glibc's `get_current_dir_name()` gives it: `$PWD`
    /// when it names the same directory as `.`, else `getcwd()`.
    #[must_use]
    pub fn current_dir(&self) -> Option<PathBuf> {
        use std::os::unix::fs::MetadataExt;
        if let Some(pwd) = &self.pwd
            && pwd.is_absolute()
            && let (Ok(a), Ok(b)) = (std::fs::metadata(pwd), std::fs::metadata("."))
            && a.dev() == b.dev()
            && a.ino() == b.ino()
        {
            return Some(pwd.clone());
        }
        std::env::current_dir().ok()
    }

    /// `path` made absolute against [`Vars::current_dir`] by plain concatenation, as
    /// kmod does (`./x.ko` in `/tmp` becomes `/tmp/./x.ko`).
    #[must_use]
    pub fn absolute(&self, path: &Path) -> PathBuf {
        if path.as_os_str().as_bytes().first() == Some(&b'/') {
            return path.to_path_buf();
        }
        let Some(cwd) = self.current_dir() else {
            return path.to_path_buf();
        };
        let mut s = cwd.into_os_string().into_vec();
        s.push(b'/');
        s.extend_from_slice(path.as_os_str().as_bytes());
        PathBuf::from(OsString::from_vec(s))
    }
}

/// The environment a tool runs in.
pub struct Env<'a> {
    /// Where system paths resolve.
    pub root: Root,
    /// The kernel.
    pub kernel: Box<dyn Kernel + 'a>,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// The environment variables.
    pub vars: Vars,
}

impl<'a> Env<'a> {
    /// The real system.
    pub fn host(out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Env {
            root: Root::host(),
            kernel: Box::new(libkmod_rs::kernel::linux::Linux),
            out,
            err,
            vars: Vars::from_process(),
        }
    }
}
