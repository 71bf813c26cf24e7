//! Every line a tool prints to stdout is formatted here; tools hand over data.

use std::io::{self, Write};

/// modinfo's `key:` column: the key, a colon, and spaces up to column 16 (none for
/// keys of 15 bytes or more).
pub fn modinfo_field(out: &mut dyn Write, key: &[u8], value: &[u8], sep: u8) -> io::Result<()> {
    let pad = 15usize.saturating_sub(key.len().min(15));
    let mut line = Vec::with_capacity(key.len() + pad + value.len() + 2);
    line.extend_from_slice(key);
    line.push(b':');
    line.resize(line.len() + pad, b' ');
    line.extend_from_slice(value);
    line.push(sep);
    out.write_all(&line)
}

/// modinfo `-0` listing of an ordinary field: `key=value` then the separator.
pub fn modinfo_pair(out: &mut dyn Write, key: &[u8], value: &[u8], sep: u8) -> io::Result<()> {
    let mut line = Vec::with_capacity(key.len() + value.len() + 2);
    line.extend_from_slice(key);
    line.push(b'=');
    line.extend_from_slice(value);
    line.push(sep);
    out.write_all(&line)
}

/// A bare value then the separator (`modinfo -F`).
pub fn value(out: &mut dyn Write, value: &[u8], sep: u8) -> io::Result<()> {
    let mut line = Vec::with_capacity(value.len() + 1);
    line.extend_from_slice(value);
    line.push(sep);
    out.write_all(&line)
}

/// A module parameter as modinfo shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'a> {
    /// Parameter name.
    pub name: &'a [u8],
    /// Description (`parm=`), if any.
    pub desc: Option<&'a [u8]>,
    /// Type (`parmtype=`), if any.
    pub ty: Option<&'a [u8]>,
}

/// A parameter in the full listing (`parm:` column): `name:desc (type)`,
/// `name:desc`, or `name:type`.
pub fn modinfo_param(out: &mut dyn Write, p: &Param<'_>, sep: u8) -> io::Result<()> {
    let mut v = p.name.to_vec();
    v.push(b':');
    match (p.desc, p.ty) {
        (Some(d), Some(t)) => {
            v.extend_from_slice(d);
            v.extend_from_slice(b" (");
            v.extend_from_slice(t);
            v.push(b')');
        }
        (Some(d), None) => v.extend_from_slice(d),
        (None, Some(t)) => v.extend_from_slice(t),
        (None, None) => {}
    }
    let mut line = b"parm:           ".to_vec();
    line.extend_from_slice(&v);
    line.push(sep);
    out.write_all(&line)
}

/// A parameter for `modinfo -F parm`: `name:desc (type)`, `name:desc`, or
/// `name: (type)`.
pub fn modinfo_param_value(out: &mut dyn Write, p: &Param<'_>, sep: u8) -> io::Result<()> {
    let mut v = p.name.to_vec();
    v.push(b':');
    match (p.desc, p.ty) {
        (Some(d), Some(t)) => {
            v.extend_from_slice(d);
            v.extend_from_slice(b" (");
            v.extend_from_slice(t);
            v.push(b')');
        }
        (Some(d), None) => v.extend_from_slice(d),
        (None, t) => {
            v.extend_from_slice(b" (");
            v.extend_from_slice(t.unwrap_or_default());
            v.push(b')');
        }
    }
    v.push(sep);
    out.write_all(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_padding() {
        let mut v = Vec::new();
        modinfo_field(&mut v, b"license", b"GPL", b'\n').unwrap();
        modinfo_field(&mut v, b"averyveryverylongkey", b"x", b'\n').unwrap();
        modinfo_field(&mut v, b"depends", b"", b'\n').unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "license:        GPL\naveryveryverylongkey:x\ndepends:        \n"
        );
    }
}
