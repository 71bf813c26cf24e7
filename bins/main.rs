//! The multi-call `kmod` binary.
fn main() {
    std::process::exit(kmod_rs::main_with(&std::env::args_os().collect::<Vec<_>>()));
}
