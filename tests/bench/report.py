#!/usr/bin/env python3
"""Summarise one loopns benchmark run (tests/bench/run-bench.sh).

    report.py OUTDIR

Reads OUTDIR/<kver>/raw/ (what the guest wrote: fio JSON, control-path,
memory and scale results) and writes
    OUTDIR/<kver>.json   every repetition, medians and ratios of one kernel
    OUTDIR/results.md    markdown tables for all kernels
    OUTDIR/summary.md    targets and headline numbers, kernels side by side
                         (the README's "Where we stand")
    OUTDIR/chart.dat     log2 of the fio ratios, one gnuplot index per kernel
    OUTDIR/chart.vars    gnuplot variables for tests/bench/chart.gp

Ratios are the median of the per-repetition ratios: the targets of one
workload run back to back in every repetition, so pairing them cancels
slow drifts of the (shared, emulated) machine. Nothing here judges a
number: the exit status is non-zero only if results are missing or broken.
"""
import glob
import json
import math
import os
import re
import statistics
import sys

TARGETS = ("loopns", "loop", "raw")
WORKLOAD_ORDER = [
    "seqread-1m-qd1-j1", "seqread-1m-qd1-j2",
    "randread-4k-qd1-j1", "randread-4k-qd1-j2",
    "randread-4k-qd32-j1", "randread-4k-qd32-j2",
    "seqwrite-1m-qd1-j1", "seqwrite-1m-qd1-j2",
    "randwrite-4k-qd1-j1", "randwrite-4k-qd1-j2",
    "randwrite-4k-qd32-j1", "randwrite-4k-qd32-j2",
]


def load(path):
    with open(path) as f:
        return json.load(f)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def wl_key(w):
    return WORKLOAD_ORDER.index(w) if w in WORKLOAD_ORDER else len(WORKLOAD_ORDER)


def is_seq(w):
    return w.startswith("seq")


def direction(w):
    return "read" if "read" in w.split("-")[0] else "write"


def fmt(v, digits=None):
    if v is None:
        return "n/a"
    if digits is None:
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    return f"{v:.{digits}f}"


def fmt_ratio(v):
    return "n/a" if v is None else f"{v:.2f}x"


def fmt_ratio_spread(row, key):
    """Median ratio and, with several repetitions, their range."""
    v, reps = row.get(key), row.get(key + "_reps") or []
    if v is None:
        return "n/a"
    if len(reps) < 2:
        return f"{v:.2f}x"
    return f"{v:.2f}x ({min(reps):.2f}-{max(reps):.2f})"


def parse_fio(raw, problems):
    """{(backing, mode, workload): {target: [per-rep dict]}} (mode "hot" for
    the page-cache-hot case) and the per-repetition metadata."""
    runs = {}
    metas = []
    for meta_path in sorted(glob.glob(os.path.join(raw, "fio", "r*.meta.json"))):
        meta = load(meta_path)
        metas.append(meta)
        res_path = meta_path.replace(".meta.json", ".json")
        if not os.path.exists(res_path):
            problems.append(f"fio: no result for repetition {meta['rep']}")
            continue
        try:
            data = load(res_path)
        except ValueError as e:
            problems.append(f"fio: {res_path}: {e}")
            continue
        for job in data.get("jobs", []):
            name, _, target = job["jobname"].partition("@")
            backing, mode, w = name.split(".", 2)
            d = direction(w)
            st = job[d]
            pct = st.get("clat_ns", {}).get("percentile", {})
            p99 = pct.get("99.000000")
            sample = {
                "rep": meta["rep"],
                "iops": st["iops"],
                "mib_s": st["bw_bytes"] / 2**20,
                "p99_us": p99 / 1000 if p99 is not None else None,
                "error": job.get("error", 0),
            }
            if sample["error"]:
                problems.append(f"fio: {job['jobname']} rep {meta['rep']}: fio error {sample['error']}")
            elif st["io_bytes"] == 0:
                problems.append(f"fio: {job['jobname']} rep {meta['rep']}: no I/O done")
            runs.setdefault((backing, mode, w), {}).setdefault(target, []).append(sample)
    return runs, metas


def summarise_fio(runs):
    rows = []
    for (backing, mode, w) in sorted(runs, key=lambda k: (k[0] != "tmpfs", k[1] != "buffered", wl_key(k[2]))):
        per = runs[(backing, mode, w)]
        metric = "mib_s" if is_seq(w) else "iops"
        row = {"backing": backing, "mode": mode, "workload": w,
               "metric": "MiB/s" if metric == "mib_s" else "IOPS"}
        by_rep = {}
        for t in TARGETS:
            samples = per.get(t, [])
            row[t] = median([s[metric] for s in samples])
            row[t + "_p99_us"] = median([s["p99_us"] for s in samples])
            row[t + "_reps"] = [s[metric] for s in samples]
            for s in samples:
                by_rep.setdefault(s["rep"], {})[t] = s[metric]
        for other in ("loop", "raw"):
            rs = [ratio(r.get("loopns"), r.get(other)) for r in by_rep.values()]
            rs = [x for x in rs if x is not None]
            row[f"loopns_vs_{other}"] = median(rs)
            row[f"loopns_vs_{other}_reps"] = rs
        rows.append(row)
    return rows


def summarise_control(raw):
    rates = {}
    for p in sorted(glob.glob(os.path.join(raw, "control", "r*_*.json"))):
        m = re.match(r"r(\d+)_(.*)\.json$", os.path.basename(p))
        try:
            d = load(p)
        except ValueError:
            continue
        rates.setdefault(m.group(2), {})[int(m.group(1))] = d.get("rate")
    out = {name: {"median": median(list(v.values())), "reps": v} for name, v in rates.items()}

    def paired(a, b):
        if a not in rates or b not in rates:
            return None
        return median([ratio(rates[a].get(r), rates[b].get(r)) for r in rates[a]])
    out["_ratios"] = {
        "attach_single_loopns_vs_loop": paired("attach_loopns_1", "attach_loop_1"),
        "attach_parallel_loopns_2inst_vs_loop_2proc": paired("attach_loopns_2inst", "attach_loop_2proc"),
        "attach_loopns_2inst_vs_1": paired("attach_loopns_2inst", "attach_loopns_1"),
        "attach_loop_2proc_vs_1": paired("attach_loop_2proc", "attach_loop_1"),
    }
    lat = {}
    for p in sorted(glob.glob(os.path.join(raw, "control", "lat*_*.json"))):
        m = re.match(r"lat(\d+)_(.*)\.json$", os.path.basename(p))
        try:
            lat.setdefault(m.group(2), []).append(load(p))
        except ValueError:
            continue
    out["_latency"] = {drv: {k: median([d[k] for d in v]) for k in ("binds", "p50_us", "p99_us")}
                       for drv, v in lat.items()}
    # Ratios per repetition (both drivers measured taking turns), then
    # their median, as for the rates.
    if "loopns" in lat and "loop" in lat:
        out["_latency_ratios"] = {k: median([ratio(a[k], b[k]) for a, b in zip(lat["loopns"], lat["loop"])])
                                  for k in ("p50_us", "p99_us")}
    return out


def mem_delta(a, b, field="MemFree"):
    """Memory taken from a to b in KiB (positive: b uses more)."""
    if field == "MemFree":
        # Free pages on the per-cpu lists are not in MemFree (older runs
        # did not record them).
        return (a["MemFree"] + a.get("PcpFree", 0)) - (b["MemFree"] + b.get("PcpFree", 0))
    return b[field] - a[field]


def per_device(d, n, frm, to):
    res = {}
    for f in ("MemFree", "Slab", "SUnreclaim", "Percpu", "VmallocUsed", "KernelStack"):
        res[f] = mem_delta(d[frm], d[to], f) * 1024 / n
    return res


def summarise_memory(raw):
    out = {}
    for drv in ("loopns", "loop"):
        reps = []
        for p in sorted(glob.glob(os.path.join(raw, "memory", f"r*_{drv}.json"))):
            try:
                reps.append(load(p))
            except ValueError:
                continue
        if not reps:
            continue
        n = reps[0]["devices"]
        idle = [per_device(d, d["devices"], "idle0", "added") for d in reps]
        bound = [per_device(d, d["devices"], "idle0", "bound") for d in reps]
        bind_inc = [per_device(d, d["devices"], "added", "bound") for d in reps]
        left = [mem_delta(d["idle0"], d["after"]) for d in reps]
        out[drv] = {
            "devices": n,
            "idle_bytes_per_device": {f: median([x[f] for x in idle]) for f in idle[0]},
            "bound_bytes_per_device": {f: median([x[f] for x in bound]) for f in bound[0]},
            "bind_increment_bytes_per_device": {f: median([x[f] for x in bind_inc]) for f in bind_inc[0]},
            "left_after_teardown_kib": median(left),
            "add_s": median([d["add_s"] for d in reps]),
            "bind_s": median([d["bind_s"] for d in reps]),
            "teardown_s": median([d["teardown_s"] for d in reps]),
            "workers": reps[0].get("workers"),
            "slab_top_added": reps[-1].get("slab_top_added"),
            "slab_top_bound": reps[-1].get("slab_top_bound"),
            "reps": reps,
        }
    return out


def summarise_scale(raw, problems):
    p = os.path.join(raw, "scale.json")
    if not os.path.exists(p):
        problems.append("scale: no result")
        return None
    try:
        d = load(p)
    except ValueError as e:
        problems.append(f"scale: {e}")
        return None
    if "error" in d:
        problems.append(f"scale: {d['error']}")
        return d
    n = d["instances"] * d["devices_per_instance"]
    d["devices"] = n
    d["bytes_per_idle_device"] = mem_delta(d["idle0"], d["added"]) * 1024 / n
    d["bytes_per_bound_device"] = mem_delta(d["idle0"], d["bound"]) * 1024 / n
    d["left_after_teardown_kib"] = mem_delta(d["idle0"], d["after"])
    d["teardown_ms_per_device"] = d["teardown_s"] * 1000 / n
    if "loop_teardown_s" in d:
        # loop's teardown took turns with loopns's (bench-attach scale).
        d["loop_teardown_ms_per_device"] = d["loop_teardown_s"] * 1000 / d["loop_devices"]
    else:
        # Runs before 20261204: loop's alone, after loopns's.
        try:
            lp = load(os.path.join(raw, "scale_loop.json"))
            if "error" not in lp:
                d["loop_devices"] = lp["devices"]
                d["loop_teardown_s"] = lp["teardown_s"]
                d["loop_teardown_ms_per_device"] = lp["teardown_s"] * 1000 / lp["devices"]
        except (OSError, ValueError):
            pass
    if d.get("left_sysfs") or d.get("left_mounts") or not d.get("rmmod_ok"):
        problems.append("scale: something was left behind (sysfs %s, mounts %s, rmmod ok %s)"
                        % (d.get("left_sysfs"), d.get("left_mounts"), d.get("rmmod_ok")))
    return d


def summarise_broker(raw):
    """Mount broker vs fuse2fs: medians and ratios (None when not run)."""
    p = os.path.join(raw, "broker.json")
    if not os.path.exists(p):
        return None
    d = load(p)
    out = {"size_mib": d.get("size_mib")}
    for k in ("broker_mount_ms", "fuse2fs_mount_ms", "broker_read_mibs", "fuse2fs_read_mibs"):
        out[k] = median(d.get(k) or [])
    out["mount_time_fuse2fs_vs_broker"] = ratio(out["fuse2fs_mount_ms"], out["broker_mount_ms"])
    out["read_broker_vs_fuse2fs"] = ratio(out["broker_read_mibs"], out["fuse2fs_read_mibs"])
    return out


def targets(fio_rows, hot_rows, control, memory, scale):
    """Where loopns stands against the targets of the benchmark issue."""
    res = []

    def status(ok):
        return "n/a" if ok is None else ("met" if ok else "NOT met")

    rs = [(r["loopns_vs_loop"], r) for r in fio_rows if r["loopns_vs_loop"] is not None]
    if rs:
        below = sorted([x for x in rs if x[0] < 1.0], key=lambda x: x[0])
        worst = ", ".join(f"{r['backing']}/{r['mode']}/{r['workload']} {v:.2f}x" for v, r in below[:4])
        res.append({"target": "loopns >= 1.0x loop on every fio workload",
                    "value": f"{len(rs) - len(below)}/{len(rs)} workloads; min {min(v for v, _ in rs):.2f}x"
                             + (f" (lowest: {worst})" if worst else ""),
                    "status": status(not below)})
    hv = [(r["loopns_vs_loop"], r["backing"]) for r in hot_rows if r["loopns_vs_loop"] is not None]
    if hv:
        res.append({"target": ">= 3x loop, 4 KiB random reads QD1, page-cache-hot backing file",
                    "value": ", ".join(f"{b} {v:.2f}x" for v, b in hv),
                    "status": status(all(v >= 3 for v, _ in hv))})
    pv = [(r["loopns_vs_loop"], r) for r in fio_rows
          if r["workload"].startswith("randread-4k") and r["workload"][-3:] in ("-j2", "-j4")
          and r["loopns_vs_loop"] is not None]
    if pv:
        res.append({"target": ">= 1.5x loop, parallel 4 KiB random reads (numjobs 2 and 4)",
                    "value": f"min {min(v for v, _ in pv):.2f}x over {len(pv)} ("
                             + ", ".join(f"{r['backing']}/{r['mode']}/{r['workload'].replace('randread-4k-', '')} {v:.2f}x"
                                         for v, r in pv) + ")",
                    "status": status(all(v >= 1.5 for v, _ in pv))})
    sv = [(r["loopns_vs_raw"], r) for r in fio_rows
          if r["mode"] == "dio" and r["workload"].startswith("seq") and r["loopns_vs_raw"] is not None]
    if sv:
        res.append({"target": ">= 0.9x raw backing file, direct-I/O sequential transfers",
                    "value": f"min {min(v for v, _ in sv):.2f}x over {len(sv)} ("
                             + ", ".join(f"{r['backing']}/{r['workload']} {v:.2f}x" for v, r in sv) + ")",
                    "status": status(all(v >= 0.9 for v, _ in sv))})
    cr = (control or {}).get("_ratios", {})
    v = cr.get("attach_single_loopns_vs_loop")
    res.append({"target": ">= 1.0x loop attach+detach rate, 1 process",
                "value": fmt_ratio(v), "status": status(None if v is None else v >= 1.0)})
    v, lv = cr.get("attach_loopns_2inst_vs_1"), cr.get("attach_loop_2proc_vs_1")
    res.append({"target": ">= 1.8x its own 1-process attach+detach rate, 2 instances in parallel",
                "value": f"{fmt_ratio(v)} (loop, 2 processes: {fmt_ratio(lv)})",
                "status": status(None if v is None else v >= 1.8)})
    la = (control or {}).get("_latency", {})
    if "loopns" in la and "loop" in la:
        lr = (control or {}).get("_latency_ratios", {})
        for k in ("p50_us", "p99_us"):
            v = lr.get(k)
            res.append({"target": f"LOOP_CONFIGURE latency {k[:3]} <= 1.2x loop's",
                        "value": f"{fmt(la['loopns'][k])} / {fmt(la['loop'][k])} µs (medians); "
                                 f"median of the per-repetition ratios {fmt_ratio(v)}",
                        "status": status(None if v is None else v <= 1.2)})
    if scale and "loop_teardown_ms_per_device" in scale:
        a, b = scale["teardown_ms_per_device"], scale["loop_teardown_ms_per_device"]
        res.append({"target": "teardown per device, instances unmounted, <= loop deleting as many",
                    "value": f"{fmt(a)} / {fmt(b)} ms ({scale['instances']} x "
                             f"{scale['devices_per_instance']}; {fmt_ratio(ratio(a, b))})",
                    "status": status(a <= b)})
    if "loopns" in memory and "loop" in memory:
        a = memory["loopns"]["idle_bytes_per_device"]["MemFree"]
        b = memory["loop"]["idle_bytes_per_device"]["MemFree"]
        res.append({"target": "memory per idle device <= loop's",
                    "value": f"loopns {a / 1024:.1f} KiB, loop {b / 1024:.1f} KiB",
                    "status": status(a <= b)})
    return res


def kernel_report(outdir, kdir, problems):
    raw = os.path.join(kdir, "raw")
    k = os.path.basename(kdir)
    info_p = os.path.join(raw, "info.json")
    if not os.path.exists(info_p):
        problems.append(f"{k}: no info.json")
        return None
    info = load(info_p)
    runs, metas = parse_fio(raw, problems)
    # BENCH_SECTIONS: the parts run (the scale run is then not required).
    sections = info.get("sections", "all").split()
    fio_runs = {key: v for key, v in runs.items() if key[1] != "hot"}
    hot_runs = {key: v for key, v in runs.items() if key[1] == "hot"}
    rep = {
        "kernel": info.get("kernel", k),
        "info": info,
        "fio": summarise_fio(fio_runs),
        "fio_runs": metas,
        "hot": summarise_fio(hot_runs),
        "control": summarise_control(raw),
        "memory": summarise_memory(raw),
        "scale": (summarise_scale(raw, problems)
                  if sections == ["all"] or "scale" in sections else None),
        "broker": summarise_broker(raw),
    }
    if not rep["fio"] and (sections == ["all"] or "fio" in sections):
        problems.append(f"{k}: no fio results")
    rep["targets"] = targets(rep["fio"], rep["hot"], rep["control"], rep["memory"], rep["scale"])
    with open(os.path.join(outdir, f"{k}.json"), "w") as f:
        json.dump(rep, f, indent=1, sort_keys=True)
    return rep


def md_kernel(rep):
    info = rep["info"]
    L = []
    L.append(f"## Kernel {rep['kernel']}")
    L.append("")
    L.append(f"Guest: {info.get('nproc')} vCPUs (TCG), {info['meminfo']['MemTotal'] // 1024} MiB; "
             f"{info.get('reps')} alternating repetitions (medians); fio {info.get('fio')}, "
             f"runtime {info.get('runtime')} + ramp {info.get('ramp')} per workload and target "
             f"(page-cache-hot case: {info.get('hot_runtime')}); "
             f"backing file {info.get('size')} on {info.get('backings')}; loopns {info.get('loopns_version')}.")
    L.append("")
    L.append("### Targets")
    L.append("")
    L.append("| target | measured | status |")
    L.append("| --- | --- | --- |")
    for t in rep["targets"]:
        L.append(f"| {t['target']} | {t['value']} | {t['status']} |")
    L.append("")
    dio_notes = set()
    for m in rep["fio_runs"]:
        for g, gm in m.get("groups", {}).items():
            de = gm.get("dio_effective", {})
            want = "1" if g.endswith(".dio") else "0"
            if de.get("loopns") != want or de.get("loop") != want:
                dio_notes.add(f"{g}: effective dio loopns={de.get('loopns')} loop={de.get('loop')}")
            if gm.get("raw_note"):
                dio_notes.add(gm["raw_note"])
    L.append("### fio (devices with direct=1; raw = the backing file, direct=1 in dio mode)")
    L.append("")
    L.append("Absolute values: medians over the repetitions. Ratios: median of the per-repetition "
             "ratios (targets of a workload run back to back), in brackets their range.")
    L.append("")
    if dio_notes:
        L.append("Notes: " + "; ".join(sorted(dio_notes)) + ".")
        L.append("")
    L.append("| backing | mode | workload | unit | loopns | loop | raw | loopns/loop | loopns/raw | p99 µs loopns / loop / raw |")
    L.append("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rep["fio"]:
        L.append(f"| {r['backing']} | {r['mode']} | {r['workload']} | {r['metric']} | {fmt(r['loopns'])} | "
                 f"{fmt(r['loop'])} | {fmt(r['raw'])} | {fmt_ratio_spread(r, 'loopns_vs_loop')} | "
                 f"{fmt_ratio_spread(r, 'loopns_vs_raw')} | {fmt(r['loopns_p99_us'])} / {fmt(r['loop_p99_us'])} / "
                 f"{fmt(r['raw_p99_us'])} |")
    L.append("")
    if rep["hot"]:
        L.append("### Page-cache-hot 4 KiB random reads, QD1 (buffered device mode, backing file cached)")
        L.append("")
        L.append("| backing | loopns IOPS | loop IOPS | raw IOPS | loopns/loop | loopns/raw | p99 µs loopns / loop / raw |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in rep["hot"]:
            L.append(f"| {r['backing']} | {fmt(r['loopns'])} | {fmt(r['loop'])} | {fmt(r['raw'])} | "
                     f"{fmt_ratio_spread(r, 'loopns_vs_loop')} | {fmt_ratio_spread(r, 'loopns_vs_raw')} | "
                     f"{fmt(r['loopns_p99_us'])} / {fmt(r['loop_p99_us'])} / {fmt(r['raw_p99_us'])} |")
        L.append("")
    c = rep["control"]
    if c:
        names = [
            ("attach_loopns_1", "attach+detach, loopns, 1 process"),
            ("attach_loop_1", "attach+detach, loop, 1 process"),
            ("attach_loopns_2inst", "attach+detach, loopns, 2 instances in parallel"),
            ("attach_loop_2proc", "attach+detach, loop, 2 processes in parallel"),
            ("attach_loopns_1inst2proc", "attach+detach, loopns, 2 processes on one instance"),
            ("mount_loopns_1", "instance mount+umount, 1 process"),
            ("mount_loopns_2", "instance mount+umount, 2 processes"),
            ("mount_tmpfs_1", "tmpfs mount+umount, 1 process (reference)"),
        ]
        L.append("### Control path (LOOP_CONFIGURE + LOOP_CLR_FD + close per cycle)")
        L.append("")
        L.append("| measurement | cycles/s |")
        L.append("| --- | ---: |")
        for key, label in names:
            if key in c:
                L.append(f"| {label} | {fmt(c[key]['median'])} |")
        r = c["_ratios"]
        L.append(f"| ratio loopns/loop, 1 process | {fmt_ratio(r['attach_single_loopns_vs_loop'])} |")
        L.append(f"| ratio loopns/loop, 2 in parallel | {fmt_ratio(r['attach_parallel_loopns_2inst_vs_loop_2proc'])} |")
        L.append(f"| scaling 2 vs 1: loopns / loop | {fmt_ratio(r['attach_loopns_2inst_vs_1'])} / "
                 f"{fmt_ratio(r['attach_loop_2proc_vs_1'])} |")
        L.append("")
        lat = c.get("_latency", {})
        if "loopns" in lat and "loop" in lat:
            a, b = lat["loopns"], lat["loop"]
            L.append(f"LOOP_CONFIGURE latency over {a['binds']:.0f} binds (median of the repetitions):")
            L.append("")
            L.append("| | loopns µs | loop µs | ratio loopns/loop |")
            L.append("| --- | ---: | ---: | ---: |")
            for k in ("p50_us", "p99_us"):
                L.append(f"| {k[:3]} | {fmt(a[k])} | {fmt(b[k])} | {fmt_ratio(ratio(a[k], b[k]))} |")
            L.append("")
    m = rep["memory"]
    if m:
        L.append("### Kernel memory per device (drop of free memory, MemFree + per-cpu free lists; slab and percpu are part of it)")
        L.append("")
        L.append("| driver | devices | idle KiB/dev | of it slab | of it percpu | bound KiB/dev | bind adds KiB/dev | left after teardown KiB | add s | teardown s |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for drv in ("loopns", "loop"):
            if drv not in m:
                continue
            d = m[drv]
            i, b, bi = d["idle_bytes_per_device"], d["bound_bytes_per_device"], d["bind_increment_bytes_per_device"]
            L.append(f"| {drv} | {d['devices']} | {i['MemFree'] / 1024:.1f} | {i['Slab'] / 1024:.1f} | "
                     f"{i['Percpu'] / 1024:.1f} | {b['MemFree'] / 1024:.1f} | {bi['MemFree'] / 1024:.1f} | "
                     f"{d['left_after_teardown_kib']} | {fmt(d['add_s'])} | {fmt(d['teardown_s'])} |")
        L.append("")
    b = rep.get("broker")
    if b:
        L.append("### Mount broker vs fuse2fs")
        L.append("")
        L.append(f"An ext4 image with one {b['size_mib']} MiB file, read-only, for a container "
                 f"(user namespace 0 -> 100000): `loopnsctl mount-image` (idmapped ext4 on a private "
                 f"loopns device) against fuse2fs `-o fakeroot` on the container's own loopns device. "
                 f"Mount: from the request to the file visible in the container; read: cold `dd bs=1M`.")
        L.append("")
        L.append("| broker mount ms | fuse2fs mount ms | fuse2fs/broker time | broker read MiB/s | fuse2fs read MiB/s | broker/fuse2fs read |")
        L.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
        L.append(f"| {fmt(b['broker_mount_ms'])} | {fmt(b['fuse2fs_mount_ms'])} | {fmt_ratio(b['mount_time_fuse2fs_vs_broker'])} | "
                 f"{fmt(b['broker_read_mibs'])} | {fmt(b['fuse2fs_read_mibs'])} | {fmt_ratio(b['read_broker_vs_fuse2fs'])} |")
        L.append("")
    s = rep["scale"]
    if s and "error" not in s:
        L.append("### Scale")
        L.append("")
        L.append(f"{s['instances']} instances x {s['devices_per_instance']} devices ({s['devices']} devices), "
                 f"all bound to one backing file, then every instance unmounted "
                 f"(adding devices and unmounting: {s.get('workers')} processes in parallel).")
        L.append("")
        L.append("| mount s | add s | bind s | teardown s | KiB/idle dev | KiB/bound dev | left after KiB | /sys/block/loopns* left | mounts left | rmmod |")
        L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        L.append(f"| {fmt(s['mount_s'])} | {fmt(s['add_s'])} | {fmt(s['bind_s'])} | {fmt(s['teardown_s'])} | "
                 f"{s['bytes_per_idle_device'] / 1024:.1f} | {s['bytes_per_bound_device'] / 1024:.1f} | "
                 f"{s['left_after_teardown_kib']} | {s['left_sysfs']} | {s['left_mounts']} | "
                 f"{'ok' if s['rmmod_ok'] else 'FAILED'} |")
        L.append("")
        if "loop_teardown_ms_per_device" in s:
            how = (f"taking turns in {s['turns']} chunks" if "turns" in s
                   else "loop's after loopns's")
            L.append(f"Teardown per device: loopns {fmt(s['teardown_ms_per_device'])} ms (unmounting "
                     f"{s['instances']} instances), loop {fmt(s['loop_teardown_ms_per_device'])} ms "
                     f"(LOOP_CLR_FD + LOOP_CTL_REMOVE of {s['loop_devices']} bound devices), {how}; "
                     f"ratio loopns/loop "
                     f"{fmt_ratio(ratio(s['teardown_ms_per_device'], s['loop_teardown_ms_per_device']))}.")
            L.append("")
    return L


def md_summary(reps):
    """Targets and headline numbers with one column per kernel."""
    short = [r["kernel"].split("-")[0] for r in reps]
    L = ["| target | " + " | ".join(short) + " |", "| --- |" + " --- |" * len(reps)]
    names = []
    for r in reps:
        for t in r["targets"]:
            if t["target"] not in names:
                names.append(t["target"])
    for n in names:
        cells = []
        for r in reps:
            t = next((t for t in r["targets"] if t["target"] == n), None)
            cells.append("n/a" if t is None else f"**{t['status']}**: {t['value']}")
        L.append(f"| {n} | " + " | ".join(cells) + " |")
    L.append("")

    def hot(r, b):
        row = next((x for x in r["hot"] if x["backing"] == b), None)
        if not row:
            return "n/a"
        return (f"{fmt(row['loopns'])} / {fmt(row['loop'])} / {fmt(row['raw'])} IOPS, "
                f"p99 {fmt(row['loopns_p99_us'])} / {fmt(row['loop_p99_us'])} µs")

    def ctl(r, a, b):
        c = r["control"]
        if a not in c or b not in c:
            return "n/a"
        return f"{fmt(c[a]['median'])} / {fmt(c[b]['median'])}"

    def mem(r, key):
        m = r["memory"]
        if "loopns" not in m or "loop" not in m:
            return "n/a"
        return (f"{m['loopns'][key]['MemFree'] / 1024:.1f} / {m['loop'][key]['MemFree'] / 1024:.1f} "
                f"(percpu {m['loopns'][key]['Percpu'] / 1024:.1f} / {m['loop'][key]['Percpu'] / 1024:.1f})")

    def lat(r):
        la = (r["control"] or {}).get("_latency", {})
        if "loopns" not in la or "loop" not in la:
            return "n/a"
        a, b = la["loopns"], la["loop"]
        return (f"p50 {fmt(a['p50_us'])} / {fmt(b['p50_us'])} ({fmt_ratio(ratio(a['p50_us'], b['p50_us']))}), "
                f"p99 {fmt(a['p99_us'])} / {fmt(b['p99_us'])} ({fmt_ratio(ratio(a['p99_us'], b['p99_us']))})")

    def scale(r):
        s = r["scale"]
        if not s or "error" in s:
            return "n/a"
        loop = (f" (loop: {fmt(s['loop_teardown_ms_per_device'])} ms/device)"
                if "loop_teardown_ms_per_device" in s else "")
        return (f"add {fmt(s['add_s'])} s, bind {fmt(s['bind_s'])} s, teardown {fmt(s['teardown_s'])} s"
                f"{loop}; "
                f"{s['bytes_per_bound_device'] / 1024:.0f} KiB/bound device; left: "
                f"{s['left_sysfs']} disks, {s['left_mounts']} mounts, rmmod {'ok' if s['rmmod_ok'] else 'FAILED'}")
    rows = [
        ("page-cache-hot 4 KiB QD1, tmpfs: loopns / loop / raw", lambda r: hot(r, "tmpfs")),
        ("page-cache-hot 4 KiB QD1, ext4: loopns / loop / raw", lambda r: hot(r, "ext4")),
        ("attach+detach/s, 1 process: loopns / loop", lambda r: ctl(r, "attach_loopns_1", "attach_loop_1")),
        ("attach+detach/s, 2 in parallel: loopns (2 instances) / loop", lambda r: ctl(r, "attach_loopns_2inst", "attach_loop_2proc")),
        ("LOOP_CONFIGURE µs: loopns / loop", lat),
        ("instance mount+umount/s, 1 / 2 processes", lambda r: ctl(r, "mount_loopns_1", "mount_loopns_2")),
        ("KiB per idle device: loopns / loop", lambda r: mem(r, "idle_bytes_per_device")),
        ("KiB per bound device: loopns / loop", lambda r: mem(r, "bound_bytes_per_device")),
        ("scale: 1000 instances x 4 devices", scale),
    ]
    L.append("| measurement | " + " | ".join(short) + " |")
    L.append("| --- |" + " --- |" * len(reps))
    for label, f in rows:
        L.append(f"| {label} | " + " | ".join(f(r) for r in reps) + " |")
    L.append("")
    return L


def chart(outdir, reps):
    """chart.dat: per kernel (gnuplot index) rows: label log2(loopns/loop) log2(loopns/raw)."""
    def l2(v):
        return f"{math.log2(v):.4f}" if v else "NaN"
    titles = []
    with open(os.path.join(outdir, "chart.dat"), "w") as f:
        for i, rep in enumerate(reps):
            if i:
                f.write("\n\n")
            titles.append(rep["kernel"])
            f.write("# label loopns/loop loopns/raw (log2)\n")
            for r in rep["hot"]:
                f.write(f"\"{r['backing']} HOT randread-4k-qd1\" {l2(r['loopns_vs_loop'])} {l2(r['loopns_vs_raw'])}\n")
            for r in rep["fio"]:
                label = f"{r['backing']} {'buf' if r['mode'] == 'buffered' else 'dio'} {r['workload']}"
                f.write(f"\"{label}\" {l2(r['loopns_vs_loop'])} {l2(r['loopns_vs_raw'])}\n")
    nrows = max((len(r["fio"]) + len(r["hot"]) for r in reps), default=1)
    with open(os.path.join(outdir, "chart.vars"), "w") as f:
        f.write(f"nk = {len(reps)}\n")
        f.write(f"nrows = {nrows}\n")
        f.write("titles = \"" + " ".join(titles) + "\"\n")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    problems = []
    reps = []
    for kdir in sorted(glob.glob(os.path.join(outdir, "*", "raw"))):
        rep = kernel_report(outdir, os.path.dirname(kdir), problems)
        if rep:
            reps.append(rep)
    if not reps:
        print("report: no results", file=sys.stderr)
        return 1
    L = [f"# loopns benchmark {os.path.basename(os.path.normpath(outdir))}", ""]
    L.append("Absolute numbers come from QEMU TCG emulation on a shared 2-core host: they are "
             "not hardware numbers. The ratios between targets measured in the same boot, "
             "back to back, are the point.")
    L.append("")
    run_p = os.path.join(outdir, "run.json")
    if os.path.exists(run_p):
        run = load(run_p)
        L.append(f"Source: commit {run['commit']}"
                 + (f" with {run['src_dirty_files']} modified file(s) under src/include/Kbuild"
                    if run.get("src_dirty_files") else "")
                 + f"; wall time {run['wall_s']} s; {run['vm_jobs']} VM(s) at a time; host: "
                 f"{run['host_nproc']} CPUs, load average {run['host_load_start']} at the start, "
                 f"{run['host_load_end']} at the end.")
        L.append("")
    for rep in reps:
        L.extend(md_kernel(rep))
    if problems:
        L.append("## Problems")
        L.append("")
        L.extend(f"- {p}" for p in problems)
        L.append("")
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(L))
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write("\n".join(md_summary(reps)))
    chart(outdir, reps)
    for p in problems:
        print(f"report: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
