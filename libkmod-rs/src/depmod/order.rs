//! `modules.order`: the order kmod 34.2's depmod gives its module array.
//!
//! Every module starts with the same sort key.  Each line of `<dir>/modules.order`
//! (read like `fgets` into a `PATH_MAX` buffer, the trailing newline removed) is
//! looked up among the modules' uncompressed relative paths; a module found for the
//! first time gets the next key, all of them before the unlisted modules' key.  A
//! duplicated line keeps its first position; unknown lines are ignored.  Then the
//! array is stably sorted, so unlisted modules keep their hash-table order.
//!
//! A chunk without a trailing newline (the last line of a file lacking one, a line of
//! 4096 bytes or more, a NUL byte inside a line) is an error that abandons the whole
//! ordering.  A missing file is a warning and leaves the order as it is.

use super::config::{Diagnostic, Level, msg};
use crate::error::strerror;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// The file's name inside the module directory.
pub(crate) const MODULES_ORDER: &str = "modules.order";

/// `fgets` reads at most this many bytes minus one per call (kmod's `PATH_MAX` buffer).
const LINE_BUF: usize = 4096;

/// What the lines of a `modules.order` file say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OrderLines<'a> {
    /// The module paths in file order (blank chunks skipped, duplicates kept).
    Lines(Vec<&'a [u8]>),
    /// Chunk number `n` (1-based, as kmod counts) misses its newline.
    Corrupted(usize),
}

/// Split `content` as depmod's `fgets` loop does.
#[must_use]
pub(crate) fn parse_lines(content: &[u8]) -> OrderLines<'_> {
    let mut lines = Vec::new();
    let mut rest = content;
    let mut idx = 0usize;
    while !rest.is_empty() {
        let max = rest.len().min(LINE_BUF - 1);
        let take = rest[..max]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(max, |i| i + 1);
        let chunk = &rest[..take];
        rest = &rest[take..];
        idx += 1;
        // strlen(): the chunk as a C string.
        let len = chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len());
        if len == 0 {
            continue;
        }
        if chunk[len - 1] != b'\n' {
            return OrderLines::Corrupted(idx);
        }
        lines.push(&chunk[..len - 1]);
    }
    OrderLines::Lines(lines)
}

/// Sort keys for modules whose uncompressed relative paths are `uncrelpaths` (None for
/// modules outside the module directory), given the lines of `modules.order`.  Listed
/// modules get increasing negative keys in line order; the others key 1.  A path that
/// appears twice in `uncrelpaths` can only be found at its first position.
#[must_use]
pub(crate) fn order_keys(lines: &[&[u8]], uncrelpaths: &[Option<&[u8]>]) -> Vec<i64> {
    let mut by_path: HashMap<&[u8], usize, crate::shared::fxhash::FastHash> =
        HashMap::with_capacity_and_hasher(
            uncrelpaths.len(),
            crate::shared::fxhash::FastHash::default(),
        );
    for (i, p) in uncrelpaths.iter().enumerate() {
        if let Some(p) = p {
            by_path.entry(*p).or_insert(i);
        }
    }
    let mut keys = vec![1i64; uncrelpaths.len()];
    let mut next = -(uncrelpaths.len() as i64);
    for line in lines {
        if let Some(&i) = by_path.get(line)
            && keys[i] >= 0
        {
            keys[i] = next;
            next += 1;
        }
    }
    keys
}

/// The new order of a module array (indices into `uncrelpaths`, which is in the
/// array's current, hash-table, order) after reading `<dir>/modules.order`, with the
/// messages kmod prints.  Without a readable file, or with a corrupted one, the order
/// is unchanged.
#[must_use]
pub(crate) fn sort_order(
    dir: &Path,
    uncrelpaths: &[Option<&[u8]>],
) -> (Vec<usize>, Vec<Diagnostic>) {
    let identity: Vec<usize> = (0..uncrelpaths.len()).collect();
    let mut log = Vec::new();
    let dname = String::from_utf8_lossy(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()))
        .into_owned();
    if let Err(e) = std::fs::File::open(dir) {
        log.push(msg(
            Level::Warning,
            format!(
                "could not open directory {dname}: {}\n",
                strerror(e.raw_os_error().unwrap_or(5))
            ),
        ));
        return (identity, log);
    }
    let mut file = match std::fs::File::open(dir.join(MODULES_ORDER)) {
        Ok(f) => f,
        Err(e) => {
            log.push(msg(
                Level::Warning,
                format!(
                    "could not open {MODULES_ORDER} at {dname}: {}\n",
                    strerror(e.raw_os_error().unwrap_or(5))
                ),
            ));
            return (identity, log);
        }
    };
    let mut content = Vec::new();
    // A read error ends the input like EOF does for fgets() (e.g. a directory).
    let _ = file.read_to_end(&mut content);
    let lines = match parse_lines(&content) {
        OrderLines::Lines(l) => l,
        OrderLines::Corrupted(idx) => {
            log.push(msg(
                Level::Err,
                format!("{dname}/{MODULES_ORDER}:{idx} corrupted line misses '\\n'\n"),
            ));
            return (identity, log);
        }
    };
    let keys = order_keys(&lines, uncrelpaths);
    let mut perm = identity;
    perm.sort_by_key(|&i| keys[i]);
    (perm, log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("kmodrs-order-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn lines() {
        assert_eq!(
            parse_lines(b"a.ko\nb.ko\n\nc.ko\n"),
            OrderLines::Lines(vec![&b"a.ko"[..], b"b.ko", b"", b"c.ko"])
        );
        assert_eq!(parse_lines(b""), OrderLines::Lines(vec![]));
        assert_eq!(parse_lines(b"a.ko\nb.ko"), OrderLines::Corrupted(2));
        // NUL inside a line: strlen stops there.
        assert_eq!(parse_lines(b"a.ko\nb\0.ko\n"), OrderLines::Corrupted(2));
        // NUL first: an empty chunk, skipped (and counted).
        assert_eq!(parse_lines(b"\0x\na\n"), OrderLines::Lines(vec![&b"a"[..]]));
        assert_eq!(parse_lines(b"\0x\na"), OrderLines::Corrupted(2));
        // A 4095-byte chunk without newline is cut by fgets.
        let mut long = vec![b'x'; 5000];
        long.push(b'\n');
        assert_eq!(parse_lines(&long), OrderLines::Corrupted(1));
        let mut ok = vec![b'x'; 4094];
        ok.push(b'\n');
        assert!(matches!(parse_lines(&ok), OrderLines::Lines(l) if l.len() == 1));
    }

    #[test]
    fn keys_first_occurrence_wins() {
        let paths = [Some(&b"k/a.ko"[..]), Some(b"k/b.ko"), None, Some(b"k/c.ko")];
        let lines: Vec<&[u8]> = vec![b"k/c.ko", b"zzz.ko", b"k/a.ko", b"k/c.ko"];
        assert_eq!(order_keys(&lines, &paths), vec![-3, 1, 1, -4]);
    }

    #[test]
    fn sorts_stably() {
        let d = tmpdir("sort");
        std::fs::write(d.join(MODULES_ORDER), b"k/c.ko\nk/a.ko\nk/c.ko\nnope.ko\n").unwrap();
        let paths = [
            Some(&b"k/a.ko"[..]),
            Some(b"k/b.ko"),
            None,
            Some(b"k/c.ko"),
            Some(b"k/d.ko"),
        ];
        let (perm, log) = sort_order(&d, &paths);
        assert_eq!(perm, vec![3, 0, 1, 2, 4]);
        assert!(log.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn corrupted_keeps_order() {
        let d = tmpdir("bad");
        std::fs::write(d.join(MODULES_ORDER), b"k/c.ko\nk/a.ko").unwrap();
        let paths = [Some(&b"k/a.ko"[..]), Some(b"k/c.ko")];
        let (perm, log) = sort_order(&d, &paths);
        assert_eq!(perm, vec![0, 1]);
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].level, Level::Err);
        assert_eq!(
            log[0].message,
            format!(
                "{}/modules.order:2 corrupted line misses '\\n'\n",
                d.display()
            )
            .into_bytes()
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_file_and_dir() {
        let d = tmpdir("missing");
        let paths = [Some(&b"b.ko"[..]), Some(b"a.ko")];
        let (perm, log) = sort_order(&d, &paths);
        assert_eq!(perm, vec![0, 1]);
        assert_eq!(
            log,
            vec![msg(
                Level::Warning,
                format!(
                    "could not open modules.order at {}: No such file or directory\n",
                    d.display()
                )
            )]
        );
        let gone = d.join("gone");
        let (perm, log) = sort_order(&gone, &paths);
        assert_eq!(perm, vec![0, 1]);
        assert_eq!(
            String::from_utf8_lossy(&log[0].message),
            format!(
                "could not open directory {}: No such file or directory\n",
                gone.display()
            )
        );
        // A directory named modules.order reads as empty: no message, order kept.
        std::fs::create_dir(d.join(MODULES_ORDER)).unwrap();
        let (perm, log) = sort_order(&d, &paths);
        assert_eq!(perm, vec![0, 1]);
        assert!(log.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }
}
