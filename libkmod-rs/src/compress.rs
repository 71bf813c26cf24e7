//! Whole-file decompression of compressed modules.
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
//! decompression bomb is an error, not an out-of-memory kill.
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
    #[cfg(any(test, feature = "fake-kernel"))]
    #[must_use]
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

/// Decompress a whole file image of the given compression, with a size cap.
pub(crate) fn decompress(
    path: &Path,
    compression: Compression,
    input: &[u8],
    limit: u64,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decompress_into(path, compression, input, limit, &mut out)?;
    Ok(out)
}

/// [`decompress`] into `out` (cleared first; its capacity is reused, which saves
/// a fresh allocation and its page faults per file when reading many modules).
pub(crate) fn decompress_into(
    path: &Path,
    compression: Compression,
    input: &[u8],
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    out.clear();
    match compression {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Xz => xz(path, input, limit, out),
        Compression::Zstd => zstd(path, input, limit, out),
        Compression::Gzip => gzip(path, input, limit, out),
    }
}

const XZ_FUNC: &str = "xz_uncompress_belch";

/// kmod reads compressed files in `BUFSIZ` chunks.
#[cfg(feature = "xz")]
const CHUNK: usize = 8192;

#[cfg(feature = "xz")]
fn xz(path: &Path, input: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), Error> {
    let mut fed = 0usize;
    xz_inner(path, input, limit, &mut fed, out)
}

/// The errors kmod reports when it retries reading a broken xz file: it reads the
/// same file descriptor again without seeking back, so each retry starts where the
/// previous attempt stopped reading (often at end of file: `Unexpected end of
/// input`). Returns the errors of `retries` further attempts (none if it decodes).
#[cfg(feature = "xz")]
#[must_use]
pub(crate) fn xz_retry_errors(path: &Path, input: &[u8], retries: usize) -> Vec<Error> {
    let mut out = Vec::new();
    let mut off = 0usize;
    for attempt in 0..=retries {
        let (r, fed) = xz_reading(path, &input[off.min(input.len())..], DEFAULT_LIMIT);
        match r {
            Err(e) if attempt > 0 => out.push(e),
            Err(_) => {}
            Ok(_) => break,
        }
        off = off.saturating_add(fed);
    }
    out
}

/// xz decoding as kmod reads the file; also returns how many input bytes were read.
#[cfg(feature = "xz")]
fn xz_reading(path: &Path, input: &[u8], limit: u64) -> (Result<Vec<u8>, Error>, usize) {
    let mut fed = 0usize;
    let mut out = Vec::new();
    let r = xz_inner(path, input, limit, &mut fed, &mut out);
    (r.map(|()| out), fed)
}

#[cfg(feature = "xz")]
fn xz_inner(
    path: &Path,
    input: &[u8],
    limit: u64,
    fed: &mut usize,
    out: &mut Vec<u8>,
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
    out.clear();
    out.reserve(input.len().saturating_mul(4).max(4096));
    // Feed the input as kmod does (BUFSIZ reads with LZMA_RUN, then LZMA_FINISH with
    // no input at end of file): liblzma reports truncation differently otherwise.
    let mut chunk: &[u8] = &[];
    let mut finishing = false;
    loop {
        if chunk.is_empty() && !finishing {
            let end = (*fed + CHUNK).min(input.len());
            chunk = &input[*fed..end];
            *fed = end;
            finishing = chunk.is_empty();
        }
        let action = if finishing {
            Action::Finish
        } else {
            Action::Run
        };
        if out.len() == out.capacity() {
            if out.len() as u64 >= limit {
                return Err(too_big(path, XZ_FUNC, "xz", limit));
            }
            let grow = out.len().max(4096).min((limit - out.len() as u64) as usize);
            out.reserve_exact(grow);
        }
        let before = stream.total_in();
        let status = stream.process_vec(chunk, out, action);
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
    if out.len() as u64 > limit {
        return Err(too_big(path, XZ_FUNC, "xz", limit));
    }
    Ok(())
}

#[cfg(not(feature = "xz"))]
fn xz(path: &Path, _input: &[u8], _limit: u64, _out: &mut Vec<u8>) -> Result<(), Error> {
    Err(not_built(path, XZ_FUNC, "xz"))
}

const ZSTD_FUNC: &str = "kmod_file_load_zstd";

#[cfg(feature = "zstd")]
thread_local! {
    static ZSTD_DCTX: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> =
        std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
}

#[cfg(feature = "zstd")]
fn zstd(path: &Path, input: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), Error> {
    use zstd::zstd_safe;
    let fail = |message: &str| Error::Decompress {
        path: path.to_path_buf(),
        origin: ZSTD_FUNC,
        message: format!("zstd: {message}"),
        errno: Errno::from_raw(errno::EINVAL),
    };
    match zstd_safe::get_frame_content_size(input) {
        Ok(Some(0)) | Err(_) => Err(fail("Failed to determine decompression size")),
        Ok(Some(size)) => {
            if size > limit {
                return Err(too_big(path, ZSTD_FUNC, "zstd", limit));
            }
            out.clear();
            out.try_reserve_exact(size as usize)
                .map_err(|_| fail(&crate::error::strerror(errno::ENOMEM)))?;
            // one decompression context per thread, reused (creating one per file
            // was ~7% of depmod's time on a zstd tree)
            let r = ZSTD_DCTX.with(|d| d.borrow_mut().decompress(out, input));
            match r {
                Ok(_) => Ok(()),
                Err(code) => Err(fail(zstd_safe::get_error_name(code))),
            }
        }
        Ok(None) => {
            // Beyond kmod: no content size in the frame header, decode as a stream.
            let mut dec = zstd_safe::DCtx::create();
            out.clear();
            out.reserve(input.len().saturating_mul(4).max(4096));
            let mut inbuf = zstd_safe::InBuffer::around(input);
            loop {
                if out.len() == out.capacity() {
                    if out.len() as u64 >= limit {
                        return Err(too_big(path, ZSTD_FUNC, "zstd", limit));
                    }
                    let grow = out.len().max(4096).min((limit - out.len() as u64) as usize);
                    out.reserve_exact(grow);
                }
                let before_in = inbuf.pos();
                let before_out = out.len();
                let hint = {
                    let mut outbuf = zstd_safe::OutBuffer::around_pos(out, before_out);
                    let r = dec.decompress_stream(&mut outbuf, &mut inbuf);
                    r.map_err(|code| fail(zstd_safe::get_error_name(code)))?
                };
                if hint == 0 && inbuf.pos() == input.len() {
                    break;
                }
                if inbuf.pos() == before_in && out.len() == before_out && out.len() < out.capacity()
                {
                    return Err(fail("Src size is incorrect"));
                }
            }
            if out.len() as u64 > limit {
                return Err(too_big(path, ZSTD_FUNC, "zstd", limit));
            }
            Ok(())
        }
    }
}

#[cfg(not(feature = "zstd"))]
fn zstd(path: &Path, _input: &[u8], _limit: u64, _out: &mut Vec<u8>) -> Result<(), Error> {
    Err(not_built(path, ZSTD_FUNC, "zstd"))
}

const GZIP_FUNC: &str = "kmod_file_load_zlib";

#[cfg(feature = "gzip")]
fn gzip(path: &Path, input: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), Error> {
    use std::io::Read;
    out.clear();
    let dec = flate2::read::MultiGzDecoder::new(input);
    match dec.take(limit.saturating_add(1)).read_to_end(out) {
        Ok(_) if out.len() as u64 > limit => Err(too_big(path, GZIP_FUNC, "gzip", limit)),
        Ok(_) => Ok(()),
        Err(e) => {
            let message = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "unexpected end of file".to_string()
            } else {
                e.to_string()
            };
            Err(Error::Decompress {
                path: path.to_path_buf(),
                origin: GZIP_FUNC,
                message: format!("gzip: {message}"),
                errno: Errno::from_raw(errno::EINVAL),
            })
        }
    }
}

#[cfg(not(feature = "gzip"))]
fn gzip(path: &Path, _input: &[u8], _limit: u64, _out: &mut Vec<u8>) -> Result<(), Error> {
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
}
