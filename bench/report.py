"""Summarise bench/speed.sh's JSON lines: per workload and thread count, the median over
repetitions of each implementation's median step time (or inference time), and the ratio
strongid / reference (< 1: strongid faster)."""
import json, sys
from collections import defaultdict
from statistics import median

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = defaultdict(lambda: defaultdict(list))
for r in rows:
    groups[(r["name"], r["threads"])][r["impl"]].append(r)

print("| workload | threads | strongid | PyTorch | ratio | zuko | ratio vs zuko | val loss strongid / PyTorch | peak RSS MB strongid / PyTorch |")
print("|---|---|---|---|---|---|---|---|---|")
for (name, threads), impls in groups.items():
    infer = "median_s" in next(iter(impls.values()))[0]
    key, unit = ("median_s", "s") if infer else ("median_ms", "ms")
    t = {k: median(r[key] for r in v) for k, v in impls.items()}
    ours, ref = t.get("strongid"), t.get("torch")
    zuko = next((k for k in t if k.startswith("zuko")), None)
    val = lambda k: median(r["val_loss"] for r in impls[k]) if not infer and k in impls else float("nan")
    rss = lambda k: max((r["peak_rss_mb"] or float("nan")) for r in impls[k]) if k in impls else float("nan")
    cells = [name, threads, f"{ours:.3f} {unit}", f"{ref:.3f} {unit}", f"{ours / ref:.2f}",
             f"{t[zuko]:.3f} {unit} ({zuko})" if zuko else "", f"{ours / t[zuko]:.2f}" if zuko else "",
             "" if infer else f"{val('strongid'):.3f} / {val('torch'):.3f}", f"{rss('strongid'):.0f} / {rss('torch'):.0f}"]
    print("| " + " | ".join(str(c) for c in cells) + " |")
