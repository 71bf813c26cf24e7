//! fnmatch (placeholder, being written).
