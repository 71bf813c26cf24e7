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
pub struct SignatureInfo {
    /// Key identifier type: `"PGP"`, `"X509"` or `"PKCS#7"` (modinfo `sig_id`).
    pub id_type: &'static str,
    /// Signer name (modinfo `signer`), up to but excluding its first NUL byte,
    /// since kmod prints it as a C string. Printed verbatim.
    pub signer: Vec<u8>,
    /// Key identifier bytes (modinfo `sig_key`); render them with [`hex`].
    pub key_id: Vec<u8>,
    /// Digest algorithm name (modinfo `sig_hashalgo`).
    pub hash_algo: String,
    /// Signature bytes (modinfo `signature`); render them with [`hex`].
    pub signature: Vec<u8>,
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
pub fn parse(image: &[u8]) -> Option<SignatureInfo> {
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
pub fn range(len: u64, tail: &[u8]) -> Option<(u64, u64)> {
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
pub fn hex(bytes: &[u8]) -> String {
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

/// PKCS#7 `SignedData` reading, following what OpenSSL's `d2i_PKCS7_bio`
/// accepts and what kmod then takes out of it.
// `Option<Option<SignerInfo>>`: `None` is an encoding OpenSSL rejects (kmod then
// reports no signature), `Some(None)` one that decodes but has no SignerInfo.
#[allow(clippy::option_option)]
mod pkcs7 {
    /// What kmod reports from the first `SignerInfo`.
    pub(super) struct Signer {
        /// Issuer commonName value (or last issuer attribute value), raw.
        pub issuer_value: Vec<u8>,
        /// Serial number magnitude, big-endian, no leading zero bytes.
        pub serial: Vec<u8>,
        /// Digest algorithm name.
        pub digest_name: String,
        /// `encryptedDigest` content.
        pub signature: Vec<u8>,
    }

    /// One decoded `SignerInfo`.
    struct SignerInfo<'a> {
        issuer_value: Vec<u8>,
        serial: Vec<u8>,
        digest_oid: &'a [u8],
        signature: Vec<u8>,
    }

    /// OpenSSL's limit on nested item decoding (`ASN1_MAX_CONSTRUCTED_NEST`).
    const MAX_DEPTH: u32 = 30;
    /// OpenSSL's limit on nested constructed strings (`ASN1_MAX_STRING_NEST`).
    const MAX_STRING_NEST: u32 = 5;
    /// OpenSSL's cap on the encoded size of a Name (`X509_NAME_MAX`).
    const NAME_MAX: usize = 1024 * 1024;
    /// Most length octets OpenSSL's stream reader accepts in a header.
    const BIO_MAX_LEN_OCTETS: usize = 8;
    /// Longest OID content OpenSSL turns into dotted text.
    const OID_TEXT_MAX: usize = 586;

    const UNIVERSAL: u8 = 0;
    const CONTEXT: u8 = 2;

    const BOOLEAN: u32 = 1;
    const INTEGER: u32 = 2;
    const BIT_STRING: u32 = 3;
    const OCTET_STRING: u32 = 4;
    const NULL: u32 = 5;
    const OBJECT: u32 = 6;
    const ENUMERATED: u32 = 10;
    const UTF8_STRING: u32 = 12;
    const SEQUENCE: u32 = 16;
    const SET: u32 = 17;
    const UTC_TIME: u32 = 23;
    const GENERALIZED_TIME: u32 = 24;
    const UNIVERSAL_STRING: u32 = 28;
    const BMP_STRING: u32 = 30;

    /// Universal tags OpenSSL accepts as a Name attribute value
    /// (`B_ASN1_PRINTABLE` through its tag-to-bit table).
    const NAME_VALUE_TAGS: [u32; 17] = [
        3, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 28, 29, 30,
    ];

    /// DER content of the commonName attribute type, 2.5.4.3.
    const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    /// Content types of PKCS#7, 1.2.840.113549.1.7.x.
    const OID_PKCS7_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07];

    /// One header as OpenSSL's `ASN1_get_object` reads it.
    #[derive(Clone, Copy)]
    struct Header {
        class: u8,
        constructed: bool,
        tag: u32,
        /// `None` for the indefinite form.
        len: Option<usize>,
        /// Bytes taken by the identifier and length octets.
        size: usize,
        /// Number of length octets after the first one (long form).
        long_len_octets: usize,
    }

    /// Read a header. With `check_fits`, a definite length running past the
    /// input is an error.
    fn header(input: &[u8], check_fits: bool) -> Option<Header> {
        let (&first, mut p) = input.split_first()?;
        let class = first >> 6;
        let constructed = first & 0x20 != 0;
        let mut tag = u32::from(first & 0x1f);
        if tag == 0x1f {
            let mut value: u32 = 0;
            loop {
                let (&b, rest) = p.split_first()?;
                p = rest;
                value = (value << 7) | u32::from(b & 0x7f);
                if b & 0x80 == 0 {
                    break;
                }
                if value > (i32::MAX as u32) >> 7 {
                    return None;
                }
            }
            tag = value;
        }
        let (&first_len, rest) = p.split_first()?;
        p = rest;
        let long_len_octets = if first_len > 0x80 {
            usize::from(first_len & 0x7f)
        } else {
            0
        };
        let len = if first_len == 0x80 {
            None
        } else if first_len & 0x80 == 0 {
            Some(usize::from(first_len))
        } else {
            let mut count = usize::from(first_len & 0x7f);
            if p.len() < count {
                return None;
            }
            while let (true, Some((0, rest))) = (count > 0, p.split_first()) {
                p = rest;
                count -= 1;
            }
            if count > 8 {
                return None;
            }
            let (digits, rest) = p.split_at_checked(count)?;
            p = rest;
            let value = digits
                .iter()
                .fold(0u64, |acc, &d| (acc << 8) | u64::from(d));
            if value > i64::MAX as u64 {
                return None;
            }
            Some(usize::try_from(value).ok()?)
        };
        if len.is_none() && !constructed {
            return None;
        }
        if check_fits && len.is_some_and(|l| l > p.len()) {
            return None;
        }
        Some(Header {
            class,
            constructed,
            tag,
            len,
            size: input.len() - p.len(),
            long_len_octets,
        })
    }

    /// One element.
    #[derive(Clone, Copy)]
    struct Tlv<'a> {
        class: u8,
        constructed: bool,
        tag: u32,
        /// Content octets; for the indefinite form, up to the closing EOC.
        content: &'a [u8],
        /// The whole encoding, header and closing EOC included.
        raw: &'a [u8],
    }

    impl Tlv<'_> {
        fn is(&self, class: u8, tag: u32) -> bool {
            self.class == class && self.tag == tag
        }
    }

    /// Read one element from the front of `input`; returns it and the rest.
    fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
        let h = header(input, true)?;
        let body = input.get(h.size..)?;
        let (content, end) = if let Some(len) = h.len {
            (body.get(..len)?, len)
        } else {
            let len = find_end(body)?;
            (body.get(..len)?, len.checked_add(2)?)
        };
        let total = h.size.checked_add(end)?;
        let (raw, rest) = input.split_at_checked(total)?;
        Some((
            Tlv {
                class: h.class,
                constructed: h.constructed,
                tag: h.tag,
                content,
                raw,
            },
            rest,
        ))
    }

    /// Length of indefinite-form content, up to its closing EOC.
    fn find_end(body: &[u8]) -> Option<usize> {
        let mut pos = 0usize;
        let mut expected: u32 = 1;
        loop {
            let rest = body.get(pos..)?;
            if rest.is_empty() {
                return None;
            }
            if rest.starts_with(&[0, 0]) {
                expected -= 1;
                if expected == 0 {
                    return Some(pos);
                }
                pos = pos.checked_add(2)?;
                continue;
            }
            let h = header(rest, true)?;
            pos = pos.checked_add(h.size)?;
            match h.len {
                Some(len) => pos = pos.checked_add(len)?,
                None => expected = expected.checked_add(1)?,
            }
        }
    }

    /// How much of `data` OpenSSL's stream reader (`d2i_PKCS7_bio`) takes
    /// as the object: it follows headers, skips definite contents, and counts
    /// any tag-0 zero-length header as the end of an indefinite form.
    fn bio_extent(data: &[u8]) -> Option<usize> {
        let mut off = 0usize;
        let mut open: u32 = 0;
        loop {
            let h = header(data.get(off..)?, false)?;
            if h.long_len_octets > BIO_MAX_LEN_OCTETS {
                return None;
            }
            off = off.checked_add(h.size)?;
            match h.len {
                None => open = open.checked_add(1)?,
                Some(0) if open > 0 && h.tag == 0 => {
                    open -= 1;
                    if open == 0 {
                        break;
                    }
                }
                Some(len) => {
                    off = off.checked_add(len)?;
                    if off > data.len() {
                        return None;
                    }
                    if open == 0 {
                        break;
                    }
                }
            }
        }
        i32::try_from(off).is_ok().then_some(off)
    }

    /// Elements inside a constructed element.
    struct Items<'a> {
        rest: &'a [u8],
    }

    impl<'a> Items<'a> {
        fn of(t: &Tlv<'a>) -> Self {
            Items { rest: t.content }
        }

        fn is_empty(&self) -> bool {
            self.rest.is_empty()
        }

        /// The next element (an error where there is none or an EOC).
        fn next(&mut self) -> Option<Tlv<'a>> {
            if self.rest.starts_with(&[0, 0]) {
                return None;
            }
            let (t, rest) = read(self.rest)?;
            self.rest = rest;
            Some(t)
        }

        /// The next element if it has this class and tag; `Some(None)` when
        /// the optional element is absent.
        fn optional(&mut self, class: u8, tag: u32) -> Option<Option<Tlv<'a>>> {
            if self.rest.is_empty() {
                return Some(None);
            }
            if self.rest.starts_with(&[0, 0]) {
                return None;
            }
            let h = header(self.rest, true)?;
            if h.class != class || h.tag != tag {
                return Some(None);
            }
            self.next().map(Some)
        }

        /// Succeeds when every element has been taken.
        fn finish(&self) -> Option<()> {
            self.is_empty().then_some(())
        }
    }

    /// Count one more level of item nesting.
    fn enter(depth: u32) -> Option<u32> {
        let depth = depth.checked_add(1)?;
        (depth <= MAX_DEPTH).then_some(depth)
    }

    /// A universal SEQUENCE in constructed form.
    fn sequence<'a>(t: &Tlv<'a>) -> Option<Items<'a>> {
        (t.is(UNIVERSAL, SEQUENCE) && t.constructed).then(|| Items::of(t))
    }

    /// Run `f` over every element of a SET OF / SEQUENCE OF whose header has
    /// this class and tag (OpenSSL does not check the constructed bit here).
    fn each<'a>(
        t: &Tlv<'a>,
        class: u8,
        tag: u32,
        mut f: impl FnMut(Tlv<'a>) -> Option<()>,
    ) -> Option<()> {
        if !t.is(class, tag) {
            return None;
        }
        let mut items = Items::of(t);
        while !items.is_empty() {
            f(items.next()?)?;
        }
        Some(())
    }

    /// Concatenated content of a constructed string (any inner tags).
    fn collect(content: &[u8], nest: u32, out: &mut Vec<u8>) -> Option<()> {
        let mut items = Items { rest: content };
        while !items.is_empty() {
            let t = items.next()?;
            if t.constructed {
                if nest >= MAX_STRING_NEST {
                    return None;
                }
                collect(t.content, nest + 1, out)?;
            } else {
                out.extend_from_slice(t.content);
            }
        }
        Some(())
    }

    /// String content, collected if constructed.
    fn string_content(t: &Tlv<'_>) -> Option<Vec<u8>> {
        if t.constructed {
            let mut out = Vec::new();
            collect(t.content, 0, &mut out)?;
            Some(out)
        } else {
            Some(t.content.to_vec())
        }
    }

    /// Whether INTEGER content is acceptable to OpenSSL.
    fn integer_ok(c: &[u8]) -> bool {
        match c {
            [] => false,
            [_] => true,
            [first, second, rest @ ..] => {
                let pad = *first == 0
                    || (*first == 0xff && (*second != 0 || rest.iter().any(|&b| b != 0)));
                !(pad && (first & 0x80) == (second & 0x80))
            }
        }
    }

    /// Magnitude of a valid INTEGER, big-endian, without leading zero bytes.
    fn magnitude(c: &[u8]) -> Vec<u8> {
        let mut bytes = c.to_vec();
        if c.first().is_some_and(|&b| b & 0x80 != 0) {
            for b in &mut bytes {
                *b = !*b;
            }
            for b in bytes.iter_mut().rev() {
                let (sum, carry) = b.overflowing_add(1);
                *b = sum;
                if !carry {
                    break;
                }
            }
        }
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        bytes.split_off(start)
    }

    /// Whether OBJECT IDENTIFIER content is acceptable to OpenSSL.
    fn oid_ok(c: &[u8]) -> bool {
        let Some(&last) = c.last() else {
            return false;
        };
        if last & 0x80 != 0 {
            return false;
        }
        let mut prev_continues = false;
        for &b in c {
            if b == 0x80 && !prev_continues {
                return false;
            }
            prev_continues = b & 0x80 != 0;
        }
        true
    }

    fn integer(t: &Tlv<'_>, depth: u32) -> Option<Vec<u8>> {
        enter(depth)?;
        (t.is(UNIVERSAL, INTEGER) && !t.constructed && integer_ok(t.content))
            .then(|| magnitude(t.content))
    }

    fn object<'a>(t: &Tlv<'a>, depth: u32) -> Option<&'a [u8]> {
        enter(depth)?;
        (t.is(UNIVERSAL, OBJECT) && !t.constructed && oid_ok(t.content)).then_some(t.content)
    }

    fn octet_string(t: &Tlv<'_>, class: u8, tag: u32, depth: u32) -> Option<Vec<u8>> {
        enter(depth)?;
        if !t.is(class, tag) {
            return None;
        }
        string_content(t)
    }

    /// An ASN.1 ANY value.
    fn any(t: &Tlv<'_>, depth: u32) -> Option<()> {
        enter(depth)?;
        if t.class != UNIVERSAL {
            return Some(());
        }
        if t.tag == SEQUENCE || t.tag == SET {
            return t.constructed.then_some(());
        }
        if t.constructed && matches!(t.tag, NULL | BOOLEAN | OBJECT | INTEGER | ENUMERATED) {
            return None;
        }
        let data = string_content(t)?;
        scalar_ok(t.tag, &data).then_some(())
    }

    /// OpenSSL's content checks for a universal type.
    fn scalar_ok(tag: u32, data: &[u8]) -> bool {
        match tag {
            OBJECT => oid_ok(data),
            NULL => data.is_empty(),
            BOOLEAN => data.len() == 1,
            BIT_STRING => data.first().is_some_and(|&unused| unused <= 7),
            INTEGER | ENUMERATED => integer_ok(data),
            BMP_STRING => data.len().is_multiple_of(2),
            UNIVERSAL_STRING => data.len().is_multiple_of(4),
            GENERALIZED_TIME => data.len() >= 15,
            UTC_TIME => data.len() >= 13,
            _ => true,
        }
    }

    /// AlgorithmIdentifier; returns the algorithm OID content.
    fn algorithm<'a>(t: &Tlv<'a>, depth: u32) -> Option<&'a [u8]> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        let oid = object(&items.next()?, depth)?;
        if !items.is_empty() {
            any(&items.next()?, depth)?;
        }
        items.finish()?;
        Some(oid)
    }

    /// Attribute ::= SEQUENCE { type OID, values SET OF ANY }.
    fn attribute(t: &Tlv<'_>, depth: u32) -> Option<()> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        object(&items.next()?, depth)?;
        each(&items.next()?, UNIVERSAL, SET, |v| any(&v, depth))?;
        items.finish()
    }

    /// A certificate or CRL: only its outer SEQUENCE is checked.
    fn opaque_sequence(t: &Tlv<'_>, depth: u32) -> Option<()> {
        enter(depth)?;
        sequence(t).map(|_| ())
    }

    /// A Name attribute value as OpenSSL stores it, after the checks of its
    /// decoding and of its UTF-8 conversion for name comparison.
    fn name_value(t: &Tlv<'_>) -> Option<Vec<u8>> {
        if t.class != UNIVERSAL || !NAME_VALUE_TAGS.contains(&t.tag) {
            return None;
        }
        if t.tag == SEQUENCE {
            return t.constructed.then(|| t.raw.to_vec());
        }
        let mut data = string_content(t)?;
        if !scalar_ok(t.tag, &data) {
            return None;
        }
        match t.tag {
            BIT_STRING => {
                let (&unused, bits) = data.split_first()?;
                let mut bits = bits.to_vec();
                if let Some(last) = bits.last_mut() {
                    *last &= 0xff << unused;
                }
                data = bits;
            }
            UTF8_STRING => {
                std::str::from_utf8(&data).ok()?;
            }
            BMP_STRING if data.chunks_exact(2).any(|u| (0xd8..=0xdf).contains(&u[0])) => {
                return None;
            }
            UNIVERSAL_STRING
                if !data
                    .chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .all(|v| char::from_u32(v).is_some()) =>
            {
                return None;
            }
            _ => {}
        }
        Some(data)
    }

    /// Name; returns what kmod shows as the signer.
    fn name(t: &Tlv<'_>, depth: u32) -> Option<Vec<u8>> {
        enter(depth)?;
        if t.raw.len() > NAME_MAX {
            return None;
        }
        let mut entries: Vec<(&[u8], Vec<u8>)> = Vec::new();
        each(t, UNIVERSAL, SEQUENCE, |rdn| {
            each(&rdn, UNIVERSAL, SET, |entry| {
                let mut items = sequence(&entry)?;
                let oid = object(&items.next()?, 0)?;
                let value = name_value(&items.next()?)?;
                items.finish()?;
                entries.push((oid, value));
                Some(())
            })
        })?;
        let chosen = entries
            .iter()
            .find(|(oid, _)| *oid == OID_COMMON_NAME)
            .or_else(|| entries.last());
        Some(chosen.map(|(_, value)| value.clone()).unwrap_or_default())
    }

    /// IssuerAndSerialNumber; returns (signer, serial magnitude).
    fn issuer_and_serial(t: &Tlv<'_>, depth: u32) -> Option<(Vec<u8>, Vec<u8>)> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        let issuer = name(&items.next()?, depth)?;
        let serial = integer(&items.next()?, depth)?;
        items.finish()?;
        Some((issuer, serial))
    }

    fn signer_info<'a>(t: &Tlv<'a>, depth: u32) -> Option<SignerInfo<'a>> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        integer(&items.next()?, depth)?;
        let (issuer_value, serial) = issuer_and_serial(&items.next()?, depth)?;
        let digest_oid = algorithm(&items.next()?, depth)?;
        if let Some(attrs) = items.optional(CONTEXT, 0)? {
            each(&attrs, CONTEXT, 0, |a| attribute(&a, depth))?;
        }
        algorithm(&items.next()?, depth)?;
        let signature = octet_string(&items.next()?, UNIVERSAL, OCTET_STRING, depth)?;
        if let Some(attrs) = items.optional(CONTEXT, 1)? {
            each(&attrs, CONTEXT, 1, |a| attribute(&a, depth))?;
        }
        items.finish()?;
        Some(SignerInfo {
            issuer_value,
            serial,
            digest_oid,
            signature,
        })
    }

    /// RecipientInfo of the enveloped types.
    fn recipient_info(t: &Tlv<'_>, depth: u32) -> Option<()> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        integer(&items.next()?, depth)?;
        issuer_and_serial(&items.next()?, depth)?;
        algorithm(&items.next()?, depth)?;
        octet_string(&items.next()?, UNIVERSAL, OCTET_STRING, depth)?;
        items.finish()
    }

    /// EncryptedContentInfo of the enveloped and encrypted types.
    fn encrypted_content(t: &Tlv<'_>, depth: u32) -> Option<()> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        object(&items.next()?, depth)?;
        algorithm(&items.next()?, depth)?;
        if let Some(data) = items.optional(CONTEXT, 0)? {
            octet_string(&data, CONTEXT, 0, depth)?;
        }
        items.finish()
    }

    /// Certificates `[0]` and CRLs `[1]`, both optional.
    fn certificates_and_crls(items: &mut Items<'_>, depth: u32) -> Option<()> {
        if let Some(certs) = items.optional(CONTEXT, 0)? {
            each(&certs, CONTEXT, 0, |c| opaque_sequence(&c, depth))?;
        }
        if let Some(crls) = items.optional(CONTEXT, 1)? {
            each(&crls, CONTEXT, 1, |c| opaque_sequence(&c, depth))?;
        }
        Some(())
    }

    /// The SET OF SignerInfo; returns the first one, if any.
    fn signer_infos<'a>(t: &Tlv<'a>, depth: u32) -> Option<Option<SignerInfo<'a>>> {
        let mut first = None;
        each(t, UNIVERSAL, SET, |si| {
            let signer = signer_info(&si, depth)?;
            if first.is_none() {
                first = Some(signer);
            }
            Some(())
        })?;
        Some(first)
    }

    fn signed_data<'a>(t: &Tlv<'a>, depth: u32) -> Option<Option<SignerInfo<'a>>> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        integer(&items.next()?, depth)?;
        each(&items.next()?, UNIVERSAL, SET, |a| {
            algorithm(&a, depth).map(|_| ())
        })?;
        content_info(&items.next()?, depth)?;
        certificates_and_crls(&mut items, depth)?;
        let first = signer_infos(&items.next()?, depth)?;
        items.finish()?;
        Some(first)
    }

    fn signed_and_enveloped_data<'a>(t: &Tlv<'a>, depth: u32) -> Option<Option<SignerInfo<'a>>> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        integer(&items.next()?, depth)?;
        each(&items.next()?, UNIVERSAL, SET, |r| {
            recipient_info(&r, depth)
        })?;
        each(&items.next()?, UNIVERSAL, SET, |a| {
            algorithm(&a, depth).map(|_| ())
        })?;
        encrypted_content(&items.next()?, depth)?;
        certificates_and_crls(&mut items, depth)?;
        let first = signer_infos(&items.next()?, depth)?;
        items.finish()?;
        Some(first)
    }

    fn enveloped_data(t: &Tlv<'_>, depth: u32) -> Option<()> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        integer(&items.next()?, depth)?;
        each(&items.next()?, UNIVERSAL, SET, |r| {
            recipient_info(&r, depth)
        })?;
        encrypted_content(&items.next()?, depth)?;
        items.finish()
    }

    fn digested_data(t: &Tlv<'_>, depth: u32) -> Option<()> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        integer(&items.next()?, depth)?;
        algorithm(&items.next()?, depth)?;
        content_info(&items.next()?, depth)?;
        octet_string(&items.next()?, UNIVERSAL, OCTET_STRING, depth)?;
        items.finish()
    }

    fn encrypted_data(t: &Tlv<'_>, depth: u32) -> Option<()> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        integer(&items.next()?, depth)?;
        encrypted_content(&items.next()?, depth)?;
        items.finish()
    }

    /// ContentInfo; `Some(None)` when it decodes but yields no SignerInfo.
    fn content_info<'a>(t: &Tlv<'a>, depth: u32) -> Option<Option<SignerInfo<'a>>> {
        let depth = enter(depth)?;
        let mut items = sequence(t)?;
        let content_type = object(&items.next()?, depth)?;
        if items.is_empty() {
            return Some(None);
        }
        let wrapper = items.next()?;
        if !wrapper.is(CONTEXT, 0) || !wrapper.constructed {
            return None;
        }
        items.finish()?;
        let mut inner_items = Items::of(&wrapper);
        let inner = inner_items.next()?;
        inner_items.finish()?;
        let kind = content_type
            .strip_prefix(OID_PKCS7_PREFIX)
            .and_then(|rest| match rest {
                &[k @ 1..=6] => Some(k),
                _ => None,
            });
        match kind {
            Some(1) => octet_string(&inner, UNIVERSAL, OCTET_STRING, depth).map(|_| None),
            Some(2) => signed_data(&inner, depth),
            Some(3) => enveloped_data(&inner, depth).map(|()| None),
            Some(4) => signed_and_enveloped_data(&inner, depth),
            Some(5) => digested_data(&inner, depth).map(|()| None),
            Some(6) => encrypted_data(&inner, depth).map(|()| None),
            _ => any(&inner, depth).map(|()| None),
        }
    }

    /// The first `SignerInfo` of a PKCS#7 blob, or `None` when kmod would
    /// report no signature.
    pub(super) fn first_signer(data: &[u8]) -> Option<Signer> {
        let object_len = bio_extent(data)?;
        let (top, _) = read(data.get(..object_len)?)?;
        let first = content_info(&top, 0)??;
        Some(Signer {
            digest_name: oid_name(first.digest_oid)?,
            issuer_value: first.issuer_value,
            serial: first.serial,
            signature: first.signature,
        })
    }

    /// OpenSSL's text for an OID: its long name when it has one, else the
    /// dotted form; `None` when OpenSSL refuses to format it.
    fn oid_name(oid: &[u8]) -> Option<String> {
        if oid.len() > OID_TEXT_MAX {
            return None;
        }
        let dotted = dotted(oid);
        match super::OID_NAMES.iter().find(|(num, _)| *num == dotted) {
            Some((_, name)) => Some((*name).to_owned()),
            None => Some(dotted),
        }
    }

    /// Dotted-decimal form of valid OID content.
    fn dotted(oid: &[u8]) -> String {
        let mut out = String::new();
        let mut arc = Big::default();
        let mut first = true;
        for &b in oid {
            arc.push_base128(b & 0x7f);
            if b & 0x80 != 0 {
                continue;
            }
            if first {
                first = false;
                let top = if arc.less_than(80) {
                    let v = arc.low();
                    arc = Big::small(v % 40);
                    v / 40
                } else {
                    arc.sub_small(80);
                    2
                };
                out.push_str(&top.to_string());
            }
            out.push('.');
            out.push_str(&arc.to_decimal());
            arc = Big::default();
        }
        out
    }

    /// Unsigned integer of any size (little-endian 32-bit limbs).
    #[derive(Default)]
    struct Big {
        limbs: Vec<u32>,
    }

    impl Big {
        fn small(v: u32) -> Self {
            Big { limbs: vec![v] }
        }

        fn push_base128(&mut self, digit: u8) {
            let mut carry = u64::from(digit);
            for limb in &mut self.limbs {
                let v = (u64::from(*limb) << 7) | carry;
                *limb = v as u32;
                carry = v >> 32;
            }
            if carry != 0 {
                self.limbs.push(carry as u32);
            }
        }

        fn less_than(&self, v: u32) -> bool {
            self.limbs.iter().skip(1).all(|&l| l == 0) && self.low() < v
        }

        fn low(&self) -> u32 {
            self.limbs.first().copied().unwrap_or(0)
        }

        fn sub_small(&mut self, v: u32) {
            let mut borrow = v;
            for limb in &mut self.limbs {
                let (d, under) = limb.overflowing_sub(borrow);
                *limb = d;
                if !under {
                    break;
                }
                borrow = 1;
            }
        }

        fn to_decimal(&self) -> String {
            const CHUNK: u64 = 1_000_000_000;
            let mut limbs = self.limbs.clone();
            let mut chunks = Vec::new();
            loop {
                let mut rem = 0u64;
                for limb in limbs.iter_mut().rev() {
                    let cur = (rem << 32) | u64::from(*limb);
                    *limb = (cur / CHUNK) as u32;
                    rem = cur % CHUNK;
                }
                chunks.push(rem);
                while limbs.last() == Some(&0) {
                    limbs.pop();
                }
                if limbs.is_empty() {
                    break;
                }
            }
            let mut digits = chunks.iter().rev();
            let mut out = digits.next().map(u64::to_string).unwrap_or_default();
            for chunk in digits {
                let text = chunk.to_string();
                out.extend(std::iter::repeat_n('0', 9usize.saturating_sub(text.len())));
                out.push_str(&text);
            }
            out
        }
    }
}

/// OpenSSL's long names of the OIDs that can sensibly appear as a signature's
/// digest algorithm: digests, and signature and key algorithms (in case a
/// signer put one of those there). Other OIDs print in dotted form.
const OID_NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.2.2", "md2"),
    ("1.2.840.113549.2.4", "md4"),
    ("1.2.840.113549.2.5", "md5"),
    ("1.3.14.3.2.18", "sha"),
    ("1.3.14.3.2.26", "sha1"),
    ("2.5.8.3.101", "mdc2"),
    ("1.3.36.3.2.1", "ripemd160"),
    ("2.16.840.1.101.3.4.2.1", "sha256"),
    ("2.16.840.1.101.3.4.2.2", "sha384"),
    ("2.16.840.1.101.3.4.2.3", "sha512"),
    ("2.16.840.1.101.3.4.2.4", "sha224"),
    ("2.16.840.1.101.3.4.2.5", "sha512-224"),
    ("2.16.840.1.101.3.4.2.6", "sha512-256"),
    ("2.16.840.1.101.3.4.2.7", "sha3-224"),
    ("2.16.840.1.101.3.4.2.8", "sha3-256"),
    ("2.16.840.1.101.3.4.2.9", "sha3-384"),
    ("2.16.840.1.101.3.4.2.10", "sha3-512"),
    ("2.16.840.1.101.3.4.2.11", "shake128"),
    ("2.16.840.1.101.3.4.2.12", "shake256"),
    ("1.2.156.10197.1.401", "sm3"),
    ("1.0.10118.3.0.55", "whirlpool"),
    ("1.3.6.1.4.1.1722.12.2.1.16", "blake2b512"),
    ("1.3.6.1.4.1.1722.12.2.2.8", "blake2s256"),
    ("1.2.643.2.2.9", "GOST R 34.11-94"),
    ("1.2.643.7.1.1.2.2", "GOST R 34.11-2012 with 256 bit hash"),
    ("1.2.643.7.1.1.2.3", "GOST R 34.11-2012 with 512 bit hash"),
    ("1.2.804.2.1.1.1.1.2.1", "DSTU Gost 34311-95"),
    ("1.2.840.113549.1.1.1", "rsaEncryption"),
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
    ("1.2.840.113549.1.1.3", "md4WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.113549.1.1.7", "rsaesOaep"),
    ("1.2.840.113549.1.1.10", "rsassaPss"),
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
    ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption"),
    ("1.2.840.113549.1.1.15", "sha512-224WithRSAEncryption"),
    ("1.2.840.113549.1.1.16", "sha512-256WithRSAEncryption"),
    ("1.3.14.3.2.3", "md5WithRSA"),
    ("1.3.14.3.2.12", "dsaEncryption-old"),
    ("1.3.14.3.2.13", "dsaWithSHA"),
    ("1.3.14.3.2.15", "shaWithRSAEncryption"),
    ("1.3.14.3.2.27", "dsaWithSHA1-old"),
    ("1.3.14.3.2.29", "sha1WithRSA"),
    ("2.5.8.3.100", "mdc2WithRSA"),
    ("1.3.36.3.3.1.2", "ripemd160WithRSA"),
    ("1.2.840.10040.4.1", "dsaEncryption"),
    ("1.2.840.10040.4.3", "dsaWithSHA1"),
    ("2.16.840.1.101.3.4.3.1", "dsa_with_SHA224"),
    ("2.16.840.1.101.3.4.3.2", "dsa_with_SHA256"),
    ("2.16.840.1.101.3.4.3.3", "dsa_with_SHA384"),
    ("2.16.840.1.101.3.4.3.4", "dsa_with_SHA512"),
    ("2.16.840.1.101.3.4.3.5", "dsa_with_SHA3-224"),
    ("2.16.840.1.101.3.4.3.6", "dsa_with_SHA3-256"),
    ("2.16.840.1.101.3.4.3.7", "dsa_with_SHA3-384"),
    ("2.16.840.1.101.3.4.3.8", "dsa_with_SHA3-512"),
    ("2.16.840.1.101.3.4.3.9", "ecdsa_with_SHA3-224"),
    ("2.16.840.1.101.3.4.3.10", "ecdsa_with_SHA3-256"),
    ("2.16.840.1.101.3.4.3.11", "ecdsa_with_SHA3-384"),
    ("2.16.840.1.101.3.4.3.12", "ecdsa_with_SHA3-512"),
    ("2.16.840.1.101.3.4.3.13", "RSA-SHA3-224"),
    ("2.16.840.1.101.3.4.3.14", "RSA-SHA3-256"),
    ("2.16.840.1.101.3.4.3.15", "RSA-SHA3-384"),
    ("2.16.840.1.101.3.4.3.16", "RSA-SHA3-512"),
    ("2.16.840.1.101.3.4.3.17", "ML-DSA-44"),
    ("2.16.840.1.101.3.4.3.18", "ML-DSA-65"),
    ("2.16.840.1.101.3.4.3.19", "ML-DSA-87"),
    ("2.16.840.1.101.3.4.3.20", "SLH-DSA-SHA2-128s"),
    ("2.16.840.1.101.3.4.3.21", "SLH-DSA-SHA2-128f"),
    ("2.16.840.1.101.3.4.3.22", "SLH-DSA-SHA2-192s"),
    ("2.16.840.1.101.3.4.3.23", "SLH-DSA-SHA2-192f"),
    ("2.16.840.1.101.3.4.3.24", "SLH-DSA-SHA2-256s"),
    ("2.16.840.1.101.3.4.3.25", "SLH-DSA-SHA2-256f"),
    ("2.16.840.1.101.3.4.3.26", "SLH-DSA-SHAKE-128s"),
    ("2.16.840.1.101.3.4.3.27", "SLH-DSA-SHAKE-128f"),
    ("2.16.840.1.101.3.4.3.28", "SLH-DSA-SHAKE-192s"),
    ("2.16.840.1.101.3.4.3.29", "SLH-DSA-SHAKE-192f"),
    ("2.16.840.1.101.3.4.3.30", "SLH-DSA-SHAKE-256s"),
    ("2.16.840.1.101.3.4.3.31", "SLH-DSA-SHAKE-256f"),
    ("2.16.840.1.101.3.4.3.32", "HASH-ML-DSA-44-WITH-SHA512"),
    ("2.16.840.1.101.3.4.3.33", "HASH-ML-DSA-65-WITH-SHA512"),
    ("2.16.840.1.101.3.4.3.34", "HASH-ML-DSA-87-WITH-SHA512"),
    ("2.16.840.1.101.3.4.3.35", "SLH-DSA-SHA2-128s-WITH-SHA256"),
    ("2.16.840.1.101.3.4.3.36", "SLH-DSA-SHA2-128f-WITH-SHA256"),
    ("2.16.840.1.101.3.4.3.37", "SLH-DSA-SHA2-192s-WITH-SHA512"),
    ("2.16.840.1.101.3.4.3.38", "SLH-DSA-SHA2-192f-WITH-SHA512"),
    ("2.16.840.1.101.3.4.3.39", "SLH-DSA-SHA2-256s-WITH-SHA512"),
    ("2.16.840.1.101.3.4.3.40", "SLH-DSA-SHA2-256f-WITH-SHA512"),
    (
        "2.16.840.1.101.3.4.3.41",
        "SLH-DSA-SHAKE-128s-WITH-SHAKE128",
    ),
    (
        "2.16.840.1.101.3.4.3.42",
        "SLH-DSA-SHAKE-128f-WITH-SHAKE128",
    ),
    (
        "2.16.840.1.101.3.4.3.43",
        "SLH-DSA-SHAKE-192s-WITH-SHAKE256",
    ),
    (
        "2.16.840.1.101.3.4.3.44",
        "SLH-DSA-SHAKE-192f-WITH-SHAKE256",
    ),
    (
        "2.16.840.1.101.3.4.3.45",
        "SLH-DSA-SHAKE-256s-WITH-SHAKE256",
    ),
    (
        "2.16.840.1.101.3.4.3.46",
        "SLH-DSA-SHAKE-256f-WITH-SHAKE256",
    ),
    ("1.2.840.10045.2.1", "id-ecPublicKey"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10045.4.2", "ecdsa-with-Recommended"),
    ("1.2.840.10045.4.3", "ecdsa-with-Specified"),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
    ("1.3.101.110", "X25519"),
    ("1.3.101.111", "X448"),
    ("1.3.101.112", "ED25519"),
    ("1.3.101.113", "ED448"),
    ("1.2.156.10197.1.301", "sm2"),
    ("1.2.156.10197.1.501", "SM2-with-SM3"),
    ("1.2.156.10197.1.504", "sm3WithRSAEncryption"),
    ("1.2.643.2.2.3", "GOST R 34.11-94 with GOST R 34.10-2001"),
    ("1.2.643.2.2.4", "GOST R 34.11-94 with GOST R 34.10-94"),
    ("1.2.643.2.2.19", "GOST R 34.10-2001"),
    ("1.2.643.2.2.20", "GOST R 34.10-94"),
    (
        "1.2.643.7.1.1.1.1",
        "GOST R 34.10-2012 with 256 bit modulus",
    ),
    (
        "1.2.643.7.1.1.1.2",
        "GOST R 34.10-2012 with 512 bit modulus",
    ),
    (
        "1.2.643.7.1.1.3.2",
        "GOST R 34.10-2012 with GOST R 34.11-2012 (256 bit)",
    ),
    (
        "1.2.643.7.1.1.3.3",
        "GOST R 34.10-2012 with GOST R 34.11-2012 (512 bit)",
    ),
];

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

    #[test]
    fn pkcs7_issuer_value_choice() {
        let signer = |n: Vec<u8>| {
            parse_der(&with_si(&Si {
                name: n,
                ..Si::default()
            }))
            .map(|i| i.signer)
        };
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
        let signer = |n: Vec<u8>| {
            parse_der(&with_si(&Si {
                name: n,
                ..Si::default()
            }))
            .map(|i| i.signer)
        };
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

    /// Compare with a reference modinfo over a module tree:
    /// `KMOD_RS_TREE=/lib/modules/X KMOD_RS_MODINFO=/path/to/kmod/modinfo
    /// cargo test -p libkmod-rs --lib signature -- --ignored`.
    /// Only uncompressed `.ko` files are read; without `KMOD_RS_MODINFO` the
    /// test only checks that every module parses as signed.
    #[test]
    #[ignore = "needs KMOD_RS_TREE (and optionally KMOD_RS_MODINFO)"]
    fn real_tree_matches_reference() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "ko") {
                    out.push(path);
                }
            }
        }
        let tree = std::env::var_os("KMOD_RS_TREE").expect("set KMOD_RS_TREE");
        let reference = std::env::var_os("KMOD_RS_MODINFO");
        let mut paths = Vec::new();
        walk(std::path::Path::new(&tree), &mut paths);
        assert!(!paths.is_empty());
        for path in &paths {
            let ours = parse(&std::fs::read(path).unwrap()).map(|s| {
                vec![
                    s.id_type.as_bytes().to_vec(),
                    s.signer,
                    hex(&s.key_id).into_bytes(),
                    s.hash_algo.into_bytes(),
                    hex(&s.signature).into_bytes(),
                ]
            });
            let Some(modinfo) = &reference else {
                assert!(ours.is_some(), "{}", path.display());
                continue;
            };
            let out = std::process::Command::new(modinfo)
                .arg("-0")
                .arg(path)
                .output()
                .unwrap();
            let keys: [&[u8]; 5] = [
                b"sig_id=",
                b"signer=",
                b"sig_key=",
                b"sig_hashalgo=",
                b"signature=",
            ];
            let fields: Vec<Vec<u8>> = keys
                .iter()
                .filter_map(|k| {
                    out.stdout
                        .split(|&b| b == 0)
                        .find_map(|e| e.strip_prefix(*k))
                        .map(<[u8]>::to_vec)
                })
                .collect();
            let theirs = (!fields.is_empty()).then_some(fields);
            assert_eq!(ours, theirs, "{}", path.display());
        }
    }
}
