#!/usr/bin/env python3
"""The tend benchmark suite: tend against the supervisors users would
otherwise pick, on the same machine, in the same run.

Run through `bench/run` (which installs the peers and builds tend first).
Every supervisor runs as PID 1 of its own PID namespace
(`unshare --pid --fork --kill-child --mount-proc`), scenarios alternate the
supervisors (A B C ... A B C ...), every wait has a deadline, and every
namespace is killed by the PID of its `unshare` at the end of its run.
See bench/README.md for the scenarios and each peer's configuration.
"""

import argparse
import datetime
import json
import math
import os
import platform
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
TEND = os.path.join(ROOT, "target", "release", "tend")
NOLIBC_HELPERS = ["notify"]
HELPERS = ["graphfloor", "flap", "up", "slowterm", "orphans", "notify", "floor", "evsub", "fifolisten",
           "spawntime", "termexit", "spew"]

ALL_SUPS = ["tend", "runit", "s6", "supervisord", "horust", "tini", "dumb-init"]
RESTARTING = ["tend", "runit", "s6", "supervisord", "horust"]
WRAPPERS = ["tend", "tini", "dumb-init"]  # run one command: `X -- CMD`
UNSHARE = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]

LIVE = {}  # unshare pid -> Namespace: killed on any exit path
VERBOSE = False


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def vlog(*a):
    if VERBOSE:
        log(*a)


def now_ns():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, the helpers' clock


class BenchTimeout(Exception):
    pass


def wait_until(pred, timeout, what, interval=0.005):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise BenchTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def pct(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    if not s:
        return None
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------
# /proc


def read(path, default=None):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return default


def proc_table():
    """pid -> (ppid, state) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        s = read(f"/proc/{d}/stat")
        if not s:
            continue
        rest = s[s.rfind(")") + 2:].split()
        out[int(d)] = (int(rest[1]), rest[0])
    return out


def descendants(root, table=None):
    table = table or proc_table()
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in table:
            out.append(p)
        todo.extend(kids.get(p, []))
    return out, table


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def smaps_rollup(pid):
    """(rss_kb, pss_kb) of one process."""
    text = read(f"/proc/{pid}/smaps_rollup", "")
    rss = pss = 0
    for line in text.splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def task_counters(pid):
    """{tid: (voluntary+nonvoluntary ctx switches, cpu ns)} over a process's threads."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        st = read(f"/proc/{pid}/task/{tid}/status", "")
        cs = 0
        for line in st.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                cs += int(line.split()[1])
        ss = read(f"/proc/{pid}/task/{tid}/schedstat")
        cpu = int(ss.split()[0]) if ss else None
        if cpu is None:  # no schedstat: fall back to utime+stime ticks
            s = read(f"/proc/{pid}/task/{tid}/stat", "")
            f = s[s.rfind(")") + 2:].split()
            cpu = (int(f[11]) + int(f[12])) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))
        out[(pid, int(tid))] = (cs, cpu)
    return out


# ---------------------------------------------------------------------------
# Namespaces


class Namespace:
    """A supervisor as PID 1 of a new PID namespace. Killing `unshare` (by
    its PID) kills PID 1 (--kill-child), and with it the whole namespace."""

    def __init__(self, argv, env, logpath, cwd):
        self.logf = open(logpath, "ab")
        self.t_launch = now_ns()
        self.p = subprocess.Popen(
            UNSHARE + argv,
            env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.logf,
            stderr=subprocess.STDOUT, start_new_session=True)
        LIVE[self.p.pid] = self
        self._init = None

    def init_pid(self, timeout=10):
        if self._init is None:
            def find():
                if self.p.poll() is not None:
                    raise RuntimeError(f"unshare exited with {self.p.returncode}")
                for pid, (ppid, _) in proc_table().items():
                    if ppid == self.p.pid:
                        return pid
                return None
            self._init = wait_until(find, timeout, "the namespace's PID 1", 0.002)
        return self._init

    def tree(self):
        return descendants(self.init_pid())

    def kill(self):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"warning: unshare {self.p.pid} did not die within 20 s")
        if self._init is not None:  # PID 1 dies with unshare; wait for it
            def gone():
                st = read(f"/proc/{self._init}/stat")
                return st is None or st[st.rfind(")") + 2] in "ZX"
            try:
                wait_until(gone, 10, "PID 1 to go", 0.01)
            except BenchTimeout as e:
                log(f"warning: {e}")
        LIVE.pop(self.p.pid, None)
        self.logf.close()


def kill_all_live():
    for ns in list(LIVE.values()):
        ns.kill()


# ---------------------------------------------------------------------------
# Supervisors: a list of services -> a command line, for each supervisor.
#
# A service is a dict: name, prog (absolute path), args (list), restart
# (bool), delay0 (restart delay 0 wanted), type ("simple" | "notify"),
# requires (names). The helpers take every parameter from the environment
# (BT_STAMP, BT_DONE, ...), which every supervisor passes on, so that peers
# can run the helper binary directly, without a shell in between.


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def toml_str(s):
    return json.dumps(s)


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def sv_run(svdir, svc):
    """runit/s6 `run`: the helper itself (a symlink) when it takes no
    arguments, else an exec-through script."""
    os.makedirs(svdir, exist_ok=True)
    run = os.path.join(svdir, "run")
    if not svc.get("args"):
        os.symlink(svc["prog"], run)
    else:
        write(run, "#!/bin/sh\nexec " + " ".join(shell_quote(a) for a in [svc["prog"]] + svc["args"]) + "\n", 0o755)


def layout(sup, work, services):
    """Writes `sup`'s configuration for `services` under `work`; returns argv."""
    if sup == "tend":
        d = os.path.join(work, "tend.d")
        os.makedirs(d)
        for s in services:
            lines = ["exec = " + json.dumps([s["prog"]] + s.get("args", []))]
            if s.get("type", "simple") != "simple":
                lines.append(f'type = "{s["type"]}"')
            if s.get("restart"):
                lines.append('restart = "always"')
                lines.append('restart-delay = "%s"' % s.get("delay", "0s"))
                if s.get("delay_max"):
                    lines.append('restart-delay-max = "%s"' % s["delay_max"])
            if s.get("requires"):
                lines.append("requires = " + json.dumps(s["requires"]))
            write(os.path.join(d, s["name"] + ".toml"), "\n".join(lines) + "\n")
        return [TEND, "--socket", os.path.join(work, "tend.sock"), "run", d]
    if sup == "runit":
        d = os.path.join(work, "service")
        os.makedirs(d)
        for s in services:
            sv_run(os.path.join(d, s["name"]), s)
        return ["runsvdir", "-P", d]
    if sup == "s6":
        d = os.path.join(work, "scan")
        os.makedirs(d)
        for s in services:
            sv_run(os.path.join(d, s["name"]), s)
        return ["s6-svscan", "-c", str(max(1000, 2 * len(services) + 16)), d]
    if sup == "supervisord":
        ini = os.path.join(work, "supervisord.conf")
        parts = [
            "[supervisord]",
            "nodaemon=true",
            "user=root",
            "logfile=/dev/null",
            "logfile_maxbytes=0",
            "loglevel=error",
            f"pidfile={work}/supervisord.pid",
            f"childlogdir={work}",
            f"minfds={max(1024, 4 * len(services) + 256)}",
            f"minprocs={max(200, 2 * len(services) + 64)}",
            "",
        ]
        for s in services:
            parts += [
                f"[program:{s['name']}]",
                "command=" + " ".join([s["prog"]] + s.get("args", [])),
                "autostart=true",
                "autorestart=" + ("true" if s.get("restart") else "false"),
                "startsecs=0",
                "startretries=1000000",
                "stopsignal=TERM",
                "stopwaitsecs=10",
                "stdout_logfile=NONE",
                "stderr_logfile=NONE",
                "",
            ]
        # One group holding every program: supervisord stops group after group,
        # serially, so one group per program would stop 20 services one by one.
        parts += ["[group:bench]", "programs=" + ",".join(s["name"] for s in services), ""]
        write(ini, "\n".join(parts))
        return ["supervisord", "-n", "-c", ini]
    if sup == "horust":
        d = os.path.join(work, "horust.d")
        os.makedirs(d)
        for s in services:
            strategy = "always" if s.get("restart") else "never"
            write(os.path.join(d, s["name"] + ".toml"),
                  f'command = {toml_str(" ".join([s["prog"]] + s.get("args", [])))}\n'
                  f'[restart]\nstrategy = "{strategy}"\nbackoff = "0s"\nattempts = 0\n'
                  '[environment]\nkeep-env = true\n'
                  '[termination]\nsignal = "TERM"\nwait = "10s"\n')
        write(os.path.join(work, "horust.toml"), "unsuccessful_exit_finished_failed = false\n")
        os.makedirs(os.path.join(work, "horust-uds"))
        return ["horust", "--config-path", os.path.join(work, "horust.toml"),
                "--services-path", d, "--uds-folder-path", os.path.join(work, "horust-uds")]
    if sup in ("tini", "dumb-init"):
        # No supervision: a shell starts every service in the background and
        # waits for all of them (TERM, forwarded to the process group, is
        # trapped so that the shell keeps waiting for its children).
        progs = {(s["prog"], tuple(s.get("args", []))) for s in services}
        lines = ["trap : TERM INT"]
        if len(progs) == 1:
            prog, args = progs.pop()
            cmd = " ".join(shell_quote(a) for a in (prog,) + args)
            lines.append(f"i=0; while [ $i -lt {len(services)} ]; do {cmd} & i=$((i+1)); done")
        else:
            for s in services:
                lines.append(" ".join(shell_quote(a) for a in [s["prog"]] + s.get("args", [])) + " &")
        lines.append("until wait; do :; done")
        script = "\n".join(lines)
        if sup == "tini":
            return ["tini", "-g", "--", "/bin/sh", "-c", script]
        return ["dumb-init", "/bin/sh", "-c", script]
    raise ValueError(sup)


def wrapper_argv(sup, work, cmd):
    """`sup` as a wrapper around one command, the way a container runs it
    (`docker run --init`): tend's socket goes into the scratch directory."""
    if sup == "tend":
        return [TEND, "--socket", os.path.join(work, "tend.sock"), "run", "--"] + cmd
    if sup == "tini":
        return [shutil.which("tini"), "--"] + cmd
    if sup == "dumb-init":
        return [shutil.which("dumb-init")] + cmd
    raise ValueError(sup)


# ---------------------------------------------------------------------------
# The harness


def cgroup2_mount():
    for line in (read("/proc/self/mountinfo", "") or "").splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ")[0] == "cgroup2":
            return left.split(" ")[4]
    return None


def remove_cgroup_tree(top):
    """rmdir a cgroup tree bottom-up (cgroups of dead processes are empty)."""
    if not top or not os.path.isdir(top):
        return
    for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.tmp = tempfile.mkdtemp(prefix="tend-bench-")
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        self.seq = 0
        self.build_helpers()
        self.available = {s: self.have(s) for s in ALL_SUPS}
        # tend puts each service in a cgroup; a tend killed with SIGKILL
        # cannot remove them, so every tend run gets its own cgroup-root
        # below this one, removed after the run.
        mnt = cgroup2_mount()
        self.cgroups = os.path.join(mnt, f"tend-bench-{os.getpid()}") if mnt else None
        self.calm = Calm(self.quick)

    def have(self, sup):
        exe = {"tend": TEND, "runit": "runsvdir", "s6": "s6-svscan", "supervisord": "supervisord",
               "horust": "horust", "tini": "tini", "dumb-init": "dumb-init"}[sup]
        return os.path.exists(exe) if exe.startswith("/") else shutil.which(exe) is not None

    def sups(self, wanted):
        chosen = [s for s in wanted if s in self.args.sups]
        return [s for s in chosen if self.available[s]]

    def build_helpers(self):
        src = os.path.join(BENCH, "helpers")
        for h in HELPERS:
            out = os.path.join(self.bin, "bt-" + h)
            cmd = ["cc", "-O2", "-Wall", "-static", "-o", out, os.path.join(src, h + ".c")]
            if h in NOLIBC_HELPERS:  # without libc where it can (notify.c says why)
                r = subprocess.run(cmd + ["-DBT_NOLIBC", "-no-pie", "-nostdlib", "-ffreestanding",
                                          "-fno-stack-protector", "-fno-builtin"],
                                   capture_output=True, text=True, timeout=120)
                if r.returncode == 0:
                    continue
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if r.returncode != 0:  # no static libc: link dynamically
                cmd.remove("-static")
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
                if r.returncode != 0:
                    raise RuntimeError(f"cannot build {h}: {r.stderr}")

    def helper(self, h):
        return os.path.join(self.bin, "bt-" + h)

    def workdir(self, tag):
        self.seq += 1
        d = os.path.join(self.tmp, f"{self.seq:04d}-{tag}")
        os.makedirs(d)
        return d

    def cleanup(self):
        kill_all_live()
        shutil.rmtree(self.tmp, ignore_errors=True)
        remove_cgroup_tree(self.cgroups)

    def start(self, sup, services, tag, extra_env=None, argv=None):
        """argv: work -> the command line, instead of `layout` of services."""
        work = self.workdir(f"{tag}-{sup}")
        argv = argv(work) if argv else layout(sup, work, services)
        env = dict(os.environ)
        env.update({"BT_STAMP": os.path.join(work, "stamps"), "BT_DONE": os.path.join(work, "done")})
        os.makedirs(env["BT_DONE"])
        env.pop("NOTIFY_SOCKET", None)
        if sup == "tend" and self.cgroups:
            env["TEND_CGROUP_ROOT"] = os.path.join(self.cgroups, os.path.basename(work))
        env.update(extra_env or {})
        ns = Namespace(argv, env, os.path.join(work, "supervisor.log"), work)
        ns.work = work
        ns.stamps = env["BT_STAMP"]
        ns.sup = sup
        ns.env = env
        return ns

    def run_ns(self, sup, services, tag, body, extra_env=None, argv=None):
        """Starts `sup` with `services`, runs body(ns), always kills the namespace."""
        self.calm.wait()
        ns = self.start(sup, services, tag, extra_env, argv)
        try:
            return body(ns)
        except BenchTimeout as e:
            tail = (read(os.path.join(ns.work, "supervisor.log"), "") or "")[-600:]
            log(f"  {sup}: {e}\n    supervisor log tail: {tail!r}")
            return {"error": str(e)}
        finally:
            ns.kill()
            if "TEND_CGROUP_ROOT" in ns.env:
                remove_cgroup_tree(ns.env["TEND_CGROUP_ROOT"])
            if not self.args.keep:
                shutil.rmtree(ns.work, ignore_errors=True)


def cpu_busy(interval=0.3):
    """Fraction of the machine's CPU time that was busy over `interval` s."""
    def snap():
        f = (read("/proc/stat", "") or "cpu 0 0 0 0").split("\n")[0].split()[1:]
        v = [int(x) for x in f]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 0.0 if t1 == t0 else 1.0 - (i1 - i0) / (t1 - t0)


class Calm:
    """Before each run, wait (within a budget per scenario) for the machine to
    be mostly idle: it is shared, and a compile next door doubles latencies.
    Records how busy it was when each run started."""

    def __init__(self, quick):
        self.quick = quick
        self.budget = 0.0
        self.samples = []

    def scenario(self):
        self.budget = 0.0 if self.quick else 90.0
        self.samples = []

    def wait(self):
        deadline = time.monotonic() + min(self.budget, 15.0)
        t0 = time.monotonic()
        busy = cpu_busy(0.1 if self.quick else 0.3)
        while busy > 0.25 and time.monotonic() < deadline:
            busy = cpu_busy(0.5)
        self.budget = max(0.0, self.budget - (time.monotonic() - t0))
        self.samples.append(round(busy, 3))


def stamp_lines(path):
    text = read(path, "") or ""
    return [l.split() for l in text.split("\n")[:-1] if l]


def count_stamps(path):
    text = read(path, "") or ""
    return text.count("\n")


def wait_stamps(ns, n, timeout):
    def enough():
        if ns.p.poll() is not None:
            raise BenchTimeout(f"{ns.sup} exited early (code {ns.p.returncode})")
        return count_stamps(ns.stamps) >= n
    wait_until(enough, timeout, f"{n} services to start", 0.005)


# ---------------------------------------------------------------------------
# Scenarios. Each returns {sup: [per-run result, ...]} plus notes.


def sc_restart(b):
    """Restart latency: a service exits at once and is restarted, delay 0.
    Latency = T_START of the next instance - T_EXIT of the previous one."""
    q = b.quick
    rounds = 2 if q else 3
    fast = 60 if q else 300        # restarts per run, for restarters with no throttle
    slow = 4 if q else 20          # ... for those that throttle to ~1 s
    svc = [{"name": "flap", "prog": b.helper("flap"), "restart": True, "delay": "0s"}]
    out = {"floor": [], "rounds": rounds}
    sups = b.sups(RESTARTING)

    def lat(lines):
        rows = sorted((int(l[1]), int(l[2])) for l in lines if len(l) >= 3)
        return [(rows[i + 1][0] - rows[i][1]) / 1e6 for i in range(len(rows) - 1)]

    for r in range(rounds):
        # the floor: fork/exec/wait of the same program, PID 1 of a namespace too
        b.calm.wait()
        work = b.workdir("floor")
        env = dict(os.environ, BT_STAMP=os.path.join(work, "stamps"))
        ns = Namespace([b.helper("floor"), str(fast + 1), b.helper("flap")], env,
                       os.path.join(work, "log"), work)
        try:
            ns.p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            log("  floor: timed out")
        finally:
            ns.kill()
        out["floor"].append(lat(stamp_lines(env["BT_STAMP"])))
        log(f"  round {r + 1}: floor p50 {pct(out['floor'][-1], 50):.3f} ms")
        for sup in sups:
            k = fast if sup == "tend" else slow

            def body(ns, k=k):
                try:
                    wait_stamps(ns, k + 1, 30 + 2.0 * k)
                except BenchTimeout as e:
                    got = count_stamps(ns.stamps)
                    if got < 3:
                        raise
                    log(f"  {ns.sup}: only {got} instances: {e}")
                return lat(stamp_lines(ns.stamps))
            v = b.run_ns(sup, svc, "restart", body)
            out.setdefault(sup, []).append(v)
            if isinstance(v, list) and v:
                log(f"  round {r + 1}: {sup} {len(v)} restarts, p50 {pct(v, 50):.3f} ms")
    return out


def supervisor_procs(ns, service_exes):
    pids, table = ns.tree()
    return [p for p in pids if exe_of(p) not in service_exes], pids


def sc_memory(b):
    """RSS and PSS of the supervisor's process tree (services excluded) with N
    idle services."""
    ns_list = [10, 100] if b.quick else [10, 100, 1000]
    rounds = 1 if b.quick else 2
    up = b.helper("up")
    out = {"N": ns_list, "rounds": rounds}
    for n in ns_list:
        svcs = [{"name": f"s{i:04d}", "prog": up} for i in range(n)]
        for r in range(rounds):
            for sup in b.sups(ALL_SUPS):
                def body(ns):
                    wait_stamps(ns, n, 30 + n * 0.2)
                    time.sleep(1.0)
                    procs, allp = supervisor_procs(ns, {up})
                    rss = pss = 0
                    for p in procs:
                        a, c = smaps_rollup(p)
                        rss += a
                        pss += c
                    return {"rss_kb": rss, "pss_kb": pss, "procs": len(procs),
                            "services": len(allp) - len(procs)}
                v = b.run_ns(sup, svcs, f"mem{n}", body)
                out.setdefault(sup, {}).setdefault(str(n), []).append(v)
                if "pss_kb" in v:
                    log(f"  N={n} round {r + 1}: {sup} PSS {v['pss_kb'] / 1024:.2f} MiB "
                        f"RSS {v['rss_kb'] / 1024:.2f} MiB in {v['procs']} processes")
    return out


def sc_idle(b):
    """Context switches and CPU time of the supervisor tree over D seconds, 10
    idle services."""
    dur = 2.0 if b.quick else 10.0
    rounds = 1 if b.quick else 2
    up = b.helper("up")
    svcs = [{"name": f"s{i:02d}", "prog": up} for i in range(10)]
    out = {"seconds": dur, "rounds": rounds}
    for r in range(rounds):
        for sup in b.sups(ALL_SUPS):
            def body(ns):
                wait_stamps(ns, 10, 30)
                time.sleep(1.0 if b.quick else 2.0)

                def snap():
                    procs, _ = supervisor_procs(ns, {up})
                    c = {}
                    for p in procs:
                        c.update(task_counters(p))
                    return c
                a = snap()
                time.sleep(dur)
                z = snap()
                cs = cpu = 0
                for k, (c1, t1) in z.items():
                    c0, t0 = a.get(k, (0, 0))
                    cs += c1 - c0
                    cpu += t1 - t0
                return {"ctxsw": cs, "cpu_ms": cpu / 1e6, "tasks": len(z),
                        "tasks_gone": len(set(a) - set(z))}
            v = b.run_ns(sup, svcs, "idle", body)
            out.setdefault(sup, []).append(v)
            if "ctxsw" in v:
                log(f"  round {r + 1}: {sup} {v['ctxsw']} ctx switches, {v['cpu_ms']:.2f} ms CPU in {dur:.0f} s")
    return out


def sc_startup(b):
    """From launching the supervisor to the last of N services running (each
    service stamps its start)."""
    ns_list = [100] if b.quick else [100, 1000]
    # N=100 is the row of the bar and a run takes ~0.1 s: more rounds make
    # its median robust to a noisy neighbour on a shared VM.
    rounds = {100: 2, 1000: 2} if b.quick else {100: 7, 1000: 3}
    up = b.helper("up")
    out = {"N": ns_list, "rounds": rounds[ns_list[-1]], "rounds_by_n": {str(n): rounds[n] for n in ns_list}}
    for n in ns_list:
        svcs = [{"name": f"s{i:04d}", "prog": up} for i in range(n)]
        for r in range(rounds[n]):
            for sup in b.sups(ALL_SUPS):
                def body(ns):
                    wait_stamps(ns, n, 30 + n * 0.2)
                    last = max(int(l[1]) for l in stamp_lines(ns.stamps))
                    return {"ms": (last - ns.t_launch) / 1e6}
                v = b.run_ns(sup, svcs, f"start{n}", body)
                out.setdefault(sup, {}).setdefault(str(n), []).append(v)
                if "ms" in v:
                    log(f"  N={n} round {r + 1}: {sup} {v['ms']:.1f} ms")
    return out


def make_graph(n, seed=5, min_delay=0):
    """A dependency graph of n notify services: 10 trunks (chains of 20) from
    a root, a fifth of the links also requiring the previous link of the trunk
    beside (joins), and leaves fanning out from random links. Each service
    sleeps its delay (ms) before READY=1. Returns the services (name, delay,
    requires) in topological order, the critical path (ms) and its length in
    services."""
    rng = random.Random(seed)
    svcs = [("root", 5, [])]
    trunks, depth = 10, 20
    links = []
    for t in range(trunks):
        prev = "root"
        for d in range(depth):
            name = f"t{t:02d}-{d:02d}"
            req = [prev]
            if d > 0 and t > 0 and rng.random() < 0.2:  # a join with the trunk beside
                req.append(f"t{t - 1:02d}-{d - 1:02d}")
            svcs.append((name, max(min_delay, rng.randint(1, 8)), req))
            links.append(name)
            prev = name
    i = 0
    while len(svcs) < n:
        parent = links[rng.randrange(len(links))]
        svcs.append((f"leaf{i:04d}", max(min_delay, rng.randint(0, 20)), [parent]))
        i += 1
    best, hops = {}, {}
    for name, d, req in svcs:
        best[name] = d + max((best[r] for r in req), default=0)
        hops[name] = 1 + max((hops[r] for r in req), default=0)
    end = max(best, key=best.get)
    return svcs, best[end], hops[end]


def make_layers(n=300, width=10, delay=20):
    """n notify services in layers of `width`, each requiring every service
    of the layer before, each sleeping `delay` ms before READY=1: the graph
    of issue 16 point 4, whose critical path is (n / width) * delay."""
    svcs, prev = [], []
    for k in range(0, n, width):
        layer = [f"l{k // width:03d}-{j:02d}" for j in range(min(width, n - k))]
        svcs.extend((name, delay, list(prev)) for name in layer)
        prev = layer
    return svcs, delay * len(range(0, n, width)), len(range(0, n, width))


def tend_events_socket(path, timeout):
    def connect():
        if not os.path.exists(path):
            return None
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            return None
    s = wait_until(connect, timeout, "tend's control socket", 0.002)
    s.sendall(b'{"cmd":"events","since":null,"follow":true}\n')
    return s


def notify_supported(b):
    svcs, _, _ = make_graph(12)
    work = b.workdir("notify-check")
    layout("tend", work, [{"name": n, "prog": b.helper("notify"), "args": [str(d)],
                           "type": "notify", "requires": req} for n, d, req in svcs])
    r = subprocess.run([TEND, "check", os.path.join(work, "tend.d")], capture_output=True,
                       text=True, timeout=30)
    shutil.rmtree(work, ignore_errors=True)
    text = r.stdout + r.stderr
    if r.returncode != 0:
        return False, text.strip().splitlines()[-1] if text.strip() else f"tend check exit {r.returncode}"
    if "not supported" in text:
        return False, "tend: not supported yet (`tend check` says type `notify` is treated like `simple`)"
    return True, ""


def tend_request(sock_path, req, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
        return json.loads(buf.split(b"\n")[0])
    finally:
        s.close()


def graph_floor(b, spec, limit):
    """The same graph started by bt-graphfloor, the smallest dependency-driven
    supervisor (posix_spawn once every requirement said READY=1; no cgroups,
    logs or events), as PID 1 of its own namespace: from its launch to its
    last READY=1, the floor of a graph's start with these services on this
    machine."""
    b.calm.wait()
    # The services stamp into a file as under the supervisors (b.start).
    stamps = os.path.join(os.path.dirname(spec), "stamps")
    if os.path.exists(stamps):
        os.unlink(stamps)
    t0 = now_ns()
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                          b.helper("graphfloor"), spec, b.helper("notify")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, BT_STAMP=stamps))
    try:
        rl, _, _ = select.select([p.stdout], [], [], limit)
        line = p.stdout.readline() if rl else b""
        return {"ms": (int(line) - t0) / 1e6} if line.strip() else {"error": f"not all ready in {limit:.0f} s"}
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()


def sc_graph(b):
    """1000 notify services in a dependency graph, to all ready (tend's own
    `ready` events), against the graph's critical path. Two variants: delays
    of 0-20 ms as designed (some services send READY=1 right after exec), and
    the same graph with every delay at least 1 ms."""
    n = 300 if b.quick else 1000
    rounds = 1 if b.quick else 3
    limit = 10.0 if b.quick else 20.0
    out = {"N": n, "rounds": rounds, "limit_s": limit}
    ok, why = notify_supported(b)
    if not ok:
        out["skipped"] = why
        log("  " + why)
        return out
    for variant, min_delay in [("as-designed", 0), ("min-1ms", 1), ("layers", None)]:
        if min_delay is None:
            svcs, crit, hops = make_layers()
        else:
            svcs, crit, hops = make_graph(n, min_delay=min_delay)
        n = len(svcs)
        delays = {name: d for name, d, _ in svcs}
        res = {"n": n, "critical_ms": crit, "hops": hops, "zero_delay": sum(1 for d in delays.values() if d == 0),
               "tend": []}
        out[variant] = res
        services = [{"name": name, "prog": b.helper("notify"), "args": [str(d)], "type": "notify",
                     "requires": req} for name, d, req in svcs]
        index = {name: i for i, (name, _, _) in enumerate(svcs)}
        spec = os.path.join(b.workdir(f"graphfloor-{variant}"), "graph")
        write(spec, "".join(" ".join([str(d)] + [str(index[x]) for x in req]) + "\n" for _, d, req in svcs))
        res["floor"] = []
        for r in range(rounds):
            v = graph_floor(b, spec, limit)
            res["floor"].append(v)
            if "ms" in v:
                log(f"  {variant} round {r + 1}: floor {v['ms']:.1f} ms")
            else:
                log(f"  {variant} round {r + 1}: floor {v.get('error')}")
            def body(ns):
                sock = os.path.join(ns.work, "tend.sock")
                s = tend_events_socket(sock, 20)
                ready, buf, t_last = set(), b"", None
                deadline = time.monotonic() + limit
                try:
                    while len(ready) < n:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        rl, _, _ = select.select([s], [], [], left)
                        if not rl:
                            continue
                        chunk = s.recv(1 << 16)
                        t = now_ns()
                        if not chunk:
                            break
                        buf += chunk
                        *lines, buf = buf.split(b"\n")
                        for line in lines:
                            ev = json.loads(line)
                            if ev.get("event") == "ready" and ev.get("service"):
                                ready.add(ev["service"])
                                t_last = t
                finally:
                    s.close()
                if len(ready) == n:
                    return {"ms": (t_last - ns.t_launch) / 1e6}
                st = tend_request(sock, {"cmd": "status", "names": []}).get("services", [])
                states = {}
                for x in st:
                    states[x["state"]] = states.get(x["state"], 0) + 1
                stuck = [x["name"] for x in st if x["state"] == "starting"]
                sends = {}
                for l in stamp_lines(ns.stamps):
                    k = "ok" if len(l) == 4 and int(l[2]) >= 0 else f"sendto failed: {l[2:]}"
                    sends[k] = sends.get(k, 0) + 1
                return {"error": f"{len(ready)}/{n} ready after {limit:.0f} s", "states": states,
                        "sends": sends,
                        "stuck": stuck, "stuck_delays": sorted({delays[x] for x in stuck})}
            v = b.run_ns("tend", services, "graph", body)
            res["tend"].append(v)
            if "ms" in v:
                log(f"  {variant} round {r + 1}: tend {v['ms']:.1f} ms (critical path {crit} ms, {hops} hops)")
            else:
                log(f"  {variant} round {r + 1}: tend {v.get('error')}: {v.get('states')}, "
                    f"stuck in starting with delays {v.get('stuck_delays')} ms; READY=1 sends: {v.get('sends')}")
    return out


def sc_shutdown(b):
    """SIGTERM to PID 1 with 20 services that each need 1 s after SIGTERM:
    time to PID 1's exit, and how many services finished (wrote their file)."""
    rounds = 1 if b.quick else 3
    svcs = [{"name": f"s{i:02d}", "prog": b.helper("slowterm")} for i in range(20)]
    out = {"rounds": rounds}
    for r in range(rounds):
        for sup in b.sups(ALL_SUPS):
            def body(ns):
                wait_stamps(ns, 20, 30)
                time.sleep(1.0)
                init = ns.init_pid()
                fd = os.pidfd_open(init)
                try:
                    t0 = now_ns()
                    os.kill(init, signal.SIGTERM)
                    rl, _, _ = select.select([fd], [], [], 40)
                    t1 = now_ns()
                finally:
                    os.close(fd)
                try:
                    ns.p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
                done = len(os.listdir(os.path.join(ns.work, "done")))
                if not rl:
                    return {"s": None, "finished": done, "timeout": True}
                return {"s": (t1 - t0) / 1e9, "finished": done}
            v = b.run_ns(sup, svcs, "shutdown", body)
            out.setdefault(sup, []).append(v)
            if "finished" in v:
                t = f"{v['s']:.3f} s" if v.get("s") is not None else "no exit in 40 s"
                log(f"  round {r + 1}: {sup} {t}, {v['finished']}/20 finished")
    return out


def sc_zombies(b):
    """1000 orphaned grandchildren exit at once; zombies left 1 s later."""
    rounds = 1 if b.quick else 3
    norph = 1000
    svcs = [{"name": "orphans", "prog": b.helper("orphans")}]
    out = {"rounds": rounds, "orphans": norph}
    for r in range(rounds):
        for sup in b.sups(ALL_SUPS):
            def body(ns):
                def released():
                    for l in stamp_lines(ns.stamps):
                        if l and l[0] == "released":
                            return (int(l[1]), int(l[2]))
                    return None
                made, t_rel = wait_until(released, 60, "the orphans to be released", 0.002)
                delay = (t_rel + 1_000_000_000 - now_ns()) / 1e9
                if delay > 0:
                    time.sleep(delay)
                late = (now_ns() - t_rel) / 1e9
                pids, table = ns.tree()
                z = sum(1 for p in pids if table[p][1] == "Z")
                return {"zombies": z, "orphans": made, "at_s": late}
            v = b.run_ns(sup, svcs, "zombies", body, {"BT_ORPHANS": str(norph)})
            out.setdefault(sup, []).append(v)
            if "zombies" in v:
                log(f"  round {r + 1}: {sup} {v['zombies']} zombies of {v['orphans']} at +{v['at_s']:.2f} s")
    return out


def parse_evsub(path):
    rows = []
    for line in (read(path, "") or "").splitlines():
        t, _, js = line.partition(" ")
        try:
            rows.append((int(t), json.loads(js)))
        except ValueError:
            continue
    return rows


def match_latency(stamps, downs):
    """stamps: [(pid, t_exit)], downs: [(pid_or_key, t_recv)]: latency of each
    notification to its exit (the latest exit of that key before it)."""
    by = {}
    for key, t in stamps:
        by.setdefault(key, []).append(t)
    for v in by.values():
        v.sort()
    out = []
    import bisect
    for key, t in downs:
        ts = by.get(key)
        if not ts:
            continue
        i = bisect.bisect_right(ts, t) - 1
        if i >= 0:
            out.append((t - ts[i]) / 1e6)
    return out


def sc_events(b):
    """tend: latency from a service's exit to an `exited` event at a `tend
    events --json --follow` subscriber, alone and with 10 subscribers during a
    restart storm; every subscriber must see every seq. s6: the same through
    its fifodir events ('d' per death) on services' event/ directories."""
    q = b.quick
    storm_s = 2.0 if q else 5.0
    quiet_n = 20 if q else 100
    out = {"storm_s": storm_s, "subscribers": 10}
    evsub = b.helper("evsub")
    if "tend" in b.sups(["tend"]):
        # quiet: one service restarting every 50 ms, one subscriber
        svc = [{"name": "flap", "prog": b.helper("flap"), "restart": True, "delay": "50ms",
                "delay_max": "50ms"}]

        def quiet(ns):
            sock = os.path.join(ns.work, "tend.sock")
            wait_until(lambda: os.path.exists(sock), 20, "tend's socket")
            sub = subprocess.Popen([evsub, os.path.join(ns.work, "sub0"), TEND, "--socket", sock,
                                    "events", "--json", "--follow"], start_new_session=True)
            try:
                base = count_stamps(ns.stamps)
                wait_stamps(ns, base + quiet_n, 60)
                time.sleep(0.2)
            finally:
                sub.send_signal(signal.SIGTERM)
                sub.wait(timeout=20)
            rows = parse_evsub(os.path.join(ns.work, "sub0"))
            stamps = [(int(l[0]), int(l[2])) for l in stamp_lines(ns.stamps) if len(l) == 3]
            downs = [(ev.get("pid"), t) for t, ev in rows if ev.get("event") == "exited"]
            return {"latency_ms": match_latency(stamps, downs)}
        out["tend_quiet"] = b.run_ns("tend", svc, "events-quiet", quiet)

        # storm: 10 services restarting with no delay, 10 subscribers
        svcs = [{"name": f"f{i}", "prog": b.helper("flap"), "restart": True, "delay": "0s"}
                for i in range(10)]

        def storm(ns):
            sock = os.path.join(ns.work, "tend.sock")
            wait_until(lambda: os.path.exists(sock), 20, "tend's socket")
            subs = [subprocess.Popen([evsub, os.path.join(ns.work, f"sub{i}"), TEND, "--socket", sock,
                                      "events", "--json", "--follow"], start_new_session=True)
                    for i in range(10)]
            try:
                t0 = now_ns()
                time.sleep(storm_s)
                t1 = now_ns()
                r = subprocess.run([TEND, "--socket", sock, "shutdown"], capture_output=True, timeout=30)
                ns.p.wait(timeout=40)
                for s in subs:
                    s.wait(timeout=20)
            finally:
                for s in subs:
                    if s.poll() is None:
                        s.send_signal(signal.SIGTERM)
                        s.wait(timeout=20)
            stamps = [(int(l[0]), int(l[2])) for l in stamp_lines(ns.stamps) if len(l) == 3]
            res = {"subs": [], "window_s": (t1 - t0) / 1e9, "shutdown_rc": r.returncode}
            final = 0
            allrows = []
            for i in range(10):
                rows = parse_evsub(os.path.join(ns.work, f"sub{i}"))
                allrows.append(rows)
                for _, ev in rows:
                    final = max(final, ev.get("seq") or 0)
            lat = []
            for rows in allrows:
                seqs = [ev["seq"] for _, ev in rows if "seq" in ev]
                lagged = any("lagged" in ev for _, ev in rows)
                gaps = sum(1 for a, c in zip(seqs, seqs[1:]) if c != a + 1)
                first = seqs[0] if seqs else None
                in_window = sum(1 for t, ev in rows if t0 <= t <= t1 and "seq" in ev)
                ended = any(ev.get("event") == "shutdown-finished" for _, ev in rows)
                res["subs"].append({"events": len(seqs), "first": first, "last": seqs[-1] if seqs else None,
                                    "gaps": gaps, "lagged": lagged, "ended": ended,
                                    "lost": final - len(seqs), "rate": in_window / ((t1 - t0) / 1e9)})
                downs = [(ev.get("pid"), t) for t, ev in rows
                         if ev.get("event") == "exited" and t0 <= t <= t1]
                lat += match_latency(stamps, downs)
            res["final_seq"] = final
            res["restarts"] = len(stamps)
            res["latency_ms"] = lat
            return res
        out["tend_storm"] = b.run_ns("tend", svcs, "events-storm", storm)
        st = out["tend_storm"]
        if "subs" in st:
            log(f"  tend: storm {st['final_seq']} events, {st['restarts']} restarts, "
                f"lost {[s['lost'] for s in st['subs']]}, p50 {pct(st['latency_ms'], 50)} ms")
    if "s6" in b.sups(["s6"]):
        fl = b.helper("fifolisten")

        def s6run(nsvc, nsub, dur):
            svcs = [{"name": f"f{i}", "prog": b.helper("flap"), "restart": True} for i in range(nsvc)]

            def body(ns):
                scan = os.path.join(ns.work, "scan")
                evdirs = [os.path.join(scan, s["name"], "event") for s in svcs]
                wait_until(lambda: all(os.path.isdir(d) for d in evdirs), 20, "s6 event dirs")
                subs = []
                for j in range(nsub):
                    # s6 writes to fifos named "ftrig1:@" + 31 characters
                    fifos = [os.path.join(d, ("ftrig1:@bench%02d" % j).ljust(39, "x")) for d in evdirs]
                    subs.append(subprocess.Popen([fl, os.path.join(ns.work, f"sub{j}")] + fifos,
                                                 start_new_session=True))
                wait_until(lambda: all(os.path.exists(os.path.join(d, ("ftrig1:@bench%02d" % j).ljust(39, "x")))
                                       for d in evdirs for j in range(nsub)), 20, "the subscribers' fifos")
                t0 = now_ns()
                time.sleep(dur)
                t1 = now_ns()
                time.sleep(0.2)
                for sp in subs:
                    sp.send_signal(signal.SIGTERM)
                for sp in subs:
                    sp.wait(timeout=20)
                # each exit in the window, per service, must be followed by one 'd'
                # on that service's fifo, before the service's next exit
                exits = {}
                for l in stamp_lines(ns.stamps):
                    if len(l) == 4 and t0 <= int(l[2]) <= t1:
                        exits.setdefault(l[3], []).append(int(l[2]))
                res = {"subs": [], "window_s": (t1 - t0) / 1e9}
                lat = []
                import bisect
                for j in range(nsub):
                    ds = {}
                    nrows = 0
                    for line in (read(os.path.join(ns.work, f"sub{j}"), "") or "").splitlines():
                        t, idx, ch = line.split()
                        nrows += 1 if t0 <= int(t) <= t1 else 0
                        if ch == "d":
                            ds.setdefault(svcs[int(idx)]["name"], []).append(int(t))
                    got = total = 0
                    for name, ts in exits.items():
                        d = sorted(ds.get(name, []))
                        for te in ts:
                            total += 1
                            k = bisect.bisect_left(d, te)
                            if k < len(d):
                                got += 1
                                lat.append((d[k] - te) / 1e6)
                    res["subs"].append({"events": nrows, "exits": total, "lost": total - got,
                                        "rate": nrows / ((t1 - t0) / 1e9)})
                res["latency_ms"] = lat
                return res
            return b.run_ns("s6", svcs, "events-s6", body, {"BT_CWD": "1"})
        out["s6_quiet"] = s6run(1, 1, 4.0 if q else 12.0)
        out["s6_storm"] = s6run(10, 10, storm_s)
        st = out["s6_storm"]
        if "subs" in st:
            log(f"  s6: storm lost {[s['lost'] for s in st['subs']]}, p50 {pct(st['latency_ms'], 50)} ms")
    return out


def wait_status(st):
    """A raw wait status as the shell shows it: N, or 128+SIG when signalled."""
    return os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)


def sc_wrapper(b):
    """`tend run -- CMD` against `tini -- CMD` and `dumb-init CMD`, as PID 1.
    true: wall time of `unshare ... X -- /bin/true` measured from its parent
    (bt-spawntime: fork to waitpid), each run paired with a bare `unshare ...
    /bin/true` right before or after it (the order alternating); the cost of X
    is the median over pairs of (X - bare). term: CMD exits 0 at once on
    SIGTERM; SIGTERM to PID 1 from outside, time to `unshare`'s exit, and
    every exit status must be 0."""
    q = b.quick
    n = 40 if q else 200           # paired runs per supervisor
    warm = 3                       # pairs per supervisor run first and dropped
    batch = 20                     # pairs per supervisor between two waits for a calm machine
    rounds = 5 if q else 30        # SIGTERM runs per supervisor
    sups = b.sups(WRAPPERS)
    out = {"N": n, "rounds": rounds, "true": {}, "term": {}}
    if not sups:
        return out

    # ---- X -- /bin/true, paired with bare runs
    work = b.workdir("wrapper-true")
    unshare = [shutil.which("unshare")] + UNSHARE[1:]
    cmds = [unshare + ["/bin/true"]] + [unshare + wrapper_argv(s, work, ["/bin/true"]) for s in sups]
    argv = [b.helper("spawntime"), os.path.join(work, "log")]
    for i, c in enumerate(cmds):
        argv += (["::"] if i else []) + c
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    if b.cgroups:
        env["TEND_CGROUP_ROOT"] = os.path.join(b.cgroups, os.path.basename(work))
    pairs = {s: [] for s in sups}   # (x_ns, bare_ns, x_first)
    failed = {s: {} for s in ["bare"] + sups}
    try:
        i = 0
        while i < warm + n:
            b.calm.wait()
            k = min(batch, warm + n - i)
            plan = []
            for it in range(i, i + k):
                for j, sup in enumerate(sups):
                    x_first = (it + j) % 2 == 1
                    plan += [j + 1, 0] if x_first else [0, j + 1]
            sp = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, start_new_session=True)
            try:
                text, _ = sp.communicate("\n".join(map(str, plan)) + "\n", timeout=60 + k)
            except subprocess.TimeoutExpired:
                os.killpg(sp.pid, signal.SIGKILL)  # --kill-child takes each namespace with it
                sp.wait()
                raise BenchTimeout(f"{k} x {len(sups)} paired runs did not finish in {60 + k} s")
            rows = [tuple(map(int, l.split())) for l in text.splitlines() if l]
            if len(rows) != len(plan):
                raise RuntimeError(f"spawntime ran {len(rows)} of {len(plan)} (exit {sp.returncode})")
            for p in range(0, len(rows), 2):
                x_first = rows[p][0] != 0
                (cx, tx, sx), (_, tb, sb) = (rows[p], rows[p + 1]) if x_first else (rows[p + 1], rows[p])
                sup = sups[cx - 1]
                bad = False
                for who, st in ((sup, sx), ("bare", sb)):
                    if st != 0:
                        code = str(wait_status(st))
                        failed[who][code] = failed[who].get(code, 0) + 1
                        bad = True
                if i + p // (2 * len(sups)) >= warm and not bad:
                    pairs[sup].append((tx, tb, x_first))
            i += k
    finally:
        remove_cgroup_tree(env.get("TEND_CGROUP_ROOT"))
        if not b.args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for sup in sups:
        ps = pairs[sup]
        out["true"][sup] = {"x_ms": [x / 1e6 for x, _, _ in ps], "bare_ms": [y / 1e6 for _, y, _ in ps],
                            "x_first": [f for _, _, f in ps], "failed": failed[sup]}
        d = [(x - y) / 1e6 for x, y, _ in ps]
        if d:
            log(f"  true: {sup} {len(d)} pairs, {median([x / 1e6 for x, _, _ in ps]):.3f} ms, "
                f"bare {median([y / 1e6 for _, y, _ in ps]):.3f} ms, X - bare {median(d):.3f} ms"
                + (f"; failed {failed[sup]}" if failed[sup] else ""))
    out["true"]["bare_failed"] = failed["bare"]
    if failed["bare"]:
        log(f"  true: bare runs failed {failed['bare']}")

    # ---- SIGTERM to PID 1 of `X -- termexit`
    cmd = [b.helper("termexit")]
    for r in range(rounds):
        for sup in sups:
            def body(ns):
                wait_stamps(ns, 1, 20)
                time.sleep(0.1)    # CMD runs and the wrapper is settled in its wait
                init = ns.init_pid()
                fd = os.pidfd_open(ns.p.pid)
                try:
                    t0 = now_ns()
                    os.kill(init, signal.SIGTERM)
                    rl, _, _ = select.select([fd], [], [], 20)
                    t1 = now_ns()
                finally:
                    os.close(fd)
                if not rl:
                    return {"ms": None, "timeout": True}
                rc = ns.p.wait(timeout=10)
                return {"ms": (t1 - t0) / 1e6, "rc": rc}
            v = b.run_ns(sup, None, "wrapper-term", body, argv=lambda work, sup=sup: wrapper_argv(sup, work, cmd))
            out["term"].setdefault(sup, []).append(v)
            if v.get("rc", 0) != 0 or v.get("timeout"):
                log(f"  term round {r + 1}: {sup} exit {v.get('rc')}" + (" (no exit in 20 s)" if v.get("timeout") else ""))
    for sup in sups:
        ms = [x["ms"] for x in out["term"].get(sup, []) if x.get("ms") is not None]
        if ms:
            log(f"  term: {sup} {len(ms)} runs, median {median(ms):.3f} ms, "
                f"exit codes {sorted({x.get('rc') for x in out['term'][sup]}, key=str)}")
    return out

LOG_CASES = ["floor", "tend-file", "tend-stdout", "supervisord", "s6-log", "svlogd"]
LOG_ROTATE = 16 << 20  # every logger rotates at 16 MiB, keeping them all


def dir_bytes(d):
    try:
        return sum(e.stat().st_size for e in os.scandir(d) if e.is_file())
    except OSError:
        return 0


def log_layout(case, work, spew):
    """(argv, the directory whose files fill with the log, sup) for `case`."""
    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    if case == "floor":
        return ["/bin/sh", "-c", f"exec {shell_quote(spew)} | cat > {shell_quote(logs)}/out"], logs, None
    if case.startswith("tend"):
        d = os.path.join(work, "tend.d")
        os.makedirs(d)
        log = (f'log = {{ file = "{logs}/spew.log", max-size = "{LOG_ROTATE >> 20}MiB", keep = 100 }}\n'
               if case == "tend-file" else "")
        write(os.path.join(d, "spew.toml"), f"exec = {json.dumps([spew])}\n{log}")
        where = logs if case == "tend-file" else work
        return [TEND, "--socket", os.path.join(work, "tend.sock"), "run", d], where, "tend"
    if case == "supervisord":
        ini = os.path.join(work, "supervisord.conf")
        write(ini, "\n".join([
            "[supervisord]", "nodaemon=true", "user=root", "logfile=/dev/null", "logfile_maxbytes=0",
            "loglevel=error", f"pidfile={work}/supervisord.pid", f"childlogdir={work}", "",
            "[program:spew]", f"command={spew}", "autostart=true", "autorestart=false", "startsecs=0",
            f"stdout_logfile={logs}/spew.log", f"stdout_logfile_maxbytes={LOG_ROTATE}",
            "stdout_logfile_backups=100", "stderr_logfile=NONE", ""]))
        return ["supervisord", "-n", "-c", ini], logs, "supervisord"
    if case == "s6-log":
        d = os.path.join(work, "scan")
        sv_run(os.path.join(d, "spew"), {"prog": spew})
        write(os.path.join(d, "spew", "log", "run"),
              f"#!/bin/sh\nexec s6-log n1000 s{LOG_ROTATE - 1} {shell_quote(logs)}\n", 0o755)
        return ["s6-svscan", d], logs, "s6"
    if case == "svlogd":
        d = os.path.join(work, "service")
        sv_run(os.path.join(d, "spew"), {"prog": spew})
        write(os.path.join(d, "spew", "log", "run"), f"#!/bin/sh\nexec svlogd {shell_quote(logs)}\n", 0o755)
        write(os.path.join(logs, "config"), f"s{LOG_ROTATE}\nn1000\n")
        return ["runsvdir", "-P", d], logs, "runit"
    raise ValueError(case)


def sc_logs(b):
    """One service writes BT_BYTES of 100-byte lines (655 lines per write) to
    its stdout as fast as the pipe takes them; each logger writes them to
    files rotated at 16 MiB (tend-stdout: tend's inherited stdout, a file).
    Throughput: bytes / (moment the log files hold them all - the service's
    T_START); CPU: every process of the namespace but the service (and the
    shell of the floor), cumulative at that moment. floor: `spew | cat > file`."""
    rounds = 1 if b.quick else 3
    total = (32 << 20) if b.quick else (256 << 20)
    spew = b.helper("spew")
    out = {"rounds": rounds, "bytes": total}
    lines = total // 100
    have = {"floor": True, "tend-file": b.available["tend"], "tend-stdout": b.available["tend"],
            "supervisord": b.available["supervisord"], "s6-log": b.available["s6"],
            "svlogd": b.available["runit"]}
    want = {"floor": "tend", "tend-file": "tend", "tend-stdout": "tend", "supervisord": "supervisord",
            "s6-log": "s6", "svlogd": "runit"}
    cases = [c for c in LOG_CASES if have[c] and want[c] in b.args.sups]
    for r in range(rounds):
        for case in cases:
            def body(ns, case=case):
                where = ns.where
                need = lines * (100 + (7 if case == "tend-stdout" else 0))
                if case == "tend-stdout":
                    where = None
                def done():
                    if ns.p.poll() is not None:
                        raise BenchTimeout(f"{case} exited early (code {ns.p.returncode})")
                    got = (os.path.getsize(os.path.join(ns.work, "supervisor.log"))
                           if where is None else dir_bytes(where))
                    return got >= need
                wait_until(done, 120, f"{need} bytes of log", 0.002)
                t_done = now_ns()
                procs, _ = supervisor_procs(ns, {spew, "/usr/bin/dash", "/bin/dash"})
                cpu = 0
                for p in procs:
                    cpu += sum(c for _, c in task_counters(p).values())
                st = stamp_lines(ns.stamps)
                t0 = min(int(l[1]) for l in st if l[0] != "spewed")
                sec = (t_done - t0) / 1e9
                return {"s": sec, "mib_s": total / (1 << 20) / sec, "cpu_s": cpu / 1e9,
                        "cpu_ms_per_mib": cpu / 1e6 / (total / (1 << 20))}
            def argv(work, case=case):
                a, where, _ = log_layout(case, work, spew)
                argv.where = where
                return a
            b.calm.wait()
            ns = b.start(want[case] if case != "floor" else "floor", None, "logs",
                         {"BT_BYTES": str(total)}, argv=argv)
            ns.where = argv.where
            try:
                v = body(ns)
            except BenchTimeout as e:
                log(f"  {case}: {e}")
                v = {"error": str(e)}
            finally:
                ns.kill()
                if "TEND_CGROUP_ROOT" in ns.env:
                    remove_cgroup_tree(ns.env["TEND_CGROUP_ROOT"])
                if not b.args.keep:
                    shutil.rmtree(ns.work, ignore_errors=True)
            out.setdefault(case, []).append(v)
            if "s" in v:
                log(f"  round {r + 1}: {case} {v['mib_s']:.0f} MiB/s, CPU {v['cpu_s']:.3f} s "
                    f"({v['cpu_ms_per_mib']:.3f} ms/MiB)")
    return out

def sc_storm(b):
    """10 services restarting with no delay (a misconfiguration the operator
    must be able to fix during the storm): `status` latency (the control
    request, and the CLI as a process), a follower connecting mid-storm
    (backlog then live events: contiguous seqs, no `lagged`), and `stop NAME`
    (the CLI until its reply, then whether the service is down). s6: the same
    services (s6-supervise throttles them to one start per second),
    `s6-svstat` and `s6-svc -d -wD`."""
    window = 1.5 if b.quick else 4.0
    out = {"window_s": window}
    svcs = [{"name": f"f{i}", "prog": b.helper("flap"), "restart": True, "delay": "0s"} for i in range(10)]

    def timed(argv, timeout=30):
        t = now_ns()
        r = subprocess.run(argv, capture_output=True, timeout=timeout)
        return (now_ns() - t) / 1e6, r.returncode

    def tend_body(ns):
        sock = os.path.join(ns.work, "tend.sock")
        wait_until(lambda: os.path.exists(sock), 20, "tend's socket")
        wait_until(lambda: count_stamps(ns.stamps) >= 200, 20, "the storm")
        res = {"status_ms": [], "status_cli_ms": []}
        end = time.monotonic() + window
        k = 0
        while time.monotonic() < end:
            t = now_ns()
            rep = tend_request(sock, {"cmd": "status", "names": []}, timeout=30)
            res["status_ms"].append((now_ns() - t) / 1e6)
            if len(rep.get("services", [])) != 10:
                res.setdefault("bad_status", 0)
                res["bad_status"] += 1
            k += 1
            if k % 5 == 0:
                res["status_cli_ms"].append(timed([TEND, "--socket", sock, "status"])[0])
            time.sleep(0.01)
        # A follower mid-storm: the backlog, then live events, for 1 s.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sock)
        s.sendall(b'{"cmd":"events","since":null,"follow":true}\n')
        seqs, lagged, buf = [], False, b""
        t_end = time.monotonic() + 1.0
        pat = re.compile(rb'"seq":(\d+)')
        while time.monotonic() < t_end:
            try:
                chunk = s.recv(1 << 20)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if b'"lagged"' in line:
                    lagged = True
                m = pat.search(line)
                if m:
                    seqs.append(int(m.group(1)))
        s.close()
        res["follower"] = {"events": len(seqs), "first": seqs[0] if seqs else None,
                           "last": seqs[-1] if seqs else None, "lagged": lagged,
                           "gaps": sum(1 for a, c in zip(seqs, seqs[1:]) if c != a + 1)}
        ms, rc = timed([TEND, "--socket", sock, "stop", "f0"])
        rep = tend_request(sock, {"cmd": "status", "names": ["f0"]})
        state = (rep.get("services") or [{}])[0].get("state")
        res["stop"] = {"ms": ms, "rc": rc, "state_after": state}
        res["restarts"] = count_stamps(ns.stamps)
        return res

    def s6_body(ns):
        d = os.path.join(ns.work, "scan", "f0")
        wait_until(lambda: os.path.exists(os.path.join(d, "supervise", "status")), 20, "s6-supervise")
        wait_until(lambda: count_stamps(ns.stamps) >= 10, 20, "the services")
        res = {"status_cli_ms": []}
        end = time.monotonic() + window
        while time.monotonic() < end:
            res["status_cli_ms"].append(timed(["s6-svstat", d])[0])
            time.sleep(0.01)
        ms, rc = timed(["s6-svc", "-d", "-wD", "-T", "20000", d])
        st = subprocess.run(["s6-svstat", "-u", d], capture_output=True, text=True, timeout=10)
        res["stop"] = {"ms": ms, "rc": rc, "state_after": "up" if st.stdout.strip() == "true" else "down"}
        res["restarts"] = count_stamps(ns.stamps)
        return res

    rounds = 1 if b.quick else 3
    for r in range(rounds):
        for sup in b.sups(["tend", "s6"]):
            v = b.run_ns(sup, svcs, "storm", tend_body if sup == "tend" else s6_body)
            out.setdefault(sup, []).append(v)
            if "error" not in v:
                st = v.get("status_ms") or v.get("status_cli_ms")
                log(f"  round {r + 1}: {sup} status p50 {pct(st, 50):.2f} ms p99 {pct(st, 99):.2f} ms, "
                    f"stop {v['stop']['ms']:.1f} ms ({v['stop']['state_after']}), "
                    f"follower {v.get('follower')}, {v['restarts']} restarts")
    return out


SCENARIOS = {
    "restart": sc_restart,
    "memory": sc_memory,
    "idle": sc_idle,
    "startup": sc_startup,
    "graph": sc_graph,
    "shutdown": sc_shutdown,
    "zombies": sc_zombies,
    "events": sc_events,
    "storm": sc_storm,
    "wrapper": sc_wrapper,
    "logs": sc_logs,
}


# ---------------------------------------------------------------------------
# Machine facts


def machine():
    cpu = "?"
    for line in (read("/proc/cpuinfo", "") or "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in (read("/proc/meminfo", "") or "").splitlines():
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) // 1024
    versions = {}
    for pkg in ["runit", "s6", "supervisor", "tini", "dumb-init"]:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        versions[pkg] = r.stdout.strip() if r.returncode == 0 else None
    hv = None
    home = os.path.expanduser("~/.cargo/.crates.toml")
    for line in (read(home, "") or "").splitlines():
        if line.startswith('"horust '):
            hv = line.split()[1]
    versions["horust"] = hv
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "src"],
                           capture_output=True, text=True)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_mib": mem,
        "os": (read("/etc/os-release", "") or "").split("PRETTY_NAME=")[-1].split("\n")[0].strip('"'),
        "loadavg_start": (read("/proc/loadavg", "") or "").split()[:3],
        "versions": versions,
        "tend_rev": rev.stdout.strip() + (" (src modified)" if dirty.stdout.strip() else "")
                    + ("" if TEND == os.path.join(ROOT, "target", "release", "tend") else f", binary {TEND}"),
    }


def main():
    global VERBOSE, TEND
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small N, few repetitions (< 3 minutes)")
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    ap.add_argument("--sups", default=",".join(ALL_SUPS), help="comma-separated supervisors")
    ap.add_argument("--out", help="results directory (default bench/results/full or bench/results/quick)")
    ap.add_argument("--doc", help="the Markdown report (default docs/BENCHMARKS.md in full mode, "
                                  "RESULTS/BENCHMARKS.md in quick mode)")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from RESULTS/results.json")
    ap.add_argument("--keep", action="store_true", help="keep each run's scratch directory (debugging)")
    ap.add_argument("--tend", help="the tend binary (default target/release/tend)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    if args.tend:
        TEND = os.path.abspath(args.tend)
    args.sups = args.sups.split(",")
    only = args.only.split(",")
    for s in only:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s}")
    mode = "quick" if args.quick else "full"
    outdir = args.out or os.path.join(BENCH, "results", mode)
    doc = args.doc or (os.path.join(ROOT, "docs", "BENCHMARKS.md") if mode == "full"
                       else os.path.join(outdir, "BENCHMARKS.md"))
    os.makedirs(outdir, exist_ok=True)
    resfile = os.path.join(outdir, "results.json")

    import report
    if args.report_only:
        with open(resfile) as f:
            results = json.load(f)
        report.write(results, doc, outdir)
        log(f"wrote {doc}")
        return 0

    if os.geteuid() != 0:
        log("bench: needs root (PID namespaces, other processes' /proc)")
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    b = Bench(args)
    results = {"mode": mode, "machine": machine(), "available": b.available, "scenarios": {},
               "seconds": {}}
    missing = [s for s, ok in b.available.items() if not ok]
    if missing:
        log(f"not installed, skipped: {', '.join(missing)}")
    t_all = time.monotonic()
    try:
        for name in only:
            log(f"== {name}")
            t = time.monotonic()
            b.calm.scenario()
            try:
                results["scenarios"][name] = SCENARIOS[name](b)
            except BenchTimeout as e:
                results["scenarios"][name] = {"error": str(e)}
                log(f"  {e}")
            results["seconds"][name] = round(time.monotonic() - t, 1)
            results.setdefault("busy", {})[name] = b.calm.samples
            results["machine"]["loadavg_end"] = (read("/proc/loadavg", "") or "").split()[:3]
            with open(resfile, "w") as f:
                json.dump(results, f)
            log(f"   ({results['seconds'][name]} s)")
    except KeyboardInterrupt:
        log("interrupted: killing every namespace")
        return 130
    finally:
        b.cleanup()
    results["total_s"] = round(time.monotonic() - t_all, 1)
    with open(resfile, "w") as f:
        json.dump(results, f)
    report.write(results, doc, outdir)
    log(f"wrote {doc} and {resfile} in {results['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, BENCH)
    sys.exit(main())
