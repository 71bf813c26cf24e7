//! The tools, one module each: an option table, and `run`.

pub mod depmod;
pub mod insmod;
pub mod logging;
pub mod lsmod;
pub mod modinfo;
pub mod modprobe;
pub mod rmmod;
pub mod static_nodes;
