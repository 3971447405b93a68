#!/usr/bin/env python3
"""PyTorch's time for the same work as bench/gpu_bench, on the same device in the same run, merged with
gpu_bench's CSV into the table of docs/performance.md.

    python3 bench/torch_bench.py --ours ours.csv [--ours again.csv] [--base base.csv ...] [--quick]
                                 [--stream-launches] [--markdown table.md] [--layouts]

--layouts: instead of the table's cases, the cases and dtypes the --ours files hold, which are gpu_bench --shape
cases named by their layout ("[fused add |fused add+post ]shape=(..) stride=(..) offset=N"); exit 2 on a name that
is not one.

Several --ours (or --base) files: passes of the same binary, their times averaged per case. --base: a previous
build's gpu_bench passes from the same run, shown as "base us" and base/ours (> 1: the new build is faster).
"% of same-size copy": a device-to-device cudaMemcpy of the case's bytes (gpu_bench's copy_same_us) over our time;
"% of layout copy": gpu_bench's layout copy (the case's own reads and writes, no arithmetic: layout_copy_us) over
our time.

Same layouts, same rotation rule (enough input sets to exceed 3x L2), CUDA events, warm-up, median of batches,
each batch one replay of a CUDA graph of the calls (as gpu_bench; --stream-launches: plain launches).
RMSNorm is torch.nn.functional.rms_norm on the strided view itself (zero-copy, as a caller would pass it);
fused add is what an eager model does: s = x + residual (+ post); out = rms_norm(s) (s is residual_out).
"""
import argparse
import csv
import re
import statistics
import sys

import torch
import torch.nn.functional as F

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def cases(quick):
    tokens = [16384] if quick else [2048, 16384]
    out = []
    for t in tokens:
        for h in (4096, 8192):
            out.append((f"contiguous {t}x{h}", "rms", False, (t, h), (h, 1), 0, t * h))
    for t in tokens:
        out.append((f"qkv Q slice {t}x32x128", "rms", False, (t, 32, 128), (6144, 128, 1), 0, t * 6144))
        out.append((f"qkv K slice {t}x8x128", "rms", False, (t, 8, 128), (6144, 128, 1), 4096, t * 6144))
    out.append(("row-padded 16384x4096 pitch 5120", "rms", False, (16384, 4096), (5120, 1), 0, 16384 * 5120))
    out.append(("contiguous 4096x16384", "rms", False, (4096, 16384), (16384, 1), 0, 4096 * 16384))
    out.append(("fused add 4096x16384", "fused", False, (4096, 16384), (16384, 1), 0, 4096 * 16384))
    for t in tokens:
        out.append((f"fused add {t}x4096", "fused", False, (t, 4096), (4096, 1), 0, t * 4096))
        out.append((f"fused add+post {t}x4096", "fused", True, (t, 4096), (4096, 1), 0, t * 4096))
    return out


def median_batch_ms(run_batch, batches, calls_per_batch):
    """Median over batches of (event time around run_batch()) / calls_per_batch, in milliseconds."""
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(batches):
        a.record()
        run_batch()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / calls_per_batch)
    return statistics.median(times)


def median_ms(fn, nsets, batches=30, reps=10):
    for i in range(3 * nsets + 10):
        fn(i % nsets)
    torch.cuda.synchronize()
    nxt = [0]

    def batch():
        for _ in range(reps):
            fn(nxt[0] % nsets)
            nxt[0] += 1

    return median_batch_ms(batch, batches, reps)


def median_graph_ms(fn, nsets, batches=30):
    """The calls captured into one CUDA graph (max(10, nsets) calls rotating through the sets), replayed per batch:
    the GPU's time alone, as gpu_bench measures its own (eager PyTorch's host cost per call is about the kernel's
    own time for the 2048-token cases, and would otherwise be what gets timed)."""
    reps = max(10, nsets)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for i in range(3 * nsets + 10):
            fn(i % nsets)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(reps):
            fn(i % nsets)
    for _ in range(3):
        g.replay()
    torch.cuda.synchronize()
    ms = median_batch_ms(g.replay, batches, reps)
    del g
    return ms


LAYOUT_NAME = re.compile(r"^(fused add\+post |fused add )?shape=\(([-0-9,]*)\) stride=\(([-0-9,]*)\) offset=(-?[0-9]+)$")


def layout_case(name):
    """(name, op, post, shape, stride, offset, storage) of a gpu_bench --shape case's name, or None."""
    m = LAYOUT_NAME.match(name)
    if not m:
        return None
    tup = lambda t: tuple(int(v) for v in t.split(",") if v != "")
    shape, stride, offset = tup(m.group(2)), tup(m.group(3)), int(m.group(4))
    if len(shape) != len(stride) or not shape:
        return None
    top = offset + sum((n - 1) * st for n, st in zip(shape, stride) if st > 0)
    op = "fused" if m.group(1) else "rms"
    return (name, op, m.group(1) == "fused add+post ", shape, stride, offset, top + 1)


def merge_passes(paths):
    """Per (case, dtype): the first file's row, with us and gbs averaged over every file's pass."""
    merged = {}
    for path in paths:
        for r in csv.DictReader(open(path)):
            key = (r["case"], r["dtype"])
            if key not in merged:
                merged[key] = dict(r, us_list=[], gbs_list=[])
            merged[key]["us_list"].append(float(r["us"]))
            merged[key]["gbs_list"].append(float(r["gbs"]))
            for col in ("copy_same_us", "layout_copy_us", "overlap_us"):
                if r.get(col):
                    merged[key].setdefault(col + "_list", []).append(float(r[col]))
    for r in merged.values():
        for col in ("copy_same_us", "layout_copy_us", "overlap_us"):
            if r.get(col + "_list"):
                r[col] = statistics.mean(r[col + "_list"])
        r["us"] = statistics.mean(r["us_list"])
        r["gbs"] = statistics.mean(r["gbs_list"])
        r["of_copy"] = r["gbs"] / float(r["copy_gbs"])
    return merged


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True, action="append", help="CSV written by gpu_bench --csv (repeatable)")
    ap.add_argument("--base", action="append", default=[], help="a previous build's gpu_bench CSV (repeatable)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--stream-launches", action="store_true",
                    help="time plain launches from Python instead of graph replays (gpu_bench --stream-launches)")
    ap.add_argument("--markdown", help="also write the merged table here")
    ap.add_argument("--layouts", action="store_true",
                    help="time the layouts the --ours files hold (gpu_bench --shape cases), not the table's cases")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("PyTorch benchmark skipped: no device")
        return 0
    ours, base = merge_passes(args.ours), merge_passes(args.base) if args.base else None
    todo = [(c, dn) for c in cases(args.quick) for dn in DTYPES]
    if args.layouts:
        todo = []
        for name, dn in ours:
            c = layout_case(name)
            if c is None or dn not in DTYPES:
                print(f"ERROR: --layouts: {name} {dn} in {args.ours} is not a gpu_bench --shape case", file=sys.stderr)
                return 2
            todo.append((c, dn))
    props = torch.cuda.get_device_properties(0)
    l2 = props.L2_cache_size
    dev = torch.device("cuda")

    n = 1 << 29  # 1 GiB of bytes: torch's own device-to-device copy, for comparison with gpu_bench's ceiling
    src = torch.empty(n, dtype=torch.uint8, device=dev).fill_(60)
    dst = torch.empty_like(src)
    copy_ms = median_ms(lambda i: dst.copy_(src), 1, batches=10, reps=3)
    del src, dst
    print(f"torch {torch.__version__}, {props.name}; torch copy: {2 * n / (copy_ms * 1e-3) / 1e9:.0f} GB/s")

    rows = []
    for (name, op, post, shape, stride, offset, storage), dn in todo:
        dt = DTYPES[dn]
        numel, hidden = 1, shape[-1]
        for s in shape:
            numel *= s
        es = torch.tensor([], dtype=dt).element_size()
        need = (2 * numel + hidden + ((3 if post else 2) * numel if op == "fused" else 0)) * es
        nsets = max(2, min(24, int(3 * l2 / need) + 1))
        sets = []
        for _ in range(nsets):
            src = (torch.rand(storage, device=dev) * 1.75 + 0.25) * (torch.randint(0, 2, (storage,), device=dev) * 2 - 1)
            x = torch.as_strided(src.to(dt), shape, stride, offset)
            w = (torch.rand(hidden, device=dev) + 0.5).to(dt)
            res = torch.randn(shape, device=dev).to(dt) if op == "fused" else None
            p = torch.randn(shape, device=dev).to(dt) if post else None
            sets.append((x, w, res, p))
        if op == "rms":
            fn = lambda i: F.rms_norm(sets[i][0], (hidden,), sets[i][1], 1e-6)
        elif post:
            fn = lambda i: F.rms_norm(sets[i][0] + (sets[i][2] + sets[i][3]), (hidden,), sets[i][1], 1e-6)
        else:
            fn = lambda i: F.rms_norm(sets[i][0] + sets[i][2], (hidden,), sets[i][1], 1e-6)
        ms = median_ms(fn, nsets) if args.stream_launches else median_graph_ms(fn, nsets)
        o = ours.get((name, dn))
        if o is None:
            print(f"ERROR: {name} {dn} missing from {args.ours}", file=sys.stderr)
            return 1
        ours_us, torch_us = float(o["us"]), ms * 1e3
        b = base.get((name, dn)) if base else None
        same = float(o["copy_same_us"]) if o.get("copy_same_us") else None
        lay = float(o["layout_copy_us"]) if o.get("layout_copy_us") else None
        over = float(o["overlap_us"]) if o.get("overlap_us") else None
        rows.append((name, dn, ours_us, float(o["gbs"]), 100 * float(o["of_copy"]), torch_us,
                     need / (ms * 1e-3) / 1e9, torch_us / ours_us, o["cpu_match"],
                     float(b["us"]) if b else None, 100 * same / ours_us if same else None,
                     100 * lay / ours_us if lay else None, over,
                     100 * float(o["of_copy"]) * ours_us / over if over else None))
        del sets
        torch.cuda.empty_cache()

    head = ("| case | dtype | ours us | ours GB/s | % of copy | % of same-size copy | % of layout copy | torch us"
            " | torch GB/s | torch/ours | GPU==CPU |")
    rule = "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    # Ours again with every call launched to overlap the previous one (programmatic dependent launch), where the
    # CSVs have it: a separate column, since no other column's side (copies, PyTorch) is launched so.
    overlap = any(r[12] for r in rows)
    if overlap:
        head += " overlap us | overlap % of copy |"
        rule += " ---: | ---: |"
    if base:
        head += " base us | base/ours |"
        rule += " ---: | ---: |"
    lines = [head, rule]
    for r in rows:
        same = f"{r[10]:.1f}%" if r[10] else "-"
        lay = f"{r[11]:.1f}%" if r[11] else "-"
        line = (f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.0f} | {r[4]:.1f}% | {same} | {lay} | {r[5]:.1f} | {r[6]:.0f}"
                f" | {r[7]:.2f}x | {r[8]} |")
        if overlap:
            line += f" {r[12]:.1f} | {r[13]:.1f}% |" if r[12] else " - | - |"
        if base:
            line += f" {r[9]:.1f} | {r[9] / r[2]:.2f}x |" if r[9] else " - | - |"
        lines.append(line)
    table = "\n".join(lines)
    if args.markdown:
        open(args.markdown, "w").write(table + "\n")
    print(table)
    slower = [r for r in rows if r[7] < 1.0]
    print(f"cases slower than PyTorch: {len(slower)}" + "".join(f"\n  {r[0]} {r[1]}: {r[7]:.2f}x" for r in slower))
    return 0


if __name__ == "__main__":
    sys.exit(main())
