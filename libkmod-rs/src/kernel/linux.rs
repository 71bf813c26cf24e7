//! The real kernel, through `nix`. The only file that makes module syscalls.

use super::Kernel;
use crate::error::Errno;
use std::ffi::CString;
use std::fs::File;

/// The running Linux kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

fn cstring(s: &[u8]) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::EINVAL)
}

fn errno(e: nix::errno::Errno) -> Errno {
    Errno::from_raw(e as i32)
}

impl Kernel for Linux {
    fn finit_module(&mut self, file: &File, params: &[u8], flags: u32) -> Result<(), Errno> {
        let params = cstring(params)?;
        let flags = nix::kmod::ModuleInitFlags::from_bits_retain(flags);
        nix::kmod::finit_module(file, &params, flags).map_err(errno)
    }

    fn init_module(&mut self, image: &[u8], params: &[u8]) -> Result<(), Errno> {
        let params = cstring(params)?;
        nix::kmod::init_module(image, &params).map_err(errno)
    }

    fn delete_module(&mut self, name: &[u8], flags: u32) -> Result<(), Errno> {
        let name = cstring(name)?;
        let flags = nix::kmod::DeleteModuleFlags::from_bits_retain(flags as _);
        nix::kmod::delete_module(&name, flags).map_err(errno)
    }

    fn release(&self) -> Result<String, Errno> {
        let u = nix::sys::utsname::uname().map_err(errno)?;
        Ok(u.release().to_string_lossy().into_owned())
    }
}
