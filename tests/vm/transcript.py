#!/usr/bin/env python3
"""Parse, show and compare the transcripts written by the guest (tests/vm/guest/lib.sh).

    transcript.py show TRANSCRIPT            print it for humans
    transcript.py follow                     the same, streaming from stdin (live)
    transcript.py compare REF OURS [--tsv F] [--strict]
                                             compare step by step after normalisation;
                                             print a report and a summary

Normalisation (applied to stdout and stderr of both sides before comparing; the
report shows the raw text):
  * carriage returns are dropped (the serial line);
  * hexadecimal numbers of 8 or more digits after "0x" become 0x<ADDR>: module load
    addresses in /proc/modules and anything else the kernel prints by address (root
    sees real addresses, and KASLR moves them between boots);
  * lines starting with "@@@TIME " are measurements (elapsed seconds) and are dropped;
  * nothing else: module sizes, use counts, holders and their order, messages and exit
    statuses must match exactly. Module sizes are the kernel's figure for the ELF
    image it was given; the same .ko loaded by either tool (whether the kernel or
    userspace decompressed it) gives the same size, so a size difference means a
    different image reached the kernel.
Not compared at all: the kernel log of each step (KMSG: asynchronous messages, e.g.
"random: crng init done", land in whichever step is running), the step's duration,
and steps marked nocmp (version strings: "kmod version 34.2 (kmod-rs ...)").
Steps marked diff are compared, but a difference is reported as expected-diff (kmod-rs
accepts what kmod 34.2 cannot, or refuses earlier with its own message) and does not
fail --strict.
"""
import difflib
import re
import sys

HEX = re.compile(r"0x[0-9a-fA-F]{8,}")
KTIME = re.compile(r"^\[ *[0-9]+\.[0-9]+\] ")


class Step:
    def __init__(self, sid, flags):
        self.id = sid
        self.flags = flags
        self.cmd = ""
        self.out = []
        self.err = []
        self.kmsg = []
        self.rc = None
        self.time = None
        self.complete = False

    def norm(self, lines):
        res = []
        for line in lines:
            if line.startswith("@@@TIME "):
                continue
            res.append(HEX.sub("0x<ADDR>", line))
        return res

    def key(self):
        return (self.rc, self.norm(self.out), self.norm(self.err))


class Transcript:
    def __init__(self, path):
        self.path = path
        self.header = ""
        self.steps = []
        self.done = False
        self.scenarios = []
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace").replace("\r", "")
        except FileNotFoundError:
            text = ""
        cur = None
        section = None
        t0 = None
        for line in text.split("\n"):
            if line.startswith("@@@BEGIN"):
                self.header = line[len("@@@BEGIN ") :]
            elif line.startswith("@@@SCENARIO "):
                self.scenarios.append(line.split(" ", 1)[1])
            elif line.startswith("@@@DONE"):
                self.done = True
            elif line.startswith("@@@STEP "):
                parts = line.split(" ")
                cur = Step(parts[1], parts[2] if len(parts) > 2 else "cmp")
                self.steps.append(cur)
                section = None
            elif cur is None:
                continue
            elif line.startswith("@@@CMD "):
                cur.cmd = line[len("@@@CMD ") :]
            elif line.startswith("@@@T0 "):
                t0 = float(line.split()[1])
            elif line.startswith("@@@T1 "):
                if t0 is not None:
                    cur.time = float(line.split()[1]) - t0
            elif line == "@@@OUT":
                section = cur.out
            elif line == "@@@ERR":
                section = cur.err
            elif line == "@@@KMSG":
                section = cur.kmsg
            elif line.startswith("@@@RC "):
                cur.rc = int(line.split()[1])
                section = None
            elif line == "@@@END":
                cur.complete = True
                section = None
            elif section is not None:
                section.append(KTIME.sub("", line) if section is cur.kmsg else line)
        self.by_id = {s.id: s for s in self.steps}


def show(path, out=sys.stdout):
    t = Transcript(path)
    if t.header:
        out.write(f"# {t.header}\n")
    for s in t.steps:
        out.write(f"\n$ {s.cmd}\n")
        for stream in (s.out, s.err):
            text = "\n".join(stream)
            if text and not text.endswith("\n"):
                text += "\n(no newline at end)\n"
            out.write(text)
        extra = f" ({s.time:.2f}s)" if s.time is not None else ""
        out.write(f"[{s.id}: exit {s.rc}{extra}]\n")
    if not t.done:
        out.write("\n(transcript incomplete: the guest did not finish)\n")


def follow(inp=sys.stdin, out=sys.stdout):
    section = None
    pending = []
    step = None

    def flush():
        text = "\n".join(pending)
        if section == "kmsg":
            for line in text.split("\n"):
                if line:
                    out.write(f"  | kernel: {KTIME.sub('', line)}\n")
        elif text:
            out.write(text if text.endswith("\n") else text + "\n")
        pending.clear()

    for raw in inp:
        line = raw.rstrip("\n").replace("\r", "")
        if line.startswith("@@@") and section is not None and not line.startswith("@@@TIME "):
            flush()
            section = None
        if line.startswith("@@@BEGIN "):
            out.write(f"# guest: {line[9:]}\n")
        elif line.startswith("@@@STEP "):
            step = line.split(" ")[1]
        elif line.startswith("@@@CMD "):
            out.write(f"\n$ {line[7:]}\n")
        elif line in ("@@@OUT", "@@@ERR"):
            section = "out"
        elif line == "@@@KMSG":
            section = "kmsg"
        elif line.startswith("@@@RC "):
            out.write(f"[{step}: exit {line.split()[1]}]\n")
        elif line.startswith("@@@DONE"):
            out.write("\n# guest: done, powering off\n")
        elif section is not None:
            pending.append(line)
        out.flush()


def compare(ref_path, ours_path, tsv=None, strict=False):
    ref = Transcript(ref_path)
    ours = Transcript(ours_path)
    rows = []
    report = []
    counts = {"same": 0, "DIFF": 0, "expected-diff": 0, "missing": 0, "nocmp": 0}
    ids = [s.id for s in ref.steps] + [s.id for s in ours.steps if s.id not in ref.by_id]
    for sid in ids:
        r = ref.by_id.get(sid)
        o = ours.by_id.get(sid)
        if r is None or o is None or not r.complete or not o.complete:
            status = "missing"
        elif "nocmp" in (r.flags, o.flags):
            status = "nocmp"
        elif r.key() == o.key():
            status = "same"
        elif "diff" in (r.flags, o.flags):
            status = "expected-diff"
        else:
            status = "DIFF"
        counts[status] += 1
        rrc = "-" if r is None else r.rc
        orc = "-" if o is None else o.rc
        rows.append((sid, rrc, orc, status))
        if status in ("DIFF", "expected-diff", "missing") and r is not None and o is not None:
            note = " (expected: kmod-rs is meant to differ here)" if status == "expected-diff" else ""
            report.append(f"\n--- {sid}{note}: $ {r.cmd}")
            if r.rc != o.rc:
                report.append(f"    exit: kmod {r.rc}, kmod-rs {o.rc}")
            for name, a, b in (("stdout", r.out, o.out), ("stderr", r.err, o.err)):
                na, nb = r.norm(a), o.norm(b)
                if na != nb:
                    d = list(difflib.unified_diff(na, nb, f"kmod {name}", f"kmod-rs {name}", lineterm="", n=2))
                    if len(d) > 40:
                        d = d[:40] + [f"... ({len(d) - 40} more diff lines)"]
                    report.extend("    " + x for x in d)
    print(f"{'step':<28} {'kmod':>5} {'ours':>5}  status")
    for sid, rrc, orc, status in rows:
        print(f"{sid:<28} {rrc!s:>5} {orc!s:>5}  {status}")
    if report:
        print("\nDifferences (after normalisation; see tests/vm/transcript.py):")
        print("\n".join(report))
    print(
        f"\nsummary: {counts['same']} same, {counts['DIFF']} differ, "
        f"{counts['expected-diff']} differ as expected, "
        f"{counts['missing']} missing/incomplete, {counts['nocmp']} not compared; "
        f"kmod transcript {'complete' if ref.done else 'INCOMPLETE'}, "
        f"kmod-rs transcript {'complete' if ours.done else 'INCOMPLETE'}"
    )
    if tsv:
        with open(tsv, "w") as f:
            f.write("step\tkmod_rc\tours_rc\tstatus\n")
            for row in rows:
                f.write("\t".join(str(x) for x in row) + "\n")
    if strict and (counts["DIFF"] or counts["missing"] or not ref.done or not ours.done):
        return 1
    return 0


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "show":
        show(args[1])
        return 0
    if args == ["follow"]:
        follow()
        return 0
    if len(args) >= 3 and args[0] == "compare":
        tsv = None
        strict = "--strict" in args
        if "--tsv" in args:
            tsv = args[args.index("--tsv") + 1]
        return compare(args[1], args[2], tsv, strict)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
