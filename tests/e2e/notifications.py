#!/usr/bin/env python3
"""Desktop notifications end to end: the real tray app, the real Docker engine, dunst as the
notification server on the test's own D-Bus session, xterm for the investigation.

Two containers that crash together make one notification naming both (not two); it carries an
"Investigate" action; invoking it (as a click would, through dunstctl) opens a terminal that
starts the agent (a stand-in `claude` that records how it was launched) on the incident.
Every Notify call is read off the bus with dbus-monitor, as the server received it.
"""
import datetime
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time

from common import APP, ARTIFACTS, IMAGE, app_env, close_window, docker, logger, names, stop, tree, wait_for

RUN = secrets.token_hex(4)
log = logger("e2e notifications")
LABEL = f"sbt.notify={RUN}"








def query(db, sql, *args):
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # tables not made yet
    finally:
        con.close()


def notify_calls(text):
    """The Notify method calls in dbus-monitor's output: (summary, body, actions) each."""
    calls = []
    for block in text.split("method call")[1:]:
        if "member=Notify" not in block.split("\n", 1)[0]:
            continue
        # A string may span lines (a body of several); it ends where the next value starts.
        strings = re.findall(r'^\s*string "(.*?)"\n(?=\s*(?:string|uint32|int32|array|\]|dict))',
                             block, re.M | re.S)
        # app_name, app_icon, summary, body, then the actions (id, label pairs), then hints.
        actions = []
        m = re.search(r"array \[\n(.*?)\n\s*\]", block, re.S)
        if m:
            actions = re.findall(r'string "(.*)"', m.group(1))
        calls.append({"summary": strings[2] if len(strings) > 2 else "",
                      "body": strings[3] if len(strings) > 3 else "", "actions": actions,
                      "raw": block})
    return calls


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    for tool in ("dunst", "dunstctl", "dbus-monitor", "xterm"):
        assert shutil.which(tool), f"{tool} is missing: scripts/setup.sh --test installs it"
    home = tempfile.mkdtemp(prefix="sbt-notify-")
    data = os.path.join(home, "data")
    db = os.path.join(data, "sickbay.db")
    record = os.path.join(home, "agent-record.txt")
    agent = os.path.join(home, "claude")
    with open(agent, "w") as f:
        f.write(f"#!/bin/sh\n{{ echo \"cwd:$PWD\"; for a in \"$@\"; do echo \"arg:$a\"; done; }} > '{record}.tmp'\n"
                f"mv '{record}.tmp' '{record}'\n")
    os.chmod(agent, 0o755)
    work = os.path.join(home, "stack")
    os.makedirs(work)
    config = os.path.join(home, "sickbay.toml")
    with open(config, "w") as f:
        f.write(f'[monitoring]\ninterval_seconds = 2\nlabel_selector = ["{LABEL}"]\n'
                f'[diagnosis]\nprovider = "off"\n'
                f'[escalation]\nagent_command = "{agent}"\nterminal = "xterm"\nworkdir = "{work}"\n')
    # dunst's context menu asks dmenu which action to take: a stand-in picks "Snooze 1 h" of
    # the notification naming the container `pick` names, and keeps what it was offered.
    picker = os.path.join(home, "pick-snooze")
    offered = os.path.join(home, "dmenu-offered.txt")
    with open(picker, "w") as f:
        f.write(f"#!/bin/sh\ncat > '{offered}'\n"
                f"grep -m1 \"Snooze.*$(cat '{home}/pick')\\|$(cat '{home}/pick').*Snooze\" '{offered}'"
                f" || grep -m1 Snooze '{offered}'\n")
    os.chmod(picker, 0o755)
    dunstrc = os.path.join(home, "dunstrc")
    with open(dunstrc, "w") as f:
        f.write(f"[global]\n    dmenu = {picker}\n")
    env = app_env(home, config, RUST_LOG="info")
    procs = []
    made = []
    app_log = open(os.path.join(ARTIFACTS, "notifications-app.log"), "w")
    bus_log_path = os.path.join(ARTIFACTS, "notifications-bus.log")
    try:
        bus_log = open(bus_log_path, "w")
        procs.append(subprocess.Popen(
            ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications',member='Notify'"],
            stdout=bus_log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(["dunst", "-config", dunstrc], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for("dunst on the bus",
                 lambda: subprocess.run(["dunstctl", "is-paused"], capture_output=True).returncode == 0, 15)

        app = subprocess.Popen([APP], env=env, stdout=app_log, stderr=subprocess.STDOUT)
        procs.append(app)

        crash = "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 3"
        for suffix in ("api", "db"):
            name = f"sbt-notify-{RUN}-{suffix}"
            docker("run", "-d", "--name", name, "--label", LABEL, "--label", "sbt.test=1",
                   "--label", "sickbay.heal=none", IMAGE, "sh", "-c", crash)
            made.append(name)
        wait_for("both containers sampled by the app", lambda: len(query(
            db, "SELECT DISTINCT container_name FROM monitor_health_metrics WHERE container_name IN (?, ?)",
            *made)) == 2, 60)
        log("the app watches both containers; they crash together")
        for name in made:
            docker("exec", name, "touch", "/tmp/go")

        wait_for("the notification", lambda: notify_calls(open(bus_log_path).read()), 30)
        time.sleep(5)  # longer than the coalescing window: a second message would be here by now
        calls = notify_calls(open(bus_log_path).read())
        log(f"notifications: {[c['summary'] for c in calls]}")
        assert len(calls) == 1, f"two containers failing together make one notification: {calls}"
        n = calls[0]
        for name in made:
            assert name in n["summary"], f"{name} named in {n['summary']!r}"
        assert "investigate" in n["actions"], f"an Investigate action: {n['actions']}"

        # The incidents are in the history; the notification points at the first one.
        incidents = dict(query(db, "SELECT container_name, id FROM monitor_incidents WHERE container_name IN (?, ?)", *made))
        assert set(incidents) == set(made), incidents
        ids = [int(i) for i in re.findall(r"\(incident (\d+)\)", n["body"])]
        assert sorted(ids) == sorted(incidents.values()), f"{n['body']!r} vs {incidents}"
        first = ids[0]

        # A click on it (dunst's default action) opens the investigation of that incident.
        assert subprocess.run(["dunstctl", "count", "displayed"], capture_output=True, text=True).stdout.strip() != "0"
        subprocess.run(["dunstctl", "action", "0"], check=True)
        wait_for("the agent started from the notification", lambda: os.path.exists(record), 30)
        rec = open(record).read()
        log(f"agent record: {rec!r}")
        assert f"cwd:{work}" in rec, rec
        settings = os.path.join(data, "incidents", str(first), "settings.json")
        assert f"arg:--settings\narg:{settings}" in rec, rec
        escalated = wait_for("the incident recorded as escalated", lambda: [r for r in query(
            db, "SELECT escalated, escalation FROM monitor_incidents WHERE id = ?", first) if r[0] == 1], 15)
        log(f"incident {first} escalated: {escalated[0][1]}")
        assert app.poll() is None, "the app keeps running"

        # A second launch opens the running app's dashboard, in a process of its own with its
        # WebKit helpers; closing the window ends them all, and the tray app keeps running.
        def helpers():
            return [n for n in names(tree(app.pid) - {app.pid}) if n == "sickbay" or n.startswith("WebKit")]
        subprocess.run([APP], env=env, capture_output=True, timeout=30)
        wait_for("the dashboard window", lambda: subprocess.run(
            ["xdotool", "search", "--name", "^Sickbay$"], capture_output=True, text=True).stdout.split(), 30)
        opened = wait_for("the dashboard's WebKit processes",
                          lambda: (lambda h: h if any(n.startswith("WebKit") for n in h) else None)(helpers()), 30)
        log(f"dashboard open: {opened}")
        assert close_window("Sickbay") >= 1
        wait_for("no dashboard process left", lambda: not helpers(), 30)
        time.sleep(1)
        assert app.poll() is None, "the tray app keeps running with the dashboard closed"
        log("dashboard closed: no process of it left")
        # A failure Sickbay heals: "Snooze 1 h" on its notification leaves it alone; nothing
        # more is healed or notified for it, and the status says until when.
        web = f"sbt-notify-{RUN}-web"
        docker("run", "-d", "--name", web, "--label", LABEL, "--label", "sbt.test=1",
               "--label", "sickbay.stop_timeout=1", "--health-cmd", "test ! -f /tmp/sick",
               "--health-interval", "1s", "--health-retries", "1",
               IMAGE, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
        made.append(web)
        with open(os.path.join(home, "pick"), "w") as f:
            f.write(web)
        wait_for("web sampled by the app", lambda: query(
            db, "SELECT 1 FROM monitor_health_metrics WHERE container_name = ?", web), 60)
        wait_for("web healthy", lambda: docker("inspect", "-f", "{{.State.Health.Status}}", web) == "healthy", 30)
        docker("exec", web, "touch", "/tmp/sick")  # in its own filesystem: every restart keeps it
        told = wait_for("web's failure notified", lambda: [
            c for c in notify_calls(open(bus_log_path).read()) if web in c["summary"]], 30)
        assert "snooze" in told[0]["actions"], f"a Snooze action: {told[0]['actions']}"
        log(f"web notified: {told[0]['summary']!r}: {told[0]['body']!r}")
        subprocess.run(["dunstctl", "context"], check=True, timeout=30)
        snoozed = wait_for("web snoozed from the notification", lambda: query(
            db, "SELECT id, details, timestamp FROM monitor_events "
            "WHERE event = 'container_snoozed' AND container_name = ?", web), 30)
        log(f"snoozed: {snoozed[0][1]!r}; dmenu was offered {open(offered).read()!r}")
        calls_then = len(notify_calls(open(bus_log_path).read()))
        time.sleep(15)  # longer than the backoff before a second restart (10 s)
        # The watcher reads snoozes every 2 s: what it asked for before then is not the snooze's.
        settle = (datetime.datetime.strptime(snoozed[0][2][:19], "%Y-%m-%dT%H:%M:%S")
                  + datetime.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S")
        restarts = query(db, "SELECT timestamp FROM monitor_events WHERE event = 'restarting_container' "
                         "AND container_name = ? AND timestamp > ?", web, settle)
        assert not restarts, f"web restarted after its snooze: {restarts}"
        later = [c for c in notify_calls(open(bus_log_path).read())[calls_then:] if web in c["summary"] + c["body"]]
        assert not later, f"notified after its snooze: {later}"
        status = subprocess.run([APP, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
        line = [c for c in json.loads(status.stdout)["containers"] if c["name"] == web][0]
        assert line.get("snoozed_until") and line["note"].startswith("snoozed until"), line
        print("e2e: one notification for a burst; its Investigate action opens the investigation; the dashboard's process ends with its window; Snooze 1 h on a notification leaves its container alone: ok")
    except BaseException:
        log(f"failed; the app's output is in {app_log.name}, the bus in {bus_log_path}")
        raise
    finally:
        stop(procs)
        for name in made:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)


if __name__ == "__main__":
    main()
