//! modprobe run in-process against the fake kernel: a fake root per case with
//! synthetic modules (indexed by our depmod), `/sys/module` state, configuration and
//! kernel command line; expected stdout, stderr, status and kernel calls.
//!
//! The expectations follow kmod 34.2's `modprobe.c` and `libkmod-module.c`; the
//! dry-run parts (what `-v` shows) are also checked against the real kmod when the
//! reference is available (`dry_runs_match_kmod`).

use crate::support::ko::Ko;
use crate::support::*;
use kmod_rs::Env;
use libkmod_rs::kernel::fake::{Call, FakeKernel};
use libkmod_rs::kernel::{Kernel, O_NONBLOCK, O_TRUNC};
use libkmod_rs::{Errno, Root};
use object::{Architecture, Endianness};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

const KVER: &str = "4.4.4";
const EPERM: Errno = Errno::from_raw(1);
const ENOENT: Errno = Errno::ENOENT;
const EAGAIN: Errno = Errno::EAGAIN;
const EEXIST: Errno = Errno::EEXIST;

/// A fake root with the synthetic module tree:
/// `mod_a` (exports `a_fn`) ← `mod_b` (exports `b_fn`) ← `mod_c`; `mod_d` (alias
/// `pci:v00001234d*`), `mod_e` standalone; `builtin_x` builtin.
struct Fx {
    tmp: TempDir,
}

fn ko(name: &str, exports: &[&str], needs: &[&str], extra: &[&str]) -> Vec<u8> {
    let mut k = Ko::new(Architecture::X86_64, Endianness::Little);
    k.name = name.to_string();
    k.modinfo = vec!["license=GPL".into(), format!("name={name}")];
    k.modinfo.extend(extra.iter().map(|s| (*s).to_string()));
    k.exports = exports.iter().map(|e| ((*e).to_string(), 0x1234)).collect();
    k.needs = needs.iter().map(|n| ((*n).to_string(), false)).collect();
    k.build()
}

impl Fx {
    fn new(tag: &str) -> Fx {
        let tmp = TempDir::new(&format!("mpcase-{tag}"));
        let kdir = tmp.path().join("lib/modules").join(KVER);
        std::fs::create_dir_all(kdir.join("kernel")).unwrap();
        for (name, data) in [
            ("mod_a", ko("mod_a", &["a_fn"], &[], &[])),
            ("mod_b", ko("mod_b", &["b_fn"], &["a_fn"], &[])),
            ("mod_c", ko("mod_c", &[], &["b_fn"], &[])),
            ("mod_d", ko("mod_d", &[], &[], &["alias=pci:v00001234d*"])),
            ("mod_e", ko("mod_e", &[], &[], &[])),
        ] {
            std::fs::write(kdir.join("kernel").join(format!("{name}.ko")), data).unwrap();
        }
        std::fs::write(kdir.join("modules.builtin"), "kernel/builtin_x.ko\n").unwrap();
        std::fs::create_dir_all(tmp.path().join("proc")).unwrap();
        std::fs::write(tmp.path().join("proc/cmdline"), "quiet\n").unwrap();
        std::fs::create_dir_all(tmp.path().join("sys/module")).unwrap();
        let fx = Fx { tmp };
        let mut fake = FakeKernel::new(fx.root(), KVER);
        let (st, _, err) = fx.run_tool(&mut fake, &["depmod", "-b", &fx.path_str(), KVER]);
        assert_eq!(st, 0, "depmod: {err}");
        fx
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn path_str(&self) -> String {
        self.path().display().to_string()
    }

    fn root(&self) -> Root {
        Root::at(self.path())
    }

    fn conf(&self, text: &str) {
        let d = self.path().join("etc/modprobe.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("test.conf"), text.replace("ROOT", &self.path_str())).unwrap();
    }

    fn cmdline(&self, text: &str) {
        std::fs::write(self.path().join("proc/cmdline"), text).unwrap();
    }

    /// Mark `name` loaded: initstate, refcnt, holders.
    fn loaded(&self, name: &str, refcnt: u32, holders: &[&str]) {
        let d = self.path().join("sys/module").join(name);
        std::fs::create_dir_all(d.join("holders")).unwrap();
        std::fs::write(d.join("initstate"), "live\n").unwrap();
        std::fs::write(d.join("refcnt"), format!("{refcnt}\n")).unwrap();
        for h in holders {
            File::create(d.join("holders").join(h)).unwrap();
        }
    }

    fn is_loaded(&self, name: &str) -> bool {
        self.path()
            .join("sys/module")
            .join(name)
            .join("initstate")
            .exists()
    }

    /// Module names in `/proc/modules`, in load order.
    fn proc_modules(&self) -> Vec<String> {
        std::fs::read_to_string(self.path().join("proc/modules"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').next().map(String::from))
            .collect()
    }

    fn ko_path(&self, name: &str) -> String {
        format!("{}/lib/modules/{KVER}/kernel/{name}.ko", self.path_str())
    }

    fn run_tool(&self, kernel: &mut dyn Kernel, argv: &[&str]) -> (i32, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = {
            let mut env = Env {
                root: self.root(),
                kernel: Box::new(kernel),
                out: &mut out,
                err: &mut err,
                vars: kmod_rs::env::Vars::default(),
            };
            let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
            kmod_rs::run(&argv, &mut env)
        };
        let root = self.path_str();
        let clean = |b: Vec<u8>| String::from_utf8(b).unwrap().replace(&root, "ROOT");
        (code, clean(out), clean(err))
    }

    /// `modprobe args...` in-process; outputs with the root path shown as `ROOT`.
    fn modprobe(&self, kernel: &mut dyn Kernel, args: &[&str]) -> (i32, String, String) {
        let mut argv = vec!["modprobe"];
        argv.extend_from_slice(args);
        let args: Vec<String> = argv
            .iter()
            .map(|a| a.replace("ROOT", &self.path_str()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run_tool(kernel, &args)
    }

    fn fake(&self) -> FakeKernel {
        FakeKernel::new(self.root(), KVER)
    }
}

fn finit(params: &str) -> Call {
    Call::Finit {
        params: params.into(),
        flags: 0,
    }
}

fn delete(name: &str) -> Call {
    Call::Delete {
        name: name.into(),
        flags: O_NONBLOCK,
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_string()).collect()
}

#[test]
fn inserts_dependencies_first() {
    let fx = Fx::new("deps");
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &["mod_c"]),
        (0, String::new(), String::new())
    );
    assert_eq!(k.calls, vec![finit(""), finit(""), finit("")]);
    assert_eq!(fx.proc_modules(), s(&["mod_a", "mod_b", "mod_c"]));
    // everything is in now: nothing to do
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &["mod_c"]),
        (0, String::new(), String::new())
    );
    assert!(k.calls.is_empty());
    // --first-time
    assert_eq!(
        fx.modprobe(&mut k, &["--first-time", "mod_c"]),
        (
            1,
            String::new(),
            "modprobe: ERROR: could not insert 'mod_c': Module already in kernel\n".into()
        )
    );
    assert!(k.calls.is_empty());
}

#[test]
fn verbose_shows_options_from_config_cmdline_and_arguments() {
    let fx = Fx::new("opts");
    fx.conf("options mod_b x=2\noptions mod_c y=3\n");
    fx.cmdline("quiet mod_c.z=4 mod-b.w\n");
    let mut k = fx.fake();
    let (st, out, err) = fx.modprobe(&mut k, &["-v", "mod_c", "p=1", "q=a b"]);
    assert_eq!((st, err.as_str()), (0, ""));
    assert_eq!(
        out,
        format!(
            "insmod {} \ninsmod {} x=2 w \ninsmod {} y=3 z=4 p=1 q=\"a b\"\n",
            fx.ko_path("mod_a").replace(&fx.path_str(), "ROOT"),
            fx.ko_path("mod_b").replace(&fx.path_str(), "ROOT"),
            fx.ko_path("mod_c").replace(&fx.path_str(), "ROOT"),
        )
    );
    assert_eq!(
        k.calls,
        vec![finit(""), finit("x=2 w "), finit("y=3 z=4 p=1 q=\"a b\"")]
    );
}

#[test]
fn loaded_modules_are_skipped() {
    let fx = Fx::new("skip");
    fx.loaded("mod_a", 0, &[]);
    let mut k = fx.fake();
    let (st, out, _) = fx.modprobe(&mut k, &["-v", "mod_c"]);
    assert_eq!(st, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(fx.proc_modules(), s(&["mod_b", "mod_c"]));
    // -n: shown, nothing done
    let fx = Fx::new("dry");
    let mut k = fx.fake();
    let (st, out, _) = fx.modprobe(&mut k, &["-n", "-v", "mod_c"]);
    assert_eq!((st, out.lines().count()), (0, 3));
    assert!(k.calls.is_empty());
    // -n without -v prints nothing (v34.2)
    assert_eq!(
        fx.modprobe(&mut k, &["-n", "mod_c"]),
        (0, String::new(), String::new())
    );
}

#[test]
fn eexist_races_and_failures() {
    // a dependency loaded meanwhile: EEXIST is ignored
    let fx = Fx::new("race");
    let mut k = fx.fake();
    k.fail.insert("mod_b".into(), EEXIST);
    assert_eq!(
        fx.modprobe(&mut k, &["mod_c"]),
        (0, String::new(), String::new())
    );
    assert_eq!(k.calls.len(), 3);
    // the target itself with --first-time
    let fx = Fx::new("race2");
    let mut k = fx.fake();
    k.fail.insert("mod_c".into(), EEXIST);
    assert_eq!(
        fx.modprobe(&mut k, &["--first-time", "mod_c"]).2,
        "modprobe: ERROR: could not insert 'mod_c': Module already in kernel\n"
    );
    // a required dependency fails: stop, the error names the target
    let fx = Fx::new("fail");
    let mut k = fx.fake();
    k.fail.insert("mod_b".into(), ENOENT);
    assert_eq!(
        fx.modprobe(&mut k, &["mod_c"]),
        (
            1,
            String::new(),
            "modprobe: ERROR: could not insert 'mod_c': Unknown symbol in module, or unknown parameter (see dmesg)\n".into()
        )
    );
    assert_eq!(k.calls.len(), 2);
    let fx = Fx::new("fail2");
    let mut k = fx.fake();
    k.fail.insert("mod_c".into(), EPERM);
    assert_eq!(
        fx.modprobe(&mut k, &["mod_c"]).2,
        "modprobe: ERROR: could not insert 'mod_c': Operation not permitted\n"
    );
    // the file vanished after indexing
    let fx = Fx::new("nofile");
    std::fs::remove_file(fx.ko_path("mod_e")).unwrap();
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &["mod_e"]).2,
        "modprobe: ERROR: could not insert 'mod_e': Unknown symbol in module, or unknown parameter (see dmesg)\n"
    );
    assert!(k.calls.is_empty());
}

#[test]
fn softdeps_are_loaded_and_their_failures_ignored() {
    let fx = Fx::new("soft");
    fx.conf("softdep mod_e pre: mod_a post: pci:v00001234d00000001\n");
    let mut k = fx.fake();
    k.fail.insert("mod_a".into(), EPERM);
    let (st, out, err) = fx.modprobe(&mut k, &["-v", "mod_e"]);
    assert_eq!((st, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "insmod ROOT/lib/modules/4.4.4/kernel/mod_a.ko \n\
         insmod ROOT/lib/modules/4.4.4/kernel/mod_e.ko \n\
         insmod ROOT/lib/modules/4.4.4/kernel/mod_d.ko \n"
    );
    assert_eq!(fx.proc_modules(), s(&["mod_e", "mod_d"]));
    // -i: the target's softdeps are ignored
    let fx = Fx::new("soft-i");
    fx.conf("softdep mod_e pre: mod_a\n");
    let mut k = fx.fake();
    assert_eq!(fx.modprobe(&mut k, &["-i", "mod_e"]).0, 0);
    assert_eq!(fx.proc_modules(), s(&["mod_e"]));
}

#[test]
fn install_commands() {
    let fx = Fx::new("install");
    fx.conf(
        "install mod_e echo \"$MODPROBE_MODULE [$CMDLINE_OPTS] $MODPROBE_OPTIONS\" >> ROOT/log\n\
         options mod_e o=1\n\
         install mod_d exit 3\n",
    );
    let mut k = fx.fake();
    let (st, out, err) = fx.modprobe(&mut k, &["-v", "mod_e", "a=1"]);
    assert_eq!((st, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "install echo \"$MODPROBE_MODULE [$CMDLINE_OPTS] $MODPROBE_OPTIONS\" >> ROOT/log o=1 a=1\n"
    );
    assert!(k.calls.is_empty());
    let log = std::fs::read_to_string(fx.path().join("log")).unwrap();
    let inherited = std::env::var("MODPROBE_OPTIONS").map_or(String::new(), |v| format!("{v} "));
    assert_eq!(log, format!("mod_e [o=1 a=1] {inherited}-v\n"));
    // a failing command
    assert_eq!(
        fx.modprobe(&mut k, &["mod_d"]),
        (
            1,
            String::new(),
            "modprobe: ERROR: Error running install command 'exit 3' for module mod_d: retcode 3\n\
             modprobe: ERROR: could not insert 'mod_d': Invalid argument\n"
                .into()
        )
    );
    // -i ignores it; a softdep suppresses it
    let mut k = fx.fake();
    assert_eq!(fx.modprobe(&mut k, &["-i", "mod_d"]).0, 0);
    assert_eq!(k.calls, vec![finit("")]);
    let fx = Fx::new("install-soft");
    fx.conf("install mod_e exit 1\nsoftdep mod_e pre: mod_a\n");
    let mut k = fx.fake();
    assert_eq!(fx.modprobe(&mut k, &["mod_e"]).0, 0);
    assert_eq!(fx.proc_modules(), s(&["mod_a", "mod_e"]));
    // an install command found by name only (no module of that name)
    let fx = Fx::new("install-virtual");
    fx.conf("install virt echo virt-$MODPROBE_MODULE >> ROOT/log\n");
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &["virt"]),
        (0, String::new(), String::new())
    );
    assert_eq!(
        std::fs::read_to_string(fx.path().join("log")).unwrap(),
        "virt-virt\n"
    );
    // -C is passed on to commands through MODPROBE_OPTIONS
    let fx = Fx::new("install-env");
    let alt = fx.path().join("alt.conf");
    std::fs::write(
        &alt,
        format!(
            "install mod_e echo \"$MODPROBE_OPTIONS\" >> {}/log\n",
            fx.path_str()
        ),
    )
    .unwrap();
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &["-q", "-C", "ROOT/alt.conf", "mod_e"])
            .0,
        0
    );
    assert_eq!(
        std::fs::read_to_string(fx.path().join("log")).unwrap(),
        format!("{inherited}-q -C {}\n", alt.display())
    );
}

#[test]
fn blacklist() {
    let fx = Fx::new("bl");
    fx.conf("blacklist mod_d\n");
    fx.cmdline("modprobe.blacklist=mod_e\n");
    let mut k = fx.fake();
    // through an alias: skipped
    assert_eq!(
        fx.modprobe(&mut k, &["pci:v00001234d00005678"]),
        (0, String::new(), String::new())
    );
    assert!(k.calls.is_empty());
    // -b: skipped by name too
    assert_eq!(fx.modprobe(&mut k, &["-b", "mod_e"]).0, 0);
    assert!(k.calls.is_empty());
    // by name: loaded
    assert_eq!(fx.modprobe(&mut k, &["mod_d"]).0, 0);
    assert_eq!(fx.proc_modules(), s(&["mod_d"]));
}

#[test]
fn not_found_builtin_and_all() {
    let fx = Fx::new("nf");
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &["nope"]),
        (
            1,
            String::new(),
            "modprobe: FATAL: Module nope not found in directory ROOT/lib/modules/4.4.4\n".into()
        )
    );
    assert_eq!(
        fx.modprobe(&mut k, &["-q", "nope"]),
        (1, String::new(), String::new())
    );
    // -a: a warning, the others are still loaded, the status is a failure
    assert_eq!(
        fx.modprobe(&mut k, &["-a", "nope", "mod_e"]),
        (
            1,
            String::new(),
            "modprobe: WARNING: Module nope not found in directory ROOT/lib/modules/4.4.4\n".into()
        )
    );
    assert_eq!(fx.proc_modules(), s(&["mod_e"]));
    // builtin: nothing to do; cannot be removed
    assert_eq!(
        fx.modprobe(&mut k, &["builtin_x"]),
        (0, String::new(), String::new())
    );
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "builtin_x"]),
        (
            1,
            String::new(),
            "modprobe: FATAL: Module builtin_x is builtin.\n".into()
        )
    );
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "nope"]),
        (
            1,
            String::new(),
            "modprobe: FATAL: Module nope not found.\n".into()
        )
    );
    assert_eq!(k.calls, vec![finit("")]);
}

#[test]
fn remove_simple() {
    let fx = Fx::new("rm");
    fx.loaded("mod_e", 0, &[]);
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "-v", "mod_e"]),
        (0, "rmmod mod_e\n".into(), String::new())
    );
    assert_eq!(k.calls, vec![delete("mod_e")]);
    assert!(!fx.is_loaded("mod_e"));
    // not loaded: nothing, or an error with --first-time
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "mod_e"]),
        (0, String::new(), String::new())
    );
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "--first-time", "mod_e"]),
        (
            1,
            String::new(),
            "modprobe: FATAL: Module mod_e is not in kernel.\n".into()
        )
    );
    assert!(k.calls.is_empty());
    // in use
    fx.loaded("mod_e", 2, &[]);
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "mod_e"]),
        (
            1,
            String::new(),
            "modprobe: FATAL: Module mod_e is in use.\n".into()
        )
    );
    assert!(k.calls.is_empty());
    // -f
    assert_eq!(fx.modprobe(&mut k, &["-r", "-f", "-w", "1", "mod_e"]).0, 0);
    assert_eq!(
        k.calls,
        vec![Call::Delete {
            name: "mod_e".into(),
            flags: O_NONBLOCK | O_TRUNC
        }]
    );
}

#[test]
fn remove_errors_and_wait() {
    let fx = Fx::new("rmwait");
    fx.loaded("mod_e", 0, &[]);
    let mut k = fx.fake();
    k.fail_delete.insert("mod_e".into(), EAGAIN);
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "mod_e"]),
        (
            1,
            String::new(),
            "modprobe: ERROR: could not remove 'mod_e': Resource temporarily unavailable\n".into()
        )
    );
    assert_eq!(k.calls.len(), 1);
    // --wait retries with a doubling interval, and (v34.2) succeeds on timeout
    let mut k = fx.fake();
    k.fail_delete.insert("mod_e".into(), EAGAIN);
    let t0 = std::time::Instant::now();
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "-w", "60", "mod_e"]),
        (0, String::new(), String::new())
    );
    let spent = t0.elapsed().as_millis();
    assert!((55..2000).contains(&spent), "waited {spent} ms");
    assert!((3..=20).contains(&k.calls.len()), "{} calls", k.calls.len());
    // --wait with another error: the tool's message
    let mut k = fx.fake();
    k.fail_delete.insert("mod_e".into(), EPERM);
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "-w", "60", "mod_e"]),
        (
            1,
            String::new(),
            "modprobe: ERROR: could not remove 'mod_e': Operation not permitted\n".into()
        )
    );
}

/// A kernel that keeps holders and use counts as the real one does: on a removal,
/// the module leaves its dependencies' `holders/` and their `refcnt` drops.
struct Tracking<'a> {
    fake: &'a mut FakeKernel,
    root: PathBuf,
}

impl Kernel for Tracking<'_> {
    fn finit_module(&mut self, file: &File, params: &[u8], flags: u32) -> Result<(), Errno> {
        self.fake.finit_module(file, params, flags)
    }
    fn init_module(&mut self, image: &[u8], params: &[u8]) -> Result<(), Errno> {
        self.fake.init_module(image, params)
    }
    fn delete_module(&mut self, name: &[u8], flags: u32) -> Result<(), Errno> {
        self.fake.delete_module(name, flags)?;
        let name = std::str::from_utf8(name).unwrap();
        let sys = self.root.join("sys/module");
        for e in std::fs::read_dir(&sys).unwrap().flatten() {
            let h = e.path().join("holders").join(name);
            if h.exists() {
                std::fs::remove_file(h).unwrap();
                let rc = e.path().join("refcnt");
                let n: u32 = std::fs::read_to_string(&rc)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                std::fs::write(rc, format!("{}\n", n.saturating_sub(1))).unwrap();
            }
        }
        Ok(())
    }
    fn release(&self) -> Result<String, Errno> {
        self.fake.release()
    }
}

#[test]
fn remove_with_dependencies_holders_and_softdeps() {
    // mod_c uses mod_b uses mod_a: removing mod_c takes the unused deps along
    let fx = Fx::new("rmdeps");
    fx.loaded("mod_a", 1, &["mod_b"]);
    fx.loaded("mod_b", 1, &["mod_c"]);
    fx.loaded("mod_c", 0, &[]);
    let mut fake = fx.fake();
    let (st, out, err) = {
        let mut k = Tracking {
            fake: &mut fake,
            root: fx.path().to_path_buf(),
        };
        fx.modprobe(&mut k, &["-r", "-v", "mod_c"])
    };
    // deps in modules.dep order reversed: mod_a first, still held by mod_b
    assert_eq!(out, "rmmod mod_c\nrmmod mod_b\n");
    assert_eq!((st, err.as_str()), (0, ""));
    assert_eq!(fake.calls, vec![delete("mod_c"), delete("mod_b")]);
    assert!(fx.is_loaded("mod_a"));

    // --remove-holders: one level of holders first
    let fx = Fx::new("rmholders");
    fx.loaded("mod_a", 1, &["mod_b"]);
    fx.loaded("mod_b", 0, &[]);
    let mut fake = fx.fake();
    let (st, out, err) = {
        let mut k = Tracking {
            fake: &mut fake,
            root: fx.path().to_path_buf(),
        };
        fx.modprobe(&mut k, &["-r", "-v", "--remove-holders", "mod_a"])
    };
    // mod_b goes, and takes mod_a (now unused) along; then v34.2 still removes
    // mod_a itself, which is gone: ENOENT and a failure ([master] skips it)
    assert_eq!(
        (st, out.as_str(), err.as_str()),
        (
            1,
            "rmmod mod_b\nrmmod mod_a\nrmmod mod_a\n",
            "modprobe: ERROR: could not remove 'mod_a': No such file or directory\n"
        )
    );
    assert!(!fx.is_loaded("mod_a") && !fx.is_loaded("mod_b"));

    // softdeps: post ones before, pre ones after, each in reverse order
    let fx = Fx::new("rmsoft");
    fx.conf("softdep mod_e pre: mod_a mod_d post: mod_b mod_c\n");
    for m in ["mod_a", "mod_b", "mod_c", "mod_d", "mod_e"] {
        fx.loaded(m, 0, &[]);
    }
    let mut k = fx.fake();
    let (st, out, _) = fx.modprobe(&mut k, &["-r", "-v", "mod_e"]);
    assert_eq!(st, 0);
    // mod_c's unused dependencies go with it, so mod_b and (at the end) mod_a are
    // already gone when their turn comes
    assert_eq!(
        out,
        "rmmod mod_c\nrmmod mod_a\nrmmod mod_b\nrmmod mod_e\nrmmod mod_d\n"
    );
}

#[test]
fn remove_commands() {
    let fx = Fx::new("rmcmd");
    fx.conf(
        "remove mod_e echo removed $MODPROBE_MODULE [$CMDLINE_OPTS] >> ROOT/log\n\
         remove mod_d exit 1\n",
    );
    let mut k = fx.fake();
    // not even loaded: the command runs anyway
    let (st, out, err) = fx.modprobe(&mut k, &["-r", "-v", "mod_e"]);
    assert_eq!((st, err.as_str()), (0, ""));
    assert_eq!(out, "remove echo removed $MODPROBE_MODULE [] >> ROOT/log\n");
    assert_eq!(
        std::fs::read_to_string(fx.path().join("log")).unwrap(),
        "removed mod_e []\n"
    );
    assert_eq!(
        fx.modprobe(&mut k, &["-r", "mod_d"]),
        (
            1,
            String::new(),
            "modprobe: FATAL: Error running remove command for mod_d\n".into()
        )
    );
    // -i ignores remove commands
    fx.loaded("mod_d", 0, &[]);
    assert_eq!(fx.modprobe(&mut k, &["-r", "-i", "mod_d"]).0, 0);
    assert_eq!(k.calls, vec![delete("mod_d")]);
}

#[test]
fn options_and_errors_in_process() {
    let fx = Fx::new("opts-err");
    let mut k = fx.fake();
    assert_eq!(
        fx.modprobe(&mut k, &[]),
        (
            1,
            String::new(),
            "modprobe: ERROR: missing parameters. See -h.\n".into()
        )
    );
    assert_eq!(
        fx.modprobe(&mut k, &["-w", "1x", "-r", "mod_e"]),
        (
            1,
            String::new(),
            "modprobe: ERROR: unexpected wait value '1x'.\n".into()
        )
    );
    assert_eq!(
        fx.modprobe(&mut k, &["--bogus"]),
        (
            1,
            String::new(),
            "modprobe: unrecognized option '--bogus'\n".into()
        )
    );
    let (st, out, _) = fx.modprobe(&mut k, &["-h"]);
    assert_eq!(st, 0);
    assert!(out.starts_with("Usage:\n\tmodprobe [options]"), "{out}");
    let (st, out, _) = fx.modprobe(&mut k, &["-c"]);
    assert_eq!(st, 0);
    assert!(out.contains("alias pci:v00001234d* mod_d\n"), "{out}");
    // a bad configuration line is reported in libkmod's own format
    fx.conf("bogus line\n");
    let (st, _, err) = fx.modprobe(&mut k, &["-c"]);
    assert_eq!(st, 0);
    assert_eq!(
        err,
        "libkmod: ERROR: kmod_config_parse: ROOT/etc/modprobe.d/test.conf line 1: ignoring bad line starting with 'bogus'\n"
    );
    assert!(k.calls.is_empty());
}

/// The dry-run half of these cases, checked against the real kmod on the same tree.
#[test]
fn dry_runs_match_kmod() {
    let Some(o) = Oracle::get() else { return };
    let fx = Fx::new("oracle");
    let conf = fx.path().join("c.conf");
    std::fs::write(
        &conf,
        "options mod_b x=2\nsoftdep mod_e pre: mod_a post: pci:v00001234d00000001\n\
         install mod_d echo hi $CMDLINE_OPTS\nblacklist mod_d\nremove mod_c true\n",
    )
    .unwrap();
    let mut d = Diffs::default();
    for args in [
        &["-D", "mod_c", "p=1"][..],
        &["-D", "mod_e"],
        &["-D", "-i", "mod_e"],
        &["-D", "mod_d", "a=b c"],
        &["-D", "pci:v00001234d00005678"],
        &["-D", "-b", "mod_d"],
        &["-R", "pci:v00001234d00005678"],
        &["-D", "builtin_x"],
        &["-r", "-D", "mod_c"],
        &["-r", "-D", "mod_e"],
        &["-c"],
    ] {
        let mut a: Vec<String> = vec![
            "-d".into(),
            fx.path_str(),
            "-S".into(),
            KVER.into(),
            "-C".into(),
            conf.display().to_string(),
        ];
        a.extend(args.iter().map(|s| (*s).to_string()));
        let mut k = o.theirs("modprobe");
        let mut u = ours("modprobe");
        for c in [&mut k, &mut u] {
            c.args(&a).env_remove("MODPROBE_OPTIONS");
        }
        d.check(&args.join(" "), &run(k), &run(u));
    }
    d.finish("modprobe dry runs on the synthetic tree");
}
