//! Module signature trailer (placeholder, being written).
