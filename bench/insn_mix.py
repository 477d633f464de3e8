"""The instruction mix of a kernel's hot inner loop, read from a compiled object (objdump -d),
for docs/neon.md: evidence of a kernel's code quality where no ARM hardware is at hand to
time it. Static counts, not a benchmark: it runs nothing.

    python bench/insn_mix.py OBJDUMP OBJECT 'LABEL=NAME-SUBSTRING[|NAME-SUBSTRING...]' ...

For each LABEL, the functions whose demangled names contain one of the substrings; their
loops (the instructions from a backward branch's target up to the branch); the innermost
loop (one holding no other) with the most FMA instructions, then the highest FMA share,
then the fewest instructions, among those a suffix allows ('@fma=4,store=0': exactly so
many of a kind: fma, load, store, shuffle; '@has=st3': holding that mnemonic), printed as
one Markdown table row: FMAs, loads, stores, permutes/blends, the rest (address
arithmetic, compares, the branch, register moves), the total and the FMA share. An x86
FMA or permute with a memory operand is one instruction: counted as an FMA (permute),
and its load in 'loads' as well as in 'folded loads', not in the total twice.
"""
import re
import subprocess
import sys

A64_FMA = re.compile(r"^f(n?)m(la|ls|add|sub)$")
A64_SHUF = {"tbl", "tbx", "zip1", "zip2", "uzp1", "uzp2", "trn1", "trn2", "ext", "ins", "dup", "bsl", "bit",
            "bif", "rev64"}
X86_SHUF = re.compile(r"^v(perm|blend|shuf|unpck|insert|extract|movhl|movlh|movshdup|movsldup|movddup)")
BRANCH = re.compile(r"^(b(\.\w+)?|cbn?z|tbn?z|j\w+)$")
LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")


def functions(objdump, obj):
    """{demangled name: [(addr, mnemonic, operands)]} of every function in obj."""
    out = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", obj], capture_output=True, text=True,
                         check=True).stdout
    funcs, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        m = LINE.match(line)
        if m and cur is not None:
            cur.append((int(m.group(1), 16), m.group(2), m.group(3).split("<")[0].strip()))
    return funcs


def loops(insns):
    """(start, end) index ranges of the loops: a backward branch and its target."""
    index = {a: i for i, (a, _, _) in enumerate(insns)}
    found = []
    for i, (a, mn, ops) in enumerate(insns):
        if not BRANCH.match(mn):
            continue
        m = re.search(r"(?:^|[ ,])([0-9a-f]+)\s*$", ops)
        if not m:
            continue
        t = int(m.group(1), 16)
        if t < a and t in index:
            found.append((index[t], i))
    return [(s, e) for s, e in found if not any(s <= s2 and e2 <= e and (s2, e2) != (s, e) for s2, e2 in found)]


def classify(mn, ops, x86):
    """(kind, fused load): kind one of fma, load, store, shuffle, other."""
    if x86:
        operands = re.split(r",(?![^()]*\))", ops) if ops else []
        mem = [i for i, o in enumerate(operands) if "(" in o]
        if mn.startswith(("vfmadd", "vfnmadd", "vfmsub", "vfnmsub")):
            return "fma", bool(mem)
        if mn.startswith("prefetch"):
            return "other", False
        if mem and mem[-1] == len(operands) - 1 and len(operands) > 1 and not mn.startswith(("cmp", "test")):
            return "store", False
        if X86_SHUF.match(mn):
            return "shuffle", bool(mem)
        if mem and not mn.startswith("lea"):
            return "load", False
        return "other", False
    if A64_FMA.match(mn):
        return "fma", False
    if mn.startswith("prfm"):
        return "other", False
    if mn.startswith("ld"):
        return "load", False
    if mn.startswith("st"):
        return "store", False
    if mn in A64_SHUF or (mn == "mov" and re.search(r"\.[sd]\[\d\]", ops)):
        return "shuffle", False
    return "other", False


def mix(insns, s, e, x86):
    c = {"fma": 0, "load": 0, "store": 0, "shuffle": 0, "other": 0, "fused": 0}
    for _, mn, ops in insns[s:e + 1]:
        k, fused = classify(mn, ops, x86)
        c[k] += 1
        c["fused"] += fused
    c["total"] = e - s + 1
    return c


def main(argv):
    if argv[1] == "--list":  # every innermost loop of the matching functions
        objdump, obj, names = argv[2], argv[3], argv[4]
        x86 = "aarch64" not in objdump
        for fname, insns in functions(objdump, obj).items():
            if any(n in fname for n in names.split("|")):
                print(fname[:160])
                for s, e in loops(insns):
                    print("   ", hex(insns[s][0]), hex(insns[e][0]), mix(insns, s, e, x86))
        return
    objdump, obj, specs = argv[1], argv[2], argv[3:]
    x86 = "aarch64" not in objdump
    funcs = functions(objdump, obj)
    print("| kernel | loop | FMA | folded loads | loads | stores | permutes | other | total | FMA share |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in specs:
        label, names = spec.split("=", 1)
        names, _, sel = names.partition("@")
        conds = [c.partition("=")[::2] for c in sel.split(",") if c]
        best = None
        for fname, insns in funcs.items():
            if not any(n in fname for n in names.split("|")):
                continue
            for s, e in loops(insns):
                c = mix(insns, s, e, x86)
                mns = {mn for _, mn, _ in insns[s:e + 1]}
                if any(v not in mns if k == "has" else c[k] != int(v) for k, v in conds):
                    continue
                key = (c["fma"], c["fma"] / c["total"], -c["total"])
                if best is None or key > best[0]:
                    best = (key, c, fname, insns[s][0], insns[e][0])
        if best is None:
            print(f"| {label} | (no loop found) | | | | | | | | |")
            continue
        _, c, fname, a0, a1 = best
        loads = c["load"] + c["fused"]
        print(f"| {label} | {a0:#x}-{a1:#x} | {c['fma']} | {c['fused']} | {loads} | {c['store']} | {c['shuffle']} | "
              f"{c['other']} | {c['total']} | {100 * c['fma'] / c['total']:.0f} % |")
        print(f"<!-- {label}: {fname} -->", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
