#!/usr/bin/env python3
"""Measures the tray app (see bench-desktop.sh): launch to tray icon, idle CPU and memory.

The desktop has a tray host (trayer) and a notification server (dunst). The states measured:
the dashboard never opened; after failure notifications were shown (dunst keeps them, being
critical, until someone closes them) and the tray menu was opened and closed; the dashboard
open; and closed again. For each: the whole process tree's RSS and PSS and its threads, and
where the tray app's own memory is (`smaps`: malloc heaps, thread stacks, other anonymous
memory, libraries, other mapped files).
"""
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from common import app_env, close_window, names, stop, tree, wait_for  # noqa: E402

APP = os.environ["SICKBAY_APP"]
IMAGE = os.environ.get("SICKBAY_TEST_IMAGE", "sickbay-test:latest")
CONTAINERS = int(os.environ.get("SICKBAY_BENCH_CONTAINERS", "50"))
# Of them, how many fail (one at a time, each its own notification).
FAILING = int(os.environ.get("SICKBAY_BENCH_FAILING", "5"))
TRIALS = int(os.environ.get("SICKBAY_BENCH_TRIALS", "5"))
IDLE_SECONDS = int(os.environ.get("SICKBAY_BENCH_IDLE_SECONDS", "30"))
ICON = (1266, 12)  # the tray icon's centre with trayer at the top right
TICK = os.sysconf("SC_CLK_TCK")
MB = 1024  # smaps counts kB
# What loading an OpenGL driver maps: Mesa's (llvmpipe without a GPU) and what it links.
OPENGL = re.compile(r"/dri/|libLLVM|libGLX_mesa|libEGL_mesa|libglapi|libgallium|libdrm_|libz3")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def as_if_first_on_display():
    """Forgets what an earlier GTK program on this display cached: GDK keeps the visuals it chose
    with OpenGL in the root window's GDK_VISUALS property, and only the first GTK program on a
    display (a tray app started at login, say) probes OpenGL to choose them."""
    subprocess.run(["xprop", "-root", "-remove", "GDK_VISUALS"], check=True, capture_output=True)


def pixel(x, y):
    out = subprocess.run(["import", "-window", "root", "-crop", f"1x1+{x}+{y}", "-depth", "8", "txt:-"],
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1].split()[-1] if out.strip() else None


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def memory(pids):
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss / MB, pss / MB


def threads(pids):
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return total


def stack_pointers(pid):
    """Each thread's stack pointer (from /proc/PID/task/TID/syscall: root reads it)."""
    sps = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return sps
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
            if len(fields) >= 8:
                sps.append(int(fields[-2], 16))
        except (OSError, ValueError):
            pass
    return sps


def breakdown(pid):
    """Where one process's RSS is, in MB, by kind of mapping, and its thread names."""
    sps = stack_pointers(pid)
    kinds = dict.fromkeys(("malloc heaps", "thread stacks", "other anonymous", "the program",
                           "OpenGL driver", "other libraries", "other files"), 0)
    arenas = 0
    try:
        with open(f"/proc/{pid}/smaps") as f:
            lines = f.readlines()
    except OSError:
        return kinds, arenas
    try:
        program = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        program = None
    current = None
    for line in lines:
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            path = head[5] if len(head) > 5 else ""
            if any(lo <= sp < hi for sp in sps) or path == "[stack]":
                current = "thread stacks"
            elif path == "[heap]":
                current = "malloc heaps"
            elif not path:
                # glibc's per-thread arenas are 64 MB reservations, aligned to their size.
                if lo % (64 << 20) == 0 and "rw" in head[1]:
                    current = "malloc heaps"
                    arenas += 1
                else:
                    current = "other anonymous"
            elif path == program:
                current = "the program"
            elif OPENGL.search(path):
                current = "OpenGL driver"
            elif ".so" in path:
                current = "other libraries"
            elif path.startswith("/"):
                current = "other files"  # fonts, caches, locales
            else:
                current = "other anonymous"  # [vvar], [vdso], ...
        elif line.startswith("Rss:") and current:
            kinds[current] += int(head[1])
    return {k: v / MB for k, v in kinds.items()}, arenas


def thread_names(pid):
    counts = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                n = f.read().strip()
            counts[n] = counts.get(n, 0) + 1
    except OSError:
        pass
    return ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in sorted(counts.items()))


ROWS = []


def idle(app, label):
    time.sleep(10)
    pids = tree(app.pid)
    before = cpu_ticks(pids)
    time.sleep(IDLE_SECONDS)
    pids = tree(app.pid)
    cpu = (cpu_ticks(pids) - before) / TICK / IDLE_SECONDS * 100
    rss, pss = memory(pids)
    procs = names(pids)
    webkit = [n for n in procs if n.startswith("WebKit")]
    kinds, arenas = breakdown(app.pid)
    ROWS.append((label, kinds, arenas, thread_names(app.pid)))
    print(f"| {label} | {len(procs)} ({len(webkit)} WebKit) | {threads(pids)} | {cpu:.2f} % | "
          f"{rss:.0f} MB | {pss:.0f} MB |", flush=True)
    return webkit


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def displayed():
    out = subprocess.run(["dunstctl", "count", "displayed"], capture_output=True, text=True).stdout.strip()
    return int(out) if out.isdigit() else 0


def notifications_shown(bus_log):
    with open(bus_log) as f:
        return sum(1 for line in f if "member=Notify" in line and "method call" in line)


def tray_menu():
    """Opens the real tray menu with a click on the icon, shows its two submenus, closes it."""
    probe = (ICON[0] - 150, 60)  # inside the menu once it is open
    before = pixel(*probe)
    subprocess.run(["xdotool", "mousemove", str(ICON[0]), str(ICON[1]), "click", "1"], check=True)
    opened = wait_for("the tray menu", lambda: pixel(*probe) != before, 10)
    time.sleep(1)
    for y in (65, 90):  # "Containers", "Recent alerts"
        subprocess.run(["xdotool", "mousemove", str(ICON[0] - 190), str(y)], check=True)
        time.sleep(1.5)
    subprocess.run(["xdotool", "key", "Escape"], check=True)
    time.sleep(0.3)
    subprocess.run(["xdotool", "key", "Escape"], check=True)
    wait_for("the tray menu to close", lambda: pixel(*probe) == before, 10)
    return opened


def main():
    for tool in ("trayer", "dunst", "dunstctl", "dbus-monitor", "xdotool", "xprop", "import"):
        assert shutil.which(tool), f"{tool} is missing: scripts/setup.sh --test installs it"
    run = secrets.token_hex(4)
    label = f"sbt.bench={run}"
    home = tempfile.mkdtemp(prefix="sbt-bench-")
    config = os.path.join(home, "sickbay.toml")
    with open(config, "w") as f:
        f.write(f'[monitoring]\nlabel_selector = ["{label}"]\n[diagnosis]\nprovider = "off"\n')
    env = app_env(home, config)
    procs = []
    app = None
    app_log = open(os.path.join(home, "app.log"), "w")
    ok = False
    try:
        procs.append(subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                       "--height", "24", "--SetDockType", "true", "--transparent", "false",
                                       "--tint", "0x303030"], stderr=subprocess.DEVNULL))
        bus_log = os.path.join(home, "notify-calls.log")
        procs.append(subprocess.Popen(
            ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications',member='Notify'"],
            stdout=open(bus_log, "w"), stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(["dunst"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for("dunst on the bus",
                 lambda: subprocess.run(["dunstctl", "is-paused"], capture_output=True).returncode == 0, 15)
        time.sleep(1)
        empty = pixel(*ICON)
        # Launch to tray icon on screen.
        times = []
        for _ in range(TRIALS):
            as_if_first_on_display()
            start = time.monotonic()
            app = subprocess.Popen([APP], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while pixel(*ICON) == empty and time.monotonic() - start < 20:
                pass
            times.append(time.monotonic() - start)
            app.terminate()
            app.wait()
            app = None
            while pixel(*ICON) != empty:
                time.sleep(0.1)
        if times:
            print(f"launch to tray icon: median {statistics.median(times):.2f} s, "
                  f"max {max(times):.2f} s over {TRIALS} launches")

        # The failing ones wait for a file and then exit 3: a crash, an incident, a notification.
        # (`sickbay.heal=none`: the incident stays open, nothing restarts them.)
        failing = []
        crash = "while [ ! -f /tmp/go ]; do sleep 0.5; done; exit 3"
        for i in range(CONTAINERS):
            name = f"sbt-bench-{run}-{i}"
            if i < FAILING:
                docker("run", "-d", "--name", name, "--label", label, "--label", "sbt.test=1",
                       "--label", "sickbay.heal=none", IMAGE, "sh", "-c", crash)
                failing.append(name)
            else:
                docker("run", "-d", "--name", name, "--label", label, "--label", "sbt.test=1",
                       IMAGE, "sleep", "100000")
        as_if_first_on_display()
        app = subprocess.Popen([APP], env=env, stdout=app_log, stderr=subprocess.STDOUT)
        print(f"\nwatching {CONTAINERS} containers ({FAILING} of them fail), idle {IDLE_SECONDS} s after 10 s:\n")
        print("| state | processes | threads | CPU (of one core) | RSS | PSS |")
        print("|---|---|---|---|---|---|", flush=True)
        idle(app, "dashboard never opened")

        for name in failing:
            docker("exec", name, "touch", "/tmp/go")
            time.sleep(5)  # longer than the coalescing window: one notification each
        shown = wait_for(f"{FAILING} notifications", lambda: (lambda n: n if n >= FAILING else None)(
            notifications_shown(bus_log)), 60) if FAILING else 0
        menu = tray_menu()
        on_screen = displayed()
        idle(app, "after notifications and the tray menu")

        subprocess.run([APP, "--open-dashboard"], env=env, capture_output=True)
        idle(app, "dashboard open")
        closed = close_window("Sickbay")
        left = idle(app, "dashboard closed again")
        print(f"\n{shown} notifications sent ({on_screen} still on screen after the menu); tray menu opened: "
              f"{'yes' if menu else 'no'}; closed {closed} window(s); WebKit processes left: {left or 'none'}")
        print("\nthe tray app's own process (RSS, MB):\n")
        kinds = list(ROWS[0][1])
        print("| state | " + " | ".join(kinds) + " | malloc arenas |")
        print("|---|" + "---|" * (len(kinds) + 1))
        for label_, k, arenas, _ in ROWS:
            print(f"| {label_} | " + " | ".join(f"{k[x]:.1f}" for x in kinds) + f" | {arenas} + main |")
        print("\nits threads:\n")
        for label_, _, _, threads_ in ROWS:
            print(f"- {label_}: {threads_}")
        ok = True
    finally:
        if app is not None:
            stop([app], timeout=15)
        stop(procs)
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        if ok:
            shutil.rmtree(home, ignore_errors=True)
        else:
            log(f"failed; the app's output and the Notify calls are in {home}")


if __name__ == "__main__":
    sys.exit(main())
