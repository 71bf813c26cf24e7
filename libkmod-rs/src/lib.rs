//! libkmod-rs: Linux kernel modules — `.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz` files,
//! the `modules.*` indexes, `modprobe.d`/`depmod.d` and the kernel command line — read
//! and resolved exactly as kmod 34.2 does it, and loaded into the kernel.
//!
//! The library never prints and never exits. Failures are an [`Error`] (with the
//! errno kmod would report, [`Errno`]); what kmod logs without failing arrives as a
//! [`Diagnostic`] in a [`Sink`] the caller passes in, at the moment kmod would log
//! it. Every system path goes through a [`Root`]; every system call through a
//! [`kernel::Kernel`]. Read-only objects ([`ModuleDir`], [`Module`],
//! [`ModuleInfo`], [`ModuleImage`], [`Depmod`]) are `Send + Sync`.
//!
//! # The public surface
//!
//! | task | start with |
//! |---|---|
//! | open a module directory with its configuration | [`ModuleDir::open`], [`ConfigSource`], [`Root::module_dir`] |
//! | name, alias or modalias → modules | [`ModuleDir::lookup`], [`ModuleDir::lookup_name`] |
//! | a module's file, dependencies, softdeps, weakdeps, options, commands | [`Module`] |
//! | what loading a module involves, in kmod's order | [`Module::probe`] with a [`ProbeHost`], [`Action`] |
//! | a module file's fields, parameters, signature | [`ModuleInfo::read`], [`Param`] |
//! | a module file's symbols and CRCs | [`ModuleImage`], [`Symbol`] |
//! | run depmod, get the outputs and a report | [`Depmod::run`], [`DepmodOptions`] (its `cache` makes unchanged trees nearly free), [`DepmodReport`], [`Depmod::stale_files`] |
//! | the running kernel: loaded modules, state, refcounts, holders | [`ModuleDir::loaded`], [`LoadedModule`], [`Module::initstate`], [`InitState`] |
//! | load and unload | [`insert`], [`InsertFlags`], [`Checker`], [`Module::remove`], [`kernel`] |
//! | the binary index format | [`index`] |
//! | kmod's name rules | [`name`] |
//!
//! # Example: depmod, then lookups
//!
//! A tree of two modules (`mod_b` needs a symbol `mod_a` exports), indexed by
//! [`Depmod`], then resolved by alias with its dependencies in load order:
//!
//! ```
//! use libkmod_rs::{ConfigSource, Depmod, DepmodOptions, ModuleDir, Root};
//! # use kmod_testko::Ko;
//! # use object::{Architecture, Endianness};
//! # let tmp = std::env::temp_dir().join(format!("libkmod-rs-doc-{}", std::process::id()));
//! # let kernel = tmp.join("lib/modules/6.1.0/kernel");
//! # std::fs::create_dir_all(&kernel).unwrap();
//! # let mut a = Ko::new(Architecture::X86_64, Endianness::Little);
//! # a.exports = vec![("a_fn".into(), 0)];
//! # std::fs::write(kernel.join("mod_a.ko"), a.build()).unwrap();
//! # let mut b = Ko::new(Architecture::X86_64, Endianness::Little);
//! # b.name = "mod_b".into();
//! # b.modinfo.push("alias=pci:v00001234d*".into());
//! # b.needs = vec![("a_fn".into(), false)];
//! # std::fs::write(kernel.join("mod_b.ko"), b.build()).unwrap();
//!
//! // a fake root: /lib/modules/6.1.0 holds kernel/mod_a.ko and kernel/mod_b.ko
//! let root = Root::at(&tmp);
//! let dir = root.module_dir("6.1.0");
//! let mut messages = Vec::new();
//! let opts = DepmodOptions {
//!     dir: dir.clone(),
//!     release: b"6.1.0".to_vec(),
//!     ..DepmodOptions::default()
//! };
//! let depmod = Depmod::run(&root, &opts, &mut messages)?;
//! assert_eq!(depmod.report().modules, 2);
//! depmod.write_files(&dir, &mut messages)?;
//!
//! let modules = ModuleDir::open(&root, &dir, &ConfigSource::None, &mut messages);
//! let found = modules.lookup(b"pci:v00001234d00005678", &mut messages)?;
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].name(), b"mod_b");
//! let deps = found[0].dependencies(&mut messages);
//! assert_eq!(deps[0].path(&mut messages), Some(dir.join("kernel/mod_a.ko")));
//! // depmod warns that this little tree has no modules.order: warnings, no errors
//! assert!(messages.iter().all(|d| d.level > libkmod_rs::Level::Err));
//! # std::fs::remove_dir_all(&tmp).unwrap();
//! # Ok::<(), libkmod_rs::Error>(())
//! ```
//!
//! The programs in `libkmod-rs/examples/` show more: what an initramfs needs for a
//! set of modules (`initramfs`), and the loaded modules with their holders
//! (`lsmod`).
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]
#![deny(missing_docs)]

mod check;
mod compress;
mod config;
mod depmod;
mod diag;
mod elf;
mod error;
mod file;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod index;
mod insert;
pub mod kernel;
mod kmsg;
mod moddir;
mod modinfo;
pub mod name;
mod paths;
mod probe;
mod root;
mod shared;
mod signature;
mod state;

pub use check::Checker;
pub use config::{Config, ConfigRecord, ConfigSource};
pub use depmod::{Depmod, DepmodOptions, DepmodReport};
pub use diag::{Diagnostic, Level, Sink, kmod_log_priority};
pub use error::{Errno, Error, Result};
pub use insert::{InsertFlags, Inserted, insert};
pub use moddir::{IndexKind, Module, ModuleDir};
pub use modinfo::{ModuleImage, ModuleInfo, Param, Symbol};
pub use probe::{Action, Link, ProbeFlags, ProbeHost, ProbeOutcome, substitute_cmdline_opts};
pub use root::Root;
pub use state::{InitState, LoadedModule};

/// Where module trees live: `<MODULE_DIR>/<release>` (under a [`Root`]; see
/// [`Root::module_dir`]).
pub const MODULE_DIR: &str = paths::MODULE_DIR;

#[cfg(test)]
mod threads {
    /// The read-only objects can be shared between threads.
    #[test]
    fn send_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::ModuleDir>();
        check::<crate::Module>();
        check::<crate::ModuleInfo>();
        check::<crate::ModuleImage>();
        check::<crate::Depmod>();
        check::<crate::Error>();
        check::<crate::Diagnostic>();
    }
}
