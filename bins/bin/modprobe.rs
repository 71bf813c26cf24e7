//! `modprobe` as its own binary (same code as `kmod` called as `modprobe`).
fn main() {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.is_empty() {
        argv.push("modprobe".into());
    }
    std::process::exit(kmod_rs::main_with(&argv));
}
