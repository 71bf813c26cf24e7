//! `--select PATTERN` (beyond kmod): the modules of the module directory under a
//! directory (`kernel/drivers/ata`) or whose path matches a glob
//! (`kernel/fs/*/*.ko*`), as image builders pick them. The paths are those of
//! `modules.dep.bin` (relative to the module directory); the modules come in name
//! order.

use libkmod_rs::{IndexKind, ModuleDir};

/// The names of the modules `patterns` select, each once, in name order.
pub(super) fn select(dir: &ModuleDir, patterns: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut dump = Vec::new();
    let _ = dir.dump_index(IndexKind::Dep, &mut dump);
    let mut out = Vec::new();
    for line in dump.split(|&c| c == b'\n') {
        // `<name> <path>: <dependencies>`
        let Some(space) = line.iter().position(|&c| c == b' ') else {
            continue;
        };
        let (name, value) = (&line[..space], &line[space + 1..]);
        let path = match value.iter().position(|&c| c == b':') {
            Some(colon) => &value[..colon],
            None => value,
        };
        if patterns.iter().any(|p| selects(p, path)) {
            out.push(name.to_vec());
        }
    }
    out
}

/// Does `pattern` select the module at `path`? A pattern with `*`, `?` or `[` is a
/// glob matched against the whole path (`*` also matches `/`); any other pattern
/// names a directory (or one module file) of the module directory. A leading `./`
/// and trailing `/` are ignored.
pub(super) fn selects(pattern: &[u8], path: &[u8]) -> bool {
    let mut p = pattern;
    while let Some(rest) = p.strip_prefix(b"./") {
        p = rest;
    }
    while p.len() > 1 && p.ends_with(b"/") {
        p = &p[..p.len() - 1];
    }
    if p.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
        return glob(p, path);
    }
    path == p || (path.starts_with(p) && path.get(p.len()) == Some(&b'/'))
}

/// fnmatch(3) without flags: `*`, `?`, bracket expressions (`!`/`^` negation,
/// ranges), `\` escaping the next byte.
fn glob(p: &[u8], s: &[u8]) -> bool {
    // the last `*` seen and where in `s` its match ends so far: backtrack there
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let step = match p.get(pi) {
            Some(b'*') => {
                star = Some((pi + 1, si));
                pi += 1;
                continue;
            }
            Some(b'?') => Some(pi + 1),
            Some(b'[') => bracket(p, pi, s[si]),
            Some(b'\\') if pi + 1 < p.len() => (p[pi + 1] == s[si]).then_some(pi + 2),
            Some(&c) => (c == s[si]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                si += 1;
            }
            (None, Some((sp, ss))) => {
                pi = sp;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The bracket expression at `p[start]` against `c`: the index after it when `c`
/// matches, `None` when it does not. An unterminated `[` is a literal `[`.
fn bracket(p: &[u8], start: usize, c: u8) -> Option<usize> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&x) = p.get(i) else {
            // no closing bracket: `[` stands for itself
            return (c == b'[').then_some(start + 1);
        };
        if x == b']' && !first {
            break;
        }
        first = false;
        let lo = if x == b'\\' && i + 1 < p.len() {
            i += 1;
            p[i]
        } else {
            x
        };
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = p[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    (matched != negate).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_and_files() {
        let ahci = b"kernel/drivers/ata/ahci.ko";
        assert!(selects(b"kernel/drivers/ata", ahci));
        assert!(selects(b"./kernel/drivers/ata/", ahci));
        assert!(selects(b"kernel", ahci));
        assert!(selects(ahci, ahci));
        assert!(!selects(b"kernel/drivers/at", ahci));
        assert!(!selects(b"kernel/drivers/ata/ahci", ahci));
    }

    #[test]
    fn globs() {
        let p = b"kernel/fs/btrfs/btrfs.ko.xz";
        assert!(selects(b"kernel/fs/*", p));
        assert!(selects(b"*/btrfs.ko*", p));
        assert!(selects(b"kernel/fs/b?rfs/*", p));
        assert!(selects(b"kernel/fs/[a-c]*", p));
        assert!(!selects(b"kernel/fs/[!a-c]*", p));
        assert!(selects(b"kernel/fs/[^x]trfs/*", p));
        assert!(!selects(b"kernel/fs/*.ko", p));
        assert!(selects(b"*.ko.xz", p));
        assert!(glob(b"a\\*b", b"a*b"));
        assert!(!glob(b"a\\*b", b"axb"));
        assert!(glob(b"a[b", b"a[b"));
        assert!(glob(b"[]]", b"]"));
        assert!(glob(b"**a*", b"xxa"));
        assert!(!glob(b"a*", b""));
        assert!(glob(b"*", b""));
    }
}
