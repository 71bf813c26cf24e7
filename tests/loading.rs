//! insmod, rmmod, lsmod (and `kmod list`):
//!
//! * in process on fake roots with the fake kernel: every option and message, the
//!   compression paths (plain, xz, zstd, gzip; with and without
//!   `/sys/module/compression`; the kernel refusing a compressed file), the force
//!   flags (the stripped image the kernel received), parameter quoting, syslog;
//! * against kmod 34.2 on this host: the failure paths that make no syscall, and,
//!   as root, lsmod/rmmod/insmod in a private mount namespace whose `/proc` and `/sys`
//!   are fixtures (never a real load or unload: every rmmod case there fails its
//!   checks before `delete_module`, every insmod case fails before `finit_module`).

use crate::support::ko::Ko;
use crate::support::*;
use kmod_rs::Env;
use libkmod_rs::Root;
use libkmod_rs::kernel::fake::{Call, FakeKernel};
use libkmod_rs::kernel::{
    MODULE_INIT_COMPRESSED_FILE, MODULE_INIT_IGNORE_MODVERSIONS, MODULE_INIT_IGNORE_VERMAGIC,
    O_NONBLOCK, O_TRUNC,
};
use object::{Architecture, Endianness};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

// ---- fixtures --------------------------------------------------------------------

/// A fake root: `/proc`, `/sys/module`, `/lib/modules/4.4.4`.
struct Fx {
    tmp: TempDir,
}

impl Fx {
    fn new() -> Self {
        let tmp = TempDir::new("loading");
        for d in ["proc", "sys/module", "lib/modules/4.4.4", "dev", "files"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        // the kernel log exists on every system; the fake kernel appends to it
        std::fs::write(tmp.path().join("dev/kmsg"), "").unwrap();
        Fx { tmp }
    }
    fn root(&self) -> Root {
        Root::at(self.tmp.path())
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel.trim_start_matches('/'))
    }
    fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }
    fn proc_modules(&self, text: &str) {
        self.write("/proc/modules", text);
    }
    /// A loaded module in /sys/module (initstate live, refcnt, holders, coresize).
    fn loaded(&self, name: &str, refcnt: &str, holders: &[&str], coresize: Option<&str>) {
        self.write(&format!("/sys/module/{name}/initstate"), "live\n");
        self.write(&format!("/sys/module/{name}/refcnt"), refcnt);
        std::fs::create_dir_all(self.path(&format!("/sys/module/{name}/holders"))).unwrap();
        for h in holders {
            std::fs::create_dir_all(self.path(&format!("/sys/module/{name}/holders/{h}"))).unwrap();
        }
        if let Some(c) = coresize {
            self.write(&format!("/sys/module/{name}/coresize"), c);
        }
    }
    fn compression(&self, algo: &str) {
        self.write("/sys/module/compression", format!("{algo}\n"));
    }
    fn builtin(&self, names: &[&str]) {
        let mut b = libkmod_rs::index::IndexBuilder::new();
        for n in names {
            b.insert(n.as_bytes(), b"", 0).unwrap();
        }
        self.write(
            "/lib/modules/4.4.4/modules.builtin.bin",
            b.to_bytes().unwrap(),
        );
    }
    fn file(&self, name: &str, data: &[u8]) -> String {
        self.write(&format!("/files/{name}"), data)
            .to_string_lossy()
            .into_owned()
    }
    fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }
}

fn ko(name: &str, modinfo: &[&str]) -> Ko {
    let mut k = Ko::new(Architecture::X86_64, Endianness::Little);
    k.name = name.into();
    k.modinfo = modinfo.iter().map(|s| (*s).to_string()).collect();
    k
}

fn plain(name: &str) -> Vec<u8> {
    ko(name, &["license=GPL", "vermagic=4.4.4 SMP mod_unload"]).build()
}

fn xz(data: &[u8], check: liblzma::stream::Check) -> Vec<u8> {
    use std::io::Write;
    let stream = liblzma::stream::Stream::new_easy_encoder(6, check).unwrap();
    let mut w = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn xz32(data: &[u8]) -> Vec<u8> {
    xz(data, liblzma::stream::Check::Crc32)
}

fn xz64(data: &[u8]) -> Vec<u8> {
    xz(data, liblzma::stream::Check::Crc64)
}

fn zst(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Ran {
    code: i32,
    out: String,
    err: String,
}

fn run_with(fx: &Fx, k: &mut FakeKernel, argv: &[&str]) -> Ran {
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    run_os(fx, k, &argv)
}

fn run_os(fx: &Fx, k: &mut FakeKernel, argv: &[OsString]) -> Ran {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = {
        let mut env = Env {
            root: fx.root(),
            kernel: Box::new(&mut *k),
            out: &mut out,
            err: &mut err,
            vars: kmod_rs::env::Vars::default(),
        };
        kmod_rs::run(argv, &mut env)
    };
    Ran {
        code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

fn kernel(fx: &Fx) -> FakeKernel {
    FakeKernel::new(fx.root(), "4.4.4")
}

fn tool(fx: &Fx, argv: &[&str]) -> Ran {
    run_with(fx, &mut kernel(fx), argv)
}

fn no_ptr(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        out.push_str("PTR");
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

// ---- lsmod -----------------------------------------------------------------------

#[test]
fn lsmod_table() {
    let fx = Fx::new();
    fx.proc_modules(
        "snd_hda_intel 61440 3 - Live 0xffffffffc0a00000\n\
         snd 126976 12 snd_hda_intel,snd_pcm, Live 0x0\n\
         a_module_with_a_very_long_name 4096 0 - Live 0x0\n\
         nosys 8192 0 - Live 0x0\n",
    );
    fx.loaded("snd_hda_intel", "3\n", &[], Some("61440\n"));
    fx.loaded("snd", "12\n", &["snd_pcm"], None);
    fx.loaded("a_module_with_a_very_long_name", "0\n", &[], Some("4096\n"));
    let r = tool(&fx, &["lsmod"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        r.out,
        "Module                  Size  Used by\n\
         snd_hda_intel          61440  3\n\
         snd                   126976  12 snd_pcm\n\
         a_module_with_a_very_long_name     4096  0\n\
         nosys                     -2  -2\n"
    );
    assert_eq!(
        r.err,
        "lsmod: ERROR: could not open '/sys/module/nosys/holders': No such file or directory\n"
    );
    // `kmod list` is the same, named kmod
    let l = tool(&fx, &["kmod", "list"]);
    assert_eq!((l.code, &l.out), (0, &r.out));
    assert_eq!(l.err, r.err.replace("lsmod:", "kmod:"));
}

#[test]
fn lsmod_holders_are_listed_in_readdir_order_with_commas() {
    let fx = Fx::new();
    fx.proc_modules("base 100 3 a,b,c, Live 0x0\n");
    fx.loaded("base", "3\n", &["a-x", "b", "c"], Some("100\n"));
    let r = tool(&fx, &["lsmod"]);
    let order: Vec<String> = std::fs::read_dir(fx.path("/sys/module/base/holders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().replace('-', "_"))
        .collect();
    assert_eq!(
        r.out,
        format!(
            "Module                  Size  Used by\nbase                     100  3 {}\n",
            order.join(",")
        )
    );
}

#[test]
fn lsmod_reads_odd_proc_modules_like_kmod() {
    let fx = Fx::new();
    // name only (the newline stays in the name), an empty line, a long line, a name
    // with '-' and '.', garbage numbers, and a last line of blanks
    let mut text = String::from("only\n\nx-y.z 12 0 - Live 0x0\nbad zz 0 - Live 0x0\n");
    text.push_str(&"L".repeat(4100));
    text.push_str(" 1 0\nafter 5 0\n  \t ");
    fx.proc_modules(&text);
    std::fs::create_dir_all(fx.path("/sys/module/x_y/holders")).unwrap();
    std::fs::create_dir_all(fx.path("/sys/module/bad/holders")).unwrap();
    fx.write("/sys/module/bad/refcnt", "oops\n");
    let r = tool(&fx, &["lsmod"]);
    assert_eq!(r.code, 0);
    let long = "L".repeat(4095);
    // kmod cuts the holders path at PATH_MAX - 1 bytes
    let cut = &format!("/sys/module/{long}")[..4095];
    assert_eq!(
        r.out,
        format!(
            "Module                  Size  Used by\n\
             only\n                     -2  -2\n\
             \n                         -2  -2\n\
             x_y                       -2  -2\n\
             bad                       -2  -22\n\
             {long}      -36  -36\n\
             after                     -2  -2\n"
        )
    );
    assert_eq!(
        r.err,
        format!(
            "lsmod: ERROR: could not get module from name '(null)': No such file or directory\n\
             lsmod: ERROR: could not open '/sys/module/only\n/holders': No such file or directory\n\
             lsmod: ERROR: could not open '/sys/module/\n/holders': No such file or directory\n\
             lsmod: ERROR: could not read integer from '/sys/module/bad/refcnt': 'Invalid argument'\n\
             lsmod: ERROR: invalid line format at /proc/modules:4\n\
             lsmod: ERROR: could not open '{cut}': File name too long\n\
             lsmod: ERROR: could not open '/sys/module/after/holders': No such file or directory\n"
        )
    );
}

#[test]
fn lsmod_without_proc_modules() {
    let fx = Fx::new();
    let r = tool(&fx, &["lsmod"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.out, "");
    assert_eq!(
        r.err,
        "lsmod: ERROR: could not open /proc/modules: No such file or directory\n\
         lsmod: ERROR: could not get list of modules: No such file or directory\n"
    );
}

#[test]
fn lsmod_options() {
    let fx = Fx::new();
    fx.proc_modules("");
    let r = tool(&fx, &["lsmod", "extra"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "lsmod: ERROR: too many arguments provided.\n")
    );
    let r = tool(&fx, &["lsmod", "-h"]);
    assert_eq!(r.code, 0);
    assert!(r.out.starts_with("Usage:\n\tlsmod [options]\nOptions:\n"));
    let r = tool(&fx, &["kmod", "list", "-h"]);
    assert!(r.out.starts_with("Usage:\n\tkmod [options]\n"), "{}", r.out);
    let r = tool(&fx, &["lsmod", "-V"]);
    assert!(r.out.starts_with("kmod version 34.2"));
    let r = tool(&fx, &["lsmod", "-q"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "lsmod: invalid option -- 'q'\n")
    );
    let r = tool(&fx, &["kmod", "list", "-q"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "list: invalid option -- 'q'\n")
    );
    // kmod's "+" keeps option parsing stopped at the first operand for the command
    let r = tool(&fx, &["kmod", "list", "x", "-h"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "kmod: ERROR: too many arguments provided.\n")
    );
    let r = tool(&fx, &["lsmod", "x", "-h"]);
    assert_eq!(r.code, 0);
    // -h acts before a later bad option, as getopt is consumed in order
    assert_eq!(tool(&fx, &["lsmod", "-h", "-q"]).code, 0);
    assert_eq!(tool(&fx, &["lsmod", "-q", "-h"]).code, 1);
    // -vvv shows libkmod's INFO lines
    let r = tool(&fx, &["lsmod", "-vvv"]);
    assert_eq!(
        no_ptr(&r.err),
        "lsmod: INFO: custom logging function PTR registered\nlsmod: INFO: context PTR released\n"
    );
    assert_eq!(tool(&fx, &["lsmod", "-vv"]).err, "");
}

#[test]
fn unknown_kernel_compression_is_logged_by_libkmod_before_the_hook() {
    let fx = Fx::new();
    fx.proc_modules("");
    fx.compression("lz4");
    let r = tool(&fx, &["lsmod"]);
    assert_eq!(
        r.err,
        "libkmod: ERROR: get_kernel_compression: unknown kernel compression lz4\n"
    );
    let r = tool(&fx, &["rmmod", "x"]);
    assert!(
        r.err
            .starts_with("libkmod: ERROR: get_kernel_compression: ")
    );
}

// ---- syslog ----------------------------------------------------------------------

fn syslog_socket(fx: &Fx) -> std::os::unix::net::UnixDatagram {
    let s = std::os::unix::net::UnixDatagram::bind(fx.path("/dev/log")).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

fn received(s: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    let mut v = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.recv(&mut buf) {
        v.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    v
}

#[test]
fn syslog_mode_sends_to_dev_log() {
    let fx = Fx::new();
    let sock = syslog_socket(&fx);
    let r = tool(&fx, &["rmmod", "-s", "nothere"]);
    assert_eq!((r.code, r.err.as_str()), (1, ""));
    assert_eq!(
        received(&sock),
        ["<27>rmmod: ERROR: Module nothere is not currently loaded\n"]
    );
    let r = tool(&fx, &["insmod", "--syslog"]);
    assert_eq!((r.code, r.err.as_str()), (1, ""));
    assert_eq!(received(&sock), ["<27>insmod: ERROR: missing filename.\n"]);
    let r = tool(&fx, &["lsmod", "-s", "-vvv"]);
    assert_eq!(r.code, 1);
    let got: Vec<String> = received(&sock).iter().map(|s| no_ptr(s)).collect();
    assert_eq!(
        got,
        [
            "<30>lsmod: INFO: custom logging function PTR registered\n",
            "<27>lsmod: ERROR: could not open /proc/modules: No such file or directory\n",
            "<27>lsmod: ERROR: could not get list of modules: No such file or directory\n",
            "<30>lsmod: INFO: context PTR released\n",
        ]
    );
    // getopt's own messages still go to stderr
    let r = tool(&fx, &["lsmod", "-s", "-q"]);
    assert_eq!(r.err, "lsmod: invalid option -- 'q'\n");
}

#[test]
fn syslog_without_a_daemon_goes_to_the_console() {
    let fx = Fx::new();
    fx.write("/dev/console", "");
    let r = tool(&fx, &["rmmod", "-s", "nothere"]);
    assert_eq!((r.code, r.err.as_str()), (1, ""));
    assert_eq!(
        std::fs::read_to_string(fx.path("/dev/console")).unwrap(),
        "rmmod: ERROR: Module nothere is not currently loaded\n\r\n"
    );
}

// ---- insmod ----------------------------------------------------------------------

#[test]
fn insmod_plain_module_with_quoted_parameters() {
    let fx = Fx::new();
    let f = fx.file("mod-a.ko", &plain("mod_a"));
    let mut k = kernel(&fx);
    let r = run_with(
        &fx,
        &mut k,
        &["insmod", &f, "a=1", "b=x y", "c='p q'", "d", "e=\"r s\""],
    );
    assert_eq!((r.code, r.out.as_str(), r.err.as_str()), (0, "", ""));
    assert_eq!(
        k.calls,
        [Call::Finit {
            params: "a=1 b=\"x y\" c='p q' d e=\"r s\"".into(),
            flags: 0
        }]
    );
    assert_eq!(
        std::fs::read_to_string(fx.path("/sys/module/mod_a/initstate")).unwrap(),
        "live\n"
    );
    // and it shows up in lsmod
    let r = tool(&fx, &["lsmod"]);
    assert_eq!(
        r.out,
        "Module                  Size  Used by\nmod_a                  16384  0\n"
    );
    // loading it again: EEXIST
    let r = tool(&fx, &["insmod", &f]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.err,
        format!("insmod: ERROR: could not insert module {f}: File exists\n")
    );
}

#[test]
fn insmod_without_parameters_passes_an_empty_string() {
    let fx = Fx::new();
    let f = fx.file("m.ko", &plain("m"));
    let mut k = kernel(&fx);
    assert_eq!(run_with(&fx, &mut k, &["insmod", &f]).code, 0);
    assert_eq!(
        k.calls,
        [Call::Finit {
            params: String::new(),
            flags: 0
        }]
    );
    // an empty argument first adds nothing; later ones add a separator
    let fx = Fx::new();
    let f = fx.file("m.ko", &plain("m"));
    let mut k = kernel(&fx);
    run_with(&fx, &mut k, &["insmod", &f, "", "a", "", "b"]);
    assert_eq!(
        k.calls,
        [Call::Finit {
            params: "a  b".into(),
            flags: 0
        }]
    );
}

#[test]
fn insmod_relative_path_is_made_absolute() {
    let fx = Fx::new();
    fx.file("rel.ko", &plain("rel"));
    // relative to the test's cwd: use a path through the fixture
    let cwd = std::env::current_dir().unwrap();
    let rel = pathdiff(&fx.path("/files/rel.ko"), &cwd);
    let mut k = kernel(&fx);
    fx.write("/sys/module/x", "");
    k.fail.insert("rel".into(), libkmod_rs::Errno::ENOEXEC);
    let r = run_with(&fx, &mut k, &["insmod", "-vvv", &rel]);
    let lines: Vec<&str> = r.err.lines().collect();
    assert!(
        lines[1].starts_with("insmod: INFO: Failed to insert module '/"),
        "{}",
        r.err
    );
    assert!(lines[1].ends_with("/files/rel.ko': Exec format error"));
    assert_eq!(
        lines[2],
        format!("insmod: ERROR: could not insert module {rel}: Invalid module format")
    );
}

/// `target` relative to `base` (both absolute), through `..` as needed.
fn pathdiff(target: &Path, base: &Path) -> String {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut p = PathBuf::new();
    for _ in common..b.len() {
        p.push("..");
    }
    for c in &t[common..] {
        p.push(c);
    }
    p.to_string_lossy().into_owned()
}

#[test]
fn insmod_force_flags_go_to_finit_module() {
    for (opt, flags) in [
        (
            "-f",
            MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC,
        ),
        (
            "--force",
            MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC,
        ),
        ("--force-modversion", MODULE_INIT_IGNORE_MODVERSIONS),
        ("--force-vermagic", MODULE_INIT_IGNORE_VERMAGIC),
        ("--force-verm", MODULE_INIT_IGNORE_VERMAGIC),
        // kmod 34.2's insmod has only --force: its abbreviations keep meaning it
        (
            "--f",
            MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC,
        ),
        (
            "--forc",
            MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC,
        ),
    ] {
        let fx = Fx::new();
        let f = fx.file("m.ko", &plain("m"));
        let mut k = kernel(&fx);
        let r = run_with(&fx, &mut k, &["insmod", opt, &f]);
        assert_eq!(r.code, 0, "{opt}: {}", r.err);
        assert_eq!(
            k.calls,
            [Call::Finit {
                params: String::new(),
                flags
            }],
            "{opt}"
        );
    }
    let fx = Fx::new();
    let r = tool(&fx, &["insmod", "--force-", "x"]);
    assert_eq!(
        r.err,
        "insmod: option '--force-' is ambiguous; possibilities: '--force-modversion' '--force-vermagic'\n"
    );
}

#[test]
fn insmod_vermagic_and_modversions_checks_of_the_kernel() {
    let mut m = ko("vm", &["license=GPL", "vermagic=9.9.9 SMP"]);
    m.versions = vec![(0x1234, "module_layout")];
    let image = m.build();
    // the fake kernel refuses both; each force option lifts one
    for (opts, ok) in [
        (vec![], false),
        (vec!["--force-vermagic"], false),
        (vec!["--force-modversion"], false),
        (vec!["-f"], true),
    ] {
        let fx = Fx::new();
        let f = fx.file("vm.ko", &image);
        let mut k = kernel(&fx);
        k.vermagic = Some("4.4.4 SMP".into());
        k.module_layout_crc = Some(0x9999);
        let mut argv = vec!["insmod"];
        argv.extend(opts.iter().copied());
        argv.push(&f);
        let r = run_with(&fx, &mut k, &argv);
        assert_eq!(r.code == 0, ok, "{opts:?}: {}", r.err);
        if !ok {
            let line = if opts.is_empty() || opts == ["--force-modversion"] {
                "vm: version magic '9.9.9 SMP' should be '4.4.4 SMP'"
            } else {
                "vm: disagrees about version of symbol module_layout"
            };
            assert_eq!(
                r.err,
                format!(
                    "insmod: ERROR: could not insert module {f}: Invalid module format\n\
                     insmod: ERROR: kernel: {line}\n"
                )
            );
        }
    }
}

#[test]
fn insmod_force_through_init_module_strips_the_image() {
    let mut m = ko("st", &["license=GPL", "vermagic=9.9.9 SMP", "author=x"]);
    m.versions = vec![(0x1234, "module_layout"), (0x55, "printk")];
    let image = m.build();
    for (opt, strip_versions, strip_vermagic) in [
        ("-f", true, true),
        ("--force-modversion", true, false),
        ("--force-vermagic", false, true),
    ] {
        let fx = Fx::new();
        let f = fx.file("st.ko", &image);
        let mut k = kernel(&fx);
        k.finit_enosys = true;
        k.vermagic = Some("4.4.4 SMP".into());
        k.module_layout_crc = Some(0x9999);
        let r = run_with(&fx, &mut k, &["insmod", opt, &f, "p=1"]);
        assert_eq!(
            k.calls,
            [
                Call::Finit {
                    params: "p=1".into(),
                    flags: if strip_versions && strip_vermagic {
                        3
                    } else if strip_versions {
                        MODULE_INIT_IGNORE_MODVERSIONS
                    } else {
                        MODULE_INIT_IGNORE_VERMAGIC
                    }
                },
                Call::Init {
                    name: "st".into(),
                    params: "p=1".into()
                }
            ],
            "{opt}"
        );
        let got = &k.received[1];
        assert_eq!(got.len(), image.len());
        let info = libkmod_rs::ModuleImage::from_bytes(got.clone())
            .unwrap()
            .info()
            .unwrap();
        assert_eq!(
            info.get(b"vermagic").next().is_some(),
            !strip_vermagic,
            "{opt}"
        );
        assert_eq!(info.get(b"author").collect::<Vec<_>>(), [b"x"]);
        assert_eq!(versions_alloc(got), !strip_versions, "{opt}");
        // only -f passes both of the fake kernel's checks
        assert_eq!(
            r.code == 0,
            strip_versions && strip_vermagic,
            "{opt}: {}",
            r.err
        );
        // the original file is untouched
        assert_eq!(std::fs::read(&f).unwrap(), image);
    }
}

fn versions_alloc(image: &[u8]) -> bool {
    use object::{Object, ObjectSection, SectionFlags};
    let f = object::File::parse(image).unwrap();
    let s = f.section_by_name("__versions").unwrap();
    match s.flags() {
        SectionFlags::Elf { sh_flags } => sh_flags & u64::from(object::elf::SHF_ALLOC) != 0,
        _ => unreachable!(),
    }
}

#[test]
fn insmod_force_without_vermagic_cannot_strip() {
    let fx = Fx::new();
    let f = fx.file("nv.ko", &ko("nv", &["license=GPL"]).build());
    let mut k = kernel(&fx);
    k.finit_enosys = true;
    let r = run_with(&fx, &mut k, &["insmod", "-f", "-vvv", &f]);
    assert_eq!(r.code, 1);
    assert_eq!(
        no_ptr(&r.err),
        format!(
            "insmod: INFO: custom logging function PTR registered\n\
             insmod: ERROR: Failed to strip version information: No data available\n\
             insmod: INFO: Failed to insert module '{f}': No data available\n\
             insmod: ERROR: could not insert module {f}: No data available\n\
             insmod: INFO: context PTR released\n"
        )
    );
    // --force-modversion alone needs no vermagic
    let fx = Fx::new();
    let f = fx.file("nv.ko", &ko("nv", &["license=GPL"]).build());
    let mut k = kernel(&fx);
    k.finit_enosys = true;
    assert_eq!(
        run_with(&fx, &mut k, &["insmod", "--force-modversion", &f]).code,
        0
    );
}

#[test]
fn insmod_compressed_as_the_kernel_decompresses_goes_to_finit() {
    let image = plain("cz");
    for (algo, data) in [
        ("xz", xz32(&image)),
        ("zstd", zst(&image)),
        ("gzip", gz(&image)),
    ] {
        let fx = Fx::new();
        fx.compression(algo);
        let f = fx.file("cz.ko.x", &data);
        let mut k = kernel(&fx);
        let r = run_with(&fx, &mut k, &["insmod", "-f", &f]);
        assert_eq!(r.code, 0, "{algo}: {}", r.err);
        assert_eq!(
            k.calls,
            [Call::Finit {
                params: String::new(),
                flags: MODULE_INIT_COMPRESSED_FILE | 3
            }],
            "{algo}"
        );
        assert_eq!(k.received, [data], "{algo}: the file itself");
    }
}

#[test]
fn insmod_compressed_otherwise_is_decompressed_here() {
    let image = plain("cu");
    for (kernel_algo, data) in [
        (None, xz64(&image)),
        (None, zst(&image)),
        (None, gz(&image)),
        (Some("zstd"), xz32(&image)),
        (Some("xz"), gz(&image)),
        (Some("gzip"), zst(&image)),
    ] {
        let fx = Fx::new();
        if let Some(a) = kernel_algo {
            fx.compression(a);
        }
        let f = fx.file("cu.ko.x", &data);
        let mut k = kernel(&fx);
        let r = run_with(&fx, &mut k, &["insmod", &f, "x=1"]);
        assert_eq!(r.code, 0, "{kernel_algo:?}: {}", r.err);
        assert_eq!(
            k.calls,
            [Call::Init {
                name: "cu".into(),
                params: "x=1".into()
            }]
        );
        assert_eq!(k.received, std::slice::from_ref(&image));
    }
}

#[test]
fn insmod_falls_back_when_the_kernel_cannot_decompress() {
    // Linux 6.12 refuses xz files with a CRC64 check (`xz` defaults)
    let image = plain("crc");
    let fx = Fx::new();
    fx.compression("xz");
    let data = xz64(&image);
    let f = fx.file("crc.ko.xz", &data);
    let mut k = kernel(&fx);
    let r = run_with(&fx, &mut k, &["insmod", &f, "a=b c"]);
    assert_eq!((r.code, r.err.as_str()), (0, ""));
    assert_eq!(
        k.calls,
        [
            Call::Finit {
                params: "a=\"b c\"".into(),
                flags: MODULE_INIT_COMPRESSED_FILE
            },
            Call::Init {
                name: "crc".into(),
                params: "a=\"b c\"".into()
            }
        ]
    );
    assert_eq!(k.received, [data, image.clone()]);

    // the library reports it
    let fx = Fx::new();
    fx.compression("xz");
    let f = fx.file("crc.ko.xz", &xz64(&image));
    let mut k = kernel(&fx);
    let o = libkmod_rs::insert(
        &mut k,
        &fx.root(),
        Path::new(&f),
        b"",
        libkmod_rs::InsertFlags::default(),
        &mut (),
    )
    .unwrap();
    assert!(o.fell_back);
    assert_eq!(k.calls.len(), 2);

    // with a force option the fallback image is stripped
    let fx = Fx::new();
    fx.compression("xz");
    let f = fx.file("crc.ko.xz", &xz64(&image));
    let mut k = kernel(&fx);
    assert_eq!(run_with(&fx, &mut k, &["insmod", "-f", &f]).code, 0);
    let image = libkmod_rs::ModuleImage::from_bytes(k.received[1].clone()).unwrap();
    assert!(image.info().unwrap().get(b"vermagic").next().is_none());
}

#[test]
fn insmod_fallback_that_fails_too_reports_both_attempts() {
    let image = plain("ff");
    let fx = Fx::new();
    fx.compression("xz");
    let f = fx.file("ff.ko.xz", &xz64(&image));
    let mut k = kernel(&fx);
    k.fail.insert("ff".into(), libkmod_rs::Errno::ENOENT);
    k.kmsg.insert(
        "ff".into(),
        vec!["ff: Unknown symbol missing_fn (err -2)".into()],
    );
    let r = run_with(&fx, &mut k, &["insmod", &f]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.err,
        format!(
            "insmod: ERROR: could not insert module {f}: Unknown symbol in module\n\
             insmod: ERROR: kernel: decompression failed with status 6\n\
             insmod: ERROR: kernel: ff: Unknown symbol missing_fn (err -2)\n"
        )
    );
    assert_eq!(k.calls.len(), 2);
}

#[test]
fn insmod_corrupt_compressed_files() {
    let fx = Fx::new();
    let bad_xz = fx.file("bad.ko.xz", b"\xfd7zXZ\x00garbagegarbage");
    let r = tool(&fx, &["insmod", &bad_xz]);
    assert_eq!(
        r.err,
        format!(
            "insmod: ERROR: xz: File is corrupt\n\
             insmod: ERROR: could not insert module {bad_xz}: Invalid parameters\n"
        )
    );
    // the kernel's decompressor is xz: it refuses, ours does too
    let fx = Fx::new();
    fx.compression("xz");
    let bad_xz = fx.file("bad.ko.xz", b"\xfd7zXZ\x00garbagegarbage");
    let mut k = kernel(&fx);
    let r = run_with(&fx, &mut k, &["insmod", &bad_xz]);
    assert_eq!(
        r.err,
        format!(
            "insmod: ERROR: xz: File is corrupt\n\
             insmod: ERROR: could not insert module {bad_xz}: Invalid parameters\n\
             insmod: ERROR: kernel: decompression failed with status 7\n"
        )
    );
    assert_eq!(k.calls.len(), 1);
    // valid compression of something that is not ELF, with -f
    let fx = Fx::new();
    let notelf = fx.file("n.ko.zst", &zst(&[7u8; 1000]));
    let r = tool(&fx, &["insmod", "-f", &notelf]);
    assert_eq!(
        r.err,
        format!("insmod: ERROR: could not insert module {notelf}: Invalid module format\n")
    );
}

#[test]
fn insmod_kernel_errors_are_mapped_and_followed_by_the_kernel_log() {
    for (e, text) in [
        (8, "Invalid module format"),
        (2, "Unknown symbol in module"),
        (3, "Module has wrong symbol version"),
        (22, "Invalid parameters"),
        (1, "Operation not permitted"),
        (16, "Device or resource busy"),
    ] {
        let fx = Fx::new();
        let f = fx.file("k.ko", &plain("k"));
        let mut k = kernel(&fx);
        k.fail.insert("k".into(), libkmod_rs::Errno::from_raw(e));
        k.kmsg.insert(
            "k".into(),
            vec!["k: first line".into(), "k: second \\x0a line".into()],
        );
        // something logged before the attempt is not shown
        k.log("earlier: unrelated");
        let r = run_with(&fx, &mut k, &["insmod", &f]);
        assert_eq!(r.code, 1);
        assert_eq!(
            r.err,
            format!(
                "insmod: ERROR: could not insert module {f}: {text}\n\
                 insmod: ERROR: kernel: k: first line\n\
                 insmod: ERROR: kernel: k: second \\x0a line\n"
            )
        );
    }
    // userspace records in the window are not the kernel's
    let fx = Fx::new();
    let f = fx.file("k.ko", &plain("k"));
    let mut k = kernel(&fx);
    k.fail.insert("k".into(), libkmod_rs::Errno::from_raw(1));
    let r = run_with(&fx, &mut k, &["insmod", &f]);
    assert_eq!(
        r.err,
        format!("insmod: ERROR: could not insert module {f}: Operation not permitted\n")
    );
}

#[test]
fn insmod_failure_paths() {
    let fx = Fx::new();
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec![], "insmod: ERROR: missing filename.\n".into()),
        (
            vec!["-".into()],
            "insmod: ERROR: this tool does not support loading from stdin!\n".into(),
        ),
        (
            vec!["/nonexistent/x.ko".into(), "a=1".into()],
            "insmod: ERROR: could not load module /nonexistent/x.ko: No such file or directory\n"
                .into(),
        ),
        (
            vec![fx.path("/files").to_string_lossy().into_owned()],
            format!(
                "insmod: ERROR: could not insert module {}: Is a directory\n",
                fx.path("/files").display()
            ),
        ),
        (
            vec![format!("{}/", fx.path("/files").display())],
            format!(
                "insmod: ERROR: could not load module {}/: No such file or directory\n",
                fx.path("/files").display()
            ),
        ),
        (
            vec![fx.file("short.ko", b"abc")],
            format!(
                "insmod: ERROR: could not insert module {}: Invalid parameters\n",
                fx.path("/files/short.ko").display()
            ),
        ),
        (vec!["-Z".into()], "insmod: invalid option -- 'Z'\n".into()),
    ];
    for (args, want) in cases {
        let mut argv = vec!["insmod".to_string()];
        argv.extend(args.iter().cloned());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut k = kernel(&fx);
        let r = run_with(&fx, &mut k, &argv);
        assert_eq!((r.code, r.err.as_str()), (1, want.as_str()), "{args:?}");
        assert!(k.calls.is_empty(), "{args:?}");
    }
    let r = tool(&fx, &["insmod", "-h"]);
    assert_eq!(r.code, 0);
    assert!(r.out.contains("--force-modversion"));
    assert!(
        r.out
            .starts_with("Usage:\n\tinsmod [options] filename [module options]\n")
    );
}

#[test]
fn insmod_non_utf8_arguments_pass_through() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Fx::new();
    let f = fx.file("u.ko", &plain("u"));
    let mut k = kernel(&fx);
    let argv = vec![
        OsString::from("insmod"),
        OsString::from(&f),
        OsString::from_vec(b"s=\xff\xfe".to_vec()),
    ];
    assert_eq!(run_os(&fx, &mut k, &argv).code, 0);
    let Call::Finit { params, .. } = &k.calls[0] else {
        panic!()
    };
    assert_eq!(params, &String::from_utf8_lossy(b"s=\xff\xfe"));
    let missing = OsString::from_vec(b"/nonexistent/\xff.ko".to_vec());
    let r = run_os(&fx, &mut k, &[OsString::from("insmod"), missing.clone()]);
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .as_bytes()
            .starts_with(b"insmod: ERROR: could not load module /nonexistent/")
    );
    let _ = missing.as_bytes();
}

// ---- rmmod -----------------------------------------------------------------------

#[test]
fn rmmod_removes_with_nonblock() {
    let fx = Fx::new();
    fx.proc_modules("a 10 0 - Live 0x0\nb 10 0 - Live 0x0\n");
    fx.loaded("a", "0\n", &[], None);
    fx.loaded("b_c", "0\n", &[], None);
    let ko = fx.file("b-c.ko.xz", b"whatever");
    let mut k = kernel(&fx);
    let r = run_with(&fx, &mut k, &["rmmod", "a", &ko]);
    assert_eq!((r.code, r.out.as_str(), r.err.as_str()), (0, "", ""));
    assert_eq!(
        k.calls,
        [
            Call::Delete {
                name: "a".into(),
                flags: O_NONBLOCK
            },
            Call::Delete {
                name: "b_c".into(),
                flags: O_NONBLOCK
            }
        ]
    );
    assert!(!fx.exists("/sys/module/a"));
    assert_eq!(
        std::fs::read_to_string(fx.path("/proc/modules")).unwrap(),
        "b 10 0 - Live 0x0\n"
    );
}

#[test]
fn rmmod_checks() {
    let fx = Fx::new();
    fx.builtin(&["ext4"]);
    fx.loaded("held", "2\n", &["user-one", "user2"], None);
    fx.loaded("busy", "1\n", &[], None);
    fx.loaded("neg", "-2\n", &[], None);
    fx.loaded("weird", "x\n", &[], None);
    fx.loaded("norefcnt", "0\n", &[], None);
    std::fs::remove_file(fx.path("/sys/module/norefcnt/refcnt")).unwrap();
    std::fs::create_dir_all(fx.path("/sys/module/coming/parameters")).unwrap();
    fx.write("/sys/module/odd/initstate", "unloading\n");
    let holders: Vec<String> = std::fs::read_dir(fx.path("/sys/module/held/holders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().replace('-', "_"))
        .collect();
    for (arg, want) in [
        ("ext4", "rmmod: ERROR: Module ext4 is builtin.\n".to_string()),
        (
            "not-here.ko",
            "rmmod: ERROR: Module not_here is not currently loaded\n".into(),
        ),
        (
            "held",
            format!("rmmod: ERROR: Module held is in use by: {}\n", holders.join(" ")),
        ),
        ("busy", "rmmod: ERROR: Module busy is in use\n".into()),
        ("neg", "rmmod: ERROR: Module unloading is not supported\n".into()),
        (
            "weird",
            "rmmod: ERROR: could not read integer from '/sys/module/weird/refcnt': 'Invalid argument'\n"
                .into(),
        ),
        (
            "norefcnt",
            "rmmod: ERROR: Module unloading is not supported\n".into(),
        ),
        (
            "coming",
            "rmmod: ERROR: could not open '/sys/module/coming/holders': No such file or directory\n\
             rmmod: ERROR: Module unloading is not supported\n"
                .into(),
        ),
        (
            "odd",
            "rmmod: ERROR: unknown /sys/module/odd/initstate: 'unloading\n'\n\
             rmmod: ERROR: Module odd is not currently loaded\n"
                .into(),
        ),
    ] {
        let mut k = kernel(&fx);
        let r = run_with(&fx, &mut k, &["rmmod", arg]);
        assert_eq!((r.code, r.err.as_str()), (1, want.as_str()), "{arg}");
        assert!(k.calls.is_empty(), "{arg}");
    }
    // a builtin given as a path is not looked up as builtin
    let path = fx.file("ext4.ko", b"x");
    let r = tool(&fx, &["rmmod", &path]);
    assert_eq!(r.err, "rmmod: ERROR: Module ext4 is not currently loaded\n");
}

#[test]
fn rmmod_force_skips_the_checks() {
    let fx = Fx::new();
    fx.loaded("busy", "1\n", &[], None);
    let mut k = kernel(&fx);
    let r = run_with(&fx, &mut k, &["rmmod", "-f", "busy", "gone"]);
    assert_eq!(
        k.calls,
        [
            Call::Delete {
                name: "busy".into(),
                flags: O_NONBLOCK | O_TRUNC
            },
            Call::Delete {
                name: "gone".into(),
                flags: O_NONBLOCK | O_TRUNC
            }
        ]
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.err,
        "rmmod: ERROR: could not remove 'gone': No such file or directory\n\
         rmmod: ERROR: could not remove module gone: No such file or directory\n"
    );
}

#[test]
fn rmmod_kernel_refusal_and_argument_order() {
    let fx = Fx::new();
    fx.loaded("a", "0\n", &[], None);
    fx.loaded("c", "0\n", &[], None);
    let mut k = kernel(&fx);
    k.fail_delete.insert("a".into(), libkmod_rs::Errno::EBUSY);
    let dir = format!("{}/", fx.path("/files").display());
    let r = run_with(&fx, &mut k, &["rmmod", "a", "nope", &dir, "c"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.err,
        format!(
            "rmmod: ERROR: could not remove 'a': Device or resource busy\n\
             rmmod: ERROR: could not remove module a: Device or resource busy\n\
             rmmod: ERROR: Module nope is not currently loaded\n\
             rmmod: ERROR: could not use module {dir}: No such file or directory\n"
        )
    );
    // "could not use module" stopped the run: c is still there
    assert_eq!(k.calls.len(), 1);
    assert!(fx.exists("/sys/module/c/initstate"));
}

#[test]
fn rmmod_options() {
    let fx = Fx::new();
    let r = tool(&fx, &["rmmod"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "rmmod: ERROR: missing module name.\n")
    );
    let r = tool(&fx, &["rmmod", "-h"]);
    assert!(
        r.out
            .starts_with("Usage:\n\trmmod [options] [list of modulenames]\n")
    );
    assert_eq!(
        tool(&fx, &["rmmod", "-w", "x"]).err,
        "rmmod: invalid option -- 'w'\n"
    );
    let r = tool(&fx, &["rmmod", "-vvv", "x"]);
    assert_eq!(
        no_ptr(&r.err),
        "rmmod: INFO: custom logging function PTR registered\n\
         rmmod: ERROR: Module x is not currently loaded\n\
         rmmod: INFO: context PTR released\n"
    );
}

// ---- against kmod 34.2 -----------------------------------------------------------

fn kmod34() -> Option<PathBuf> {
    let bin = cache_dir().join("kmod34/bin");
    if bin.join("insmod").exists() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("KMOD_RS_REQUIRE_ORACLE").is_none(),
        "reference kmod missing under {}",
        bin.display()
    );
    eprintln!("SKIP: no reference kmod under {}", bin.display());
    None
}

/// Our tool as its own binary (argv[0] ends in the tool name, as kmod's wrappers).
fn ours_bin(tool: &str) -> Command {
    let exe = match tool {
        "insmod" => env!("CARGO_BIN_EXE_insmod"),
        "rmmod" => env!("CARGO_BIN_EXE_rmmod"),
        "lsmod" => env!("CARGO_BIN_EXE_lsmod"),
        _ => env!("CARGO_BIN_EXE_kmod"),
    };
    let mut c = Command::new(exe);
    std::os::unix::process::CommandExt::arg0(&mut c, tool);
    c.stdin(Stdio::null());
    c
}

fn theirs(bin: &Path, tool: &str) -> Command {
    let mut c = Command::new(bin.join(tool));
    c.stdin(Stdio::null());
    c
}

/// Outputs with pointers (libkmod's INFO lines) blanked.
fn comparable(r: Run) -> Run {
    Run {
        stdout: r.stdout,
        stderr: no_ptr(&String::from_utf8_lossy(&r.stderr)).into_bytes(),
        status: r.status,
    }
}

/// Is this process allowed to make a mount namespace (root, `unshare` present)?
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cmd` run in a private mount namespace where `<fixture>/proc` is `/proc` and
/// `<fixture>/sys` is `/sys`.
fn namespaced(fixture: &Path, cmd: &Command) -> Command {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"]);
    c.arg("mount --bind \"$0/proc\" /proc && mount --bind \"$0/sys\" /sys && exec \"$@\"");
    c.arg(fixture);
    c.arg(cmd.get_program());
    c.args(cmd.get_args());
    c.stdin(Stdio::null());
    c
}

/// The failure paths that make no syscall, on this host, byte for byte.
#[test]
fn host_failure_paths_match_kmod() {
    let Some(bin) = kmod34() else { return };
    let tmp = TempDir::new("loading-host");
    let t = tmp.path().display().to_string();
    std::fs::write(tmp.path().join("short.ko"), b"abc").unwrap();
    std::fs::write(tmp.path().join("bad.ko.xz"), b"\xfd7zXZ\x00garbagegarbage").unwrap();
    std::fs::write(tmp.path().join("notelf.ko.xz"), xz64(&[9u8; 3000])).unwrap();
    std::fs::write(tmp.path().join("notelf.ko.zst"), zst(&[9u8; 3000])).unwrap();
    std::fs::create_dir_all(tmp.path().join("dir.ko")).unwrap();
    // Only files that fail before any syscall: the host's kernel must not decompress
    // xz/zstd itself, or insmod would hand it the file.
    let kernel_decompresses = std::fs::read_to_string("/sys/module/compression")
        .map(|s| s.trim().to_string())
        .ok();
    let mut insmod: Vec<Vec<String>> = vec![
        vec![],
        vec!["-".into()],
        vec!["/nonexistent-kmod-rs.ko".into(), "a=1".into()],
        vec![t.clone()],
        vec![format!("{t}/")],
        vec![format!("{t}/dir.ko")],
        vec![format!("{t}/short.ko")],
        vec!["-vvv".into(), format!("{t}/short.ko")],
        vec!["-Z".into()],
        vec!["--bogus".into()],
        vec!["-s".into(), "-Z".into()],
        vec!["-Z".into(), "-h".into()],
        vec!["nonexistent.ko".into(), "-v".into()],
    ];
    if kernel_decompresses.as_deref() != Some("xz") {
        insmod.push(vec![format!("{t}/bad.ko.xz")]);
        insmod.push(vec!["-vvv".into(), format!("{t}/bad.ko.xz")]);
        insmod.push(vec!["-f".into(), format!("{t}/notelf.ko.xz")]);
    }
    if kernel_decompresses.as_deref() != Some("zstd") {
        insmod.push(vec![
            "-f".into(),
            "-vvvv".into(),
            format!("{t}/notelf.ko.zst"),
        ]);
    }
    let mut d = Diffs::default();
    for args in &insmod {
        let mut a = theirs(&bin, "insmod");
        a.args(args);
        let mut b = ours_bin("insmod");
        b.args(args);
        d.check(
            &format!("insmod {args:?}"),
            &comparable(run(a)),
            &comparable(run(b)),
        );
    }
    let rmmod: Vec<Vec<String>> = vec![
        vec![],
        vec!["kmod-rs-nonexistent".into()],
        vec!["kmod-rs-non-existent.ko".into(), "-v".into()],
        vec![".".into()],
        vec!["/".into(), "kmod-rs-x".into()],
        vec![format!("{t}/")],
        vec![format!("{t}/short.ko")],
        vec!["-vvv".into(), "kmod-rs-a".into(), "kmod-rs-b".into()],
        vec!["-w".into()],
        vec!["-h".into(), "-w".into()],
        vec!["-s".into(), "kmod-rs-x".into()],
    ];
    for args in &rmmod {
        let mut a = theirs(&bin, "rmmod");
        a.args(args);
        let mut b = ours_bin("rmmod");
        b.args(args);
        d.check(
            &format!("rmmod {args:?}"),
            &comparable(run(a)),
            &comparable(run(b)),
        );
    }
    // lsmod on the host's real /proc/modules (whatever it holds, or its absence)
    for args in [vec![], vec!["-vvvv"], vec!["x"], vec!["-q"], vec!["-h"]] {
        let mut a = theirs(&bin, "lsmod");
        a.args(&args);
        let mut b = ours_bin("lsmod");
        b.args(&args);
        d.check(
            &format!("lsmod {args:?}"),
            &comparable(run(a)),
            &comparable(run(b)),
        );
        let mut a = theirs(&bin, "kmod");
        a.arg("list").args(&args);
        let mut b = ours_bin("kmod");
        b.arg("list").args(&args);
        d.check(
            &format!("kmod list {args:?}"),
            &comparable(run(a)),
            &comparable(run(b)),
        );
    }
    d.finish("insmod/rmmod/lsmod failure paths against kmod 34.2");
}

/// A fixture for the namespace comparisons: `proc/` and `sys/` trees.
fn ns_fixture(proc_modules: Option<&[u8]>, sys: &[(&str, &[u8])], dirs: &[&str]) -> TempDir {
    let tmp = TempDir::new("loading-ns");
    std::fs::create_dir_all(tmp.path().join("proc")).unwrap();
    std::fs::create_dir_all(tmp.path().join("sys/module")).unwrap();
    if let Some(p) = proc_modules {
        std::fs::write(tmp.path().join("proc/modules"), p).unwrap();
    }
    for d in dirs {
        std::fs::create_dir_all(tmp.path().join("sys/module").join(d)).unwrap();
    }
    for (rel, data) in sys {
        let p = tmp.path().join("sys/module").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    tmp
}

/// lsmod, rmmod (checks that fail) and insmod (failures before any syscall) with
/// fixture `/proc` and `/sys`, in a private mount namespace, against kmod 34.2.
#[test]
fn namespace_fixtures_match_kmod() {
    let Some(bin) = kmod34() else { return };
    if !can_unshare() {
        eprintln!("SKIP: cannot make a mount namespace here (needs root and unshare)");
        return;
    }
    let mut long = b"longline ".to_vec();
    long.extend(std::iter::repeat_n(b'9', 5000));
    long.extend_from_slice(b"\nafter 1 0 - Live 0x0\n");
    let mut long_name = vec![b'L'; 4100];
    long_name.extend_from_slice(b" 1 0\nnext-one 5 0 - Live 0x0\n");
    let mut lsmod_cases: Vec<(&str, TempDir)> = vec![
        (
            "typical",
            ns_fixture(
                Some(
                    b"snd_hda_intel 61440 3 - Live 0xffffffffc0a00000\n\
                      snd 126976 12 snd_hda_intel,snd_pcm, Live 0x0\n\
                      a_module_with_a_very_long_name 4096 0 - Live 0x0\n\
                      nosys 8192 0 - Live 0x0\n\
                      procsize 777 0 - Live 0x0\n",
                ),
                &[
                    ("snd_hda_intel/refcnt", b"3\n"),
                    ("snd_hda_intel/coresize", b"61440\n"),
                    ("snd/refcnt", b"12\n"),
                    ("snd/coresize", b"126976\n"),
                    ("snd/holders/.keep-out", b""),
                    ("a_module_with_a_very_long_name/refcnt", b"0\n"),
                    ("a_module_with_a_very_long_name/coresize", b"4096\n"),
                    ("procsize/refcnt", b"1\n"),
                ],
                &[
                    "snd_hda_intel/holders",
                    "snd/holders/snd_pcm",
                    "snd/holders/snd_hda_intel",
                    "a_module_with_a_very_long_name/holders",
                    "procsize/holders",
                ],
            ),
        ),
        (
            "odd lines",
            ns_fixture(
                Some(b"only\n\nx-y.z 12 0 - Live 0x0\nbad zz 0 - Live 0x0\ntrail 5 \n  \t "),
                &[
                    ("bad/refcnt", b"oops\n"),
                    ("x_y/refcnt", b"5"),
                    ("trail/coresize", b""),
                ],
                &["x_y/holders", "bad", "trail"],
            ),
        ),
        ("long line", ns_fixture(Some(&long), &[], &["after"])),
        ("long name", ns_fixture(Some(&long_name), &[], &[])),
        (
            "numbers",
            ns_fixture(
                Some(b"a 1 0 - Live 0x0\nb 2 0 - Live 0x0\nc 3 0 - Live 0x0\n"),
                &[
                    ("a/refcnt", b"99999999999\n"),
                    ("a/coresize", b"-5\n"),
                    ("b/refcnt", b" +7 \n"),
                    ("b/coresize", b"99999999999999999999999\n"),
                    ("c/refcnt", b"0x10\n"),
                    ("c/coresize", b"12 junk\n"),
                ],
                &["a/holders", "b/holders", "c/holders"],
            ),
        ),
        ("no proc modules", ns_fixture(None, &[], &[])),
        (
            "odd sysfs",
            ns_fixture(
                Some(b"a 1 0 - Live 0x0\nb 2 0 - Live 0x0\n"),
                &[
                    ("a/refcnt/x", b""),
                    ("a/holders", b"file"),
                    ("b/coresize/x", b""),
                    ("b/refcnt", b"4\0\n"),
                ],
                &["b/holders/c-d.e"],
            ),
        ),
        (
            "empty",
            ns_fixture(Some(b""), &[("compression", b"lz4\n")], &[]),
        ),
    ];
    let mut d = Diffs::default();
    for (what, fx) in &mut lsmod_cases {
        for args in [vec![], vec!["-vvv"]] {
            let mut a = theirs(&bin, "lsmod");
            a.args(&args);
            let mut b = ours_bin("lsmod");
            b.args(&args);
            d.check(
                &format!("lsmod {args:?} ({what})"),
                &comparable(run(namespaced(fx.path(), &a))),
                &comparable(run(namespaced(fx.path(), &b))),
            );
        }
    }
    // rmmod: every case fails its checks, so nothing reaches delete_module
    let rm = ns_fixture(
        Some(b""),
        &[
            ("held/initstate", b"live\n"),
            ("held/refcnt", b"2\n"),
            ("busy/initstate", b"live\n"),
            ("busy/refcnt", b"1\n"),
            ("busy/holders/.x", b""),
            ("neg/initstate", b"live\n"),
            ("neg/refcnt", b"-2\n"),
            ("weird/initstate", b"live\n"),
            ("weird/refcnt", b"x\n"),
            ("minus/initstate", b"live\n"),
            ("minus/refcnt", b"-1\n"),
            ("norefcnt/initstate", b"live\n"),
            ("odd/initstate", b"unloading\n"),
            ("nonl/initstate", b"live"),
            ("going/initstate", b"going\n"),
            ("going/refcnt", b"3\n"),
            ("coming/parameters/x", b"1\n"),
            ("isdir/initstate/x", b""),
            ("nul/initstate", b"live\n\0junk"),
            ("nul/refcnt", b"0\0\n"),
            ("nul/holders", b"not a directory"),
        ],
        &[
            "held/holders/user_one",
            "held/holders/user-two",
            "norefcnt/holders",
            "neg/holders",
            "weird/holders",
            "minus/holders",
            "going/holders",
        ],
    );
    for args in [
        vec!["held"],
        vec!["busy"],
        vec!["neg"],
        vec!["weird"],
        vec!["minus"],
        vec!["norefcnt"],
        vec!["odd"],
        vec!["nonl"],
        vec!["going"],
        vec!["coming"],
        vec!["isdir"],
        vec!["nul"],
        vec![
            "-vvv", "held", "busy", "nothere", "neg", "weird", "norefcnt", "odd", "coming",
        ],
    ] {
        let mut a = theirs(&bin, "rmmod");
        a.args(&args);
        let mut b = ours_bin("rmmod");
        b.args(&args);
        // (Debian's 34.2 prints "in use by" on one line already, as master does)
        let theirs_run = comparable(run(namespaced(rm.path(), &a)));
        let ours_run = comparable(run(namespaced(rm.path(), &b)));
        d.check(&format!("rmmod {args:?}"), &theirs_run, &ours_run);
    }
    // insmod with an unknown or unreadable kernel compression, failing before a syscall
    let ins = ns_fixture(Some(b""), &[("compression", b"lz4\n")], &[]);
    let short = ins.path().join("short.ko");
    std::fs::write(&short, b"abc").unwrap();
    for args in [vec![short.display().to_string()], vec!["-".to_string()]] {
        let mut a = theirs(&bin, "insmod");
        a.args(&args);
        let mut b = ours_bin("insmod");
        b.args(&args);
        d.check(
            &format!("insmod {args:?} (compression lz4)"),
            &comparable(run(namespaced(ins.path(), &a))),
            &comparable(run(namespaced(ins.path(), &b))),
        );
    }
    d.finish("lsmod/rmmod/insmod in a mount namespace against kmod 34.2");
}
