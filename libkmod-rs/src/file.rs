//! Opening a module file: sniff the compression from its first bytes, then give
//! its (decompressed) contents.
//!
//! As in kmod, a file shorter than 6 bytes is rejected with `EINVAL` before anything
//! else; a plain file is memory-mapped, a compressed one is decompressed into memory.

use crate::compress::{self, Compression};
use crate::error::{Error, errno};
use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// An opened module file whose compression is known.
#[derive(Debug)]
pub struct ModuleFile {
    path: PathBuf,
    file: File,
    compression: Compression,
}

/// The bytes of a module image (mapped or decompressed).
#[derive(Debug)]
pub enum Image {
    /// A memory-mapped plain file.
    Mapped(memmap2::Mmap),
    /// A decompressed (or read) image.
    Owned(Vec<u8>),
}

impl Deref for Image {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Image::Mapped(m) => m,
            Image::Owned(v) => v,
        }
    }
}

impl ModuleFile {
    /// Open `path` and detect its compression.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut head = [0u8; 6];
        let mut got = 0;
        while got < head.len() {
            match file.read_at(&mut head[got..], got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        if got < head.len() {
            return Err(Error::format(
                path,
                errno::EINVAL,
                "file shorter than 6 bytes",
            ));
        }
        Ok(ModuleFile {
            path: path.to_path_buf(),
            file,
            compression: Compression::detect(&head),
        })
    }

    /// The path the file was opened with.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The detected compression.
    #[must_use]
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The open file (for `finit_module`).
    #[must_use]
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The module image, decompressed, with the default size cap.
    pub fn load(&self) -> Result<Image, Error> {
        self.load_with_limit(compress::DEFAULT_LIMIT)
    }

    /// The module image, decompressed with at most `limit` bytes of output.
    pub fn load_with_limit(&self, limit: u64) -> Result<Image, Error> {
        if self.compression == Compression::None {
            return self.map();
        }
        let raw = self.map()?;
        compress::decompress(&self.path, self.compression, &raw, limit).map(Image::Owned)
    }

    fn map(&self) -> Result<Image, Error> {
        // SAFETY: the mapping is private and read-only. Like kmod, we accept that a
        // module file rewritten while we read it may show mixed contents; every read
        // of the image is bounds-checked, so this cannot cause out-of-bounds access.
        #[allow(unsafe_code)]
        let mapped = unsafe { memmap2::Mmap::map(&self.file) };
        if let Ok(m) = mapped {
            Ok(Image::Mapped(m))
        } else {
            let mut v = Vec::new();
            (&self.file)
                .read_to_end(&mut v)
                .map_err(|e| Error::io(&self.path, e))?;
            Ok(Image::Owned(v))
        }
    }
}

/// Map (or read) a whole plain file, e.g. an index.
pub fn map_file(path: &Path) -> Result<Image, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Ok(Image::Owned(Vec::new()));
    }
    // SAFETY: read-only private mapping; readers bounds-check every access, so a file
    // changed underneath can give wrong answers but not out-of-bounds reads.
    #[allow(unsafe_code)]
    let mapped = unsafe { memmap2::Mmap::map(&file) };
    if let Ok(m) = mapped {
        Ok(Image::Mapped(m))
    } else {
        let mut v = Vec::new();
        (&file)
            .read_to_end(&mut v)
            .map_err(|e| Error::io(path, e))?;
        Ok(Image::Owned(v))
    }
}

/// The current directory as glibc's `get_current_dir_name()` gives it: `$PWD` when it
/// names the same directory as `.`, else `getcwd()`.
#[must_use]
pub fn current_dir() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    if let Some(pwd) = std::env::var_os("PWD") {
        let pwd = PathBuf::from(pwd);
        if pwd.is_absolute()
            && let (Ok(a), Ok(b)) = (std::fs::metadata(&pwd), std::fs::metadata("."))
            && a.dev() == b.dev()
            && a.ino() == b.ino()
        {
            return Some(pwd);
        }
    }
    std::env::current_dir().ok()
}

/// `path` made absolute against [`current_dir`] by plain concatenation, as kmod does
/// (`./x.ko` in `/tmp` becomes `/tmp/./x.ko`).
#[must_use]
pub fn make_absolute(path: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().first() == Some(&b'/') {
        return path.to_path_buf();
    }
    let Some(cwd) = current_dir() else {
        return path.to_path_buf();
    };
    let mut s = cwd.into_os_string();
    s.push("/");
    s.push(path.as_os_str());
    PathBuf::from(s)
}
