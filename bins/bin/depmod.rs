//! `depmod` as its own binary (same code as `kmod` called as `depmod`).
fn main() {
    std::process::exit(kmod_rs::main_with(&std::env::args_os().collect::<Vec<_>>()));
}
