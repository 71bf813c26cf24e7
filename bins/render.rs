//! Every line a tool prints to stdout is formatted here; tools hand over data.
//! (`depmod -n` prints the library's rendering of its output files, and
//! `kmod static-nodes` its own three formats, in `tools/static_nodes.rs`.)

use libkmod_rs::{Action, Param};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;

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

/// A parameter's text: `name:desc (type)`, `name:desc`, and for a parameter with a
/// type only `name:type` (`bare_type`, the full listing) or `name: (type)`
/// (`modinfo -F parm`).
fn param_text(p: &Param<'_>, bare_type: bool) -> Vec<u8> {
    let mut v = p.name.to_vec();
    v.push(b':');
    match (p.description, p.ty) {
        (Some(d), Some(t)) => {
            v.extend_from_slice(d);
            v.extend_from_slice(b" (");
            v.extend_from_slice(t);
            v.push(b')');
        }
        (Some(d), None) => v.extend_from_slice(d),
        (None, Some(t)) if bare_type => v.extend_from_slice(t),
        (None, t) => {
            if !bare_type {
                v.extend_from_slice(b" (");
                v.extend_from_slice(t.unwrap_or_default());
                v.push(b')');
            }
        }
    }
    v
}

/// A parameter in the full listing (`parm:` column): `name:desc (type)`,
/// `name:desc`, or `name:type`.
pub fn modinfo_param(out: &mut dyn Write, p: &Param<'_>, sep: u8) -> io::Result<()> {
    modinfo_field(out, b"parm", &param_text(p, true), sep)
}

/// A parameter for `modinfo -F parm`: `name:desc (type)`, `name:desc`, or
/// `name: (type)`.
pub fn modinfo_param_value(out: &mut dyn Write, p: &Param<'_>, sep: u8) -> io::Result<()> {
    value(out, &param_text(p, false), sep)
}

/// lsmod's header line.
pub fn lsmod_header(out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"Module                  Size  Used by\n")
}

/// One lsmod row: `%-19s %8ld  %d` and ` holder,holder` (no trailing space).
pub fn lsmod_row(
    out: &mut dyn Write,
    name: &[u8],
    size: i64,
    refcnt: i32,
    holders: &[&[u8]],
) -> io::Result<()> {
    let mut line = Vec::with_capacity(name.len() + 40);
    line.extend_from_slice(name);
    line.resize(line.len().max(19), b' ');
    line.extend_from_slice(format!(" {size:>8}  {refcnt}").as_bytes());
    for (k, h) in holders.iter().enumerate() {
        line.push(if k == 0 { b' ' } else { b',' });
        line.extend_from_slice(h);
    }
    line.push(b'\n');
    out.write_all(&line)
}

/// One `modprobe -c` record: `kw key` then ` value` (if any) and a newline.
pub fn config_record(
    out: &mut dyn Write,
    keyword: &str,
    key: &[u8],
    value: Option<&[u8]>,
) -> io::Result<()> {
    let mut line = keyword.as_bytes().to_vec();
    line.push(b' ');
    line.extend_from_slice(key);
    if let Some(v) = value {
        line.push(b' ');
        line.extend_from_slice(v);
    }
    line.push(b'\n');
    out.write_all(&line)
}

/// The line `modprobe -c` prints between the configuration and the index dumps.
pub fn config_end(out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"\n# End of configuration files. Dumping indexes now:\n\n")
}

/// `--show-modversions`/`--show-exports`: `0x%08x<TAB>symbol`.
pub fn symbol_version(out: &mut dyn Write, crc: u64, name: &[u8]) -> io::Result<()> {
    let mut line = format!("0x{crc:08x}\t").into_bytes();
    line.extend_from_slice(name);
    line.push(b'\n');
    out.write_all(&line)
}

/// A probe action: `install <cmd> <opts>`, `insmod <path> <opts>`, `builtin <name>`.
pub fn action(out: &mut dyn Write, action: &Action) -> io::Result<()> {
    let mut line = Vec::new();
    match action {
        Action::Install { command, options } => {
            line.extend_from_slice(b"install ");
            line.extend_from_slice(command);
            line.push(b' ');
            line.extend_from_slice(options);
        }
        Action::Insmod { path, options } => {
            line.extend_from_slice(b"insmod ");
            line.extend_from_slice(path.as_os_str().as_bytes());
            line.push(b' ');
            line.extend_from_slice(options);
        }
        Action::Builtin { name } => {
            line.extend_from_slice(b"builtin ");
            line.extend_from_slice(name);
        }
        Action::Nothing => return Ok(()),
    }
    line.push(b'\n');
    out.write_all(&line)
}

/// A line modprobe shows while removing (`rmmod <name>`, `remove <command>`):
/// `<what> <text>` and a newline.
pub fn removal(out: &mut dyn Write, what: &str, text: &[u8]) -> io::Result<()> {
    let mut line = what.as_bytes().to_vec();
    line.push(b' ');
    line.extend_from_slice(text);
    line.push(b'\n');
    out.write_all(&line)
}

/// `modprobe -R`: a module name and a newline.
pub fn name(out: &mut dyn Write, name: &[u8]) -> io::Result<()> {
    let mut line = name.to_vec();
    line.push(b'\n');
    out.write_all(&line)
}

/// `depmod --check`: the stale or missing output files, one name a line.
pub fn stale_files(out: &mut dyn Write, names: &[&str]) -> io::Result<()> {
    let mut text = String::new();
    for n in names {
        text.push_str(n);
        text.push('\n');
    }
    out.write_all(text.as_bytes())
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
