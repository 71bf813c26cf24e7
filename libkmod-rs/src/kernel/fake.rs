//! A fake kernel for tests: records every call, and on a successful load writes
//! `<root>/sys/module/<name>/{initstate,refcnt,holders/}` and a `/proc/modules` line,
//! as kmod's own test harness does.
//!
//! It behaves like the real module loader where the tools can tell:
//! * `finit_module` with `MODULE_INIT_COMPRESSED_FILE` decompresses only the algorithm
//!   named in `<root>/sys/module/compression` (no file: `EOPNOTSUPP`; another magic:
//!   `EINVAL`), and like Linux 6.12 refuses an xz file whose check is not CRC32 or
//!   none (`EINVAL`, logging `decompression failed with status 6`);
//! * a compressed file without that flag, or an image that is not an ELF module, is
//!   `ENOEXEC`; unknown flags are `EINVAL`;
//! * [`FakeKernel::vermagic`] / [`FakeKernel::module_layout_crc`] make it check the
//!   version magic and the `module_layout` CRC (honouring the ignore flags, and
//!   ignoring a `__versions` section without `SHF_ALLOC`, as the kernel does);
//! * a loaded module is `EEXIST`; `delete_module` of a module with holders is
//!   `EWOULDBLOCK`, with a non-zero `refcnt` too unless `O_TRUNC`; unknown: `ENOENT`;
//! * per-module failures ([`FakeKernel::fail`], [`FakeKernel::fail_delete`]), and
//!   kernel log lines written to `<root>/dev/kmsg` when a load fails
//!   ([`FakeKernel::kmsg`]).

use super::{Kernel, MODULE_INIT_COMPRESSED_FILE, MODULE_INIT_IGNORE_MODVERSIONS};
use super::{MODULE_INIT_IGNORE_VERMAGIC, O_TRUNC};
use crate::Root;
use crate::compress::Compression;
use crate::error::Errno;
use crate::error::errno::{EEXIST, EINVAL, ENOENT, ENOEXEC};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;

/// `EWOULDBLOCK`.
const EWOULDBLOCK: i32 = 11;
/// `EOPNOTSUPP`.
const EOPNOTSUPP: i32 = 95;

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
    seq: u64,
    /// Calls made so far.
    pub calls: Vec<Call>,
    /// The bytes each load call handed over, in order: the file's contents for
    /// `finit_module`, the image for `init_module`.
    pub received: Vec<Vec<u8>>,
    /// Modules whose load fails with this errno.
    pub fail: HashMap<String, Errno>,
    /// Modules whose removal fails with this errno.
    pub fail_delete: HashMap<String, Errno>,
    /// Kernel log lines written to `<root>/dev/kmsg` when a load of this module fails.
    pub kmsg: HashMap<String, Vec<String>>,
    /// `finit_module` is not implemented (kernels before 3.8): `ENOSYS`.
    pub finit_enosys: bool,
    /// The kernel's version magic: a module with another one is refused (`ENOEXEC`)
    /// unless `MODULE_INIT_IGNORE_VERMAGIC` or its vermagic was stripped.
    pub vermagic: Option<String>,
    /// The kernel's `module_layout` CRC: a module whose allocated `__versions` section
    /// records another one is refused (`ENOEXEC`) unless `MODULE_INIT_IGNORE_MODVERSIONS`.
    pub module_layout_crc: Option<u64>,
}

impl FakeKernel {
    /// A fake kernel of release `release` over `root`.
    #[must_use]
    pub fn new(root: Root, release: &str) -> Self {
        FakeKernel {
            root,
            release: release.to_string(),
            seq: 0,
            calls: Vec::new(),
            received: Vec::new(),
            fail: HashMap::new(),
            fail_delete: HashMap::new(),
            kmsg: HashMap::new(),
            finit_enosys: false,
            vermagic: None,
            module_layout_crc: None,
        }
    }

    /// Append a record to `<root>/dev/kmsg` (kernel facility, level ERR).
    pub fn log(&mut self, text: &str) {
        let path = self.root.path(crate::paths::DEV_KMSG);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        self.seq += 1;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "3,{},{},-;{text}", self.seq, self.seq * 1000);
        }
    }

    fn refuse(&mut self, name: &str, errno: i32, line: Option<String>) -> Result<(), i32> {
        if let Some(l) = line {
            self.log(&l);
        }
        if let Some(lines) = self.kmsg.get(name).cloned() {
            for l in lines {
                self.log(&l);
            }
        }
        Err(errno)
    }

    /// The in-kernel decompressor from `<root>/sys/module/compression`.
    fn decompressor(&self) -> Option<Compression> {
        let s = std::fs::read(self.root.path(crate::paths::SYS_MODULE_COMPRESSION)).ok()?;
        match s.as_slice() {
            b"xz\n" => Some(Compression::Xz),
            b"zstd\n" => Some(Compression::Zstd),
            b"gzip\n" => Some(Compression::Gzip),
            _ => None,
        }
    }

    fn decompress(&mut self, data: &[u8]) -> Result<Vec<u8>, i32> {
        let Some(algo) = self.decompressor() else {
            return Err(EOPNOTSUPP);
        };
        if Compression::detect(data) != algo {
            let name = algo.kernel_name();
            let article = if algo == Compression::Xz { "an" } else { "a" };
            self.log(&format!("not {article} {name} compressed module"));
            return Err(EINVAL);
        }
        if algo == Compression::Xz {
            // stream flags: the check type is the low nibble of byte 7
            let check = data.get(7).map_or(0, |b| b & 0x0f);
            if check > 1 {
                self.log("decompression failed with status 6");
                return Err(EINVAL);
            }
        }
        crate::compress::decompress(
            std::path::Path::new("fake"),
            algo,
            data,
            crate::compress::DEFAULT_LIMIT,
        )
        .map_err(|_| {
            self.log("decompression failed with status 7");
            EINVAL
        })
    }

    fn load(&mut self, image: &[u8], flags: u32) -> Result<(), i32> {
        let Ok(elf) = crate::elf::ModuleElf::parse(image) else {
            self.log("Invalid ELF header magic: != \\x7fELF");
            return Err(ENOEXEC);
        };
        let Some(name) = elf.this_module_name() else {
            self.log("No module found in object");
            return Err(ENOEXEC);
        };
        let name = String::from_utf8_lossy(name).into_owned();
        if let Some(&e) = self.fail.get(&name) {
            return self.refuse(&name, e.raw(), None);
        }
        if let Some(want) = self.vermagic.clone()
            && flags & MODULE_INIT_IGNORE_VERMAGIC == 0
        {
            let have = elf.modinfo_strings().ok().and_then(|v| {
                v.into_iter()
                    .find_map(|s| s.strip_prefix(b"vermagic="))
                    .map(|s| String::from_utf8_lossy(s).into_owned())
            });
            if let Some(have) = have
                && have != want
            {
                let line = format!("{name}: version magic '{have}' should be '{want}'");
                return self.refuse(&name, ENOEXEC, Some(line));
            }
        }
        if let Some(want) = self.module_layout_crc
            && flags & MODULE_INIT_IGNORE_MODVERSIONS == 0
            && versions_allocated(image)
        {
            let have = elf.modversions().ok().and_then(|v| {
                v.into_iter()
                    .find(|s| s.name == b"module_layout")
                    .map(|s| s.crc)
            });
            if have.is_some_and(|c| c != want) {
                let line = format!("{name}: disagrees about version of symbol module_layout");
                return self.refuse(&name, ENOEXEC, Some(line));
            }
        }
        let dir = self.root.path(crate::paths::SYS_MODULE).join(&name);
        if dir.join("initstate").exists() {
            return Err(EEXIST);
        }
        std::fs::create_dir_all(dir.join("holders")).map_err(|_| EINVAL)?;
        std::fs::write(dir.join("initstate"), "live\n").map_err(|_| EINVAL)?;
        std::fs::write(dir.join("refcnt"), "0\n").map_err(|_| EINVAL)?;
        let proc_modules = self.root.path(crate::paths::PROC_MODULES);
        let mut text = std::fs::read_to_string(&proc_modules).unwrap_or_default();
        text.push_str(&name);
        text.push_str(" 16384 0 - Live 0x0000000000000000\n");
        if let Some(parent) = proc_modules.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(proc_modules, text).map_err(|_| EINVAL)
    }
}

/// Does the image have a `__versions` section with `SHF_ALLOC` (the kernel looks only
/// at allocated sections)?
fn versions_allocated(image: &[u8]) -> bool {
    use object::{Object, ObjectSection, SectionFlags};
    let Ok(file) = object::File::parse(image) else {
        return false;
    };
    file.section_by_name("__versions")
        .is_some_and(|s| match s.flags() {
            SectionFlags::Elf { sh_flags } => sh_flags & u64::from(object::elf::SHF_ALLOC) != 0,
            _ => false,
        })
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

fn read_whole(file: &File) -> Result<Vec<u8>, i32> {
    use std::os::unix::fs::FileExt;
    // the kernel reads a module only from a regular file (kernel_read_file)
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(EINVAL);
    }
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read_at(&mut buf, data.len() as u64) {
            Ok(0) => return Ok(data),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.raw_os_error().unwrap_or(EINVAL)),
        }
    }
}

impl Kernel for FakeKernel {
    fn finit_module(&mut self, file: &File, params: &[u8], flags: u32) -> Result<(), Errno> {
        self.finit(file, params, flags).map_err(Errno::from_raw)
    }

    fn init_module(&mut self, image: &[u8], params: &[u8]) -> Result<(), Errno> {
        self.init(image, params).map_err(Errno::from_raw)
    }

    fn delete_module(&mut self, name: &[u8], flags: u32) -> Result<(), Errno> {
        self.delete(&String::from_utf8_lossy(name), flags)
            .map_err(Errno::from_raw)
    }

    fn release(&self) -> Result<String, Errno> {
        Ok(self.release.clone())
    }
}

impl FakeKernel {
    fn finit(&mut self, file: &File, params: &[u8], flags: u32) -> Result<(), i32> {
        self.calls.push(Call::Finit {
            params: String::from_utf8_lossy(params).into_owned(),
            flags,
        });
        let data = read_whole(file)?;
        self.received.push(data.clone());
        if self.finit_enosys {
            return Err(crate::error::errno::ENOSYS);
        }
        if flags
            & !(MODULE_INIT_IGNORE_MODVERSIONS
                | MODULE_INIT_IGNORE_VERMAGIC
                | MODULE_INIT_COMPRESSED_FILE)
            != 0
        {
            return Err(EINVAL);
        }
        let image = if flags & MODULE_INIT_COMPRESSED_FILE != 0 {
            self.decompress(&data)?
        } else {
            data
        };
        self.load(&image, flags)
    }

    fn init(&mut self, image: &[u8], params: &[u8]) -> Result<(), i32> {
        let name = image_name(image);
        self.calls.push(Call::Init {
            name,
            params: String::from_utf8_lossy(params).into_owned(),
        });
        self.received.push(image.to_vec());
        self.load(image, 0)
    }

    fn delete(&mut self, name: &str, flags: u32) -> Result<(), i32> {
        self.calls.push(Call::Delete {
            name: name.to_string(),
            flags,
        });
        if let Some(&e) = self.fail_delete.get(name) {
            return Err(e.raw());
        }
        let dir = self.root.path(crate::paths::SYS_MODULE).join(name);
        if !dir.join("initstate").exists() {
            return Err(ENOENT);
        }
        let has_holders =
            std::fs::read_dir(dir.join("holders")).is_ok_and(|mut d| d.next().is_some());
        if has_holders {
            return Err(EWOULDBLOCK);
        }
        let refcnt = std::fs::read_to_string(dir.join("refcnt"))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if refcnt != 0 && flags & O_TRUNC == 0 {
            return Err(EWOULDBLOCK);
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
        std::fs::write(proc_modules, kept).map_err(|_| EINVAL)
    }
}
