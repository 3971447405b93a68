#!/usr/bin/env python3
"""Summarises gpu_bench --block-clock files: one line per launch of where its blocks spend the launch.

usage: bench/block_clock.py DIR [DIR...]

Each DIR/<case>_<dtype>_<n>.csv holds one launch (block, multiprocessor, start_ns, first_data_ns, end_ns; times from
the launch's first block start). Printed per launch, in microseconds: the span (first start to last end), how far
block starts spread, the median and largest wait from a block's start to its first row group's data, the block end
times at percentiles 0/10/50/90/100, the median multiprocessor's last block end, and "busy": the multiprocessors'
time from their first block start to their last block end, as a share of all multiprocessors over the span (100%:
every multiprocessor works until the launch ends). Exit 2 on usage errors, 1 when a directory has no clock files.
"""
import csv
import glob
import os
import statistics
import sys


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))]


def summarise(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    start = [int(r["start_ns"]) / 1e3 for r in rows]
    first = [int(r["first_data_ns"]) / 1e3 for r in rows]
    end = [int(r["end_ns"]) / 1e3 for r in rows]
    per_sm = {}
    for r, s, e in zip(rows, start, end):
        lo, hi = per_sm.get(r["multiprocessor"], (s, e))
        per_sm[r["multiprocessor"]] = (min(lo, s), max(hi, e))
    span = max(end)
    busy = sum(hi - lo for lo, hi in per_sm.values()) / (len(per_sm) * span) if span > 0 else 0.0
    waits = [f - s for s, f in zip(start, first)]
    sm_ends = sorted(hi for _, hi in per_sm.values())
    return (f"{os.path.basename(path)[:-4]:44s} blocks {len(rows):5d} on {len(per_sm):3d} SMs | span {span:7.1f} | "
            f"start spread {max(start):5.2f} | first data med {statistics.median(waits):5.2f} max {max(waits):5.2f} | "
            f"block ends p0 {min(end):7.1f} p10 {percentile(end, .1):7.1f} p50 {percentile(end, .5):7.1f} "
            f"p90 {percentile(end, .9):7.1f} max {span:7.1f} | SM last end p50 {sm_ends[len(sm_ends) // 2]:7.1f} | "
            f"busy {100 * busy:5.1f}%")


def main(argv):
    if len(argv) < 2 or any(a.startswith("-") for a in argv[1:]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    status = 0
    for d in argv[1:]:
        files = sorted(glob.glob(os.path.join(d, "*.csv")))
        if not files:
            print(f"ERROR: {d}: no block clock files (gpu_bench --block-clock {d})", file=sys.stderr)
            status = 1
        for f in files:
            line = summarise(f)
            if line:
                print(line)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
