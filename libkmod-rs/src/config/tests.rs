use super::*;

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse(text: &str) -> (Config, Vec<String>) {
    let mut cfg = Config::default();
    let mut out = Vec::new();
    cfg.parse_bytes(b"f.conf", text.as_bytes(), &mut out);
    (
        cfg,
        out.into_iter()
            .map(|r: crate::Diagnostic| String::from_utf8(r.message).unwrap())
            .collect(),
    )
}

fn kcmd(text: &str) -> (Config, Vec<String>) {
    let mut cfg = Config::default();
    let mut out = Vec::new();
    parse_kcmdline(&mut cfg, text.as_bytes(), &mut out);
    (
        cfg,
        out.into_iter()
            .map(|r: crate::Diagnostic| String::from_utf8(r.message).unwrap())
            .collect(),
    )
}

fn opts(cfg: &Config) -> Vec<String> {
    cfg.options
        .iter()
        .map(|o| format!("{} {}", lossy(&o.modname), lossy(&o.options)))
        .collect()
}

#[test]
fn directives() {
    let (c, log) = parse(
        "alias my-alias* snd-hda\nblacklist a-b\noptions x-y a=1\tb=2\n\
         install m /bin/true  x\nremove m /bin/false\nsoftdep s pre: a b post: c\n\
         weakdep w  a   b \n# comment\n  # not a comment\nbogus line\n\
         include /x\nalias only-one\noptions nothing\nalias a[b x\n",
    );
    assert_eq!(c.aliases[0].pattern, b"my_alias*");
    assert_eq!(c.aliases[0].modname, b"snd_hda");
    assert_eq!(c.blacklists, vec![b"a_b".to_vec()]);
    assert_eq!(opts(&c), vec!["x_y a=1 b=2"]);
    assert_eq!(c.install_commands[0].command, b"/bin/true  x");
    assert_eq!(c.softdeps[0].value(), b"pre: a bpost: c");
    assert_eq!(c.weakdeps[0].value(), b" a b");
    assert_eq!(
        log,
        vec![
            "f.conf line 9: ignoring bad line starting with '#'\n",
            "f.conf line 10: ignoring bad line starting with 'bogus'\n",
            "f.conf: command include is deprecated and not parsed anymore\n",
            "f.conf line 12: ignoring bad line starting with 'alias'\n",
            "f.conf line 13: ignoring bad line starting with 'options'\n",
            "f.conf line 14: ignoring bad line starting with 'alias'\n",
        ]
    );
}

#[test]
fn continuation_and_line_numbers() {
    let (c, log) = parse("options a \\\n  x=1\nbad\\\nline\n\\\n");
    assert_eq!(opts(&c), vec!["a   x=1"]);
    assert_eq!(
        log,
        vec!["f.conf line 4: ignoring bad line starting with 'badline'\n"]
    );
}

#[test]
fn softdep_quirks() {
    let (c, _) = parse("softdep a pre: x post: y pre: z\nsoftdep b x y\nsoftdep c  pre: x\n");
    assert_eq!(c.softdeps[0].value(), b"pre: x y zpost: y");
    assert_eq!(
        c.softdeps[0].pre().collect::<Vec<_>>(),
        vec![&b"x"[..], b"z"]
    );
    assert_eq!(c.softdeps[1].value(), b"");
    // one extra leading blank glues to "pre:", which is then not recognised
    assert_eq!(c.softdeps[2].value(), b"");
}

#[test]
fn kcmdline_vectors() {
    let (c, _) = kcmd("psmouse.foo psmouse.bar=1");
    assert_eq!(opts(&c), vec!["psmouse foo", "psmouse bar=1"]);
    let (c, _) = kcmd("testmodule.testparam=1.5G");
    assert_eq!(opts(&c), vec!["testmodule testparam=1.5G"]);
    let (c, _) = kcmd("psmouse.\"invalid option\" \" notamodule\" \"noteamodule2 \" notamodule3");
    assert!(c.options.is_empty());
    let (c, _) = kcmd("ivrs_acpihid[14:00.5]=AMD0020:00");
    assert!(c.options.is_empty());
    let (c, _) = kcmd(
        "modprobe.blacklist=foo,bar modprobe.blacklist=foo2 quiet modprobe.blacklist=bar2 rw modprobe.blacklist=foobar",
    );
    let b: Vec<String> = c.blacklists.iter().map(|b| lossy(b)).collect();
    assert_eq!(b, vec!["foo", "bar", "foo2", "bar2", "foobar"]);
    let (c, _) =
        kcmd("\"parport.dyndbg=file drivers/parport/ieee1284_ops.c +mpf\" x-y.z=\"a b\"\n");
    assert_eq!(
        opts(&c),
        vec![
            "parport dyndbg=\"file drivers/parport/ieee1284_ops.c +mpf\"",
            "x_y z=\"a b\""
        ]
    );
    let (c, log) = kcmd("a]b.c=1 modprobe.blacklist=a-b");
    assert!(c.options.is_empty());
    assert_eq!(c.blacklists, vec![b"a-b".to_vec()]);
    assert_eq!(
        log,
        vec!["Ignoring bad option on kernel command line while parsing module name: 'a]b'\n"]
    );
    let (c, _) = kcmd("a.b.c=1 =x.y a=b.c .p=1 m.p=\"unterminated");
    assert_eq!(opts(&c), vec![" p=1"]);
}

#[test]
fn records_order() {
    let (mut c, _) =
        parse("options o x\nalias a b\nblacklist bl\nweakdep w\tq\nsoftdep s post: p\n");
    c.install_commands.push(ModCommand {
        modname: b"i".to_vec(),
        command: b"cmd".to_vec(),
    });
    let kws: Vec<&str> = c.records().iter().map(|r| r.keyword).collect();
    assert_eq!(
        kws,
        vec![
            "blacklist",
            "install",
            "alias",
            "options",
            "softdep",
            "weakdep"
        ]
    );
    assert_eq!(c.options_for(b"o", None), Some(b"x".to_vec()));
    assert_eq!(c.options_for(b"z", Some(b"o")), Some(b"x".to_vec()));
    assert_eq!(c.options_for(b"z", None), None);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let alphabet = b"ab-_[]*?.=\"' \t\n\\#:,\x00\x0bprepost:optionsaliasblacklistsoftdepweakdepinstallremovemodprobe.blacklist=";
    for len in 0..400 {
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = if x.is_multiple_of(5) {
                (x >> 8) as u8
            } else {
                alphabet[(x >> 16) as usize % alphabet.len()]
            };
            v.push(b);
        }
        let mut cfg = Config::default();
        let mut out = Vec::new();
        cfg.parse_bytes(b"f", &v, &mut out);
        parse_kcmdline(&mut cfg, &v, &mut out);
        let _ = cfg.records();
        for s in &cfg.softdeps {
            let _ = s.value();
        }
    }
}
