//! A fake kernel for tests: records every call, and on a successful load writes
//! `<root>/sys/module/<name>/initstate = live` and a `/proc/modules` line, as kmod's
//! own test harness does.

use super::Kernel;
use crate::Root;
use std::collections::HashMap;
use std::fs::File;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `finit_module` of a file with these params and flags.
    Finit {
        /// Parameters.
        params: String,
        /// Flags.
        flags: u32,
    },
    /// `init_module` with an image of this many bytes.
    Init {
        /// Module name found in the image.
        name: String,
        /// Parameters.
        params: String,
    },
    /// `delete_module`.
    Delete {
        /// Module name.
        name: String,
        /// Flags.
        flags: u32,
    },
}

/// The fake kernel.
#[derive(Debug)]
pub struct FakeKernel {
    root: Root,
    release: String,
    /// Calls made so far.
    pub calls: Vec<Call>,
    /// Modules whose load fails with this errno.
    pub fail: HashMap<String, i32>,
}

impl FakeKernel {
    /// A fake kernel of release `release` over `root`.
    #[must_use]
    pub fn new(root: Root, release: &str) -> Self {
        FakeKernel {
            root,
            release: release.to_string(),
            calls: Vec::new(),
            fail: HashMap::new(),
        }
    }

    fn loaded(&self, name: &str) -> Result<(), i32> {
        if let Some(&e) = self.fail.get(name) {
            return Err(e);
        }
        let dir = self.root.path(crate::paths::SYS_MODULE).join(name);
        if dir.join("initstate").exists() {
            return Err(crate::error::errno::EEXIST);
        }
        std::fs::create_dir_all(dir.join("holders")).map_err(|_| crate::error::errno::EINVAL)?;
        std::fs::write(dir.join("initstate"), "live\n").map_err(|_| crate::error::errno::EINVAL)?;
        std::fs::write(dir.join("refcnt"), "0\n").map_err(|_| crate::error::errno::EINVAL)?;
        let proc_modules = self.root.path(crate::paths::PROC_MODULES);
        let mut text = std::fs::read_to_string(&proc_modules).unwrap_or_default();
        text.push_str(name);
        text.push_str(" 16384 0 - Live 0x0000000000000000\n");
        if let Some(parent) = proc_modules.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(proc_modules, text).map_err(|_| crate::error::errno::EINVAL)
    }
}

fn image_name(image: &[u8]) -> String {
    crate::elf::ModuleElf::parse(image)
        .ok()
        .and_then(|e| {
            e.this_module_name()
                .map(|n| String::from_utf8_lossy(n).into_owned())
        })
        .unwrap_or_default()
}

impl Kernel for FakeKernel {
    fn finit_module(&mut self, file: &File, params: &str, flags: u32) -> Result<(), i32> {
        self.calls.push(Call::Finit {
            params: params.to_string(),
            flags,
        });
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut &*file, &mut data)
            .map_err(|_| crate::error::errno::EINVAL)?;
        let name = image_name(&data);
        self.loaded(&name)
    }

    fn init_module(&mut self, image: &[u8], params: &str) -> Result<(), i32> {
        let name = image_name(image);
        self.calls.push(Call::Init {
            name: name.clone(),
            params: params.to_string(),
        });
        self.loaded(&name)
    }

    fn delete_module(&mut self, name: &str, flags: u32) -> Result<(), i32> {
        self.calls.push(Call::Delete {
            name: name.to_string(),
            flags,
        });
        let dir = self.root.path(crate::paths::SYS_MODULE).join(name);
        if !dir.join("initstate").exists() {
            return Err(crate::error::errno::ENOENT);
        }
        let _ = std::fs::remove_dir_all(dir);
        let proc_modules = self.root.path(crate::paths::PROC_MODULES);
        let text = std::fs::read_to_string(&proc_modules).unwrap_or_default();
        let mut kept = String::new();
        for l in text.lines() {
            if l.split_whitespace().next() != Some(name) {
                kept.push_str(l);
                kept.push('\n');
            }
        }
        std::fs::write(proc_modules, kept).map_err(|_| crate::error::errno::EINVAL)
    }

    fn release(&self) -> Result<String, i32> {
        Ok(self.release.clone())
    }
}
