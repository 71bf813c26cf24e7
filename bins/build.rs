//! Build script of the tools: with `KMOD_RS_SYMBOL_ORDER=1` (as `make static` sets
//! it), the binaries are linked with `bins/symbol-order.txt` as lld's
//! `--symbol-ordering-file`: the functions a short call of a tool runs are placed
//! together at the start of the code, so that a call faults in a handful of code
//! pages instead of some twenty spread over the binary (the list is made by
//! `scripts/symbol-order.sh`). Only the order of functions changes; names missing
//! from the list (or from the binary) are ignored. Needs lld, the linker of Rust's
//! `x86_64-unknown-linux-gnu` target.

fn main() {
    println!("cargo:rerun-if-env-changed=KMOD_RS_SYMBOL_ORDER");
    println!("cargo:rerun-if-changed=bins/symbol-order.txt");
    if std::env::var_os("KMOD_RS_SYMBOL_ORDER").is_some_and(|v| v == "1") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={dir}/bins/symbol-order.txt"
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
