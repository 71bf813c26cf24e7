//! Reading an index from its bytes: exact lookups, wildcard searches, dumps.

use std::io::{self, Write};

use super::{
    CHILD_MAX, HEADER_SIZE, INDEX_MAGIC, INDEX_VERSION_MAJOR, IndexError, IndexValue,
    NODE_CHILDREN, NODE_OFFSET_MASK, NODE_PREFIX, NODE_VALUES,
};
use crate::shared::fnmatch::fnmatch;
use crate::shared::fxhash::FastHash;
use std::collections::HashSet;

/// Read the big-endian u32 at `pos`, if the data is long enough.
fn be32(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The bytes before the first NUL (all of `b` if it has none): keys are C
/// strings in kmod.
fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// A node decoded from the file.
#[derive(Clone, Copy)]
struct Node<'a> {
    /// Where the node starts in the file.
    offset: u32,
    /// Prefix bytes (empty when the node has none).
    prefix: &'a [u8],
    /// First arc byte of the child table (1 with `last` 0 when there is none).
    first: u16,
    /// Last arc byte of the child table.
    last: u16,
    /// The child table: 4 bytes per arc byte `first..=last`.
    children: &'a [u8],
    /// Number of values the node claims to have.
    value_count: u32,
    /// The bytes from the first value to the end of the file.
    values: &'a [u8],
}

impl<'a> Node<'a> {
    /// Decode the node a reference points at; `None` for "no node" and for
    /// anything that does not fit in the data.
    fn read(data: &'a [u8], reference: u32) -> Option<Node<'a>> {
        let offset = (reference & NODE_OFFSET_MASK) as usize;
        if offset == 0 || offset >= data.len() {
            return None;
        }
        let mut pos = offset;
        let mut prefix: &[u8] = &[];
        if reference & NODE_PREFIX != 0 {
            let rest = &data[pos..];
            let len = rest.iter().position(|&c| c == 0)?;
            prefix = &rest[..len];
            pos += len + 1;
        }
        let (mut first, mut last, mut children): (u16, u16, &[u8]) = (1, 0, &[]);
        if reference & NODE_CHILDREN != 0 {
            let f = *data.get(pos)?;
            let l = *data.get(pos + 1)?;
            if f > l || f >= CHILD_MAX || l >= CHILD_MAX {
                return None;
            }
            let n = (usize::from(l - f) + 1) * 4;
            children = data.get(pos + 2..pos + 2 + n)?;
            (first, last) = (u16::from(f), u16::from(l));
            pos += 2 + n;
        }
        let (mut value_count, mut values): (u32, &[u8]) = (0, &[]);
        if reference & NODE_VALUES != 0 {
            value_count = be32(data, pos)?;
            values = &data[pos + 4..];
        }
        Some(Node {
            offset: offset as u32,
            prefix,
            first,
            last,
            children,
            value_count,
            values,
        })
    }

    /// The reference of the child reached by the arc byte `ch` (`None` when
    /// there is no such child).
    fn child_ref(&self, ch: u16) -> Option<u32> {
        if ch < self.first || ch > self.last {
            return None;
        }
        let r = be32(self.children, usize::from(ch - self.first) * 4)?;
        (r != 0).then_some(r)
    }

    /// The node's values in stored order; ends early where the data does.
    fn values(&self) -> Values<'a> {
        Values {
            rest: self.values,
            remaining: self.value_count,
        }
    }
}

/// Iterator over the values stored in one node.
struct Values<'a> {
    rest: &'a [u8],
    remaining: u32,
}

impl<'a> Iterator for Values<'a> {
    type Item = IndexValue<'a>;

    fn next(&mut self) -> Option<IndexValue<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let parsed = be32(self.rest, 0).and_then(|priority| {
            let s = &self.rest[4..];
            let len = s.iter().position(|&c| c == 0)?;
            Some((
                IndexValue {
                    priority,
                    value: &s[..len],
                },
                &s[len + 1..],
            ))
        });
        if let Some((v, rest)) = parsed {
            self.rest = rest;
            Some(v)
        } else {
            self.remaining = 0;
            None
        }
    }
}

/// The most values a lookup or dump returns: a well-formed file stores each value
/// once in at least 5 bytes, and a wildcard search may find a pattern twice; crafted
/// files whose nodes share one value list could otherwise return far more values
/// than they have bytes.
fn value_cap(data: &[u8]) -> usize {
    (data.len() / 5).saturating_mul(2).saturating_add(16)
}

/// One level of an explicit depth-first walk.
struct Frame<'a> {
    node: Node<'a>,
    /// Next arc byte to try.
    next: u16,
    /// Length of the key buffer before this node's bytes were pushed.
    len: usize,
}

/// Key and value bytes a walk may hand out (dump lines, patterns matched), per
/// byte of the file: real indexes need about one (each key is stored once, shared
/// prefixes once).
const OUT_PER_BYTE: usize = 16;
/// ... plus this much, for small files.
const OUT_MIN: usize = 1 << 20;

/// Depth-first walk of a subtree with work budgets. Each node entered costs
/// its arc byte plus its prefix length plus one; a well-formed file never
/// needs more than its own size in total, so running out means the
/// references loop and the walk stops. A node is entered at most once per
/// subtree walked (a well-formed file is a tree; a crafted one can reach a node
/// twice, or loop): at a second reference to it the walk goes on without it. What the walk hands
/// out (keys with values) is bounded too: see [`Walk::spend`].
struct Walk<'a> {
    data: &'a [u8],
    budget: usize,
    /// What [`Walk::spend`] may still hand out.
    out: usize,
    key: Vec<u8>,
    stack: Vec<Frame<'a>>,
    /// Offsets of the nodes entered.
    seen: HashSet<u32, FastHash>,
}

impl<'a> Walk<'a> {
    fn new(data: &'a [u8]) -> Self {
        Walk {
            data,
            budget: data.len().saturating_mul(2).saturating_add(64),
            out: data
                .len()
                .saturating_mul(OUT_PER_BYTE)
                .saturating_add(OUT_MIN),
            key: Vec::new(),
            stack: Vec::new(),
            seen: HashSet::default(),
        }
    }

    /// Charge `n` bytes handed out (a key with its values, a pattern matched) to
    /// the output budget, which is proportional to the file's size: `false` (and
    /// the walk ends) when it is exhausted. A well-formed file needs far less; a
    /// crafted one with very deep keys would otherwise give output quadratic in
    /// its size.
    fn spend(&mut self, n: usize) -> bool {
        if let Some(left) = self.out.checked_sub(n) {
            self.out = left;
            true
        } else {
            self.out = 0;
            self.budget = 0;
            self.stack.clear();
            false
        }
    }

    /// Charge `cost` to the budget; `false` when it is exhausted.
    fn charge(&mut self, cost: usize) -> bool {
        if let Some(b) = self.budget.checked_sub(cost) {
            self.budget = b;
            true
        } else {
            self.budget = 0;
            false
        }
    }

    /// Start walking at `node`, pushing its prefix from byte `skip` on (`false`
    /// when it was entered before or the budget is exhausted).
    fn enter(&mut self, node: Node<'a>, skip: usize) -> bool {
        let part = node.prefix.get(skip..).unwrap_or_default();
        if !self.charge(part.len() + 1) || !self.seen.insert(node.offset) {
            return false;
        }
        let len = self.key.len();
        self.key.extend_from_slice(part);
        self.stack.push(Frame {
            node,
            next: node.first,
            len,
        });
        true
    }

    /// Advance the walk: `Some(Step::Enter)` after descending into a new node
    /// (now on top of the stack, its key in `self.key`), `Some(Step::Leave)`
    /// when the top node has no more children (it stays on the stack until
    /// [`Walk::pop`]), `None` when the walk is over.
    fn step(&mut self) -> Option<Step> {
        let data = self.data;
        let next = {
            let top = self.stack.last_mut()?;
            let mut next = None;
            while top.next <= top.node.last {
                let ch = top.next;
                top.next += 1;
                if let Some(child) = top.node.child_ref(ch).and_then(|r| Node::read(data, r))
                    && !self.seen.contains(&child.offset)
                {
                    next = Some((ch, child));
                    break;
                }
            }
            next
        };
        let Some((ch, child)) = next else {
            return Some(Step::Leave);
        };
        let len = self.key.len();
        if !self.charge(1) {
            self.stack.clear();
            return None;
        }
        self.key.push(ch as u8);
        if !self.enter(child, 0) {
            self.stack.clear();
            return None;
        }
        // `enter` recorded the length after the arc byte; pop that too later.
        if let Some(f) = self.stack.last_mut() {
            f.len = len;
        }
        Some(Step::Enter)
    }

    /// Remove the top node and its bytes from the key.
    fn pop(&mut self) {
        if let Some(f) = self.stack.pop() {
            self.key.truncate(f.len);
        }
    }
}

/// What [`Walk::step`] did.
enum Step {
    Enter,
    Leave,
}

/// A module index file, read from its bytes (typically a memory map the
/// caller made of `modules.*.bin`).
///
/// All lookups treat the key as a C string: it ends at its first NUL byte.
/// Key bytes >= 128 never match a stored key byte (kmod compares them as
/// signed `char`s on x86); in a wildcard search they can still be matched by
/// a stored `*`, `?` or negated bracket.
#[derive(Clone, Copy)]
pub struct Index<'a> {
    data: &'a [u8],
    root: u32,
}

impl std::fmt::Debug for Index<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("len", &self.data.len())
            .field("root", &format_args!("{:#010x}", self.root))
            .finish()
    }
}

impl<'a> Index<'a> {
    /// Check the header of `data` (size, magic, major version) the way kmod's
    /// `index_mm_open` does ([`crate::Error::Index`] with kmod's message when it
    /// is wrong). Nothing else is validated up front: damaged nodes are found (and
    /// skipped) by the lookups.
    pub fn new(data: &'a [u8]) -> Result<Index<'a>, crate::Error> {
        Ok(Self::open(data)?)
    }

    /// [`Index::new`] with the header problem as it is.
    pub(crate) fn open(data: &'a [u8]) -> Result<Index<'a>, IndexError> {
        if data.len() < HEADER_SIZE {
            return Err(IndexError::TooShort { size: data.len() });
        }
        let word = |i| be32(data, i).unwrap_or_default();
        let magic = word(0);
        if magic != INDEX_MAGIC {
            return Err(IndexError::BadMagic { found: magic });
        }
        let major = word(4) >> 16;
        if major != INDEX_VERSION_MAJOR {
            return Err(IndexError::BadVersion { major });
        }
        Ok(Index {
            data,
            root: word(8),
        })
    }

    /// The reader of `data` whose header was checked already (by [`Index::open`]
    /// of the same bytes): `root` is the offset that header gives.
    pub(crate) fn with_root(data: &'a [u8], root: u32) -> Index<'a> {
        Index { data, root }
    }

    /// The root node's offset, from the header.
    pub(crate) fn root(&self) -> u32 {
        self.root
    }

    /// The node whose key is exactly `key`.
    fn find(&self, key: &[u8]) -> Option<Node<'a>> {
        let key = until_nul(key);
        let mut node = Node::read(self.data, self.root)?;
        let mut i = 0;
        loop {
            for (j, &ch) in node.prefix.iter().enumerate() {
                if ch >= CHILD_MAX || key.get(i + j) != Some(&ch) {
                    return None;
                }
            }
            i += node.prefix.len();
            let Some(&ch) = key.get(i) else {
                return Some(node);
            };
            node = Node::read(self.data, node.child_ref(u16::from(ch))?)?;
            i += 1;
        }
    }

    /// Exact lookup, as kmod's `index_mm_search`: the first stored value of
    /// `key` (for indexes written by depmod, the one with the lowest
    /// priority), or `None` when the key is absent or has no values.
    #[must_use]
    pub fn lookup(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.find(key)?.values().next().map(|v| v.value)
    }

    /// All values of exactly `key`, in stored order (ascending priority for
    /// indexes written by depmod); empty when the key is absent.
    #[must_use]
    pub fn lookup_all(&self, key: &[u8]) -> Vec<IndexValue<'a>> {
        self.find(key)
            .map(|n| n.values().collect())
            .unwrap_or_default()
    }

    /// Wildcard search, as kmod's `index_mm_searchwild` (used with
    /// `modules.alias.bin`, `modules.symbols.bin` and
    /// `modules.builtin.alias.bin`): the stored keys are `fnmatch` patterns
    /// and `key` is a plain string. Returns the values of every stored
    /// pattern matching `key`, ordered by ascending priority; among equal
    /// priorities the value found later comes first (kmod inserts each match
    /// in front of equal priorities).
    ///
    /// The trie is descended literally along `key`. Where a node's prefix
    /// reaches a `*`, `?` or `[`, or at each node for its children on those
    /// three arc bytes, the whole subtree is enumerated and each stored
    /// pattern (from the first wildcard on) is matched against the rest of
    /// `key`. When `key` ends during the literal descent, all values of the
    /// node reached match.
    #[must_use]
    pub fn search(&self, key: &[u8]) -> Vec<IndexValue<'a>> {
        let key = until_nul(key);
        let mut found = Vec::new();
        let mut walk = Walk::new(self.data);
        if let Some(mut node) = Node::read(self.data, self.root) {
            let mut k = 0;
            'descent: loop {
                for (j, &ch) in node.prefix.iter().enumerate() {
                    if matches!(ch, b'*' | b'?' | b'[') {
                        walk.key.clear();
                        collect(&mut walk, node, j, &key[k + j..], &mut found);
                        break 'descent;
                    }
                    if ch >= CHILD_MAX || key.get(k + j) != Some(&ch) {
                        break 'descent;
                    }
                }
                k += node.prefix.len();
                let rest = &key[k..];
                for wild in [b'*', b'?', b'['] {
                    let child = node
                        .child_ref(u16::from(wild))
                        .and_then(|r| Node::read(self.data, r));
                    if let Some(child) = child {
                        walk.key.clear();
                        walk.key.push(wild);
                        collect(&mut walk, child, 0, rest, &mut found);
                    }
                }
                let Some(&ch) = rest.first() else {
                    let room = value_cap(self.data).saturating_sub(found.len());
                    found.extend(node.values().take(room));
                    break;
                };
                match node
                    .child_ref(u16::from(ch))
                    .and_then(|r| Node::read(self.data, r))
                {
                    Some(child) => node = child,
                    None => break,
                }
                k += 1;
            }
        }
        found.reverse();
        found.sort_by_key(|v| v.priority);
        found
    }

    /// Visit every (key, value) pair in kmod's dump order: pre-order, each
    /// node's values in stored order before its children in ascending arc
    /// byte order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], IndexValue<'a>)) {
        let Some(root) = Node::read(self.data, self.root) else {
            return;
        };
        let mut walk = Walk::new(self.data);
        if !walk.enter(root, 0) {
            return;
        }
        // a crafted file can make nodes share value lists: bound the output too
        let mut room = value_cap(self.data);
        for v in root.values().take(room) {
            room -= 1;
            if !walk.spend(walk.key.len() + v.value.len() + 1) {
                return;
            }
            f(&walk.key, v);
        }
        while let Some(step) = walk.step() {
            match step {
                Step::Enter => {
                    if let Some(top) = walk.stack.last() {
                        for v in top.node.values().take(room) {
                            room -= 1;
                            if !walk.spend(walk.key.len() + v.value.len() + 1) {
                                return;
                            }
                            f(&walk.key, v);
                        }
                    }
                }
                Step::Leave => walk.pop(),
            }
        }
    }

    /// Like [`Index::for_each`], with the value strings only: the order and
    /// content of kmod's `index_dump` (`modprobe --show-config` style output
    /// of the index files).
    pub(crate) fn dump(&self, mut f: impl FnMut(&[u8], &'a [u8])) {
        self.for_each(|k, v| f(k, v.value));
    }

    /// Write kmod's dump text: one `key value` line per value, with each key
    /// preceded by `alias ` when `alias_prefix` is set (as kmod does for
    /// `modules.alias` and `modules.symbols`).
    pub fn dump_to(&self, out: &mut impl Write, alias_prefix: bool) -> io::Result<()> {
        let mut result = Ok(());
        let mut line = Vec::new();
        self.dump(|key, value| {
            if result.is_err() {
                return;
            }
            line.clear();
            if alias_prefix {
                line.extend_from_slice(b"alias ");
            }
            line.extend_from_slice(key);
            line.push(b' ');
            line.extend_from_slice(value);
            line.push(b'\n');
            result = out.write_all(&line);
        });
        result
    }
}

/// Enumerate the subtree at `node` (its prefix taken from byte `skip` on,
/// appended to the pattern already in `walk.key`) and add the values of every
/// node whose pattern matches `subkey`. Children are visited before the
/// node's own values are tested, as in kmod.
fn collect<'a>(
    walk: &mut Walk<'a>,
    node: Node<'a>,
    skip: usize,
    subkey: &[u8],
    found: &mut Vec<IndexValue<'a>>,
) {
    let base = walk.key.len();
    // each node at most once per subtree walk (a query with wildcard bytes walks
    // some subtrees again, from the literal descent: kmod reports those twice)
    walk.seen.clear();
    if !walk.enter(node, skip) {
        walk.key.truncate(base);
        return;
    }
    while let Some(step) = walk.step() {
        if let Step::Leave = step {
            if let Some(top) = walk.stack.last()
                && top.node.value_count > 0
            {
                let node = top.node;
                if !walk.spend(walk.key.len() + 1) {
                    break;
                }
                if fnmatch(&walk.key, subkey) {
                    let room = value_cap(walk.data).saturating_sub(found.len());
                    for v in node.values().take(room) {
                        if !walk.spend(v.value.len() + 1) {
                            break;
                        }
                        found.push(v);
                    }
                }
            }
            walk.pop();
        }
    }
    walk.key.truncate(base);
}
