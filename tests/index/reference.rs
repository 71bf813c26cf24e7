//! The index writer `libkmod_rs::index::IndexBuilder` replaced: a trie built
//! insertion by insertion, with a heap-allocated child list and value list per
//! node, written from the format description in `libkmod-rs/src/index/mod.rs`.
//! Kept as the straightforward reference the faster builder's results and bytes
//! are compared with (see `write_equiv`).

/// Magic number at offset 0 of every index file.
const INDEX_MAGIC: u32 = 0xB007_F457;
/// The format version depmod writes (major 2, minor 1).
const INDEX_VERSION: u32 = 0x0002_0001;
/// Node reference flag: the node has a prefix.
const NODE_PREFIX: u32 = 0x8000_0000;
/// Node reference flag: the node has values.
const NODE_VALUES: u32 = 0x4000_0000;
/// Node reference flag: the node has children.
const NODE_CHILDREN: u32 = 0x2000_0000;
/// Mask of the file offset in a node reference.
const NODE_OFFSET_MASK: u32 = 0x0FFF_FFFF;
/// Size of the file header (magic, version, root reference).
const HEADER_SIZE: usize = 12;

/// Why the reference refuses an insertion or an index: the same cases as the
/// library's builder, whose error message is `Module index: <this, debug-printed>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The key has a byte >= 128.
    NonAsciiKey {
        /// The offending byte (the first one).
        byte: u8,
        /// The whole key.
        key: Vec<u8>,
    },
    /// The key or the value contains a NUL byte.
    Nul,
    /// The file would not fit 28-bit node offsets.
    TooLarge {
        /// Its size.
        size: u64,
    },
}

/// The first byte >= 128 of `s`.
fn first_non_ascii(s: &[u8]) -> Option<u8> {
    s.iter().copied().find(|&c| c >= 128)
}

/// A byte range in [`ReferenceBuilder::bytes`].
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn len(self) -> usize {
        self.end - self.start
    }

    fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One value of a key.
#[derive(Debug, Clone, Copy)]
struct Value {
    priority: u32,
    value: Span,
}

/// A trie node in the builder's arena.
#[derive(Debug, Clone, Default)]
struct BNode {
    prefix: Span,
    /// (arc byte, node index), sorted by arc byte.
    children: Vec<(u8, usize)>,
    /// Sorted by ascending priority; equal priorities newest first.
    values: Vec<Value>,
}

impl BNode {
    /// The flags of a reference to this node.
    fn mask(&self) -> u32 {
        let mut m = 0;
        if !self.prefix.is_empty() {
            m |= NODE_PREFIX;
        }
        if !self.children.is_empty() {
            m |= NODE_CHILDREN;
        }
        if !self.values.is_empty() {
            m |= NODE_VALUES;
        }
        m
    }

    /// Bytes this node (without its children) takes in the file.
    fn size(&self) -> u64 {
        let mut n = 0u64;
        if !self.prefix.is_empty() {
            n += self.prefix.len() as u64 + 1;
        }
        if let (Some(first), Some(last)) = (self.children.first(), self.children.last()) {
            n += 2 + 4 * (u64::from(last.0 - first.0) + 1);
        }
        if !self.values.is_empty() {
            n += 4;
            n += self
                .values
                .iter()
                .map(|v| 4 + v.value.len() as u64 + 1)
                .sum::<u64>();
        }
        n
    }
}

/// The straightforward builder: the same insertions give the same bytes as
/// [`IndexBuilder`](super::IndexBuilder).
#[derive(Debug, Clone)]
pub struct ReferenceBuilder {
    /// Node arena; index 0 is the root (whose prefix stays empty).
    nodes: Vec<BNode>,
    /// Every prefix and value string, back to back (a node split only divides
    /// its prefix's span, so nothing is ever copied twice).
    bytes: Vec<u8>,
}

impl ReferenceBuilder {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        ReferenceBuilder {
            nodes: vec![BNode::default()],
            bytes: Vec::new(),
        }
    }

    fn span(&self, s: Span) -> &[u8] {
        &self.bytes[s.start..s.end]
    }

    fn push_bytes(&mut self, b: &[u8]) -> Span {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(b);
        Span {
            start,
            end: self.bytes.len(),
        }
    }

    /// Add `value` with `priority` to the values of `key`. The key's values
    /// stay sorted by ascending priority, and a value is inserted *before*
    /// existing values of the same priority (as depmod does). Duplicates are
    /// kept; the result is `true` when the key already had an identical value
    /// string (depmod `-w` warns about those).
    ///
    /// Fails when the key has a byte >= 128 or either string contains a NUL.
    /// Values with bytes >= 128 are accepted (depmod logs about them but
    /// stores them; see [`first_non_ascii`]).
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> Result<bool, BuildError> {
        if key.contains(&0) || value.contains(&0) {
            return Err(BuildError::Nul);
        }
        if let Some(byte) = first_non_ascii(key) {
            return Err(BuildError::NonAsciiKey {
                byte,
                key: key.to_vec(),
            });
        }
        let mut node = 0usize;
        let mut i = 0usize;
        loop {
            // Make the node's prefix a prefix of key[i..], splitting the node
            // where they diverge.
            let prefix = self.span(self.nodes[node].prefix);
            let common = prefix
                .iter()
                .zip(&key[i..])
                .take_while(|(a, b)| a == b)
                .count();
            if common < prefix.len() {
                self.split(node, common);
            }
            i += common;
            let Some(&ch) = key.get(i) else {
                return Ok(self.add_value(node, value, priority));
            };
            let children = &self.nodes[node].children;
            match children.binary_search_by_key(&ch, |c| c.0) {
                Ok(pos) => {
                    node = children[pos].1;
                    i += 1;
                }
                Err(pos) => {
                    let child = self.nodes.len();
                    let prefix = self.push_bytes(&key[i + 1..]);
                    let value = self.push_bytes(value);
                    self.nodes.push(BNode {
                        prefix,
                        children: Vec::new(),
                        values: vec![Value { priority, value }],
                    });
                    self.nodes[node].children.insert(pos, (ch, child));
                    return Ok(false);
                }
            }
        }
    }

    /// Insert a value into a node's sorted value list the way depmod does;
    /// `true` when an identical value string was already present.
    fn add_value(&mut self, node: usize, value: &[u8], priority: u32) -> bool {
        let values = &self.nodes[node].values;
        let duplicate = values.iter().any(|v| self.span(v.value) == value);
        let pos = values.partition_point(|v| v.priority < priority);
        let value = self.push_bytes(value);
        self.nodes[node]
            .values
            .insert(pos, Value { priority, value });
        duplicate
    }

    /// Split `node` at byte `at` of its prefix: the node keeps `prefix[..at]`
    /// and gets a single child (on arc byte `prefix[at]`) holding the rest of
    /// the prefix and everything the node had.
    fn split(&mut self, node: usize, at: usize) {
        let old = &mut self.nodes[node];
        let p = old.prefix;
        let arc = self.bytes[p.start + at];
        old.prefix = Span {
            start: p.start,
            end: p.start + at,
        };
        let moved = BNode {
            prefix: Span {
                start: p.start + at + 1,
                end: p.end,
            },
            children: std::mem::take(&mut old.children),
            values: std::mem::take(&mut old.values),
        };
        let child = self.nodes.len();
        self.nodes.push(moved);
        self.nodes[node].children = vec![(arc, child)];
    }

    /// The nodes in pre-order (children by ascending arc byte).
    fn preorder(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            order.push(n);
            stack.extend(self.nodes[n].children.iter().rev().map(|c| c.1));
        }
        order
    }

    /// Serialise in kmod 34's pre-order layout.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BuildError> {
        let order = self.preorder();
        let size: Vec<u64> = self.nodes.iter().map(BNode::size).collect();
        // Subtree sizes, children before parents.
        let mut total = size.clone();
        for &n in order.iter().rev() {
            let sum: u64 = self.nodes[n].children.iter().map(|c| total[c.1]).sum();
            total[n] += sum;
        }
        let file_size = HEADER_SIZE as u64 + total[0];
        if file_size > u64::from(NODE_OFFSET_MASK) {
            return Err(BuildError::TooLarge { size: file_size });
        }
        let mut offset = vec![0u32; self.nodes.len()];
        offset[0] = HEADER_SIZE as u32;
        for &n in &order {
            let mut next = u64::from(offset[n]) + size[n];
            for &(_, c) in &self.nodes[n].children {
                offset[c] = next as u32;
                next += total[c];
            }
        }

        let mut out = Vec::with_capacity(file_size as usize);
        out.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
        out.extend_from_slice(&INDEX_VERSION.to_be_bytes());
        out.extend_from_slice(&(offset[0] | self.nodes[0].mask()).to_be_bytes());
        for &n in &order {
            debug_assert_eq!(out.len() as u64, u64::from(offset[n]));
            let node = &self.nodes[n];
            if !node.prefix.is_empty() {
                out.extend_from_slice(self.span(node.prefix));
                out.push(0);
            }
            if let (Some(&(first, _)), Some(&(last, _))) =
                (node.children.first(), node.children.last())
            {
                out.push(first);
                out.push(last);
                let mut it = node.children.iter().peekable();
                for ch in first..=last {
                    let r = match it.next_if(|c| c.0 == ch) {
                        Some(&(_, c)) => offset[c] | self.nodes[c].mask(),
                        None => 0,
                    };
                    out.extend_from_slice(&r.to_be_bytes());
                }
            }
            if !node.values.is_empty() {
                out.extend_from_slice(&(node.values.len() as u32).to_be_bytes());
                for v in &node.values {
                    out.extend_from_slice(&v.priority.to_be_bytes());
                    out.extend_from_slice(self.span(v.value));
                    out.push(0);
                }
            }
        }
        Ok(out)
    }
}
