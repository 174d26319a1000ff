#!/usr/bin/env python3
"""procpool bench: the same workloads on Python's concurrent.futures.ProcessPoolExecutor.

    python_bench.py submit TASKS WORKERS | map ITEMS WORKERS CHUNK | latency ROUNDS |
                    payload BYTES REPS | startup REPS | cpu TASKS WORKERS WORK | rss

One JSON object on stdout, with the fields procpool_bench prints for the same workload.
Workers are started with fork, Python's default on Linux. Every workload compares every answer
it got with the one it must be (outside the timed region) and exits with status 1 and a
message on a wrong one.
"""
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

CTX = multiprocessing.get_context("fork")


def increment(x):
    return x + 1


def echo(b):
    return b


def spin(n):
    x = n
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
    return x >> 1


def pid():
    return os.getpid()


def spin_expected(n):
    """What spin(n) returns, computed another way: n steps of x -> a x + c (mod 2^64) are one
    affine map, built by squaring in log2(n) steps."""
    mask = 0xFFFFFFFFFFFFFFFF
    mul, add = 1, 0  # the steps taken so far: none
    a, c = 6364136223846793005, 1442695040888963407  # 2^k steps
    k = n
    while k:
        if k & 1:
            mul, add = (mul * a) & mask, (add * a + c) & mask
        a, c = (a * a) & mask, (c * a + c) & mask
        k >>= 1
    return ((mul * n + add) & mask) >> 1


def check(workload, got, expected):
    """Fails the run (exit status 1) unless every answer is the one expected."""
    if got == expected:
        return
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        i = next(i for i, (g, e) in enumerate(zip(got, expected)) if g != e)
        sys.exit("python_bench %s: answer %d is %r, not %r" % (workload, i, got[i], expected[i]))
    sys.exit("python_bench %s: the answers are not the expected ones" % workload)


def pool(workers):
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=CTX)
    for f in [ex.submit(increment, i) for i in range(workers * 4)]:
        f.result()
    return ex


def submit(tasks, workers):
    ex = pool(workers)
    t = time.perf_counter()
    futures = [ex.submit(increment, i) for i in range(tasks)]
    results = [f.result() for f in futures]
    s = time.perf_counter() - t
    ex.shutdown()
    check("submit", results, [i + 1 for i in range(tasks)])
    return {"workload": "submit", "tasks": tasks, "seconds": s, "per_s": tasks / s}


def map_(items, workers, chunk):
    ex = pool(workers)
    data = list(range(items))
    t = time.perf_counter()
    results = list(ex.map(increment, data, chunksize=chunk))
    s = time.perf_counter() - t
    ex.shutdown()
    check("map", results, [x + 1 for x in data])
    return {"workload": "map", "items": items, "seconds": s, "per_s": items / s}


def latency(rounds):
    ex = pool(1)
    samples = []
    results = []
    for i in range(-(rounds // 10), rounds):
        t = time.perf_counter_ns()
        results.append(ex.submit(increment, i).result())
        if i >= 0:
            samples.append(time.perf_counter_ns() - t)
    ex.shutdown()
    check("latency", results, [i + 1 for i in range(-(rounds // 10), rounds)])
    samples.sort()
    return {"workload": "latency", "rounds": rounds, "median_us": samples[len(samples) // 2] / 1e3,
            "p99_us": samples[len(samples) * 99 // 100] / 1e3}


def payload(size, reps):
    ex = pool(1)
    data = bytes((i * 131 + 7) & 0xFF for i in range(min(size, 1 << 16))) * (size // (1 << 16) + 1)
    data = data[:size]
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        back = ex.submit(echo, data).result()
        best = min(best, time.perf_counter() - t)
        check("payload", back, data)  # every byte, outside the timing
    ex.shutdown()
    return {"workload": "payload", "bytes": size, "seconds": best,
            "mib_per_s": size / best / 1048576}


def startup(reps):
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        ex = ProcessPoolExecutor(max_workers=2, mp_context=CTX)
        result = ex.submit(increment, 1).result()
        samples.append(time.perf_counter() - t)
        ex.shutdown()
        check("startup", result, 2)
    first = samples[0]
    samples.sort()
    return {"workload": "startup", "reps": reps, "median_ms": samples[len(samples) // 2] * 1e3,
            "first_ms": first * 1e3}


def cpu(tasks, workers, work):
    ex = pool(workers)
    t = time.perf_counter()
    results = [f.result() for f in [ex.submit(spin, work + i) for i in range(tasks)]]
    s = time.perf_counter() - t
    ex.shutdown()
    check("cpu", results, [spin_expected(work + i) for i in range(tasks)])
    return {"workload": "cpu", "tasks": tasks, "workers": workers, "seconds": s}


def rss():
    ex = pool(1)
    worker = ex.submit(pid).result()
    time.sleep(0.2)
    kib = -1
    with open("/proc/%d/status" % worker) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                kib = int(line.split()[1])
    ex.shutdown()
    return {"workload": "rss", "kib": kib}


WORKLOADS = {"submit": submit, "map": map_, "latency": latency, "payload": payload,
             "startup": startup, "cpu": cpu, "rss": rss}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in WORKLOADS:
        sys.exit(__doc__)
    print(json.dumps(WORKLOADS[sys.argv[1]](*map(int, sys.argv[2:]))))
