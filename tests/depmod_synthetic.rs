//! depmod on synthetic module trees (modules written with `object`), compared with
//! kmod 34.2's depmod: dependency cycles, duplicate exports, weak symbols, aliases,
//! devnames, soft/weak deps, modules.order and builtin inputs, -e/-E/-F.

use crate::support::ko::Ko;
use crate::support::schema;
use crate::support::*;
use object::{Architecture, Endianness};
use std::path::Path;

pub(crate) const KVER: &str = "1.2.3-test";

pub(crate) struct M {
    pub(crate) path: &'static str,
    pub(crate) exports: &'static [&'static str],
    pub(crate) needs: &'static [&'static str],
    pub(crate) weak: &'static [&'static str],
    pub(crate) info: &'static [&'static str],
}

pub(crate) fn m(
    path: &'static str,
    exports: &'static [&'static str],
    needs: &'static [&'static str],
) -> M {
    M {
        path,
        exports,
        needs,
        weak: &[],
        info: &[],
    }
}

pub(crate) fn write_tree(root: &Path, mods: &[M], arch: Architecture, endian: Endianness) {
    let dir = root.join("lib/modules").join(KVER);
    for (i, spec) in mods.iter().enumerate() {
        let mut ko = Ko::new(arch, endian);
        let base = spec.path.rsplit('/').next().unwrap();
        ko.name = base.split('.').next().unwrap().replace('-', "_");
        ko.modinfo = spec.info.iter().map(|s| (*s).to_string()).collect();
        ko.modinfo.push(format!("name={}", ko.name));
        ko.exports = spec
            .exports
            .iter()
            .enumerate()
            .map(|(k, e)| ((*e).to_string(), 0x1000 + (i * 16 + k) as u64))
            .collect();
        ko.needs = spec
            .needs
            .iter()
            .map(|n| ((*n).to_string(), false))
            .collect();
        ko.needs
            .extend(spec.weak.iter().map(|n| ((*n).to_string(), true)));
        ko.versions = spec.needs.iter().map(|n| (0x77, *n)).collect();
        let p = dir.join(spec.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, ko.build()).unwrap();
    }
}

/// Run both depmods on two copies of `root` with `args`; compare status, stdout,
/// stderr (root paths normalised) and every file of the module directory.
pub(crate) fn compare_depmod(o: &Oracle, d: &mut Diffs, what: &str, root: &Path, args: &[&str]) {
    let tmp = TempDir::new("dsyn");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    for dst in [&a, &b] {
        assert!(
            std::process::Command::new("cp")
                .arg("-a")
                .arg(root)
                .arg(dst)
                .status()
                .unwrap()
                .success()
        );
    }
    let run_one = |mut c: std::process::Command, r: &Path| {
        c.arg("-b").arg(r).args(args);
        let mut out = run(c);
        let rs = r.to_str().unwrap().as_bytes();
        out.stdout = replace(&out.stdout, rs, b"<ROOT>");
        out.stderr = replace(&out.stderr, rs, b"<ROOT>");
        out
    };
    let ka = run_one(o.theirs("depmod"), &a);
    let ub = run_one(ours("depmod"), &b);
    d.check(what, &ka, &ub);
    check_json_report(what, root, args, &ub, &tmp);
    let da = a.join("lib/modules").join(KVER);
    let db = b.join("lib/modules").join(KVER);
    let mut names: Vec<String> = std::fs::read_dir(&da)
        .unwrap()
        .chain(std::fs::read_dir(&db).unwrap())
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // the cache is ours alone
        .filter(|n| n != DEPMOD_CACHE)
        .collect();
    names.sort();
    names.dedup();
    for n in names {
        let fa = std::fs::read(da.join(&n)).ok();
        let fb = std::fs::read(db.join(&n)).ok();
        let ra = Run {
            stdout: fa.clone().unwrap_or_default(),
            stderr: vec![],
            status: fa.map(|_| 0),
        };
        let rb = Run {
            stdout: fb.clone().unwrap_or_default(),
            stderr: vec![],
            status: fb.map(|_| 0),
        };
        d.check(&format!("{what}: file {n}"), &ra, &rb);
    }
}

/// The same depmod run with `--json` (on its own copy of `root`): the same stderr
/// and status as the text run `text`, one valid document (kept for
/// [`schema::validate_pending`]) giving the facts of the text messages.
fn check_json_report(what: &str, root: &Path, args: &[&str], text: &Run, tmp: &TempDir) {
    let c = tmp.path().join("c");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(root)
            .arg(&c)
            .status()
            .unwrap()
            .success()
    );
    let mut cmd = ours("depmod");
    cmd.arg("--json").arg("-b").arg(&c).args(args);
    let mut j = run(cmd);
    let cs = c.to_str().unwrap().as_bytes();
    j.stdout = replace(&j.stdout, cs, b"<ROOT>");
    j.stderr = replace(&j.stderr, cs, b"<ROOT>");
    assert_eq!(j.status, text.status, "{what} --json: status");
    assert_eq!(
        String::from_utf8_lossy(&j.stderr),
        String::from_utf8_lossy(&text.stderr),
        "{what} --json: stderr"
    );
    let v = schema::parse(&j.stdout);
    let err = String::from_utf8_lossy(&text.stderr).into_owned();
    let list = |k: &str| v[k].as_array().unwrap().clone();
    let count = |prefix: &str| err.matches(prefix).count();
    assert_eq!(
        list("warnings").len(),
        count("depmod: WARNING: "),
        "{what}: warnings"
    );
    assert_eq!(
        list("errors").len(),
        count("depmod: ERROR: ") + count("depmod: FATAL: "),
        "{what}: errors"
    );
    for w in list("warnings") {
        let line = format!("depmod: WARNING: {}\n", schema::text(&w["message"]));
        assert!(err.contains(&line), "{what}: {line:?} not in stderr");
    }
    assert_eq!(
        list("cycles").len(),
        count("Cycle detected: "),
        "{what}: cycles"
    );
    let pairs = |k: &str| -> Vec<String> {
        let mut p: Vec<String> = list(k)
            .iter()
            .map(|x| {
                format!(
                    "{} {}",
                    schema::text(&x["module"]),
                    schema::text(&x["symbol"])
                )
            })
            .collect();
        p.sort();
        p
    };
    let warned = |mid: &str| -> Vec<String> {
        let mut p: Vec<String> = err
            .lines()
            .filter_map(|l| l.strip_prefix("depmod: WARNING: "))
            .filter_map(|l| l.split_once(mid))
            .map(|(m, s)| format!("{m} {s}"))
            .collect();
        p.sort();
        p
    };
    assert_eq!(
        pairs("unresolved"),
        warned(" needs unknown symbol "),
        "{what}"
    );
    assert_eq!(
        pairs("crc_mismatches"),
        warned(" disagrees about version of symbol "),
        "{what}"
    );
    assert_eq!(
        list("duplicate_index_entries").len(),
        count("depmod: WARNING: duplicate module "),
        "{what}"
    );
    let dry = args.contains(&"-n");
    assert_eq!(
        v["written"],
        text.status == Some(0) && !dry,
        "{what}: written"
    );
    if text.status == Some(0) {
        let modules = if dry {
            let t = String::from_utf8_lossy(&text.stdout).into_owned();
            let dep = t.split("# Aliases").next().unwrap_or_default().to_string();
            dep.lines().filter(|l| l.contains(':')).count()
        } else {
            std::fs::read_to_string(c.join("lib/modules").join(KVER).join("modules.dep"))
                .unwrap()
                .lines()
                .count()
        };
        assert_eq!(v["counts"]["modules"], modules, "{what}: modules");
        if !dry {
            let sources: Vec<String> = list("symbol_sources").iter().map(schema::text).collect();
            let want: Vec<String> = String::from_utf8_lossy(&text.stdout)
                .lines()
                .map(String::from)
                .collect();
            assert_eq!(sources, want, "{what}: -v lines");
        }
    }
    schema::defer("depmod", what.to_string(), j.stdout);
}

fn cycles_tree() -> Vec<M> {
    vec![
        m("kernel/loop/mod_loop_a.ko", &["sym_a"], &["sym_b"]),
        m("kernel/loop/mod_loop_b.ko", &["sym_b"], &["sym_c"]),
        m("kernel/loop/mod_loop_c.ko", &["sym_c"], &["sym_a"]),
        m("kernel/loop/mod-loop-d.ko", &["sym_d"], &["sym_e"]),
        m("kernel/loop/mod_loop_e.ko", &["sym_e"], &["sym_d"]),
        m("kernel/loop/mod_loop_f.ko", &["sym_f"], &["sym_a", "sym_g"]),
        m("kernel/loop/mod_loop_g.ko", &["sym_g"], &[]),
        m("kernel/loop/mod_loop_h.ko", &["sym_h"], &["sym_i"]),
        m("kernel/loop/mod_loop_i.ko", &["sym_i"], &["sym_j"]),
        m("kernel/loop/mod_loop_j.ko", &["sym_j"], &["sym_k", "sym_h"]),
        m("kernel/loop/mod_loop_k.ko", &["sym_k"], &["sym_h"]),
        m("kernel/ok/plain.ko", &["sym_plain"], &["printk"]),
    ]
}

fn rich_tree() -> Vec<M> {
    vec![
        M {
            path: "kernel/drivers/base-core.ko",
            exports: &["core_fn", "dup_sym"],
            needs: &["printk"],
            weak: &[],
            info: &[
                "alias=pci:v00001234d*sv*sd*bc*sc*i*",
                "alias=devname:base",
                "alias=char-major-10-200",
                "softdep=pre: helper post: other",
            ],
        },
        M {
            path: "kernel/drivers/helper.ko",
            exports: &["helper_fn", "dup_sym"],
            needs: &["core_fn"],
            weak: &["optional_fn"],
            info: &[
                "alias=helper-alias",
                "alias=bad]bracket",
                "weakdep=base_core",
                "alias=block-major-7-*",
                "alias=devname:helperdev",
            ],
        },
        M {
            path: "kernel/drivers/user.ko",
            exports: &["optional_fn"],
            needs: &["helper_fn", "dup_sym", "core_fn"],
            weak: &[],
            info: &[
                "alias=usb:v1234p*d*dc*dsc*dp*ic*isc*ip*in*",
                "alias=devname:userdev",
                "alias=block-major-8-1",
                "alias=user[-_]alias",
            ],
        },
        M {
            path: "kernel/fs/leaf.ko",
            exports: &[],
            needs: &["optional_fn", "unknown_sym"],
            weak: &["weak_unknown"],
            info: &["alias=fs-leaf"],
        },
        m(
            "updates/helper.ko",
            &["helper_fn", "updated_only"],
            &["core_fn"],
        ),
        m("extra/kernel/nested/deep/orphan.ko", &["orphan_fn"], &[]),
        m(
            "kernel/sound/snd-thing.ko",
            &["snd_fn"],
            &["orphan_fn", "core_fn"],
        ),
    ]
}

#[test]
fn oracle_depmod_synthetic() {
    let Some(o) = Oracle::get() else { return };
    let mut d = Diffs::default();
    for (arch, endian) in [
        (Architecture::X86_64, Endianness::Little),
        (Architecture::I386, Endianness::Little),
        (Architecture::S390x, Endianness::Big),
        (Architecture::PowerPc, Endianness::Big),
    ] {
        let tmp = TempDir::new("dsyn-src");
        // cycles: error report, exit 1, nothing written
        let croot = tmp.path().join("cycles");
        write_tree(&croot, &cycles_tree(), arch, endian);
        compare_depmod(&o, &mut d, &format!("{arch:?} cycles"), &croot, &[KVER]);
        // a rich tree without modules.order (hash order), then with one
        let rroot = tmp.path().join("rich");
        write_tree(&rroot, &rich_tree(), arch, endian);
        compare_depmod(&o, &mut d, &format!("{arch:?} rich"), &rroot, &[KVER]);
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} rich -n"),
            &rroot,
            &["-n", KVER],
        );
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} rich -v -w"),
            &rroot,
            &["-v", "-w", KVER],
        );
        let dir = rroot.join("lib/modules").join(KVER);
        std::fs::write(
            dir.join("modules.order"),
            "kernel/fs/leaf.ko\nkernel/drivers/user.ko\n#comment\nkernel/fs/leaf.ko\nkernel/missing.ko\nkernel/drivers/base-core.ko\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("modules.builtin"),
            "kernel/lib/crc-t10dif.ko\nkernel/fs/ext4/ext4.ko\n/invalid/line.ko\nnodots\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("modules.builtin.modinfo"),
            b"ext4.license=GPL\0ext4.alias=fs-ext4\0ext4.alias=fs-ext3\0noequals\0crc_t10dif.alias=crypto-crc[t]10dif\0crc_t10dif.alias=bad]x\0x.y\0".as_slice(),
        )
        .unwrap();
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} rich ordered"),
            &rroot,
            &[KVER],
        );
        // modules.order whose last line lacks its newline: ordering abandoned
        std::fs::write(
            dir.join("modules.order"),
            "kernel/fs/leaf.ko\nkernel/drivers/user.ko",
        )
        .unwrap();
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} rich bad order"),
            &rroot,
            &[KVER],
        );
        // unknown symbols with -e and a System.map / Module.symvers
        let map = tmp.path().join("System.map");
        std::fs::write(&map, "ffffffff81000000 T printk\nffffffff82000000 r __ksymtab_printk\nbad line\nffffffff82000010 r __ksymtab_other\n").unwrap();
        let symvers = tmp.path().join("Module.symvers");
        std::fs::write(&symvers, "0x00000077\tprintk\tvmlinux\tEXPORT_SYMBOL\n0x12\tcore_fn\tvmlinux\tEXPORT_SYMBOL\nzzz\tbad\tvmlinux\tEXPORT_SYMBOL\n0x1\tother\tsome/module\tEXPORT_SYMBOL\n").unwrap();
        let m = map.to_str().unwrap();
        let s = symvers.to_str().unwrap();
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} -e -F"),
            &rroot,
            &["-e", "-F", m, KVER],
        );
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} -e -E"),
            &rroot,
            &["-e", "-E", s, KVER],
        );
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} -e alone"),
            &rroot,
            &["-e", KVER],
        );
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} -P"),
            &rroot,
            &["-P", "_", KVER],
        );
        compare_depmod(
            &o,
            &mut d,
            &format!("{arch:?} -P too long"),
            &rroot,
            &["-P", "ab", KVER],
        );
    }
    d.finish("depmod on synthetic trees");
    schema::validate_pending();
}
