//! Checks before loading (beyond kmod, see `libkmod_rs::check`): insmod and modprobe
//! refuse, before any syscall, a module whose vermagic, symbols or symbol CRCs the
//! running kernel would refuse; the force options lift the matching check.

use crate::support::ko::Ko;
use crate::support::*;
use kmod_rs::Env;
use libkmod_rs::Root;
use libkmod_rs::kernel::MODULE_INIT_IGNORE_VERMAGIC;
use libkmod_rs::kernel::fake::{Call, FakeKernel};
use object::{Architecture, Endianness};
use std::ffi::OsString;

const KVER: &str = "4.4.4";
const MAGIC: &str = "4.4.4 SMP mod_unload modversions ";

/// A root whose release 4.4.4 has in-tree `kernel/prov.ko` (exports `p_fn`, CRC
/// 0x1111) and `kernel/base.ko`, the kernel exporting `k_fn` (CRC 0x2222 in
/// `Module.symvers`), plus the modules of `extra` under `extra/`.
struct Fx {
    tmp: TempDir,
}

fn ko(name: &str, magic: &str, needs: &[&str], versions: &[(u64, &'static str)]) -> Ko {
    let mut k = Ko::new(Architecture::X86_64, Endianness::Little);
    k.name = name.into();
    k.modinfo = vec!["license=GPL".into(), format!("vermagic={magic}")];
    k.needs = needs.iter().map(|n| ((*n).to_string(), false)).collect();
    k.versions = versions.to_vec();
    k
}

impl Fx {
    fn new(extra: &[(&str, Vec<u8>)]) -> Fx {
        let tmp = TempDir::new("checks");
        let kdir = tmp.path().join("lib/modules").join(KVER);
        for d in ["kernel", "extra", "build"] {
            std::fs::create_dir_all(kdir.join(d)).unwrap();
        }
        for d in ["proc", "sys/module", "dev", "files"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        std::fs::write(tmp.path().join("dev/kmsg"), "").unwrap();
        let base = ko("base", MAGIC, &[], &[(0x42, "module_layout")]).build();
        let mut prov = ko("prov", MAGIC, &["k_fn"], &[(0x2222, "k_fn")]);
        prov.exports = vec![("p_fn".into(), 0x1111)];
        std::fs::write(kdir.join("kernel/base.ko"), base).unwrap();
        std::fs::write(kdir.join("kernel/prov.ko"), prov.build()).unwrap();
        for (name, data) in extra {
            std::fs::write(kdir.join("extra").join(format!("{name}.ko")), data).unwrap();
        }
        std::fs::write(
            kdir.join("build/Module.symvers"),
            "0x00002222\tk_fn\tvmlinux\tEXPORT_SYMBOL\t\n",
        )
        .unwrap();
        std::fs::write(
            tmp.path().join("proc/kallsyms"),
            "0000000000000000 T k_fn\n0000000000000000 T printk\n",
        )
        .unwrap();
        let fx = Fx { tmp };
        let root = fx.tmp.path().display().to_string();
        let r = fx.run(&mut fx.fake(), &["depmod", "-b", &root, KVER]);
        assert_eq!(r.0, 0, "depmod: {}", r.2);
        fx
    }

    fn root(&self) -> Root {
        Root::at(self.tmp.path())
    }

    /// A fake kernel with nothing loaded (the fake kernel keeps its state in the root).
    fn fake(&self) -> FakeKernel {
        let _ = std::fs::remove_file(self.tmp.path().join("proc/modules"));
        let sys = self.tmp.path().join("sys/module");
        let _ = std::fs::remove_dir_all(&sys);
        std::fs::create_dir_all(sys).unwrap();
        FakeKernel::new(self.root(), KVER)
    }

    fn file(&self, name: &str, data: &[u8]) -> String {
        let p = self.tmp.path().join("files").join(name);
        std::fs::write(&p, data).unwrap();
        p.display().to_string()
    }

    fn run(&self, k: &mut FakeKernel, argv: &[&str]) -> (i32, String, String) {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = {
            let mut env = Env {
                root: self.root(),
                kernel: Box::new(&mut *k),
                out: &mut out,
                err: &mut err,
                vars: kmod_rs::env::Vars::default(),
            };
            kmod_rs::run(&argv, &mut env)
        };
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }
}

/// Runs `args` on a fresh fake kernel: refused with exit 1, exactly `err` on
/// stderr, and no system call made.
fn expect_refused(fx: &Fx, args: &[&str], err: &str) {
    let mut k = fx.fake();
    let (code, _, got) = fx.run(&mut k, args);
    assert_eq!((code, got.as_str()), (1, err), "{args:?}");
    assert!(k.calls.is_empty(), "{args:?}: {:?}", k.calls);
}

/// Sets the fake `/proc/modules`.
fn set_proc_modules(fx: &Fx, content: &str) {
    std::fs::write(fx.tmp.path().join("proc/modules"), content).unwrap();
}

fn finits(k: &FakeKernel) -> usize {
    k.calls
        .iter()
        .filter(|c| matches!(c, Call::Finit { .. } | Call::Init { .. }))
        .count()
}

#[test]
fn insmod_mismatched_vermagic_is_refused_before_the_syscall() {
    let fx = Fx::new(&[]);
    let bad = "4.4.9 SMP mod_unload modversions ";
    let f = fx.file("old.ko", &ko("old", bad, &[], &[]).build());
    expect_refused(
        &fx,
        &["insmod", &f],
        &format!(
            "insmod: ERROR: could not insert module {f}: version magic '{bad}' should be '{MAGIC}'\n"
        ),
    );
    // --force-vermagic (and -f) skip it: the kernel is asked, with the flag
    for opt in ["--force-vermagic", "-f"] {
        let mut k = fx.fake();
        let (code, _, err) = fx.run(&mut k, &["insmod", opt, &f]);
        assert_eq!(code, 0, "{opt}: {err}");
        assert!(matches!(
            k.calls[..],
            [Call::Finit { flags, .. }] if flags & MODULE_INIT_IGNORE_VERMAGIC != 0
        ));
    }
    // --force-modversion does not
    let mut k = fx.fake();
    assert_eq!(fx.run(&mut k, &["insmod", "--force-modversion", &f]).0, 1);
    assert!(k.calls.is_empty());
}

#[test]
fn insmod_vermagic_with_modversions_compares_after_the_release() {
    let fx = Fx::new(&[]);
    // with __versions only "SMP mod_unload modversions " is compared
    let other = "4.4.9 SMP mod_unload modversions ";
    let f = fx.file(
        "mv.ko",
        &ko("mv", other, &[], &[(1, "module_layout")]).build(),
    );
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["insmod", &f]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(finits(&k), 1);
    // but the rest must match
    let wrong = "4.4.4 SMP preempt mod_unload modversions ";
    let f = fx.file(
        "mw.ko",
        &ko("mw", wrong, &[], &[(1, "module_layout")]).build(),
    );
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["insmod", &f]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "insmod: ERROR: could not insert module {f}: version magic '{wrong}' should be '{MAGIC}'\n"
        )
    );
}

#[test]
fn insmod_unknown_symbol_is_named() {
    let fx = Fx::new(&[]);
    let f = fx.file(
        "lost.ko",
        &ko("lost", MAGIC, &["k_fn", "gone_fn"], &[]).build(),
    );
    expect_refused(
        &fx,
        &["insmod", &f],
        &format!("insmod: ERROR: could not insert module {f}: Unknown symbol gone_fn\n"),
    );
    // -f does not lift it (the kernel would refuse too)
    let mut k = fx.fake();
    assert_eq!(fx.run(&mut k, &["insmod", "-f", &f]).0, 1);
    assert!(k.calls.is_empty());
    // weak symbols need nothing
    let mut m = ko("weak", MAGIC, &["k_fn"], &[]);
    m.needs.push(("gone_fn".into(), true));
    let f = fx.file("weak.ko", &m.build());
    let mut k = fx.fake();
    assert_eq!(fx.run(&mut k, &["insmod", &f]).0, 0);
    // without a readable kallsyms the kernel decides
    std::fs::remove_file(fx.tmp.path().join("proc/kallsyms")).unwrap();
    let f = fx.file("lost.ko", &ko("lost", MAGIC, &["gone_fn"], &[]).build());
    let mut k = fx.fake();
    assert_eq!(fx.run(&mut k, &["insmod", &f]).0, 0);
    assert_eq!(finits(&k), 1);
}

#[test]
fn insmod_symbol_of_a_loaded_module() {
    let fx = Fx::new(&[]);
    let f = fx.file("user.ko", &ko("user", MAGIC, &["p_fn"], &[]).build());
    expect_refused(
        &fx,
        &["insmod", &f],
        &format!("insmod: ERROR: could not insert module {f}: Unknown symbol p_fn\n"),
    );
    let mut k = fx.fake();
    set_proc_modules(&fx, "prov 16384 0 - Live 0x0000000000000000\n");
    let (code, _, err) = fx.run(&mut k, &["insmod", &f]);
    assert_eq!((code, err.as_str()), (0, ""));
    // the loaded module's file (through modules.dep) gives the CRC: a flipped one
    // in the file being inserted is refused (the QEMU test's vfat-badcrc.ko)
    let f = fx.file(
        "flipped.ko",
        &ko("flipped", MAGIC, &["p_fn"], &[(0xeeee, "p_fn")]).build(),
    );
    let mut k = fx.fake();
    set_proc_modules(&fx, "prov 16384 0 - Live 0x0000000000000000\n");
    let (code, _, err) = fx.run(&mut k, &["insmod", &f]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "insmod: ERROR: could not insert module {f}: disagrees about version of symbol p_fn (module 0x0000eeee, kernel 0x00001111)\n"
        )
    );
    assert!(k.calls.is_empty());
    let mut k = fx.fake();
    set_proc_modules(&fx, "prov 16384 0 - Live 0x0000000000000000\n");
    let (code, _, err) = fx.run(&mut k, &["insmod", "-f", &f]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(finits(&k), 1);
}

#[test]
fn insmod_crc_mismatch_is_refused() {
    let fx = Fx::new(&[]);
    let f = fx.file(
        "crc.ko",
        &ko("crc", MAGIC, &["k_fn"], &[(0x3333, "k_fn")]).build(),
    );
    expect_refused(
        &fx,
        &["insmod", &f],
        &format!(
            "insmod: ERROR: could not insert module {f}: disagrees about version of symbol k_fn (module 0x00003333, kernel 0x00002222)\n"
        ),
    );
    for opt in ["--force-modversion", "-f"] {
        let mut k = fx.fake();
        let (code, _, err) = fx.run(&mut k, &["insmod", opt, &f]);
        assert_eq!(code, 0, "{opt}: {err}");
        assert_eq!(finits(&k), 1);
    }
    // a matching CRC passes
    let f = fx.file(
        "ok.ko",
        &ko("ok", MAGIC, &["k_fn"], &[(0x2222, "k_fn")]).build(),
    );
    let mut k = fx.fake();
    assert_eq!(fx.run(&mut k, &["insmod", &f]).0, 0);
}

#[test]
fn crcs_from_a_compressed_symvers() {
    let fx = Fx::new(&[]);
    std::fs::remove_file(
        fx.tmp
            .path()
            .join(format!("lib/modules/{KVER}/build/Module.symvers")),
    )
    .unwrap();
    let f = fx.file(
        "crc.ko",
        &ko("crc", MAGIC, &["k_fn"], &[(0x3333, "k_fn")]).build(),
    );
    // no CRC known for the kernel's k_fn: the kernel decides
    let mut k = fx.fake();
    assert_eq!(fx.run(&mut k, &["insmod", &f]).0, 0);
    assert_eq!(finits(&k), 1);
    // Fedora/SUSE-style compressed copies are read
    let line = b"0x00002222\tk_fn\tvmlinux\tEXPORT_SYMBOL\t\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, line).unwrap();
    std::fs::create_dir_all(fx.tmp.path().join("boot")).unwrap();
    std::fs::write(
        fx.tmp.path().join(format!("boot/symvers-{KVER}.gz")),
        gz.finish().unwrap(),
    )
    .unwrap();
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["insmod", &f]);
    assert_eq!(code, 1);
    assert!(
        err.ends_with(
            "disagrees about version of symbol k_fn (module 0x00003333, kernel 0x00002222)\n"
        ),
        "{err}"
    );
    assert!(k.calls.is_empty());
}

#[test]
fn modprobe_checks_each_module_of_the_chain() {
    let user = ko(
        "user",
        MAGIC,
        &["p_fn", "k_fn"],
        &[(0x1111, "p_fn"), (0x2222, "k_fn")],
    );
    let badcrc = ko("badcrc", MAGIC, &["p_fn"], &[(0x9999, "p_fn")]);
    let lost = ko("lost", MAGIC, &["p_fn", "gone_fn"], &[]);
    let old = ko("old", "4.4.9 SMP mod_unload modversions ", &[], &[]);
    let fx = Fx::new(&[
        ("user", user.build()),
        ("badcrc", badcrc.build()),
        ("lost", lost.build()),
        ("old", old.build()),
    ]);
    // p_fn comes from prov, loaded first
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["modprobe", "user"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(finits(&k), 2);
    expect_refused(
        &fx,
        &["modprobe", "badcrc"],
        "modprobe: ERROR: could not insert 'badcrc': disagrees about version of symbol p_fn (module 0x00009999, kernel 0x00001111)\n",
    );
    // (the whole chain is checked first: not even the dependency was inserted)
    let mut k = fx.fake();
    assert_eq!(
        fx.run(&mut k, &["modprobe", "--force-modversion", "badcrc"])
            .0,
        0
    );
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["modprobe", "lost"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "modprobe: ERROR: could not insert 'lost': Unknown symbol gone_fn\n"
    );
    assert!(k.calls.is_empty(), "{:?}", k.calls);
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["modprobe", "old"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "modprobe: ERROR: could not insert 'old': version magic '4.4.9 SMP mod_unload modversions ' should be '{MAGIC}'\n"
        )
    );
    let mut k = fx.fake();
    assert_eq!(
        fx.run(&mut k, &["modprobe", "--force-vermagic", "old"]).0,
        0
    );
    assert_eq!(finits(&k), 1);
}

/// A chain base <- mid <- top (each needing a symbol of the one before; `mid` also
/// needs `p_fn` of the in-tree `prov`), `top` being built by `top`.
fn chain(top: &Ko) -> Fx {
    let mut mid = ko(
        "mid",
        MAGIC,
        &["p_fn", "k_fn"],
        &[(0x1111, "p_fn"), (0x2222, "k_fn")],
    );
    mid.exports = vec![("m_fn".into(), 0x5555)];
    Fx::new(&[("mid", mid.build()), ("top", top.build())])
}

#[test]
fn modprobe_checks_the_whole_chain_before_inserting() {
    // the last module of the chain has a wrong CRC for a symbol of the one before it
    // (which is not loaded yet: its file gives the CRC)
    let fx = chain(&ko("top", MAGIC, &["m_fn"], &[(0x6666, "m_fn")]));
    let r = fx.run(&mut fx.fake(), &["modprobe", "--show-depends", "top"]);
    assert_eq!(r.0, 0);
    assert_eq!(r.1.matches("insmod ").count(), 3, "{}", r.1);
    let mut k = fx.fake();
    let (code, out, err) = fx.run(&mut k, &["modprobe", "-v", "top"]);
    assert_eq!(code, 1);
    assert_eq!(out, "", "nothing shown: nothing is inserted");
    assert_eq!(
        err,
        "modprobe: ERROR: could not insert 'top': disagrees about version of symbol m_fn (module 0x00006666, kernel 0x00005555)\n"
    );
    assert!(k.calls.is_empty(), "{:?}", k.calls);
    assert!(
        !fx.tmp.path().join("proc/modules").exists()
            || std::fs::read_to_string(fx.tmp.path().join("proc/modules"))
                .unwrap()
                .is_empty()
    );
    // the force option lifts it: the three are inserted, in order
    for opt in ["--force-modversion", "-f"] {
        let mut k = fx.fake();
        let (code, _, err) = fx.run(&mut k, &["modprobe", opt, "top"]);
        assert_eq!((code, err.as_str()), (0, ""), "{opt}");
        assert_eq!(finits(&k), 3, "{opt}");
    }
    // a dry run checks nothing and inserts nothing, as before
    let mut k = fx.fake();
    let (code, out, _) = fx.run(&mut k, &["modprobe", "-n", "-v", "top"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("insmod ").count(), 3, "{out}");
    assert!(k.calls.is_empty());
    // with the first two loaded, only the last is checked, against the loaded files
    let mut k = fx.fake();
    let (code, _, _) = fx.run(&mut k, &["modprobe", "mid"]);
    assert_eq!(code, 0);
    assert_eq!(finits(&k), 2);
    k.calls.clear();
    let (code, _, err) = fx.run(&mut k, &["modprobe", "top"]);
    assert_eq!(code, 1);
    assert!(err.contains("could not insert 'top': disagrees about version of symbol m_fn"));
    assert!(k.calls.is_empty(), "{:?}", k.calls);
}

#[test]
fn modprobe_chain_refusal_names_the_failing_module() {
    // the last module needs a symbol nobody provides
    let fx = chain(&ko("top", MAGIC, &["m_fn", "nowhere_fn"], &[]));
    expect_refused(
        &fx,
        &["modprobe", "top"],
        "modprobe: ERROR: could not insert 'top': Unknown symbol nowhere_fn\n",
    );
    // -f does not lift an unknown symbol
    let mut k = fx.fake();
    assert_eq!(fx.run(&mut k, &["modprobe", "-f", "top"]).0, 1);
    assert!(k.calls.is_empty());
    // a module in the middle of the chain fails: it is the one named
    let mut mid = ko("mid", "4.4.9 SMP mod_unload ", &["p_fn"], &[]);
    mid.exports = vec![("m_fn".into(), 0x5555)];
    let fx = Fx::new(&[
        ("mid", mid.build()),
        ("top", ko("top", MAGIC, &["m_fn"], &[]).build()),
    ]);
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["modprobe", "top"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "modprobe: ERROR: could not insert 'mid': version magic '4.4.9 SMP mod_unload ' should be '{MAGIC}'\n"
        )
    );
    assert!(k.calls.is_empty(), "{:?}", k.calls);
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["modprobe", "--force-vermagic", "top"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(finits(&k), 3);
}

#[test]
fn modprobe_softdep_that_fails_its_check_is_skipped() {
    // a softdep is not required: failing its check does not stop the chain (as a
    // failed insertion would not), it is only not inserted
    let fx = Fx::new(&[
        ("old", ko("old", "4.4.9 SMP mod_unload ", &[], &[]).build()),
        ("top", ko("top", MAGIC, &["p_fn"], &[]).build()),
    ]);
    std::fs::create_dir_all(fx.tmp.path().join("etc/modprobe.d")).unwrap();
    std::fs::write(
        fx.tmp.path().join("etc/modprobe.d/t.conf"),
        "softdep top pre: old\n",
    )
    .unwrap();
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["modprobe", "top"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(finits(&k), 2);
    let loaded = std::fs::read_to_string(fx.tmp.path().join("proc/modules")).unwrap();
    let names: Vec<&str> = loaded.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(
        names.contains(&"prov") && names.contains(&"top") && !names.contains(&"old"),
        "{loaded}"
    );
}

#[test]
fn in_tree_modules_are_checked_from_modules_dep_without_kallsyms() {
    // a module of the release's modules.dep: depmod resolved its symbols, so
    // /proc/kallsyms is not needed (removed here)
    let fx = Fx::new(&[
        (
            "user",
            ko("user", MAGIC, &["p_fn", "k_fn"], &[(0x9999, "p_fn")]).build(),
        ),
        ("lost", ko("lost", MAGIC, &["k_fn", "gone_fn"], &[]).build()),
    ]);
    std::fs::remove_file(fx.tmp.path().join("proc/kallsyms")).unwrap();
    let user = fx
        .tmp
        .path()
        .join(format!("lib/modules/{KVER}/extra/user.ko"))
        .display()
        .to_string();
    // its dependency prov is not loaded: insmod refuses (no dependency chain)
    let mut k = fx.fake();
    let (code, _, err) = fx.run(&mut k, &["insmod", &user]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!("insmod: ERROR: could not insert module {user}: Unknown symbol p_fn\n")
    );
    // prov loaded: its file gives p_fn's CRC, which user's disagrees with
    let mut k = fx.fake();
    set_proc_modules(&fx, "prov 16384 0 - Live 0x0000000000000000\n");
    let (code, _, err) = fx.run(&mut k, &["insmod", &user]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "insmod: ERROR: could not insert module {user}: disagrees about version of symbol p_fn (module 0x00009999, kernel 0x00001111)\n"
        )
    );
    assert!(k.calls.is_empty());
    // a symbol no module exports must be the kernel's: Module.symvers says whether
    expect_refused(
        &fx,
        &["modprobe", "lost"],
        "modprobe: ERROR: could not insert 'lost': Unknown symbol gone_fn\n",
    );
    // without a Module.symvers it cannot be known: the kernel decides
    std::fs::remove_file(
        fx.tmp
            .path()
            .join(format!("lib/modules/{KVER}/build/Module.symvers")),
    )
    .unwrap();
    let mut k = fx.fake();
    assert_eq!(fx.run(&mut k, &["modprobe", "lost"]).0, 0);
    assert_eq!(finits(&k), 1);
}
