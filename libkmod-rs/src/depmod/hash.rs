//! The iteration order of kmod's fixed-size hash table (`shared/hash.c`).
//!
//! kmod's depmod keeps its modules (512 buckets) and its symbols (2048 buckets) in a
//! hash table, and several outputs (`modules.symbols`, the order of the modules that
//! `modules.order` does not list) follow the table's iteration order.  That order is a
//! pure function of the set of keys:
//!
//! * a key goes to bucket `superfasthash(key) & (buckets - 1)`;
//! * inside a bucket, entries are kept sorted by `strcmp` (an insert shifts the larger
//!   entries up; replacing an existing key keeps its slot);
//! * iteration walks buckets `0..buckets`, each bucket's entries in order.
//!
//! Keys are C strings: everything from the first NUL byte on is ignored.

/// Buckets of depmod's module tables (by name and by uncompressed relative path).
pub(crate) const MODULE_BUCKETS: u32 = 512;
/// Buckets of depmod's symbol table.
pub(crate) const SYMBOL_BUCKETS: u32 = 2048;

/// The key as C sees it: up to the first NUL byte.
fn c_str(key: &[u8]) -> &[u8] {
    match key.iter().position(|&b| b == 0) {
        Some(n) => &key[..n],
        None => key,
    }
}

/// A little-endian 16-bit load, as `get_unaligned((uint16_t *)p)` reads on x86.
fn le16(k: &[u8], at: usize) -> u32 {
    u32::from(k[at]) | (u32::from(k[at + 1]) << 8)
}

/// A byte read through a (signed, on x86) `char`, sign-extended to 32 bits.
fn signed_char(b: u8) -> u32 {
    i32::from(b as i8) as u32
}

/// Paul Hsieh's SuperFastHash exactly as kmod computes it on the reference platform
/// (x86: 16-bit reads are little-endian and `char` is signed), in 32-bit wrapping
/// arithmetic.  The length is the C string length of `key` (up to the first NUL).
#[must_use]
pub(crate) fn superfasthash(key: &[u8]) -> u32 {
    let key = c_str(key);
    let len = key.len();
    let mut h = len as u32;
    let chunks = len / 4;
    for c in 0..chunks {
        let k = &key[c * 4..c * 4 + 4];
        h = h.wrapping_add(le16(k, 0));
        let t = (le16(k, 2) << 11) ^ h;
        h = (h << 16) ^ t;
        h = h.wrapping_add(h >> 11);
    }
    let tail = &key[chunks * 4..];
    match tail.len() {
        3 => {
            h = h.wrapping_add(le16(tail, 0));
            h ^= h << 16;
            h ^= signed_char(tail[2]) << 18;
            h = h.wrapping_add(h >> 11);
        }
        2 => {
            h = h.wrapping_add(le16(tail, 0));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        1 => {
            h = h.wrapping_add(signed_char(tail[0]));
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => {}
    }
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h = h.wrapping_add(h >> 6);
    h
}

/// The bucket count kmod really allocates for a requested `buckets`: the next power of
/// two (at least 1).
#[must_use]
pub(crate) fn table_size(buckets: u32) -> u32 {
    buckets
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
        .max(1)
}

/// The bucket `key` lands in, in a table created with `buckets` buckets.
#[must_use]
pub(crate) fn bucket(key: &[u8], buckets: u32) -> u32 {
    superfasthash(key) & (table_size(buckets) - 1)
}

/// The iteration order of a table holding `keys`: indices into `keys`, first visited
/// first.  Equal keys (which kmod's table cannot hold twice) stay in input order.
#[must_use]
pub(crate) fn iteration_order<K: AsRef<[u8]>>(keys: &[K], buckets: u32) -> Vec<usize> {
    let mut tagged: Vec<(u32, &[u8], usize)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let k = c_str(k.as_ref());
            (bucket(k, buckets), k, i)
        })
        .collect();
    tagged.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.cmp(&b.2)));
    tagged.into_iter().map(|(_, _, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Values computed with kmod's C implementation (x86-64).
        assert_eq!(superfasthash(b""), 0);
        assert_eq!(superfasthash(b"a"), 0x115e_a782);
        assert_eq!(superfasthash(b"ab"), 0x516b_8b44);
        assert_eq!(superfasthash(b"abc"), 0xd2be_198a);
        assert_eq!(superfasthash(b"abcd"), 0xdad8_b8db);
        assert_eq!(superfasthash(b"snd_pcm"), 0x1ca4_c8cd);
        assert_eq!(superfasthash(b"\xff"), 0);
        assert_eq!(superfasthash(b"ab\xff"), 0xc25f_0954);
    }

    #[test]
    fn nul_truncates() {
        assert_eq!(superfasthash(b"abc\0def"), superfasthash(b"abc"));
    }

    #[test]
    fn table_sizes() {
        assert_eq!(table_size(512), 512);
        assert_eq!(table_size(500), 512);
        assert_eq!(table_size(0), 1);
        assert_eq!(table_size(1), 1);
        assert_eq!(table_size(u32::MAX), 1 << 31);
    }

    #[test]
    fn order_is_bucket_then_strcmp() {
        let keys = [
            b"snd".to_vec(),
            b"usbcore".to_vec(),
            b"e1000".to_vec(),
            b"ext4".to_vec(),
            b"a".to_vec(),
        ];
        // One bucket: plain byte order.
        let one = iteration_order(&keys, 1);
        let names: Vec<&[u8]> = one.iter().map(|&i| keys[i].as_slice()).collect();
        assert_eq!(
            names,
            [&b"a"[..], b"e1000", b"ext4", b"snd", b"usbcore"].to_vec()
        );
        let order = iteration_order(&keys, MODULE_BUCKETS);
        for w in order.windows(2) {
            let (a, b) = (&keys[w[0]], &keys[w[1]]);
            let (ba, bb) = (bucket(a, 512), bucket(b, 512));
            assert!(ba < bb || (ba == bb && a < b));
        }
    }
}
