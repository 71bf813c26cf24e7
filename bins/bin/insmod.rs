//! `insmod` as its own binary (same code as `kmod` called as `insmod`).
fn main() {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.is_empty() {
        argv.push("insmod".into());
    }
    std::process::exit(kmod_rs::main_with(&argv));
}
