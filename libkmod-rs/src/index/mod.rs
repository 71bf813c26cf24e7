//! The binary module indexes (`modules.dep.bin`, `modules.alias.bin`,
//! `modules.symbols.bin`, `modules.builtin.bin`, `modules.builtin.alias.bin`):
//! a reader working over the file's bytes ([`Index`]) and a writer
//! ([`IndexBuilder`]) producing the same bytes kmod 34's depmod writes.
//!
//! # What an index stores
//!
//! A map from keys (7-bit ASCII strings) to ordered lists of values, each
//! value being a `(priority: u32, value: string)` pair. The list of one key is
//! kept sorted by ascending priority; a value added with a priority equal to
//! existing ones goes *before* them. The map is stored as a path-compressed
//! trie (a radix tree): every node carries the bytes of one or more key
//! characters, the arc from a node to a child is labelled with one more byte.
//!
//! # On-disk format
//!
//! All integers are 32-bit big-endian; strings are NUL-terminated. The file
//! starts with a 12-byte header:
//!
//! ```text
//! offset 0   u32  magic        0xB007F457
//! offset 4   u32  version      0x00020001 (major = high 16 bits, must be 2;
//!                                          the minor half is ignored)
//! offset 8   u32  root         node reference of the root node
//! ```
//!
//! A *node reference* is a u32 whose low 28 bits (`0x0FFFFFFF`) are the
//! absolute file offset of the node and whose high bits say which parts the
//! node has:
//!
//! ```text
//! 0x80000000  PREFIX    the node has a (non-empty) prefix
//! 0x40000000  VALUES    the node has values
//! 0x20000000  CHILDREN  the node has children
//! ```
//!
//! An offset of 0 means "no node". The node's bytes, each part present only
//! when its flag is set in the reference pointing at the node:
//!
//! ```text
//! PREFIX:    prefix bytes, NUL                     (len + 1 bytes)
//! CHILDREN:  u8 first, u8 last,                    (2 bytes)
//!            u32 child[last - first + 1]           (child[i] is the reference
//!                                                   for arc byte first + i;
//!                                                   0 = no child)
//! VALUES:    u32 count,                            (4 bytes)
//!            count × { u32 priority, value, NUL }  (4 + len + 1 bytes each)
//! ```
//!
//! The key of a node is the concatenation, from the root down, of each node's
//! prefix followed by the arc byte to the next node. The root's prefix is
//! always empty. `first` and `last` are below 128 (readers reject other nodes).
//!
//! kmod 34's depmod lays the nodes out in *pre-order*: the root at offset 12,
//! then the subtree of each child in ascending arc-byte order, each subtree
//! contiguous — so a child's offset is its parent's offset plus the parent's
//! size plus the sizes of the subtrees of its preceding siblings, and the
//! header's root reference is `12 | flags(root)`. An empty index is just the
//! header with root reference `0x0000000C` (a node with no parts at offset
//! 12, i.e. at the end of the file). kmod 33 and older wrote the nodes in
//! *post-order* (children first, root last); since all references are
//! absolute, [`Index`] reads both.
//!
//! # Example
//!
//! depmod's `modules.symbols.bin` for one exported symbol `dummy_export` of
//! the module `scsi_mod` (module index 1, used as the priority):
//!
//! ```text
//! 0x00  b007f457 00020001 2000000c        header, root = 12 | CHILDREN
//! 0x0c  73 73 c0000012                    root: children 's'..'s', child ref
//!                                         = 0x12 | PREFIX | VALUES
//! 0x12  "ymbol:dummy_export\0"            child: prefix
//!       00000001 00000001 "scsi_mod\0"    1 value: priority 1, "scsi_mod"
//! ```
//!
//! # Robustness
//!
//! The reader never panics and never loops forever on corrupt data: references
//! past the end of the data, nodes whose parts run past the end, child ranges
//! that are not below 128 are all treated as absent nodes; truncated value
//! lists end early; traversals of whole subtrees are bounded by a work budget
//! proportional to the file size, so reference cycles end the walk instead of
//! hanging it.

mod read;
mod write;

pub use read::Index;
pub use write::IndexBuilder;
pub(crate) use write::first_non_ascii;

use std::fmt;

/// Magic number at offset 0 of every index file ("BOOTFAST").
pub(crate) const INDEX_MAGIC: u32 = 0xB007_F457;
/// The format version depmod writes (major 2, minor 1).
pub(crate) const INDEX_VERSION: u32 = 0x0002_0001;
/// The only major version (high 16 bits of the version word) readers accept.
pub(crate) const INDEX_VERSION_MAJOR: u32 = 2;
/// Node reference flag: the node has a prefix.
pub(crate) const NODE_PREFIX: u32 = 0x8000_0000;
/// Node reference flag: the node has values.
pub(crate) const NODE_VALUES: u32 = 0x4000_0000;
/// Node reference flag: the node has children.
pub(crate) const NODE_CHILDREN: u32 = 0x2000_0000;
/// Mask of the file offset in a node reference.
pub(crate) const NODE_OFFSET_MASK: u32 = 0x0FFF_FFFF;
/// Size of the file header (magic, version, root reference).
pub(crate) const HEADER_SIZE: usize = 12;
/// Arc bytes (and so key bytes) must be below this value.
pub(crate) const CHILD_MAX: u8 = 128;

/// One value of a key: its priority and its string (without the NUL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexValue<'a> {
    /// Priority; depmod uses the module's position in its module list.
    pub priority: u32,
    /// The value string (a `modules.dep` line, a module name, ...).
    pub value: &'a [u8],
}

/// Why an index file could not be opened. The `Display` text is kmod's log
/// message for the same failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum IndexError {
    /// The file is shorter than the 12-byte header (kmod fails with `EINVAL`
    /// without logging anything).
    TooShort {
        /// The file's size in bytes.
        size: usize,
    },
    /// The magic number is wrong.
    BadMagic {
        /// The magic number found.
        found: u32,
    },
    /// The major version (high 16 bits of the version word) is not 2.
    BadVersion {
        /// The major version found.
        major: u32,
    },
}

impl IndexError {
    /// Offset in the file of the field found to be bad.
    #[must_use]
    pub(crate) fn offset(&self) -> u64 {
        match self {
            IndexError::TooShort { .. } | IndexError::BadMagic { .. } => 0,
            IndexError::BadVersion { .. } => 4,
        }
    }
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::TooShort { size } => {
                write!(
                    f,
                    "file too short: {size} bytes instead of at least {HEADER_SIZE}"
                )
            }
            IndexError::BadMagic { found } => {
                write!(f, "magic check fail: {found:x} instead of {INDEX_MAGIC:x}")
            }
            IndexError::BadVersion { major } => write!(
                f,
                "major version check fail: {major} instead of {INDEX_VERSION_MAJOR}"
            ),
        }
    }
}

impl std::error::Error for IndexError {}

impl From<IndexError> for crate::Error {
    /// kmod's message for an index whose header is unusable (`EINVAL`).
    fn from(e: IndexError) -> crate::Error {
        crate::Error::Index {
            path: std::path::PathBuf::new(),
            offset: e.offset(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
