//! `lsmod` as its own binary (same code as `kmod` called as `lsmod`).
fn main() {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.is_empty() {
        argv.push("lsmod".into());
    }
    std::process::exit(kmod_rs::main_with(&argv));
}
