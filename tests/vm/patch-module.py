#!/usr/bin/env python3
"""Make broken copies of a kernel module for the VM tests.

    patch-module.py strip-sig   IN OUT   drop the appended signature (if any)
    patch-module.py vermagic    IN OUT   strip the signature, then change one
                                         character of vermagic after the release
    patch-module.py crc         IN OUT   strip the signature, then flip the CRC of
                                         one __versions entry (module_layout if
                                         present, else the first entry)
    patch-module.py crc-dep IN DEP OUT   strip the signature, then flip the CRC of
                                         the first __versions entry naming a symbol
                                         that module DEP exports (its
                                         __ksymtab_strings)

IN (and DEP) are plain ELF64 little-endian .ko files (decompress first). A signed module with any
byte changed is rejected for its signature even when signing is not enforced, so
every patch strips the signature first. The signature trailer is

    [module][signature][struct module_signature: 12 bytes][magic: 28 bytes]

with module_signature = {u8 algo, hash, id_type, signer_len, key_id_len, pad[3];
__be32 sig_len}; stripping truncates to len - 28 - 12 - sig_len - signer_len -
key_id_len.

Prints one line describing the change on stdout.
"""
import struct
import sys

MAGIC = b"~Module signature appended~\n"


def strip_sig(data):
    if not data.endswith(MAGIC):
        return data, False
    info = data[-len(MAGIC) - 12 : -len(MAGIC)]
    _algo, _hash, _idt, signer_len, key_id_len = struct.unpack("5B", info[:5])
    (sig_len,) = struct.unpack(">I", info[8:12])
    end = len(data) - len(MAGIC) - 12 - sig_len - signer_len - key_id_len
    if end <= 0:
        raise SystemExit("bad signature trailer")
    return data[:end], True


def sections(data):
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("not an ELF64 little-endian file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = []
    for i in range(shnum):
        off = shoff + i * shentsize
        name, _typ, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, off)
        hdrs.append((name, offset, size))
    stroff = hdrs[shstrndx][1]
    out = {}
    for name, offset, size in hdrs:
        end = data.index(b"\0", stroff + name)
        out[data[stroff + name : end].decode()] = (offset, size)
    return out


def patch_vermagic(data):
    secs = sections(data)
    off, size = secs[".modinfo"]
    i = data.find(b"vermagic=", off, off + size)
    if i < 0:
        raise SystemExit("no vermagic")
    # The release (first word) is ignored by a kernel with modversions: change the
    # first character after it ("SMP" -> "XMP").
    sp = data.index(b" ", i)
    j = sp + 1
    old = data[j : j + 1]
    new = b"X" if old != b"X" else b"Y"
    before = data[i : data.index(b"\0", i)].decode()
    data[j : j + 1] = new
    after = data[i : data.index(b"\0", i)].decode()
    return f"vermagic {before!r} -> {after!r}"


def exports(data):
    secs = sections(data)
    if "__ksymtab_strings" not in secs:
        raise SystemExit("the dependency has no __ksymtab_strings section")
    off, size = secs["__ksymtab_strings"]
    return {n for n in bytes(data[off : off + size]).split(b"\0") if n}


def patch_crc(data, wanted=None):
    secs = sections(data)
    if "__versions" not in secs:
        raise SystemExit("no __versions section")
    off, size = secs["__versions"]
    entry = 64  # struct modversion_info { unsigned long crc; char name[56]; }
    pick = off if wanted is None else None
    for e in range(off, off + size, entry):
        name = bytes(data[e + 8 : data.index(b"\0", e + 8)])
        if (wanted is None and name == b"module_layout") or (wanted is not None and name in wanted):
            pick = e
            break
    if pick is None:
        raise SystemExit("no __versions entry names a symbol of the dependency")
    (crc,) = struct.unpack_from("<Q", data, pick)
    name = data[pick + 8 : data.index(b"\0", pick + 8)].decode()
    new = crc ^ 0xFFFFFFFF
    struct.pack_into("<Q", data, pick, new)
    return f"__versions {name}: crc {crc:#010x} -> {new:#010x}"


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "crc-dep":
        what, src, dep, dst = sys.argv[1:]
        with open(dep, "rb") as f:
            wanted = exports(bytearray(f.read()))
    elif len(sys.argv) == 4 and sys.argv[1] in ("strip-sig", "vermagic", "crc"):
        what, src, dst = sys.argv[1:]
        wanted = None
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(src, "rb") as f:
        raw = f.read()
    stripped, had = strip_sig(raw)
    data = bytearray(stripped)
    msg = "signature stripped" if had else "no signature"
    if what == "vermagic":
        msg += "; " + patch_vermagic(data)
    elif what in ("crc", "crc-dep"):
        msg += "; " + patch_crc(data, wanted)
    with open(dst, "wb") as f:
        f.write(data)
    print(f"{dst}: {msg}")


if __name__ == "__main__":
    main()
