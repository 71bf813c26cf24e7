//! PKCS#7 `SignedData` reading, following what OpenSSL's `d2i_PKCS7_bio`
//! accepts (BER lengths, constructed strings, INTEGER padding, OID encoding, name
//! string types and their UTF-8 conversion) and what kmod then takes out of it.
// `Option<Option<SignerInfo>>`: `None` is an encoding OpenSSL rejects (kmod then
// reports no signature), `Some(None)` one that decodes but has no SignerInfo.
#![allow(clippy::option_option)]

/// What kmod reports from the first `SignerInfo`.
pub(super) struct Signer {
    /// Issuer commonName value (or last issuer attribute value), raw.
    pub(crate) issuer_value: Vec<u8>,
    /// Serial number magnitude, big-endian, no leading zero bytes.
    pub(crate) serial: Vec<u8>,
    /// Digest algorithm name.
    pub(crate) digest_name: String,
    /// `encryptedDigest` content.
    pub(crate) signature: Vec<u8>,
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

/// A SEQUENCE one nesting level deeper: `read` takes its items (with the new
/// depth); everything in it must be read.
fn seq<'a, T>(
    t: &Tlv<'a>,
    depth: u32,
    read: impl FnOnce(&mut Items<'a>, u32) -> Option<T>,
) -> Option<T> {
    let depth = enter(depth)?;
    let mut items = sequence(t)?;
    let v = read(&mut items, depth)?;
    items.finish()?;
    Some(v)
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
            let pad =
                *first == 0 || (*first == 0xff && (*second != 0 || rest.iter().any(|&b| b != 0)));
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
    seq(t, depth, |items, depth| {
        let oid = object(&items.next()?, depth)?;
        if !items.is_empty() {
            any(&items.next()?, depth)?;
        }
        Some(oid)
    })
}

/// Attribute ::= SEQUENCE { type OID, values SET OF ANY }.
fn attribute(t: &Tlv<'_>, depth: u32) -> Option<()> {
    seq(t, depth, |items, depth| {
        object(&items.next()?, depth)?;
        each(&items.next()?, UNIVERSAL, SET, |v| any(&v, depth))?;
        Some(())
    })
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
    seq(t, depth, |items, depth| {
        let issuer = name(&items.next()?, depth)?;
        let serial = integer(&items.next()?, depth)?;
        Some((issuer, serial))
    })
}

fn signer_info<'a>(t: &Tlv<'a>, depth: u32) -> Option<SignerInfo<'a>> {
    seq(t, depth, |items, depth| {
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
        Some(SignerInfo {
            issuer_value,
            serial,
            digest_oid,
            signature,
        })
    })
}

/// RecipientInfo of the enveloped types.
fn recipient_info(t: &Tlv<'_>, depth: u32) -> Option<()> {
    seq(t, depth, |items, depth| {
        integer(&items.next()?, depth)?;
        issuer_and_serial(&items.next()?, depth)?;
        algorithm(&items.next()?, depth)?;
        octet_string(&items.next()?, UNIVERSAL, OCTET_STRING, depth)?;
        Some(())
    })
}

/// EncryptedContentInfo of the enveloped and encrypted types.
fn encrypted_content(t: &Tlv<'_>, depth: u32) -> Option<()> {
    seq(t, depth, |items, depth| {
        object(&items.next()?, depth)?;
        algorithm(&items.next()?, depth)?;
        if let Some(data) = items.optional(CONTEXT, 0)? {
            octet_string(&data, CONTEXT, 0, depth)?;
        }
        Some(())
    })
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
    seq(t, depth, |items, depth| {
        integer(&items.next()?, depth)?;
        each(&items.next()?, UNIVERSAL, SET, |a| {
            algorithm(&a, depth).map(|_| ())
        })?;
        content_info(&items.next()?, depth)?;
        certificates_and_crls(items, depth)?;
        let first = signer_infos(&items.next()?, depth)?;
        Some(first)
    })
}

fn signed_and_enveloped_data<'a>(t: &Tlv<'a>, depth: u32) -> Option<Option<SignerInfo<'a>>> {
    seq(t, depth, |items, depth| {
        integer(&items.next()?, depth)?;
        each(&items.next()?, UNIVERSAL, SET, |r| {
            recipient_info(&r, depth)
        })?;
        each(&items.next()?, UNIVERSAL, SET, |a| {
            algorithm(&a, depth).map(|_| ())
        })?;
        encrypted_content(&items.next()?, depth)?;
        certificates_and_crls(items, depth)?;
        let first = signer_infos(&items.next()?, depth)?;
        Some(first)
    })
}

fn enveloped_data(t: &Tlv<'_>, depth: u32) -> Option<()> {
    seq(t, depth, |items, depth| {
        integer(&items.next()?, depth)?;
        each(&items.next()?, UNIVERSAL, SET, |r| {
            recipient_info(&r, depth)
        })?;
        encrypted_content(&items.next()?, depth)?;
        Some(())
    })
}

fn digested_data(t: &Tlv<'_>, depth: u32) -> Option<()> {
    seq(t, depth, |items, depth| {
        integer(&items.next()?, depth)?;
        algorithm(&items.next()?, depth)?;
        content_info(&items.next()?, depth)?;
        octet_string(&items.next()?, UNIVERSAL, OCTET_STRING, depth)?;
        Some(())
    })
}

fn encrypted_data(t: &Tlv<'_>, depth: u32) -> Option<()> {
    seq(t, depth, |items, depth| {
        integer(&items.next()?, depth)?;
        encrypted_content(&items.next()?, depth)?;
        Some(())
    })
}

/// ContentInfo; `Some(None)` when it decodes but yields no SignerInfo.
fn content_info<'a>(t: &Tlv<'a>, depth: u32) -> Option<Option<SignerInfo<'a>>> {
    seq(t, depth, |items, depth| {
        let content_type = object(&items.next()?, depth)?;
        if items.is_empty() {
            return Some(None);
        }
        let wrapper = items.next()?;
        if !wrapper.is(CONTEXT, 0) || !wrapper.constructed {
            return None;
        }
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
    })
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
    match super::oid::OID_NAMES.iter().find(|(num, _)| *num == dotted) {
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
