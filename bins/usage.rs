//! What every tool and the dispatcher share about their command line: the program
//! name, `-V`'s version text, and `-h`'s help texts, generated from the option tables
//! in kmod's layout (`\t-x, --long=ARG<pad>text`, continuation lines indented to the
//! text column). A leaf module: the tools and the dispatcher both use it.

use crate::env::Env;
use crate::getopt::Opt;
use std::fmt::Write as _;

/// `program_invocation_short_name`: the part of `argv[0]` after the last `/`.
#[must_use]
pub fn short_name(argv0: &[u8]) -> String {
    let base = match argv0.iter().rposition(|&c| c == b'/') {
        Some(i) => &argv0[i + 1..],
        None => argv0,
    };
    String::from_utf8_lossy(base).into_owned()
}

/// kmod's version as printed by `-V`: kmod's layout, naming this project too.
#[must_use]
pub fn version() -> String {
    let f = |on: bool, name: &str| format!("{}{name}", if on { '+' } else { '-' });
    format!(
        "kmod version 34.2 (kmod-rs {})\n{} {} {} +OPENSSL\n",
        env!("CARGO_PKG_VERSION"),
        f(cfg!(feature = "zstd"), "ZSTD"),
        f(cfg!(feature = "xz"), "XZ"),
        f(cfg!(feature = "gzip"), "ZLIB"),
    )
}

/// `-h` or `-V`: the help text or the version, printed to stdout; the exit code (0).
pub fn help_or_version(help: bool, env: &mut Env<'_>, text: impl FnOnce() -> String) -> i32 {
    let text = if help { text() } else { version() };
    let _ = env.out.write_all(text.as_bytes());
    0
}

/// One part of a help text.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// Text as is, `{prog}` replaced by the program name.
    Text(&'static str),
    /// The rows of these options (by long name), in this order.
    Rows(&'static [&'static str]),
}

/// How a tool's help text is laid out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Width of the option column (after the tab) where the text starts.
    pub width: usize,
    /// The parts, in order.
    pub parts: &'static [Part],
}

impl Layout {
    /// The help text of a tool named `prog` with options `opts`.
    ///
    /// # Panics
    ///
    /// If a row names an option the table lacks (the tools' help tests render
    /// every layout).
    #[must_use]
    pub fn render<Id: Copy + Eq>(&self, opts: &[Opt<Id>], prog: &str) -> String {
        let mut s = String::new();
        for part in self.parts {
            match part {
                Part::Text(t) => s.push_str(&t.replace("{prog}", prog)),
                Part::Rows(names) => {
                    for name in *names {
                        let o = opts
                            .iter()
                            .find(|o| o.long == Some(name))
                            .unwrap_or_else(|| panic!("help row --{name}: no such option"));
                        row(&mut s, self.width, o);
                    }
                }
            }
        }
        s
    }

    /// The long names the layout lists.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.parts.iter().flat_map(|p| match p {
            Part::Rows(names) => names.iter().copied(),
            Part::Text(_) => [].iter().copied(),
        })
    }
}

/// The `--help` row of option `o` in a column `width` wide.
#[must_use]
pub fn row_text<Id: Copy + Eq>(width: usize, o: &Opt<Id>) -> String {
    let mut s = String::new();
    row(&mut s, width, o);
    s
}

/// `\t<flag><pad><line 1>\n` then `\t<width spaces><line n>\n`; a flag as wide as the
/// column (only options beyond kmod) gets a line of its own.
fn row<Id: Copy + Eq>(s: &mut String, width: usize, o: &Opt<Id>) {
    let mut flag = match o.short {
        Some(c) => format!("-{}, ", char::from(c)),
        None => "    ".to_string(),
    };
    if let Some(l) = o.long {
        let _ = write!(flag, "--{l}{}", o.metavar);
    }
    let mut lines = o.help.split('\n');
    if flag.len() < width {
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(s, "\t{flag:<width$}{first}");
    } else {
        let _ = writeln!(s, "\t{flag}");
    }
    for l in lines {
        let _ = writeln!(s, "\t{:width$}{l}", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::getopt::HasArg;

    #[test]
    fn rows_in_kmods_layout() {
        const OPTS: &[Opt<u8>] = &[
            Opt::new(b'a', "all", HasArg::No, 0, "one\ntwo"),
            Opt::long("wide-option-name", HasArg::No, 1, "text"),
            Opt::new(b'w', "wait", HasArg::Required, 2, "w").metavar("=<MSEC>"),
        ];
        const L: Layout = Layout {
            width: 18,
            parts: &[
                Part::Text("Usage: {prog}\n"),
                Part::Rows(&["wait", "all", "wide-option-name"]),
            ],
        };
        assert_eq!(
            L.render(OPTS, "p"),
            "Usage: p\n\t-w, --wait=<MSEC> w\n\t-a, --all         one\n\t                  two\n\
             \t    --wide-option-name\n\t                  text\n"
        );
    }
}
