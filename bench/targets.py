#!/usr/bin/env python3
"""targets.py -- the issue's targets for zhibo-media-worker, checked against rtmp_hls_bench.py
JSONL output (--out files; several files are merged, repeats averaged). Stdlib only.

  CPU       per-stream server CPU (srv_cpu_per_stream) <= 0.5 x nginx-rtmp's at the same N and K,
            filesystem sink (label zhibo)
  memory    anon_per_stream_kb <= 1024 (1 MB) per stream
  dropped   no stream dropped at N = 200 (dropped == 0, i.e. streams_ok == N)
  latency   p95 keyframe-to-playlist delay (lat_seg_p95_s) <= 0.050 s, filesystem sink, judged on
            the K = 1 rows (one plain-flv publisher per stream); K > 1 rows carry the ffmpeg tee's
            ~45-55 ms and are shown for reference only

Usage: bench/targets.py bench/results/run-*.jsonl
"""

import json
import statistics
import sys

REF = "nginx-rtmp"
ZHIBO = ("zhibo", "zhibo-s3")
CPU_RATIO, MEM_KB, DROP_N, LAT_S = 0.5, 1024.0, 200, 0.050
NOISY_OTHER = 20.0  # other_cpu_pct above this (% of one core) flags a row as noisy


def load(paths):
    groups = {}
    for path in paths:
        with open(path) as f:
            for ln in f:
                r = json.loads(ln)
                if r.get("kind") == "run" and not r.get("error"):
                    k = min(r["n"], r.get("per_pub") or 1)
                    groups.setdefault((r["label"], r["n"], k), []).append(r)
    return groups


def mean(rs, key):
    vs = [r[key] for r in rs if r.get(key) is not None]
    return statistics.mean(vs) if vs else None


def notes(rs):
    out = []
    other = mean(rs, "other_cpu_pct")
    if other is not None and other > NOISY_OTHER:
        out.append("noisy: other %.0f%%" % other)
    sat = sorted({r["saturated"] for r in rs if r.get("saturated")})
    if sat:
        out.append("saturated: " + "; ".join(sat))
    if not all(r.get("probe_ok") for r in rs):
        out.append("probe FAIL")
    return out


def main(paths):
    g = load(paths)
    rows = []

    def row(target, label, n, k, val, ref, verdict, rs, ref_rs=None):
        extra = notes(rs) + ["%s %s" % (REF, x) for x in (notes(ref_rs) if ref_rs else [])]
        if extra:
            verdict += " (" + "; ".join(extra) + ")"
        rows.append("| %s | %s | %d | %d | %s | %s | %s |" % (target, label, n, k, val, ref, verdict))

    for label in ZHIBO:
        keys = sorted(k for k in g if k[0] == label)
        for _, n, k in keys:
            rs, ref_rs = g[(label, n, k)], g.get((REF, n, k))
            # CPU per stream vs nginx-rtmp
            c, rc = mean(rs, "srv_cpu_per_stream"), ref_rs and mean(ref_rs, "srv_cpu_per_stream")
            if c is not None and rc:
                ratio = c / rc
                if label == "zhibo":
                    verdict = "PASS" if ratio <= CPU_RATIO else "FAIL"
                else:
                    verdict = "info (S3 sink; SeaweedFS's own CPU is in other%)"
                row("CPU/stream <= %.1f x nginx-rtmp" % CPU_RATIO, label, n, k,
                    "%.3f %% (ratio **%.2f**)" % (c, ratio), "%.3f %%" % rc, verdict, rs, ref_rs)
            # memory per stream
            m, rm = mean(rs, "anon_per_stream_kb"), ref_rs and mean(ref_rs, "anon_per_stream_kb")
            if m is not None:
                row("memory/stream <= 1 MB", label, n, k, "%.0f kB" % m,
                    "%.0f kB" % rm if rm is not None else "-",
                    "PASS" if m <= MEM_KB else "FAIL", rs)
            # dropped streams
            if n == DROP_N:
                d = max(r.get("dropped", n) for r in rs)
                ref_ok = ",".join(str(r.get("streams_ok")) for r in ref_rs) if ref_rs else "-"
                row("no stream dropped at N=%d" % DROP_N, label, n, k,
                    "%s of %d ok" % (",".join(str(r.get("streams_ok")) for r in rs), n),
                    "%s of %d ok" % (ref_ok, n), "PASS" if d == 0 else "FAIL", rs)
            # p95 keyframe -> playlist
            p, rp = mean(rs, "lat_seg_p95_s"), ref_rs and mean(ref_rs, "lat_seg_p95_s")
            if p is not None:
                if label == "zhibo-s3":
                    verdict = "info (S3 sink: HTTP poll time, not the write time)"
                elif k == 1:
                    verdict = "PASS" if p <= LAT_S else "FAIL"
                else:
                    verdict = "ref only (K=%d: tee adds ~45-55 ms to every server)" % k
                excess = " (%+.3f s vs nginx-rtmp)" % (p - rp) if rp is not None else ""
                row("p95 keyframe->playlist <= %.0f ms" % (LAT_S * 1000), label, n, k,
                    "%.3f s%s" % (p, excess), "%.3f s" % rp if rp is not None else "-", verdict, rs)
    print("### Targets (zhibo-media-worker vs %s)" % REF)
    print()
    if not rows:
        print("(no zhibo runs in %s)" % ", ".join(paths))
        return
    print("| target | server | N | K | zhibo | %s | verdict |" % REF)
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(r)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
