//! The loaded modules with their size, use count and holders, like `lsmod`.
//!
//! ```text
//! cargo run -p libkmod-rs --example lsmod            # this system
//! cargo run -p libkmod-rs --example lsmod -- /tmp/x  # /proc and /sys under /tmp/x
//! ```

use libkmod_rs::{ConfigSource, ModuleDir, Root};

fn main() -> Result<(), libkmod_rs::Error> {
    let root = match std::env::args_os().nth(1) {
        Some(dir) => Root::at(dir),
        None => Root::host(),
    };
    let mut sink = |d: libkmod_rs::Diagnostic| eprintln!("libkmod: {}: {d}", d.level);
    // the module directory is not read: any release does
    let dir = ModuleDir::open(
        &root,
        root.module_dir("none"),
        &ConfigSource::None,
        &mut sink,
    );
    for m in dir.loaded(&mut sink)? {
        let size = m.size(&mut sink).unwrap_or(0);
        let refcnt = m
            .refcnt(&mut sink)
            .map_or_else(|e| e.to_string(), |n| n.to_string());
        let holders: Vec<String> = m
            .holders(&mut sink)
            .iter()
            .map(ToString::to_string)
            .collect();
        println!("{m} {size} {refcnt} [{}]", holders.join(","));
    }
    Ok(())
}
