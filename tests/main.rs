//! The one integration-test binary.
//!
//! * `cli`: the tools run in-process or as `kmod` through argv[0], on fixtures;
//! * `oracle_*`: differential tests against the real kmod 34.2 on Debian's module
//!   trees. They need the reference data fetched by `scripts/fetch-reference.sh`; when
//!   it is missing they fail if `KMOD_RS_REQUIRE_ORACLE=1` (as in CI), else skip.

mod support;

mod api;
mod checks;
mod cli;
mod depmod_config_scale;
mod depmod_crash;
mod depmod_cycles;
mod depmod_incremental;
mod depmod_synthetic;
mod depmod_write_errors;
mod hardening;
mod index;
mod initramfs_tools;
mod json_output;
mod loading;
mod modprobe_cases;
mod oracle_argv;
mod oracle_depmod;
mod oracle_modinfo;
mod oracle_modprobe;
mod packaging;
mod vm_tests;
