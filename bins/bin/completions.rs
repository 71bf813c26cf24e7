//! `kmod-rs-completions <bash|zsh|fish> <tool>`: print a completion script (used by
//! the Makefile's `install`; not part of kmod's interface).
use kmod_rs::completions::{Shell, generate};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: kmod-rs-completions <bash|zsh|fish> <tool>";
    let (Some(shell), Some(tool), 2) = (args.first(), args.get(1), args.len()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Some(shell) = Shell::from_name(shell) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = generate(shell, tool, &mut out).and_then(|()| out.flush()) {
        eprintln!("kmod-rs-completions: {e}");
        std::process::exit(1);
    }
}
