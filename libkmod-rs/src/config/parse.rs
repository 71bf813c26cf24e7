//! modprobe.d line syntax, as libkmod's `kmod_config_parse` reads it.

use super::{Alias, Config, ModCommand, ModOptions, SoftDep, SoftDepKind, WeakDep};
use crate::diag::Sink;

/// `strtok_r` over spaces and TABs: the next word and the rest after the single
/// delimiter that ended it.
fn token(s: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let start = s
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(s.len());
    let s = &s[start..];
    if s.is_empty() {
        return (None, s);
    }
    match s.iter().position(|&c| c == b' ' || c == b'\t') {
        Some(end) => (Some(&s[..end]), &s[end + 1..]),
        None => (Some(s), &s[s.len()..]),
    }
}

/// kmod's `underscores()`: `-` → `_` outside `[...]`, in place.  Returns `false` (the
/// text converted up to the problem) on an unmatched `]` or an unterminated `[`.
pub(crate) fn underscores(s: &mut [u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'-' => s[i] = b'_',
            b']' => return false,
            b'[' => match s[i..].iter().position(|&c| c == b']') {
                Some(n) => i += n,
                None => return false,
            },
            _ => {}
        }
        i += 1;
    }
    true
}

/// C `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The words of a `softdep`/`weakdep` value as kmod splits them (C-locale whitespace;
/// a single leading whitespace byte stays glued to the first word, as in kmod).
/// Each word comes with whether it ended the text.
fn dep_words(line: &[u8]) -> Vec<&[u8]> {
    let mut words = Vec::new();
    let mut p = 0usize;
    let mut was_space = false;
    let mut s = 0usize;
    loop {
        let c = line.get(s).copied();
        if let Some(c) = c {
            if !is_space(c) {
                was_space = false;
                s += 1;
                continue;
            }
            if was_space {
                p = s + 1;
                s += 1;
                continue;
            }
            was_space = true;
            if p >= s {
                s += 1;
                continue;
            }
        }
        let word = &line[p.min(s)..s];
        if c.is_some() || !was_space {
            words.push(word);
        }
        p = s + 1;
        if c.is_none() {
            break;
        }
        s += 1;
    }
    words
}

/// The `(list, name)` pairs of a `softdep` value: `pre:`/`post:` switch lists, names
/// before either are ignored.
#[must_use]
pub(crate) fn softdep_tokens(line: &[u8]) -> Vec<(SoftDepKind, Vec<u8>)> {
    let mut out = Vec::new();
    let mut mode = None;
    for w in dep_words(line) {
        match w {
            b"pre:" => mode = Some(SoftDepKind::Pre),
            b"post:" => mode = Some(SoftDepKind::Post),
            _ => {
                if let Some(m) = mode {
                    out.push((m, w.to_vec()));
                }
            }
        }
    }
    out
}

/// A token made into a key with `underscores()`, `None` if missing or malformed.
fn key(t: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut v = t?.to_vec();
    underscores(&mut v).then_some(v)
}

/// Parse one file's contents into `cfg`.
pub(super) fn parse_file(cfg: &mut Config, filename: &[u8], content: &[u8], out: &mut dyn Sink) {
    for (linenum, line) in crate::shared::conf::lines(content) {
        let (Some(cmd), rest) = token(&line) else {
            continue;
        };
        if !parse_directive(cfg, cmd, rest) {
            let message = if cmd == b"include" || cmd == b"config" {
                [
                    filename,
                    b": command ",
                    cmd,
                    b" is deprecated and not parsed anymore\n",
                ]
                .concat()
            } else {
                let n = linenum.to_string();
                [
                    filename,
                    b" line ",
                    n.as_bytes(),
                    b": ignoring bad line starting with '",
                    cmd,
                    b"'\n",
                ]
                .concat()
            };
            crate::diag::err(out, "kmod_config_parse", message);
        }
    }
}

/// Apply one directive; `false` for a bad line (or `include`/`config`).
fn parse_directive(cfg: &mut Config, cmd: &[u8], rest: &[u8]) -> bool {
    match cmd {
        b"alias" => {
            let (a, rest) = token(rest);
            let (m, _) = token(rest);
            let (Some(pattern), Some(modname)) = (key(a), key(m)) else {
                return false;
            };
            cfg.aliases.push(Alias { pattern, modname });
        }
        b"blacklist" => {
            let Some(m) = key(token(rest).0) else {
                return false;
            };
            cfg.blacklists.push(m);
        }
        b"options" | b"install" | b"remove" | b"softdep" | b"weakdep" => {
            let (m, tail) = token(rest);
            let Some(modname) = key(m) else {
                return false;
            };
            if tail.is_empty() {
                return false;
            }
            match cmd {
                b"options" => cfg.options.push(ModOptions {
                    modname,
                    options: tail
                        .iter()
                        .map(|&c| if c == b'\t' { b' ' } else { c })
                        .collect(),
                }),
                b"install" => cfg.install_commands.push(ModCommand {
                    modname,
                    command: tail.to_vec(),
                }),
                b"remove" => cfg.remove_commands.push(ModCommand {
                    modname,
                    command: tail.to_vec(),
                }),
                b"softdep" => cfg.softdeps.push(SoftDep {
                    modname,
                    entries: softdep_tokens(tail),
                }),
                _ => cfg.weakdeps.push(WeakDep {
                    modname,
                    weak: dep_words(tail).into_iter().map(<[u8]>::to_vec).collect(),
                }),
            }
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_like_kmod() {
        assert_eq!(dep_words(b"a b"), vec![&b"a"[..], b"b"]);
        assert_eq!(dep_words(b"a  b "), vec![&b"a"[..], b"b"]);
        // a single leading blank stays with the first word
        assert_eq!(dep_words(b" pre: a"), vec![&b" pre:"[..], b"a"]);
        assert_eq!(dep_words(b"  pre: a"), vec![&b"pre:"[..], b"a"]);
        assert_eq!(dep_words(b"a\x0bb\rc"), vec![&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn underscores_rules() {
        let mut v = b"a-b[c-d]-e".to_vec();
        assert!(underscores(&mut v));
        assert_eq!(v, b"a_b[c-d]_e");
        let mut v = b"a-b]".to_vec();
        assert!(!underscores(&mut v));
        assert_eq!(v, b"a_b]");
        let mut v = b"a[b-".to_vec();
        assert!(!underscores(&mut v));
    }

    #[test]
    fn strtok_rest() {
        assert_eq!(token(b"  ab\t cd"), (Some(&b"ab"[..]), &b" cd"[..]));
        assert_eq!(token(b"ab"), (Some(&b"ab"[..]), &b""[..]));
        assert_eq!(token(b" \t"), (None, &b""[..]));
    }
}
