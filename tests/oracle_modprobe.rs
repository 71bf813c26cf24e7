//! modprobe compared with kmod 34.2 on Debian's real module trees (indexed by kmod's
//! depmod): stdout, stderr and exit status identical. Nothing is loaded: `-D`, `-R`,
//! `-c`, `--show-modversions`, `--show-exports`, dry runs (`-n -v`, whose "is it
//! loaded" answers come from this host's `/sys/module`, the same for both), errors.
//!
//! Every run passes `-C` so no configuration of this host is read; both read this
//! host's `/proc/cmdline` (same input).

use crate::support::*;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

fn os<P: AsRef<OsStr> + ?Sized>(p: &P) -> &OsStr {
    p.as_ref()
}

fn compare_env(o: &Oracle, d: &mut Diffs, what: &str, args: &[&OsStr], env: &[(&str, &str)]) {
    let mut k = o.theirs("modprobe");
    let mut u = ours("modprobe");
    for c in [&mut k, &mut u] {
        c.args(args);
        c.env_remove("MODPROBE_OPTIONS").env_remove("KMOD_LOG");
        for (n, v) in env {
            c.env(n, v);
        }
    }
    let (mut k, mut u) = (run(k), run(u));
    k.stderr = mask_pointers(&k.stderr);
    u.stderr = mask_pointers(&u.stderr);
    d.check(what, &k, &u);
}

/// libkmod's INFO lines at `-vv` carry addresses (`custom logging function 0x7f..
/// registered`, `context 0x55.. released`): mask them.
fn mask_pointers(err: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(err);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.contains("custom logging function 0x")
            || line.contains(": context 0x")
            || line.contains(": ctx 0x")
        {
            let mut masked = String::new();
            let mut rest = line;
            while let Some(i) = rest.find("0x") {
                masked.push_str(&rest[..i]);
                masked.push_str("0xPTR");
                rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
            }
            masked.push_str(rest);
            out.push_str(&masked);
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

fn compare(o: &Oracle, d: &mut Diffs, what: &str, args: &[&OsStr]) {
    compare_env(o, d, what, args, &[]);
}

fn alias_patterns(moddir: &Path) -> Vec<String> {
    std::fs::read_to_string(moddir.join("modules.alias"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("alias "))
        .filter_map(|l| l.rsplit_once(' ').map(|(a, _)| a.to_string()))
        .collect()
}

/// `-D` for every module of both amd64 trees (batched with `-a`, and every 20th alone
/// with parameters), 500+ aliases (`-D` and `-R`), symbols and builtin modules.
#[test]
fn oracle_modprobe_show_depends_and_resolve() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("mp-deps");
    let conf = tmp.path().join("empty.d");
    std::fs::create_dir_all(&conf).unwrap();
    let mut d = Diffs::default();
    for tname in ["bookworm-amd64", "trixie-amd64"] {
        let t = o.tree(tname);
        let root = indexed_copy(&o, t, tmp.path());
        let moddir = root.join("lib/modules").join(&t.kver);
        let base = [
            os("-d"),
            root.as_os_str(),
            os("-S"),
            os(&t.kver),
            os("-C"),
            conf.as_os_str(),
        ];
        let mut names = module_names(&moddir);
        assert!(names.len() > 3000, "{tname}: {} modules", names.len());
        let under: Vec<String> = names
            .iter()
            .step_by(3)
            .map(|n| n.replace('-', "_"))
            .collect();
        names.extend(under);
        for (i, b) in batches(&names, 400).iter().enumerate() {
            let mut a = base.to_vec();
            a.extend([os("-a"), os("-D")]);
            a.extend(b.iter().map(os));
            compare(&o, &mut d, &format!("{tname} -a -D names {i}"), &a);
        }
        for (i, n) in names.iter().step_by(20).enumerate() {
            let mut a = base.to_vec();
            a.extend([os("-D"), os(n)]);
            if i % 2 == 0 {
                a.extend([os("p=1"), os("q=a b")]);
            }
            compare(&o, &mut d, &format!("{tname} -D {n}"), &a);
        }
        let patterns = alias_patterns(&moddir);
        let step = (patterns.len() / 300).max(1);
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
                "crypto-crc32c",
                "net-pf-10",
                "pci:v00008086d00001000sv*",
                "no-such-alias",
                "a[b",
                "a]b",
            ]
            .map(String::from),
        );
        assert!(aliases.len() >= 500, "{tname}: {} aliases", aliases.len());
        for (i, b) in batches(&aliases, 100).iter().enumerate() {
            for mode in ["-D", "-R"] {
                let mut a = base.to_vec();
                a.extend([os("-a"), os(mode)]);
                a.extend(b.iter().map(os));
                compare(&o, &mut d, &format!("{tname} -a {mode} aliases {i}"), &a);
            }
        }
        for al in aliases.iter().step_by(25) {
            let mut a = base.to_vec();
            a.extend([os("-R"), os(al)]);
            compare(&o, &mut d, &format!("{tname} -R {al}"), &a);
        }
        // symbols
        let syms: Vec<String> = std::fs::read_to_string(moddir.join("modules.symbols"))
            .unwrap()
            .lines()
            .step_by(53)
            .filter_map(|l| l.strip_prefix("alias "))
            .filter_map(|l| l.split(' ').next().map(String::from))
            .collect();
        for mode in ["-D", "-R"] {
            let mut a = base.to_vec();
            a.extend([os("-a"), os(mode)]);
            a.extend(syms.iter().map(os));
            compare(&o, &mut d, &format!("{tname} -a {mode} symbols"), &a);
        }
        // builtin modules
        let builtin: Vec<String> = std::fs::read_to_string(moddir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .map(modname_of)
            .collect();
        for mode in ["-D", "-R"] {
            let mut a = base.to_vec();
            a.extend([os("-a"), os(mode)]);
            a.extend(builtin.iter().map(os));
            compare(&o, &mut d, &format!("{tname} -a {mode} builtin"), &a);
        }
        // the module files given as paths
        let files: Vec<PathBuf> = t.modules().into_iter().step_by(97).collect();
        for f in &files {
            let f = moddir.join(f.strip_prefix(t.moddir()).unwrap());
            let mut a = base.to_vec();
            a.extend([os("-D"), f.as_os_str()]);
            compare(&o, &mut d, &format!("{tname} -D {}", f.display()), &a);
        }
        // the index dumps, with the tree's own softdeps
        let mut a = base.to_vec();
        a.push(os("-c"));
        compare(&o, &mut d, &format!("{tname} -c"), &a);
    }
    d.finish("modprobe -D/-R");
}

/// The rich configuration used by the `-c` and config-driven tests: every directive,
/// bad lines, continuations, comments, files overridden by name across two dirs.
fn rich_config(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let c1 = dir.join("c1");
    let c2 = dir.join("c2");
    std::fs::create_dir_all(c1.join("sub.conf")).unwrap();
    std::fs::create_dir_all(&c2).unwrap();
    let rich = "alias my-alias* loop\n\
alias  tab\there  snd-hda-intel extra tokens\n\
alias bad[x loop\n\
alias one\n\
alias pick-* btrfs\n\
alias pick-[a-c]* ext4\n\
alias both dummy\n\
blacklist floppy\n\
blacklist pcspkr extra\n\
blacklist\n\
blacklist snd-pcsp\n\
options loop max_loop=8\toops\n\
options my-alias* a=1\n\
options pick-x pickopt=1\n\
options\n\
options nothing\n\
install dummy /bin/echo installing $CMDLINE_OPTS\n\
install\tfoo-bar   /bin/true  x\n\
install ext4 /bin/echo ext4-install\n\
install xfs* /bin/echo xfs-glob $CMDLINE_OPTS $CMDLINE_OPTS\n\
remove dummy /bin/echo removing\n\
remove rem-only /bin/true\n\
remove x\n\
softdep btrfs pre: xor post: raid6_pq extra\n\
softdep a pre: x post: y pre: z\n\
softdep b x y\n\
softdep c  pre: x\n\
softdep d pre:\n\
softdep e\n\
softdep loop pre: crypto-crc32c post: fs-btrfs nonexistent-dep\n\
softdep cyc-a pre: cyc-b\n\
softdep cyc-b pre: cyc-a\n\
softdep nbd pre: loop\n\
softdep xfs pre: ext4\n\
weakdep w a  b \n\
weakdep w2  lead\n\
weakdep x\n\
weakdep btrfs xor zstd\n\
# comment\n\
  # indented comment\n\
\n\
   \n\
bogus line here\n\
include /etc/foo\n\
config bar\n\
options cont \\\n  x=1 \\\n\ty=2\n\
alias \\\n contalias loop\n\
blacklist a\\b\n\
opt\\\nions z q\n\
alias tail-bs loop\\";
    std::fs::write(c1.join("10-rich.conf"), rich).unwrap();
    std::fs::write(c1.join("z.conf"), "options loop from_c1_z=1\n").unwrap();
    std::fs::write(c2.join("z.conf"), "options loop from_c2_z=1\n").unwrap();
    std::fs::write(
        c2.join("a.conf"),
        "options loop a_conf=1\nalias cyc-* nbd\n",
    )
    .unwrap();
    std::fs::write(c2.join("ignored.txt"), "junk\n").unwrap();
    std::fs::write(c2.join(".hidden.conf"), "junk\n").unwrap();
    std::fs::write(c2.join(".conf"), "junk\n").unwrap();
    std::os::unix::fs::symlink("/nonexistent", c2.join("broken.conf")).unwrap();
    let single = dir.join("single.conf");
    std::fs::write(&single, "options loop single=1\nbad\n").unwrap();
    (c1, c2, single)
}

/// `-c` with a rich configuration, config-driven lookups and probes, dry runs and
/// removals, option parsing, `MODPROBE_OPTIONS`.
#[test]
fn oracle_modprobe_config_and_options() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("mp-conf");
    let t = o.tree("bookworm-amd64");
    let root = indexed_copy(&o, t, tmp.path());
    let (c1, c2, single) = rich_config(tmp.path());
    let empty = tmp.path().join("empty.d");
    std::fs::create_dir_all(&empty).unwrap();
    let mut d = Diffs::default();
    let dir = [os("-d"), root.as_os_str(), os("-S"), os(&t.kver)];
    let with = |extra: &[&OsStr]| -> Vec<OsString> {
        let mut v: Vec<OsString> = dir.iter().map(|s| s.to_os_string()).collect();
        v.extend([
            OsString::from("-C"),
            c1.clone().into_os_string(),
            OsString::from("-C"),
            c2.clone().into_os_string(),
        ]);
        v.extend(extra.iter().map(|s| s.to_os_string()));
        v
    };
    let cmp = |d: &mut Diffs, extra: &[&str]| {
        let a = with(&extra.iter().map(os).collect::<Vec<_>>());
        let a: Vec<&OsStr> = a.iter().map(OsString::as_os_str).collect();
        compare(&o, d, &extra.join(" "), &a);
    };
    // -c with different source lists (order decides which z.conf wins)
    cmp(&mut d, &["-c"]);
    for srcs in [
        vec![c2.as_os_str(), c1.as_os_str(), single.as_os_str()],
        vec![single.as_os_str()],
        vec![empty.as_os_str()],
        vec![os("/nonexistent")],
        vec![os("/dev/null")],
    ] {
        let mut a = dir.to_vec();
        for s in &srcs {
            a.extend([os("-C"), s]);
        }
        a.push(os("--show-config"));
        compare(&o, &mut d, &format!("-c with {srcs:?}"), &a);
    }
    // lookups and probes driven by the configuration
    for name in [
        "my-alias-x",
        "my_alias_y",
        "tab",
        "pick-x",
        "pick-b",
        "both",
        "contalias",
        "tail-bs",
        "dummy",
        "foo-bar",
        "foo_bar",
        "ext4",
        "xfs",
        "rem-only",
        "btrfs",
        "loop",
        "nbd",
        "cyc-a",
        "cyc-b",
        "floppy",
        "pcspkr",
        "snd-pcsp",
        "a",
        "w",
    ] {
        cmp(&mut d, &["-D", name]);
        cmp(&mut d, &["-R", name]);
        cmp(&mut d, &["-D", "-i", name]);
        cmp(&mut d, &["-D", "-b", name, "p=1", "q=x y", "r='s t'"]);
        cmp(&mut d, &["-n", "-v", name]);
        cmp(&mut d, &["-r", "-n", "-v", name]);
        cmp(&mut d, &["-r", "-n", "-v", "-i", name]);
    }
    cmp(
        &mut d,
        &["-a", "-D", "dummy", "no-such", "floppy", "pick-b"],
    );
    cmp(
        &mut d,
        &["-a", "-r", "-n", "-v", "dummy", "no-such", "loop"],
    );
    cmp(&mut d, &["-r", "-n", "-v", "--remove-holders", "loop"]);
    cmp(&mut d, &["-n", "-v", "--remove-holders", "loop"]);
    cmp(&mut d, &["-n", "-v", "--first-time", "unix"]);
    cmp(&mut d, &["-r", "-n", "-v", "--first-time", "unix"]);
    cmp(&mut d, &["-r", "-n", "-v", "--first-time", "btrfs"]);
    cmp(&mut d, &["-n", "-vv", "-q", "btrfs"]);
    cmp(&mut d, &["-q", "no-such"]);
    cmp(&mut d, &["-q", "-r", "no-such"]);
    cmp(&mut d, &["no-such"]);
    cmp(&mut d, &["-r", "no-such"]);
    cmp(&mut d, &["-r", "a]"]);
    cmp(&mut d, &["a]"]);
    cmp(&mut d, &["-D", "/nonexistent/x.ko"]);
    cmp(&mut d, &["-D", "./nonexistent.ko"]);
    // option parsing
    for args in [
        &["-D", "--", "loop", "-v"][..],
        &["-D", "loop", "-v"],
        &["--show-d", "loop"],
        &["--dry", "-v", "loop"],
        &["--show", "-v", "loop"],
        &["--showconfig"],
        &["-w", "x", "-r", "loop"],
        &["-w", "", "-r", "loop"],
        &["-w", "0x", "-r", "loop"],
        &["-w", "010", "-r", "-n", "-v", "loop"],
        &["-w", "-V"],
        &["-R"],
        &[],
        &["-q"],
        &["--show-modversions"],
        &["-c", "extra", "args"],
        &["-aDr", "loop"],
        &["-Dloop"],
        &["--force", "-D", "loop"],
        &["--force-vermagic", "--force-modversion", "-D", "loop"],
        &["-v", "-v", "-D", "loop"],
        &["--remove-dependencies", "-r", "-n", "loop"],
        &["--ignore-remove", "-D", "dummy"],
        &["--use-b", "-D", "floppy"],
        &["--resolve", "pick-b"],
        &["--dump-modversions", "/etc/passwd"],
    ] {
        cmp(&mut d, args);
    }
    // errors that do not depend on the directory
    for args in [
        &["--bogus"][..],
        &["-Z"],
        &["--sh"],
        &["--show-"],
        &["-w"],
        &["-C"],
        &["--wait"],
        &["--all=1"],
        &["-h", "--bogus"],
        &["--bogus", "-V"],
        &["-w", "x", "-V"],
    ] {
        let a: Vec<&OsStr> = args.iter().map(os).collect();
        let mut k = o.theirs("modprobe");
        let mut u = ours("modprobe");
        for c in [&mut k, &mut u] {
            c.args(&a).env_remove("MODPROBE_OPTIONS");
        }
        // -h and -V texts are ours; compare status and stderr only there
        let (mut ek, mut eu) = (run(k), run(u));
        if args.contains(&"-h") || args.contains(&"-V") {
            ek.stdout.clear();
            eu.stdout.clear();
        }
        d.check(&args.join(" "), &ek, &eu);
    }
    // MODPROBE_OPTIONS: prepended, quotes, and broken values
    for (env, extra) in [
        ("-D", &["loop"][..]),
        ("-D -q", &["no-such"]),
        ("'-D' -i", &["dummy"]),
        ("\"-D\"  -b", &["floppy"]),
        ("-D x\"y z\"w", &["loop"]),
        ("-Z", &["loop"]),
        ("-D 'unterminated", &["loop"]),
        ("", &["-D", "loop"]),
        ("-c", &[]),
    ] {
        let a = with(&extra.iter().map(os).collect::<Vec<_>>());
        let a: Vec<&OsStr> = a.iter().map(OsString::as_os_str).collect();
        compare_env(
            &o,
            &mut d,
            &format!("MODPROBE_OPTIONS={env:?} {extra:?}"),
            &a,
            &[("MODPROBE_OPTIONS", env)],
        );
    }
    // KMOD_LOG silences the messages printed before the log hook
    let a = with(&[os("-c")]);
    let a: Vec<&OsStr> = a.iter().map(OsString::as_os_str).collect();
    compare_env(&o, &mut d, "KMOD_LOG=0 -c", &a, &[("KMOD_LOG", "0")]);
    compare_env(&o, &mut d, "KMOD_LOG=info -c", &a, &[("KMOD_LOG", "info")]);
    let a = with(&[os("-vv"), os("-D"), os("btrfs")]);
    let a: Vec<&OsStr> = a.iter().map(OsString::as_os_str).collect();
    compare_env(
        &o,
        &mut d,
        "KMOD_LOG=debug -vv -D",
        &a,
        &[("KMOD_LOG", "debug")],
    );
    // self-referencing softdeps, softdeps through config aliases, an alias to a
    // module that does not exist, odd whitespace
    let odd = tmp.path().join("odd.conf");
    std::fs::write(
        &odd,
        "softdep loop pre: loop post: loop\nalias lp* loop\nsoftdep nbd pre: lp1 lp2 loop\n\
         alias ghost nonexistent_mod\noptions lp* from_alias=1\n\
         softdep\tbtrfs\tpre:\txor\r\nweakdep a\x0bb\x0cc\n",
    )
    .unwrap();
    for extra in [
        &["-c"][..],
        &["-D", "loop"],
        &["-D", "nbd"],
        &["-D", "ghost"],
        &["-R", "ghost"],
        &["-D", "lp1"],
        &["-D", "btrfs"],
    ] {
        let mut a = dir.to_vec();
        a.extend([os("-C"), odd.as_os_str()]);
        a.extend(extra.iter().map(os));
        compare(&o, &mut d, &format!("odd.conf {extra:?}"), &a);
    }
    // damaged indexes: bad magic, bad version (reported after the log hook)
    let moddir = root.join("lib/modules").join(&t.kver);
    let mut alias = std::fs::read(moddir.join("modules.alias.bin")).unwrap();
    alias[..4].copy_from_slice(b"XXXX");
    replace_file(&moddir.join("modules.alias.bin"), &alias);
    let mut syms = std::fs::read(moddir.join("modules.symbols.bin")).unwrap();
    syms[4..8].copy_from_slice(&[0, 3, 0, 1]);
    replace_file(&moddir.join("modules.symbols.bin"), &syms);
    for extra in [
        &["-c"][..],
        &["-D", "loop"],
        &["-R", "fs-btrfs"],
        &["-R", "symbol:crc32c"],
    ] {
        let mut a = dir.to_vec();
        a.extend([os("-C"), empty.as_os_str()]);
        a.extend(extra.iter().map(os));
        compare(&o, &mut d, &format!("bad alias index {extra:?}"), &a);
    }
    replace_file(&moddir.join("modules.dep.bin"), b"short");
    for extra in [&["-c"][..], &["-D", "loop"], &["-R", "fs-btrfs"]] {
        let mut a = dir.to_vec();
        a.extend([os("-C"), empty.as_os_str()]);
        a.extend(extra.iter().map(os));
        compare(&o, &mut d, &format!("bad dep index {extra:?}"), &a);
    }
    d.finish("modprobe config and options");
}

/// `--show-modversions` and `--show-exports` on real module files (plain, xz, ELF32,
/// big-endian) and on files that are not modules.
#[test]
fn oracle_modprobe_show_modversions_and_exports() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("mp-vers");
    let junk = tmp.path().join("junk.ko");
    std::fs::write(&junk, b"not an ELF file at all").unwrap();
    let short = tmp.path().join("short.ko");
    std::fs::write(&short, b"abc").unwrap();
    let mut d = Diffs::default();
    let mut n = 0;
    for t in &o.trees {
        for f in t.modules().iter().step_by(37) {
            for mode in ["--show-modversions", "--show-exports"] {
                compare(
                    &o,
                    &mut d,
                    &format!("{mode} {}", f.display()),
                    &[os(mode), f.as_os_str()],
                );
            }
            n += 1;
        }
    }
    assert!(n > 300, "only {n} modules");
    for f in [
        junk.as_os_str(),
        short.as_os_str(),
        os("/nonexistent.ko"),
        os("/etc/passwd"),
        tmp.path().as_os_str(),
        os("loop"),
    ] {
        for mode in ["--show-modversions", "--show-exports", "--dump-modversions"] {
            compare(
                &o,
                &mut d,
                &format!("{mode} {}", Path::new(f).display()),
                &[os(mode), f],
            );
        }
    }
    d.finish("modprobe --show-modversions/--show-exports");
}

/// A file of `Command`s is cheaper than a shell: make sure `ours` is the multi-call
/// binary called as `modprobe` (also through the `modprobe` binary itself).
#[test]
fn modprobe_binary_and_multicall_agree() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_modprobe"));
    let a = run({
        let mut c = Command::new(&bin);
        c.args(["-c", "-C", "/dev/null", "-d", "/nonexistent", "-S", "1"]);
        c
    });
    let b = run({
        let mut c = ours("modprobe");
        c.args(["-c", "-C", "/dev/null", "-d", "/nonexistent", "-S", "1"]);
        c
    });
    assert_eq!(a, b);
    assert_eq!(a.status, Some(0));
}
