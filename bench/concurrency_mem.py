#!/usr/bin/env python3
"""Memory of the processes of a concurrency run (bench/concurrency.sh).

usage: concurrency_mem.py TAG SEKISHOD_PID TARGET_SSHD_PID CLIENT_PID_FILE
       concurrency_mem.py --cpu SEKISHOD_PID PID...   (CPU seconds of each
           PID's tree, then the sessions' monitors, workers and recorders
           and sekishod itself)

PSS from /proc/PID/smaps_rollup, in MB: per gateway session (all of the
gateway's processes, sekishod included, over the sessions it holds) and
by role: a monitor is a child of sekishod, its first child (by start
time: forked at connect) the worker, its second (forked at login) the
recorder. For context: the target's sshd and every process under it, and
the ssh clients. Measures only.
"""
import sys


def stat(pid):
    """(ppid, starttime) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[19])


def pss(pid):
    """(pss, pss_anon) in kB, zeros if gone."""
    out = [0, 0]
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    out[0] = int(line.split()[1])
                elif line.startswith("Pss_Anon:"):
                    out[1] = int(line.split()[1])
    except OSError:
        pass
    return out


def mb(kb):
    return kb / 1024.0


def ticks(pid, reaped):
    """utime + stime of pid (with its reaped children's if reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return 0
    rest = s[s.rindex(")") + 2:].split()
    t = int(rest[11]) + int(rest[12])
    if reaped:
        t += int(rest[13]) + int(rest[14])
    return t


def cpu(roots):
    """CPU time spent by each root's tree (without the other roots'
    trees): the live processes under it and what their reaped children
    spent (cutime, cstime). Prints one figure per root, in seconds."""
    import os
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(int(d))
            if st is not None:
                procs[int(d)] = st
    kids = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    hz = os.sysconf("SC_CLK_TCK")
    out = []
    for r in roots:
        t, todo = 0, [r]
        while todo:
            p = todo.pop()
            t += ticks(p, True)
            # another root's tree is counted there, not here
            todo.extend(k for k in kids.get(p, []) if k not in roots)
        out.append("%.2f" % (t / hz))
    # the first root is sekishod: its time by role too (live sessions;
    # ended ones are in sekishod's cutime)
    gw = roots[0]
    role = {"monitor": 0, "worker": 0, "recorder": 0}
    for m in kids.get(gw, []):
        role["monitor"] += ticks(m, False)
        ch = sorted((procs[c][1], c) for c in kids.get(m, []))
        if len(ch) >= 1:
            role["worker"] += ticks(ch[0][1], False)
        if len(ch) >= 2:
            role["recorder"] += ticks(ch[1][1], False)
    for r in ("monitor", "worker", "recorder"):
        out.append("%.2f" % (role[r] / hz))
    out.append("%.2f" % (ticks(gw, False) / hz))
    print(" ".join(out))


def main():
    if sys.argv[1] == "--cpu":
        cpu([int(a) for a in sys.argv[2:]])
        return
    tag, gw, tgt, cfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4]
    import os
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(int(d))
            if st is not None:
                procs[int(d)] = st
    kids = {}
    for pid, (ppid, start) in procs.items():
        kids.setdefault(ppid, []).append((start, pid))
    role = {"monitor": [], "worker": [], "recorder": []}
    for _, m in kids.get(gw, []):
        role["monitor"].append(pss(m))
        ch = sorted(kids.get(m, []))
        if len(ch) >= 1:
            role["worker"].append(pss(ch[0][1]))
        if len(ch) >= 2:
            role["recorder"].append(pss(ch[1][1]))
    sd = pss(gw)
    nses = len(role["monitor"])
    tot = sd[0] + sum(p[0] for r in role.values() for p in r)
    tgt_all = []
    todo = [tgt]
    while todo:
        p = todo.pop()
        for _, c in kids.get(p, []):
            tgt_all.append(pss(c)[0])
            todo.append(c)
    cl = []
    with open(cfile) as f:
        for line in f:
            if line.strip() and int(line) in procs:
                cl.append(pss(int(line))[0])
    print("memory (%s): %d sessions in the gateway, PSS in MB" % (tag, nses))
    print("  per session (all gateway processes / sessions): %.2f"
          % (mb(tot) / max(nses, 1)))
    parts = []
    for r in ("monitor", "worker", "recorder"):
        v = role[r]
        n = max(len(v), 1)
        parts.append("%s %.2f (anon %.2f, %d)" % (
            r, mb(sum(p[0] for p in v)) / n, mb(sum(p[1] for p in v)) / n,
            len(v)))
    print("  by role, mean: " + ", ".join(parts) + "; sekishod %.2f" % mb(sd[0]))
    print("  gateway total %.1f; target sshd and below: %d processes, %.1f; "
          "ssh clients: %d, %.1f" % (mb(tot), len(tgt_all), mb(sum(tgt_all)),
                                     len(cl), mb(sum(cl))))
    with open("/proc/meminfo") as f:
        mi = dict((l.split(":")[0], int(l.split()[1])) for l in f)
    print("  machine: %.0f MB used, %.0f MB available" % (
        mb(mi["MemTotal"] - mi["MemAvailable"]), mb(mi["MemAvailable"])))


if __name__ == "__main__":
    main()
