//! The kernel command line (libkmod's `kmod_config_parse_kcmdline`): `mod.param[=value]` becomes
//! `options mod param[=value]`, `modprobe.blacklist=a,b` becomes blacklist entries.
//!
//! The scanner is kmod 34.2's state machine: tokens end at unquoted C-locale
//! whitespace; a token is `modname.param` or `modname.param=value`; a `"` may open the
//! whole token (GRUB's `"mod.p=v w"`, re-quoted as `p="v w"`) or appear in the value;
//! anything else (a quote in the name or parameter, a second `.`, `=` before `.`,
//! whitespace inside quotes outside the value) makes the token ignored.

use super::{Config, ModOptions};
use crate::diag::Sink;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ignore,
    Modname,
    Param,
    Value,
    Complete,
}

/// The C string starting at `i` (up to the first NUL).
fn cstr(buf: &[u8], i: usize) -> &[u8] {
    let s = buf.get(i..).unwrap_or_default();
    match s.iter().position(|&c| c == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

/// Parse kernel command line bytes (as read from `/proc/cmdline`) into `cfg`.
pub(crate) fn parse_kcmdline(cfg: &mut Config, cmdline: &[u8], out: &mut dyn Sink) {
    let mut buf = cmdline.to_vec();
    buf.push(0);
    let mut state = State::Modname;
    let mut quote_start: Option<usize> = None;
    let mut modname = 0usize;
    let mut param: Option<usize> = None;
    let mut value: Option<usize> = None;
    let mut is_quoted = false;
    let mut p = 0usize;
    loop {
        let c = buf[p];
        let mut last = false;
        match c {
            b'"' => {
                is_quoted = !is_quoted;
                if is_quoted && state == State::Modname && p == modname {
                    quote_start = Some(p);
                    modname = p + 1;
                } else if state != State::Value {
                    state = State::Ignore;
                }
            }
            0 | b' ' | b'\n' | b'\t' | 0x0b | 0x0c | b'\r' => {
                last = c == 0;
                if is_quoted && state == State::Value {
                } else if is_quoted {
                    state = State::Ignore;
                } else if state == State::Value || state == State::Param {
                    buf[p] = 0;
                    state = State::Complete;
                } else {
                    modname = p + 1;
                    state = State::Modname;
                    quote_start = None;
                }
            }
            b'.' => {
                if state == State::Modname {
                    buf[p] = 0;
                    param = Some(p + 1);
                    state = State::Param;
                } else if state == State::Param {
                    state = State::Ignore;
                }
            }
            b'=' => {
                if state == State::Param {
                    value = Some(p + 1);
                    state = State::Value;
                } else if state == State::Modname {
                    state = State::Ignore;
                }
            }
            _ => {}
        }
        if state == State::Complete {
            let (mut m, mut pa, mut v) = (modname, param, value);
            if let (Some(q), Some(val), Some(par)) = (quote_start, v, pa)
                && q < m
                && val > m
                && par > m
            {
                // "mod.param=v w" → mod\0param="v w": move name and `param=` one
                // byte left over the opening quote, then put the quote after `=`.
                buf.copy_within(m..val, q);
                m -= 1;
                pa = Some(par - 1);
                v = Some(val - 1);
                buf[val - 1] = b'"';
            }
            if let Some(pa) = pa {
                let mname = cstr(&buf, m).to_vec();
                let ptext = cstr(&buf, pa).to_vec();
                let vtext = v.map(|v| cstr(&buf, v).to_vec());
                result(cfg, mname, &ptext, vtext.as_deref(), out);
            }
            modname = p + 1;
            state = State::Modname;
            quote_start = None;
        }
        if last {
            break;
        }
        p += 1;
    }
}

fn result(
    cfg: &mut Config,
    mut modname: Vec<u8>,
    param: &[u8],
    value: Option<&[u8]>,
    out: &mut dyn Sink,
) {
    if modname == b"modprobe" && param.starts_with(b"blacklist=") {
        for item in value.unwrap_or_default().split(|&c| c == b',') {
            cfg.blacklists.push(item.to_vec());
        }
        return;
    }
    if !super::parse::underscores(&mut modname) {
        crate::diag::err(
            out,
            "kcmdline_parse_result",
            format!(
                "Ignoring bad option on kernel command line while parsing module name: '{}'\n",
                String::from_utf8_lossy(&modname)
            ),
        );
        return;
    }
    cfg.options.push(ModOptions {
        modname,
        options: param
            .iter()
            .map(|&c| if c == b'\t' { b' ' } else { c })
            .collect(),
    });
}
