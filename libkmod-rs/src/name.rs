//! Module-name rules shared by every tool.
//!
//! * *modname normalisation*: the text up to the first `.`, with `-` turned into `_`
//!   (`snd-hda-intel.ko.xz` → `snd_hda_intel`);
//! * *alias normalisation*: `-` → `_` except inside `[...]`, which is copied verbatim;
//!   an unmatched `]` or an unterminated `[` makes the alias invalid;
//! * module file extensions: `.ko`, and `.ko.gz`/`.ko.xz`/`.ko.zst` for each
//!   decompressor compiled in.

/// Normalise a module name: stop at the first `.`, turn `-` into `_`.
#[must_use]
pub fn modname_normalize(name: &[u8]) -> Vec<u8> {
    name.iter()
        .take_while(|&&c| c != b'.')
        .map(|&c| if c == b'-' { b'_' } else { c })
        .collect()
}

/// The module name of a path: its basename, normalised. `None` if the path ends in `/`.
#[must_use]
pub fn path_to_modname(path: &[u8]) -> Option<Vec<u8>> {
    let base = match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    };
    if base.is_empty() {
        return None;
    }
    Some(modname_normalize(base))
}

/// Normalise an alias (`-` → `_` outside brackets). `None` if the brackets are unbalanced.
#[must_use]
pub fn alias_normalize(alias: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(alias.len());
    let mut i = 0;
    while i < alias.len() {
        match alias[i] {
            b'[' => {
                let close = alias[i..].iter().position(|&c| c == b']')?;
                out.extend_from_slice(&alias[i..=i + close]);
                i += close + 1;
                continue;
            }
            b']' => return None,
            b'-' => out.push(b'_'),
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// Module file extensions recognised by this build, longest first.
#[must_use]
pub(crate) fn module_extensions() -> &'static [&'static str] {
    &[
        ".ko",
        #[cfg(feature = "gzip")]
        ".ko.gz",
        #[cfg(feature = "xz")]
        ".ko.xz",
        #[cfg(feature = "zstd")]
        ".ko.zst",
    ]
}

/// Does `name` end in a module extension this build can read?
#[must_use]
pub fn has_module_extension(name: &[u8]) -> bool {
    module_extensions()
        .iter()
        .any(|ext| name.ends_with(ext.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modname() {
        assert_eq!(modname_normalize(b"snd-hda-intel.ko.xz"), b"snd_hda_intel");
        assert_eq!(path_to_modname(b"/a/b/x-y.ko").unwrap(), b"x_y");
        assert_eq!(path_to_modname(b"x.ko").unwrap(), b"x");
        assert!(path_to_modname(b"/a/").is_none());
    }

    #[test]
    fn alias() {
        assert_eq!(
            alias_normalize(b"pci:v-1[a-b]x-").unwrap(),
            b"pci:v_1[a-b]x_"
        );
        assert!(alias_normalize(b"a]b").is_none());
        assert!(alias_normalize(b"a[b").is_none());
    }

    #[test]
    fn extensions() {
        assert!(has_module_extension(b"a.ko"));
        assert!(!has_module_extension(b"a.ko.bz2"));
        assert!(!has_module_extension(b"ako"));
    }
}
