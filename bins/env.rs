//! `Env`: everything a tool touches outside its arguments — the root through which
//! system paths are resolved, the kernel, and the two output streams. Tools write
//! only to `out` and `err`, so tests run them in-process.

use libkmod_rs::Root;
use libkmod_rs::kernel::Kernel;
use std::io::Write;

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
}

impl<'a> Env<'a> {
    /// The real system.
    pub fn host(out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Env {
            root: Root::host(),
            kernel: Box::new(libkmod_rs::kernel::linux::Linux),
            out,
            err,
        }
    }
}
