//! Binary module indexes (placeholder, being written).
