#!/usr/bin/env python3
"""Picks a small corpus to commit from a large one, by coverage edges.

    pick-corpus.py BINARY N OUT_DIR INPUT_DIR [KEEP...]

Runs the fuzz target BINARY on each file of INPUT_DIR alone (a libFuzzer
merge of that one file, whose control file then lists every edge it
covers), then greedily picks the KEEP files and those adding the most
uncovered edges (smaller first on ties) until N files, and copies them to
OUT_DIR. Run it on the output of `cargo fuzz cmin` (hundreds of files).
"""
import os, shutil, subprocess, sys, tempfile

binary, limit, out, src, keep = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
names = sorted(os.listdir(src))
cov = {}
with tempfile.TemporaryDirectory() as tmp:
    one, empty, ctl = (os.path.join(tmp, d) for d in ("one", "empty", "ctl"))
    for name in names:
        for d in (one, empty):
            shutil.rmtree(d, ignore_errors=True)
            os.mkdir(d)
        shutil.copy(os.path.join(src, name), one)
        if os.path.exists(ctl):
            os.remove(ctl)  # an existing control file would resume the last merge
        subprocess.run([binary, "-merge=1", f"-merge_control_file={ctl}", "-max_len=1000000",
                        "-timeout=10", empty, one], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(ctl, encoding="utf-8", errors="replace") as f:
            cov[name] = {e for line in f if line.startswith("COV ") for e in line.split()[2:]}
size = {n: os.path.getsize(os.path.join(src, n)) for n in names}
every = set().union(*cov.values())
chosen = [n for n in keep if n in cov]
covered = set().union(*(cov[n] for n in chosen))
while len(chosen) < limit:
    best = max((n for n in names if n not in chosen), key=lambda n: (len(cov[n] - covered), -size[n]), default=None)
    if best is None or not cov[best] - covered:
        break
    chosen.append(best)
    covered |= cov[best]
os.makedirs(out, exist_ok=True)
for n in chosen:
    shutil.copy(os.path.join(src, n), out)
print(f"{len(chosen)} of {len(names)} files cover {len(covered)} of {len(every)} edges")
