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
    /// The first bytes of the file (up to 64: an ELF header), read when opening.
    head: [u8; HEAD],
    head_len: usize,
}

/// How many bytes [`ModuleFile::open`] reads from the start of the file.
const HEAD: usize = 64;
/// Files shorter than this are refused (kmod's rule: the longest compression magic).
const MIN_LEN: usize = 6;

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
        let mut head = [0u8; HEAD];
        let mut got = 0;
        while got < MIN_LEN {
            match file.read_at(&mut head[got..], got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        if got < MIN_LEN {
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
            head,
            head_len: got,
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

    /// Decompress a compressed module into `image`, reading the file into `raw`
    /// first; both buffers keep their capacity for the next file (no mapping and no
    /// fresh pages per file when reading many modules).
    pub fn decompress_into(&self, raw: &mut Vec<u8>, image: &mut Vec<u8>) -> Result<(), Error> {
        let io = |e| Error::io(&self.path, e);
        // one fstat and one pread (the buffer only grows: no zero-filling per file)
        let len = usize::try_from(self.file.metadata().map_err(io)?.len()).unwrap_or(usize::MAX);
        if raw.len() < len {
            raw.resize(len, 0);
        }
        let input = &mut raw[..len];
        let head = self.head_len.min(len);
        input[..head].copy_from_slice(&self.head[..head]);
        self.file
            .read_exact_at(&mut input[head..], head as u64)
            .map_err(io)?;
        compress::decompress_into(
            &self.path,
            self.compression,
            input,
            compress::DEFAULT_LIMIT,
            image,
        )
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

/// Files up to this size are read whole (one system call instead of several).
const WHOLE_READ: usize = 24 * 1024;
/// Wanted ranges closer than this are read with one system call.
const MERGE_GAP: u64 = 16 * 1024;
/// Bytes read before the section header table with it: the section name table is
/// usually there.
const TAIL_SLACK: u64 = 4 * 1024;
/// At least this much of the end of a file is read with the section headers.
const TAIL_MIN: u64 = 12 * 1024;

/// Buffers module files are read into, reused from one file to the next: no
/// mapping, no fresh pages to fault in for each file when reading many modules.
/// Keep one per thread.
#[derive(Debug, Default)]
pub struct ReadBuffers {
    /// A plain module's parts that are read, at their file offsets.
    sparse: Vec<u8>,
    /// A compressed file.
    raw: Vec<u8>,
    /// Its decompressed image.
    image: Vec<u8>,
}

impl ReadBuffers {
    /// The image of `file` as far as a reader needs it: a compressed file
    /// decompressed whole, a plain one read sparsely (see [`read_sparse`] for
    /// `sections`, `to_end` and `extra`).
    pub fn read<'b>(
        &'b mut self,
        file: &ModuleFile,
        sections: &[&[u8]],
        to_end: bool,
        extra: &ExtraRanges<'_>,
    ) -> Result<&'b [u8], Error> {
        if file.compression != Compression::None {
            file.decompress_into(&mut self.raw, &mut self.image)?;
            return Ok(&self.image);
        }
        read_sparse(file, &mut self.sparse, sections, to_end, extra)
            .map_err(|e| Error::io(&file.path, e))
    }
}

/// A further set of (offset, size) ranges to read, found from what was read so far.
pub type ExtraRanges<'f> = dyn Fn(&crate::elf::ModuleElf<'_>) -> Vec<(u64, u64)> + 'f;

/// Read into `whole` only the parts of a plain module file a reader looks at: the
/// ELF header, section headers and names, the named `sections`, then the ranges
/// `extra` names once those are read; with `to_end`, everything from the section
/// headers to the end of the file (where a signature sits). Returns the file's
/// image: `whole[..file length]`, in which everything a check of the ELF header,
/// the section headers and the name table, and of the parts read, looks at holds
/// the file's bytes; the rest holds stale bytes of earlier files (or zeros) and must
/// not be looked at. Few system calls: ranges less than 16 KiB apart are read as
/// one, files up to 24 KiB whole, the last 12 KiB (or more, from 4 KiB before the
/// section headers) in one go.
pub fn read_sparse<'b>(
    mf: &ModuleFile,
    whole: &'b mut Vec<u8>,
    sections: &[&[u8]],
    to_end: bool,
    extra: &ExtraRanges<'_>,
) -> std::io::Result<&'b [u8]> {
    let file = &mf.file;
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    if whole.len() < len {
        // a fresh zeroed allocation (calloc: large ones are untouched mapped pages, so
        // only the parts read are ever faulted in) instead of zero-filling in place
        *whole = vec![0; len];
    }
    let buf = &mut whole[..len];
    let read = |buf: &mut [u8], (off, size): (u64, u64)| -> std::io::Result<()> {
        let (Ok(o), Ok(s)) = (usize::try_from(off), usize::try_from(size)) else {
            return Ok(());
        };
        let Some(end) = o.checked_add(s) else {
            return Ok(());
        };
        if end > buf.len() {
            return Ok(());
        }
        file.read_exact_at(&mut buf[o..end], off)
    };
    if len <= WHOLE_READ {
        read(buf, (0, len as u64))?;
        return Ok(buf);
    }
    let head = &mf.head[..mf.head_len];
    if head.len() == HEAD {
        buf[..HEAD].copy_from_slice(head);
    } else {
        read(buf, (0, HEAD as u64))?;
    }
    let Some((shoff, shsize)) = crate::elf::ModuleElf::section_table_range(buf) else {
        return Ok(buf);
    };
    // the symbol and string tables usually sit just before the section headers
    let tail = shoff
        .saturating_sub(TAIL_SLACK)
        .min((len as u64).saturating_sub(TAIL_MIN))
        .max(HEAD as u64);
    let mut done: Vec<(u64, u64)> = vec![(0, HEAD as u64)];
    match shoff.checked_add(shsize) {
        Some(end) if end <= len as u64 && tail < end => {
            let end = if to_end { len as u64 } else { end };
            read(buf, (tail, end - tail))?;
            done.push((tail, end));
        }
        table_end => {
            // unusual layout (or a table past the end, which the parse refuses)
            read(buf, (shoff, shsize))?;
            if let Some(end) = table_end.filter(|&e| e <= len as u64) {
                done.push((shoff, end));
            }
            if to_end {
                let from = (len as u64).saturating_sub(TAIL_MIN);
                read(buf, (from, len as u64 - from))?;
                done.push((from, len as u64));
            }
        }
    }
    let Some(names) = crate::elf::ModuleElf::name_table_range(buf) else {
        return Ok(buf);
    };
    read_missing(buf, &done, &[names], &read)?;
    done.push((names.0, names.0.saturating_add(names.1)));
    let wanted: Vec<(u64, u64)> = match crate::elf::ModuleElf::parse(buf) {
        Ok(elf) => elf
            .sections()
            .into_iter()
            .filter(|(_, n, _, _)| sections.contains(n))
            .map(|(_, _, o, s)| (o, s))
            .collect(),
        Err(_) => return Ok(buf),
    };
    read_missing(buf, &done, &wanted, &read)?;
    done.extend(wanted.iter().map(|&(o, s)| (o, o.saturating_add(s))));
    let more: Vec<(u64, u64)> = match crate::elf::ModuleElf::parse(buf) {
        Ok(elf) => extra(&elf),
        Err(_) => Vec::new(),
    };
    read_missing(buf, &done, &more, &read)?;
    Ok(buf)
}

/// Reads one (offset, size) range of the file into the buffer.
type ReadFn<'f> = dyn Fn(&mut [u8], (u64, u64)) -> std::io::Result<()> + 'f;

/// Read the `wanted` (offset, size) ranges not inside a `done` (start, end) range,
/// merging those less than [`MERGE_GAP`] apart into one read.
fn read_missing(
    buf: &mut [u8],
    done: &[(u64, u64)],
    wanted: &[(u64, u64)],
    read: &ReadFn<'_>,
) -> std::io::Result<()> {
    let len = buf.len() as u64;
    let mut todo: Vec<(u64, u64)> = wanted
        .iter()
        .filter_map(|&(o, s)| Some((o, o.checked_add(s)?)))
        .filter(|&(o, e)| e <= len && o < e)
        .filter(|&(o, e)| !done.iter().any(|&(a, b)| a <= o && e <= b))
        .collect();
    todo.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(todo.len());
    for (o, e) in todo {
        match merged.last_mut() {
            Some(last) if o <= last.1.saturating_add(MERGE_GAP) => last.1 = last.1.max(e),
            _ => merged.push((o, e)),
        }
    }
    for (o, e) in merged {
        read(buf, (o, e - o))?;
    }
    Ok(())
}
