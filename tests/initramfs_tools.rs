//! A real initramfs builder against the closure: Debian's `initramfs-tools`
//! (`mkinitramfs`, bookworm's packages, unpacked into the cache, never installed)
//! builds an image for bookworm's real 6.1 tree with `MODULES=list`, our `kmod`
//! standing in for `/bin/kmod` (so its `modprobe --show-depends` and `modinfo` are
//! ours); the modules and firmware files in the image must be those one
//! `modprobe -a --show-depends --json` call returns for the same list.
//!
//! It runs in a private mount namespace: an overlay puts the packages' `/usr` (and
//! our binary) over the host's, the package's own `/usr/share/initramfs-tools` hides
//! any hooks the host has (the host's `dmsetup` package ships one), the tree is
//! bind-mounted at `/lib/modules/<release>`, a scratch directory at `/lib/firmware`,
//! a tmpfs over `/lib/modprobe.d` (no host configuration) and `/boot` (the tree's
//! `config-<release>`). Nothing on the host changes.
//!
//! initramfs-tools' own rules, which the comparison applies to the list before the
//! one closure call:
//! * the `thermal` hook adds `fan` and `thermal` on amd64;
//! * `hidden_dep_add_modules` adds modules for modules (and builtin modules) it
//!   knows need them without saying so: `nvme` → `vmd`, `i8042` → `psmouse`,
//!   `btrfs`/`libcrc32c` → `crc32c`, `f2fs` → `crc32`, ...
//! * firmware: the builder copies each firmware file a module of the image names
//!   *if it exists* under `/lib/firmware`, and also that of builtin drivers
//!   (`add_builtin_firmware`, from `modules.builtin.modinfo`). The test creates a
//!   file for every name the closure and the builtin drivers give, so the image
//!   must hold exactly the closure's `firmware` plus the builtin drivers'.

use crate::support::schema::{parse, text};
use crate::support::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// initramfs-tools 0.142's `hidden_dep_add_modules` table.
const HIDDEN: &[(&str, &[&str])] = &[
    ("libcrc32c", &["crc32c"]),
    ("ubifs", &["deflate", "zlib", "lzo"]),
    ("btrfs", &["crc32c"]),
    ("f2fs", &["crc32"]),
    ("mlx4_core", &["mlx4_ib"]),
    ("mlx5_core", &["mlx5_ib"]),
    ("i8042", &["psmouse"]),
    ("nvme", &["vmd"]),
    ("spi-rockchip", &["pl330"]),
    ("dw_mmc-rockchip", &["rockchip-io-domain", "io-domain"]),
];

const PACKAGES: &[&str] = &[
    "initramfs-tools",
    "initramfs-tools-core",
    "klibc-utils",
    "libklibc",
    "busybox",
];

/// bookworm's initramfs-tools and what it needs, unpacked under the cache (fetched
/// once with `apt-get download` from the host's own sources).
fn packages() -> PathBuf {
    let dir = cache_dir().join("initramfs-tools");
    let root = dir.join("root");
    if root.join("usr/sbin/mkinitramfs").exists() {
        return root;
    }
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let st = Command::new("apt-get")
        .arg("download")
        .args(PACKAGES)
        .current_dir(&debs)
        .status()
        .expect("apt-get");
    assert!(st.success(), "apt-get download {PACKAGES:?} failed");
    let tmp = dir.join("root.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    for e in std::fs::read_dir(&debs).unwrap().flatten() {
        let st = Command::new("dpkg-deb")
            .arg("-x")
            .arg(e.path())
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(st.success(), "dpkg-deb -x {}", e.path().display());
    }
    std::fs::rename(&tmp, &root).unwrap();
    root
}

const BUILD: &str = r#"
set -eu
S=$1 R=$2 T=$3 KVER=$4 KMOD=$5 OUT=$6
mkdir -p "$S/lower/usr/bin" "$S/lower/usr/sbin" "$S/lower/usr/lib" "$S/ov/upper" "$S/ov/work"
cp -a "$R/usr/." "$S/lower/usr/"
for d in bin sbin lib; do
    if [ -d "$R/$d" ]; then cp -a "$R/$d/." "$S/lower/usr/$d/"; fi
done
cp "$KMOD" "$S/lower/usr/bin/kmod"
for t in modprobe depmod modinfo lsmod insmod rmmod; do ln -sf /bin/kmod "$S/lower/usr/sbin/$t"; done
unshare -m sh -ec '
S=$1 R=$2 T=$3 KVER=$4 OUT=$5
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$S/lower/usr:/usr,upperdir=$S/ov/upper,workdir=$S/ov/work" /usr
mount --bind "$R/usr/share/initramfs-tools" /usr/share/initramfs-tools
mkdir -p "/usr/lib/modules/$KVER" /usr/lib/firmware /usr/lib/modprobe.d
mount --bind "$T/lib/modules/$KVER" "/usr/lib/modules/$KVER"
mount --bind "$S/fw" /usr/lib/firmware
mount -t tmpfs tmpfs /usr/lib/modprobe.d
mount -t tmpfs tmpfs /boot
cp "$T/boot/config-$KVER" /boot/
mkinitramfs -d "$S/conf" -o "$OUT" "$KVER"
' sh "$S" "$R" "$T" "$KVER" "$OUT"
"#;

fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut v = Vec::new();
    walk(dir, &mut v);
    v.iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn oracle_initramfs_tools_agrees_with_the_closure() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let tmp = TempDir::new("irt");
    let root = indexed_copy(&o, t, tmp.path());
    let moddir = root.join("lib/modules").join(&t.kver);
    let pkgs = packages();
    let list = [
        "ext4",
        "btrfs",
        "nvme",
        "e1000e",
        "iwlwifi",
        "amdgpu",
        "xhci-pci",
        "usb-storage",
        "ahci",
        "dm-crypt",
        "fs-vfat",
    ];
    // initramfs-tools' own additions (module documentation)
    let builtin: BTreeSet<String> = std::fs::read_to_string(moddir.join("modules.builtin"))
        .unwrap()
        .lines()
        .map(modname_of)
        .collect();
    let empty = tmp.path().join("empty.d");
    std::fs::create_dir_all(&empty).unwrap();
    let closure = |names: &[String]| {
        let mut c = ours("modprobe");
        c.arg("-d")
            .arg(&root)
            .args(["-S", &t.kver, "-C"])
            .arg(&empty)
            .args(["-a", "-D", "--json"])
            .args(names);
        let r = run(c);
        assert_eq!(r.status, Some(0), "{}", String::from_utf8_lossy(&r.stderr));
        parse(&r.stdout)
    };
    let mut names: Vec<String> = list.iter().map(|s| (*s).to_string()).collect();
    names.extend(["fan", "thermal"].map(String::from));
    let first = closure(&names);
    let mut have: BTreeSet<String> = builtin.clone();
    for m in first["modules"].as_array().unwrap() {
        have.insert(text(&m["name"]));
    }
    for (m, extra) in HIDDEN {
        if have.contains(&m.replace('-', "_")) {
            names.extend(extra.iter().map(|s| (*s).to_string()));
        }
    }
    let v = closure(&names);
    // firmware files for everything the closure and the builtin drivers name
    let mut builtin_fw: BTreeSet<String> = BTreeSet::new();
    let bm = std::fs::read(moddir.join("modules.builtin.modinfo")).unwrap();
    for s in bm.split(|&c| c == 0) {
        let s = String::from_utf8_lossy(s);
        if let Some((_, f)) = s.split_once(".firmware=") {
            builtin_fw.insert(f.to_string());
        }
    }
    let fw: BTreeSet<String> = v["firmware"].as_array().unwrap().iter().map(text).collect();
    assert!(!fw.is_empty(), "the list names no firmware");
    let stage = tmp.path().join("stage");
    for f in fw.iter().chain(&builtin_fw) {
        let p = stage.join("fw").join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, f.as_bytes()).unwrap();
    }
    // the configuration: MODULES=list with the list
    let conf = stage.join("conf");
    let st = Command::new("cp")
        .arg("-a")
        .arg(pkgs.join("etc/initramfs-tools"))
        .arg(&conf)
        .status()
        .unwrap();
    assert!(st.success());
    let ic = std::fs::read_to_string(conf.join("initramfs.conf")).unwrap();
    let ic: String = ic
        .lines()
        .map(|l| {
            if l.starts_with("MODULES=") {
                "MODULES=list".to_string()
            } else if l.starts_with("COMPRESS=") {
                "COMPRESS=gzip".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(conf.join("initramfs.conf"), ic + "\n").unwrap();
    std::fs::write(conf.join("modules"), list.join("\n") + "\n").unwrap();
    let image = tmp.path().join("initrd.img");
    let out = Command::new("sh")
        .arg("-c")
        .arg(BUILD)
        .arg("sh")
        .arg(&stage)
        .arg(&pkgs)
        .arg(&root)
        .arg(&t.kver)
        .arg(env!("CARGO_BIN_EXE_kmod"))
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mkinitramfs failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // unpack (one gzip-compressed cpio archive)
    let un = tmp.path().join("unpacked");
    std::fs::create_dir_all(&un).unwrap();
    let st = Command::new("sh")
        .arg("-c")
        .arg("gzip -dc \"$1\" | cpio -idm --quiet")
        .arg("sh")
        .arg(&image)
        .current_dir(&un)
        .status()
        .unwrap();
    assert!(st.success(), "unpacking the image");
    let img_mods: BTreeSet<String> = files_under(&un.join("usr/lib/modules").join(&t.kver))
        .into_iter()
        .chain(files_under(&un.join("lib/modules").join(&t.kver)))
        .filter(|p| p.contains(".ko"))
        .collect();
    let want_mods: BTreeSet<String> = v["modules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["path"].is_string())
        .map(|m| {
            let p = text(&m["path"]);
            Path::new(&p)
                .strip_prefix(&moddir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(want_mods.len() > 50, "{} modules", want_mods.len());
    assert_eq!(img_mods, want_mods, "modules: the image vs the closure");
    let img_fw: BTreeSet<String> = files_under(&un.join("usr/lib/firmware"))
        .into_iter()
        .chain(files_under(&un.join("lib/firmware")))
        .collect();
    let want_fw: BTreeSet<String> = fw.union(&builtin_fw).cloned().collect();
    assert_eq!(
        img_fw, want_fw,
        "firmware: the image vs the closure and the builtin drivers"
    );
}
