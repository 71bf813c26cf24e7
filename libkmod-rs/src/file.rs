//! Opening a module file: sniff the compression from its first bytes, then give
//! its (decompressed) contents.
//!
//! As in kmod, a file shorter than 6 bytes is rejected with `EINVAL` before anything
//! else; a plain file is memory-mapped, a compressed one is decompressed into memory.

use crate::compress::{self, Compression};
use crate::elf::{Segment, SparseImage};
use crate::error::{Error, errno};
use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// An opened module file whose compression is known.
#[derive(Debug)]
pub(crate) struct ModuleFile {
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
pub(crate) enum Image {
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
    pub(crate) fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Self::from_file(path.to_path_buf(), file)
    }

    /// Open `name` in the directory `dir` (one path component to look up instead
    /// of a whole path); `path` is the file's full path, for messages.
    pub(crate) fn open_at(
        dir: std::os::fd::BorrowedFd<'_>,
        name: &std::ffi::CStr,
        path: PathBuf,
    ) -> Result<Self, Error> {
        use nix::fcntl::OFlag;
        let fd = nix::fcntl::openat(
            dir,
            name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::io(&path, std::io::Error::from_raw_os_error(e as i32)))?;
        Self::from_file(path, File::from(fd))
    }

    fn from_file(path: PathBuf, file: File) -> Result<Self, Error> {
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
            path,
            file,
            compression: Compression::detect(&head),
            head,
            head_len: got,
        })
    }

    /// The path the file was opened with.
    #[must_use]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The detected compression.
    #[must_use]
    pub(crate) fn compression(&self) -> Compression {
        self.compression
    }

    /// The open file (for `finit_module`).
    #[must_use]
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The module image, decompressed, with the default size cap.
    pub(crate) fn load(&self) -> Result<Image, Error> {
        self.load_with_limit(compress::DEFAULT_LIMIT)
    }

    /// The module image, decompressed with at most `limit` bytes of output.
    pub(crate) fn load_with_limit(&self, limit: u64) -> Result<Image, Error> {
        if self.compression == Compression::None {
            return self.map();
        }
        let raw = self.map()?;
        compress::decompress(&self.path, self.compression, &raw, limit).map(Image::Owned)
    }

    /// Decompress a compressed module into `image`, reading the file into `raw`
    /// first; both buffers keep their capacity for the next file (no mapping and no
    /// fresh pages per file when reading many modules).
    pub(crate) fn decompress_into(
        &self,
        raw: &mut Vec<u8>,
        image: &mut Vec<u8>,
    ) -> Result<(), Error> {
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

/// The first `n` bytes of the file at `path` (fewer if it is shorter); `None` when
/// it cannot be opened.
pub(crate) fn read_head(path: &Path, n: usize) -> Option<Vec<u8>> {
    let file = File::open(path).ok()?;
    let mut head = Vec::with_capacity(n);
    // a read error leaves what was read, as a short read does
    let _ = file.take(n as u64).read_to_end(&mut head);
    Some(head)
}

/// Map (or read) a whole plain file, e.g. an index.
pub(crate) fn map_file(path: &Path) -> Result<Image, Error> {
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
pub(crate) fn current_dir() -> Option<PathBuf> {
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
pub(crate) fn make_absolute(path: &Path) -> PathBuf {
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
/// Wanted ranges closer than this are read with one system call (copying a gap
/// costs about as much as a further system call at this size).
const MERGE_GAP: u64 = 4 * 1024;
/// Bytes read before the section header table with it: the section name table is
/// usually there.
const TAIL_SLACK: u64 = 1024;
/// At least this much of the end of a file is read with the section headers.
const TAIL_MIN: u64 = 4 * 1024;

/// Buffers module files are read into, reused from one file to the next: no
/// mapping, no fresh pages to fault in for each file when reading many modules.
/// Keep one per thread.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffers {
    /// The parts of a plain module that are read, one after the other.
    sparse: Sparse,
    /// A compressed file.
    raw: Vec<u8>,
    /// Its decompressed image.
    image: Vec<u8>,
}

impl ReadBuffers {
    /// The image of `file` as far as a reader needs it: a compressed file
    /// decompressed whole, a plain one read sparsely (see [`read_sparse`] for
    /// `sections`, `to_end` and `extra`).
    pub(crate) fn read<'b>(
        &'b mut self,
        file: &ModuleFile,
        sections: &[&[u8]],
        to_end: bool,
        extra: Option<&ExtraRanges<'_>>,
    ) -> Result<SparseImage<'b>, Error> {
        if file.compression != Compression::None {
            file.decompress_into(&mut self.raw, &mut self.image)?;
            return Ok(SparseImage::whole(&self.image));
        }
        read_sparse(file, &mut self.sparse, sections, to_end, extra)
            .map_err(|e| Error::io(&file.path, e))
    }
}

/// A further set of (offset, size) ranges to read, found from what was read so far.
pub(crate) type ExtraRanges<'f> = dyn Fn(&crate::elf::ModuleElf<'_>) -> Vec<(u64, u64)> + 'f;

/// The parts of a file read so far, packed in a buffer that is reused from file to
/// file (it only grows: its pages are touched once, not once per file).
#[derive(Debug, Default)]
pub(crate) struct Sparse {
    buf: Vec<u8>,
    used: usize,
    segs: Vec<Segment>,
    len: u64,
}

impl Sparse {
    fn start(&mut self, len: u64) {
        self.used = 0;
        self.segs.clear();
        self.len = len;
    }

    fn image(&self) -> SparseImage<'_> {
        SparseImage::parts(&self.buf[..self.used], &self.segs, self.len)
    }

    /// Whether `off..end` was read already.
    fn has(&self, off: u64, end: u64) -> bool {
        self.segs
            .iter()
            .any(|s| s.off <= off && end <= s.off + s.len)
    }

    /// A new segment for `n` bytes from file offset `off`, to be filled.
    fn segment(&mut self, off: u64, n: usize) -> Option<&mut [u8]> {
        let need = self.used.checked_add(n)?;
        if self.buf.len() < need {
            // a fresh zeroed allocation (calloc: a large one is mapped pages that are
            // only faulted in where written), not a zero-filling resize
            let mut grown = vec![0; need.max(self.buf.len() * 2)];
            grown[..self.used].copy_from_slice(&self.buf[..self.used]);
            self.buf = grown;
        }
        self.segs.push(Segment {
            off,
            len: n as u64,
            at: self.used,
        });
        let at = std::mem::replace(&mut self.used, need);
        Some(&mut self.buf[at..need])
    }

    /// Read `off..end` of `file` (ignored if not inside the file) as a new segment.
    fn read(&mut self, file: &File, off: u64, end: u64) -> std::io::Result<()> {
        if end > self.len || off >= end {
            return Ok(());
        }
        let Ok(n) = usize::try_from(end - off) else {
            return Ok(());
        };
        match self.segment(off, n) {
            Some(buf) => file.read_exact_at(buf, off),
            None => Ok(()),
        }
    }

    /// Read those of the `wanted` (offset, size) ranges not read yet, merging those
    /// less than [`MERGE_GAP`] apart into one read.
    fn read_missing(&mut self, file: &File, wanted: &[(u64, u64)]) -> std::io::Result<()> {
        let len = self.len;
        let mut todo: Vec<(u64, u64)> = wanted
            .iter()
            .filter_map(|&(o, s)| Some((o, o.checked_add(s)?)))
            .filter(|&(o, e)| e <= len && o < e)
            .filter(|&(o, e)| !self.has(o, e))
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
            self.read(file, o, e)?;
        }
        Ok(())
    }
}

/// Read only the parts of a plain module file a reader looks at: the ELF header,
/// section headers and names, the named `sections`, then the ranges `extra` names
/// (if any) once those are read; with `to_end`, everything from the section headers to the
/// end of the file (where a signature sits). Returns the image of the parts read
/// (see [`SparseImage`]): a file up to 24 KiB is read whole. Few system calls:
/// ranges less than 4 KiB apart are read as one, the last 4 KiB (or more, from
/// 1 KiB before the section headers) in one go.
pub(crate) fn read_sparse<'b>(
    mf: &ModuleFile,
    sp: &'b mut Sparse,
    sections: &[&[u8]],
    to_end: bool,
    extra: Option<&ExtraRanges<'_>>,
) -> std::io::Result<SparseImage<'b>> {
    let file = &mf.file;
    let len = file.metadata()?.len();
    sp.start(len);
    if len <= WHOLE_READ as u64 {
        sp.read(file, 0, len)?;
        // the one segment is the whole file
        sp.segs.clear();
        return Ok(SparseImage::whole(&sp.buf[..sp.used]));
    }
    // the header read when opening the file
    match sp.segment(0, HEAD) {
        Some(buf) if mf.head_len == HEAD => buf.copy_from_slice(&mf.head),
        Some(buf) => file.read_exact_at(buf, 0)?,
        None => {}
    }
    let Some((shoff, shsize)) = crate::elf::ModuleElf::section_table_range(&sp.buf[..sp.used])
    else {
        return Ok(sp.image());
    };
    // the symbol and string tables usually sit just before the section headers
    let tail = shoff
        .saturating_sub(TAIL_SLACK)
        .min(len.saturating_sub(TAIL_MIN))
        .max(HEAD as u64);
    match shoff.checked_add(shsize) {
        Some(end) if end <= len && tail < end => {
            let end = if to_end { len } else { end };
            sp.read(file, tail, end)?;
        }
        table_end => {
            // unusual layout (or a table past the end, which the parse refuses)
            if let Some(end) = table_end {
                sp.read(file, shoff, end)?;
            }
            if to_end {
                sp.read_missing(file, &[(len.saturating_sub(TAIL_MIN), TAIL_MIN)])?;
            }
        }
    }
    let Some(names) = crate::elf::ModuleElf::name_table_range(sp.image()) else {
        return Ok(sp.image());
    };
    sp.read_missing(file, &[names])?;
    let wanted: Vec<(u64, u64)> = match crate::elf::ModuleElf::parse_sparse(sp.image()) {
        Ok(elf) => elf
            .sections_iter()
            .filter(|(_, n, _, _)| sections.contains(n))
            .map(|(_, _, o, s)| (o, s))
            .collect(),
        Err(_) => return Ok(sp.image()),
    };
    sp.read_missing(file, &wanted)?;
    if let Some(extra) = extra
        && let Ok(elf) = crate::elf::ModuleElf::parse_sparse(sp.image())
    {
        let more = extra(&elf);
        sp.read_missing(file, &more)?;
    }
    Ok(sp.image())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depmod::build::NEEDED;
    use crate::elf::ModuleElf;

    #[test]
    fn sparse_image_maps_file_offsets() {
        let data = b"HEADtail";
        let segs = [
            Segment {
                off: 0,
                len: 4,
                at: 0,
            },
            Segment {
                off: 96,
                len: 4,
                at: 4,
            },
        ];
        let img = SparseImage::parts(data, &segs, 100);
        assert_eq!(img.get(0, 4), Some(&b"HEAD"[..]));
        assert_eq!(img.get(97, 2), Some(&b"ai"[..]));
        // not read, across two segments, past the end
        assert_eq!(img.get(10, 1), None);
        assert_eq!(img.get(2, 95), None);
        assert_eq!(img.get(99, 2), None);
        assert!(img.in_file(10, 90));
        assert!(!img.in_file(10, 91));
        assert_eq!(img.suffix(), b"tail");
        assert_eq!(img.whole_bytes(), None);
        let whole = SparseImage::whole(data);
        assert_eq!(whole.get(4, 4), Some(&b"tail"[..]));
        assert_eq!(whole.suffix(), data);
        assert_eq!(whole.whole_bytes(), Some(&data[..]));
    }

    /// Reading only the needed parts of spread-out modules (every class and byte
    /// order) gives what reading them whole gives, and the file's end.
    #[test]
    fn sparse_read_matches_whole_read() {
        let dir = std::env::temp_dir().join(format!("kmodrs-sparse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut bufs = ReadBuffers::default();
        for (k, mut ko) in kmod_testko::all_kinds().into_iter().enumerate() {
            for padding in [0, 3000, 40_000] {
                ko.padding = padding;
                let mut bytes = ko.build();
                bytes.extend_from_slice(b"~trailer at the end of the file~");
                let path = dir.join(format!("m{k}-{padding}.ko"));
                std::fs::write(&path, &bytes).unwrap();
                let whole = ModuleElf::parse(&bytes).unwrap();
                let file = ModuleFile::open(&path).unwrap();
                let img = bufs
                    .read(&file, &NEEDED, true, Some(&|e| e.crc_section_ranges()))
                    .unwrap();
                if padding == 40_000 {
                    assert!(img.whole_bytes().is_none(), "{path:?} read whole");
                }
                assert_eq!(img.file_len(), bytes.len() as u64);
                let suffix = img.suffix();
                assert!(bytes.ends_with(suffix) && suffix.len() >= 32, "{path:?}");
                let sparse = ModuleElf::parse_sparse(img).unwrap();
                assert_eq!(sparse.modinfo_strings(), whole.modinfo_strings());
                assert_eq!(sparse.exported_symbols(), whole.exported_symbols());
                assert_eq!(sparse.dependency_symbols(), whole.dependency_symbols());
                assert_eq!(sparse.modversions(), whole.modversions());
                assert!(sparse.sections_iter().eq(whole.sections_iter()));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Corrupted spread-out modules: the sparse read never panics, and whenever the
    /// whole file parses, what is read from the parts is what the whole file gives.
    #[test]
    fn sparse_read_of_corrupted_modules_matches_whole_read() {
        let dir = std::env::temp_dir().join(format!("kmodrs-sparsebad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut bufs = ReadBuffers::default();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut compared = 0;
        for (k, mut ko) in kmod_testko::all_kinds().into_iter().enumerate() {
            ko.padding = 30_000;
            let good = ko.build();
            let len = good.len();
            // the header, the section headers and the tail get most of the damage
            let shoff = ModuleElf::section_table_range(&good).unwrap().0 as usize;
            for round in 0..150 {
                let mut bytes = good.clone();
                for _ in 0..=(next() % 4) {
                    let at = match next() % 3 {
                        0 => (next() % 64) as usize,
                        1 => shoff + (next() as usize % (len - shoff)),
                        _ => next() as usize % len,
                    };
                    bytes[at] = next() as u8;
                }
                if round % 10 == 0 {
                    bytes.truncate(next() as usize % len);
                }
                let path = dir.join(format!("m{k}.ko"));
                std::fs::write(&path, &bytes).unwrap();
                let Ok(file) = ModuleFile::open(&path) else {
                    continue;
                };
                let img = bufs.read(&file, &NEEDED, true, Some(&|e| e.crc_section_ranges()));
                let (Ok(img), Ok(whole)) = (img, ModuleElf::parse(&bytes)) else {
                    continue;
                };
                let sparse = ModuleElf::parse_sparse(img).expect("parses like the whole file");
                assert_eq!(sparse.modinfo_strings(), whole.modinfo_strings());
                assert_eq!(sparse.exported_symbols(), whole.exported_symbols());
                assert_eq!(sparse.dependency_symbols(), whole.dependency_symbols());
                assert_eq!(sparse.modversions(), whole.modversions());
                compared += 1;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        // most damaged files still parse: the comparison really ran
        assert!(compared > 200, "only {compared} of 600 files compared");
    }
}
