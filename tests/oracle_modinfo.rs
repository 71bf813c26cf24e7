//! modinfo compared with kmod 34.2 on Debian's real module trees: stdout, stderr and
//! exit status identical.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn compare(o: &Oracle, d: &mut Diffs, what: &str, args: &[&std::ffi::OsStr]) {
    let mut k = o.theirs("modinfo");
    k.args(args);
    let mut u = ours("modinfo");
    u.args(args);
    d.check(what, &run(k), &run(u));
}

fn os<P: AsRef<std::ffi::OsStr> + ?Sized>(p: &P) -> &std::ffi::OsStr {
    p.as_ref()
}

/// Every module of every tree (plain, xz, both byte orders, 32/64-bit), batched.
#[test]
fn oracle_modinfo_every_module_of_every_tree() {
    let Some(o) = Oracle::get() else { return };
    let mut d = Diffs::default();
    let mut total = 0;
    for t in &o.trees {
        let mods = t.modules();
        assert!(mods.len() > 1000, "{}: only {} modules", t.name, mods.len());
        total += mods.len();
        for (i, b) in batches(&mods, 300).iter().enumerate() {
            let mut a: Vec<&std::ffi::OsStr> = b.iter().map(|p| p.as_os_str()).collect();
            compare(&o, &mut d, &format!("{} batch {i}", t.name), &a);
            if i % 4 == 0 {
                a.insert(0, os("-0"));
                compare(&o, &mut d, &format!("{} batch {i} -0", t.name), &a);
            }
        }
    }
    eprintln!("modinfo compared on {total} modules");
    d.finish("modinfo on every module");
}

/// `-F` for each field, and the field shortcuts, over whole trees.
#[test]
fn oracle_modinfo_fields() {
    let Some(o) = Oracle::get() else { return };
    let mut d = Diffs::default();
    let fields = [
        "filename",
        "name",
        "alias",
        "license",
        "description",
        "author",
        "parm",
        "parmtype",
        "vermagic",
        "depends",
        "srcversion",
        "intree",
        "retpoline",
        "firmware",
        "import_ns",
        "softdep",
        "sig_id",
        "signer",
        "sig_key",
        "sig_hashalgo",
        "signature",
        "version",
        "Alias",
        "nonexistent",
    ];
    for tname in [
        "bookworm-amd64",
        "bookworm-s390x",
        "trixie-amd64",
        "bookworm-i386",
    ] {
        let t = o.tree(tname);
        let mods = t.modules();
        let step = if tname == "bookworm-amd64" { 1 } else { 5 };
        let picked: Vec<&PathBuf> = mods.iter().step_by(step).collect();
        for b in picked.chunks(1000) {
            for f in fields {
                let mut a: Vec<&std::ffi::OsStr> = vec![os("-F"), os(f)];
                a.extend(b.iter().map(|p| p.as_os_str()));
                compare(&o, &mut d, &format!("{tname} -F {f}"), &a);
            }
            for flag in ["-a", "-d", "-l", "-p", "-n", "-0p", "-0F", "--null"] {
                let mut a: Vec<&std::ffi::OsStr> = vec![os(flag)];
                if flag == "-0F" {
                    a.push(os("alias"));
                }
                a.extend(b.iter().map(|p| p.as_os_str()));
                compare(&o, &mut d, &format!("{tname} {flag}"), &a);
            }
        }
    }
    d.finish("modinfo fields");
}

fn module_names(moddir: &Path) -> Vec<String> {
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
    dep.lines()
        .filter_map(|l| l.split(':').next())
        .map(|p| {
            let base = p.rsplit('/').next().unwrap();
            base.split('.').next().unwrap().to_string()
        })
        .collect()
}

/// Lookup by name, `-m`, alias, symbol and builtin module, with `-b`/`-k`, on trees
/// indexed by kmod's depmod.
#[test]
fn oracle_modinfo_lookups() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("lookup");
    let mut d = Diffs::default();
    for tname in ["bookworm-amd64", "trixie-amd64"] {
        let t = o.tree(tname);
        let root = indexed_copy(&o, t, tmp.path());
        let moddir = root.join("lib/modules").join(&t.kver);
        let base = [os("-b"), root.as_os_str(), os("-k"), os(&t.kver)];
        let mut names = module_names(&moddir);
        // dashes and underscores both resolve
        let dashed: Vec<String> = names
            .iter()
            .take(200)
            .map(|n| n.replace('_', "-"))
            .collect();
        names.extend(dashed);
        for (i, b) in batches(&names, 400).iter().enumerate() {
            let mut a: Vec<&std::ffi::OsStr> = base.to_vec();
            a.extend(b.iter().map(os));
            compare(&o, &mut d, &format!("{tname} names {i}"), &a);
            a.insert(4, os("-m"));
            compare(&o, &mut d, &format!("{tname} -m names {i}"), &a);
        }
        // aliases: the patterns themselves and concrete instances of them
        let alias_text = std::fs::read_to_string(moddir.join("modules.alias")).unwrap();
        let patterns: Vec<String> = alias_text
            .lines()
            .filter_map(|l| l.strip_prefix("alias "))
            .filter_map(|l| l.rsplit_once(' ').map(|(a, _)| a.to_string()))
            .collect();
        let step = (patterns.len() / 500).max(1);
        let mut aliases: Vec<String> = Vec::new();
        for p in patterns.iter().step_by(step) {
            aliases.push(p.clone());
            aliases.push(instantiate(p));
        }
        aliases.extend(
            [
                "fs-btrfs",
                "char-major-10-237",
                "devname:loop-control",
                "crypto-sha256",
                "net-pf-10",
            ]
            .map(String::from),
        );
        for (i, b) in batches(&aliases, 100).iter().enumerate() {
            let mut a: Vec<&std::ffi::OsStr> = base.to_vec();
            a.push(os("-F"));
            a.push(os("filename"));
            a.extend(b.iter().map(os));
            compare(&o, &mut d, &format!("{tname} aliases {i} -F filename"), &a);
        }
        for (i, b) in batches(&aliases, 25).iter().enumerate().step_by(7) {
            let mut a: Vec<&std::ffi::OsStr> = base.to_vec();
            a.extend(b.iter().map(os));
            compare(&o, &mut d, &format!("{tname} aliases {i}"), &a);
        }
        // symbols
        let sym_text = std::fs::read_to_string(moddir.join("modules.symbols")).unwrap();
        let syms: Vec<String> = sym_text
            .lines()
            .step_by(97)
            .filter_map(|l| l.strip_prefix("alias "))
            .filter_map(|l| l.split(' ').next().map(String::from))
            .collect();
        let mut a: Vec<&std::ffi::OsStr> = base.to_vec();
        a.extend([os("-F"), os("name")]);
        a.extend(syms.iter().map(os));
        compare(&o, &mut d, &format!("{tname} symbols"), &a);
        // builtin modules (modules.builtin lists paths)
        let builtin = std::fs::read_to_string(moddir.join("modules.builtin")).unwrap_or_default();
        let bnames: Vec<String> = builtin
            .lines()
            .map(|l| {
                l.rsplit('/')
                    .next()
                    .unwrap()
                    .trim_end_matches(".ko")
                    .to_string()
            })
            .collect();
        for (i, b) in batches(&bnames, 200).iter().enumerate() {
            let mut a: Vec<&std::ffi::OsStr> = base.to_vec();
            a.extend(b.iter().map(os));
            compare(&o, &mut d, &format!("{tname} builtin {i}"), &a);
            a.insert(4, os("-F"));
            a.insert(5, os("parm"));
            compare(&o, &mut d, &format!("{tname} builtin {i} -F parm"), &a);
        }
        // not found, bad aliases, mixed with found ones
        let mut a: Vec<&std::ffi::OsStr> = base.to_vec();
        a.extend(
            [
                "nonexistent_mod",
                "loop",
                "a]b",
                "x[y",
                "symbol:nope",
                "pci:v*",
                "-",
            ]
            .map(os),
        );
        compare(&o, &mut d, &format!("{tname} not found"), &a);
        let mut a: Vec<&std::ffi::OsStr> = base.to_vec();
        a.extend(["-m", "nonexistent_mod", "loop"].map(os));
        compare(&o, &mut d, &format!("{tname} -m not found"), &a);
        // builtin info missing: only name+filename
        let _ = std::fs::remove_file(moddir.join("modules.builtin.modinfo"));
        let mut a: Vec<&std::ffi::OsStr> = base.to_vec();
        a.extend(bnames.iter().take(20).map(os));
        compare(
            &o,
            &mut d,
            &format!("{tname} builtin without modules.builtin.modinfo"),
            &a,
        );
    }
    d.finish("modinfo lookups");
}

/// A concrete string matching an alias pattern.
fn instantiate(p: &str) -> String {
    let mut out = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push('0'),
            '?' => out.push('A'),
            '[' => {
                let mut first = None;
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if first.is_none() {
                        first = Some(c);
                    }
                }
                if let Some(f) = first {
                    out.push(f);
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn compress_with(cmd: &str, args: &[&str], input: &Path, output: &Path) {
    let data = Command::new(cmd)
        .args(args)
        .arg("-c")
        .arg(input)
        .output()
        .unwrap();
    assert!(data.status.success(), "{cmd} failed");
    std::fs::write(output, data.stdout).unwrap();
}

/// 300+ modules recompressed with zstd (kmod reads them) and gzip (no Debian kmod
/// has zlib: the expected output is the plain module's, with the file name changed).
#[test]
fn oracle_modinfo_zstd_and_gzip_copies() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let mods = t.modules();
    let picked: Vec<&PathBuf> = mods.iter().step_by(mods.len() / 320).collect();
    assert!(picked.len() >= 300);
    let tmp = TempDir::new("compressed");
    for sub in ["p", "z", "g"] {
        std::fs::create_dir_all(tmp.path().join(sub)).unwrap();
    }
    let mut plain = Vec::new();
    let mut zst = Vec::new();
    let mut gz = Vec::new();
    for (i, m) in picked.iter().enumerate() {
        let base = format!("{i:03}-{}", m.file_name().unwrap().to_string_lossy());
        let p = tmp.path().join("p").join(&base);
        std::fs::copy(m, &p).unwrap();
        let z = tmp.path().join("z").join(format!("{base}.zst"));
        compress_with("zstd", &["-q", "-19"], m, &z);
        let g = tmp.path().join("g").join(format!("{base}.gz"));
        compress_with("gzip", &["-n", "-9"], m, &g);
        plain.push(p);
        zst.push(z);
        gz.push(g);
    }
    let mut d = Diffs::default();
    for (i, b) in batches(&zst, 100).iter().enumerate() {
        let mut k = o.theirs("modinfo");
        k.args(b);
        let mut u = ours("modinfo");
        u.args(b);
        d.check(&format!("zstd batch {i}"), &run(k), &run(u));
    }
    for (i, (pb, gb)) in batches(&plain, 100)
        .iter()
        .zip(batches(&gz, 100))
        .enumerate()
    {
        let mut k = o.theirs("modinfo");
        k.args(pb);
        let mut expected = run(k);
        for (p, g) in pb.iter().zip(&gb) {
            let pfrom = format!("{}\n", p.display());
            let gto = format!("{}\n", g.display());
            expected.stdout = replace(&expected.stdout, pfrom.as_bytes(), gto.as_bytes());
        }
        let mut u = ours("modinfo");
        u.args(&gb);
        d.check(&format!("gzip batch {i}"), &expected, &run(u));
        // -F signer etc. on gzip
        for f in ["signer", "sig_key", "parm"] {
            let mut k = o.theirs("modinfo");
            k.args(["-F", f]).args(pb);
            let mut u = ours("modinfo");
            u.args(["-F", f]).args(&gb);
            d.check(&format!("gzip batch {i} -F {f}"), &run(k), &run(u));
        }
    }
    d.finish("modinfo on zstd/gzip copies");
}

/// Broken files: kmod's one-line errors and exit codes, never a panic.
#[test]
fn oracle_modinfo_bad_input() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let good = t.moddir().join("kernel/drivers/block/loop.ko");
    let good_bytes = std::fs::read(&good).unwrap();
    let tmp = TempDir::new("bad");
    let dir = tmp.path();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("empty.ko".into(), vec![]),
        ("short.ko".into(), b"abc".to_vec()),
        ("six.ko".into(), b"\x7fELF\x02\x01".to_vec()),
        ("random.ko".into(), rng.bytes(5000)),
        (
            "elfmagic-random.ko".into(),
            [&b"\x7fELF\x02\x01\x01"[..], &rng.bytes(3000)].concat(),
        ),
    ];
    for n in [
        17,
        52,
        64,
        65,
        100,
        1000,
        3000,
        good_bytes.len() / 2,
        good_bytes.len() - 100,
    ] {
        files.push((format!("trunc-{n}.ko"), good_bytes[..n].to_vec()));
    }
    let patch = |off: usize, bytes: &[u8]| {
        let mut v = good_bytes.clone();
        v[off..off + bytes.len()].copy_from_slice(bytes);
        v
    };
    files.push(("class0.ko".into(), patch(4, &[0])));
    files.push(("class3.ko".into(), patch(4, &[3])));
    files.push(("data0.ko".into(), patch(5, &[0])));
    files.push(("bigendian.ko".into(), patch(5, &[2])));
    files.push((
        "shoff-past-end.ko".into(),
        patch(0x28, &u64::MAX.to_le_bytes()),
    ));
    files.push((
        "shoff-near-end.ko".into(),
        patch(0x28, &((good_bytes.len() - 10) as u64).to_le_bytes()),
    ));
    files.push(("shentsize.ko".into(), patch(0x3a, &[0x20, 0])));
    files.push(("shnum-huge.ko".into(), patch(0x3c, &[0xff, 0xff])));
    files.push(("shstrndx-bad.ko".into(), patch(0x3e, &[0xff, 0x7f])));
    files.push(("shstrndx-0.ko".into(), patch(0x3e, &[0, 0])));
    // corrupt every section header's offset in turn for a few sections
    let shoff = u64::from_le_bytes(good_bytes[0x28..0x30].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(good_bytes[0x3c..0x3e].try_into().unwrap()) as usize;
    for s in (1..shnum).step_by(3) {
        let at = shoff + s * 64 + 24;
        files.push((
            format!("sec{s}-offset.ko"),
            patch(at, &(u64::MAX - 5).to_le_bytes()),
        ));
        let at = shoff + s * 64 + 32;
        files.push((
            format!("sec{s}-size.ko"),
            patch(at, &(good_bytes.len() as u64).to_le_bytes()),
        ));
        let at = shoff + s * 64;
        files.push((
            format!("sec{s}-name.ko"),
            patch(at, &0xffff_fff0u32.to_le_bytes()),
        ));
    }
    // garbage after the signature: no longer a signed module
    files.push((
        "garbage-after-sig.ko".into(),
        [&good_bytes[..], b"garbage"].concat(),
    ));
    // a broken signature trailer (bad lengths, bad algo)
    let n = good_bytes.len();
    files.push((
        "sig-len-huge.ko".into(),
        patch(n - 28 - 4, &0x7fff_ffffu32.to_be_bytes()),
    ));
    files.push(("sig-algo.ko".into(), patch(n - 28 - 12, &[9])));
    files.push(("sig-pkcs7-garbage.ko".into(), {
        let mut v = good_bytes.clone();
        let l = u32::from_be_bytes(v[n - 32..n - 28].try_into().unwrap()) as usize;
        let start = n - 40 - l;
        for b in &mut v[start..start + l / 2] {
            *b = 0x5a;
        }
        v
    }));
    for (name, data) in &files {
        std::fs::write(dir.join(name), data).unwrap();
    }
    // compressed breakage
    let xz = Command::new("xz")
        .args(["-c", "--check=crc32"])
        .arg(&good)
        .output()
        .unwrap()
        .stdout;
    let zst = Command::new("zstd")
        .args(["-q", "-c"])
        .arg(&good)
        .output()
        .unwrap()
        .stdout;
    let gzd = Command::new("gzip")
        .args(["-n", "-c"])
        .arg(&good)
        .output()
        .unwrap()
        .stdout;
    let mut compressed: Vec<(String, Vec<u8>)> = vec![
        ("trunc.ko.xz".into(), xz[..xz.len() / 2].to_vec()),
        ("trunc-header.ko.xz".into(), xz[..8].to_vec()),
        ("flip.ko.xz".into(), {
            let mut v = xz.clone();
            let k = v.len() / 2;
            v[k] ^= 0xff;
            v
        }),
        ("trunc.ko.zst".into(), zst[..zst.len() / 2].to_vec()),
        ("flip.ko.zst".into(), {
            let mut v = zst.clone();
            let k = v.len() / 2;
            v[k] ^= 0xff;
            v
        }),
        ("header-only.ko.zst".into(), zst[..6].to_vec()),
        (
            "random.ko.xz".into(),
            [&b"\xfd7zXZ\0"[..], &rng.bytes(400)].concat(),
        ),
        (
            "random.ko.zst".into(),
            [&b"\x28\xb5\x2f\xfd"[..], &rng.bytes(400)].concat(),
        ),
        ("plain-named.ko.xz".into(), good_bytes.clone()),
        ("xz-named.ko".into(), xz.clone()),
    ];
    for (name, data) in &compressed {
        std::fs::write(dir.join(name), data).unwrap();
    }
    let mut d = Diffs::default();
    let mut all: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    all.extend(compressed.iter().map(|f| f.0.clone()));
    let mut kmod_crashes = 0;
    for name in &all {
        let p = dir.join(name);
        let mut k = o.theirs("modinfo");
        k.arg(&p);
        let mut u = ours("modinfo");
        u.arg(&p);
        let (kr, ur) = (run(k), run(u));
        assert!(
            !String::from_utf8_lossy(&ur.stderr).contains("panicked") && ur.status.is_some(),
            "{name}: ours crashed: {ur:?}"
        );
        if kr.status.is_none() {
            // kmod 34.2 dies on an assertion here (e_shstrndx 0 or past e_shnum);
            // we report the file as invalid instead.
            let modname = name.split('.').next().unwrap().replace('-', "_");
            assert_eq!(ur.status, Some(1), "{name}");
            assert_eq!(
                String::from_utf8_lossy(&ur.stderr),
                format!(
                    "modinfo: ERROR: could not get modinfo from '{modname}': Invalid argument\n"
                ),
                "{name}"
            );
            kmod_crashes += 1;
            continue;
        }
        d.check(name, &kr, &ur);
    }
    assert_eq!(kmod_crashes, 2, "the two e_shstrndx cases crash kmod 34.2");
    // gzip breakage: no oracle; one ERROR line, non-zero exit, no panic
    compressed.clear();
    compressed.push(("trunc.ko.gz".into(), gzd[..gzd.len() / 2].to_vec()));
    compressed.push(("flip.ko.gz".into(), {
        let mut v = gzd.clone();
        let k = v.len() / 2;
        v[k] ^= 0xff;
        v
    }));
    for (name, data) in &compressed {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        let mut u = ours("modinfo");
        u.arg(&p);
        let r = run(u);
        assert_eq!(r.status, Some(1), "{name}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.starts_with("libkmod: ERROR: kmod_file_load_zlib: gzip: "),
            "{name}: {err}"
        );
        assert!(err.ends_with("Invalid argument\n"), "{name}: {err}");
    }
    d.finish("modinfo bad input");
}

/// Beyond kmod: a decompression bomb is refused with a one-line error, and a zstd
/// frame without a recorded content size is read.
#[test]
fn modinfo_bomb_and_streamed_zstd() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let good = t.moddir().join("kernel/drivers/block/loop.ko");
    let tmp = TempDir::new("bomb");
    // 1.5 GiB of zeros, compressed with zstd in streaming mode, fed to zstd via a pipe
    let bomb = tmp.path().join("bomb.ko.zst");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 1610612736 /dev/zero | zstd -q -1 -c > '{}'",
            bomb.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let mut u = ours("modinfo");
    u.arg(&bomb);
    let r = run(u);
    assert_eq!(r.status, Some(1));
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        "libkmod: ERROR: kmod_file_load_zstd: zstd: decompressed size exceeds the limit of 1073741824 bytes\nmodinfo: ERROR: could not get modinfo from 'bomb': File too large\n"
    );
    // streamed zstd: kmod refuses; we read it and print what the plain file gives
    let streamed = tmp.path().join("loop.ko.zst");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstd -q -c < '{}' > '{}'",
            good.display(),
            streamed.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let mut k = o.theirs("modinfo");
    k.arg(&good);
    let mut expected = run(k);
    expected.stdout = replace(
        &expected.stdout,
        format!("{}\n", good.display()).as_bytes(),
        format!("{}\n", streamed.display()).as_bytes(),
    );
    let mut u = ours("modinfo");
    u.arg(&streamed);
    assert_eq!(run(u), expected);
}

/// Options, GNU parsing and usage errors.
#[test]
fn oracle_modinfo_cli() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let good = t.moddir().join("kernel/drivers/block/loop.ko");
    let g = good.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["-h"],
        vec!["--help"],
        vec!["--hel"],
        vec!["--nope"],
        vec!["--nope=3"],
        vec!["-Z"],
        vec!["-F"],
        vec!["--field"],
        vec!["--fi", "license", g],
        vec!["--f", g],
        vec!["--author=x", g],
        vec![g, "-F", "license"],
        vec![g, "--field=license"],
        vec!["-Flicense", g],
        vec!["-0Flicense", g],
        vec!["-alp", g],
        vec!["-F", "license", "--", g],
        vec!["--", "-F"],
        vec!["-k"],
        vec!["-b", "/nonexistent", "-k", "1.2.3", "loop"],
        vec!["-b", "/nonexistent", "loop", "-F", "name"],
        vec!["./nonexistent.ko"],
        vec!["/nonexistent/x.ko.xz"],
    ];
    let mut d = Diffs::default();
    for c in &cases {
        let mut k = o.theirs("modinfo");
        k.args(c);
        let mut u = ours("modinfo");
        u.args(c);
        d.check(&format!("modinfo {c:?}"), &run(k), &run(u));
    }
    d.finish("modinfo cli");
}
