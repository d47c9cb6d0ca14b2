#!/usr/bin/env python3
"""Measures the tray app (see bench-desktop.sh): launch to tray icon, idle CPU and memory."""
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from common import close_window, names, tree  # noqa: E402

APP = os.environ["SICKBAY_APP"]
IMAGE = os.environ.get("SICKBAY_TEST_IMAGE", "sickbay-test:latest")
CONTAINERS = int(os.environ.get("SICKBAY_BENCH_CONTAINERS", "50"))
TRIALS = int(os.environ.get("SICKBAY_BENCH_TRIALS", "5"))
IDLE_SECONDS = int(os.environ.get("SICKBAY_BENCH_IDLE_SECONDS", "30"))
ICON = (1266, 12)  # the tray icon's centre with trayer at the top right
TICK = os.sysconf("SC_CLK_TCK")


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
    return rss / 1024, pss / 1024


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
    print(f"| {label} | {len(procs)} ({len(webkit)} WebKit) | {cpu:.2f} % | {rss:.0f} MB | {pss:.0f} MB |")
    return webkit


def main():
    run = secrets.token_hex(4)
    home = tempfile.mkdtemp(prefix="sbt-bench-")
    config = os.path.join(home, "sickbay.toml")
    with open(config, "w") as f:
        f.write(f'[monitoring]\nlabel_selector = ["sbt.bench={run}"]\n')
    env = dict(os.environ, SICKBAY_CONFIG=config, SICKBAY_DATA_DIR=os.path.join(home, "data"), HOME=home)
    trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                               "--height", "24", "--SetDockType", "true", "--transparent", "false",
                               "--tint", "0x303030"], stderr=subprocess.DEVNULL)
    made = []
    try:
        time.sleep(1)
        empty = pixel(*ICON)
        # Launch to tray icon on screen.
        times = []
        for _ in range(TRIALS):
            start = time.monotonic()
            app = subprocess.Popen([APP], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while pixel(*ICON) == empty and time.monotonic() - start < 20:
                pass
            times.append(time.monotonic() - start)
            app.terminate()
            app.wait()
            while pixel(*ICON) != empty:
                time.sleep(0.1)
        print(f"launch to tray icon: median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s over {TRIALS} launches")

        for i in range(CONTAINERS):
            name = f"sbt-bench-{run}-{i}"
            subprocess.run(["docker", "run", "-d", "--name", name, "--label", f"sbt.bench={run}",
                            "--label", "sbt.test=1", IMAGE, "sleep", "100000"],
                           check=True, capture_output=True)
            made.append(name)
        app = subprocess.Popen([APP], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"\nwatching {CONTAINERS} containers, idle {IDLE_SECONDS} s after 10 s:\n")
        print("| dashboard | processes | CPU (of one core) | RSS | PSS |")
        print("|---|---|---|---|---|")
        idle(app, "never opened")
        subprocess.run([APP, "--open-dashboard"], env=env, capture_output=True)
        idle(app, "open")
        closed = close_window("Sickbay")
        left = idle(app, "closed again")
        print(f"\nclosed {closed} window(s); WebKit processes left: {left or 'none'}")
        app.terminate()
        app.wait()
    finally:
        trayer.terminate()
        for name in made:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
