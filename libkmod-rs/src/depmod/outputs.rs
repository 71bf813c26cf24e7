//! The one table of depmod's output files, in the order kmod writes them, and the
//! atomic writer.
//!
//! | file | content |
//! |---|---|
//! | `modules.dep` | `<path>:` then ` <dep>` per dependency (transitive, topological order) |
//! | `modules.dep.bin` | index: module name → the `modules.dep` line, priority = array index |
//! | `modules.alias` | `alias <raw alias> <module>` |
//! | `modules.alias.bin` | normalised alias → module |
//! | `modules.softdep` | `softdep <module> <raw value>` |
//! | `modules.weakdep` | `weakdep <module> <raw value>` |
//! | `modules.symbols` | `alias symbol:<name> <owner>` in kmod's hash order |
//! | `modules.symbols.bin` | `symbol:<name>` → owner |
//! | `modules.builtin.bin` | from `modules.builtin` (0 bytes if that is missing) |
//! | `modules.builtin.alias.bin` | from `modules.builtin.modinfo` (0 bytes if missing) |
//! | `modules.devname` | `<module> <devname> <c or b><major>:<minor>` |
//!
//! Each file is written to `<name>.<pid>.<usec>.<sec>` in the output directory
//! (created `O_EXCL`, mode 0644), flushed, then renamed over the final name, so a
//! reader sees either the old file or the complete new one, never a partial file.
//! A file that already holds exactly the new contents is left alone (no temporary
//! file, same inode, same modification time).

use super::build::Depmod;
use super::cache::OutputRecord;
use super::config::{Diagnostic, Level, msg};
use crate::index::IndexBuilder;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Why writing an output failed.
#[derive(Debug)]
pub(crate) enum OutputError {
    /// An I/O error.
    Io(io::Error),
    /// A fatal condition with kmod's CRIT message (e.g. a non-ASCII index key; bytes,
    /// since kmod prints the offending byte raw).
    Fatal(Vec<u8>),
}

impl From<crate::Error> for OutputError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Fatal { message } => OutputError::Fatal(message),
            e => OutputError::Fatal(format!("{e}\n").into_bytes()),
        }
    }
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        OutputError::Io(e)
    }
}

/// One output rendered in memory, with the messages its writer produced and (when
/// asked for) the digest of its contents.
type Rendered = (
    Result<Vec<u8>, OutputError>,
    Vec<Diagnostic>,
    Option<[u64; 2]>,
);

/// Render output `o`; with `digest`, the digest of its contents too.
fn render(d: &Depmod, o: &Output, digest: bool) -> Rendered {
    let mut buf = Vec::new();
    let mut olog = Vec::new();
    let r = (o.write)(d, &mut buf, &mut olog).map(|()| buf);
    let dg = match &r {
        Ok(b) if digest => Some(super::cache::digest(b)),
        _ => None,
    };
    (r, olog, dg)
}

/// Whether the file at `path` holds exactly `bytes`.
fn same_content(path: &Path, bytes: &[u8]) -> bool {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    match f.metadata() {
        Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {}
        _ => return false,
    }
    let mut cur = Vec::with_capacity(bytes.len());
    // one byte more than expected: a file that grew meanwhile differs
    f.take(bytes.len() as u64 + 1)
        .read_to_end(&mut cur)
        .is_ok_and(|_| cur == bytes)
}

type WriteFn = fn(&Depmod, &mut Vec<u8>, &mut Vec<Diagnostic>) -> Result<(), OutputError>;

/// One output file.
pub(crate) struct Output {
    /// File name.
    pub(crate) name: &'static str,
    /// Binary index (skipped by `depmod -n`).
    pub(crate) binary: bool,
    /// Its writer.
    pub(crate) write: WriteFn,
}

/// Every output, in kmod's order.
pub(crate) const OUTPUTS: &[Output] = &[
    Output {
        name: "modules.dep",
        binary: false,
        write: deps,
    },
    Output {
        name: "modules.dep.bin",
        binary: true,
        write: deps_bin,
    },
    Output {
        name: "modules.alias",
        binary: false,
        write: aliases,
    },
    Output {
        name: "modules.alias.bin",
        binary: true,
        write: aliases_bin,
    },
    Output {
        name: "modules.softdep",
        binary: false,
        write: softdeps,
    },
    Output {
        name: "modules.weakdep",
        binary: false,
        write: weakdeps,
    },
    Output {
        name: "modules.symbols",
        binary: false,
        write: symbols,
    },
    Output {
        name: "modules.symbols.bin",
        binary: true,
        write: symbols_bin,
    },
    Output {
        name: "modules.builtin.bin",
        binary: true,
        write: builtin_bin,
    },
    Output {
        name: "modules.builtin.alias.bin",
        binary: true,
        write: builtin_alias_bin,
    },
    Output {
        name: "modules.devname",
        binary: false,
        write: devname,
    },
];

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn deps(d: &Depmod, out: &mut Vec<u8>, _: &mut Vec<Diagnostic>) -> Result<(), OutputError> {
    for line in d.dep_lines() {
        out.write_all(line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn insert(
    idx: &mut IndexBuilder,
    key: &[u8],
    value: &[u8],
    prio: u32,
) -> Result<bool, OutputError> {
    for s in [key, value] {
        if let Some(c) = crate::index::first_non_ascii(s) {
            let mut m = b"Module index: bad character '".to_vec();
            m.push(c);
            m.extend_from_slice(format!("'=0x{c:x} - only 7-bit ASCII is supported:\n").as_bytes());
            m.extend_from_slice(s);
            m.push(b'\n');
            return Err(OutputError::Fatal(m));
        }
    }
    idx.insert(key, value, prio).map_err(OutputError::from)
}

fn finish(idx: &IndexBuilder, out: &mut Vec<u8>) -> Result<(), OutputError> {
    let bytes = idx.to_bytes()?;
    if out.is_empty() {
        *out = bytes;
    } else {
        out.write_all(&bytes)?;
    }
    Ok(())
}

/// A builder for an index whose duplicate pairs depmod reports (with `-w`
/// only: the check costs a hash of every pair).
fn checked_index(d: &Depmod) -> IndexBuilder {
    IndexBuilder::with_duplicate_check(d.opts.warn_dups)
}

fn prio(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn deps_bin(d: &Depmod, out: &mut Vec<u8>, log: &mut Vec<Diagnostic>) -> Result<(), OutputError> {
    let mut idx = checked_index(d);
    for (i, (m, line)) in d.mods.iter().zip(d.dep_lines()).enumerate() {
        if insert(&mut idx, &m.name, line, prio(i))? {
            log.push(msg(
                Level::Warning,
                format!("duplicate module deps:\n{}\n", lossy(line)),
            ));
        }
    }
    finish(&idx, out)
}

fn aliases(d: &Depmod, out: &mut Vec<u8>, _: &mut Vec<Diagnostic>) -> Result<(), OutputError> {
    out.write_all(b"# Aliases extracted from modules themselves.\n")?;
    for m in &d.mods {
        for a in &m.aliases {
            out.extend_from_slice(b"alias ");
            out.extend_from_slice(a);
            out.push(b' ');
            out.extend_from_slice(&m.name);
            out.push(b'\n');
        }
    }
    Ok(())
}

fn aliases_bin(
    d: &Depmod,
    out: &mut Vec<u8>,
    log: &mut Vec<Diagnostic>,
) -> Result<(), OutputError> {
    let mut idx = checked_index(d);
    for (i, m) in d.mods.iter().enumerate() {
        for a in &m.aliases {
            let Some(alias) = crate::name::alias_normalize(a) else {
                log.push(msg(
                    Level::Warning,
                    format!("Unmatched bracket in {}\n", lossy(a)),
                ));
                continue;
            };
            if insert(&mut idx, &alias, &m.name, prio(i))? {
                log.push(msg(
                    Level::Warning,
                    format!(
                        "duplicate module alias:\n{} {}\n",
                        lossy(&alias),
                        lossy(&m.name)
                    ),
                ));
            }
        }
    }
    finish(&idx, out)
}

fn dep_list(
    d: &Depmod,
    out: &mut Vec<u8>,
    header: &[u8],
    word: &[u8],
    pick: fn(&super::build::Mod) -> &Vec<Vec<u8>>,
) -> Result<(), OutputError> {
    out.write_all(header)?;
    for m in &d.mods {
        for v in pick(m) {
            out.extend_from_slice(word);
            out.push(b' ');
            out.extend_from_slice(&m.name);
            out.push(b' ');
            out.extend_from_slice(v);
            out.push(b'\n');
        }
    }
    Ok(())
}

fn softdeps(d: &Depmod, out: &mut Vec<u8>, _: &mut Vec<Diagnostic>) -> Result<(), OutputError> {
    dep_list(
        d,
        out,
        b"# Soft dependencies extracted from modules themselves.\n",
        b"softdep",
        |m| &m.softdeps,
    )
}

fn weakdeps(d: &Depmod, out: &mut Vec<u8>, _: &mut Vec<Diagnostic>) -> Result<(), OutputError> {
    dep_list(
        d,
        out,
        b"# Weak dependencies extracted from modules themselves.\n",
        b"weakdep",
        |m| &m.weakdeps,
    )
}

fn symbols(d: &Depmod, out: &mut Vec<u8>, _: &mut Vec<Diagnostic>) -> Result<(), OutputError> {
    out.write_all(b"# Aliases for symbols, used by symbol_request().\n")?;
    for (name, owner) in d.owned_symbols() {
        out.extend_from_slice(b"alias symbol:");
        out.extend_from_slice(name);
        out.push(b' ');
        out.extend_from_slice(&d.mods[owner].name);
        out.push(b'\n');
    }
    Ok(())
}

fn symbols_bin(
    d: &Depmod,
    out: &mut Vec<u8>,
    log: &mut Vec<Diagnostic>,
) -> Result<(), OutputError> {
    let mut idx = checked_index(d);
    let mut key = b"symbol:".to_vec();
    for (name, owner) in d.owned_symbols() {
        key.truncate(7);
        key.extend_from_slice(name);
        let oname = &d.mods[owner].name;
        if insert(&mut idx, &key, oname, prio(owner))? {
            log.push(msg(
                Level::Warning,
                format!("duplicate module syms:\n{} {}\n", lossy(&key), lossy(oname)),
            ));
        }
    }
    finish(&idx, out)
}

/// Read `<dirname>/<file>`, or log kmod's warning and return None (→ 0-byte output).
fn read_input(d: &Depmod, file: &str, log: &mut Vec<Diagnostic>) -> Option<Vec<u8>> {
    let dir = Path::new(std::ffi::OsStr::from_bytes(&d.opts.dirname));
    match std::fs::read(dir.join(file)) {
        Ok(v) => Some(v),
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(2);
            log.push(msg(
                Level::Warning,
                format!(
                    "could not open {file} at {}: {}\n",
                    lossy(&d.opts.dirname),
                    crate::error::strerror(errno)
                ),
            ));
            None
        }
    }
}

fn builtin_bin(
    d: &Depmod,
    out: &mut Vec<u8>,
    log: &mut Vec<Diagnostic>,
) -> Result<(), OutputError> {
    let Some(data) = read_input(d, "modules.builtin", log) else {
        return Ok(());
    };
    let mut idx = IndexBuilder::with_duplicate_check(false);
    for line in data.split_inclusive(|&c| c == b'\n') {
        if !line.first().is_some_and(u8::is_ascii_alphabetic) {
            log.push(msg(
                Level::Err,
                format!("Invalid modules.builtin line: {}\n", lossy(line)),
            ));
            continue;
        }
        let name = crate::name::path_to_modname(line).unwrap_or_default();
        insert(&mut idx, &name, b"", 0)?;
    }
    finish(&idx, out)
}

/// kmod's `flush_stream_to`: read up to `end`; the text if `end` was found, else
/// empty (stopping at NUL or EOF).
fn read_to<'a>(data: &'a [u8], pos: &mut usize, end: u8) -> &'a [u8] {
    let start = *pos;
    while *pos < data.len() {
        let c = data[*pos];
        *pos += 1;
        if c == end {
            return &data[start..*pos - 1];
        }
        if c == 0 {
            return &[];
        }
    }
    &[]
}

fn builtin_alias_bin(
    d: &Depmod,
    out: &mut Vec<u8>,
    log: &mut Vec<Diagnostic>,
) -> Result<(), OutputError> {
    let Some(data) = read_input(d, "modules.builtin.modinfo", log) else {
        return Ok(());
    };
    let mut idx = IndexBuilder::with_duplicate_check(false);
    let mut pos = 0;
    while pos < data.len() {
        let modname = read_to(&data, &mut pos, b'.');
        if modname.is_empty() {
            continue;
        }
        let key = read_to(&data, &mut pos, b'=');
        if key != b"alias" {
            let _ = read_to(&data, &mut pos, 0);
            continue;
        }
        let value = read_to(&data, &mut pos, 0);
        if value.is_empty() {
            continue;
        }
        let Some(alias) = crate::name::alias_normalize(value) else {
            log.push(msg(
                Level::Warning,
                format!("Unmatched bracket in {}\n", lossy(value)),
            ));
            continue;
        };
        insert(&mut idx, &alias, modname, 0)?;
    }
    finish(&idx, out)
}

/// `sscanf(s, "<prefix>%u-%u")` == 2.
fn major_minor(s: &[u8], prefix: &[u8]) -> Option<(u32, u32)> {
    fn num(s: &[u8], pos: &mut usize) -> Option<u32> {
        while *pos < s.len() && s[*pos].is_ascii_whitespace() {
            *pos += 1;
        }
        let neg = match s.get(*pos) {
            Some(b'-') => {
                *pos += 1;
                true
            }
            Some(b'+') => {
                *pos += 1;
                false
            }
            _ => false,
        };
        let start = *pos;
        let mut v: u64 = 0;
        while *pos < s.len() && s[*pos].is_ascii_digit() {
            v = v
                .saturating_mul(10)
                .saturating_add(u64::from(s[*pos] - b'0'));
            *pos += 1;
        }
        if *pos == start {
            return None;
        }
        let v = u32::try_from(v).unwrap_or(u32::MAX);
        Some(if neg { v.wrapping_neg() } else { v })
    }
    let rest = s.strip_prefix(prefix)?;
    let mut pos = 0;
    let a = num(rest, &mut pos)?;
    if rest.get(pos) != Some(&b'-') {
        return None;
    }
    pos += 1;
    let b = num(rest, &mut pos)?;
    Some((a, b))
}

fn devname(d: &Depmod, out: &mut Vec<u8>, log: &mut Vec<Diagnostic>) -> Result<(), OutputError> {
    let mut empty = true;
    for m in &d.mods {
        let mut devname: Option<&[u8]> = None;
        let mut dev: Option<(u8, u32, u32)> = None;
        for a in &m.aliases {
            if let Some(n) = a.strip_prefix(b"devname:") {
                devname = Some(n);
            } else if let Some((ma, mi)) = major_minor(a, b"char-major-") {
                dev = Some((b'c', ma, mi));
            } else if let Some((ma, mi)) = major_minor(a, b"block-major-") {
                dev = Some((b'b', ma, mi));
            }
            if dev.is_some() && devname.is_some() {
                break;
            }
        }
        let Some(name) = devname else { continue };
        match dev {
            Some((t, ma, mi)) => {
                if empty {
                    out.write_all(b"# Device nodes to trigger on-demand module loading.\n")?;
                    empty = false;
                }
                let mut line = m.name.clone();
                line.push(b' ');
                line.extend_from_slice(name);
                line.push(b' ');
                line.push(t);
                line.extend_from_slice(format!("{ma}:{mi}\n").as_bytes());
                out.write_all(&line)?;
            }
            None => log.push(msg(
                Level::Err,
                format!(
                    "Module '{}' has devname ({}) but lacks major and minor information. Ignoring.\n",
                    lossy(&m.name),
                    lossy(name)
                ),
            )),
        }
    }
    Ok(())
}

/// `depmod -n`: the text outputs, concatenated, to `out`.
pub(crate) fn write_stdout(
    d: &Depmod,
    out: &mut dyn Write,
    log: &mut Vec<Diagnostic>,
) -> Result<(), OutputError> {
    for o in OUTPUTS.iter().filter(|o| !o.binary) {
        let mut buf = Vec::new();
        (o.write)(d, &mut buf, log)?;
        out.write_all(&buf)?;
    }
    Ok(())
}

/// The suffix of temporary files: `.<pid>.<usec>.<sec>`, as kmod 34.2 names them.
pub(crate) fn temp_suffix() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        ".{}.{}.{}",
        std::process::id(),
        now.subsec_micros(),
        now.as_secs()
    )
}

/// Write every output atomically into `outdir` (created with mode 0755 if missing).
/// Messages are appended to `log`; a fatal one is returned as the error text. An
/// output whose temporary file cannot be created is skipped as kmod skips it (an
/// error message, then the next output), but then the result is an error with an
/// empty text: unlike kmod 34.2, which exits 0 when it wrote nothing at all (a
/// read-only file system), depmod must not report success for an index it left
/// stale.
pub(crate) fn write_files(
    d: &Depmod,
    outdir: &Path,
    log: &mut Vec<Diagnostic>,
    records: Option<&mut Vec<OutputRecord>>,
) -> Result<(), Vec<u8>> {
    use std::os::unix::fs::DirBuilderExt;
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(outdir)
    {
        return Err(format!(
            "could not create directory {}: {}\n",
            outdir.display(),
            crate::error::strerror(e.raw_os_error().unwrap_or(5))
        )
        .into_bytes());
    }
    let suffix = temp_suffix();
    // Render every file in parallel; a writer thread writes and renames them in
    // the table's order as they become ready (so the renames, which free the old
    // files' blocks, overlap the rendering), stopping at the first fatal error
    // exactly as writing them one after the other would.
    let want_records = records.is_some();
    let start = d.start;
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Rendered)>();
    std::thread::scope(|s| {
        let writer = s.spawn(move || {
            let mut wlog = Vec::new();
            let mut recs = Vec::new();
            let mut ready: Vec<Option<Rendered>> = OUTPUTS.iter().map(|_| None).collect();
            let mut next = 0;
            let mut skipped = false;
            while next < OUTPUTS.len() {
                if let Some(r) = ready[next].take() {
                    let o = &OUTPUTS[next];
                    let rec = r.2.map(|digest| OutputRecord {
                        len: r.0.as_ref().map_or(0, |b| b.len() as u64),
                        digest,
                        key: None,
                        log: r.1.iter().map(|m| (m.level, m.message.clone())).collect(),
                    });
                    let written = commit(o, r, outdir, &suffix, &mut wlog)?;
                    skipped |= !written;
                    if let Some(mut rec) = rec.filter(|_| written) {
                        // the file's identity, once no later change can hide behind it
                        rec.key = super::cache::Key::stat(&outdir.join(o.name))
                            .filter(|k| !k.racy(start));
                        recs.push(rec);
                    }
                    next += 1;
                    continue;
                }
                match rx.recv() {
                    Ok((i, r)) => ready[i] = Some(r),
                    Err(_) => break,
                }
            }
            if skipped {
                return Err((wlog, Vec::new()));
            }
            Ok((wlog, recs))
        });
        {
            use rayon::prelude::*;
            OUTPUTS
                .par_iter()
                .enumerate()
                .for_each_with(tx, |tx, (i, o)| {
                    // the writer stops listening after a fatal error
                    let _ = tx.send((i, render(d, o, want_records)));
                });
        }
        match writer.join() {
            Ok(Ok((mut wlog, recs))) => {
                log.append(&mut wlog);
                if let Some(r) = records {
                    *r = recs;
                }
                Ok(())
            }
            Ok(Err((mut wlog, msg))) => {
                log.append(&mut wlog);
                Err(msg)
            }
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// Write one rendered output to a temporary file and rename it over the final
/// name: `Ok(false)` when the temporary file could not be created (logged; the
/// later outputs are still written). `Err` stops the writing of later outputs: the
/// messages so far and the fatal message (empty when the reason is already in the
/// messages).
fn commit(
    o: &Output,
    (r, mut olog, _): Rendered,
    outdir: &Path,
    suffix: &str,
    log: &mut Vec<Diagnostic>,
) -> Result<bool, (Vec<Diagnostic>, Vec<u8>)> {
    use std::os::unix::fs::OpenOptionsExt;
    let stop = |log: &mut Vec<Diagnostic>, msg: Vec<u8>| Err((std::mem::take(log), msg));
    if let Ok(bytes) = &r
        && same_content(&outdir.join(o.name), bytes)
    {
        // already there: nothing to write
        log.append(&mut olog);
        return Ok(true);
    }
    {
        // kmod creates the temporary file first and renders into it: when the file
        // cannot be created, the rendering and its messages never happen
        let tmp_name = format!("{}{suffix}", o.name);
        let tmp = outdir.join(&tmp_name);
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) => {
                log.push(msg(
                    Level::Err,
                    format!(
                        "openat({}, {}, 301, 644): {}\n",
                        outdir.display(),
                        tmp_name,
                        crate::error::strerror(e.raw_os_error().unwrap_or(5))
                    ),
                ));
                return Ok(false);
            }
        };
        log.append(&mut olog);
        let bytes = match r {
            Ok(b) => b,
            Err(e) => {
                drop(file);
                let _ = std::fs::remove_file(&tmp);
                return match e {
                    OutputError::Fatal(msg) => stop(log, msg),
                    OutputError::Io(e) => {
                        log.push(msg(
                            Level::Err,
                            format!(
                                "Could not write index '{}': {}\n",
                                o.name,
                                crate::error::strerror(e.raw_os_error().unwrap_or(5))
                            ),
                        ));
                        stop(log, Vec::new())
                    }
                };
            }
        };
        if let Err(e) = file.write_all(&bytes).and_then(|()| file.flush()) {
            // never rename a partial file over a good one
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            log.push(msg(
                Level::Err,
                format!(
                    "Could not create index '{}'. Output is truncated: {}\n",
                    o.name,
                    crate::error::strerror(e.raw_os_error().unwrap_or(28))
                ),
            ));
            return stop(log, Vec::new());
        }
        drop(file);
        if let Err(e) = std::fs::rename(&tmp, outdir.join(o.name)) {
            let _ = std::fs::remove_file(&tmp);
            return stop(
                log,
                format!(
                    "renameat({}, {}, {}, {}): {}\n",
                    outdir.display(),
                    tmp_name,
                    outdir.display(),
                    o.name,
                    crate::error::strerror(e.raw_os_error().unwrap_or(5))
                )
                .into_bytes(),
            );
        }
    }
    Ok(true)
}

/// `depmod --check`: the names of the outputs in `outdir` that are missing or do
/// not hold what [`write_files`] would write. Nothing is written.
pub(crate) fn stale(
    d: &Depmod,
    outdir: &Path,
    log: &mut Vec<Diagnostic>,
) -> Result<Vec<&'static str>, OutputError> {
    use rayon::prelude::*;
    let rendered: Vec<Rendered> = OUTPUTS.par_iter().map(|o| render(d, o, false)).collect();
    let mut names = Vec::new();
    for (o, (r, mut olog, _)) in OUTPUTS.iter().zip(rendered) {
        log.append(&mut olog);
        if !same_content(&outdir.join(o.name), &r?) {
            names.push(o.name);
        }
    }
    Ok(names)
}
