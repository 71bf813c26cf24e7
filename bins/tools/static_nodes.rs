//! `kmod static-nodes`: the device nodes of the running kernel's modules
//! (`modules.devname`) in a human, tmpfiles.d or devname format (kmod's
//! `tools/static-nodes.c`).

use crate::env::Env;
use crate::getopt::{self, Getopt, HasArg, Opt};
use crate::usage::{Layout, Part};
use libkmod_rs::Errno;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;

/// What static-nodes' options mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// `-o FILE`.
    Output,
    /// `-f FORMAT`.
    Format,
    /// `-h`.
    Help,
}

/// static-nodes' options.
pub const OPTS: &[Opt<Id>] = &[
    Opt::new(
        b'o',
        "output",
        HasArg::Required,
        Id::Output,
        "write output to file",
    )
    .metavar("=FILE"),
    Opt::new(
        b'f',
        "format",
        HasArg::Required,
        Id::Format,
        "choose format to use: see \"Formats\"",
    )
    .metavar("=FORMAT"),
    getopt::help(Id::Help),
];

/// `--help`, before the list of formats.
pub const HELP: Layout = Layout {
    width: 21,
    parts: &[
        Part::Text(
            "Usage:\n\t{prog} static-nodes [options]\n\n\
kmod static-nodes outputs the static-node information of the currently running kernel.\n\n\
Options:\n",
        ),
        Part::Rows(&["format", "output", "help"]),
        Part::Text("\nFormats:\n"),
    ],
};

const FORMATS: &[(&str, &str)] = &[
    ("human", "(default) a human readable format. Do not parse."),
    (
        "tmpfiles",
        "the tmpfiles.d(5) format used by systemd-tmpfiles.",
    ),
    ("devname", "the modules.devname format."),
];

fn help(prog: &str) -> String {
    let mut s = HELP.render(OPTS, prog);
    for (name, desc) in FORMATS {
        let _ = writeln!(s, "\t{name:<12} {desc}");
    }
    s
}

/// A `modules.devname` entry: module, device name, type, major, minor.
type Entry<'a> = (&'a [u8], &'a [u8], u8, u32, u32);

/// One `modules.devname` entry: `sscanf("%s %s %c%u:%u")`.
fn parse_entry(line: &[u8]) -> Option<Entry<'_>> {
    fn ws(s: &[u8], p: &mut usize) {
        while *p < s.len() && s[*p].is_ascii_whitespace() {
            *p += 1;
        }
    }
    fn word<'a>(s: &'a [u8], p: &mut usize) -> Option<&'a [u8]> {
        ws(s, p);
        let start = *p;
        while *p < s.len() && !s[*p].is_ascii_whitespace() {
            *p += 1;
        }
        (*p > start).then(|| &s[start..*p])
    }
    fn num(s: &[u8], p: &mut usize) -> Option<u32> {
        ws(s, p);
        let neg = match s.get(*p) {
            Some(b'-') => {
                *p += 1;
                true
            }
            Some(b'+') => {
                *p += 1;
                false
            }
            _ => false,
        };
        let start = *p;
        let mut v: u64 = 0;
        while *p < s.len() && s[*p].is_ascii_digit() {
            v = v.saturating_mul(10).saturating_add(u64::from(s[*p] - b'0'));
            *p += 1;
        }
        if *p == start {
            return None;
        }
        let v = u32::try_from(v).unwrap_or(u32::MAX);
        Some(if neg { v.wrapping_neg() } else { v })
    }
    let mut p = 0;
    let modname = word(line, &mut p)?;
    let devname = word(line, &mut p)?;
    ws(line, &mut p);
    let ty = *line.get(p)?;
    p += 1;
    let maj = num(line, &mut p)?;
    if line.get(p) != Some(&b':') {
        return None;
    }
    p += 1;
    let min = num(line, &mut p)?;
    Some((modname, devname, ty, maj, min))
}

fn write_entry(
    out: &mut dyn Write,
    format: &str,
    e: (&[u8], &[u8], u8, u32, u32),
) -> std::io::Result<()> {
    let (modname, devname, ty, maj, min) = e;
    let mut v = Vec::new();
    match format {
        "human" => {
            v.extend_from_slice(b"Module: ");
            v.extend_from_slice(modname);
            v.extend_from_slice(b"\n\tDevice node: /dev/");
            v.extend_from_slice(devname);
            let kind = if ty == b'c' { "character" } else { "block" };
            v.extend_from_slice(
                format!("\n\t\tType: {kind} device\n\t\tMajor: {maj}\n\t\tMinor: {min}\n")
                    .as_bytes(),
            );
        }
        "tmpfiles" => {
            if let Some(slash) = devname.iter().rposition(|&c| c == b'/') {
                v.extend_from_slice(b"d /dev/");
                v.extend_from_slice(&devname[..slash]);
                v.extend_from_slice(b" 0755 - - -\n");
            }
            v.push(ty);
            v.extend_from_slice(b"! /dev/");
            v.extend_from_slice(devname);
            v.extend_from_slice(format!(" 0600 - - - {maj}:{min}\n").as_bytes());
        }
        _ => {
            v.extend_from_slice(modname);
            v.push(b' ');
            v.extend_from_slice(devname);
            v.push(b' ');
            v.push(ty);
            v.extend_from_slice(format!("{maj}:{min}\n").as_bytes());
        }
    }
    out.write_all(&v)
}

/// Run `kmod static-nodes` (`args` after the command name; glibc's messages name
/// `argv0`, what followed `kmod`). Option parsing stops at the first operand: kmod's
/// `+` option string stays in force for the command.
pub fn run(argv0: &[u8], args: &[OsString], env: &mut Env<'_>) -> i32 {
    let prog = "kmod";
    let mut output: Option<Vec<u8>> = None;
    let mut format = "human";
    let mut options = Getopt::new(argv0, args, OPTS, true);
    for f in options.by_ref() {
        match f.id {
            Id::Output => output = f.value,
            Id::Format => {
                let v = f.arg();
                let Some((n, _)) = FORMATS.iter().find(|(n, _)| n.as_bytes() == v) else {
                    let mut m = b"Unknown format: '".to_vec();
                    m.extend_from_slice(v);
                    m.extend_from_slice(b"'.\n");
                    let _ = env.err.write_all(&m);
                    let _ = env.out.write_all(help(prog).as_bytes());
                    return 1;
                };
                format = n;
            }
            Id::Help => {
                let _ = env.out.write_all(help(prog).as_bytes());
                return 0;
            }
        }
    }
    if options.finish(env.err).is_none() {
        return 1;
    }
    let Ok(release) = env.kernel.release() else {
        let _ = env.err.write_all(b"Error: uname failed!\n");
        return 1;
    };
    let shown = format!("{}/{release}/modules.devname", libkmod_rs::MODULE_DIR);
    let path = env.root.module_dir(&release).join("modules.devname");
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = env
                .err
                .write_all(format!("Warning: {shown} not found - ignoring\n").as_bytes());
            return 0;
        }
        Err(e) => {
            let m = format!("Error: could not open {shown} - {}\n", Errno::from(&e));
            let _ = env.err.write_all(m.as_bytes());
            return 1;
        }
    };
    let mut file;
    let out: &mut dyn Write = match &output {
        None => &mut *env.out,
        Some(o) => {
            let p = std::path::PathBuf::from(getopt::os(o));
            if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                use std::os::unix::fs::DirBuilderExt;
                if let Err(e) = std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                {
                    let e = Errno::from(&e).to_string();
                    let m = [
                        b"Error: could not create parent directory for ",
                        o.as_slice(),
                        b" - ",
                        e.as_bytes(),
                        b".\n",
                    ]
                    .concat();
                    let _ = env.err.write_all(&m);
                    return 1;
                }
            }
            file = match std::fs::File::create(&p) {
                Ok(f) => std::io::BufWriter::new(f),
                Err(e) => {
                    let e = Errno::from(&e).to_string();
                    let m = [
                        b"Error: could not create ",
                        o.as_slice(),
                        b" - ",
                        e.as_bytes(),
                        b"\n",
                    ]
                    .concat();
                    let _ = env.err.write_all(&m);
                    return 1;
                }
            };
            &mut file
        }
    };
    let mut ret = 0;
    // fgets with a PATH_MAX buffer
    let mut rest: &[u8] = &data;
    while !rest.is_empty() {
        let cut = rest
            .iter()
            .position(|&c| c == b'\n')
            .map_or(rest.len(), |i| i + 1)
            .min(4095);
        let line = &rest[..cut];
        rest = &rest[cut..];
        if line.first() == Some(&b'#') {
            continue;
        }
        match parse_entry(line) {
            Some(e) if e.2 == b'c' || e.2 == b'b' => {
                let _ = write_entry(out, format, e);
            }
            _ => {
                let mut m = b"Error: invalid devname entry: ".to_vec();
                m.extend_from_slice(line);
                let _ = env.err.write_all(&m);
                ret = 1;
            }
        }
    }
    let _ = out.flush();
    ret
}
