//! Shell-style pattern matching with the semantics of glibc's
//! `fnmatch(pattern, string, 0)` in the C locale.
//!
//! kmod matches module aliases with `fnmatch(3)` without flags, and the
//! stored alias patterns come from module authors, so every corner of glibc's
//! behaviour matters, not just the common `*`, `?` and `[a-z]` cases:
//!
//! - `*` matches any run of bytes, `/` and a leading `.` included (no
//!   `FNM_PATHNAME`, no `FNM_PERIOD`); `?` matches any single byte.
//! - `\x` matches `x` literally, inside and outside brackets; a pattern ending
//!   in a lone `\` never matches.
//! - Bracket expressions: `[abc]`, ranges `[a-z]` (byte order, which is the C
//!   locale's collation order), negation `[!x]` and `[^x]`, `]` first in the
//!   set is literal, `-` first or last is literal, classes `[[:alpha:]]` (the
//!   twelve POSIX classes, C locale), equivalence classes `[[=a=]]` and
//!   collating symbols `[[.a.]]` (single bytes only, as in the C locale).
//!   An unknown class name or a malformed collating symbol makes the bracket
//!   fail to match.
//! - A `[` that starts no complete bracket expression matches a literal `[`.
//! - Bytes >= 128 are ordinary bytes (the C locale has no multibyte
//!   characters and classifies them in no class).
//! - As with C strings, both arguments end at their first NUL byte, if any.
//!
//! One environment quirk of glibc is deliberately not reproduced: with
//! `POSIXLY_CORRECT` set, glibc no longer treats `[^...]` as a negation.
//!
//! The matcher runs in `O(pattern × string)` time: every element other than
//! `*` consumes exactly one byte, so on a mismatch only the most recent `*`
//! needs to be retried one byte further on (the result is the same as glibc's
//! recursive search, without its exponential worst case).

/// Longest character class name glibc accepts inside `[:...:]`
/// (`CHARCLASS_NAME_MAX`); longer names make the bracket fail.
const CLASS_NAME_MAX: usize = 2048;

/// Outcome of matching one byte against the bracket expression at some
/// pattern position.
enum Bracket {
    /// The byte is accepted; matching resumes at this pattern index.
    Matched(usize),
    /// The byte is rejected (or the expression is malformed in a way that
    /// makes glibc give up at this position).
    Failed,
    /// The bracket is unterminated: the `[` stands for itself.
    Literal,
}

/// The pattern byte at `i`, or 0 past the end (C string semantics).
fn at(pat: &[u8], i: usize) -> u8 {
    pat.get(i).copied().unwrap_or(0)
}

/// Whether `ch` belongs to the C locale character class `name`; `None` when
/// the name is not a class glibc knows.
fn in_class(name: &[u8], ch: u8) -> Option<bool> {
    Some(match name {
        b"alnum" => ch.is_ascii_alphanumeric(),
        b"alpha" => ch.is_ascii_alphabetic(),
        b"blank" => ch == b' ' || ch == b'\t',
        b"cntrl" => ch.is_ascii_control(),
        b"digit" => ch.is_ascii_digit(),
        b"graph" => ch.is_ascii_graphic(),
        b"lower" => ch.is_ascii_lowercase(),
        b"print" => ch.is_ascii_graphic() || ch == b' ',
        b"punct" => ch.is_ascii_punctuation(),
        b"space" => matches!(ch, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b"upper" => ch.is_ascii_uppercase(),
        b"xdigit" => ch.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// Match the byte `ch` against the bracket expression whose `[` is at
/// `pat[open - 1]`.
fn bracket(pat: &[u8], open: usize, ch: u8) -> Bracket {
    let mut p = open;
    let negate = matches!(at(pat, p), b'!' | b'^');
    if negate {
        p += 1;
    }
    let mut c = at(pat, p);
    p += 1;
    loop {
        // `c` is the set element being looked at, `p` indexes the byte after it.
        // `start` is set to the plain element `c` stands for (it may begin a
        // range); the other branches continue, break or return.
        let start: u8;
        if c == b'\\' {
            let e = at(pat, p);
            if e == 0 {
                return Bracket::Failed;
            }
            p += 1;
            start = e;
        } else if c == b'[' && at(pat, p) == b':' {
            let colon = p;
            let mut name_len = 0usize;
            let mut is_class = false;
            loop {
                if name_len == CLASS_NAME_MAX {
                    return Bracket::Failed;
                }
                p += 1;
                let n = at(pat, p);
                if n == b':' && at(pat, p + 1) == b']' {
                    is_class = true;
                    break;
                }
                // glibc only takes `a`..`y` (sic) as class name bytes.
                if !(b'a'..=b'y').contains(&n) {
                    break;
                }
                name_len += 1;
            }
            if is_class {
                let name = &pat[colon + 1..p];
                p += 2;
                match in_class(name, ch) {
                    None => return Bracket::Failed,
                    Some(true) => return skip_rest(pat, p, negate),
                    Some(false) => {}
                }
                c = at(pat, p);
                p += 1;
                if c == b']' {
                    break;
                }
                continue;
            }
            // Not a class name: the `[` is an ordinary set member.
            p = colon;
            start = b'[';
        } else if c == b'[' && at(pat, p) == b'=' {
            let eq = p;
            let x = at(pat, eq + 1);
            if x != 0 && at(pat, eq + 2) == b'=' && at(pat, eq + 3) == b']' {
                p = eq + 4;
                if ch == x {
                    return skip_rest(pat, p, negate);
                }
                c = at(pat, p);
                p += 1;
                if c == b']' {
                    break;
                }
                continue;
            }
            start = b'[';
        } else if c == 0 {
            return Bracket::Literal;
        } else if c == b'[' && at(pat, p) == b'.' {
            let dot = p;
            let mut len = 0usize;
            loop {
                p += 1;
                let n = at(pat, p);
                if n == b'.' && at(pat, p + 1) == b']' {
                    p += 2;
                    break;
                }
                if n == 0 {
                    return Bracket::Failed;
                }
                len += 1;
            }
            // Without collation data only one-byte symbols exist.
            if len != 1 {
                return Bracket::Failed;
            }
            let sym = at(pat, dot + 1);
            // Unlike a plain element, `-]` after a symbol still counts as a
            // range start here, but the range itself is then not taken.
            let is_range = at(pat, p) == b'-' && at(pat, p + 1) != 0;
            if !is_range && ch == sym {
                return skip_rest(pat, p, negate);
            }
            c = at(pat, p);
            p += 1;
            match range(pat, &mut p, &mut c, sym, ch) {
                Range::Hit(next) => return skip_rest(pat, next, negate),
                Range::Failed => return Bracket::Failed,
                Range::Miss => {}
            }
            if c == b']' {
                break;
            }
            continue;
        } else {
            start = c;
        }

        // A plain element `s` (possibly the start of a range `s-e`).
        let s = start;
        let is_range = at(pat, p) == b'-' && !matches!(at(pat, p + 1), 0 | b']');
        if !is_range && s == ch {
            return skip_rest(pat, p, negate);
        }
        c = at(pat, p);
        p += 1;
        match range(pat, &mut p, &mut c, s, ch) {
            Range::Hit(next) => return skip_rest(pat, next, negate),
            Range::Failed => return Bracket::Failed,
            Range::Miss => {}
        }
        if c == b']' {
            break;
        }
    }
    if negate {
        Bracket::Matched(p)
    } else {
        Bracket::Failed
    }
}

/// Outcome of looking for a range `s-e` after a set element.
enum Range {
    /// A range containing the byte; matching resumes after the range.
    Hit(usize),
    /// A malformed range end: the bracket fails.
    Failed,
    /// No range, or one not containing the byte; `c`/`p` moved past it.
    Miss,
}

/// Handle a possible range after the element `s`: `c` is the byte after the
/// element and `p` indexes the byte after `c`.
fn range(pat: &[u8], p: &mut usize, c: &mut u8, s: u8, ch: u8) -> Range {
    if *c != b'-' || at(pat, *p) == b']' {
        return Range::Miss;
    }
    let mut end = at(pat, *p);
    *p += 1;
    if end == b'[' && at(pat, *p) == b'.' {
        let dot = *p;
        let mut len = 0usize;
        loop {
            *p += 1;
            let n = at(pat, *p);
            if n == b'.' && at(pat, *p + 1) == b']' {
                *p += 2;
                break;
            }
            if n == 0 {
                return Range::Failed;
            }
            len += 1;
        }
        if len != 1 {
            return Range::Failed;
        }
        end = at(pat, dot + 1);
    } else {
        if end == b'\\' {
            end = at(pat, *p);
            *p += 1;
        }
        if end == 0 {
            return Range::Failed;
        }
    }
    if s <= ch && ch <= end {
        return Range::Hit(*p);
    }
    *c = at(pat, *p);
    *p += 1;
    Range::Miss
}

/// After `ch` matched an element: skip to the closing `]` (with glibc's
/// rules, which differ slightly from the scan above) and apply negation.
fn skip_rest(pat: &[u8], mut p: usize, negate: bool) -> Bracket {
    loop {
        let c = at(pat, p);
        p += 1;
        match c {
            b']' => break,
            0 => return Bracket::Literal,
            b'\\' => {
                if at(pat, p) == 0 {
                    return Bracket::Failed;
                }
                p += 1;
            }
            b'[' if at(pat, p) == b':' => {
                let colon = p;
                let mut len = 0usize;
                loop {
                    p += 1;
                    let n = at(pat, p);
                    len += 1;
                    if len == CLASS_NAME_MAX {
                        return Bracket::Failed;
                    }
                    if n == b':' && at(pat, p + 1) == b']' {
                        p += 2;
                        break;
                    }
                    if !(b'a'..=b'y').contains(&n) {
                        p = colon;
                        break;
                    }
                }
            }
            b'[' if at(pat, p) == b'=' => {
                if at(pat, p + 1) == 0 || at(pat, p + 2) != b'=' || at(pat, p + 3) != b']' {
                    return Bracket::Failed;
                }
                p += 4;
            }
            b'[' if at(pat, p) == b'.' => loop {
                p += 1;
                let n = at(pat, p);
                if n == 0 {
                    return Bracket::Failed;
                }
                if n == b'.' && at(pat, p + 1) == b']' {
                    p += 2;
                    break;
                }
            },
            _ => {}
        }
    }
    if negate {
        Bracket::Failed
    } else {
        Bracket::Matched(p)
    }
}

/// Match `string` against the shell pattern `pattern` exactly as glibc's
/// `fnmatch(pattern, string, 0)` does in the C locale (see the module
/// documentation for the rules). Returns `true` on a match.
#[must_use]
pub(crate) fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    // most patterns are plain names: their first byte settles most comparisons
    if let (Some(&p), Some(&c)) = (pattern.first(), string.first())
        && !matches!(p, b'*' | b'?' | b'[' | b'\\' | 0)
        && p != c
    {
        return false;
    }
    let pat = until_nul(pattern);
    let s = until_nul(string);
    let mut pi = 0usize;
    let mut si = 0usize;
    // Pattern index after the most recent `*`, and the string index it was
    // last tried at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let advanced = if pi < pat.len() {
            let c = pat[pi];
            if c == b'*' {
                pi += 1;
                star = Some((pi, si));
                continue;
            }
            match s.get(si) {
                None => false,
                Some(&ch) => match c {
                    b'?' => {
                        pi += 1;
                        true
                    }
                    // A trailing backslash never matches.
                    b'\\' if pi + 1 < pat.len() && pat[pi + 1] == ch => {
                        pi += 2;
                        true
                    }
                    b'\\' => false,
                    b'[' => match bracket(pat, pi + 1, ch) {
                        Bracket::Matched(next) => {
                            pi = next;
                            true
                        }
                        Bracket::Literal if ch == b'[' => {
                            pi += 1;
                            true
                        }
                        Bracket::Literal | Bracket::Failed => false,
                    },
                    _ if c == ch => {
                        pi += 1;
                        true
                    }
                    _ => false,
                },
            }
        } else if si == s.len() {
            return true;
        } else {
            false
        };
        if advanced {
            si += 1;
            continue;
        }
        match star {
            Some((sp, ss)) if ss < s.len() => {
                star = Some((sp, ss + 1));
                pi = sp;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

/// The bytes before the first NUL (all of `b` if it has none).
fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    /// (pattern, string, glibc 2.41 `fnmatch(pattern, string, 0) == 0`),
    /// the expectations recorded by running glibc on each pair.
    const GLIBC: &[(&[u8], &[u8], bool)] = &[
        (b"*", b"", true),
        (b"*", b"abc", true),
        (b"*", b"a/b", true),
        (b"*", b".hidden", true),
        (b"?", b"", false),
        (b"?", b"a", true),
        (b"?", b"ab", false),
        (b"??", b"ab", true),
        (b"a*b", b"ab", true),
        (b"a*b", b"axxb", true),
        (b"a*b", b"axxbc", false),
        (b"*a*b", b"xxaxbxb", true),
        (b"*.ko", b"snd.ko", true),
        (b"\\*", b"*", true),
        (b"\\*", b"a", false),
        (b"\\", b"\\", false),
        (b"a\\", b"a", false),
        (b"\\\\", b"\\", true),
        (b"[abc]", b"b", true),
        (b"[abc]", b"d", false),
        (b"[a-c]", b"b", true),
        (b"[a-c]", b"-", false),
        (b"[c-a]", b"b", false),
        (b"[c-a]", b"c", false),
        (b"[!a-c]", b"d", true),
        (b"[!a-c]", b"b", false),
        (b"[^a-c]", b"d", true),
        (b"[^a-c]", b"a", false),
        (b"[]]", b"]", true),
        (b"[]a]", b"a", true),
        (b"[!]]", b"]", false),
        (b"[!]]", b"a", true),
        (b"[a-]", b"-", true),
        (b"[-a]", b"-", true),
        (b"[a\\]]", b"]", true),
        (b"[a\\-z]", b"-", true),
        (b"[a\\-z]", b"b", false),
        (b"[\\]", b"\\", false),
        (b"[\\]]", b"]", true),
        (b"[", b"[", true),
        (b"[", b"a", false),
        (b"[[", b"[[", true),
        (b"[\\]", b"[]", true),
        (b"[[\\]", b"[[]", true),
        (b"[a", b"[a", true),
        (b"[a", b"a", false),
        (b"[ab", b"[ab", true),
        (b"[!", b"[!", true),
        (b"[]", b"[]", true),
        (b"[!]", b"[!]", true),
        (b"[[:alpha:]]", b"a", true),
        (b"[[:alpha:]]", b"1", false),
        (b"[[:digit:]x]", b"x", true),
        (b"[[:digit:]x]", b"5", true),
        (b"[![:digit:]]", b"5", false),
        (b"[![:digit:]]", b"z", true),
        (b"[[:space:]]", b" ", true),
        (b"[[:space:]]", b"\x0b", true),
        (b"[[:blank:]]", b"\x09", true),
        (b"[[:blank:]]", b"\x0b", false),
        (b"[[:punct:]]", b"_", true),
        (b"[[:xdigit:]]", b"F", true),
        (b"[[:xdigit:]]", b"g", false),
        (b"[[:upper:][:lower:]]", b"Q", true),
        (b"[[:foo:]]", b"f", false),
        (b"[[:foo:]a]", b"a", false),
        (b"[a[:foo:]]", b"a", true),
        (b"[[:ALPHA:]]", b"A", false),
        (b"[[:ALPHA:]]", b":", false),
        (b"[[:alpha:]", b"a", false),
        (b"[[:alpha:]", b"[:alpha:]", false),
        (b"[[=a=]]", b"a", true),
        (b"[[=a=]]", b"b", false),
        (b"[[=a=]b]", b"b", true),
        (b"[a[=a=]", b"a", false),
        (b"[a[=]", b"a", false),
        (b"[a[=]", b"=", true),
        (b"[[.a.]]", b"a", true),
        (b"[[.a.]]", b"b", false),
        (b"[[.ab.]]", b"a", false),
        (b"[[.a.]-c]", b"b", true),
        (b"[a-[.c.]]", b"b", true),
        (b"[[.a.]-]", b"a", false),
        (b"[[.a.]-]", b"-", true),
        (b"[[.-.]]", b"-", true),
        (b"[[...]]", b".", true),
        (b"[[.]", b"[", false),
        (b"[a-z", b"[a-z", true),
        (b"*[", b"x[", true),
        (b"*[a", b"x[a", true),
        (b"*\\", b"x\\", false),
        (b"a?c", b"abc", true),
        (b"a?c", b"ac", false),
        (b"*?", b"", false),
        (b"*?", b"a", true),
        (b"*?*?", b"a", false),
        (b"*?*?", b"ab", true),
        (b"p[]-]q", b"p]q", true),
        (b"p[]-]q", b"p-q", true),
        (
            b"pci:v00008086d*sv*sd*bc03sc*i*",
            b"pci:v00008086d00001234sv00001028sd00000001bc03sc00i00",
            true,
        ),
        (
            b"pci:v00008086d*sv*sd*bc03sc*i*",
            b"pci:v00008086d00001234sv00001028sd00000001bc02sc00i00",
            false,
        ),
        (
            b"usb:v*p*d*dc*dsc*dp*ic03isc01ip02in*",
            b"usb:v046Dp0A8Fd0011dc00dsc00dp00ic03isc01ip02in00",
            true,
        ),
        (
            b"of:N*T*Cnvidia,tegra[0-9]*-hda",
            b"of:NhdaT<NULL>Cnvidia,tegra124-hda",
            true,
        ),
        (b"\x80", b"\x80", true),
        (b"?", b"\xff", true),
        (b"[\x80-\xff]", b"\x90", true),
        (b"[!a]", b"\xff", true),
        (b"[[:alpha:]]", b"\xe9", false),
    ];

    #[test]
    fn agrees_with_glibc() {
        for &(p, s, want) in GLIBC {
            assert_eq!(
                fnmatch(p, s),
                want,
                "pattern {:?} string {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn nul_ends_both_arguments() {
        assert!(fnmatch(b"ab\0cd", b"ab"));
        assert!(fnmatch(b"ab", b"ab\0cd"));
        assert!(!fnmatch(b"abc", b"ab\0c"));
    }

    #[test]
    fn many_stars_stay_fast() {
        // Exponential for a naive backtracking matcher.
        let pattern = b"*a"
            .repeat(200)
            .into_iter()
            .chain(*b"*b")
            .collect::<Vec<u8>>();
        let string = vec![b'a'; 20_000];
        assert!(!fnmatch(&pattern, &string));
        let mut hit = string.clone();
        hit.push(b'b');
        assert!(fnmatch(&pattern, &hit));
        let brackets = b"*[a-z]".repeat(100);
        assert!(fnmatch(&brackets, &string));
    }
}
