//! POSIX extended regular expressions with glibc's `regcomp(REG_EXTENDED)` syntax in
//! the C locale, answering only "is there a match anywhere" (depmod.d's kernel
//! version patterns, as kmod's depmod matches them with `regexec`).

use std::collections::HashMap;
use std::rc::Rc;

/// glibc's `RE_DUP_MAX`.
const DUP_MAX: u32 = 0x7fff;
/// Expressions nested deeper than this (parentheses, or operators applied to
/// operators) are refused as invalid, to bound recursion; glibc accepts them.
const MAX_DEPTH: u32 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Assert {
    LineFirst,
    LineLast,
    WordFirst,
    WordLast,
    WordDelim,
    NotWordDelim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    BackslashAtEnd,
    Char(u8),
    Alt,
    Star,
    Plus,
    Question,
    OpenDup,
    CloseDup,
    Open,
    Close,
    Bracket,
    Period,
    Anchor(Assert),
    /// `\w`, `\W`, `\s`, `\S`.
    Class(u8),
    BackRef(u8),
}

#[derive(Debug)]
enum Node {
    Empty,
    Set(Box<[bool; 256]>),
    Assert(Assert),
    Concat(Vec<usize>),
    Alt(Vec<usize>),
    Repeat(usize, u32, Option<u32>),
}

#[derive(Debug)]
enum Fail {
    Invalid,
    Unsupported,
}

type R<T> = Result<T, Fail>;

struct Parser<'a> {
    p: &'a [u8],
    i: usize,
    tok: Tok,
    nodes: Vec<Node>,
    depth: Vec<u32>,
    nsub: u32,
    completed: u32,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn set_of(f: impl Fn(u8) -> bool) -> Box<[bool; 256]> {
    let mut s = Box::new([false; 256]);
    for c in 0..=255u8 {
        s[c as usize] = f(c);
    }
    s
}

fn class_named(name: &[u8]) -> Option<fn(u8) -> bool> {
    Some(match name {
        b"alpha" => |c: u8| c.is_ascii_alphabetic(),
        b"upper" => |c: u8| c.is_ascii_uppercase(),
        b"lower" => |c: u8| c.is_ascii_lowercase(),
        b"digit" => |c: u8| c.is_ascii_digit(),
        b"xdigit" => |c: u8| c.is_ascii_hexdigit(),
        b"space" => is_space,
        b"print" => |c: u8| (0x20..0x7f).contains(&c),
        b"punct" => |c: u8| c.is_ascii_punctuation(),
        b"graph" => |c: u8| c.is_ascii_graphic(),
        b"cntrl" => |c: u8| c < 0x20 || c == 0x7f,
        b"blank" => |c: u8| c == b' ' || c == b'\t',
        b"alnum" => |c: u8| c.is_ascii_alphanumeric(),
        _ => return None,
    })
}

/// One bracket element: a byte, or a class/equivalence name.
enum Elem {
    Byte(u8),
    Coll(Vec<u8>),
    Equiv(Vec<u8>),
    Class(Vec<u8>),
}

/// Bracket-context token kinds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BTok {
    End,
    Char(u8),
    Range,
    Close,
    NonMatch,
    OpenColl,
    OpenEquiv,
    OpenClass,
}

impl Parser<'_> {
    fn add(&mut self, n: Node, depth: u32) -> R<usize> {
        if depth > MAX_DEPTH {
            return Err(Fail::Invalid);
        }
        self.nodes.push(n);
        self.depth.push(depth);
        Ok(self.nodes.len() - 1)
    }

    fn leaf(&mut self, n: Node) -> R<usize> {
        self.add(n, 1)
    }

    /// Read the next token (glibc's `peek_token` + skip, ERE syntax).
    fn fetch(&mut self) {
        let Some(&c) = self.p.get(self.i) else {
            self.tok = Tok::End;
            return;
        };
        self.i += 1;
        self.tok = match c {
            b'\\' => {
                let Some(&c2) = self.p.get(self.i) else {
                    self.tok = Tok::BackslashAtEnd;
                    return;
                };
                self.i += 1;
                match c2 {
                    b'1'..=b'9' => Tok::BackRef(c2 - b'1'),
                    b'<' => Tok::Anchor(Assert::WordFirst),
                    b'>' => Tok::Anchor(Assert::WordLast),
                    b'b' => Tok::Anchor(Assert::WordDelim),
                    b'B' => Tok::Anchor(Assert::NotWordDelim),
                    b'`' => Tok::Anchor(Assert::LineFirst),
                    b'\'' => Tok::Anchor(Assert::LineLast),
                    b'w' | b'W' | b's' | b'S' => Tok::Class(c2),
                    _ => Tok::Char(c2),
                }
            }
            b'|' => Tok::Alt,
            b'*' => Tok::Star,
            b'+' => Tok::Plus,
            b'?' => Tok::Question,
            b'{' => Tok::OpenDup,
            b'}' => Tok::CloseDup,
            b'(' => Tok::Open,
            b')' => Tok::Close,
            b'[' => Tok::Bracket,
            b'.' => Tok::Period,
            b'^' => Tok::Anchor(Assert::LineFirst),
            b'$' => Tok::Anchor(Assert::LineLast),
            _ => Tok::Char(c),
        };
    }

    fn parse(mut self) -> R<(Vec<Node>, Option<usize>)> {
        self.fetch();
        let root = self.reg_exp(0)?;
        Ok((self.nodes, root))
    }

    fn reg_exp(&mut self, nest: u32) -> R<Option<usize>> {
        let initial = self.completed;
        let first = self.branch(nest)?;
        if self.tok != Tok::Alt {
            return Ok(first);
        }
        let mut alts = vec![first];
        while self.tok == Tok::Alt {
            self.fetch();
            let stop =
                matches!(self.tok, Tok::Alt | Tok::End) || (nest != 0 && self.tok == Tok::Close);
            if stop {
                alts.push(None);
            } else {
                let accumulated = self.completed;
                self.completed = initial;
                let b = self.branch(nest)?;
                self.completed |= accumulated;
                alts.push(b);
            }
        }
        let mut ids = Vec::new();
        for a in alts {
            let id = match a {
                Some(id) => id,
                None => self.leaf(Node::Empty)?,
            };
            ids.push(id);
        }
        let d = ids.iter().map(|&i| self.depth[i]).max().unwrap_or(0) + 1;
        Ok(Some(self.add(Node::Alt(ids), d)?))
    }

    fn branch(&mut self, nest: u32) -> R<Option<usize>> {
        let mut parts = Vec::new();
        if let Some(e) = self.expression(nest)? {
            parts.push(e);
        }
        while !(matches!(self.tok, Tok::Alt | Tok::End) || (nest != 0 && self.tok == Tok::Close)) {
            if let Some(e) = self.expression(nest)? {
                parts.push(e);
            }
        }
        match parts.len() {
            0 => Ok(None),
            1 => Ok(Some(parts[0])),
            _ => {
                let d = parts.iter().map(|&i| self.depth[i]).max().unwrap_or(0) + 1;
                Ok(Some(self.add(Node::Concat(parts), d)?))
            }
        }
    }

    fn expression(&mut self, nest: u32) -> R<Option<usize>> {
        let tree = match self.tok {
            // A repetition operator with nothing to repeat (REG_BADRPT), or a
            // lone trailing backslash (REG_EESCAPE).
            Tok::Star | Tok::Plus | Tok::Question | Tok::OpenDup | Tok::BackslashAtEnd => {
                return Err(Fail::Invalid);
            }
            Tok::Char(c) => Some(self.leaf(Node::Set(set_of(|x| x == c)))?),
            Tok::Close => Some(self.leaf(Node::Set(set_of(|x| x == b')')))?),
            Tok::CloseDup => Some(self.leaf(Node::Set(set_of(|x| x == b'}')))?),
            Tok::Period => Some(self.leaf(Node::Set(set_of(|x| x != 0)))?),
            Tok::Class(k) => {
                let s = match k {
                    b'w' => set_of(is_word),
                    b'W' => set_of(|c| !is_word(c)),
                    b's' => set_of(is_space),
                    _ => set_of(|c| !is_space(c)),
                };
                Some(self.leaf(Node::Set(s))?)
            }
            Tok::Bracket => {
                let s = self.bracket()?;
                Some(self.leaf(Node::Set(s))?)
            }
            Tok::Open => Some(self.group(nest)?),
            Tok::BackRef(n) => {
                return Err(if self.completed & (1 << n) == 0 {
                    Fail::Invalid
                } else {
                    Fail::Unsupported
                });
            }
            Tok::Anchor(a) => {
                // Anchors take no repetition: the next operator starts over.
                let id = self.leaf(Node::Assert(a))?;
                self.fetch();
                return Ok(Some(id));
            }
            Tok::Alt | Tok::End => return Ok(None),
        };
        self.fetch();
        let mut tree = tree;
        while matches!(
            self.tok,
            Tok::Star | Tok::Plus | Tok::Question | Tok::OpenDup
        ) {
            tree = self.dup(tree)?;
        }
        Ok(tree)
    }

    /// A parenthesised group; the current token is `(`.
    fn group(&mut self, nest: u32) -> R<usize> {
        if nest >= MAX_DEPTH {
            return Err(Fail::Invalid);
        }
        let sub = self.nsub;
        self.nsub += 1;
        self.fetch();
        let tree = if self.tok == Tok::Close {
            None
        } else {
            let t = self.reg_exp(nest + 1)?;
            if self.tok != Tok::Close {
                return Err(Fail::Invalid);
            }
            t
        };
        if sub <= 8 {
            self.completed |= 1 << sub;
        }
        match tree {
            Some(t) => Ok(t),
            None => self.leaf(Node::Empty),
        }
    }

    /// glibc's `fetch_number`: -1 nothing, -2 invalid.
    fn number(&mut self) -> i64 {
        let mut num: i64 = -1;
        loop {
            self.fetch();
            match self.tok {
                Tok::End => return -2,
                Tok::CloseDup | Tok::Char(b',') => return num,
                Tok::Char(c @ b'0'..=b'9') if num != -2 => {
                    let d = i64::from(c - b'0');
                    num = if num == -1 {
                        d
                    } else {
                        (num * 10 + d).min(i64::from(DUP_MAX) + 1)
                    };
                }
                _ => num = -2,
            }
        }
    }

    fn dup(&mut self, elem: Option<usize>) -> R<Option<usize>> {
        let (start, end): (u32, Option<u32>) = if self.tok == Tok::OpenDup {
            let mut start = self.number();
            if start == -1 {
                if self.tok == Tok::Char(b',') {
                    start = 0;
                } else {
                    return Err(Fail::Invalid);
                }
            }
            let mut end = -2;
            if start != -2 {
                end = match self.tok {
                    Tok::CloseDup => start,
                    Tok::Char(b',') => self.number(),
                    _ => -2,
                };
            }
            if start == -2 || end == -2 {
                return Err(Fail::Invalid);
            }
            if (end != -1 && start > end) || self.tok != Tok::CloseDup {
                return Err(Fail::Invalid);
            }
            if i64::from(DUP_MAX) < (if end == -1 { start } else { end }) {
                return Err(Fail::Invalid);
            }
            let s = u32::try_from(start).map_err(|_| Fail::Invalid)?;
            let e = if end == -1 {
                None
            } else {
                Some(u32::try_from(end).map_err(|_| Fail::Invalid)?)
            };
            (s, e)
        } else {
            match self.tok {
                Tok::Plus => (1, None),
                Tok::Question => (0, Some(1)),
                _ => (0, None),
            }
        };
        self.fetch();
        let Some(elem) = elem else { return Ok(None) };
        if start == 0 && end == Some(0) {
            return Ok(None);
        }
        // Stacked operators on x*, x+ or x? fold into one repetition (same
        // language), so that `a*****...` stays shallow.
        if let Node::Repeat(x, a, b) = self.nodes[elem] {
            let folded = match (a, b) {
                (0, None) => Some((0, None)),
                (1, None) => Some((start, None)),
                (0, Some(1)) => Some((0, end)),
                _ => None,
            };
            if let Some((min, max)) = folded {
                let d = self.depth[x] + 1;
                return Ok(Some(self.add(Node::Repeat(x, min, max), d)?));
            }
        }
        let d = self.depth[elem] + 1;
        Ok(Some(self.add(Node::Repeat(elem, start, end), d)?))
    }

    fn btok(&self) -> (BTok, usize) {
        let Some(&c) = self.p.get(self.i) else {
            return (BTok::End, 0);
        };
        if c == b'[' {
            let c2 = self.p.get(self.i + 1).copied().unwrap_or(0);
            return match c2 {
                b'.' => (BTok::OpenColl, 2),
                b'=' => (BTok::OpenEquiv, 2),
                b':' => (BTok::OpenClass, 2),
                _ => (BTok::Char(c), 1),
            };
        }
        (
            match c {
                b'-' => BTok::Range,
                b']' => BTok::Close,
                b'^' => BTok::NonMatch,
                _ => BTok::Char(c),
            },
            1,
        )
    }

    fn bracket_symbol(&mut self, kind: BTok) -> R<Elem> {
        let delim = match kind {
            BTok::OpenColl => b'.',
            BTok::OpenEquiv => b'=',
            _ => b':',
        };
        if self.i >= self.p.len() {
            return Err(Fail::Invalid);
        }
        let mut name = Vec::new();
        loop {
            if name.len() >= 32 {
                return Err(Fail::Invalid);
            }
            let ch = self.p[self.i];
            self.i += 1;
            if self.i >= self.p.len() {
                return Err(Fail::Invalid);
            }
            if ch == delim && self.p[self.i] == b']' {
                break;
            }
            name.push(ch);
        }
        self.i += 1;
        Ok(match kind {
            BTok::OpenColl => Elem::Coll(name),
            BTok::OpenEquiv => Elem::Equiv(name),
            _ => Elem::Class(name),
        })
    }

    fn bracket_element(&mut self, tok: BTok, len: usize, accept_hyphen: bool) -> R<Elem> {
        self.i += len;
        match tok {
            BTok::OpenColl | BTok::OpenEquiv | BTok::OpenClass => self.bracket_symbol(tok),
            BTok::Range => {
                if !accept_hyphen && self.btok().0 != BTok::Close {
                    return Err(Fail::Invalid);
                }
                Ok(Elem::Byte(b'-'))
            }
            BTok::Close => Ok(Elem::Byte(b']')),
            BTok::NonMatch => Ok(Elem::Byte(b'^')),
            BTok::Char(c) => Ok(Elem::Byte(c)),
            BTok::End => Err(Fail::Invalid),
        }
    }

    fn range_end(e: &Elem) -> R<u8> {
        match e {
            Elem::Byte(c) => Ok(*c),
            Elem::Coll(n) if n.len() == 1 => Ok(n[0]),
            _ => Err(Fail::Invalid),
        }
    }

    /// A bracket expression; the input is just past `[`.
    fn bracket(&mut self) -> R<Box<[bool; 256]>> {
        let mut set = Box::new([false; 256]);
        let (mut tok, mut len) = self.btok();
        if tok == BTok::End {
            return Err(Fail::Invalid);
        }
        let mut non_match = false;
        if tok == BTok::NonMatch {
            non_match = true;
            self.i += len;
            (tok, len) = self.btok();
            if tok == BTok::End {
                return Err(Fail::Invalid);
            }
        }
        if tok == BTok::Close {
            tok = BTok::Char(b']');
        }
        let mut first = true;
        loop {
            let start = self.bracket_element(tok, len, first)?;
            first = false;
            (tok, len) = self.btok();
            let mut range_end = None;
            if !matches!(start, Elem::Class(_) | Elem::Equiv(_)) {
                if tok == BTok::End {
                    return Err(Fail::Invalid);
                }
                if tok == BTok::Range {
                    self.i += len;
                    let (tok2, len2) = self.btok();
                    if tok2 == BTok::End {
                        return Err(Fail::Invalid);
                    }
                    if tok2 == BTok::Close {
                        // A last '-' is an ordinary character.
                        self.i -= len;
                        tok = BTok::Char(b'-');
                    } else {
                        range_end = Some(self.bracket_element(tok2, len2, true)?);
                        (tok, len) = self.btok();
                    }
                }
            }
            if let Some(end) = range_end {
                if matches!(start, Elem::Class(_) | Elem::Equiv(_))
                    || matches!(end, Elem::Class(_) | Elem::Equiv(_))
                {
                    return Err(Fail::Invalid);
                }
                let (a, b) = (Self::range_end(&start)?, Self::range_end(&end)?);
                if a > b {
                    return Err(Fail::Invalid);
                }
                for c in a..=b {
                    set[c as usize] = true;
                }
            } else {
                match start {
                    Elem::Byte(c) => set[c as usize] = true,
                    Elem::Coll(n) | Elem::Equiv(n) => {
                        if n.len() != 1 {
                            return Err(Fail::Invalid);
                        }
                        set[n[0] as usize] = true;
                    }
                    Elem::Class(n) => {
                        let f = class_named(&n).ok_or(Fail::Invalid)?;
                        for c in 0..=255u8 {
                            if f(c) {
                                set[c as usize] = true;
                            }
                        }
                    }
                }
            }
            if tok == BTok::End {
                return Err(Fail::Invalid);
            }
            if tok == BTok::Close {
                break;
            }
        }
        self.i += len;
        if non_match {
            for b in set.iter_mut() {
                *b = !*b;
            }
        }
        Ok(set)
    }
}

/// A set of text positions `0..=len`, as a bitset.
type PosSet = Vec<u64>;

fn put(s: &mut PosSet, i: usize) {
    s[i / 64] |= 1 << (i % 64);
}

fn union(into: &mut PosSet, from: &PosSet) {
    for (a, b) in into.iter_mut().zip(from) {
        *a |= *b;
    }
}

fn is_empty(s: &PosSet) -> bool {
    s.iter().all(|&w| w == 0)
}

fn members(s: &PosSet) -> impl Iterator<Item = usize> + '_ {
    s.iter().enumerate().flat_map(|(w, &bits)| {
        (0..64)
            .filter(move |b| bits & (1 << b) != 0)
            .map(move |b| w * 64 + b)
    })
}

/// Memoised sets allowed before giving up (as "no match"): 128 MiB of bitsets.
const MEMO_BUDGET_WORDS: usize = 16 << 20;

/// The memory budget ran out.
struct OverBudget;

struct Matcher<'a> {
    nodes: &'a [Node],
    text: &'a [u8],
    words: usize,
    /// Sets stored so far, for the budget.
    stored: usize,
    memo: HashMap<(usize, usize), Rc<PosSet>>,
    /// For a node `x`: the ends of `x*` from every position.
    star: HashMap<usize, Rc<Vec<PosSet>>>,
}

impl Matcher<'_> {
    fn word_before(&self, pos: usize) -> bool {
        pos > 0 && is_word(self.text[pos - 1])
    }

    fn word_after(&self, pos: usize) -> bool {
        self.text.get(pos).is_some_and(|&c| is_word(c))
    }

    fn holds(&self, a: Assert, pos: usize) -> bool {
        let (b, f) = (self.word_before(pos), self.word_after(pos));
        match a {
            Assert::LineFirst => pos == 0,
            Assert::LineLast => pos == self.text.len(),
            Assert::WordFirst => !b && f,
            Assert::WordLast => b && !f,
            Assert::WordDelim => b != f,
            Assert::NotWordDelim => b == f,
        }
    }

    fn empty(&self) -> PosSet {
        vec![0; self.words]
    }

    /// End positions of `node` matched from `start`.
    fn reach(&mut self, node: usize, start: usize) -> Result<Rc<PosSet>, OverBudget> {
        if let Some(r) = self.memo.get(&(node, start)) {
            return Ok(Rc::clone(r));
        }
        self.charge(1)?;
        let mut out = self.empty();
        let nodes = self.nodes;
        match &nodes[node] {
            Node::Empty => put(&mut out, start),
            Node::Set(s) => {
                if let Some(&c) = self.text.get(start)
                    && s[c as usize]
                {
                    put(&mut out, start + 1);
                }
            }
            Node::Assert(a) => {
                if self.holds(*a, start) {
                    put(&mut out, start);
                }
            }
            Node::Concat(parts) => {
                put(&mut out, start);
                for &p in parts {
                    out = self.apply(p, &out)?;
                }
            }
            Node::Alt(alts) => {
                for &a in alts {
                    let r = self.reach(a, start)?;
                    union(&mut out, &r);
                }
            }
            &Node::Repeat(sub, min, max) => {
                let mut cur = self.empty();
                put(&mut cur, start);
                cur = self.exactly(sub, cur, min)?;
                out = match max {
                    None => {
                        let star = self.star_of(sub)?;
                        let mut all = self.empty();
                        for p in members(&cur) {
                            union(&mut all, &star[p]);
                        }
                        all
                    }
                    Some(max) => self.up_to(sub, cur, max - min)?,
                };
            }
        }
        let out = Rc::new(out);
        self.memo.insert((node, start), Rc::clone(&out));
        Ok(out)
    }

    /// Account for `sets` more stored sets.
    fn charge(&mut self, sets: usize) -> Result<(), OverBudget> {
        self.stored = self.stored.saturating_add(sets);
        if self.stored.saturating_mul(self.words) > MEMO_BUDGET_WORDS {
            return Err(OverBudget);
        }
        Ok(())
    }

    /// The ends of `sub*` from every position, computed right to left: from `s`,
    /// the closure is `s` plus the closures of the later positions one `sub`
    /// reaches (matches never go backwards).
    fn star_of(&mut self, sub: usize) -> Result<Rc<Vec<PosSet>>, OverBudget> {
        if let Some(t) = self.star.get(&sub) {
            return Ok(Rc::clone(t));
        }
        let n = self.text.len();
        self.charge(n + 1)?;
        let mut table = vec![self.empty(); n + 1];
        for s in (0..=n).rev() {
            let mut out = self.empty();
            put(&mut out, s);
            let r = self.reach(sub, s)?;
            for x in members(&r).filter(|&x| x > s) {
                union(&mut out, &table[x]);
            }
            table[s] = out;
        }
        let table = Rc::new(table);
        self.star.insert(sub, Rc::clone(&table));
        Ok(table)
    }

    fn apply(&mut self, node: usize, from: &PosSet) -> Result<PosSet, OverBudget> {
        let mut out = self.empty();
        for s in members(from) {
            let r = self.reach(node, s)?;
            union(&mut out, &r);
        }
        Ok(out)
    }

    /// Positions reached after exactly `n` matches of `sub`.
    fn exactly(&mut self, sub: usize, mut cur: PosSet, n: u32) -> Result<PosSet, OverBudget> {
        let mut seen: HashMap<PosSet, u32> = HashMap::new();
        let mut history: Vec<PosSet> = Vec::new();
        let mut i = 0;
        while i < n {
            if is_empty(&cur) {
                return Ok(cur);
            }
            if let Some(&j) = seen.get(&cur) {
                // Periodic from step j on: jump to the equivalent step.
                let k = j + (n - j) % (i - j);
                return Ok(history[k as usize].clone());
            }
            seen.insert(cur.clone(), i);
            history.push(cur.clone());
            cur = self.apply(sub, &cur)?;
            i += 1;
        }
        Ok(cur)
    }

    /// Positions reached after at most `n` more matches.
    fn up_to(&mut self, sub: usize, cur: PosSet, n: u32) -> Result<PosSet, OverBudget> {
        let mut all = cur.clone();
        let mut frontier = cur;
        let mut i = 0u32;
        while i < n {
            let next = self.apply(sub, &frontier)?;
            let mut fresh = self.empty();
            for ((f, a), x) in fresh.iter_mut().zip(all.iter_mut()).zip(&next) {
                *f = x & !*a;
                *a |= x;
            }
            if is_empty(&fresh) {
                break;
            }
            frontier = fresh;
            i += 1;
        }
        Ok(all)
    }
}

/// Does `pattern` match somewhere in `text`?  Invalid or unsupported patterns
/// never match.
pub(crate) fn search(pattern: &[u8], text: &[u8]) -> bool {
    // Like C strings: stop at a NUL byte.
    let cut = |b: &[u8]| -> usize { b.iter().position(|&c| c == 0).unwrap_or(b.len()) };
    let pattern = &pattern[..cut(pattern)];
    let text = &text[..cut(text)];
    let parser = Parser {
        p: pattern,
        i: 0,
        tok: Tok::End,
        nodes: Vec::new(),
        depth: Vec::new(),
        nsub: 0,
        completed: 0,
    };
    let Ok((nodes, root)) = parser.parse() else {
        return false;
    };
    let Some(root) = root else { return true };
    let mut m = Matcher {
        nodes: &nodes,
        text,
        words: text.len() / 64 + 1,
        stored: 0,
        memo: HashMap::new(),
        star: HashMap::new(),
    };
    for s in 0..=text.len() {
        match m.reach(root, s) {
            Ok(r) if !is_empty(&r) => return true,
            Ok(_) => {}
            Err(OverBudget) => return false,
        }
    }
    false
}
