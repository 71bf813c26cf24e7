//! The real kernel, through `nix`. The only file that makes module syscalls.

use super::Kernel;
use std::ffi::CString;
use std::fs::File;

/// The running Linux kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

fn cstring(s: &[u8]) -> Result<CString, i32> {
    CString::new(s).map_err(|_| crate::error::errno::EINVAL)
}

impl Kernel for Linux {
    fn finit_module(&mut self, file: &File, params: &[u8], flags: u32) -> Result<(), i32> {
        let params = cstring(params)?;
        let flags = nix::kmod::ModuleInitFlags::from_bits_retain(flags);
        nix::kmod::finit_module(file, &params, flags).map_err(|e| e as i32)
    }

    fn init_module(&mut self, image: &[u8], params: &[u8]) -> Result<(), i32> {
        let params = cstring(params)?;
        nix::kmod::init_module(image, &params).map_err(|e| e as i32)
    }

    fn delete_module(&mut self, name: &str, flags: u32) -> Result<(), i32> {
        let name = cstring(name.as_bytes())?;
        let flags = nix::kmod::DeleteModuleFlags::from_bits_retain(flags as _);
        nix::kmod::delete_module(&name, flags).map_err(|e| e as i32)
    }

    fn release(&self) -> Result<String, i32> {
        let u = nix::sys::utsname::uname().map_err(|e| e as i32)?;
        Ok(u.release().to_string_lossy().into_owned())
    }
}
