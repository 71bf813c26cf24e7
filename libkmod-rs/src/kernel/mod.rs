//! The only boundary to the running kernel: loading, unloading and `uname`.
//!
//! [`linux::Linux`] makes the real syscalls; `fake::FakeKernel` (feature
//! `fake-kernel`) records calls and updates a fake `/sys/module` and `/proc/modules`
//! under a [`crate::Root`] so the tools can be tested without root.
//!
//! Parameters are bytes, as the kernel takes them (a NUL inside is `EINVAL`).

#[cfg(any(test, feature = "fake-kernel"))]
pub mod fake;
pub mod linux;

use crate::error::Errno;
use std::fs::File;

/// `finit_module` flag: ignore symbol version hashes.
pub const MODULE_INIT_IGNORE_MODVERSIONS: u32 = 1;
/// `finit_module` flag: ignore the kernel version magic.
pub const MODULE_INIT_IGNORE_VERMAGIC: u32 = 2;
/// `finit_module` flag: the file is compressed; the kernel decompresses it.
pub const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// `delete_module` flag: do not wait for the module to become unused.
pub const O_NONBLOCK: u32 = 0o4000;
/// `delete_module` flag: force removal (`rmmod -f`).
pub const O_TRUNC: u32 = 0o1000;

/// The kernel operations kmod needs: the only system calls of the library. Errors
/// are the kernel's errno values.
pub trait Kernel {
    /// `finit_module(fd, params, flags)`.
    fn finit_module(&mut self, file: &File, params: &[u8], flags: u32) -> Result<(), Errno>;
    /// `init_module(image, params)`.
    fn init_module(&mut self, image: &[u8], params: &[u8]) -> Result<(), Errno>;
    /// `delete_module(name, flags)`.
    fn delete_module(&mut self, name: &[u8], flags: u32) -> Result<(), Errno>;
    /// The running kernel's release (`uname -r`).
    fn release(&self) -> Result<String, Errno>;
}

/// A borrowed kernel is a kernel: tests hand `Box::new(&mut fake)` to a tool and
/// look at the fake's recorded calls afterwards.
impl<K: Kernel + ?Sized> Kernel for &mut K {
    fn finit_module(&mut self, file: &File, params: &[u8], flags: u32) -> Result<(), Errno> {
        (**self).finit_module(file, params, flags)
    }
    fn init_module(&mut self, image: &[u8], params: &[u8]) -> Result<(), Errno> {
        (**self).init_module(image, params)
    }
    fn delete_module(&mut self, name: &[u8], flags: u32) -> Result<(), Errno> {
        (**self).delete_module(name, flags)
    }
    fn release(&self) -> Result<String, Errno> {
        (**self).release()
    }
}
