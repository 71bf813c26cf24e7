//! Configuration files as kmod reads them, for modprobe.d (libkmod's
//! `conf_files_list`, `kmod_config_parse`) and depmod.d (depmod's `conf_files_list`,
//! `depmod_config_parse`) alike: the entries of a configuration directory, the
//! bounded read of one file, and its logical lines.

use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// Configuration files are read up to this size: one holding more, such as a
/// device that never ends (`/dev/zero`), is ignored with an error instead of being
/// read without end.
pub(crate) const CONFIG_MAX: u64 = 4 << 20;

/// The contents of a configuration file, or None when it holds more than
/// [`CONFIG_MAX`] bytes. A read error ends the file as EOF does for `getc()`.
pub(crate) fn read_config(file: &mut std::fs::File) -> Option<Vec<u8>> {
    // room for the whole file and the read that sees its end: two reads, not a
    // doubling series of them (a device reports 0 and is read as it comes)
    let size = file.metadata().map_or(0, |m| m.len()).min(CONFIG_MAX);
    let mut buf = Vec::with_capacity(size as usize + 1);
    let _ = file.take(CONFIG_MAX + 1).read_to_end(&mut buf);
    (buf.len() as u64 <= CONFIG_MAX).then_some(buf)
}

/// A path from its bytes.
pub(crate) fn to_path(b: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsString::from_vec(b.to_vec()))
}

/// glibc's `basename()`: everything after the last `/`.
pub(crate) fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// What a directory entry is to the configuration readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A name shorter than 6 bytes or not ending in `.conf`.
    NotConf,
    /// `stat` failed (a dangling symlink, a race).
    Unstattable,
    /// A directory (symlinks followed).
    Dir,
    /// A configuration file to parse.
    Conf,
}

/// One entry of a configuration directory.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The entry's name.
    pub(crate) name: Vec<u8>,
    /// `<dir>/<name>`.
    pub(crate) path: Vec<u8>,
    /// What it is.
    pub(crate) kind: EntryKind,
}

/// The entries of directory `dir` in readdir order, those whose name starts with
/// `.` left out; a failed readdir ends the list.
pub(crate) fn dir_entries(dir: &[u8]) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(to_path(dir))? {
        let Ok(entry) = entry else { break };
        let name = entry.file_name().as_bytes().to_vec();
        if name.first() == Some(&b'.') {
            continue;
        }
        let path = [dir, b"/", &name].concat();
        let kind = if name.len() < 6 || !name.ends_with(b".conf") {
            EntryKind::NotConf
        } else {
            match std::fs::metadata(to_path(&path)) {
                Err(_) => EntryKind::Unstattable,
                Ok(m) if m.is_dir() => EntryKind::Dir,
                Ok(_) => EntryKind::Conf,
            }
        };
        entries.push(Entry { name, path, kind });
    }
    Ok(entries)
}

/// The lines of a configuration file that carry something: each logical line
/// (backslash-newline continuations joined, any other backslash dropped and the
/// byte after it kept, as kmod's `freadline_wrapped`) cut at its first NUL, with
/// the number of the physical line ending it; empty lines and lines whose first
/// byte is `#` left out.
pub(crate) fn lines(content: &[u8]) -> impl Iterator<Item = (u32, Vec<u8>)> + '_ {
    let mut pos = 0;
    let mut linenum = 0u32;
    std::iter::from_fn(move || next_line(content, &mut pos, &mut linenum).map(|l| (linenum, l)))
        .map(|(n, mut line)| {
            if let Some(nul) = line.iter().position(|&b| b == 0) {
                line.truncate(nul);
            }
            (n, line)
        })
        .filter(|(_, line)| !line.is_empty() && line[0] != b'#')
}

/// One logical line and the number of the physical line ending it.
fn next_line(buf: &[u8], pos: &mut usize, linenum: &mut u32) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut n = 0u32;
    loop {
        let Some(&c) = buf.get(*pos) else {
            if line.is_empty() {
                return None;
            }
            *linenum = linenum.wrapping_add(n + 1);
            return Some(line);
        };
        *pos += 1;
        match c {
            b'\n' => {
                *linenum = linenum.wrapping_add(n + 1);
                return Some(line);
            }
            b'\\' => match buf.get(*pos) {
                Some(b'\n') => {
                    *pos += 1;
                    n += 1;
                }
                None => {}
                Some(&next) => {
                    *pos += 1;
                    line.push(next);
                }
            },
            _ => line.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_join_continuations_and_skip_comments() {
        // `\#` loses its backslash, so that line is a comment too
        let text = b"a b\\\nc\n\n# x\n\\# y\nd\0e\n\0f\nlast";
        let got: Vec<(u32, Vec<u8>)> = lines(text).collect();
        assert_eq!(
            got,
            vec![
                (2, b"a bc".to_vec()),
                (6, b"d".to_vec()),
                (8, b"last".to_vec()),
            ]
        );
    }

    #[test]
    fn basename_like_glibc() {
        assert_eq!(basename(b"/a/b.d/x.conf"), b"x.conf");
        assert_eq!(basename(b"x.conf"), b"x.conf");
        assert_eq!(basename(b"/a/"), b"");
    }
}
