//! Opening a module file: sniff the compression from its first bytes, then give
//! its (decompressed) contents.
//!
//! As in kmod, a file shorter than 6 bytes is rejected with `EINVAL` before anything
//! else; a plain file is memory-mapped, a compressed one is decompressed into memory.
//! A file that is not a regular one is refused with `EINVAL` (kmod's mapping of it
//! fails) before anything more is read from it.

use crate::compress::{self, Compression, Input, Output};
use crate::elf::{Segment, SparseImage};
use crate::error::{Error, errno};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

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
        let mut image = Vec::new();
        self.decompress_to(None, &mut Output::new(&mut image, limit))?;
        Ok(Image::Owned(image))
    }

    /// The size of the file, which must be a regular one. kmod maps a plain module
    /// with the size `fstat` gives, which fails with `EINVAL` for a device (size
    /// 0); any file that is not a regular one is refused the same way before it is
    /// read, so that a device's endless contents are never read.
    fn regular_len(&self) -> Result<u64, Error> {
        let meta = self.file.metadata().map_err(|e| Error::io(&self.path, e))?;
        if !meta.is_file() {
            return Err(Error::format(
                &self.path,
                errno::EINVAL,
                "not a regular file",
            ));
        }
        if meta.len() == 0 {
            return Err(Error::format(&self.path, errno::EINVAL, "file size is 0"));
        }
        Ok(meta.len())
    }

    /// Decompress into `out`. A file up to [`RAW_READ_MAX`] is read whole into the
    /// buffer of `raw` when one is given and its grant (called with the capacity
    /// it would grow to) agrees; otherwise the file is read as the decoder goes
    /// (as kmod reads xz and gzip files) or, for a zstd frame that records its
    /// size (decoded in one call), mapped as kmod does.
    fn decompress_to(
        &self,
        raw: Option<(&mut Vec<u8>, &mut RawGrant<'_>)>,
        out: &mut Output<'_>,
    ) -> Result<(), Error> {
        let io = |e| Error::io(&self.path, e);
        let len = self.regular_len()?;
        let small = usize::try_from(len)
            .ok()
            .filter(|&n| n as u64 <= RAW_READ_MAX);
        if let (Some(n), Some((raw, grant))) = (small, raw)
            && (raw.len() >= n || (grant(n) && raw.try_reserve_exact(n - raw.len()).is_ok()))
        {
            // one pread (the buffer only grows: no zero-filling per file)
            if raw.len() < n {
                raw.resize(n, 0);
            }
            let input = &mut raw[..n];
            let head = self.head_len.min(n);
            input[..head].copy_from_slice(&self.head[..head]);
            self.file
                .read_exact_at(&mut input[head..], head as u64)
                .map_err(io)?;
            return compress::decompress_input(
                &self.path,
                self.compression,
                Input::Bytes(input),
                out,
            );
        }
        let head = &self.head[..self.head_len.min(compress::ZSTD_HEADER_MAX)];
        if self.compression == Compression::Zstd && compress::zstd_sized(head) {
            let mapped = self.map()?;
            return compress::decompress_input(
                &self.path,
                self.compression,
                Input::Bytes(&mapped),
                out,
            );
        }
        let input = Input::File {
            file: &self.file,
            start: 0,
            end: len,
        };
        compress::decompress_input(&self.path, self.compression, input, out)
    }

    /// kmod's further reads of a broken xz module, read from the file (see
    /// [`compress::xz_retries`]).
    #[cfg(feature = "xz")]
    pub(crate) fn xz_retry_errors(&self, retries: usize) -> Vec<Error> {
        let Ok(len) = self.regular_len() else {
            return Vec::new();
        };
        let input = Input::File {
            file: &self.file,
            start: 0,
            end: len,
        };
        compress::xz_retries(&self.path, input, retries)
    }

    fn map(&self) -> Result<Image, Error> {
        self.regular_len()?;
        // SAFETY: the mapping is private and read-only. Like kmod, we accept that a
        // module file rewritten while we read it may show mixed contents; every read
        // of the image is bounds-checked, so this cannot cause out-of-bounds access.
        #[allow(unsafe_code)]
        let mapped = unsafe { memmap2::Mmap::map(&self.file) };
        // as kmod's load_reg: a failed mmap is the error (nothing is read instead)
        mapped
            .map(Image::Mapped)
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Whether a buffer for a whole compressed file may grow to the capacity given.
type RawGrant<'g> = dyn FnMut(usize) -> bool + 'g;

/// Map (or read) a whole plain file, e.g. an index.
pub(crate) fn map_file(path: &Path) -> Result<Image, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    map_open_file(path, &file, len)
}

/// [`map_file`] of the file `path` opened as `file`, `len` bytes long (`fstat`).
pub(crate) fn map_open_file(path: &Path, file: &File, len: u64) -> Result<Image, Error> {
    if len == 0 {
        return Ok(Image::Owned(Vec::new()));
    }
    // The length is given: memmap2 would stat the file again for it.
    // SAFETY: read-only private mapping; readers bounds-check every access, so a file
    // changed underneath can give wrong answers but not out-of-bounds reads.
    #[allow(unsafe_code)]
    let mapped = usize::try_from(len)
        .ok()
        .and_then(|n| unsafe { memmap2::MmapOptions::new().len(n).map(file) }.ok());
    if let Some(m) = mapped {
        Ok(Image::Mapped(m))
    } else {
        // at most the size fstat gave (a device's contents never end)
        let mut v = Vec::new();
        v.try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
            .map_err(|_| Error::io(path, std::io::Error::from_raw_os_error(errno::ENOMEM)))?;
        file.take(len)
            .read_to_end(&mut v)
            .map_err(|e| Error::io(path, e))?;
        Ok(Image::Owned(v))
    }
}

/// `path` made absolute against the current directory (`getcwd`) by plain
/// concatenation, as kmod does (`./x.ko` in `/tmp` becomes `/tmp/./x.ko`). The tools
/// give absolute paths (made with `$PWD` as glibc's `get_current_dir_name` does).
#[must_use]
pub(crate) fn make_absolute(path: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().first() == Some(&b'/') {
        return path.to_path_buf();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return path.to_path_buf();
    };
    let mut s = cwd.into_os_string();
    s.push("/");
    s.push(path.as_os_str());
    PathBuf::from(s)
}

/// Files up to this size are read whole (one system call instead of several) when
/// a reader wants several sections (spread over the file: depmod's five).
const WHOLE_READ: usize = 24 * 1024;
/// The same for a reader of one section (`.modinfo`): its parts are two reads (the
/// section table with the end of the file, the section), so only a file this small
/// is read whole; copying the rest of a larger one costs more than a read.
const WHOLE_READ_ONE: usize = 8 * 1024;
/// Wanted ranges closer than this are read with one system call (copying a gap
/// costs about as much as a further system call at this size).
const MERGE_GAP: u64 = 4 * 1024;
/// Bytes read before the section header table with it: the section name table is
/// usually there.
const TAIL_SLACK: u64 = 1024;
/// At least this much of the end of a file is read with the section headers.
const TAIL_MIN: u64 = 4 * 1024;
/// The parts read of one plain module take at most this much (the cap of a
/// decompressed one): a crafted header cannot make the reader allocate more.
const SPARSE_MAX: u64 = compress::DEFAULT_LIMIT;

/// Compressed files up to this size are read whole with one system call (the
/// largest real compressed module is about 4 MiB); bigger ones are read as they
/// are decoded.
const RAW_READ_MAX: u64 = 8 << 20;
/// The buffers of all threads' [`ReadBuffers`] together hold at most this much
/// (see [`ReadBuffers::read_with`]).
const SHARED_BUDGET: usize = 256 << 20;
/// One thread's buffers take at most this much of [`SHARED_BUDGET`] (the largest
/// real module is about 30 MiB decompressed).
const THREAD_SHARE: usize = 64 << 20;
/// A buffer grown past this for one file is freed afterwards.
const KEEP_MAX: usize = 32 << 20;

/// The first size of a [`Sparse`] buffer: a small file read whole
/// ([`WHOLE_READ`]) or the header, section table, names and `.modinfo` of a large
/// one.
const FIRST_BUF: usize = 32 * 1024;

/// Bytes of [`SHARED_BUDGET`] the threads hold.
static BUDGET_USED: AtomicUsize = AtomicUsize::new(0);
/// Whether the large-image slot is taken: one thread at a time may read an image
/// that does not fit in its share of the budget (up to the 1 GiB cap).
static LARGE_TAKEN: Mutex<bool> = Mutex::new(false);
/// Signalled when the large-image slot is given back.
static LARGE_FREED: Condvar = Condvar::new();

/// Take `n` bytes of the shared budget, if that many are left.
fn take_budget(n: usize) -> bool {
    BUDGET_USED
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(n).filter(|&t| t <= SHARED_BUDGET)
        })
        .is_ok()
}

/// One reader's part of the memory bound of [`ReadBuffers::read_with`].
#[derive(Debug, Default)]
struct Budget {
    /// Bytes of [`SHARED_BUDGET`] held.
    held: usize,
    /// Whether the large-image slot is held.
    large: bool,
}

impl Budget {
    /// Room for buffers of `total` bytes from the shared budget, without waiting.
    fn try_grow(&mut self, total: usize) -> bool {
        if self.large || total <= self.held {
            return true;
        }
        let ok = total <= THREAD_SHARE && take_budget(total - self.held);
        if ok {
            self.held = total;
        }
        ok
    }

    /// Room for buffers of `total` bytes: from the shared budget, else by taking
    /// the large-image slot (waiting until no other reader holds it).
    fn grow(&mut self, total: usize) {
        if self.try_grow(total) {
            return;
        }
        let mut taken = LARGE_TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
        while *taken {
            taken = LARGE_FREED
                .wait(taken)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *taken = true;
        self.large = true;
    }

    /// After a file, the buffers holding `now` bytes (a buffer grown under the
    /// large-image slot must have been freed): give back the rest and the slot.
    fn settle(&mut self, now: usize) {
        if now < self.held {
            BUDGET_USED.fetch_sub(self.held - now, Ordering::AcqRel);
            self.held = now;
        }
        if self.large {
            self.large = false;
            *LARGE_TAKEN.lock().unwrap_or_else(PoisonError::into_inner) = false;
            LARGE_FREED.notify_one();
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.settle(0);
    }
}

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
    /// What `raw` and `image` hold of the memory bound.
    budget: Budget,
}

impl ReadBuffers {
    /// The image of `file` as far as a reader needs it — a compressed file
    /// decompressed whole, a plain one read sparsely (see [`read_sparse`] for
    /// `sections`, `to_end` and `extra`) — given to `f`, with the memory of all
    /// threads' buffers bounded: together they hold at most 256 MiB (64 MiB for
    /// one thread); an image that does not fit (decompressed, or the parts read of
    /// a plain module) is read while holding a process-wide slot, so that at most
    /// one such image (up to the 1 GiB cap) exists at a time, and freed once `f`
    /// returns. A buffer grown past 32 MiB for one file is freed after it.
    pub(crate) fn read_with<R>(
        &mut self,
        file: &ModuleFile,
        sections: &[&[u8]],
        to_end: bool,
        extra: Option<&ExtraRanges<'_>>,
        f: impl FnOnce(Result<SparseImage<'_>, Error>) -> R,
    ) -> R {
        if file.compression == Compression::None {
            let sp = &mut self.sparse;
            sp.budgeted = true;
            let image = read_sparse(file, sp, sections, to_end, extra)
                .map_err(|e| Error::io(&file.path, e));
            let out = f(image);
            sp.budgeted = false;
            if sp.budget.large || sp.buf.capacity() > KEEP_MAX {
                sp.buf = Vec::new();
            }
            sp.budget.settle(sp.buf.capacity());
            return out;
        }
        let ReadBuffers {
            raw, image, budget, ..
        } = self;
        let result = {
            let budget = RefCell::new(&mut *budget);
            let image_cap = Cell::new(image.capacity());
            let raw_cap = Cell::new(raw.capacity());
            let mut raw_grant = |cap: usize| {
                let ok = budget.borrow_mut().try_grow(cap + image_cap.get());
                if ok {
                    raw_cap.set(cap);
                }
                ok
            };
            let mut on_grow = |cap: usize| {
                budget.borrow_mut().grow(raw_cap.get() + cap);
                image_cap.set(cap);
            };
            let mut out = Output::new(image, compress::DEFAULT_LIMIT).on_grow(&mut on_grow);
            file.decompress_to(Some((raw, &mut raw_grant)), &mut out)
        };
        let out = f(result.map(|()| SparseImage::whole(image)));
        if budget.large || image.capacity() > KEEP_MAX {
            *image = Vec::new();
        }
        budget.settle(raw.capacity() + image.capacity());
        out
    }
}

/// A further set of (offset, size) ranges to read, found from what was read so far.
pub(crate) type ExtraRanges<'f> = dyn Fn(SparseImage<'_>) -> Vec<(u64, u64)> + 'f;

/// The parts of a file read so far, packed in a buffer that is reused from file to
/// file (it only grows: its pages are touched once, not once per file).
#[derive(Debug, Default)]
pub(crate) struct Sparse {
    buf: Vec<u8>,
    used: usize,
    segs: Vec<Segment>,
    len: u64,
    /// Whether `buf` grows within the memory bound of [`ReadBuffers::read_with`].
    budgeted: bool,
    /// What `buf` holds of it.
    budget: Budget,
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

    /// A new segment for `n` bytes from file offset `off`, to be filled; None
    /// (nothing read) past [`SPARSE_MAX`] in all or when memory runs out.
    fn segment(&mut self, off: u64, n: usize) -> Option<&mut [u8]> {
        let need = self
            .used
            .checked_add(n)
            .filter(|&t| t as u64 <= SPARSE_MAX)?;
        if self.buf.capacity() < need {
            // a file's usual parts fit the first allocation: growing a buffer in
            // steps would touch (and copy into) fresh pages at each one
            let want = need
                .max(self.buf.capacity() * 2)
                .max(FIRST_BUF)
                .min(SPARSE_MAX as usize)
                .max(need);
            if self.budgeted {
                self.budget.grow(want);
            }
            self.buf.try_reserve_exact(want - self.buf.len()).ok()?;
        }
        if self.buf.len() < need {
            // only the bytes about to be read are initialised: the pages of the
            // capacity no file has needed yet are never touched
            self.buf.resize(need, 0);
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
/// (if any) once those are read; with `to_end`, also the last 4 KiB of the file
/// (where a signature ends; `extra` can name the rest of it). Returns the image of
/// the parts read (see [`SparseImage`]): a file up to 24 KiB (8 KiB when one
/// section is wanted) is read whole. Few system calls: ranges less than 4 KiB
/// apart are read as one, the section headers with 1 KiB before them and, when the
/// file ends less than 8 KiB after them, everything up to its end in one go. The
/// parts read take at most 1 GiB.
pub(crate) fn read_sparse<'b>(
    mf: &ModuleFile,
    sp: &'b mut Sparse,
    sections: &[&[u8]],
    to_end: bool,
    extra: Option<&ExtraRanges<'_>>,
) -> std::io::Result<SparseImage<'b>> {
    let file = &mf.file;
    let meta = file.metadata()?;
    let len = meta.len();
    // as ModuleFile::regular_len: kmod's mapping fails for these
    if !meta.is_file() || len == 0 {
        return Err(std::io::Error::from_raw_os_error(errno::EINVAL));
    }
    sp.start(len);
    let whole = if sections.len() <= 1 {
        WHOLE_READ_ONE
    } else {
        WHOLE_READ
    };
    if len <= whole as u64 {
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
            // the end of the file (a signature) with the table when it is close, as
            // usual; else only the last bytes (after the table may be a hole of any
            // size: only what the headers point at is read)
            if to_end && len - end <= MERGE_GAP + TAIL_MIN {
                sp.read(file, tail, len)?;
            } else {
                sp.read(file, tail, end)?;
                if to_end {
                    sp.read_missing(file, &[(len.saturating_sub(TAIL_MIN), TAIL_MIN)])?;
                }
            }
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
        Ok(elf) => sections
            .iter()
            .filter_map(|n| elf.section_range(n))
            .collect(),
        Err(_) => return Ok(sp.image()),
    };
    sp.read_missing(file, &wanted)?;
    if let Some(extra) = extra {
        let more = extra(sp.image());
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
                let crcs: &ExtraRanges<'_> = &ModuleElf::crc_ranges_of;
                bufs.read_with(&file, &NEEDED, true, Some(crcs), |img| {
                    let img = img.unwrap();
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
                });
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A module followed by a hole of gigabytes: only the parts the headers point
    /// at and the last 4 KiB are read, and the image is the module's.
    #[test]
    fn sparse_read_skips_a_hole_after_the_module() {
        let dir = std::env::temp_dir().join(format!("kmodrs-hole-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ko =
            kmod_testko::Ko::sample(object::Architecture::X86_64, object::Endianness::Little);
        ko.padding = 40_000;
        let bytes = ko.build();
        let path = dir.join("m.ko");
        std::fs::write(&path, &bytes).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4 << 30)
            .unwrap();
        let file = ModuleFile::open(&path).unwrap();
        let mut sp = Sparse::default();
        let img = read_sparse(&file, &mut sp, &[b".modinfo"], true, None).unwrap();
        let whole = ModuleElf::parse(&bytes).unwrap();
        let elf = ModuleElf::parse_sparse(img).unwrap();
        assert_eq!(elf.modinfo_strings(), whole.modinfo_strings());
        assert_eq!(img.suffix().len() as u64, TAIL_MIN);
        assert!(sp.used < 64 << 10, "{} bytes read", sp.used);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A file that is not a regular one is refused before anything is read from
    /// it (kmod's mapping of it fails: EINVAL).
    #[test]
    fn devices_are_not_read() {
        for dev in ["/dev/zero", "/dev/urandom"] {
            let Ok(file) = ModuleFile::open(dev) else {
                continue;
            };
            assert_eq!(
                file.load().unwrap_err().errno().raw(),
                errno::EINVAL,
                "{dev}"
            );
            let mut bufs = ReadBuffers::default();
            let r = bufs.read_with(&file, &[b".modinfo"], true, None, |r| r.map(|_| ()));
            assert_eq!(r.unwrap_err().errno().raw(), errno::EINVAL, "{dev}");
        }
    }

    /// An image bigger than a thread may keep is freed after use, and the shared
    /// budget given back.
    #[cfg(feature = "zstd")]
    #[test]
    fn read_with_frees_an_outlier() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("kmodrs-outlier-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut data = vec![0u8; 80 << 20];
        data[..4].copy_from_slice(b"\x7fELF");
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(&data).unwrap();
        let path = dir.join("big.ko.zst");
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let file = ModuleFile::open(&path).unwrap();
        let mut bufs = ReadBuffers::default();
        let len = bufs.read_with(&file, &[], false, None, |r| r.unwrap().file_len());
        assert_eq!(len, 80 << 20);
        assert_eq!(bufs.image.capacity(), 0);
        assert!(bufs.budget.held <= THREAD_SHARE && !bufs.budget.large);
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
                let crcs: &ExtraRanges<'_> = &ModuleElf::crc_ranges_of;
                compared += usize::from(bufs.read_with(&file, &NEEDED, true, Some(crcs), |img| {
                    let (Ok(img), Ok(whole)) = (img, ModuleElf::parse(&bytes)) else {
                        return false;
                    };
                    let sparse = ModuleElf::parse_sparse(img).expect("parses like the whole file");
                    assert_eq!(sparse.modinfo_strings(), whole.modinfo_strings());
                    assert_eq!(sparse.exported_symbols(), whole.exported_symbols());
                    assert_eq!(sparse.dependency_symbols(), whole.dependency_symbols());
                    assert_eq!(sparse.modversions(), whole.modversions());
                    true
                }));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        // most damaged files still parse: the comparison really ran
        assert!(compared > 200, "only {compared} of 600 files compared");
    }
}
