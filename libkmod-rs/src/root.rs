//! `Root`: the only place where an absolute system path (`/lib/modules`, `/proc/modules`,
//! `/sys/module`, `/etc/modprobe.d`...) becomes a real path.
//!
//! `Root::host()` maps every path to itself; tests use `Root::at(dir)` to run the tools
//! against a fake root filesystem.

use std::path::{Path, PathBuf};

/// A filesystem root through which system paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    base: Option<PathBuf>,
}

impl Root {
    /// The real system: paths are used as they are.
    #[must_use]
    pub fn host() -> Self {
        Root { base: None }
    }

    /// A fake root at `dir`: `/proc/modules` becomes `<dir>/proc/modules`.
    #[must_use]
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Root {
            base: Some(dir.into()),
        }
    }

    /// Resolve an absolute system path.
    #[must_use]
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        match &self.base {
            None => abs.to_path_buf(),
            Some(base) => base.join(abs.strip_prefix("/").unwrap_or(abs)),
        }
    }

    /// The module directory of kernel `release`: `<root>/lib/modules/<release>`.
    #[must_use]
    pub fn module_dir(&self, release: impl AsRef<std::ffi::OsStr>) -> PathBuf {
        self.path(crate::paths::MODULE_DIR).join(release.as_ref())
    }

    /// Is this the real system root?
    #[must_use]
    pub fn is_host(&self) -> bool {
        self.base.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves() {
        assert_eq!(
            Root::host().path("/proc/modules"),
            Path::new("/proc/modules")
        );
        assert_eq!(
            Root::at("/tmp/x").path("/proc/modules"),
            Path::new("/tmp/x/proc/modules")
        );
    }

    /// Nothing outside root.rs/paths.rs spells out a system path.
    #[test]
    fn no_system_paths_elsewhere() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = p.file_name().unwrap().to_str().unwrap();
                if name == "paths.rs" || name == "root.rs" {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for needle in [
                    "\"/proc/",
                    "\"/sys/",
                    "\"/lib/modules",
                    "\"/etc/",
                    "\"/run/",
                ] {
                    assert!(
                        !text.contains(needle),
                        "{} spells out {needle}",
                        p.display()
                    );
                }
            }
        }
    }
}
