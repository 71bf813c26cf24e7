//! A fast hasher for tables keyed by names read from local files.

use std::hash::{BuildHasherDefault, Hasher};

/// A fast non-cryptographic hasher (FxHash's mixing) for symbol and module tables:
/// keys come from local files, so flooding resistance is not needed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Fx(u64);

/// One step of FxHash's mixing: `h` with `w` added (a whole 8-byte word, or one
/// byte of a string's tail).
#[must_use]
pub(crate) fn mix(h: u64, w: u64) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = mix(self.0, w);
        }
        for &b in chunks.remainder() {
            self.0 = mix(self.0, u64::from(b));
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// `BuildHasher` for [`Fx`].
pub(crate) type FastHash = BuildHasherDefault<Fx>;
