//! The synthetic module builder, shared with the library's own tests.

pub use kmod_testko::Ko;
