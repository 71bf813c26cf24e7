//! Loading a module file into the kernel (kmod-contract §5.5, §8.2).
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
//! the file is decompressed in userspace and loaded with `init_module`. Every syscall
//! made is recorded in the outcome, and a failure carries the kernel's log records
//! from the attempt (`/dev/kmsg`, see [`crate::kmsg`]).

use crate::Root;
use crate::compress::Compression;
use crate::elf::ModuleElf;
use crate::error::{Error, errno, strerror};
use crate::file::ModuleFile;
use crate::kernel::{
    Kernel, MODULE_INIT_COMPRESSED_FILE, MODULE_INIT_IGNORE_MODVERSIONS,
    MODULE_INIT_IGNORE_VERMAGIC,
};
use crate::kmsg::{KmsgRecord, KmsgWatch};
use crate::state::{self, LibMessage};
use std::fmt;
use std::path::{Path, PathBuf};

/// `EOPNOTSUPP`: the kernel was built without module decompression.
const EOPNOTSUPP: i32 = 95;

/// The force options (`insmod -f`, `--force-modversion`, `--force-vermagic`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertFlags {
    /// Ignore symbol version CRCs.
    pub force_modversion: bool,
    /// Ignore the version magic.
    pub force_vermagic: bool,
}

impl InsertFlags {
    /// Both, as `-f` sets them.
    #[must_use]
    pub fn force() -> Self {
        InsertFlags {
            force_modversion: true,
            force_vermagic: true,
        }
    }

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

/// A syscall made while inserting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
    /// `finit_module` of the file with these flags.
    Finit {
        /// `MODULE_INIT_*` flags.
        flags: u32,
    },
    /// `init_module` of an image read from the file.
    Init {
        /// Image size in bytes.
        len: usize,
        /// The file's compression, undone in userspace.
        decompressed_from: Compression,
        /// The image was stripped for a force option.
        stripped: bool,
    },
}

/// One syscall and its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// What was called.
    pub call: Syscall,
    /// `Ok`, or the errno.
    pub result: Result<(), i32>,
}

/// A successful insertion: the syscalls made (the last one succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Every syscall made, in order.
    pub attempts: Vec<Attempt>,
}

impl InsertOutcome {
    /// Did the kernel refuse the compressed file, so that it was loaded from a
    /// userspace-decompressed image (beyond kmod)?
    #[must_use]
    pub fn fell_back(&self) -> bool {
        self.attempts.iter().any(|a| {
            matches!(a.call, Syscall::Finit { flags } if flags & MODULE_INIT_COMPRESSED_FILE != 0)
                && a.result.is_err()
        }) && matches!(
            self.attempts.last().map(|a| a.call),
            Some(Syscall::Init { .. })
        )
    }
}

/// Where an insertion failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertStage {
    /// Opening the file or reading its magic (kmod logs nothing more).
    Open,
    /// Reading or decompressing the image.
    Load,
    /// Parsing the ELF image to strip it.
    Elf,
    /// Stripping the image for a force option.
    Strip,
    /// The kernel refused the module.
    Kernel,
}

/// A failed insertion.
#[derive(Debug)]
pub struct InsertError {
    /// The errno kmod returns (negated) for this failure.
    pub errno: i32,
    /// Where it failed.
    pub stage: InsertStage,
    /// The module file.
    pub path: PathBuf,
    /// Every syscall made, in order.
    pub attempts: Vec<Attempt>,
    /// The message libkmod logs at ERR for this failure, if any (`xz: File is
    /// corrupt`, `Failed to strip version information: ...`).
    pub message: Option<LibMessage>,
    /// The kernel's log records (facility kernel) from the syscalls made.
    pub kernel_log: Vec<KmsgRecord>,
}

impl InsertError {
    /// Does libkmod log `Failed to insert module '<path>': <strerror>` (at INFO) for
    /// this failure? (Not when the file could not even be opened.)
    #[must_use]
    pub fn logs_failure(&self) -> bool {
        self.stage != InsertStage::Open
    }
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not insert {}: {}",
            self.path.display(),
            strerror(self.errno)
        )
    }
}

impl std::error::Error for InsertError {}

struct Run<'k> {
    kernel: &'k mut dyn Kernel,
    path: PathBuf,
    attempts: Vec<Attempt>,
    watch: Option<KmsgWatch>,
}

impl Run<'_> {
    fn fail(&mut self, errno: i32, stage: InsertStage, message: Option<LibMessage>) -> InsertError {
        let kernel_log = self
            .watch
            .as_mut()
            .map(|w| {
                w.read_new()
                    .into_iter()
                    .filter(KmsgRecord::is_kernel)
                    .collect()
            })
            .unwrap_or_default();
        InsertError {
            errno,
            stage,
            path: self.path.clone(),
            attempts: std::mem::take(&mut self.attempts),
            message,
            kernel_log,
        }
    }

    fn watch(&mut self, root: &Root) {
        if self.watch.is_none() {
            self.watch = Some(KmsgWatch::start(root));
        }
    }

    fn ok(&mut self) -> InsertOutcome {
        InsertOutcome {
            attempts: std::mem::take(&mut self.attempts),
        }
    }
}

fn error_message(e: &Error) -> Option<LibMessage> {
    e.libkmod_log().map(|(func, text)| {
        let mut text = text.as_bytes().to_vec();
        if text.last() != Some(&b'\n') {
            text.push(b'\n');
        }
        LibMessage { func, text }
    })
}

/// Insert the module file at `path` with `params` (kmod's option string, `""` for
/// none) into `kernel`. `root` locates `/sys/module/compression` and `/dev/kmsg`.
pub fn insert_module(
    kernel: &mut dyn Kernel,
    root: &Root,
    path: &Path,
    params: impl AsRef<[u8]>,
    flags: InsertFlags,
) -> Result<InsertOutcome, InsertError> {
    let params = params.as_ref();
    let mut run = Run {
        kernel,
        path: path.to_path_buf(),
        attempts: Vec::new(),
        watch: None,
    };
    let file = match ModuleFile::open(path) {
        Ok(f) => f,
        Err(e) => return Err(run.fail(e.errno(), InsertStage::Open, None)),
    };
    let compression = file.compression();
    let kernel_compression = state::kernel_compression(root, &mut Vec::new());
    if compression == Compression::None || compression == kernel_compression {
        let mut kflags = flags.kernel_flags();
        if compression != Compression::None {
            kflags |= MODULE_INIT_COMPRESSED_FILE;
        }
        run.watch(root);
        let result = run.kernel.finit_module(file.file(), params, kflags);
        run.attempts.push(Attempt {
            call: Syscall::Finit { flags: kflags },
            result,
        });
        match result {
            Ok(()) => return Ok(run.ok()),
            Err(errno::ENOSYS) => {}
            Err(e)
                if compression != Compression::None && (e == errno::EINVAL || e == EOPNOTSUPP) =>
            {
                // Beyond kmod: the kernel could not decompress it; try ourselves.
                return match init_path(&mut run, root, &file, params, flags) {
                    Err(err) if err.stage == InsertStage::Load && err.errno == errno::ENOSYS => {
                        // no userspace decompressor: the kernel's answer stands
                        Err(InsertError {
                            errno: e,
                            stage: InsertStage::Kernel,
                            message: None,
                            ..err
                        })
                    }
                    other => other,
                };
            }
            Err(e) => return Err(run.fail(e, InsertStage::Kernel, None)),
        }
    }
    init_path(&mut run, root, &file, params, flags)
}

fn init_path(
    run: &mut Run<'_>,
    root: &Root,
    file: &ModuleFile,
    params: &[u8],
    flags: InsertFlags,
) -> Result<InsertOutcome, InsertError> {
    let image = match file.load() {
        Ok(i) => i,
        Err(e) => return Err(run.fail(e.errno(), InsertStage::Load, error_message(&e))),
    };
    let stripped;
    let bytes: &[u8] = if flags.any() {
        let elf = match ModuleElf::parse(&image) {
            Ok(elf) => elf,
            Err(e) => return Err(run.fail(e.errno, InsertStage::Elf, None)),
        };
        stripped = match elf.strip(flags.force_modversion, flags.force_vermagic) {
            Ok(s) => s,
            Err(e) => {
                let mut text = b"Failed to strip version information: ".to_vec();
                text.extend_from_slice(strerror(e.errno).as_bytes());
                text.push(b'\n');
                let msg = LibMessage {
                    func: "do_init_module",
                    text,
                };
                return Err(run.fail(e.errno, InsertStage::Strip, Some(msg)));
            }
        };
        &stripped
    } else {
        &image
    };
    run.watch(root);
    let result = run.kernel.init_module(bytes, params);
    run.attempts.push(Attempt {
        call: Syscall::Init {
            len: bytes.len(),
            decompressed_from: file.compression(),
            stripped: flags.any(),
        },
        result,
    });
    match result {
        Ok(()) => Ok(run.ok()),
        Err(e) => Err(run.fail(e, InsertStage::Kernel, None)),
    }
}

/// kmod's option string from command-line arguments (kmod-contract §2.8): the
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
    }

    #[test]
    fn flags() {
        assert_eq!(InsertFlags::default().kernel_flags(), 0);
        assert_eq!(InsertFlags::force().kernel_flags(), 3);
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
