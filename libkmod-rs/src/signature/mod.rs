//! Module signature trailer, read the way kmod's `modinfo` reports it.
//!
//! A signed module image (after decompression) ends with:
//!
//! ```text
//! [ module                         ]
//! [ signer name    (signer_len)    ]
//! [ key identifier (key_id_len)    ]
//! [ signature data (sig_len)       ]
//! [ info block     (12 bytes)      ]
//! [ "~Module signature appended~\n" (28 bytes) ]
//! ```
//!
//! The info block holds, in order: `u8 algo`, `u8 hash`, `u8 id_type`,
//! `u8 signer_len`, `u8 key_id_len`, three padding bytes and `u32 sig_len`
//! (big-endian). The trailer is accepted only when the magic is present,
//! `algo < 2` (DSA, RSA), `hash < 9`, `id_type < 3` (PGP, X509, PKCS#7),
//! `sig_len > 0` and the three variable parts fit in front of the info block.
//!
//! For the legacy id types (PGP, X509) the three parts are reported as they
//! are, with the digest name taken from the `hash` byte. For PKCS#7 (what every
//! current kernel writes) `signer_len` and `key_id_len` are 0 and the
//! signature data is a DER (or BER) `ContentInfo` holding a `SignedData`; the
//! values come from its first `SignerInfo`:
//!
//! * signer: the first commonName of the issuer name (if the name has no
//!   commonName, the value of its last attribute), cut at the first NUL byte;
//! * key id: the magnitude of the serial number, big-endian, without leading
//!   zero bytes;
//! * hash algorithm: OpenSSL's long name for the digest algorithm OID (for
//!   example `sha256`), or the dotted OID when OpenSSL has no name for it
//!   (the name table here covers digest, signature and public-key algorithm
//!   OIDs; any other OID is shown dotted);
//! * signature: the content of the `encryptedDigest` OCTET STRING.
//!
//! kmod (built with OpenSSL) treats a PKCS#7 blob that OpenSSL's
//! `d2i_PKCS7_bio` rejects, or one that has no `SignerInfo`, as no signature
//! at all; so does [`parse`]. The reader here follows OpenSSL's decoding rules
//! for the parts it walks (BER lengths, constructed strings, INTEGER padding,
//! OID encoding, name string types and their UTF-8 conversion), and only
//! checks that embedded certificates and CRLs are SEQUENCEs.

/// Parsed signature information, as modinfo shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureInfo {
    /// Key identifier type: `"PGP"`, `"X509"` or `"PKCS#7"` (modinfo `sig_id`).
    pub(crate) id_type: &'static str,
    /// Signer name (modinfo `signer`), up to but excluding its first NUL byte,
    /// since kmod prints it as a C string. Printed verbatim.
    pub(crate) signer: Vec<u8>,
    /// Key identifier bytes (modinfo `sig_key`); render them with [`hex`].
    pub(crate) key_id: Vec<u8>,
    /// Digest algorithm name (modinfo `sig_hashalgo`).
    pub(crate) hash_algo: String,
    /// Signature bytes (modinfo `signature`); render them with [`hex`].
    pub(crate) signature: Vec<u8>,
}

/// The string that ends every signed module.
const MAGIC: &[u8] = b"~Module signature appended~\n";

/// Size of the info block in front of [`MAGIC`].
const INFO_LEN: usize = 12;

/// Number of known public-key algorithms (DSA, RSA).
const ALGO_COUNT: u8 = 2;

/// Digest names of the legacy trailer, indexed by its `hash` byte.
const HASH_NAMES: [&str; 9] = [
    "md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3",
];

/// Key identifier type names, indexed by the `id_type` byte.
const ID_TYPES: [&str; 3] = ["PGP", "X509", "PKCS#7"];

/// `id_type` value of a PKCS#7 signature.
const ID_PKCS7: u8 = 2;

/// Parse the trailer at the end of a (decompressed) module image.
///
/// Returns `None` when the image carries no valid signature trailer, which is
/// also what kmod reports for a PKCS#7 signature it cannot decode.
#[must_use]
pub(crate) fn parse(image: &[u8]) -> Option<SignatureInfo> {
    let body = image.strip_suffix(MAGIC)?;
    let (rest, info) = body.split_at_checked(body.len().checked_sub(INFO_LEN)?)?;
    let (head, len_bytes) = info.split_at_checked(8)?;
    let &[algo, hash, id_type, signer_len, key_id_len, ..] = head else {
        return None;
    };
    if algo >= ALGO_COUNT {
        return None;
    }
    let hash_name = *HASH_NAMES.get(usize::from(hash))?;
    let id_name = *ID_TYPES.get(usize::from(id_type))?;
    let sig_len = usize::try_from(u32::from_be_bytes(len_bytes.try_into().ok()?)).ok()?;
    if sig_len == 0 {
        return None;
    }
    let (rest, sig) = rest.split_at_checked(rest.len().checked_sub(sig_len)?)?;
    let (rest, key_id) = rest.split_at_checked(rest.len().checked_sub(usize::from(key_id_len))?)?;
    let (_, signer) = rest.split_at_checked(rest.len().checked_sub(usize::from(signer_len))?)?;

    if id_type == ID_PKCS7 {
        let found = pkcs7::first_signer(sig)?;
        return Some(SignatureInfo {
            id_type: id_name,
            signer: until_nul(&found.issuer_value).to_vec(),
            key_id: found.serial,
            hash_algo: found.digest_name,
            signature: found.signature,
        });
    }
    Some(SignatureInfo {
        id_type: id_name,
        signer: until_nul(signer).to_vec(),
        key_id: key_id.to_vec(),
        hash_algo: hash_name.to_owned(),
        signature: sig.to_vec(),
    })
}

/// Where the signature of an image of `len` bytes whose last bytes are `tail`
/// lies: the (offset, size) of everything [`parse`] reads, from the end of the
/// image back to the start of the signer name. None when `tail` (at least the
/// last 40 bytes) shows no signature trailer.
#[must_use]
pub(crate) fn range(len: u64, tail: &[u8]) -> Option<(u64, u64)> {
    let body = tail.strip_suffix(MAGIC)?;
    let info = body.get(body.len().checked_sub(INFO_LEN)?..)?;
    let sig_len = u64::from(u32::from_be_bytes(info[8..12].try_into().ok()?));
    let total = (MAGIC.len() + INFO_LEN) as u64 + sig_len + u64::from(info[3]) + u64::from(info[4]);
    let total = total.min(len);
    Some((len - total, total))
}

/// Format bytes as kmod does: uppercase two-digit hex joined by `':'`; after
/// every 20th byte that is followed by more, the `':'` is followed by
/// `"\n\t\t"`. Empty input gives an empty string.
#[must_use]
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    const PER_LINE: usize = 20;
    let mut out = String::with_capacity(bytes.len().saturating_mul(3));
    for (i, &b) in bytes.iter().enumerate() {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        if i + 1 < bytes.len() {
            out.push(':');
            if (i + 1) % PER_LINE == 0 {
                out.push_str("\n\t\t");
            }
        }
    }
    out
}

/// The bytes before the first NUL (all of them if there is none).
fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes
        .iter()
        .position(|&b| b == 0)
        .map_or(bytes, |end| bytes.get(..end).unwrap_or(bytes))
}

mod oid;
mod pkcs7;

#[cfg(test)]
mod tests {
    use super::{SignatureInfo, hex, parse};

    const MAGIC: &[u8] = b"~Module signature appended~\n";
    const MODULE: &[u8] = b"\x7fELF module body";

    /// CMS SignedData made once with `openssl cms -sign -binary -noattr
    /// -nocerts -md sha256 -outform DER` and a throwaway P-256 key whose
    /// certificate has issuer `O=kmod-rs fixture, CN=kmod-rs test signing
    /// key, OU=unit` and serial 0x00C0FFEE0123456789.
    const FIXTURE: &str = "3081f606092a864886f70d010702a081e83081e5020101310d300b06096086480165030402\
                           01300b06092a864886f70d0107013181c33081c00201013059304c31183016060355040a0c\
                           0f6b6d6f642d727320666978747572653121301f06035504030c186b6d6f642d7273207465\
                           7374207369676e696e67206b6579310d300b060355040b0c04756e6974020900c0ffee0123\
                           456789300b0609608648016503040201300a06082a8648ce3d04030204473045022100926c\
                           05495674972c7a462ecd46532709699be5facd1b1bf7d92e3a72a81f979f02200e7608e442\
                           3ffb65e865c257041a23a2ed4eb7a200225bcc9aaada62bb5cc778";

    fn unhex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// Image with a trailer whose lengths are those of the given parts.
    fn signed(signer: &[u8], key: &[u8], sig: &[u8], algo: u8, hash: u8, id_type: u8) -> Vec<u8> {
        let info = [
            algo,
            hash,
            id_type,
            u8::try_from(signer.len()).unwrap(),
            u8::try_from(key.len()).unwrap(),
            0,
            0,
            0,
        ];
        let sig_len = u32::try_from(sig.len()).unwrap().to_be_bytes();
        [MODULE, signer, key, sig, &info, &sig_len, MAGIC].concat()
    }

    fn pkcs7_image(der: &[u8]) -> Vec<u8> {
        signed(b"", b"", der, 1, 4, 2)
    }

    // --- DER building -------------------------------------------------------

    fn len_octets(n: usize) -> Vec<u8> {
        if n < 0x80 {
            return vec![u8::try_from(n).unwrap()];
        }
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        let mut out = vec![0x80 | u8::try_from(bytes.len()).unwrap()];
        out.extend(bytes);
        out
    }

    fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        let content = parts.concat();
        [&[tag][..], &len_octets(content.len()), &content].concat()
    }

    fn indef(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        [&[tag, 0x80][..], &parts.concat(), &[0, 0]].concat()
    }

    fn oid(dotted: &str) -> Vec<u8> {
        let arcs: Vec<u128> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
        let mut subs = vec![arcs[0] * 40 + arcs[1]];
        subs.extend_from_slice(&arcs[2..]);
        let mut out = Vec::new();
        for mut v in subs {
            let mut group = vec![u8::try_from(v & 0x7f).unwrap()];
            v >>= 7;
            while v > 0 {
                group.push(0x80 | u8::try_from(v & 0x7f).unwrap());
                v >>= 7;
            }
            group.reverse();
            out.extend(group);
        }
        out
    }

    fn obj(dotted: &str) -> Vec<u8> {
        tlv(0x06, &[&oid(dotted)])
    }

    const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    const CN: &str = "2.5.4.3";
    const O: &str = "2.5.4.10";
    const OU: &str = "2.5.4.11";
    const DATA: &str = "1.2.840.113549.1.7.1";
    const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";

    fn utf8(s: &[u8]) -> Vec<u8> {
        tlv(0x0c, &[s])
    }

    fn atv(attr: &str, value: &[u8]) -> Vec<u8> {
        tlv(0x30, &[&obj(attr), value])
    }

    fn rdn(atvs: &[&[u8]]) -> Vec<u8> {
        tlv(0x31, atvs)
    }

    fn name(rdns: &[&[u8]]) -> Vec<u8> {
        tlv(0x30, rdns)
    }

    fn default_name() -> Vec<u8> {
        name(&[
            &rdn(&[&atv(O, &utf8(b"Org"))]),
            &rdn(&[&atv(CN, &utf8(b"Signer CN"))]),
        ])
    }

    fn alg(dotted: &str) -> Vec<u8> {
        tlv(0x30, &[&obj(dotted)])
    }

    struct Si {
        name: Vec<u8>,
        serial: Vec<u8>,
        digest: Vec<u8>,
        sig: Vec<u8>,
    }

    impl Default for Si {
        fn default() -> Self {
            Si {
                name: default_name(),
                serial: vec![1, 2],
                digest: alg(SHA256),
                sig: tlv(0x04, &[&[0xde, 0xad, 0xbe, 0xef]]),
            }
        }
    }

    impl Si {
        fn der(&self) -> Vec<u8> {
            let ias = tlv(0x30, &[&self.name, &tlv(0x02, &[&self.serial])]);
            let sig_alg = tlv(0x30, &[&obj("1.2.840.113549.1.1.1"), &tlv(0x05, &[])]);
            tlv(
                0x30,
                &[&tlv(0x02, &[&[1]]), &ias, &self.digest, &sig_alg, &self.sig],
            )
        }
    }

    fn signed_data(signer_infos: &[&[u8]]) -> Vec<u8> {
        tlv(
            0x30,
            &[
                &tlv(0x02, &[&[1]]),
                &tlv(0x31, &[&alg(SHA256)]),
                &tlv(0x30, &[&obj(DATA)]),
                &tlv(0x31, signer_infos),
            ],
        )
    }

    fn content_info(content_type: &str, inner: &[u8]) -> Vec<u8> {
        tlv(0x30, &[&obj(content_type), &tlv(0xa0, &[inner])])
    }

    fn with_si(si: &Si) -> Vec<u8> {
        content_info(SIGNED_DATA, &signed_data(&[&si.der()]))
    }

    fn parse_der(der: &[u8]) -> Option<SignatureInfo> {
        parse(&pkcs7_image(der))
    }

    fn default_info() -> SignatureInfo {
        SignatureInfo {
            id_type: "PKCS#7",
            signer: b"Signer CN".to_vec(),
            key_id: vec![1, 2],
            hash_algo: "sha256".to_owned(),
            signature: vec![0xde, 0xad, 0xbe, 0xef],
        }
    }

    // --- hex ----------------------------------------------------------------

    #[test]
    fn hex_formats_like_kmod() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x0a]), "0A");
        assert_eq!(hex(&[0xde, 0xad, 0x01]), "DE:AD:01");
        let twenty: Vec<u8> = (0..20).collect();
        assert_eq!(
            hex(&twenty),
            "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13"
        );
        let twenty_one: Vec<u8> = (0..21).collect();
        assert_eq!(
            hex(&twenty_one),
            "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:\n\t\t14"
        );
        let forty = vec![0xff; 40];
        let text = hex(&forty);
        assert_eq!(text.matches("\n\t\t").count(), 1);
        assert!(text.ends_with("FF:FF"));
        assert_eq!(hex(&[0xff; 41]).matches("\n\t\t").count(), 2);
    }

    // --- trailer ------------------------------------------------------------

    #[test]
    fn legacy_trailer_every_hash() {
        let names = [
            "md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3",
        ];
        for (id_type, id_name) in [(0u8, "PGP"), (1, "X509")] {
            for (hash, hash_name) in (0u8..).zip(names) {
                for algo in [0, 1] {
                    let image = signed(b"SIGNER", &[0x12, 0x34], &[1, 2, 3], algo, hash, id_type);
                    assert_eq!(
                        parse(&image),
                        Some(SignatureInfo {
                            id_type: id_name,
                            signer: b"SIGNER".to_vec(),
                            key_id: vec![0x12, 0x34],
                            hash_algo: hash_name.to_owned(),
                            signature: vec![1, 2, 3],
                        })
                    );
                }
            }
        }
    }

    #[test]
    fn legacy_signer_stops_at_nul_and_parts_may_be_empty() {
        let info = parse(&signed(b"Ann\0Bob", b"", &[3], 1, 4, 1)).unwrap();
        assert_eq!(info.signer, b"Ann");
        assert!(info.key_id.is_empty());
        let info = parse(&signed(b"", b"", &[3], 0, 2, 0)).unwrap();
        assert!(info.signer.is_empty());
        assert_eq!(info.hash_algo, "sha1");
    }

    #[test]
    fn invalid_info_block_is_unsigned() {
        assert_eq!(parse(&signed(b"S", b"K", b"Z", 2, 4, 1)), None);
        assert_eq!(parse(&signed(b"S", b"K", b"Z", 0xff, 4, 1)), None);
        assert_eq!(parse(&signed(b"S", b"K", b"Z", 1, 9, 1)), None);
        assert_eq!(parse(&signed(b"S", b"K", b"Z", 1, 4, 3)), None);
        assert_eq!(parse(&signed(b"S", b"K", b"", 1, 4, 1)), None);
    }

    #[test]
    fn lengths_must_fit_in_front_of_the_info_block() {
        let parts_len = 3 + 2 + 4;
        let image = signed(b"abc", b"de", b"fghi", 1, 4, 1);
        let trailer_start = image.len() - MAGIC.len() - 12 - parts_len;
        // Exactly fitting, with nothing in front.
        let tight = &image[trailer_start..];
        assert_eq!(parse(tight).unwrap().signer, b"abc");
        // One byte short.
        assert_eq!(parse(&tight[1..]), None);
        // Lengths claiming far more than the file holds.
        let mut huge = image.clone();
        let at = image.len() - MAGIC.len() - 4;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse(&huge), None);
    }

    #[test]
    fn missing_or_damaged_magic_is_unsigned() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(MAGIC), None);
        assert_eq!(parse(&[&[0u8; 11][..], MAGIC].concat()), None);
        let image = signed(b"S", b"K", b"Z", 1, 4, 1);
        assert_eq!(parse(&image[..image.len() - 1]), None);
        let mut damaged = image.clone();
        let at = damaged.len() - 5;
        damaged[at] ^= 0x20;
        assert_eq!(parse(&damaged), None);
        assert_eq!(parse(&image[image.len() - MAGIC.len() + 1..]), None);
        for cut in 0..image.len() {
            let _ = parse(&image[cut..]);
            let _ = parse(&image[..cut]);
        }
    }

    // --- PKCS#7 -------------------------------------------------------------

    #[test]
    fn pkcs7_openssl_fixture() {
        let der = unhex(FIXTURE);
        let info = parse_der(&der).unwrap();
        assert_eq!(info.id_type, "PKCS#7");
        assert_eq!(info.signer, b"kmod-rs test signing key");
        assert_eq!(hex(&info.key_id), "C0:FF:EE:01:23:45:67:89");
        assert_eq!(info.hash_algo, "sha256");
        assert_eq!(info.signature, der[der.len() - 71..]);
        assert!(hex(&info.signature).starts_with(
            "30:45:02:21:00:92:6C:05:49:56:74:97:2C:7A:46:2E:CD:46:53:27:\n\t\t09:69"
        ));
        // Trailing bytes after the DER object are ignored, missing ones are not.
        assert_eq!(parse_der(&[&der[..], &[1, 2, 3]].concat()), Some(info));
        assert_eq!(parse_der(&der[..der.len() - 1]), None);
    }

    #[test]
    fn pkcs7_ignores_signer_and_key_lengths_but_checks_they_fit() {
        let der = unhex(FIXTURE);
        let image = signed(b"xyz", b"uv", &der, 1, 4, 2);
        assert_eq!(parse(&image).unwrap().signer, b"kmod-rs test signing key");
        let info = [1, 4, 2, 255, 255, 0, 0, 0];
        let sig_len = u32::try_from(der.len()).unwrap().to_be_bytes();
        let short = [&b"tiny"[..], &der, &info, &sig_len, MAGIC].concat();
        assert_eq!(parse(&short), None);
    }

    #[test]
    fn pkcs7_undecodable_is_unsigned() {
        // kmod built with OpenSSL reports no signature at all when
        // d2i_PKCS7_bio fails (the "unknown" output is the no-OpenSSL build).
        assert_eq!(parse_der(&[1, 2, 3, 4]), None);
        assert_eq!(parse_der(&[0x30]), None);
        assert_eq!(parse_der(&[0x30, 0x00]), None);
        assert_eq!(parse_der(&[0x30, 0x80, 0x00, 0x00]), None);
        let der = unhex(FIXTURE);
        for cut in 1..der.len() {
            assert_eq!(parse_der(&der[..cut]), None);
        }
        for at in 0..der.len() {
            for bit in 0..8 {
                let mut flipped = der.clone();
                flipped[at] ^= 1 << bit;
                let _ = parse_der(&flipped);
            }
        }
    }

    #[test]
    fn pkcs7_built_default() {
        assert_eq!(parse_der(&with_si(&Si::default())), Some(default_info()));
    }

    /// The signer kmod shows for a signature whose issuer name is `n`.
    fn signer(n: Vec<u8>) -> Option<Vec<u8>> {
        parse_der(&with_si(&Si {
            name: n,
            ..Si::default()
        }))
        .map(|i| i.signer)
    }

    #[test]
    fn pkcs7_issuer_value_choice() {
        // No commonName: the last attribute's value.
        let n = name(&[
            &rdn(&[&atv(O, &utf8(b"Org"))]),
            &rdn(&[&atv(OU, &utf8(b"Unit"))]),
        ]);
        assert_eq!(signer(n), Some(b"Unit".to_vec()));
        // The first commonName in encoding order, also inside one RDN.
        let n = name(&[&rdn(&[
            &atv(O, &utf8(b"Org")),
            &atv(CN, &utf8(b"Second")),
            &atv(CN, &utf8(b"Third")),
        ])]);
        assert_eq!(signer(n), Some(b"Second".to_vec()));
        let n = name(&[
            &rdn(&[&atv(CN, &utf8(b"zzz"))]),
            &rdn(&[&atv(CN, &utf8(b"aaa"))]),
        ]);
        assert_eq!(signer(n), Some(b"zzz".to_vec()));
        // Empty name, NUL inside the value, a BMPString starting with 0.
        assert_eq!(signer(name(&[])), Some(Vec::new()));
        assert_eq!(
            signer(name(&[&rdn(&[&atv(CN, &utf8(b"AB\0CD"))])])),
            Some(b"AB".to_vec())
        );
        let bmp = tlv(0x1e, &[b"\0A\0B"]);
        assert_eq!(signer(name(&[&rdn(&[&atv(CN, &bmp)])])), Some(Vec::new()));
        // A constructed string is concatenated.
        let pieces = tlv(0x2c, &[&tlv(0x04, &[b"Sig"]), &tlv(0x04, &[b"ner"])]);
        assert_eq!(
            signer(name(&[&rdn(&[&atv(CN, &pieces)])])),
            Some(b"Signer".to_vec())
        );
    }

    #[test]
    fn pkcs7_name_strings_openssl_rejects() {
        // Invalid UTF-8 anywhere in the name, even outside the commonName.
        let n = name(&[
            &rdn(&[&atv(O, &utf8(b"\xff"))]),
            &rdn(&[&atv(CN, &utf8(b"ok"))]),
        ]);
        assert_eq!(signer(n), None);
        for bad in [
            &b"A\xc0\x80"[..],
            b"A\xed\xa0\x80",
            b"A\xf4\x90\x80\x80",
            b"A\x80",
        ] {
            assert_eq!(signer(name(&[&rdn(&[&atv(CN, &utf8(bad))])])), None);
        }
        // BMPString with surrogates or odd length, UniversalString out of range.
        for bad in [
            tlv(0x1e, &[b"\xd8\x3d\xde\x00"]),
            tlv(0x1e, &[b"\0A\0"]),
            tlv(0x1c, &[b"\0\x11\0\0"]),
        ] {
            assert_eq!(signer(name(&[&rdn(&[&atv(CN, &bad)])])), None);
        }
        // Types that are not accepted as attribute values.
        for tag in [0x01, 0x02, 0x04, 0x05, 0x06, 0x17, 0x1a] {
            let value = tlv(tag, &[b"\x01"]);
            assert_eq!(signer(name(&[&rdn(&[&atv(CN, &value)])])), None);
        }
    }

    #[test]
    fn pkcs7_serial_magnitude() {
        let key = |serial: &[u8]| {
            parse_der(&with_si(&Si {
                serial: serial.to_vec(),
                ..Si::default()
            }))
            .map(|i| i.key_id)
        };
        assert_eq!(key(&[0x00]), Some(Vec::new()));
        assert_eq!(key(&[0x00, 0x80]), Some(vec![0x80]));
        assert_eq!(key(&[0x80]), Some(vec![0x80]));
        assert_eq!(key(&[0xff, 0x00]), Some(vec![0x01, 0x00]));
        assert_eq!(key(&[0xff, 0x7f]), Some(vec![0x81]));
        assert_eq!(key(&[0xfe]), Some(vec![0x02]));
        assert_eq!(key(&[0x80, 0x01]), Some(vec![0x7f, 0xff]));
        let long: Vec<u8> = (1..40).collect();
        assert_eq!(key(&long), Some(long.clone()));
        // Padding OpenSSL refuses, and an empty INTEGER.
        assert_eq!(key(&[0x00, 0x01]), None);
        assert_eq!(key(&[0xff, 0xff]), None);
        assert_eq!(key(&[0xff, 0x80, 0x00]), None);
        assert_eq!(key(&[]), None);
    }

    #[test]
    fn pkcs7_digest_names() {
        let hash = |digest: Vec<u8>| {
            parse_der(&with_si(&Si {
                digest,
                ..Si::default()
            }))
            .map(|i| i.hash_algo)
        };
        for (dotted, expected) in [
            ("1.2.840.113549.2.5", "md5"),
            ("1.3.14.3.2.26", "sha1"),
            ("2.16.840.1.101.3.4.2.4", "sha224"),
            ("2.16.840.1.101.3.4.2.2", "sha384"),
            ("2.16.840.1.101.3.4.2.3", "sha512"),
            ("2.16.840.1.101.3.4.2.8", "sha3-256"),
            ("2.16.840.1.101.3.4.2.11", "shake128"),
            ("1.2.156.10197.1.401", "sm3"),
            ("1.3.36.3.2.1", "ripemd160"),
            ("1.2.643.7.1.1.2.2", "GOST R 34.11-2012 with 256 bit hash"),
            ("1.2.3.4", "1.2.3.4"),
            ("2.999", "2.999"),
            ("2.999.1", "2.999.1"),
            ("0.39.7", "0.39.7"),
            (
                "2.100000000000000000000000.7",
                "2.100000000000000000000000.7",
            ),
        ] {
            assert_eq!(hash(alg(dotted)).as_deref(), Some(expected), "{dotted}");
        }
        // Parameters: NULL is fine, a malformed one makes OpenSSL reject all.
        assert_eq!(
            hash(tlv(0x30, &[&obj(SHA256), &tlv(0x05, &[])])).as_deref(),
            Some("sha256")
        );
        assert_eq!(hash(tlv(0x30, &[&obj(SHA256), &tlv(0x05, &[&[0]])])), None);
        assert_eq!(
            hash(tlv(0x30, &[&obj(SHA256), &tlv(0x17, &[b"250101000000"])])),
            None
        );
        assert!(hash(tlv(0x30, &[&obj(SHA256), &tlv(0x17, &[b"250101000000Z"])])).is_some());
        // OpenSSL prints OIDs of at most 586 content bytes.
        let long = |n: usize| tlv(0x30, &[&tlv(0x06, &[&vec![0x2a; n - 1], &[0x01]])]);
        let text = hash(long(586)).unwrap();
        assert!(text.starts_with("1.2.42.42.") && text.ends_with(".42.1"));
        assert_eq!(hash(long(587)), None);
        // Malformed OID encodings.
        for bad in [&[][..], &[0x2a, 0x80, 0x01], &[0x2a, 0x81], &[0x80, 0x01]] {
            assert_eq!(hash(tlv(0x30, &[&tlv(0x06, &[bad])])), None);
        }
    }

    #[test]
    fn pkcs7_first_signer_info_in_encoding_order() {
        let b = Si {
            name: name(&[&rdn(&[&atv(CN, &utf8(b"B"))])]),
            serial: vec![2],
            ..Si::default()
        };
        let a = Si {
            name: name(&[&rdn(&[&atv(CN, &utf8(b"A"))])]),
            serial: vec![1],
            ..Si::default()
        };
        let info = parse_der(&content_info(
            SIGNED_DATA,
            &signed_data(&[&b.der(), &a.der()]),
        ))
        .unwrap();
        assert_eq!(
            (info.signer.as_slice(), info.key_id.as_slice()),
            (&b"B"[..], &[2][..])
        );
        // Every SignerInfo must decode, but only the first one's digest is named.
        let bad = Si {
            serial: vec![0, 1],
            ..Si::default()
        };
        assert_eq!(
            parse_der(&content_info(
                SIGNED_DATA,
                &signed_data(&[&b.der(), &bad.der()])
            )),
            None
        );
        let huge = Si {
            digest: tlv(0x30, &[&tlv(0x06, &[&[0x2a; 599], &[0x01]])]),
            ..Si::default()
        };
        assert!(
            parse_der(&content_info(
                SIGNED_DATA,
                &signed_data(&[&b.der(), &huge.der()])
            ))
            .is_some()
        );
        assert_eq!(
            parse_der(&content_info(
                SIGNED_DATA,
                &signed_data(&[&huge.der(), &b.der()])
            )),
            None
        );
        // No SignerInfo at all, or no content.
        assert_eq!(
            parse_der(&content_info(SIGNED_DATA, &signed_data(&[]))),
            None
        );
        assert_eq!(parse_der(&tlv(0x30, &[&obj(SIGNED_DATA)])), None);
    }

    #[test]
    fn pkcs7_content_types() {
        let sd = signed_data(&[&Si::default().der()]);
        assert_eq!(parse_der(&content_info(DATA, &tlv(0x04, &[b"x"]))), None);
        assert_eq!(parse_der(&content_info("1.2.3.4", &sd)), None);
        // signedAndEnvelopedData also carries SignerInfos.
        let enc = tlv(
            0x30,
            &[
                &obj(DATA),
                &tlv(
                    0x30,
                    &[&obj("2.16.840.1.101.3.4.1.2"), &tlv(0x04, &[b"iv"])],
                ),
                &tlv(0x80, &[b"cipher"]),
            ],
        );
        let ri = tlv(
            0x30,
            &[
                &tlv(0x02, &[&[0]]),
                &tlv(0x30, &[&default_name(), &tlv(0x02, &[&[5]])]),
                &tlv(0x30, &[&obj("1.2.840.113549.1.1.1"), &tlv(0x05, &[])]),
                &tlv(0x04, &[b"key"]),
            ],
        );
        let se = tlv(
            0x30,
            &[
                &tlv(0x02, &[&[1]]),
                &tlv(0x31, &[&ri]),
                &tlv(0x31, &[&alg(SHA256)]),
                &enc,
                &tlv(0x31, &[&Si::default().der()]),
            ],
        );
        assert_eq!(
            parse_der(&content_info("1.2.840.113549.1.7.4", &se)),
            Some(default_info())
        );
        // Nested signedData as the signed content: fine up to OpenSSL's depth limit.
        let nest = |levels: usize| {
            let mut inner = tlv(0x30, &[&obj(DATA)]);
            for _ in 0..levels {
                let sd = tlv(
                    0x30,
                    &[
                        &tlv(0x02, &[&[1]]),
                        &tlv(0x31, &[&alg(SHA256)]),
                        &inner,
                        &tlv(0x31, &[&Si::default().der()]),
                    ],
                );
                inner = content_info(SIGNED_DATA, &sd);
            }
            inner
        };
        assert_eq!(parse_der(&nest(13)), Some(default_info()));
        assert_eq!(parse_der(&nest(14)), None);
    }

    #[test]
    fn pkcs7_ber_forms() {
        // Indefinite lengths everywhere.
        let si = Si::default().der();
        let sd = indef(
            0x30,
            &[
                &tlv(0x02, &[&[1]]),
                &indef(0x31, &[&alg(SHA256)]),
                &indef(0x30, &[&obj(DATA)]),
                &indef(0x31, &[&si]),
            ],
        );
        assert_eq!(
            parse_der(&indef(0x30, &[&obj(SIGNED_DATA), &indef(0xa0, &[&sd])],)),
            Some(default_info())
        );
        // Constructed OCTET STRING for the signature, nested up to 5 levels.
        let sig = tlv(
            0x24,
            &[&tlv(0x04, &[&[1, 2]]), &indef(0x24, &[&tlv(0x04, &[&[3]])])],
        );
        let info = parse_der(&with_si(&Si {
            sig,
            ..Si::default()
        }))
        .unwrap();
        assert_eq!(info.signature, [1, 2, 3]);
        let nested =
            |levels: usize| (0..levels).fold(tlv(0x04, &[&[1]]), |acc, _| tlv(0x24, &[&acc]));
        assert!(
            parse_der(&with_si(&Si {
                sig: nested(6),
                ..Si::default()
            }))
            .is_some()
        );
        assert_eq!(
            parse_der(&with_si(&Si {
                sig: nested(7),
                ..Si::default()
            })),
            None
        );
        // Long-form lengths: up to 8 length octets at the top for OpenSSL's
        // stream reader, leading zeros allowed.
        let body = [obj(SIGNED_DATA), tlv(0xa0, &[&signed_data(&[&si])])].concat();
        let top = |octets: usize| {
            let len = body.len().to_be_bytes();
            let mut der = vec![0x30, 0x80 | u8::try_from(octets).unwrap()];
            der.extend(std::iter::repeat_n(0, octets.saturating_sub(len.len())));
            der.extend(&len[len.len().saturating_sub(octets)..]);
            der.extend(&body);
            der
        };
        assert_eq!(parse_der(&top(8)), Some(default_info()));
        assert_eq!(parse_der(&top(9)), None);
        // The stream reader takes any tag-0 empty header as an end-of-contents
        // marker inside an indefinite form, cutting the object short.
        let odd_param = tlv(0x30, &[&obj(SHA256), &tlv(0x80, &[])]);
        let si_def = Si {
            digest: odd_param.clone(),
            ..Si::default()
        };
        assert_eq!(parse_der(&with_si(&si_def)), Some(default_info()));
        let si_indef = [
            &[0x30, 0x80][..],
            &tlv(0x02, &[&[1]]),
            &tlv(0x30, &[&default_name(), &tlv(0x02, &[&[1, 2]])]),
            &indef(0x30, &[&obj(SHA256), &tlv(0x80, &[])]),
            &tlv(0x30, &[&obj("1.2.840.113549.1.1.1"), &tlv(0x05, &[])]),
            &tlv(0x04, &[&[0xde, 0xad, 0xbe, 0xef]]),
            &[0, 0],
        ]
        .concat();
        let sd = indef(
            0x30,
            &[
                &tlv(0x02, &[&[1]]),
                &tlv(0x31, &[&alg(SHA256)]),
                &tlv(0x30, &[&obj(DATA)]),
                &indef(0x31, &[&si_indef]),
            ],
        );
        assert_eq!(
            parse_der(&indef(0x30, &[&obj(SIGNED_DATA), &indef(0xa0, &[&sd])])),
            None
        );
    }
}
