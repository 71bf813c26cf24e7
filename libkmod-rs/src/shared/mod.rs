//! The C library behaviour kmod depends on, emulated in one place (kmod keeps such
//! helpers in its `shared/` folder): glibc's `fnmatch` for alias patterns, POSIX
//! extended regular expressions for depmod.d's kernel patterns, `strtol` with C's
//! `isspace`, and a fast hasher for name tables; and the configuration file reading
//! libkmod and depmod share. `strerror` is [`crate::Errno`]'s
//! `Display`.

pub(crate) mod conf;
pub(crate) mod ere;
pub(crate) mod fnmatch;
pub(crate) mod fxhash;
pub(crate) mod strtol;
