//! libkmod-rs: read Linux kernel modules (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`),
//! the `modules.*` indexes and the module configuration, and talk to the kernel.
//!
//! The library never prints and never exits: every problem is returned as an
//! [`Error`], and soft problems (bad config lines) as warnings the caller renders.
//! Every system path goes through [`Root`]; every syscall goes through [`kernel::Kernel`].
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]
#![deny(missing_docs)]

pub mod check;
pub mod compress;
pub mod config;
pub mod depmod;
pub mod elf;
pub mod error;
pub mod file;
pub mod fnmatch;
pub mod fxhash;
pub mod index;
pub mod insert;
pub mod kernel;
pub mod kmsg;
pub mod lookup;
pub mod modinfo;
pub mod name;
pub mod paths;
pub mod resolve;
pub mod root;
pub mod signature;
pub mod state;
#[cfg(any(test, feature = "fake-kernel"))]
#[allow(missing_docs, clippy::missing_panics_doc)]
pub mod testko;

pub use error::{Error, Result};
pub use root::Root;
