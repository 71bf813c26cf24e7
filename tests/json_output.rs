//! `--json`: every document valid against `schemas/`, and saying what the text
//! output says. On Debian's real trees, compared with kmod 34.2: the closure of every
//! module and of 500+ aliases in one call against `modprobe -a --show-depends`
//! (modules, paths, options, order), `modinfo --json` of every module against
//! kmod's `modinfo` (every field and value); the selection helper; bad input (valid
//! JSON, the same stderr and exit status as without `--json`); lsmod on a fake root.
//! depmod's report is checked in `depmod_synthetic` (every synthetic tree), lsmod's
//! on the real kernels in `vm_tests`.

use crate::support::schema::{self, bytes, parse, text};
use crate::support::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

fn os<P: AsRef<OsStr> + ?Sized>(p: &P) -> &OsStr {
    p.as_ref()
}

/// 500+ aliases of a tree: patterns, strings matching them, and special ones.
fn aliases(moddir: &Path) -> Vec<String> {
    let patterns: Vec<String> = std::fs::read_to_string(moddir.join("modules.alias"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("alias "))
        .filter_map(|l| l.rsplit_once(' ').map(|(a, _)| a.to_string()))
        .collect();
    let step = (patterns.len() / 300).max(1);
    let mut v = Vec::new();
    for p in patterns.iter().step_by(step) {
        v.push(p.clone());
        v.push(instantiate(p));
    }
    v.extend(
        [
            "fs-btrfs",
            "char-major-10-237",
            "devname:loop-control",
            "crypto-sha256",
            "net-pf-10",
            "symbol:crc32c",
            "no-such-alias",
            "a[b",
        ]
        .map(String::from),
    );
    assert!(v.len() >= 500, "{} aliases", v.len());
    v
}

/// kmod's `--show-depends` line for a step of our closure (`None` for `none`).
fn step_line(s: &Value) -> Option<Vec<u8>> {
    let mut l = Vec::new();
    match s["action"].as_str().unwrap() {
        "insmod" => {
            l.extend_from_slice(b"insmod ");
            l.extend(bytes(&s["path"]));
            l.push(b' ');
            l.extend(bytes(&s["options"]));
        }
        "install" => {
            l.extend_from_slice(b"install ");
            l.extend(bytes(&s["command"]));
            l.push(b' ');
            l.extend(bytes(&s["options"]));
        }
        "builtin" => {
            l.extend_from_slice(b"builtin ");
            l.extend(bytes(&s["module"]));
        }
        _ => return None,
    }
    Some(l)
}

/// Our closure of `names` in one call against kmod's `-a -D` in batches: the same
/// lines (our steps), the same messages, the same status; `modules` is the steps'
/// modules once each, in order, with their paths. Returns the document.
fn closure_vs_kmod(
    o: &Oracle,
    d: &mut Diffs,
    what: &str,
    base: &[&OsStr],
    names: &[String],
    batch: usize,
) -> Vec<u8> {
    let mut u = ours("modprobe");
    u.args(base).args(["-a", "-D", "--json"]).args(names);
    u.env_remove("MODPROBE_OPTIONS").env_remove("KMOD_LOG");
    let u = run(u);
    let mut k = Run {
        stdout: Vec::new(),
        stderr: Vec::new(),
        status: Some(0),
    };
    for b in batches(names, batch) {
        let mut c = o.theirs("modprobe");
        c.args(base).args(["-a", "-D"]).args(&b);
        c.env_remove("MODPROBE_OPTIONS").env_remove("KMOD_LOG");
        let r = run(c);
        k.stdout.extend(r.stdout);
        k.stderr.extend(r.stderr);
        if r.status != Some(0) {
            k.status = r.status;
        }
    }
    let doc = parse(&u.stdout);
    let steps = doc["steps"].as_array().unwrap();
    let mut shown = Vec::new();
    for s in steps {
        if let Some(l) = step_line(s) {
            shown.extend(l);
            shown.push(b'\n');
        }
    }
    d.check(
        &format!("{what}: closure steps (one call) vs kmod -a -D"),
        &k,
        &Run {
            stdout: shown,
            stderr: u.stderr.clone(),
            status: u.status,
        },
    );
    // modules: the steps' modules, once each, in order of first appearance
    let mut seen = HashSet::new();
    let want: Vec<(String, Option<String>)> = steps
        .iter()
        .filter(|s| seen.insert(text(&s["module"])))
        .map(|s| (text(&s["module"]), s["path"].as_str().map(String::from)))
        .collect();
    let got: Vec<(String, Option<String>)> = doc["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (text(&m["name"]), m["path"].as_str().map(String::from)))
        .collect();
    // a builtin or missing module has no path in its step; its path then is null too
    let want: Vec<(String, Option<String>)> = want
        .into_iter()
        .zip(&got)
        .map(|((n, p), (_, gp))| (n, p.or_else(|| gp.clone())))
        .collect();
    assert_eq!(want.len(), got.len(), "{what}: modules vs steps");
    if want != got {
        let i = want.iter().zip(&got).position(|(a, b)| a != b).unwrap();
        panic!(
            "{what}: module {i}: steps say {:?}, modules {:?}",
            want[i], got[i]
        );
    }
    // every operand is accounted for
    assert_eq!(
        doc["operands"].as_array().unwrap().len(),
        names.len(),
        "{what}"
    );
    u.stdout
}

/// The closure of every module and of 500+ aliases of two real trees, each in one
/// call, against kmod 34.2's `--show-depends`; the documents validated.
#[test]
fn oracle_json_closure_agrees_with_show_depends() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("json-closure");
    let conf = tmp.path().join("empty.d");
    std::fs::create_dir_all(&conf).unwrap();
    let mut d = Diffs::default();
    let mut docs = Vec::new();
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
        let names = module_names(&moddir);
        assert!(names.len() > 3000, "{tname}: {} modules", names.len());
        let doc = closure_vs_kmod(&o, &mut d, &format!("{tname} modules"), &base, &names, 400);
        let v = parse(&doc);
        let firmware = v["firmware"].as_array().unwrap().len();
        assert!(firmware > 100, "{tname}: {firmware} firmware files");
        firmware_as_read_one_by_one(tname, &v);
        assert!(
            v["operands"]
                .as_array()
                .unwrap()
                .iter()
                .all(|op| op["result"] == "ok"),
            "{tname}: every module of the tree resolves"
        );
        docs.push((format!("{tname} every module"), doc));
        let al = aliases(&moddir);
        let doc = closure_vs_kmod(&o, &mut d, &format!("{tname} aliases"), &base, &al, 100);
        let v = parse(&doc);
        let not_found: Vec<String> = v["operands"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|op| op["result"] == "not_found")
            .map(|op| text(&op["operand"]))
            .collect();
        assert!(
            not_found.contains(&"no-such-alias".to_string()),
            "{not_found:?}"
        );
        docs.push((format!("{tname} aliases"), doc));
        // builtin modules: `builtin` results and steps
        let builtin: Vec<String> = std::fs::read_to_string(moddir.join("modules.builtin"))
            .unwrap()
            .lines()
            .map(modname_of)
            .collect();
        let doc = closure_vs_kmod(
            &o,
            &mut d,
            &format!("{tname} builtin"),
            &base,
            &builtin,
            400,
        );
        let v = parse(&doc);
        // a builtin module's name may also be an alias of loadable modules (`crc32`):
        // the alias wins, as in kmod's lookup
        let results: Vec<&Value> = v["operands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| &op["result"])
            .collect();
        let n = results.iter().filter(|r| **r == "builtin").count();
        assert!(
            results.iter().all(|r| *r == "builtin" || *r == "ok") && n * 10 > results.len() * 9,
            "{tname}: builtin operands: {n} of {}",
            results.len()
        );
        docs.push((format!("{tname} builtin"), doc));
        // the firmware a module names, as modinfo gives it
        let one = closure_json(&base, &["iwlwifi"]);
        let v = parse(&one);
        let m = v["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "iwlwifi")
            .unwrap();
        let path = text(&m["path"]);
        let fw = o
            .theirs("modinfo")
            .args(["-F", "firmware", &path])
            .output()
            .unwrap();
        let want: Vec<String> = String::from_utf8(fw.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let got: Vec<String> = m["firmware"].as_array().unwrap().iter().map(text).collect();
        assert_eq!(got, want, "{tname}: iwlwifi's firmware");
        docs.push((format!("{tname} iwlwifi"), one));
        // --select: a directory, and a glob, in name order
        let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
        let under = |keep: &dyn Fn(&str) -> bool| -> Vec<String> {
            let mut v: Vec<String> = dep
                .lines()
                .filter_map(|l| l.split(':').next())
                .filter(|p| keep(p))
                .map(modname_of)
                .collect();
            v.sort();
            v
        };
        for (pattern, want) in [
            (
                "kernel/drivers/ata",
                under(&|p| p.starts_with("kernel/drivers/ata/")),
            ),
            (
                "kernel/fs/*/*.ko*",
                under(&|p| p.starts_with("kernel/fs/") && p[10..].matches('/').count() >= 1),
            ),
        ] {
            assert!(want.len() > 10, "{tname}: {pattern}: {}", want.len());
            let mut c = ours("modprobe");
            c.args(base).args(["-D", "--json", "--select", pattern]);
            let r = run(c);
            assert_eq!(r.status, Some(0), "{}", String::from_utf8_lossy(&r.stderr));
            let v = parse(&r.stdout);
            let got: Vec<String> = v["operands"]
                .as_array()
                .unwrap()
                .iter()
                .map(|op| text(&op["operand"]))
                .collect();
            assert_eq!(got, want, "{tname}: --select {pattern}");
            docs.push((format!("{tname} --select {pattern}"), r.stdout));
        }
    }
    d.finish("modprobe --show-depends --json");
    schema::validate("modprobe-closure", &docs);
}

/// Each module's `firmware` in a closure (most read on a second thread while the
/// probes ran) is what the library reads from its file alone, in order, and the
/// document's `firmware` is their union in order of first appearance.
fn firmware_as_read_one_by_one(tname: &str, doc: &Value) {
    let mut union: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for m in doc["modules"].as_array().unwrap() {
        let got: Vec<String> = m["firmware"].as_array().unwrap().iter().map(text).collect();
        let want: Vec<String> = match m["path"].as_str() {
            Some(p) => {
                let info = libkmod_rs::ModuleInfo::read(Path::new(p)).unwrap();
                info.get(b"firmware")
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect()
            }
            None => Vec::new(),
        };
        assert_eq!(got, want, "{tname}: {}'s firmware", text(&m["name"]));
        assert!(m["firmware_error"].is_null(), "{tname}: {m}");
        union.extend(want.into_iter().filter(|f| seen.insert(f.clone())));
    }
    let all: Vec<String> = doc["firmware"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(all, union, "{tname}: the closure's firmware");
}

fn closure_json(base: &[&OsStr], names: &[&str]) -> Vec<u8> {
    let mut c = ours("modprobe");
    c.args(base).args(["-a", "-D", "--json"]).args(names);
    let r = run(c);
    assert_eq!(r.status, Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    r.stdout
}

/// One module of kmod's `modinfo` text output: its fields in order (signature
/// continuation lines joined, the wrapping taken out) and its `parm` lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct TextModule {
    filename: String,
    name: Option<String>,
    fields: Vec<(String, String)>,
    parm: Vec<String>,
    /// While parsing: the last line was a `parm:` line.
    last_was_parm: bool,
}

/// kmod's modinfo output for several modules, split into modules. A line is a new
/// field when it starts with a key (`[A-Za-z0-9_.-]+:`) padded to column 16;
/// anything else continues the value before it (`\t\t` lines of a signature are
/// joined as they are, other lines with their newline: descriptions may hold one).
fn parse_modinfo_text(out: &str) -> Vec<TextModule> {
    let lines: Vec<&str> = out.split('\n').collect();
    let mut v: Vec<TextModule> = Vec::new();
    let field = |l: &str| -> Option<(usize, usize)> {
        let colon = l.find(':')?;
        let key = &l[..colon];
        let keyish = !key.is_empty()
            && key
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        let start = (colon + 1).max(16);
        let padded = l.len() >= start && l[colon + 1..start].bytes().all(|c| c == b' ');
        (keyish && padded).then_some((colon, start))
    };
    for (i, l) in lines.iter().enumerate() {
        if l.is_empty() && i + 1 == lines.len() {
            break;
        }
        let Some((colon, start)) = field(l)
            .filter(|_| !v.is_empty() || l.starts_with("filename:") || l.starts_with("name:"))
        else {
            let m = v.last_mut().expect("modinfo output starts with a field");
            let signature = !m.last_was_parm
                && m.fields
                    .last()
                    .is_some_and(|(k, _)| k == "signature" || k == "sig_key");
            let last = match m.parm.last_mut() {
                Some(p) if m.last_was_parm => p,
                _ => &mut m.fields.last_mut().expect("a field to continue").1,
            };
            match l.strip_prefix("\t\t") {
                Some(cont) if signature => last.push_str(cont),
                _ => {
                    last.push('\n');
                    last.push_str(l);
                }
            }
            continue;
        };
        let (key, value) = (&l[..colon], &l[start..]);
        let builtin_head = key == "name" && lines.get(i + 1) == Some(&"filename:       (builtin)");
        if key == "filename" && v.last().is_none_or(|m| !m.filename.is_empty()) || builtin_head {
            v.push(TextModule::default());
        }
        let m = v.last_mut().unwrap();
        m.last_was_parm = key == "parm";
        match key {
            "filename" => m.filename = value.to_string(),
            "name" if builtin_head => m.name = Some(value.to_string()),
            "parm" => m.parm.push(value.to_string()),
            _ => m.fields.push((key.to_string(), value.to_string())),
        }
    }
    for m in &mut v {
        m.last_was_parm = false;
    }
    v
}

/// Our JSON module in the same shape.
fn json_module(m: &Value) -> TextModule {
    let mut fields = Vec::new();
    // JSON groups values by key: compare per key, in order
    for (k, vals) in m["fields"].as_object().unwrap() {
        for v in vals.as_array().unwrap() {
            fields.push((k.clone(), text(v)));
        }
    }
    let parm = m["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let (name, ty, desc) = (text(&p["name"]), &p["type"], &p["description"]);
            match (desc.is_null(), ty.is_null()) {
                (false, false) => format!("{name}:{} ({})", text(desc), text(ty)),
                (false, true) => format!("{name}:{}", text(desc)),
                (true, false) => format!("{name}:{}", text(ty)),
                (true, true) => format!("{name}:"),
            }
        })
        .collect();
    let builtin = m["builtin"].as_bool().unwrap();
    fields.sort_by(|a: &(String, String), b: &(String, String)| a.0.cmp(&b.0));
    TextModule {
        filename: if builtin {
            "(builtin)".into()
        } else {
            text(&m["filename"])
        },
        name: builtin.then(|| text(&m["name"])),
        fields,
        parm,
        last_was_parm: false,
    }
}

/// Fields grouped by key, values in order (the JSON's shape; `serde_json::Value`
/// sorts the keys).
fn grouped(m: &TextModule) -> TextModule {
    let mut fields = m.fields.clone();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    TextModule {
        filename: m.filename.clone(),
        name: m.name.clone(),
        fields,
        parm: m.parm.clone(),
        last_was_parm: false,
    }
}

/// `modinfo --json` of every module of two real trees (by path, and the builtin
/// modules and some aliases by name) carries exactly kmod 34.2's fields and values.
#[test]
fn oracle_json_modinfo_agrees_with_kmod() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("json-modinfo");
    let mut docs = Vec::new();
    let mut compared = 0;
    for tname in ["bookworm-amd64", "trixie-amd64"] {
        let t = o.tree(tname);
        let root = indexed_copy(&o, t, tmp.path());
        let moddir = root.join("lib/modules").join(&t.kver);
        let mut operands: Vec<String> = t
            .modules()
            .iter()
            .map(|p| moddir.join(p.strip_prefix(t.moddir()).unwrap()))
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let builtin: Vec<String> = std::fs::read_to_string(moddir.join("modules.builtin"))
            .unwrap()
            .lines()
            .map(modname_of)
            .collect();
        operands.extend(builtin);
        operands.extend(
            [
                "fs-btrfs",
                "char-major-10-237",
                "crypto-sha256",
                "pci:v00008086d00001000sv*",
            ]
            .map(String::from),
        );
        let kargs = ["-b", root.to_str().unwrap(), "-k", &t.kver];
        for (i, b) in batches(&operands, 300).iter().enumerate() {
            let k = run({
                let mut c = o.theirs("modinfo");
                c.args(kargs).args(b);
                c
            });
            let u = run({
                let mut c = ours("modinfo");
                c.args(kargs).arg("--json").args(b);
                c
            });
            assert_eq!(k.status, u.status, "{tname} batch {i}: status");
            assert_eq!(
                String::from_utf8_lossy(&k.stderr),
                String::from_utf8_lossy(&u.stderr),
                "{tname} batch {i}: stderr"
            );
            let theirs: Vec<TextModule> = parse_modinfo_text(&String::from_utf8_lossy(&k.stdout))
                .iter()
                .map(grouped)
                .collect();
            let v = parse(&u.stdout);
            let ours: Vec<TextModule> = v["modules"]
                .as_array()
                .unwrap()
                .iter()
                .map(json_module)
                .collect();
            assert_eq!(theirs.len(), ours.len(), "{tname} batch {i}: modules");
            for (a, b) in theirs.iter().zip(&ours) {
                assert_eq!(a, b, "{tname} batch {i}");
                compared += 1;
            }
            docs.push((format!("{tname} modinfo batch {i}"), u.stdout));
        }
    }
    assert!(compared > 8000, "{compared} modules compared");
    schema::validate("modinfo", &docs);
}

/// A small tree: a good module, a broken one, indexes by our depmod.
fn small_tree(tmp: &Path) -> (PathBuf, PathBuf) {
    use crate::support::ko::Ko;
    use object::{Architecture, Endianness};
    let root = tmp.join("root");
    let dir = root.join("lib/modules/1.2.3");
    std::fs::create_dir_all(dir.join("kernel")).unwrap();
    let mut a = Ko::new(Architecture::X86_64, Endianness::Little);
    a.name = "good".into();
    a.modinfo = vec![
        "alias=good-alias".into(),
        "firmware=good/fw.bin".into(),
        "parm=p:a parameter".into(),
        "parmtype=p:int".into(),
        "name=good".into(),
    ];
    std::fs::write(dir.join("kernel/good.ko"), a.build()).unwrap();
    std::fs::write(dir.join("kernel/broken.ko"), b"\x7fELF and then nothing").unwrap();
    let st = ours("depmod")
        .arg("-b")
        .arg(&root)
        .arg("1.2.3")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    (root, dir)
}

/// With `--json`, whatever goes wrong: one valid document on stdout, the stderr and
/// exit status of the same command without `--json`.
#[test]
fn json_bad_input_gives_one_valid_document() {
    let tmp = TempDir::new("json-bad");
    let (root, dir) = small_tree(tmp.path());
    let r = root.to_str().unwrap();
    let broken = dir.join("kernel/broken.ko");
    let b = broken.to_str().unwrap();
    let junk = tmp.path().join("junk.ko");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let j = junk.to_str().unwrap();
    let conf = tmp.path().join("c.conf");
    std::fs::write(&conf, "blacklist good\nsoftdep good pre: nosuch\n").unwrap();
    let c = conf.to_str().unwrap();
    let mut docs: HashMap<&str, Vec<(String, Vec<u8>)>> = HashMap::new();
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("modinfo", "modinfo", vec!["-b", r, "-k", "1.2.3", "nosuch"]),
        (
            "modinfo",
            "modinfo",
            vec!["-b", r, "-k", "1.2.3", "good", b, "nosuch", j],
        ),
        (
            "modinfo",
            "modinfo",
            vec!["-b", r, "-k", "1.2.3", "-F", "firmware", "good"],
        ),
        (
            "modinfo",
            "modinfo",
            vec!["-b", r, "-k", "1.2.3", "-p", "good"],
        ),
        (
            "modinfo",
            "modinfo",
            vec!["-b", r, "-k", "1.2.3", "-n", "good"],
        ),
        ("modinfo", "modinfo", vec![]),
        (
            "modprobe-closure",
            "modprobe",
            vec!["-d", r, "-S", "1.2.3", "-C", c, "-D", "nosuch"],
        ),
        (
            "modprobe-closure",
            "modprobe",
            vec![
                "-d", r, "-S", "1.2.3", "-C", c, "-D", "-a", "nosuch", "good", "broken",
            ],
        ),
        (
            "modprobe-closure",
            "modprobe",
            vec!["-d", r, "-S", "1.2.3", "-C", c, "-D", "-b", "good"],
        ),
        (
            "modprobe-closure",
            "modprobe",
            vec!["-d", r, "-S", "1.2.3", "-C", c, "-D", j],
        ),
        (
            "modprobe-closure",
            "modprobe",
            vec!["-d", r, "-S", "1.2.3", "-C", c, "-D", "/nonexistent/x.ko"],
        ),
        (
            "modprobe-closure",
            "modprobe",
            vec!["-d", r, "-S", "1.2.3", "-C", c, "-D"],
        ),
        (
            "modprobe-closure",
            "modprobe",
            vec!["-d", r, "-S", "1.2.3", "-C", c, "-R", "good"],
        ),
        ("depmod", "depmod", vec!["-n", "-b", r, "1.2.3"]),
        ("depmod", "depmod", vec!["-b", r, "1.2.3"]),
        (
            "depmod",
            "depmod",
            vec!["-b", "/nonexistent-kmodrs", "1.2.3"],
        ),
        ("depmod", "depmod", vec!["-n", "-b", r, "bad"]),
    ];
    let mut check = |schema: &'static str, tool: &str, args: &[&str], what: String| {
        let plain = run({
            let mut c = ours(tool);
            c.args(args).env_remove("MODPROBE_OPTIONS");
            c
        });
        let json = run({
            let mut c = ours(tool);
            c.args(args).arg("--json").env_remove("MODPROBE_OPTIONS");
            c
        });
        // -R is not a mode --json works with: an error of its own
        if args.contains(&"-R") {
            assert_eq!(json.status, Some(1), "{what}");
        } else {
            assert_eq!(plain.status, json.status, "{what}: status");
            assert_eq!(
                String::from_utf8_lossy(&plain.stderr),
                String::from_utf8_lossy(&json.stderr),
                "{what}: stderr"
            );
        }
        let v = parse(&json.stdout);
        if json.status != Some(0) {
            assert!(
                !v["errors"].as_array().unwrap().is_empty()
                    || !v["warnings"].as_array().is_none_or(Vec::is_empty),
                "{what}: no message in the document: {v}"
            );
        }
        docs.entry(schema).or_default().push((what, json.stdout));
    };
    for (schema, tool, args) in &cases {
        check(schema, tool, args, format!("{tool} {args:?}"));
    }
    // a corrupt index (the dep index cut short) and a broken module in depmod's scan
    std::fs::write(dir.join("modules.dep.bin"), b"short").unwrap();
    let args = [
        "-d",
        r,
        "-S",
        "1.2.3",
        "-C",
        c,
        "-D",
        "-a",
        "good",
        "good-alias",
    ];
    check(
        "modprobe-closure",
        "modprobe",
        &args,
        "corrupt dep index".into(),
    );
    check(
        "modinfo",
        "modinfo",
        &["-b", r, "-k", "1.2.3", "good"],
        "corrupt dep index".into(),
    );
    check(
        "depmod",
        "depmod",
        &["-n", "-b", r, "1.2.3"],
        "broken module".into(),
    );
    for (schema, d) in docs {
        schema::validate(schema, &d);
    }
}

/// `depmod --check --json`: `stale` is empty on a fresh tree and names the damaged
/// and missing outputs afterwards, with the text mode's exit status; nothing is
/// written either way.
#[test]
fn json_depmod_check_lists_stale_files() {
    let tmp = TempDir::new("json-check");
    let (root, dir) = small_tree(tmp.path());
    let r = root.to_str().unwrap();
    let check = |json: bool| {
        let mut c = ours("depmod");
        c.args(["--check", "-b", r, "1.2.3"]);
        if json {
            c.arg("--json");
        }
        run(c)
    };
    let fresh = check(true);
    assert_eq!(
        fresh.status,
        Some(0),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    let v = parse(&fresh.stdout);
    assert_eq!(v["stale"], serde_json::json!([]), "{v}");
    std::fs::write(dir.join("modules.dep.bin"), b"short").unwrap();
    std::fs::remove_file(dir.join("modules.symbols")).unwrap();
    let plain = check(false);
    let stale = check(true);
    assert_eq!(plain.status, Some(1));
    assert_eq!(stale.status, Some(1));
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "modules.dep.bin\nmodules.symbols\n"
    );
    let v = parse(&stale.stdout);
    assert_eq!(
        v["stale"],
        serde_json::json!(["modules.dep.bin", "modules.symbols"]),
        "{v}"
    );
    // --check never writes
    assert_eq!(
        std::fs::read(dir.join("modules.dep.bin")).unwrap(),
        b"short"
    );
    assert!(!dir.join("modules.symbols").exists());
    schema::validate(
        "depmod",
        &[
            ("fresh".into(), fresh.stdout),
            ("stale".into(), stale.stdout),
        ],
    );
}

/// `lsmod --json` on a fake root: the table's facts, with state and taints.
#[test]
fn json_lsmod_on_a_fake_root() {
    use kmod_rs::Env;
    use libkmod_rs::Root;
    use libkmod_rs::kernel::fake::FakeKernel;
    let tmp = TempDir::new("json-lsmod");
    let r = tmp.path();
    fat_vfat_root(
        r,
        "fat 90112 1 vfat, Live 0x0\nvfat 20480 0 - Live 0x0 (OE)\nodd 10 0 - Unloading 0x0\n",
    );
    std::fs::create_dir_all(r.join("lib/modules/4.4.4")).unwrap();
    let go = |args: &[&str]| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = {
            let mut env = Env {
                root: Root::at(r),
                kernel: Box::new(FakeKernel::new(Root::at(r), "4.4.4")),
                out: &mut out,
                err: &mut err,
                vars: kmod_rs::env::Vars::default(),
            };
            let argv: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            kmod_rs::run(&argv, &mut env)
        };
        (code, out, err)
    };
    let (code, text_out, text_err) = go(&["lsmod"]);
    let (jcode, doc, jerr) = go(&["lsmod", "--json"]);
    assert_eq!((code, &text_err), (jcode, &jerr));
    let v = parse(&doc);
    let m = v["modules"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0]["name"], "fat");
    assert_eq!(m[0]["size"], 90112);
    assert_eq!(m[0]["refcount"], 1);
    assert_eq!(m[0]["used_by"], serde_json::json!(["vfat"]));
    assert_eq!(m[0]["state"], "live");
    assert_eq!(m[1]["taints"], "OE");
    assert_eq!(m[2]["state"], "unloading");
    // odd has no /sys/module entry: the table prints negative errnos, the document nulls
    let table = String::from_utf8_lossy(&text_out);
    assert!(
        table.contains("\nodd                       -2  -2\n"),
        "{table}"
    );
    assert_eq!(m[2]["size"], Value::Null);
    assert_eq!(m[2]["refcount"], Value::Null);
    let (_, doc2, _) = go(&["lsmod", "--json", "extra"]);
    schema::validate(
        "lsmod",
        &[
            ("lsmod fake root".into(), doc),
            ("lsmod extra".into(), doc2),
        ],
    );
}
