//! The system locations kmod uses, as absolute paths resolved through [`crate::Root`].

/// Where module trees live: `<MODULE_DIR>/<release>`.
pub(crate) const MODULE_DIR: &str = "/lib/modules";
/// The loaded-module list.
pub(crate) const PROC_MODULES: &str = "/proc/modules";
/// The kernel command line.
pub(crate) const PROC_CMDLINE: &str = "/proc/cmdline";
/// The kernel's symbol table (names; addresses may read as zero).
pub(crate) const PROC_KALLSYMS: &str = "/proc/kallsyms";
/// Per-module state directories.
pub(crate) const SYS_MODULE: &str = "/sys/module";
/// The kernel's in-kernel module decompressor name.
pub(crate) const SYS_MODULE_COMPRESSION: &str = "/sys/module/compression";
/// modprobe.d search list, highest precedence first.
pub(crate) const MODPROBE_D: &[&str] = &[
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
];
/// depmod.d search list, highest precedence first.
pub(crate) const DEPMOD_D: &[&str] = &[
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/usr/lib/depmod.d",
    "/lib/depmod.d",
];
/// Builtin module information inside a module directory.
pub(crate) const MODULES_BUILTIN_MODINFO: &str = "modules.builtin.modinfo";
/// The kernel log, one record per read (read by [`crate::kmsg`]).
pub(crate) const DEV_KMSG: &str = "/dev/kmsg";
