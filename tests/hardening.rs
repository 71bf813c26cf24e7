//! Hostile input (issue 10): huge sparse files with a compression magic, devices
//! given as modules or configuration, modules followed by huge holes, decompression
//! bombs read by several threads, crafted index files, gzip padding, files that are
//! not modules at all.
//!
//! The tools run as child processes under an address-space limit (`ulimit -v`) and
//! a time limit (`timeout`), their peak RSS measured with `/usr/bin/time` where the
//! point is memory; a tool that reads without bound fails the test instead of
//! exhausting the machine. The expected messages are kmod 34.2's, checked against
//! the reference binary when it is available (`KMOD_RS_CACHE`).

use crate::support::ko::Ko;
use crate::support::*;
use kmod_rs::Env;
use libkmod_rs::Root;
use libkmod_rs::kernel::fake::FakeKernel;
use object::{Architecture, Endianness};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MODINFO: &str = env!("CARGO_BIN_EXE_modinfo");
const MODPROBE: &str = env!("CARGO_BIN_EXE_modprobe");
const DEPMOD: &str = env!("CARGO_BIN_EXE_depmod");
const TIME: &str = "/usr/bin/time";
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

const XZ_MAGIC: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xB5, 0x2F, 0xFD];
const GZIP_MAGIC: &[u8] = &[0x1F, 0x8B];

/// What a limited run gave.
struct Limited {
    run: Run,
    /// Peak resident set size.
    peak: u64,
    took: Duration,
}

/// Run `bin` with `args` under `ulimit -v <vmem>` and `timeout <secs>` (exit status
/// 124 when it runs out of time), measuring its peak RSS with `/usr/bin/time`.
fn limited<S: AsRef<std::ffi::OsStr>>(
    bin: &str,
    args: &[S],
    vmem: u64,
    secs: u32,
    envs: &[(&str, &str)],
) -> Limited {
    assert!(
        Path::new(TIME).exists(),
        "{TIME} is missing (Debian package `time`)"
    );
    let tmp = TempDir::new("hard-time");
    let rss = tmp.path().join("rss");
    let mut c = Command::new("timeout");
    c.arg("-s")
        .arg("KILL")
        .arg(secs.to_string())
        .arg(TIME)
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .args(["sh", "-c", "ulimit -v \"$0\" && exec \"$@\""])
        .arg((vmem / 1024).to_string())
        .arg(bin)
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in envs {
        c.env(k, v);
    }
    let start = Instant::now();
    let run = Run::from(c.output().expect("spawn"));
    let took = start.elapsed();
    let peak = std::fs::read_to_string(&rss)
        .ok()
        .and_then(|s| s.lines().last()?.trim().parse::<u64>().ok())
        .map_or(u64::MAX, |kib| kib * 1024);
    Limited { run, peak, took }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A sparse file of `size` bytes starting with `head` (a few KiB on disk).
fn sparse(path: &Path, head: &[u8], size: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, head).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(size)
        .unwrap();
}

fn module(name: &str) -> Vec<u8> {
    let mut k = Ko::sample(Architecture::X86_64, Endianness::Little);
    k.name = name.into();
    k.modinfo.push(format!("description={name} module"));
    k.build()
}

/// A zstd frame without a content size (as `zstd` writes from a pipe) that
/// decompresses to `blocks` × 128 KiB of zeros: run-length blocks of 4 bytes each.
fn zstd_bomb(blocks: u32) -> Vec<u8> {
    const BLOCK: u32 = 128 << 10;
    // frame header descriptor 0 (no content size, not single-segment), window 128 KiB
    let mut b = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 7 << 3];
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        let header = (BLOCK << 3) | (1 << 1) | last;
        b.extend_from_slice(&header.to_le_bytes()[..3]);
        b.push(0);
    }
    b
}

/// kmod 34.2's `tool` on `args`, when the reference is available.
fn theirs(tool: &str, args: &[&str]) -> Option<Run> {
    let o = Oracle::get()?;
    let mut c = o.theirs(tool);
    c.args(args);
    Some(run(c))
}

// ---- 1. a compression magic at the start of a huge sparse file ---------------------

#[test]
fn huge_sparse_files_with_a_compression_magic_fail_at_once() {
    let tmp = TempDir::new("hard-magic");
    let dir = tmp.path();
    let cases: [(&str, &[u8], u64, &str); 4] = [
        (
            "x.ko",
            XZ_MAGIC,
            8 * GIB,
            "xz_uncompress_belch: xz: File is corrupt",
        ),
        (
            "y.ko.xz",
            XZ_MAGIC,
            30 * GIB,
            "xz_uncompress_belch: xz: File is corrupt",
        ),
        (
            "z.ko.zst",
            ZSTD_MAGIC,
            30 * GIB,
            "kmod_file_load_zstd: zstd: Failed to determine decompression size",
        ),
        // kmod 34.2 as Debian builds it has no zlib (its answer: ENOSYS); ours
        // reads the header and stops there
        (
            "g.ko",
            GZIP_MAGIC,
            8 * GIB,
            "kmod_file_load_zlib: gzip: invalid gzip header",
        ),
    ];
    for (name, magic, size, libmsg) in cases {
        let path = dir.join(name);
        sparse(&path, magic, size);
        let p = path.to_str().unwrap();
        let modname = name.split('.').next().unwrap();
        let r = limited(MODINFO, &[p], 512 * MIB, 60, &[]);
        assert_eq!(
            (r.run.status, text(&r.run.stdout), text(&r.run.stderr)),
            (
                Some(1),
                format!("filename:       {p}\n"),
                format!(
                    "libkmod: ERROR: {libmsg}\nmodinfo: ERROR: could not get modinfo from '{modname}': Invalid argument\n"
                )
            ),
            "modinfo {name}"
        );
        assert!(r.peak < 64 * MIB, "modinfo {name}: peak RSS {}", r.peak);
        assert!(
            r.took < Duration::from_secs(10),
            "modinfo {name}: {:?}",
            r.took
        );
        let r = limited(MODPROBE, &["--dump-modversions", p], 512 * MIB, 60, &[]);
        let short = libmsg.split_once(": ").unwrap().1;
        assert_eq!(
            (r.run.status, text(&r.run.stderr)),
            (
                Some(1),
                format!(
                    "modprobe: ERROR: {short}\nmodprobe: FATAL: could not get modversions of {p}: Invalid argument\n"
                )
            ),
            "modprobe --dump-modversions {name}"
        );
        assert!(r.peak < 64 * MIB, "modprobe {name}: peak RSS {}", r.peak);
        if magic != GZIP_MAGIC
            && let Some(k) = theirs("modinfo", &[p])
        {
            let ours = run({
                let mut c = Command::new(MODINFO);
                c.arg(p);
                c
            });
            assert_eq!(ours, k, "modinfo {name} against kmod 34.2");
        }
    }
}

/// depmod over a tree holding such files reports them (as kmod does: three
/// messages each) and writes every index.
#[test]
fn depmod_goes_on_past_huge_sparse_compressed_files() {
    let tmp = TempDir::new("hard-depmod-magic");
    let build = |root: &Path| {
        let k = root.join("lib/modules/1.0/kernel");
        std::fs::create_dir_all(&k).unwrap();
        std::fs::write(k.join("mod_a.ko"), module("mod_a")).unwrap();
        std::fs::write(k.join("mod_b.ko"), module("mod_b")).unwrap();
        sparse(&k.join("x.ko"), XZ_MAGIC, 8 * GIB);
        sparse(&k.join("y.ko.zst"), ZSTD_MAGIC, 30 * GIB);
    };
    let ours_root = tmp.path().join("ours");
    build(&ours_root);
    let root = ours_root.to_str().unwrap();
    let r = limited(DEPMOD, &["-b", root, "1.0"], GIB, 120, &[]);
    assert_eq!(r.run.status, Some(0), "{}", text(&r.run.stderr));
    assert!(r.peak < 128 * MIB, "peak RSS {}", r.peak);
    let err = text(&r.run.stderr);
    for want in [
        format!(
            "depmod: ERROR: xz: File is corrupt\ndepmod: ERROR: failed to load symbols from {root}/lib/modules/1.0/kernel/x.ko: Invalid argument\ndepmod: ERROR: xz: File format not recognized\ndepmod: ERROR: xz: File format not recognized\n"
        ),
        format!(
            "depmod: ERROR: zstd: Failed to determine decompression size\ndepmod: ERROR: failed to load symbols from {root}/lib/modules/1.0/kernel/y.ko.zst: Invalid argument\ndepmod: ERROR: zstd: Failed to determine decompression size\ndepmod: ERROR: zstd: Failed to determine decompression size\n"
        ),
    ] {
        assert!(err.contains(&want), "{err}");
    }
    let moddir = ours_root.join("lib/modules/1.0");
    for f in DEPMOD_OUTPUTS {
        assert!(moddir.join(f).exists(), "{f} not written");
    }
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
    assert!(
        dep.contains("kernel/mod_a.ko:") && dep.contains("kernel/x.ko:"),
        "{dep}"
    );
    if let Some(o) = Oracle::get() {
        let theirs_root = tmp.path().join("theirs");
        build(&theirs_root);
        let t = run({
            let mut c = o.theirs("depmod");
            c.args(["-b", theirs_root.to_str().unwrap(), "1.0"]);
            c
        });
        let theirs_err = text(&t.stderr).replace(theirs_root.to_str().unwrap(), root);
        assert_eq!((t.status, theirs_err), (Some(0), err));
        for f in DEPMOD_OUTPUTS {
            let a = std::fs::read(theirs_root.join("lib/modules/1.0").join(f)).unwrap();
            let b = std::fs::read(moddir.join(f)).unwrap();
            assert!(a == b, "{f} differs from kmod's");
        }
    }
}

// ---- 2. devices given as modules -------------------------------------------------

#[test]
fn devices_given_as_modules_are_refused_like_kmod() {
    let tmp = TempDir::new("hard-dev");
    let link = tmp.path().join("u.ko");
    std::os::unix::fs::symlink("/dev/urandom", &link).unwrap();
    let link = link.to_str().unwrap().to_string();
    for dev in ["/dev/urandom", "/dev/zero", link.as_str()] {
        let r = limited(MODPROBE, &["--dump-modversions", dev], 256 * MIB, 30, &[]);
        let want =
            format!("modprobe: FATAL: could not get modversions of {dev}: Invalid argument\n");
        assert_eq!(
            (r.run.status, text(&r.run.stderr)),
            (Some(1), want),
            "{dev}"
        );
        assert!(r.peak < 64 * MIB, "{dev}: peak RSS {}", r.peak);
        if let Some(k) = theirs("modprobe", &["--dump-modversions", dev]) {
            assert_eq!(r.run, k, "{dev} against kmod 34.2");
        }
        let r = limited(MODINFO, &[dev], 256 * MIB, 30, &[]);
        assert_eq!(
            (r.run.status, text(&r.run.stderr)),
            (
                Some(1),
                format!("modinfo: ERROR: Module {dev} not found.\n")
            ),
        );
    }
}

/// Run `argv` in process on the fake kernel over `root`.
fn in_process(root: &Path, kernel: &mut FakeKernel, argv: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = {
        let mut env = Env {
            root: Root::at(root),
            kernel: Box::new(&mut *kernel),
            out: &mut out,
            err: &mut err,
            vars: kmod_rs::env::Vars::default(),
        };
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        kmod_rs::run(&argv, &mut env)
    };
    (code, text(&out), text(&err))
}

/// Runs in a child process of this test binary, under an address-space limit
/// (reading a device without bound fails there, not in this process).
#[test]
fn insmod_of_hostile_files_child() {
    if std::env::var_os("KMOD_RS_HARDENING_CHILD").is_none() {
        return;
    }
    let tmp = TempDir::new("hard-insmod-dev");
    std::fs::create_dir_all(tmp.path().join("lib/modules/4.4.4")).unwrap();
    let u = tmp.path().join("u.ko");
    let z = tmp.path().join("z.ko");
    std::os::unix::fs::symlink("/dev/urandom", &u).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &z).unwrap();
    let (u, z) = (u.to_str().unwrap(), z.to_str().unwrap());
    let mut k = FakeKernel::new(Root::at(tmp.path()), "4.4.4");
    let r = in_process(tmp.path(), &mut k, &["insmod", u]);
    assert_eq!(
        r,
        (
            1,
            String::new(),
            format!(
                "insmod: ERROR: could not insert module {u}: not a regular file but a character device\n"
            )
        )
    );
    assert!(k.calls.is_empty());
    // -f passes it to the kernel, which refuses a file that is not a regular one
    let r = in_process(tmp.path(), &mut k, &["insmod", "-f", z]);
    assert_eq!(
        r,
        (
            1,
            String::new(),
            format!("insmod: ERROR: could not insert module {z}: Invalid parameters\n")
        )
    );
    assert_eq!(k.calls.len(), 1);
    // a huge sparse file with the xz magic: decompressed here (the fake kernel has
    // no decompressor), which fails at once
    let x = tmp.path().join("x.ko");
    sparse(&x, XZ_MAGIC, 8 * GIB);
    let x = x.to_str().unwrap();
    let mut k = FakeKernel::new(Root::at(tmp.path()), "4.4.4");
    let r = in_process(tmp.path(), &mut k, &["insmod", x]);
    assert_eq!(
        r,
        (
            1,
            String::new(),
            format!(
                "insmod: ERROR: xz: File is corrupt\ninsmod: ERROR: could not insert module {x}: Invalid parameters\n"
            )
        )
    );
    assert!(k.calls.is_empty());
}

#[test]
fn insmod_of_hostile_files() {
    let exe = std::env::current_exe().unwrap();
    let r = limited(
        exe.to_str().unwrap(),
        &[
            "--exact",
            "hardening::insmod_of_hostile_files_child",
            "--test-threads=1",
            "--nocapture",
        ],
        GIB,
        60,
        &[("KMOD_RS_HARDENING_CHILD", "1")],
    );
    assert_eq!(
        r.run.status,
        Some(0),
        "{}{}",
        text(&r.run.stdout),
        text(&r.run.stderr)
    );
    assert!(text(&r.run.stdout).contains("1 passed"));
}

// ---- 3. a module followed by a huge hole ----------------------------------------

#[test]
fn modinfo_of_a_module_followed_by_a_huge_hole() {
    let tmp = TempDir::new("hard-hole");
    let mut ko = Ko::sample(Architecture::X86_64, Endianness::Little);
    ko.padding = 40_000;
    let bytes = ko.build();
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![(tmp.path().join("m.ko"), bytes)];
    if let Some(o) = Oracle::get() {
        let t = o.tree("bookworm-amd64");
        let loop_ko = t.moddir().join("kernel/drivers/block/loop.ko");
        files.push((tmp.path().join("loop.ko"), std::fs::read(loop_ko).unwrap()));
    }
    for (path, bytes) in files {
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let whole = limited(MODINFO, &[p], 512 * MIB, 60, &[]);
        assert_eq!(whole.run.status, Some(0));
        for size in [2 * GIB, 30 * GIB] {
            let holed = tmp.path().join(format!("holed-{size}.ko"));
            sparse(&holed, &bytes, size);
            let h = holed.to_str().unwrap();
            let r = limited(MODINFO, &[h], 512 * MIB, 60, &[]);
            // the same fields (the signature trailer is no longer at the end)
            let mut want = String::new();
            for l in text(&whole.run.stdout).replace(p, h).lines() {
                if !l.starts_with("sig") && !l.starts_with("signer") && !l.starts_with("\t\t") {
                    want.push_str(l);
                    want.push('\n');
                }
            }
            assert_eq!(
                (r.run.status, text(&r.run.stdout), text(&r.run.stderr)),
                (Some(0), want, String::new()),
                "{h}"
            );
            assert!(r.peak < 64 * MIB, "{h}: peak RSS {}", r.peak);
            assert!(r.took < Duration::from_secs(10), "{h}: {:?}", r.took);
            if let Some(k) = theirs("modinfo", &[h]) {
                assert_eq!(r.run, k, "{h} against kmod 34.2");
            }
            std::fs::remove_file(&holed).unwrap();
        }
    }
}

// ---- 4. decompression bombs read by several threads ------------------------------

#[test]
fn depmod_decompression_bombs_share_one_memory_bound() {
    let tmp = TempDir::new("hard-bombs");
    let k = tmp.path().join("lib/modules/1.0/kernel");
    std::fs::create_dir_all(&k).unwrap();
    // 1.1 GiB each, over the 1 GiB cap
    let bomb = zstd_bomb(9011);
    for i in 0..4 {
        std::fs::write(k.join(format!("bomb{i}.ko.zst")), &bomb).unwrap();
    }
    std::fs::write(k.join("mod_a.ko"), module("mod_a")).unwrap();
    std::fs::write(
        k.join("mod_b.ko.zst"),
        zstd::bulk::compress(&module("mod_b"), 3).unwrap(),
    )
    .unwrap();
    let root = tmp.path().to_str().unwrap();
    let r = limited(
        DEPMOD,
        &["-b", root, "1.0"],
        3 * GIB,
        300,
        &[("RAYON_NUM_THREADS", "4")],
    );
    let err = text(&r.run.stderr);
    assert_eq!(r.run.status, Some(0), "{err}");
    let cap = "depmod: ERROR: zstd: decompressed size exceeds the limit of 1073741824 bytes\n";
    assert_eq!(err.matches(cap).count(), 12, "{err}");
    let dep = std::fs::read_to_string(tmp.path().join("lib/modules/1.0/modules.dep")).unwrap();
    assert!(dep.contains("kernel/mod_b.ko.zst:"), "{dep}");
    // one image at the cap, the threads' buffers' shared budget, the rest
    assert!(
        r.peak < GIB + 512 * MIB,
        "peak RSS {} MiB with 4 threads",
        r.peak / MIB
    );
    eprintln!(
        "4 bombs, 4 threads: peak RSS {} MiB, {:?}",
        r.peak / MIB,
        r.took
    );
}

// ---- 5. crafted index files --------------------------------------------------------

/// An alias index of three nodes and zero padding up to `size` bytes: the root's
/// `*` child has a child with a value on arc 126 and itself on arc 127.
fn looping_alias_index(size: usize) -> Vec<u8> {
    const VALUES: u32 = 0x4000_0000;
    const CHILDREN: u32 = 0x2000_0000;
    let a = 12u32;
    let b = a + 6;
    let c = b + 2 + 8;
    let mut d = Vec::new();
    for w in [0xB007_F457, 0x0002_0001, a | CHILDREN] {
        d.extend_from_slice(&u32::to_be_bytes(w));
    }
    d.extend_from_slice(b"**");
    d.extend_from_slice(&(b | CHILDREN).to_be_bytes());
    d.extend_from_slice(&[126, 127]);
    d.extend_from_slice(&(c | VALUES).to_be_bytes());
    d.extend_from_slice(&(b | CHILDREN).to_be_bytes());
    d.extend_from_slice(&1u32.to_be_bytes());
    d.extend_from_slice(&0u32.to_be_bytes());
    d.extend_from_slice(b"m\0");
    d.resize(size, 0);
    d
}

#[test]
fn crafted_alias_index_lookups_take_linear_time() {
    let tmp = TempDir::new("hard-index-loop");
    let moddir = tmp.path().join("lib/modules/4.4.4");
    std::fs::create_dir_all(&moddir).unwrap();
    let empty = tmp.path().join("conf");
    std::fs::create_dir_all(&empty).unwrap();
    for size in [100_000, 1_000_000] {
        std::fs::write(moddir.join("modules.alias.bin"), looping_alias_index(size)).unwrap();
        let r = limited(
            MODPROBE,
            &[
                "-C",
                empty.to_str().unwrap(),
                "-d",
                tmp.path().to_str().unwrap(),
                "-S",
                "4.4.4",
                "-R",
                "aa",
            ],
            512 * MIB,
            30,
            &[],
        );
        assert_eq!(
            (r.run.status, text(&r.run.stderr)),
            (
                Some(1),
                format!(
                    "modprobe: FATAL: Module aa not found in directory {}\n",
                    moddir.display()
                )
            ),
            "{size} bytes"
        );
        assert!(
            r.took < Duration::from_secs(10),
            "{size} bytes: {:?}",
            r.took
        );
    }
}

/// Decoded node: (prefix end, child table: (slot offset, arc byte, reference)).
fn node_children(data: &[u8], reference: u32) -> (usize, Vec<(usize, u8, u32)>) {
    let be = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
    let mut pos = (reference & 0x0FFF_FFFF) as usize;
    if reference & 0x8000_0000 != 0 {
        pos += data[pos..].iter().position(|&c| c == 0).unwrap() + 1;
    }
    let mut kids = Vec::new();
    if reference & 0x2000_0000 != 0 {
        let (f, l) = (data[pos], data[pos + 1]);
        for (i, ch) in (f..=l).enumerate() {
            let slot = pos + 2 + 4 * i;
            kids.push((slot, ch, be(slot)));
        }
    }
    (pos, kids)
}

#[test]
fn index_node_pointing_at_itself_is_dumped_once() {
    let tmp = TempDir::new("hard-index-cycle");
    let moddir = tmp.path().join("lib/modules/4.4.4");
    std::fs::create_dir_all(&moddir).unwrap();
    let empty = tmp.path().join("conf");
    std::fs::create_dir_all(&empty).unwrap();
    let mut b = libkmod_rs::index::IndexBuilder::new();
    for i in 0..3000u32 {
        b.insert(format!("k{i:05}").as_bytes(), format!("m{i}").as_bytes(), i)
            .unwrap();
        b.insert(
            format!("k{i:05}a").as_bytes(),
            format!("n{i}").as_bytes(),
            i,
        )
        .unwrap();
    }
    let good = b.to_bytes().unwrap();
    // the node of "k01500" (it has a value and an 'a' child): its 'a' arc leads
    // back to itself
    let mut data = good.clone();
    let mut reference = u32::from_be_bytes(data[8..12].try_into().unwrap());
    let mut key: &[u8] = b"k01500";
    loop {
        let off = (reference & 0x0FFF_FFFF) as usize;
        if reference & 0x8000_0000 != 0 {
            let len = data[off..].iter().position(|&c| c == 0).unwrap();
            assert!(key.starts_with(&data[off..off + len]));
            key = &key[len..];
        }
        let (_, kids) = node_children(&data, reference);
        let Some((&ch, rest)) = key.split_first() else {
            let (slot, _, _) = *kids.iter().find(|k| k.1 == b'a').unwrap();
            data[slot..slot + 4].copy_from_slice(&reference.to_be_bytes());
            break;
        };
        reference = kids.iter().find(|k| k.1 == ch).unwrap().2;
        key = rest;
    }
    let dump = |index: &[u8]| {
        std::fs::write(moddir.join("modules.alias.bin"), index).unwrap();
        let mut c = Command::new("sh");
        c.args([
            "-c",
            "ulimit -v 524288 && timeout -s KILL 30 \"$@\" | wc -c",
            "sh",
            MODPROBE,
            "-C",
            empty.to_str().unwrap(),
            "-d",
            tmp.path().to_str().unwrap(),
            "-S",
            "4.4.4",
            "-c",
        ]);
        let start = Instant::now();
        let r = run(c);
        (
            text(&r.stdout).trim().parse::<u64>().unwrap(),
            start.elapsed(),
        )
    };
    let (normal, _) = dump(&good);
    let (looped, took) = dump(&data);
    // the loop replaces the subtree of "k01500a": one line fewer
    assert!(
        looped < normal && looped + 64 > normal,
        "{looped} vs {normal} bytes"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

// ---- 7. configuration files that are devices -------------------------------------

#[test]
fn configuration_files_that_are_devices_are_refused() {
    let tmp = TempDir::new("hard-conf");
    let conf = tmp.path().join("modprobe.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::create_dir_all(tmp.path().join("lib/modules/4.4.4/kernel")).unwrap();
    std::fs::write(conf.join("a.conf"), "alias foo bar\n").unwrap();
    std::os::unix::fs::symlink("/dev/zero", conf.join("z.conf")).unwrap();
    std::os::unix::fs::symlink("/dev/urandom", conf.join("u.conf")).unwrap();
    let c = conf.to_str().unwrap();
    let root = tmp.path().to_str().unwrap();
    let r = limited(
        MODPROBE,
        &["-C", c, "-d", root, "-S", "4.4.4", "-c"],
        512 * MIB,
        30,
        &[],
    );
    assert_eq!(r.run.status, Some(0));
    assert_eq!(
        text(&r.run.stderr),
        format!(
            "libkmod: ERROR: kmod_config_new: Error parsing {c}/u.conf: File too large\nlibkmod: ERROR: kmod_config_new: Error parsing {c}/z.conf: File too large\n"
        )
    );
    assert!(text(&r.run.stdout).starts_with("alias foo bar\n"));
    assert!(r.peak < 64 * MIB, "peak RSS {}", r.peak);
    // depmod.d: the same bound
    let r = limited(DEPMOD, &["-b", root, "-C", c, "4.4.4"], 512 * MIB, 30, &[]);
    assert_eq!(r.run.status, Some(0));
    let err = text(&r.run.stderr);
    for f in ["u", "z"] {
        assert!(
            err.contains(&format!(
                "depmod: ERROR: file parse {c}/{f}.conf: File too large\n"
            )),
            "{err}"
        );
    }
    assert!(r.peak < 64 * MIB, "peak RSS {}", r.peak);
}

// ---- 10. gzip padding --------------------------------------------------------------

/// The reference is zlib's `gzread`, kmod's reader when built with zlib (neither
/// Debian kmod is): after a gzip member, whatever is not another member is
/// "trailing garbage", ignored (zlib.h on `gzread`; gzread.c, `gz_look`).
#[test]
fn gzip_member_followed_by_padding_reads_like_zlib() {
    use std::io::Write;
    let tmp = TempDir::new("hard-gzip");
    let plain = module("mod_a");
    std::fs::write(tmp.path().join("mod_a.ko"), &plain).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&plain).unwrap();
    let gz = e.finish().unwrap();
    let info = |name: &str| {
        let p = tmp.path().join(name);
        let r = run({
            let mut c = Command::new(MODINFO);
            c.arg(&p);
            c
        });
        (
            r.status,
            text(&r.stdout).replace(p.to_str().unwrap(), "F"),
            text(&r.stderr),
        )
    };
    let want = info("mod_a.ko");
    assert_eq!(want.0, Some(0));
    for (name, tail) in [
        ("zeros.ko.gz", vec![0u8; 4096]),
        ("garbage.ko.gz", b"not gzip at all".to_vec()),
        ("one.ko.gz", vec![0x1F]),
    ] {
        let mut data = gz.clone();
        data.extend_from_slice(&tail);
        std::fs::write(tmp.path().join(name), data).unwrap();
        assert_eq!(info(name), want, "{name}");
    }
    // a second member is read (and must be whole)
    let mut two = gz.clone();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"").unwrap();
    two.extend_from_slice(&e.finish().unwrap());
    std::fs::write(tmp.path().join("two.ko.gz"), &two).unwrap();
    assert_eq!(info("two.ko.gz"), want);
    two.truncate(two.len() - 4);
    std::fs::write(tmp.path().join("cut.ko.gz"), &two).unwrap();
    assert_eq!(info("cut.ko.gz").0, Some(1));
}

// ---- 12. files that are not modules ------------------------------------------------

#[test]
fn insmod_and_modprobe_refuse_files_that_are_not_modules() {
    let tmp = TempDir::new("hard-notmod");
    let kdir = tmp.path().join("lib/modules/4.4.4/kernel");
    std::fs::create_dir_all(&kdir).unwrap();
    let f = |name: &str, data: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, data).unwrap();
        p.to_str().unwrap().to_string()
    };
    let random = f("random.ko", &Rng(7).bytes(3000));
    let mut exe = module("exe");
    exe[16] = 2; // ET_EXEC
    let exe = f("exe.ko", &exe);
    let short = f("short.ko", &module("short")[..40]);
    let mut k = FakeKernel::new(Root::at(tmp.path()), "4.4.4");
    for (path, reason) in [
        (&random, "not an ELF file"),
        (&exe, "not a relocatable ELF object but an executable"),
        (&short, "file shorter than the ELF header"),
    ] {
        let r = in_process(tmp.path(), &mut k, &["insmod", path]);
        assert_eq!(
            r,
            (
                1,
                String::new(),
                format!("insmod: ERROR: could not insert module {path}: {reason}\n")
            )
        );
    }
    assert!(k.calls.is_empty());
    // -f: passed to the kernel, which refuses it
    let r = in_process(tmp.path(), &mut k, &["insmod", "-f", &random]);
    assert_eq!(r.0, 1);
    assert!(
        r.2.starts_with(&format!(
            "insmod: ERROR: could not insert module {random}: Invalid module format\n"
        )),
        "{}",
        r.2
    );
    assert_eq!(k.calls.len(), 1);
    // modprobe: the same checks
    std::fs::write(kdir.join("bad.ko"), Rng(8).bytes(3000)).unwrap();
    let root = tmp.path().to_str().unwrap();
    let (code, _, _) = in_process(tmp.path(), &mut k, &["depmod", "-b", root, "4.4.4"]);
    assert_eq!(code, 0);
    let mut k = FakeKernel::new(Root::at(tmp.path()), "4.4.4");
    let r = in_process(tmp.path(), &mut k, &["modprobe", "bad"]);
    assert_eq!(
        r,
        (
            1,
            String::new(),
            "modprobe: ERROR: could not insert 'bad': not an ELF file\n".to_string()
        )
    );
    assert!(k.calls.is_empty());
}
