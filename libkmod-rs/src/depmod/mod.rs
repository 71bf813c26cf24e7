//! depmod: scan a module tree, resolve symbols into dependencies, and write the
//! `modules.*` files exactly as kmod 34.2's depmod does.
//!
//! * `config`: depmod.d (`search`, `override`, `external`, `exclude`);
//! * `hash`: kmod's hash-table iteration order, which fixes the order of
//!   `modules.symbols` and of modules not listed in `modules.order`;
//! * `order`: `modules.order`;
//! * `build`: discovery, parsing, symbol resolution, topological sort, cycles;
//! * `outputs`: the one table of output files and their writers, and atomic writes.

pub mod build;
pub mod config;
pub mod hash;
pub mod order;
pub mod outputs;
