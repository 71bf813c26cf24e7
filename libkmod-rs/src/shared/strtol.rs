//! `strtol` and the C-string and `isspace` rules that go with it, as glibc has them
//! (kmod reads numbers from `/sys`, `/proc` and its environment with them).

/// The bytes up to the first NUL (a C string's contents).
pub(crate) fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/// C `isspace` in the C locale (space, `\t`, `\n`, `\v`, `\f`, `\r`).
pub(crate) fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtol(s, &end, 10)` over a C string: the value (saturated like glibc) and the
/// number of bytes consumed (0 when no digits were found).
#[must_use]
pub(crate) fn strtol(s: &[u8]) -> (i64, usize) {
    let s = cstr(s);
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: i128 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = (v * 10 + i128::from(s[i] - b'0')).min(i128::from(i64::MAX) + 1);
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    let v = if neg { -v } else { v };
    let v = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    (v, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_like_glibc() {
        assert_eq!(strtol(b"12\n"), (12, 2));
        assert_eq!(strtol(b"  -7 "), (-7, 4));
        assert_eq!(strtol(b"+3"), (3, 2));
        assert_eq!(strtol(b"x"), (0, 0));
        assert_eq!(strtol(b"-"), (0, 0));
        assert_eq!(strtol(b"99999999999999999999\n").0, i64::MAX);
        assert_eq!(strtol(b"-99999999999999999999\n").0, i64::MIN);
        assert_eq!(strtol(b"1\x002"), (1, 1));
    }
}
