//! What several tools share: libkmod's context creation as the tools see it, the
//! module directory from `-b`/`-k`/`-S`/`uname`, kmod's module parameter quoting,
//! and the options insmod, rmmod and lsmod have in common.

use crate::diag::{LibkmodSink, Log, libkmod};
use crate::env::Env;
use crate::usage;
use libkmod_rs::{ConfigSource, Diagnostic, Errno, Level, ModuleDir, Sink};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// glibc's `PATH_MAX`: kmod formats the module directory's path into a buffer of
/// this size.
pub const PATH_MAX: usize = 4096;

/// The module directory a tool works on: `<basedir>/lib/modules/<release>` when a
/// base directory or a release is given (taken literally, not under the
/// environment's root; the release defaulting to `uname -r`), else
/// `<root>/lib/modules/$(uname -r)`. The errno of `uname` when the release is
/// needed and unknown.
pub fn module_dir(
    env: &Env<'_>,
    basedir: Option<&[u8]>,
    release: Option<&[u8]>,
) -> Result<PathBuf, Errno> {
    if basedir.is_none() && release.is_none() {
        return Ok(env.root.module_dir(env.kernel.release()?));
    }
    let release = match release {
        Some(r) => r.to_vec(),
        None => env.kernel.release()?.into_bytes(),
    };
    let mut p = basedir.unwrap_or_default().to_vec();
    p.extend_from_slice(libkmod_rs::MODULE_DIR.as_bytes());
    p.push(b'/');
    p.extend_from_slice(&release);
    Ok(PathBuf::from(OsString::from_vec(p)))
}

/// What `kmod_new(dirname, config)` does that a tool can see: the module directory
/// (`None`: from `uname`, whose failure is logged and gives `None`), the kernel's
/// decompressor and the configuration read, libkmod's messages printed in its own
/// format (the tool's hook is not installed yet) up to `KMOD_LOG`'s threshold.
pub fn kmod_new(
    env: &mut Env<'_>,
    dir: Option<PathBuf>,
    config: &ConfigSource,
) -> Option<ModuleDir> {
    let threshold = env.vars.kmod_log_priority();
    let mut sink = LibkmodSink {
        threshold,
        err: &mut *env.err,
    };
    let dir = match dir {
        Some(d) => d,
        None => {
            if let Ok(release) = env.kernel.release() {
                env.root.module_dir(release)
            } else {
                sink.report(Diagnostic::new(
                    Level::Err,
                    "kmod_new",
                    "could not retrieve directory\n",
                ));
                return None;
            }
        }
    };
    let dir = ModuleDir::open(&env.root, env.vars.absolute(&dir), config, &mut sink);
    if Level::Info.priority() <= threshold {
        let msg = format!("ctx {:p} created\n", std::ptr::from_ref(&dir));
        libkmod(env.err, &Diagnostic::new(Level::Info, "kmod_new", msg));
    }
    Some(dir)
}

/// kmod's option string from command-line arguments (`options_from_array` in
/// kmod's `tools/modprobe.c`, the same loop in `tools/insmod.c`): the
/// arguments joined with single spaces, and an argument whose value (after the first
/// `=`) contains a space and does not start with a quote gets that value
/// double-quoted: `b=x y` → `b="x y"`. An empty argument adds nothing, not even a
/// separator, while the string is still empty (kmod's quirk).
#[must_use]
pub fn options_from_args<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        let a = a.as_ref();
        if !out.is_empty() {
            out.push(b' ');
        }
        let quote = a.iter().position(|&c| c == b'=').and_then(|eq| {
            let value = &a[eq + 1..];
            (value.first() != Some(&b'"') && value.first() != Some(&b'\'') && value.contains(&b' '))
                .then_some(eq)
        });
        match quote {
            Some(eq) => {
                out.extend_from_slice(&a[..=eq]);
                out.push(b'"');
                out.extend_from_slice(&a[eq + 1..]);
                out.push(b'"');
            }
            None => out.extend_from_slice(a),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_quoting() {
        assert_eq!(options_from_args::<&[u8]>(&[]), b"");
        assert_eq!(options_from_args(&["a=1", "b=x y"]), b"a=1 b=\"x y\"");
        assert_eq!(
            options_from_args(&["c='x y'", "d=\"p q\""]),
            b"c='x y' d=\"p q\""
        );
        assert_eq!(options_from_args(&["e f", "g=h=i j"]), b"e f g=\"h=i j\"");
        assert_eq!(options_from_args(&["", "a=1"]), b"a=1");
        assert_eq!(options_from_args(&["a=1", "", "b"]), b"a=1  b");
        assert_eq!(options_from_args(&["=x y"]), b"=\"x y\"");
        assert_eq!(options_from_args(&["k= "]), b"k=\" \"");
        // modprobe's cases
        assert_eq!(
            options_from_args(&["a=1", "b=x y", "c='p q'", "d e"]),
            b"a=1 b=\"x y\" c='p q' d e"
        );
    }
}

/// `-s`, `-v`, `-V` and `-h`: the options insmod, rmmod and lsmod share, which kmod's
/// three tools handle alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// `-s`: messages to syslog.
    Syslog,
    /// `-v`: one level more of messages.
    Verbose,
    /// `-V`.
    Version,
    /// `-h`.
    Help,
}

/// What the [`Shared`] options set.
#[derive(Debug, Default)]
pub struct SharedFlags {
    syslog: bool,
    /// How many `-v`.
    pub verbose: i32,
}

impl SharedFlags {
    /// Take one shared option: `Some(status)` when it ends the tool (`-h` prints
    /// `help()`, `-V` the version).
    pub fn take(
        &mut self,
        s: Shared,
        env: &mut Env<'_>,
        help: impl FnOnce() -> String,
    ) -> Option<i32> {
        match s {
            Shared::Syslog => self.syslog = true,
            Shared::Verbose => self.verbose += 1,
            Shared::Help | Shared::Version => {
                return Some(usage::help_or_version(s == Shared::Help, env, help));
            }
        }
        None
    }

    /// The tool's logger, writing to syslog with `-s`.
    #[must_use]
    pub fn log(&self, prog: &str, env: &Env<'_>) -> Log {
        let mut log = Log::new(prog);
        log.open(self.syslog, &env.root);
        log
    }
}
