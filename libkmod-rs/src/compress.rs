//! Decompression of compressed modules.
//!
//! Compression is told by the first bytes of the file only (the name does not matter):
//!
//! | format | magic                  |
//! |--------|------------------------|
//! | zstd   | `28 B5 2F FD`          |
//! | xz     | `FD 37 7A 58 5A 00`    |
//! | gzip   | `1F 8B`                |
//! | none   | anything else          |
//!
//! Each decompressor is behind its own cargo feature. Failures carry kmod's message
//! (`xz: File is corrupt`, `zstd: Src size is incorrect`, ...) and the libkmod
//! function name kmod logs it under. Output is capped (see [`DEFAULT_LIMIT`]) so a
//! decompression bomb is an error, not an out-of-memory kill; it is the only large
//! allocation: a file is read as the decoder goes (xz in kmod's `BUFSIZ` reads),
//! never whole in advance, and a failed allocation is an error (`ENOMEM`).
//!
//! A gzip member may be followed by further members; anything else after a member
//! (zero padding) is ignored, as zlib's `gzread` (kmod's reader) ignores it.
//!
//! Beyond kmod: a zstd frame that does not record its content size (made by `zstd`
//! reading a pipe) is decoded as a stream instead of being refused.

use crate::error::{Errno, Error, errno};
use std::path::Path;

/// Largest decompressed module accepted by default (1 GiB; the largest real module
/// is a few tens of MiB).
pub(crate) const DEFAULT_LIMIT: u64 = 1 << 30;

/// The compression of a module file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// A plain ELF file (or anything without a known magic).
    None,
    /// zstd.
    Zstd,
    /// xz.
    Xz,
    /// gzip.
    Gzip,
}

impl Compression {
    /// Detect the compression from the first bytes of a file.
    #[must_use]
    pub(crate) fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
            Compression::Zstd
        } else if head.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x1F, 0x8B]) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// The name the kernel uses in `/sys/module/compression` (`none` for plain files).
    #[must_use]
    #[cfg(any(test, feature = "fake-kernel", feature = "fuzzing"))]
    pub(crate) fn kernel_name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Gzip => "gzip",
        }
    }
}

#[cfg_attr(
    not(any(feature = "xz", feature = "zstd", feature = "gzip")),
    allow(dead_code)
)]
fn too_big(path: &Path, origin: &'static str, codec: &str, limit: u64) -> Error {
    Error::Decompress {
        path: path.to_path_buf(),
        origin,
        message: format!("{codec}: decompressed size exceeds the limit of {limit} bytes"),
        errno: Errno::from_raw(errno::EFBIG),
    }
}

#[allow(dead_code)] // used only when a decompressor feature is off
fn not_built(path: &Path, origin: &'static str, codec: &str) -> Error {
    Error::Decompress {
        path: path.to_path_buf(),
        origin,
        message: format!("{codec}: support not compiled in"),
        errno: Errno::from_raw(errno::ENOSYS),
    }
}

/// The output buffer could not grow: kmod returns `ENOMEM` without a message when
/// its `realloc` or `malloc` fails (`xz_uncompress`, `kmod_file_load_zstd`,
/// `kmod_file_load_zlib`).
fn out_of_memory(path: &Path) -> Error {
    Error::io(path, std::io::Error::from_raw_os_error(errno::ENOMEM))
}

/// The output buffer's first reservation is at most this much (the input size is
/// no measure of the output: it grows by doubling, up to the limit).
const FIRST_RESERVATION: u64 = 16 << 20;

/// The compressed bytes: in memory, or a range of an open file read as needed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Input<'a> {
    /// All of them in memory.
    Bytes(&'a [u8]),
    /// Bytes `start..end` of a file.
    File {
        /// The file.
        file: &'a std::fs::File,
        /// First byte.
        start: u64,
        /// End (exclusive).
        end: u64,
    },
}

impl Input<'_> {
    /// How many bytes there are.
    pub(crate) fn size(&self) -> u64 {
        match *self {
            Input::Bytes(b) => b.len() as u64,
            Input::File { start, end, .. } => end.saturating_sub(start),
        }
    }

    /// The input without its first `n` bytes.
    #[cfg_attr(not(feature = "xz"), allow(dead_code))]
    fn skip(self, n: u64) -> Self {
        match self {
            Input::Bytes(b) => {
                Input::Bytes(&b[usize::try_from(n).unwrap_or(usize::MAX).min(b.len())..])
            }
            Input::File { file, start, end } => Input::File {
                file,
                start: start.saturating_add(n).min(end),
                end,
            },
        }
    }

    /// Up to `buf.len()` bytes from offset `off` (fewer only at the end): borrowed
    /// from memory, or read from the file into `buf`.
    #[cfg_attr(not(any(feature = "xz", feature = "zstd")), allow(dead_code))]
    fn chunk<'b>(&'b self, off: u64, buf: &'b mut [u8]) -> std::io::Result<&'b [u8]> {
        match *self {
            Input::Bytes(b) => {
                let from = usize::try_from(off).unwrap_or(usize::MAX).min(b.len());
                let to = from.saturating_add(buf.len()).min(b.len());
                Ok(&b[from..to])
            }
            Input::File { .. } => {
                let n = self.read_at(off, buf)?;
                Ok(&buf[..n])
            }
        }
    }

    /// Read as much of `buf` as there is from offset `off`; the count read.
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        match *self {
            Input::Bytes(b) => {
                let from = usize::try_from(off).unwrap_or(usize::MAX).min(b.len());
                let n = buf.len().min(b.len() - from);
                buf[..n].copy_from_slice(&b[from..from + n]);
                Ok(n)
            }
            Input::File { file, start, end } => {
                let mut got = 0;
                while got < buf.len() {
                    let at = start.saturating_add(off).saturating_add(got as u64);
                    let left = usize::try_from(end.saturating_sub(at)).unwrap_or(usize::MAX);
                    let want = (buf.len() - got).min(left);
                    if want == 0 {
                        break;
                    }
                    match file.read_at(&mut buf[got..got + want], at) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(got)
            }
        }
    }
}

/// Where decompressed bytes go, and how far they may grow.
pub(crate) struct Output<'a> {
    buf: &'a mut Vec<u8>,
    limit: u64,
    /// Told each capacity `buf` is about to grow to (a memory budget; it may wait).
    on_grow: Option<&'a mut dyn FnMut(usize)>,
    /// Only count the output: `buf` stays small and is emptied when full.
    discard: bool,
    /// Bytes emptied out of `buf` so far (with `discard`).
    dropped: u64,
}

/// With [`Output::discard`], `buf` is emptied when this full.
#[cfg_attr(not(feature = "xz"), allow(dead_code))]
const DISCARD_CHUNK: usize = 64 << 10;

impl<'a> Output<'a> {
    /// Output into `buf` (cleared; its capacity is reused), at most `limit` bytes.
    pub(crate) fn new(buf: &'a mut Vec<u8>, limit: u64) -> Self {
        buf.clear();
        Output {
            buf,
            limit,
            on_grow: None,
            discard: false,
            dropped: 0,
        }
    }

    /// Call `f` with each capacity before growing the buffer to it.
    pub(crate) fn on_grow(mut self, f: &'a mut dyn FnMut(usize)) -> Self {
        self.on_grow = Some(f);
        self
    }

    /// Output that is only counted (when only the error matters).
    #[cfg_attr(not(feature = "xz"), allow(dead_code))]
    fn counting(buf: &'a mut Vec<u8>, limit: u64) -> Self {
        let mut out = Output::new(buf, limit);
        out.discard = true;
        out
    }

    /// Bytes output so far.
    fn total(&self) -> u64 {
        self.dropped + self.buf.len() as u64
    }

    /// Capacity for `cap` bytes in all (a failed allocation is an error).
    fn reserve(&mut self, path: &Path, cap: usize) -> Result<(), Error> {
        if cap <= self.buf.capacity() {
            return Ok(());
        }
        if let Some(f) = self.on_grow.as_mut() {
            f(cap);
        }
        self.buf
            .try_reserve_exact(cap - self.buf.len())
            .map_err(|_| out_of_memory(path))
    }

    /// The first reservation, guessed from the input size `hint`.
    #[cfg_attr(
        not(any(feature = "xz", feature = "zstd", feature = "gzip")),
        allow(dead_code)
    )]
    fn start(&mut self, path: &Path, hint: u64) -> Result<(), Error> {
        let cap = if self.discard {
            DISCARD_CHUNK as u64
        } else {
            hint.clamp(4096, FIRST_RESERVATION)
        };
        self.reserve(path, usize::try_from(cap.min(self.limit)).unwrap_or(0))
    }

    /// Room for more output when the buffer is full: doubled, never past the limit
    /// (reaching it with more to come is `too_big`).
    #[cfg_attr(
        not(any(feature = "xz", feature = "zstd", feature = "gzip")),
        allow(dead_code)
    )]
    fn grow(&mut self, path: &Path, func: &'static str, codec: &str) -> Result<(), Error> {
        let len = self.buf.len();
        if len < self.buf.capacity() {
            return Ok(());
        }
        let total = self.total();
        if total >= self.limit {
            return Err(too_big(path, func, codec, self.limit));
        }
        if self.discard && len >= DISCARD_CHUNK {
            self.dropped += len as u64;
            self.buf.clear();
            return Ok(());
        }
        let room = usize::try_from(self.limit - total).unwrap_or(usize::MAX);
        self.reserve(path, len + len.max(4096).min(room))
    }
}

/// Decompress a whole file image of the given compression, with a size cap (for
/// the fake kernel and the fuzz targets; modules are read by `file`, streamed).
#[cfg(any(test, feature = "fake-kernel", feature = "fuzzing"))]
pub(crate) fn decompress(
    path: &Path,
    compression: Compression,
    input: &[u8],
    limit: u64,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decompress_input(
        path,
        compression,
        Input::Bytes(input),
        &mut Output::new(&mut out, limit),
    )?;
    Ok(out)
}

/// Decompress `input` into `out`. The input is read as the decoder goes (a file
/// is never read whole up front), except for a zstd frame that records its size:
/// it is decoded in one call, as kmod does, and must be in memory.
pub(crate) fn decompress_input(
    path: &Path,
    compression: Compression,
    input: Input<'_>,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    match compression {
        Compression::None => copy(path, input, out),
        Compression::Xz => xz(path, input, out),
        Compression::Zstd => zstd(path, input, out),
        Compression::Gzip => gzip(path, input, out),
    }
}

/// A plain input copied as it is, within the limit.
fn copy(path: &Path, input: Input<'_>, out: &mut Output<'_>) -> Result<(), Error> {
    let size = input.size();
    if size > out.limit {
        return Err(Error::io(
            path,
            std::io::Error::from_raw_os_error(errno::EFBIG),
        ));
    }
    let n = usize::try_from(size).map_err(|_| out_of_memory(path))?;
    out.reserve(path, n)?;
    out.buf.resize(n, 0);
    let got = input
        .read_at(0, &mut out.buf[..])
        .map_err(|e| Error::io(path, e))?;
    out.buf.truncate(got);
    Ok(())
}

const XZ_FUNC: &str = "xz_uncompress_belch";

/// kmod reads compressed files in `BUFSIZ` chunks.
#[cfg(feature = "xz")]
const CHUNK: usize = 8192;

#[cfg(feature = "xz")]
fn xz(path: &Path, input: Input<'_>, out: &mut Output<'_>) -> Result<(), Error> {
    let mut fed = 0;
    xz_inner(path, input, out, &mut fed)
}

/// The errors kmod reports when it retries reading a broken xz file: it reads the
/// same file descriptor again without seeking back, so each retry starts where the
/// previous attempt stopped reading (often at end of file: `Unexpected end of
/// input`). Returns the errors of `retries` further attempts (none if it decodes).
/// The retries' output is only counted, never kept: they cost no memory.
#[cfg(feature = "xz")]
pub(crate) fn xz_retries(path: &Path, input: Input<'_>, retries: usize) -> Vec<Error> {
    let mut errors = Vec::new();
    let mut sink = Vec::new();
    let mut off = 0u64;
    for attempt in 0..=retries {
        let mut fed = 0;
        let mut out = Output::counting(&mut sink, DEFAULT_LIMIT);
        match xz_inner(path, input.skip(off), &mut out, &mut fed) {
            Err(e) if attempt > 0 => errors.push(e),
            Err(_) => {}
            Ok(()) => break,
        }
        off = off.saturating_add(fed);
    }
    errors
}

/// xz decoding as kmod reads the file (`fed`: how many input bytes were read).
#[cfg(feature = "xz")]
fn xz_inner(
    path: &Path,
    input: Input<'_>,
    out: &mut Output<'_>,
    fed: &mut u64,
) -> Result<(), Error> {
    use liblzma::stream::{Action, CONCATENATED, Error as XzError, Status, Stream};
    let fail = |message: &str, errno: i32| Error::Decompress {
        path: path.to_path_buf(),
        origin: XZ_FUNC,
        message: format!("xz: {message}"),
        errno: Errno::from_raw(errno),
    };
    let mut stream = Stream::new_stream_decoder(u64::MAX, CONCATENATED)
        .map_err(|_| fail("Internal error (bug)", errno::EINVAL))?;
    out.start(path, input.size().saturating_mul(4))?;
    // Feed the input as kmod does (BUFSIZ reads with LZMA_RUN, then LZMA_FINISH with
    // no input at end of file): liblzma reports truncation differently otherwise.
    let mut buf = [0u8; CHUNK];
    let mut chunk: &[u8] = &[];
    let mut finishing = false;
    loop {
        if chunk.is_empty() && !finishing {
            chunk = input
                .chunk(*fed, &mut buf)
                .map_err(|e| Error::io(path, e))?;
            *fed += chunk.len() as u64;
            finishing = chunk.is_empty();
        }
        let action = if finishing {
            Action::Finish
        } else {
            Action::Run
        };
        out.grow(path, XZ_FUNC, "xz")?;
        let before = stream.total_in();
        let status = stream.process_vec(chunk, out.buf, action);
        let used = usize::try_from(stream.total_in() - before).unwrap_or(chunk.len());
        chunk = &chunk[used.min(chunk.len())..];
        match status {
            Ok(Status::StreamEnd) => break,
            Ok(Status::MemNeeded) => return Err(fail("Unexpected end of input", errno::EINVAL)),
            Ok(_) => {}
            Err(XzError::Mem | XzError::MemLimit) => {
                return Err(fail(&crate::error::strerror(errno::ENOMEM), errno::EINVAL));
            }
            Err(XzError::Format) => return Err(fail("File format not recognized", errno::EINVAL)),
            Err(XzError::Options) => {
                return Err(fail("Unsupported compression options", errno::EINVAL));
            }
            Err(XzError::Data) => return Err(fail("File is corrupt", errno::EINVAL)),
            Err(_) => return Err(fail("Internal error (bug)", errno::EINVAL)),
        }
    }
    if out.total() > out.limit {
        return Err(too_big(path, XZ_FUNC, "xz", out.limit));
    }
    Ok(())
}

#[cfg(not(feature = "xz"))]
fn xz(path: &Path, _input: Input<'_>, _out: &mut Output<'_>) -> Result<(), Error> {
    Err(not_built(path, XZ_FUNC, "xz"))
}

const ZSTD_FUNC: &str = "kmod_file_load_zstd";

/// The most bytes a zstd frame header takes (magic included).
#[cfg_attr(not(feature = "zstd"), allow(dead_code))]
pub(crate) const ZSTD_HEADER_MAX: usize = 18;

/// A zstd stream without a recorded size is fed to the decoder this much at a time.
#[cfg(feature = "zstd")]
const ZSTD_STEP: usize = 128 << 10;

/// A zstd stream without a recorded size may read this much more input than it
/// has output so far: real data never does (a block's header is 3 bytes, and a
/// block is stored raw rather than grow), only padding (empty blocks, skippable
/// frames) can.
#[cfg(feature = "zstd")]
const ZSTD_SLACK: u64 = 1 << 20;

#[cfg(feature = "zstd")]
thread_local! {
    static ZSTD_DCTX: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> =
        std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
}

/// Whether the zstd frame starting `head` (its first [`ZSTD_HEADER_MAX`] bytes,
/// or all of a shorter file) records its content size: such a frame is decoded
/// in one call and needs the whole input in memory.
#[must_use]
#[cfg_attr(not(feature = "zstd"), allow(dead_code, unused_variables))]
pub(crate) fn zstd_sized(head: &[u8]) -> bool {
    #[cfg(feature = "zstd")]
    {
        !matches!(zstd::zstd_safe::get_frame_content_size(head), Ok(None))
    }
    #[cfg(not(feature = "zstd"))]
    false
}

#[cfg(feature = "zstd")]
fn zstd(path: &Path, input: Input<'_>, out: &mut Output<'_>) -> Result<(), Error> {
    use zstd::zstd_safe;
    let fail = |message: &str| Error::Decompress {
        path: path.to_path_buf(),
        origin: ZSTD_FUNC,
        message: format!("zstd: {message}"),
        errno: Errno::from_raw(errno::EINVAL),
    };
    let mut head = [0u8; ZSTD_HEADER_MAX];
    let got = input
        .read_at(0, &mut head)
        .map_err(|e| Error::io(path, e))?;
    let size = match input {
        Input::Bytes(b) => zstd_safe::get_frame_content_size(b),
        Input::File { .. } => zstd_safe::get_frame_content_size(&head[..got]),
    };
    match size {
        Ok(Some(0)) | Err(_) => Err(fail("Failed to determine decompression size")),
        Ok(Some(size)) => {
            let Input::Bytes(input) = input else {
                return Err(fail("Internal error (bug)"));
            };
            if size > out.limit {
                return Err(too_big(path, ZSTD_FUNC, "zstd", out.limit));
            }
            out.reserve(
                path,
                usize::try_from(size).map_err(|_| out_of_memory(path))?,
            )?;
            // one decompression context per thread, reused (creating one per file
            // was ~7% of depmod's time on a zstd tree)
            let r = ZSTD_DCTX.with(|d| d.borrow_mut().decompress(out.buf, input));
            match r {
                Ok(_) => Ok(()),
                Err(code) => Err(fail(zstd_safe::get_error_name(code))),
            }
        }
        Ok(None) => zstd_stream(path, input, out, &fail),
    }
}

/// Beyond kmod: a zstd stream without a content size in its frame header (kmod
/// refuses it) is decoded as a stream.
#[cfg(feature = "zstd")]
fn zstd_stream(
    path: &Path,
    input: Input<'_>,
    out: &mut Output<'_>,
    fail: &dyn Fn(&str) -> Error,
) -> Result<(), Error> {
    use zstd::zstd_safe;
    let mut dec = zstd_safe::DCtx::create();
    out.start(path, input.size().saturating_mul(4))?;
    let size = input.size();
    let mut buf = vec![
        0u8;
        if matches!(input, Input::File { .. }) {
            ZSTD_STEP
        } else {
            0
        }
    ];
    let mut pos = 0u64;
    let mut step: &[u8] = &[];
    loop {
        if step.is_empty() && pos < size {
            step = match input {
                Input::Bytes(b) => {
                    let from = usize::try_from(pos).unwrap_or(b.len()).min(b.len());
                    &b[from..from.saturating_add(ZSTD_STEP).min(b.len())]
                }
                Input::File { .. } => input.chunk(pos, &mut buf).map_err(|e| Error::io(path, e))?,
            };
        }
        out.grow(path, ZSTD_FUNC, "zstd")?;
        let before_out = out.buf.len();
        let mut inbuf = zstd_safe::InBuffer::around(step);
        let hint = {
            let mut outbuf = zstd_safe::OutBuffer::around_pos(out.buf, before_out);
            let r = dec.decompress_stream(&mut outbuf, &mut inbuf);
            r.map_err(|code| fail(zstd_safe::get_error_name(code)))?
        };
        let used = inbuf.pos();
        step = &step[used..];
        pos += used as u64;
        if hint == 0 && step.is_empty() && pos >= size {
            break;
        }
        if used == 0 && out.buf.len() == before_out && out.buf.len() < out.buf.capacity() {
            return Err(fail("Src size is incorrect"));
        }
        // kmod's answer for a stream without a size, once it is clear that it is
        // not a compressed module (far more input than output: zero padding)
        if pos > out.total().saturating_add(ZSTD_SLACK) {
            return Err(fail("Failed to determine decompression size"));
        }
    }
    if out.total() > out.limit {
        return Err(too_big(path, ZSTD_FUNC, "zstd", out.limit));
    }
    Ok(())
}

#[cfg(not(feature = "zstd"))]
fn zstd(path: &Path, _input: Input<'_>, _out: &mut Output<'_>) -> Result<(), Error> {
    Err(not_built(path, ZSTD_FUNC, "zstd"))
}

const GZIP_FUNC: &str = "kmod_file_load_zlib";

/// An [`Input`] read through a buffer, for the gzip decoder.
#[cfg(feature = "gzip")]
struct InputReader<'a> {
    input: Input<'a>,
    /// Offset of `buf[0]` in the input (of the next byte, for in-memory input).
    off: u64,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
}

#[cfg(feature = "gzip")]
impl<'a> InputReader<'a> {
    fn new(input: Input<'a>) -> Self {
        let buf = match input {
            Input::Bytes(_) => Vec::new(),
            Input::File { .. } => vec![0; 64 << 10],
        };
        InputReader {
            input,
            off: 0,
            buf,
            pos: 0,
            filled: 0,
        }
    }

    /// Whether the unread input starts with a gzip member's magic.
    fn at_gzip_magic(&mut self) -> std::io::Result<bool> {
        const MAGIC: [u8; 2] = [0x1F, 0x8B];
        if let Input::Bytes(b) = self.input {
            let from = usize::try_from(self.off).unwrap_or(b.len()).min(b.len());
            return Ok(b[from..].starts_with(&MAGIC));
        }
        if self.filled - self.pos < MAGIC.len() {
            // keep the unread bytes, read more after them
            self.buf.copy_within(self.pos..self.filled, 0);
            self.off += self.pos as u64;
            self.filled -= self.pos;
            self.pos = 0;
            let more = self
                .input
                .read_at(self.off + self.filled as u64, &mut self.buf[self.filled..])?;
            self.filled += more;
        }
        Ok(self.buf[self.pos..self.filled].starts_with(&MAGIC))
    }
}

#[cfg(feature = "gzip")]
impl std::io::Read for InputReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead;
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(out.len());
            out[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

#[cfg(feature = "gzip")]
impl std::io::BufRead for InputReader<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if let Input::Bytes(b) = self.input {
            let from = usize::try_from(self.off).unwrap_or(b.len()).min(b.len());
            return Ok(&b[from..]);
        }
        if self.pos == self.filled {
            self.off += self.filled as u64;
            self.pos = 0;
            self.filled = self.input.read_at(self.off, &mut self.buf)?;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, n: usize) {
        match self.input {
            Input::Bytes(_) => self.off += n as u64,
            Input::File { .. } => self.pos = (self.pos + n).min(self.filled),
        }
    }
}

#[cfg(feature = "gzip")]
fn gzip(path: &Path, input: Input<'_>, out: &mut Output<'_>) -> Result<(), Error> {
    use std::io::Read;
    let fail = |e: std::io::Error| {
        let message = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "unexpected end of file".to_string()
        } else {
            e.to_string()
        };
        Error::Decompress {
            path: path.to_path_buf(),
            origin: GZIP_FUNC,
            message: format!("gzip: {message}"),
            errno: Errno::from_raw(errno::EINVAL),
        }
    };
    out.start(path, input.size().saturating_mul(4))?;
    let mut src = InputReader::new(input);
    loop {
        let mut member = flate2::bufread::GzDecoder::new(&mut src);
        loop {
            if out.buf.len() == out.buf.capacity() && out.total() >= out.limit {
                // full: the member must end here
                let mut probe = [0u8; 1];
                if member.read(&mut probe).map_err(fail)? == 0 {
                    break;
                }
                return Err(too_big(path, GZIP_FUNC, "gzip", out.limit));
            }
            out.grow(path, GZIP_FUNC, "gzip")?;
            let room = (out.buf.capacity() - out.buf.len()) as u64;
            let got = (&mut member)
                .take(room)
                .read_to_end(out.buf)
                .map_err(fail)? as u64;
            if got < room {
                break;
            }
        }
        drop(member);
        // zlib's gzread (kmod's reader when built with zlib) reads further gzip
        // members, and ignores whatever else follows a member (gz_look: "trailing
        // garbage"), such as zero padding
        if !src.at_gzip_magic().map_err(fail)? {
            break;
        }
    }
    if out.total() > out.limit {
        return Err(too_big(path, GZIP_FUNC, "gzip", out.limit));
    }
    Ok(())
}

#[cfg(not(feature = "gzip"))]
fn gzip(path: &Path, _input: Input<'_>, _out: &mut Output<'_>) -> Result<(), Error> {
    Err(not_built(path, GZIP_FUNC, "gzip"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(
        not(any(feature = "xz", feature = "zstd", feature = "gzip")),
        allow(dead_code)
    )]
    fn msg(e: &Error) -> String {
        e.logged().unwrap().text().into_owned()
    }

    #[test]
    fn detect() {
        assert_eq!(
            Compression::detect(&[0x28, 0xB5, 0x2F, 0xFD, 0, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"\xFD7zXZ\0"), Compression::Xz);
        assert_eq!(Compression::detect(b"\x1F\x8Bxxxx"), Compression::Gzip);
        assert_eq!(Compression::detect(b"\x7FELF\x02\x01"), Compression::None);
    }

    #[cfg(feature = "xz")]
    #[test]
    fn xz_roundtrip_truncated_and_bomb() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut enc = Vec::new();
        {
            use std::io::Write;
            let mut w = liblzma::write::XzEncoder::new(&mut enc, 6);
            w.write_all(&data).unwrap();
            w.finish().unwrap();
        }
        let p = Path::new("x.ko.xz");
        assert_eq!(
            decompress(p, Compression::Xz, &enc, DEFAULT_LIMIT).unwrap(),
            data
        );
        let e = decompress(p, Compression::Xz, &enc[..enc.len() / 2], DEFAULT_LIMIT).unwrap_err();
        assert_eq!(msg(&e), "xz: Unexpected end of input");
        let mut bad = enc.clone();
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        assert!(decompress(p, Compression::Xz, &bad, DEFAULT_LIMIT).is_err());
        let e = decompress(p, Compression::Xz, &enc, 1000).unwrap_err();
        assert_eq!(e.errno().raw(), errno::EFBIG);
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_sized_streamed_truncated_and_bomb() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 13) as u8).collect();
        let sized = zstd::bulk::compress(&data, 3).unwrap();
        let p = Path::new("x.ko.zst");
        assert_eq!(
            decompress(p, Compression::Zstd, &sized, DEFAULT_LIMIT).unwrap(),
            data
        );
        // streamed: no content size in the frame
        let mut streamed = Vec::new();
        {
            use std::io::Write;
            let mut enc = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
            enc.include_contentsize(false).unwrap();
            enc.write_all(&data).unwrap();
            enc.finish().unwrap();
        }
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(),
            None
        );
        assert_eq!(
            decompress(p, Compression::Zstd, &streamed, DEFAULT_LIMIT).unwrap(),
            data
        );
        let e = decompress(
            p,
            Compression::Zstd,
            &sized[..sized.len() - 5],
            DEFAULT_LIMIT,
        )
        .unwrap_err();
        assert!(msg(&e).starts_with("zstd: "), "{}", msg(&e));
        let e = decompress(p, Compression::Zstd, &sized, 1000).unwrap_err();
        assert_eq!(e.errno().raw(), errno::EFBIG);
        let e = decompress(p, Compression::Zstd, &streamed, 1000).unwrap_err();
        assert_eq!(e.errno().raw(), errno::EFBIG);
        let e = decompress(
            p,
            Compression::Zstd,
            &streamed[..streamed.len() / 2],
            DEFAULT_LIMIT,
        )
        .unwrap_err();
        assert!(msg(&e).starts_with("zstd: "));
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_roundtrip_truncated_and_bomb() {
        use std::io::Write;
        let data = vec![7u8; 200_000];
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&data).unwrap();
        let gz = enc.finish().unwrap();
        let p = Path::new("x.ko.gz");
        assert_eq!(
            decompress(p, Compression::Gzip, &gz, DEFAULT_LIMIT).unwrap(),
            data
        );
        let e = decompress(p, Compression::Gzip, &gz[..gz.len() - 10], DEFAULT_LIMIT).unwrap_err();
        assert_eq!(msg(&e), "gzip: unexpected end of file");
        let e = decompress(p, Compression::Gzip, &gz, 1000).unwrap_err();
        assert_eq!(e.errno().raw(), errno::EFBIG);
    }

    /// zlib's gzread (kmod's reader when built with zlib) reads concatenated
    /// members and ignores whatever else follows one ("trailing garbage").
    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_trailing_garbage_is_ignored_like_zlib() {
        use std::io::Write;
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let p = Path::new("x.ko.gz");
        let mut input = gz(b"first ");
        input.extend_from_slice(&gz(b"second"));
        for tail in [&[0u8; 4096][..], b"garbage", &[0x1F], &[]] {
            let mut padded = input.clone();
            padded.extend_from_slice(tail);
            assert_eq!(
                decompress(p, Compression::Gzip, &padded, DEFAULT_LIMIT).unwrap(),
                b"first second"
            );
        }
        // a member after the first is read whole or not at all
        let mut cut = input.clone();
        cut.truncate(cut.len() - 3);
        assert!(decompress(p, Compression::Gzip, &cut, DEFAULT_LIMIT).is_err());
        // exactly at the limit is fine, one byte more is not
        assert_eq!(
            decompress(p, Compression::Gzip, &input, 12).unwrap(),
            b"first second"
        );
        let e = decompress(p, Compression::Gzip, &input, 11).unwrap_err();
        assert_eq!(e.errno().raw(), errno::EFBIG);
    }

    /// The same answers reading a file as the decoder goes as from memory.
    #[test]
    #[cfg(any(feature = "xz", feature = "gzip", feature = "zstd"))]
    fn file_input_gives_what_memory_input_gives() {
        use std::io::Write;
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let mut inputs: Vec<(Compression, Vec<u8>)> = Vec::new();
        #[cfg(feature = "xz")]
        {
            let mut w = liblzma::write::XzEncoder::new(Vec::new(), 6);
            w.write_all(&data).unwrap();
            inputs.push((Compression::Xz, w.finish().unwrap()));
        }
        #[cfg(feature = "gzip")]
        {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&data).unwrap();
            let mut gz = e.finish().unwrap();
            gz.extend_from_slice(&[0; 100]);
            inputs.push((Compression::Gzip, gz));
        }
        #[cfg(feature = "zstd")]
        {
            let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            enc.include_contentsize(false).unwrap();
            enc.write_all(&data).unwrap();
            inputs.push((Compression::Zstd, enc.finish().unwrap()));
        }
        let dir = std::env::temp_dir().join(format!("kmodrs-cinput-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        for (c, bytes) in inputs {
            for cut in [bytes.len(), bytes.len() - 7, bytes.len() / 2, 9] {
                let input = &bytes[..cut];
                std::fs::write(&p, input).unwrap();
                let file = std::fs::File::open(&p).unwrap();
                let from_file = Input::File {
                    file: &file,
                    start: 0,
                    end: input.len() as u64,
                };
                let mut a = Vec::new();
                let mut b = Vec::new();
                let ra = decompress_input(
                    &p,
                    c,
                    Input::Bytes(input),
                    &mut Output::new(&mut a, 1 << 20),
                );
                let rb = decompress_input(&p, c, from_file, &mut Output::new(&mut b, 1 << 20));
                match (ra, rb) {
                    (Ok(()), Ok(())) => assert_eq!(a, b),
                    (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string(), "{c:?} {cut}"),
                    (x, y) => panic!("{c:?} {cut}: {x:?} vs {y:?}"),
                }
                if cut == bytes.len() {
                    assert_eq!(a, data, "{c:?}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A zstd stream without a size that is only padding gets kmod's answer for a
    /// frame without a size, after reading about 1 MiB of it (not all of it).
    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_stream_of_padding_is_refused_early() {
        let mut input = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 7 << 3];
        input.resize(64 << 20, 0);
        let e = decompress(Path::new("z"), Compression::Zstd, &input, DEFAULT_LIMIT).unwrap_err();
        assert_eq!(msg(&e), "zstd: Failed to determine decompression size");
    }

    /// An output that cannot be allocated is an error for that file (ENOMEM),
    /// never an abort; a reservation is never a multiple of the input's size.
    #[test]
    fn output_reservations_are_bounded() {
        let mut buf = Vec::new();
        let mut out = Output::new(&mut buf, DEFAULT_LIMIT);
        out.start(Path::new("f"), u64::MAX).unwrap();
        assert!(buf.capacity() as u64 <= FIRST_RESERVATION);
        let mut buf = Vec::new();
        let mut out = Output::new(&mut buf, u64::MAX);
        let e = out.reserve(Path::new("f"), usize::MAX).unwrap_err();
        assert_eq!(e.errno().raw(), errno::ENOMEM);
    }
}
