//! depmod when it cannot write its outputs, compared with kmod 34.2: same messages,
//! and the one deliberate difference in exit status. On a read-only output
//! directory every temporary file creation fails: kmod 34.2 reports each and exits
//! 0; kmod-rs reports the same and exits 1. A failed rename and an output root that
//! cannot be created end both with a FATAL message and status 1.
//!
//! The read-only directory is a read-only bind mount in a private mount namespace
//! (root and `unshare` needed), else a directory with the immutable attribute
//! (`chattr +i`, where the file system has it): root ignores permission bits.

use crate::depmod_synthetic::{KVER, m, write_tree};
use crate::support::*;
use object::{Architecture, Endianness};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn succeeds(c: &mut Command) -> bool {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Ways to make a directory read-only for root.
enum ReadOnly {
    /// A read-only bind mount of it in a private mount namespace.
    Namespace,
    /// `chattr +i` on it (removed at the end).
    Immutable,
}

impl ReadOnly {
    fn find(probe: &Path) -> Option<ReadOnly> {
        if succeeds(Command::new("unshare").args(["-m", "--propagation", "private", "true"])) {
            return Some(ReadOnly::Namespace);
        }
        std::fs::create_dir_all(probe).unwrap();
        if succeeds(Command::new("chattr").arg("+i").arg(probe)) {
            let ok = std::fs::write(probe.join("x"), "").is_err();
            assert!(succeeds(Command::new("chattr").arg("-i").arg(probe)));
            if ok {
                return Some(ReadOnly::Immutable);
            }
        }
        None
    }

    /// `program args...` with `dir` read-only.
    fn run(&self, dir: &Path, program: &Path, args: &[&std::ffi::OsStr]) -> Run {
        match self {
            ReadOnly::Namespace => {
                let mut c = Command::new("unshare");
                c.args(["-m", "--propagation", "private", "sh", "-c"])
                    .arg("mount --bind \"$0\" \"$0\" && mount -o remount,bind,ro \"$0\" && exec \"$@\"")
                    .arg(dir)
                    .arg(program)
                    .args(args)
                    .stdin(Stdio::null());
                run(c)
            }
            ReadOnly::Immutable => {
                assert!(succeeds(Command::new("chattr").arg("+i").arg(dir)));
                let mut c = Command::new(program);
                c.args(args).stdin(Stdio::null());
                let r = run(c);
                assert!(succeeds(Command::new("chattr").arg("-i").arg(dir)));
                r
            }
        }
    }
}

/// The temporary names (`modules.dep.<pid>.<usec>.<sec>`) with their numbers blanked.
fn blank_temp_names(b: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(b);
    let mut out = String::new();
    for word in text.split_inclusive([' ', '\n']) {
        let (body, tail) = match word.strip_suffix(", ") {
            Some(w) => (w, ", "),
            None => (word, ""),
        };
        let parts: Vec<&str> = body.rsplitn(4, '.').collect();
        if parts.len() == 4
            && parts[..3]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        {
            out.push_str(parts[3]);
            out.push_str(".N.N.N");
            out.push_str(tail);
        } else {
            out.push_str(word);
        }
    }
    out.into_bytes()
}

fn comparable(mut r: Run) -> Run {
    r.stderr = blank_temp_names(&r.stderr);
    r
}

/// Our binary called `depmod` (a link: a wrapper's `exec` keeps no argv[0]).
fn our_depmod(dir: &Path) -> PathBuf {
    let link = dir.join("depmod");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kmod"), &link).unwrap();
    link
}

#[test]
fn oracle_depmod_cannot_write_outputs() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("dwrite");
    let root = tmp.path().join("root");
    write_tree(
        &root,
        &[
            m("kernel/a.ko", &["sym_a"], &[]),
            m("kernel/b.ko", &[], &["sym_a"]),
        ],
        Architecture::X86_64,
        Endianness::Little,
    );
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ours = our_depmod(&bin);
    let theirs = o.bin.join("depmod");
    let mut d = Diffs::default();

    // a read-only output directory: every temporary file fails
    let out = tmp.path().join("ro");
    let outdir = out.join("lib/modules").join(KVER);
    std::fs::create_dir_all(&outdir).unwrap();
    if let Some(ro) = ReadOnly::find(&tmp.path().join("probe")) {
        let args = [
            "-b".as_ref(),
            root.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            KVER.as_ref(),
        ];
        let k = comparable(ro.run(&outdir, &theirs, &args));
        let u = comparable(ro.run(&outdir, &ours, &args));
        let openat = k
            .stderr
            .split(|&c| c == b'\n')
            .filter(|l| l.starts_with(b"depmod: ERROR: openat("))
            .count();
        assert_eq!(
            openat,
            DEPMOD_OUTPUTS.len(),
            "{}",
            String::from_utf8_lossy(&k.stderr)
        );
        // the deliberate difference: kmod 34.2 exits 0 having written nothing
        assert_eq!((k.status, u.status), (Some(0), Some(1)));
        let k = Run {
            status: Some(1),
            ..k
        };
        d.check("read-only output directory", &k, &u);
        assert_eq!(std::fs::read_dir(&outdir).unwrap().count(), 0);
    } else {
        assert!(
            std::env::var_os("KMOD_RS_REQUIRE_ORACLE").is_none(),
            "no way to make a read-only directory here (unshare or chattr +i)"
        );
        eprintln!("SKIP: no way to make a read-only directory here");
    }

    // a rename that fails (modules.dep is a directory that is not empty): FATAL
    let out = tmp.path().join("rename");
    let outdir = out.join("lib/modules").join(KVER);
    std::fs::create_dir_all(outdir.join("modules.dep/keep")).unwrap();
    let args = |c: &mut Command| {
        c.arg("-b").arg(&root).arg("-o").arg(&out).arg(KVER);
    };
    let mut k = Command::new(&theirs);
    args(&mut k);
    let k = comparable(run(k));
    for e in std::fs::read_dir(&outdir).unwrap().flatten() {
        if e.file_name() != "modules.dep" {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let mut u = Command::new(&ours);
    args(&mut u);
    let u = comparable(run(u));
    assert_eq!(k.status, Some(1));
    d.check("failed rename", &k, &u);

    // an output root under a regular file: FATAL
    std::fs::write(tmp.path().join("file"), "").unwrap();
    let under_file = |prog: &Path| {
        let mut c = Command::new(prog);
        c.arg("-b")
            .arg(&root)
            .arg("-o")
            .arg(tmp.path().join("file/out"))
            .arg(KVER);
        run(c)
    };
    let k = under_file(&theirs);
    assert_eq!(k.status, Some(1));
    d.check("output root under a file", &k, &under_file(&ours));
    d.finish("depmod write errors");
}
