//! The tools, one module each: an option table, and `run`.

pub mod depmod;
pub mod modinfo;
