//! Loading a module file into the kernel (libkmod's `kmod_module_insert_module`).
//!
//! As kmod's `kmod_module_insert_module`:
//! 1. the file is opened and its compression told by its magic ([`ModuleFile`]);
//! 2. `finit_module` is tried first when the file is plain, or compressed with exactly
//!    the algorithm in `/sys/module/compression` (then with
//!    `MODULE_INIT_COMPRESSED_FILE`); the force options become
//!    `MODULE_INIT_IGNORE_MODVERSIONS` / `MODULE_INIT_IGNORE_VERMAGIC`;
//! 3. otherwise, or when `finit_module` says `ENOSYS`, the image is read (decompressed
//!    in userspace) and handed to `init_module`; with a force option a copy is
//!    stripped first ([`ModuleElf::strip`]: `__versions` loses `SHF_ALLOC`, the
//!    `vermagic=` string is blanked).
//!
//! Beyond kmod: when the kernel refuses a compressed file with `EINVAL` (its
//! decompressor failed: 6.12's xz decoder rejects files with a CRC64 check, logging
//! `decompression failed with status 6`) or `EOPNOTSUPP` (no in-kernel decompression),
//! the file is decompressed in userspace and loaded with `init_module`. A failure
//! carries the kernel's log records from the attempt (`/dev/kmsg`, see
//! [`crate::kmsg`]).

use crate::Root;
use crate::compress::Compression;
use crate::diag::{Diagnostic, Level, Sink};
use crate::elf::ModuleElf;
use crate::error::{Errno, Error, errno, strerror};
use crate::file::ModuleFile;
use crate::kernel::{
    Kernel, MODULE_INIT_COMPRESSED_FILE, MODULE_INIT_IGNORE_MODVERSIONS,
    MODULE_INIT_IGNORE_VERMAGIC,
};
use crate::kmsg::{KmsgRecord, KmsgWatch};
use crate::state;
use std::path::Path;

/// The force options (`insmod -f`, `--force-modversion`, `--force-vermagic`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertFlags {
    /// Ignore symbol version CRCs.
    pub force_modversion: bool,
    /// Ignore the version magic.
    pub force_vermagic: bool,
}

impl InsertFlags {
    fn any(self) -> bool {
        self.force_modversion || self.force_vermagic
    }

    fn kernel_flags(self) -> u32 {
        let mut f = 0;
        if self.force_vermagic {
            f |= MODULE_INIT_IGNORE_VERMAGIC;
        }
        if self.force_modversion {
            f |= MODULE_INIT_IGNORE_MODVERSIONS;
        }
        f
    }
}

/// A module the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inserted {
    /// The kernel refused the compressed file (its decompressor failed, or it has
    /// none), so it was decompressed here and loaded with `init_module` (beyond
    /// kmod).
    pub fell_back: bool,
}

/// Where an insertion failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Opening the file or reading its magic (kmod logs nothing more).
    Open,
    /// Reading or decompressing the image, parsing or stripping it.
    Load,
    /// The kernel refused the module.
    Kernel,
}

struct Run<'k> {
    kernel: &'k mut dyn Kernel,
    watch: Option<KmsgWatch>,
    /// The kernel's log lines from the attempts so far.
    kernel_log: Vec<String>,
    /// A compressed file the kernel refused.
    refused_compressed: bool,
}

impl Run<'_> {
    fn watch(&mut self, root: &Root) {
        if self.watch.is_none() {
            self.watch = Some(KmsgWatch::start(root));
        }
    }

    /// Make a syscall, collecting the kernel's log lines about it.
    fn call(
        &mut self,
        root: &Root,
        f: impl FnOnce(&mut dyn Kernel) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        self.watch(root);
        let r = f(self.kernel);
        if let Some(w) = self.watch.as_mut() {
            self.kernel_log.extend(
                w.read_new()
                    .into_iter()
                    .filter(KmsgRecord::is_kernel)
                    .map(|r| r.text),
            );
        }
        r
    }
}

/// A failure and where it happened.
struct Failed {
    error: Error,
    stage: Stage,
}

impl Failed {
    fn new(error: Error, stage: Stage) -> Self {
        Failed { error, stage }
    }
}

/// `kmod_module_insert_module`: insert the module file at `path` with `params`
/// (kmod's option string, `""` for none) into `kernel`:
/// 1. the file is opened and its compression told by its magic;
/// 2. `finit_module` is tried first when the file is plain, or compressed with
///    exactly the algorithm in `/sys/module/compression` (then with
///    `MODULE_INIT_COMPRESSED_FILE`); the force options become
///    `MODULE_INIT_IGNORE_MODVERSIONS` / `MODULE_INIT_IGNORE_VERMAGIC`;
/// 3. otherwise, or when `finit_module` says `ENOSYS`, the image is read
///    (decompressed in userspace) and handed to `init_module`; with a force option a
///    copy is stripped first (`__versions` loses `SHF_ALLOC`, the `vermagic=` string
///    is blanked).
///
/// Beyond kmod: when the kernel refuses a compressed file with `EINVAL` (its
/// decompressor failed: 6.12's xz decoder rejects files with a CRC64 check) or
/// `EOPNOTSUPP` (no in-kernel decompression), the file is decompressed here and
/// loaded with `init_module`; a refusal carries the kernel's own log lines
/// ([`Error::Kernel`]). `root` locates `/sys/module/compression` and `/dev/kmsg`.
/// What libkmod logs goes to `sink`: a decompressor's message, a failed strip, and
/// `Failed to insert module '<path>': <error>` (at `INFO`) for any failure after the
/// file was opened.
pub fn insert(
    kernel: &mut dyn Kernel,
    root: &Root,
    path: &Path,
    params: &[u8],
    flags: InsertFlags,
    sink: &mut dyn Sink,
) -> Result<Inserted, Error> {
    let mut run = Run {
        kernel,
        watch: None,
        kernel_log: Vec::new(),
        refused_compressed: false,
    };
    match attempt(&mut run, root, path, params, flags, sink) {
        Ok(()) => Ok(Inserted {
            fell_back: run.refused_compressed,
        }),
        Err(Failed { error, stage }) => {
            if let Some(d) = error.logged() {
                sink.report(d);
            }
            if stage != Stage::Open {
                sink.report(Diagnostic::new(
                    Level::Info,
                    "kmod_module_insert_module",
                    format!(
                        "Failed to insert module '{}': {}\n",
                        path.display(),
                        error.errno()
                    ),
                ));
            }
            Err(match error {
                Error::Kernel { op, errno, .. } => Error::Kernel {
                    op,
                    errno,
                    log: run.kernel_log,
                },
                // the kernel refused the compressed file and our fallback failed too:
                // the kernel's words about it still explain the failure
                e if !run.kernel_log.is_empty() => Error::Kernel {
                    op: "finit_module",
                    errno: e.errno(),
                    log: run.kernel_log,
                },
                e => e,
            })
        }
    }
}

fn attempt(
    run: &mut Run<'_>,
    root: &Root,
    path: &Path,
    params: &[u8],
    flags: InsertFlags,
    sink: &mut dyn Sink,
) -> Result<(), Failed> {
    let file = ModuleFile::open(path).map_err(|e| Failed::new(e, Stage::Open))?;
    let compression = file.compression();
    let kernel_compression = state::kernel_compression(root, &mut ());
    if compression == Compression::None || compression == kernel_compression {
        let mut kflags = flags.kernel_flags();
        if compression != Compression::None {
            kflags |= MODULE_INIT_COMPRESSED_FILE;
        }
        let result = run.call(root, |k| k.finit_module(file.file(), params, kflags));
        let kernel_error = |errno| Error::Kernel {
            op: "finit_module",
            errno,
            log: Vec::new(),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(Errno::ENOSYS) => {}
            Err(e)
                if compression != Compression::None
                    && (e.raw() == errno::EINVAL || e.raw() == errno::EOPNOTSUPP) =>
            {
                // Beyond kmod: the kernel could not decompress it; try ourselves.
                run.refused_compressed = true;
                return match init_path(run, root, &file, params, flags, sink) {
                    Err(f) if f.stage == Stage::Load && f.error.errno() == Errno::ENOSYS => {
                        // no userspace decompressor: the kernel's answer stands
                        Err(Failed::new(kernel_error(e), Stage::Kernel))
                    }
                    other => other,
                };
            }
            Err(e) => return Err(Failed::new(kernel_error(e), Stage::Kernel)),
        }
    }
    init_path(run, root, &file, params, flags, sink)
}

fn init_path(
    run: &mut Run<'_>,
    root: &Root,
    file: &ModuleFile,
    params: &[u8],
    flags: InsertFlags,
    sink: &mut dyn Sink,
) -> Result<(), Failed> {
    let image = file.load().map_err(|e| Failed::new(e, Stage::Load))?;
    let stripped;
    let bytes: &[u8] = if flags.any() {
        let elf = ModuleElf::parse(&image)
            .map_err(|e| Failed::new(Error::from(e).at(file.path()), Stage::Load))?;
        stripped = match elf.strip(flags.force_modversion, flags.force_vermagic) {
            Ok(s) => s,
            Err(e) => {
                sink.report(Diagnostic::new(
                    Level::Err,
                    "do_init_module",
                    format!(
                        "Failed to strip version information: {}\n",
                        strerror(e.errno)
                    ),
                ));
                return Err(Failed::new(Error::from(e).at(file.path()), Stage::Load));
            }
        };
        &stripped
    } else {
        &image
    };
    run.call(root, |k| k.init_module(bytes, params))
        .map_err(|errno| {
            Failed::new(
                Error::Kernel {
                    op: "init_module",
                    errno,
                    log: Vec::new(),
                },
                Stage::Kernel,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        assert_eq!(InsertFlags::default().kernel_flags(), 0);
        assert_eq!(
            InsertFlags {
                force_modversion: true,
                force_vermagic: true
            }
            .kernel_flags(),
            3
        );
        assert_eq!(
            InsertFlags {
                force_modversion: true,
                force_vermagic: false
            }
            .kernel_flags(),
            MODULE_INIT_IGNORE_MODVERSIONS
        );
    }
}
