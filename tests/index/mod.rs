//! The index format against independent references: a straightforward trie
//! builder (`reference`, compared with the library's builder in `write_equiv`) and
//! the indexes kmod 34.2's depmod writes for real trees (`real_data`).

mod real_data;
mod reference;
mod write_equiv;

/// A small deterministic generator (xorshift64) for the randomised cases.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick(&mut self, from: &[u8]) -> u8 {
        from[self.below(from.len())]
    }
}
