//! Any bytes as a `modules.*.bin` index: opening, exact lookups, wildcard
//! searches and the dump must return, never panic or hang (reference cycles,
//! references past the end, truncated nodes...).
//!
//! Keys: the last bytes of the input (so mutations steer them), the first keys
//! the dump finds (and variants of them), and a few fixed modalias strings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libkmod_rs::index::Index;

const FIXED: [&[u8]; 4] = [
    b"usb:v2639p0017d0100dc00dsc00dp00ic03isc01ip01in00",
    b"pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
    b"symbol:usb_serial_register_drivers",
    b"",
];

fuzz_target!(|data: &[u8]| {
    let Ok(index) = Index::new(data) else {
        return;
    };

    let mut keys: Vec<Vec<u8>> = FIXED.iter().map(|k| k.to_vec()).collect();
    let tail = &data[data.len().saturating_sub(24)..];
    keys.push(tail.to_vec());
    // dump (built on for_each) to collect keys, then the text dump (built on
    // dump). Crafted files can hold far more values than bytes (reference
    // cycles and overlapping nodes), hence only these two walks.
    index.for_each(|key, v| {
        let _ = v.value.len();
        if keys.len() < 12 {
            keys.push(key.to_vec());
            // a longer and a shorter string than the stored key
            let mut longer = key.to_vec();
            longer.extend_from_slice(b"0x");
            keys.push(longer);
            if let Some((_, shorter)) = key.split_last() {
                keys.push(shorter.to_vec());
            }
        }
    });
    let _ = index.dump_to(&mut std::io::sink(), true);

    for key in &keys {
        let first = index.lookup(key);
        let all = index.lookup_all(key);
        assert_eq!(
            first,
            all.first().map(|v| v.value),
            "lookup is not the first of lookup_all"
        );
        let found = index.search(key);
        assert!(
            found.windows(2).all(|w| w[0].priority <= w[1].priority),
            "search results not sorted by priority"
        );
    }
});
