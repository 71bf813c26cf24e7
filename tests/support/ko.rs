//! The synthetic module builder, shared with the library's own tests.

pub use libkmod_rs::testko::Ko;
