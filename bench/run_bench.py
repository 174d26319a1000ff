#!/usr/bin/env python3
"""procpool bench: runs every workload on procpool, on Python's ProcessPoolExecutor and on
the machine's limits (bench_floor), in one run on one machine, and prints the ratios.

    run_bench.py --build-dir build [--repeat N] [--quick] [--json FILE]

Each figure is the best of --repeat runs of its workload (the machine may be shared: the best
run is the one least disturbed), and the median column the typical one: the median of the runs,
or of the samples where a workload takes several. Ratios are of the best figures; they are what
to compare across runs, not the timings.

The rows "via ssh" run the workers through OpenSSH: tests/fixtures/sshd.sh starts a private
server on loopback in a temporary folder for the run and stops it at the end. Where it cannot
start, those rows are left out with the reason; PROCPOOL_BENCH_REQUIRE_SSH=1 makes that an
error instead.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KIB, MIB = 1024, 1024 * 1024
#: PoolOptions::prefetch of the second submit row (the first uses the default, automatic):
#: one task waiting per worker, like CPython's executor.
PREFETCH = 1
#: The system's Python (Debian's python3), whatever python3 comes first on PATH.
SYSTEM_PYTHON = "/usr/bin/python3"
#: The private OpenSSH server on loopback that the rows "via ssh" reach their workers through.
SSHD_FIXTURE = os.path.normpath(os.path.join(HERE, os.pardir, "tests", "fixtures", "sshd.sh"))


def run(command, env=None):
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, timeout=900,
                         env=dict(os.environ, **(env or {}))).stdout
    return json.loads(out.strip().splitlines()[-1])


def best(command, key, repeat, smaller=False, env=None, runs=None):
    """The best of `repeat` runs, with the median of their figures as "typical" (a workload
    that measures samples itself gives its own median, e.g. median_mib_per_s: then the median
    of those). `runs`: figures already taken, instead of running `command`."""
    runs = runs if runs is not None else [run(command, env) for _ in range(repeat)]
    chosen = dict((min if smaller else max)(runs, key=lambda r: r[key]))
    own = "median_" + key
    values = sorted(r[own] if own in r else r[key] for r in runs)
    chosen["typical"] = values[len(values) // 2]
    return chosen


def interleaved(commands, key, repeat, envs=None, smaller=False):
    """Each command's best() of `repeat` runs, the commands taking turns, so that a change in
    the machine's load falls on all of them alike. `envs`: an environment per command."""
    runs = [[] for _ in commands]
    for _ in range(repeat):
        for i, command in enumerate(commands):
            runs[i].append(run(command, envs[i] if envs else None))
    return [best(None, key, repeat, smaller, runs=r) for r in runs]


class SshServer:
    """tests/fixtures/sshd.sh in a temporary folder: start() gives the environment that puts
    procpool_bench's workers on its first host, or None with the reason in `unavailable`."""

    def __init__(self):
        self.dir = None
        self.unavailable = None

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="procpool-bench-sshd-")
        try:
            done = subprocess.run([SSHD_FIXTURE, "start", self.dir], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=180)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.unavailable = "%s start: %s" % (self.name(), e)
            return None
        if done.returncode != 0:
            said = done.stderr.strip().splitlines()
            self.unavailable = "%s start failed (exit %d): %s" % (
                self.name(), done.returncode, " / ".join(said[-3:]) or "no message")
            return None
        settings = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        hosts = settings.get("SSH_HOSTS", "").split()
        if "SSH_CONFIG" not in settings or not hosts:
            self.unavailable = "%s start printed no SSH_CONFIG or SSH_HOSTS" % self.name()
            return None
        return {"PROCPOOL_BENCH_SSH_CONFIG": settings["SSH_CONFIG"],
                "PROCPOOL_BENCH_SSH_HOST": hosts[0]}

    def stop(self):
        if self.dir is None:
            return
        done = subprocess.run([SSHD_FIXTURE, "stop", self.dir], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120)
        if done.returncode != 0:
            print("%s stop failed (exit %d): %s" % (self.name(), done.returncode, done.stderr),
                  file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    @staticmethod
    def name():
        return os.path.relpath(SSHD_FIXTURE, os.path.join(HERE, os.pardir))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller workloads, for a smoke test")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--python", metavar="EXE",
                    default=SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable,
                    help="the Python whose ProcessPoolExecutor is measured (default: %(default)s)")
    a = ap.parse_args()

    sshd = SshServer()
    try:
        ssh = sshd.start()
        if ssh is None:
            if os.environ.get("PROCPOOL_BENCH_REQUIRE_SSH") == "1":
                sys.exit("run_bench.py: PROCPOOL_BENCH_REQUIRE_SSH=1, but no ssh server: "
                         + sshd.unavailable)
            print("the rows via ssh are left out: " + sshd.unavailable, file=sys.stderr)
        else:
            print("ssh server on loopback for the rows via ssh: %s (%s)"
                  % (ssh["PROCPOOL_BENCH_SSH_HOST"], sshd.dir), file=sys.stderr)
        bench(a, ssh, sshd.unavailable)
    finally:
        sshd.stop()


def bench(a, ssh, ssh_unavailable):
    """Runs every workload and prints the table. `ssh`: the environment that puts the workers
    of latency, submit and payload on the ssh server, or None (`ssh_unavailable` says why)."""
    bench_dir = os.path.join(a.build_dir, "bench")
    pp = [os.path.join(bench_dir, "procpool_bench")]
    py = [a.python, os.path.join(HERE, "python_bench.py")]
    py_version = subprocess.run([a.python, "-c", "import platform; print(platform.python_version())"],
                                check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    floor = [os.path.join(bench_dir, "bench_floor")]
    q = a.quick
    r = a.repeat
    tasks = 5000 if q else 50000
    # The watched row's workload lasts long enough for the watcher's ten deltas a second to
    # count: about 1.5 s (full) on the development machine.
    watched_tasks = 50000 if q else 200000
    items = 100000 if q else 1000000
    rounds = 500 if q else 5000
    sizes = [KIB, MIB, 16 * MIB] if q else [KIB, MIB, 16 * MIB, 64 * MIB]
    # CPU-bound batches of about a second on one worker for each side.
    cpu_tasks, pp_work, py_work = 16, 40_000_000, 400_000

    started = time.time()
    res = {}

    def step(name, f):
        print("  %-28s" % name, end="", flush=True, file=sys.stderr)
        t = time.time()
        res[name] = f()
        print("%6.1f s" % (time.time() - t), file=sys.stderr)

    print("running workloads (best of %d):" % r, file=sys.stderr)
    step("submit/procpool", lambda: best(pp + ["submit", str(tasks), "2"], "per_s", r))
    step("submit/procpool-prefetch%d" % PREFETCH,
         lambda: best(pp + ["submit", str(tasks), "2"], "per_s", r,
                      env={"PROCPOOL_BENCH_PREFETCH": str(PREFETCH)}))
    def watched():
        plain, watched = interleaved([pp + ["submit", str(watched_tasks), "2"],
                                      pp + ["submit-watched", str(watched_tasks), "2"]], "per_s",
                                     max(r, 3))
        res["submit/procpool-unwatched"] = plain
        return watched
    step("submit/procpool-watched", watched)
    def output_marks():
        marked, unmarked = interleaved([pp + ["submit", str(watched_tasks), "2"]] * 2, "per_s",
                                       max(r, 3), [None, {"PROCPOOL_BENCH_TASK_OUTPUT": "0"}])
        res["submit/procpool-task-output-off"] = unmarked
        return marked
    step("submit/procpool-task-output", output_marks)
    step("submit/python", lambda: best(py + ["submit", str(tasks), "2"], "per_s", r))
    step("map/procpool", lambda: best(pp + ["map", str(items), "2", "256"], "per_s", r))
    step("map/python", lambda: best(py + ["map", str(items), "2", "256"], "per_s", r))
    step("latency/procpool", lambda: best(pp + ["latency", str(rounds)], "median_us", r, True))
    step("latency/python", lambda: best(py + ["latency", str(rounds)], "median_us", r, True))
    # Two cross-core wake-ups, what the target's "three wake-ups against two" counts: left to
    # the scheduler, the ping-pong pair sometimes shares one core and measures a context switch.
    apart = ["apart"] if len(os.sched_getaffinity(0)) >= 2 else []
    step("latency/pipe",
         lambda: best(floor + ["pingpong", str(rounds * 4)] + apart, "median_us", r, True))
    for s in sizes:
        # Every figure of one size is the best of as many samples: a ceiling taken over more
        # samples than the echoes it is compared with would be luckier than they can be.
        # (Python's echo of 64 MiB takes a third of a second, hence fewer there.)
        reps = "20" if s <= 16 * MIB else "5"
        step("payload%d/procpool" % s, lambda: best(pp + ["payload", str(s), reps], "mib_per_s", r))
        step("payload%d/python" % s, lambda: best(py + ["payload", str(s), reps], "mib_per_s", r))
        step("payload%d/memcpy" % s, lambda: best(floor + ["memcpy", str(s), reps], "mib_per_s", r))
        if s == 16 * MIB:
            step("payload%d/copies" % s,
                 lambda: best(floor + ["copies", str(s), reps, "3"], "mib_per_s", r))
            step("payload%d/procpool-kept" % s,
                 lambda: best(pp + ["payload", str(s), reps, "keep"], "mib_per_s", r))
            step("payload%d/procpool-kept-back-to-back" % s,
                 lambda: best(pp + ["payload", str(s), reps, "keep-back-to-back"], "mib_per_s", r))
            step("payload%d/copies-fresh" % s,
                 lambda: best(floor + ["copies", str(s), reps, "3", "fresh"], "mib_per_s", r))
    step("startup/procpool", lambda: best(pp + ["startup", "10"], "median_ms", r, True))
    step("startup/procpool-exec", lambda: best(pp + ["startup", "10"], "median_ms", r, True,
                                               env={"PROCPOOL_BENCH_START": "exec"}))
    step("startup/python", lambda: best(py + ["startup", "10"], "median_ms", r, True))
    for w in (1, 2):
        step("cpu%d/procpool" % w,
             lambda: best(pp + ["cpu", str(cpu_tasks), str(w), str(pp_work)], "seconds", r, True))
        step("cpu%d/python" % w,
             lambda: best(py + ["cpu", str(cpu_tasks), str(w), str(py_work)], "seconds", r, True))
        step("cpu%d/machine" % w, lambda: best(floor + ["spin", str(cpu_tasks * pp_work // 2), str(w)],
                                                "seconds", r, True))
    step("rss/procpool", lambda: best(pp + ["rss"], "kib", r, True))
    step("rss/python", lambda: best(py + ["rss"], "kib", r, True))
    # Workers that talk through their streams only: on the ssh server, and here with
    # PoolOptions::sharedMemory off. Each against its baseline here, the runs taking turns. The
    # echoes keep every result, as callers do; all of one size take as many samples.
    stream_reps = "5" if q else "20"
    no_shm = {"PROCPOOL_BENCH_SHM": "0"}
    def echo_streams():
        kept = pp + ["payload", str(16 * MIB), stream_reps, "keep"]
        runs = interleaved([kept] * (3 if ssh else 2), "mib_per_s", r,
                           [None, no_shm] + ([ssh] if ssh else []))
        res["payload16777216/procpool-kept-rings"] = runs[0]
        if ssh:
            res["payload16777216/procpool-kept-ssh"] = runs[2]
        return runs[1]
    step("payload16777216/procpool-kept-pipes", echo_streams)
    if ssh:
        def latency_ssh():
            here, there = interleaved([pp + ["latency", str(rounds)]] * 2, "median_us", r,
                                      [None, ssh], smaller=True)
            res["latency/procpool-here"] = here
            return there
        step("latency/procpool-ssh", latency_ssh)
        def submit_ssh():
            here, there = interleaved([pp + ["submit", str(tasks), "2"]] * 2, "per_s", r,
                                      [None, ssh])
            res["submit/procpool-here"] = here
            return there
        step("submit/procpool-ssh", submit_ssh)

    rows = []  # (figure, unit, procpool, typical, python, floor, ratio label, ratio, target, met)

    def row(figure, unit, p, y, f, label, ratio, target=None, met=None, typical=None):
        rows.append({"figure": figure, "unit": unit, "procpool": p, "typical": typical,
                     "python": y, "floor": f, "ratio_label": label, "ratio": ratio,
                     "target": target, "met": met})

    sp, sy = res["submit/procpool"]["per_s"], res["submit/python"]["per_s"]
    row("submit %d tasks" % tasks, "tasks/s", sp, sy, None, "procpool/python", sp / sy, ">= 25",
        sp / sy >= 25, typical=res["submit/procpool"]["typical"])
    sq = res["submit/procpool-prefetch%d" % PREFETCH]["per_s"]
    row("submit %d tasks, prefetch %d" % (tasks, PREFETCH), "tasks/s", sq, sy, None,
        "procpool/python", sq / sy, typical=res["submit/procpool-prefetch%d" % PREFETCH]["typical"])
    # Another process watching this one's pools at 10 Hz through the inspection socket, as an
    # attached monitor does, against the same submissions unwatched, the two taking turns.
    sw = res["submit/procpool-watched"]["per_s"]
    su = res["submit/procpool-unwatched"]["per_s"]
    row("submit %d tasks, watched at 10 Hz" % watched_tasks, "tasks/s", sw, None, su,
        "watched/unwatched", sw / su, ">= 0.95", sw / su >= 0.95,
        typical=res["submit/procpool-watched"]["typical"])
    # What marking each call's output costs (PoolOptions::taskOutput, on by default) against the
    # same submissions without the marks, the two taking turns.
    so = res["submit/procpool-task-output"]["per_s"]
    sn = res["submit/procpool-task-output-off"]["per_s"]
    row("submit %d tasks, task output kept" % watched_tasks, "tasks/s", so, None, sn,
        "kept/off", so / sn, typical=res["submit/procpool-task-output"]["typical"])
    mp, my = res["map/procpool"]["per_s"], res["map/python"]["per_s"]
    row("map %d items, chunk 256" % items, "items/s", mp, my, None, "procpool/python", mp / my,
        ">= 2", mp / my >= 2, typical=res["map/procpool"]["typical"])
    lp, ly, lf = (res["latency/%s" % k]["median_us"] for k in ("procpool", "python", "pipe"))
    row("round trip, median", "us", lp, ly, lf, "procpool/pipe", lp / lf, "<= 1.5", lp / lf <= 1.5,
        typical=res["latency/procpool"]["typical"])
    pp99, py99, pf99 = (res["latency/%s" % k]["p99_us"] for k in ("procpool", "python", "pipe"))
    row("round trip, p99", "us", pp99, py99, pf99, "procpool/pipe", pp99 / pf99)
    for s in sizes:
        p, y, c = (res["payload%d/%s" % (s, k)]["mib_per_s"] for k in ("procpool", "python", "memcpy"))
        pt = res["payload%d/procpool" % s]["typical"]
        name = "%d KiB" % (s // KIB) if s < MIB else "%d MiB" % (s // MIB)
        big = s == 16 * MIB
        row("echo %s" % name, "MiB/s", p, y, c, "procpool/python", p / y,
            ">= 10" if big else None, (p / y >= 10) if big else None, typical=pt)
        row("echo %s" % name, "MiB/s", p, y, c, "procpool/memcpy", p / c,
            ">= 0.25" if big else None, (p / c >= 0.25) if big else None, typical=pt)
        if big:
            # The ceiling of an echo that copies its payload three times, as procpool's does:
            # into the worker's ring, into the pool's ring, and out of it into the pool's own
            # memory (a worker never hands the pool memory it can still write).
            k = res["payload%d/copies" % s]["mib_per_s"]
            row("echo %s" % name, "MiB/s", p, y, k, "procpool/3 copies", p / k, typical=pt)
            # A caller that keeps every result: the third copy goes into fresh memory, faulted
            # in and zeroed by the system, every time. Against memcpy (the target) and against
            # the same three copies with the last into fresh memory, faulted in as it is written
            # (the chain has no pause in which to do it sooner). The engine faults in the next
            # result's memory while it hands this one over and the caller compares it (outside
            # the timing); the back-to-back row leaves the caller no time between results.
            kept = res["payload%d/procpool-kept" % s]
            pk, kt = kept["mib_per_s"], kept["typical"]
            row("echo %s, results kept" % name, "MiB/s", pk, None, c, "procpool/memcpy", pk / c,
                ">= 0.25", pk / c >= 0.25, typical=kt)
            kf = res["payload%d/copies-fresh" % s]["mib_per_s"]
            row("echo %s, results kept" % name, "MiB/s", pk, None, kf, "procpool/3 copies, fresh",
                pk / kf, typical=kt)
            b2b = res["payload%d/procpool-kept-back-to-back" % s]
            pb = b2b["mib_per_s"]
            row("echo %s, kept, back to back" % name, "MiB/s", pb, None, c, "procpool/memcpy",
                pb / c, typical=b2b["typical"])
            row("echo %s, kept, back to back" % name, "MiB/s", pb, None, kf,
                "procpool/3 copies, fresh", pb / kf, typical=b2b["typical"])
    st, sy_ = res["startup/procpool"]["median_ms"], res["startup/python"]["median_ms"]
    row("start-up to first result", "ms", st, sy_, None, "procpool/python", st / sy_, "<= 0.5",
        st / sy_ <= 0.5, typical=res["startup/procpool"]["typical"])
    # The first pool of a process also starts the fork server; Exec is the other start method.
    sf, syf = res["startup/procpool"]["first_ms"], res["startup/python"]["first_ms"]
    row("start-up, first pool of the process", "ms", sf, syf, None, "procpool/python", sf / syf)
    se = res["startup/procpool-exec"]["median_ms"]
    row("start-up, StartMethod::Exec", "ms", se, sy_, None, "procpool/python", se / sy_)
    cp = res["cpu1/procpool"]["seconds"] / res["cpu2/procpool"]["seconds"]
    cy = res["cpu1/python"]["seconds"] / res["cpu2/python"]["seconds"]
    # The ceiling: what the machine gave two CPU-bound processes in this run (others share it).
    cm = 2 * res["cpu1/machine"]["seconds"] / res["cpu2/machine"]["seconds"]
    ct = res["cpu1/procpool"]["typical"] / res["cpu2/procpool"]["typical"]
    row("CPU scaling, 2 workers vs 1", "x", cp, cy, cm, "procpool 1w/2w", cp, ">= 1.9", cp >= 1.9,
        typical=ct)
    rp, ry = res["rss/procpool"]["kib"], res["rss/python"]["kib"]
    row("idle worker RSS", "KiB", rp, ry, None, "procpool/python", rp / ry, "<= 1", rp / ry <= 1,
        typical=res["rss/procpool"]["typical"])
    # Workers on the ssh server (or, for the pipes row, here without shared memory), each with
    # its baseline of the same run in the floor/ceil column. Their medians' ratios follow the
    # table.
    typical_ratios = []

    def against(figure, unit, measured, baseline, label, key):
        m, b = res[measured], res[baseline]
        row(figure, unit, m[key], None, b[key], label, m[key] / b[key], typical=m["typical"])
        typical_ratios.append((figure, label, m["typical"] / b["typical"]))

    if ssh:
        against("round trip via ssh, median", "us", "latency/procpool-ssh",
                "latency/procpool-here", "ssh/here", "median_us")
        against("submit %d tasks via ssh, 2 workers" % tasks, "tasks/s", "submit/procpool-ssh",
                "submit/procpool-here", "ssh/here", "per_s")
    against("echo 16 MiB, kept, no shared memory", "MiB/s", "payload16777216/procpool-kept-pipes",
            "payload16777216/procpool-kept-rings", "pipes/rings", "mib_per_s")
    if ssh:
        against("echo 16 MiB, kept, via ssh", "MiB/s", "payload16777216/procpool-kept-ssh",
                "payload16777216/procpool-kept-pipes", "ssh/pipes", "mib_per_s")
        against("echo 16 MiB, kept, via ssh", "MiB/s", "payload16777216/procpool-kept-ssh",
                "payload16777216/procpool-kept-rings", "ssh/rings", "mib_per_s")

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "NO"
        if abs(v) >= 100:
            return "{:,.0f}".format(v)
        return "%.2f" % v if abs(v) >= 1 else "%.3f" % v

    header = ("figure", "unit", "procpool", "median", "python", "floor/ceil", "ratio", "value",
              "target", "met")
    table = [header] + [(x["figure"], x["unit"], fmt(x["procpool"]), fmt(x["typical"]),
                         fmt(x["python"]), fmt(x["floor"]), x["ratio_label"], fmt(x["ratio"]),
                         x["target"] or "-", fmt(x["met"]))
                        for x in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(header))]
    lines = []
    for n, t in enumerate(table):
        lines.append("| " + " | ".join(c.ljust(w) if i < 2 or i == 6 else c.rjust(w)
                                       for i, (c, w) in enumerate(zip(t, widths))) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(lines))
    if ssh:
        print("\nvia ssh: the workers behind OpenSSH on loopback (tests/fixtures/sshd.sh, host %s),"
              "\nagainst workers here in turn with them: what the ssh channel costs (encryption,"
              "\nrelaying by ssh and sshd; the logins are outside the timing), not a network."
              % ssh["PROCPOOL_BENCH_SSH_HOST"])
    else:
        print("\nvia ssh: left out, %s" % ssh_unavailable)
    print("the rows against a baseline of their own, median against median:")
    width = max(len(f) for f, _, _ in typical_ratios)
    for f, label, v in typical_ratios:
        print("  %s  %-11s %6s" % (f.ljust(width), label, fmt(v)))
    met = [x["met"] for x in rows if x["met"] is not None]
    print("\n%d of %d targets met; %d s; %s, %d cores, python %s (%s)" % (
        sum(met), len(met), time.time() - started, os.uname().nodename, os.cpu_count(),
        py_version, a.python))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "cores": os.cpu_count(), "python": [a.python, py_version], "rows": rows,
                       "ssh": ssh["PROCPOOL_BENCH_SSH_HOST"] if ssh else ssh_unavailable,
                       "raw": res}, f, indent=1)


if __name__ == "__main__":
    main()
