//! kmod-rs: the tools (`kmod`, `modinfo`, ...) over `libkmod-rs`.
//!
//! `run(argv, env)` is the whole program: it dispatches on `argv[0]` and writes only
//! to the writers in [`Env`], so tests call it in-process.

pub mod completions;
pub mod diag;
pub mod dispatch;
pub mod env;
pub mod getopt;
pub mod json;
pub mod render;
pub mod syslog;
pub mod tools;
pub mod usage;

pub use env::Env;
use std::ffi::OsString;

/// Run the multi-call binary with `argv`; returns the exit status.
pub fn run(argv: &[OsString], env: &mut Env<'_>) -> i32 {
    dispatch::run(argv, env)
}

/// `main` for the real system: stdout buffered, stderr not.
#[must_use]
pub fn main_with(argv: &[OsString]) -> i32 {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut err = std::io::stderr().lock();
    let code = {
        let mut env = Env::host(&mut out, &mut err);
        run(argv, &mut env)
    };
    let _ = std::io::Write::flush(&mut out);
    code
}
