//! What an initramfs needs to load some modules: every module file in load order
//! (dependencies and softdeps included, as `modprobe` would load them), and the
//! firmware files those modules name.
//!
//! ```text
//! cargo run -p libkmod-rs --example initramfs -- /lib/modules/$(uname -r) ext4 fs-btrfs
//! ```
//!
//! Prints `module <path>`, `builtin <name>` and `firmware <file>` lines, each once,
//! in the order a builder would copy them.

use libkmod_rs::{
    Action, ConfigSource, Diagnostic, ModuleDir, ModuleInfo, ProbeFlags, ProbeHost, Root, Sink,
};
use std::collections::HashSet;
use std::path::PathBuf;

/// Collects what a dry-run probe would do.
#[derive(Default)]
struct Plan {
    actions: Vec<Action>,
}

impl Sink for Plan {
    fn report(&mut self, d: Diagnostic) {
        eprintln!("libkmod: {}: {d}", d.level);
    }
}

impl ProbeHost for Plan {
    fn show(&mut self, _: &libkmod_rs::Module, action: &Action) {
        self.actions.push(action.clone());
    }
}

fn main() -> Result<(), libkmod_rs::Error> {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: initramfs <module directory> <name|alias>...");
        std::process::exit(2);
    };
    let mut plan = Plan::default();
    let dir = ModuleDir::open(
        &Root::host(),
        PathBuf::from(dir),
        &ConfigSource::None,
        &mut plan,
    );
    let flags = ProbeFlags {
        dry_run: true,
        ignore_loaded: true,
        ..ProbeFlags::default()
    };
    for name in args {
        let name = name.into_encoded_bytes();
        let modules = dir.lookup(&name, &mut plan)?;
        if modules.is_empty() {
            eprintln!("{}: not found", String::from_utf8_lossy(&name));
        }
        for m in modules {
            m.probe(flags, None, true, &mut plan)?;
        }
    }
    let mut lines: Vec<String> = Vec::new();
    let mut firmware: Vec<String> = Vec::new();
    for action in &plan.actions {
        match action {
            Action::Insmod { path, .. } => {
                lines.push(format!("module {}", path.display()));
                let info = ModuleInfo::read(path)?;
                for f in info.get(b"firmware") {
                    firmware.push(format!("firmware {}", String::from_utf8_lossy(f)));
                }
            }
            Action::Builtin { name } => {
                lines.push(format!("builtin {}", String::from_utf8_lossy(name)));
            }
            _ => {}
        }
    }
    let mut seen = HashSet::new();
    for line in lines.into_iter().chain(firmware) {
        if seen.insert(line.clone()) {
            println!("{line}");
        }
    }
    Ok(())
}
