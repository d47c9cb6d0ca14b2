#!/usr/bin/env python3
"""The dashboard end to end: the real app under tauri-driver against the real Docker engine.

A user opens the dashboard and sees the stack's containers; when one turns unhealthy its
incident appears in the page within seconds. A screenshot of the dashboard is saved.
Speaks the W3C WebDriver protocol directly (a few HTTP calls; no client library).
"""
import base64
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from common import APP, ARTIFACTS, IMAGE, app_env, docker, logger, wait_for

RUN = secrets.token_hex(4)
log = logger("e2e")
LABEL = f"sbt.e2e={RUN}"






def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        for attempt in range(3):
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return json.load(r)["value"]
            except urllib.error.HTTPError as e:
                raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from None
            except http.client.RemoteDisconnected:
                # tauri-driver answers this when its pooled connection to WebKitWebDriver was
                # closed under it ("client error (SendRequest)"): the request never arrived.
                if attempt == 2:
                    raise
                log(f"{method} {path}: connection dropped by tauri-driver, retrying")
                time.sleep(0.5)

    def start(self, args):
        # No browserName: WebKitGTK's driver rejects tauri-driver's default.
        caps = {"capabilities": {"alwaysMatch": {"tauri:options": {"application": APP, "args": args}}}}
        self.session = self.request("POST", "/session", caps)["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def script(self, source, *args):
        return self.request("POST", self.s("/execute/sync"), {"script": source, "args": list(args)})

    def screenshot(self, path):
        png = base64.b64decode(self.request("GET", self.s("/screenshot")))
        with open(path, "wb") as f:
            f.write(png)

    def quit(self):
        if self.session:
            try:
                self.request("DELETE", self.s(""))
            except Exception as e:  # the app may already be gone
                log(f"closing the session: {e}")




def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    home = tempfile.mkdtemp(prefix="sbt-e2e-")
    config = os.path.join(home, "sickbay.toml")
    compose = os.path.join(home, "compose.yml")
    project = f"sbte2e{RUN}"
    with open(compose, "w") as f:
        f.write(f"""version: "2.4"
services:
  app:
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    stop_grace_period: 1s
    labels:
      sbt.e2e: "{RUN}"
      sbt.test: "1"
""")
    with open(config, "w") as f:
        f.write(f'# The e2e test\'s configuration: this comment stays.\n'
                f'[monitoring]\ninterval_seconds = 2  # fast\nlabel_selector = ["{LABEL}"]\n')
    env = app_env(home, config)
    ok, sick = f"sbt-e2e-{RUN}-ok", f"sbt-e2e-{RUN}-sick"
    made = []
    app_log = open(os.path.join(ARTIFACTS, "app.log"), "w")
    driver_proc = None
    wd = None
    try:
        for name, check in [(ok, "true"), (sick, "test ! -f /tmp/sick")]:
            docker("run", "-d", "--name", name, "--label", LABEL, "--label", "sbt.test=1",
                   "--health-cmd", check, "--health-interval", "1s", "--health-retries", "1",
                   IMAGE, "sleep", "100000")
            made.append(name)
        wait_for("healthy test containers",
                 lambda: all(docker("inspect", "-f", "{{.State.Health.Status}}", n) == "healthy" for n in made), 30)
        # One that talks: a coloured line, a secret of its environment, a line a second.
        talker = f"sbt-e2e-{RUN}-talker"
        docker("run", "-d", "--name", talker, "--label", LABEL, "--label", "sbt.test=1",
               "-e", "API_TOKEN=tok3nS3cretValue99", IMAGE, "sh", "-c",
               r'printf "\033[31mred alert\033[0m\n"; echo "calling with $API_TOKEN"; '
               r'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 1; done')
        made.append(talker)
        # One in the healthy one's network namespace: the dashboard names what it needs.
        side = f"sbt-e2e-{RUN}-side"
        docker("run", "-d", "--name", side, "--label", LABEL, "--label", "sbt.test=1",
               "--network", f"container:{ok}", IMAGE, "sleep", "100000")
        made.append(side)

        driver_proc, wd = start_driver(env, app_log)
        log("session started")
        # No stack set yet: the page says how to set one instead of showing its buttons.
        wait_for("how to set a stack", lambda: wd.script(
            "return !document.getElementById('stack-none').hidden && document.getElementById('stack').hidden"), 15)

        rows = "return [...document.querySelectorAll('#container-rows tr[data-container]')].map(r => r.dataset.container)"
        listed = wait_for("the test containers in the dashboard",
                          lambda: (lambda names: names if set(made) <= set(names) else None)(wd.script(rows)), 30)
        log(f"dashboard lists {listed}")
        assert "healthy" in wd.script(
            "return document.querySelector(arguments[0]).querySelector('.health').textContent",
            f'tr[data-container="{ok}"]'), "the healthy container shows as healthy"
        needs = wait_for("the dependency graph in the dashboard", lambda: (lambda t: t if t else None)(wd.script(
            "const n = document.querySelector(arguments[0] + ' .needs'); return n && n.textContent",
            f'tr[data-container="{side}"]')), 30)
        assert needs == f"needs {ok} (network)", needs

        # Make one unhealthy: its incident appears in the page within seconds.
        docker("exec", sick, "touch", "/tmp/sick")
        started = time.monotonic()
        incident = f'article.incident[data-container="{sick}"]'
        text = wait_for("the incident in the page", lambda: wd.script(
            "const a = document.querySelector(arguments[0]); return a && a.textContent", incident), 30)
        log(f"incident shown after {time.monotonic() - started:.1f}s: {text[:120]!r}")
        assert "unhealthy" in text and "container_unhealthy" in text, text
        assert wd.script("return !!document.querySelector(arguments[0] + ' button.investigate')", incident)
        # Times are local and relative, not UTC stamps; Sickbay's restarts are counted.
        assert " ago)" in text and "Z " not in text, text
        restarts = wait_for("Sickbay's restart in the Restarts column", lambda: (lambda t: t if "by Sickbay" in t else None)(
            wd.script("return document.querySelector(arguments[0] + ' .restarts').textContent",
                      f'tr[data-container="{sick}"]')), 30)
        assert restarts.startswith("0 (+"), restarts

        # The sick one's line has "Investigate" (its incident); the incident takes a note.
        assert wd.script("return !!document.querySelector(arguments[0] + ' button.investigate-container')",
                         f'tr[data-container="{sick}"]'), "Investigate on the failing container's line"
        assert not wd.script("return !!document.querySelector(arguments[0] + ' button.investigate-container')",
                             f'tr[data-container="{ok}"]'), "no Investigate without an incident"
        wd.script("document.querySelector('nav button[data-tab=incidents]').click()")
        note = "looking at it: the check file"
        wd.script("const a = document.querySelector(arguments[0]);"
                  "a.querySelector('input.ack-note').value = arguments[1]; a.querySelector('button.acknowledge').click()",
                  incident, note)
        ack = wait_for("the acknowledgement shown", lambda: wd.script(
            "const p = document.querySelector(arguments[0] + ' .ack'); return p && p.textContent", incident), 15)
        assert ack.startswith("Acknowledged ") and ack.endswith(f": {note}"), ack
        monitor_log = os.path.join(home, "data", "logs", "monitor.log")
        with open(monitor_log) as f:
            assert f"incident_acknowledged container:{sick} by:dashboard note:{note}" in f.read()
        wd.script("document.querySelector('nav button[data-tab=containers]').click()")
        log(f"acknowledged from the dashboard: {ack!r}")

        # "Restart now" on the healthy one: Sickbay restarts it as its own action.
        started_at = docker("inspect", "-f", "{{.State.StartedAt}}", ok)
        wd.script("document.querySelector(arguments[0] + ' button.restart').click()", f'tr[data-container="{ok}"]')
        wait_for("the restart", lambda: docker("inspect", "-f", "{{.State.StartedAt}}", ok) != started_at, 30)
        wait_for("the restart recorded", lambda: f"container_restarted container:{ok} by:dashboard" in open(monitor_log).read(), 30)
        with open(monitor_log) as f:
            text = f.read()
        assert f"restart_requested container:{ok} by:dashboard" in text, text
        assert f"restarted_by_other container:{ok}" not in text and f"container_died container:{ok}" not in text, text
        restarts = wait_for("the restart counted", lambda: (lambda t: t if "+1 by Sickbay" in t else None)(
            wd.script("return document.querySelector(arguments[0] + ' .restarts').textContent",
                      f'tr[data-container="{ok}"]')), 30)
        log(f"restart now: {restarts!r}")

        # Its log, live: secrets removed, colours as plain text, searchable.
        wd.script("document.querySelector(arguments[0] + ' button.logs').click()", f'tr[data-container="{talker}"]')
        lines = "return document.getElementById('log-lines').textContent"
        first = wait_for("the talker's log", lambda: (lambda t: t if "tick 2" in t else None)(wd.script(lines)), 30)
        later = wait_for("new lines, live", lambda: (lambda t: t if "tick 6" in t else None)(wd.script(lines)), 30)
        assert "red alert" in later and "\x1b" not in later and "[31m" not in later, later
        assert "calling with" in later and "tok3nS3cretValue99" not in later, later
        assert sum(1 for x in later.splitlines() if x.endswith("  tick 2")) == 1, f"no line twice: {later}"
        wd.script("const i = document.getElementById('log-search'); i.value = 'ALERT'; i.dispatchEvent(new Event('input'))")
        shown = wd.script(lines)
        assert "red alert" in shown and "tick" not in shown, shown
        assert wd.script("return document.getElementById('log-count').textContent").startswith("1 of "), shown
        wd.screenshot(os.path.join(ARTIFACTS, "dashboard-log.png"))
        wd.script("document.getElementById('log-close').click()")
        log(f"log tail: {len(first.splitlines())} lines at first, search ok")

        # "Snooze 1 h" on the sick one: the watcher leaves it alone and says until when.
        wd.script("document.querySelector(arguments[0] + ' button.snooze').click()", f'tr[data-container="{sick}"]')
        note = wait_for("the snooze shown", lambda: (lambda t: t if t and t.startswith("snoozed until") else None)(
            wd.script("const n = document.querySelector(arguments[0] + ' .note'); return n && n.textContent",
                      f'tr[data-container="{sick}"]')), 30)
        log(f"snoozed from the dashboard: {note!r}")
        assert wd.script("return document.querySelector(arguments[0] + ' button.snooze').textContent",
                         f'tr[data-container="{sick}"]') == "Unsnooze"
        wd.script("document.querySelector(arguments[0] + ' button.snooze').click()", f'tr[data-container="{sick}"]')
        wait_for("the snooze ended", lambda: wd.script(
            "return document.querySelector(arguments[0] + ' button.snooze').textContent",
            f'tr[data-container="{sick}"]') == "Snooze 1 h", 30)

        # Pausing from the dashboard greys the verdict; resuming brings it back.
        summary = "return document.getElementById('summary').textContent"
        wd.script("document.getElementById('paused').click()")
        wait_for("monitoring paused", lambda: wd.script(summary) == "Monitoring paused", 15)
        assert wd.script("return document.getElementById('verdict').className") == "dot grey"
        wd.script("document.getElementById('paused').click()")
        wait_for("monitoring resumed", lambda: wd.script(summary) != "Monitoring paused", 15)
        log("pause and resume: ok")

        # Settings: the config file's path, and where each value came from.
        wd.script("document.querySelector('nav button[data-tab=settings]').click()")
        assert wd.script("return document.getElementById('config-file').textContent") == config
        origin = "return document.querySelector(`tr[data-key='${arguments[0]}'] td.origin`).textContent"
        assert wd.script(origin, "monitoring.interval_seconds") == "file"
        assert wd.script(origin, "heal.max_attempts") == "default"
        # A setting changed in the page is written to the file, its comments kept; a value
        # the loader refuses is said, and the file is left as it was.
        def set_value(key, value):
            wd.script("const i = document.querySelector(`tr[data-key='${arguments[0]}'] input.setting`);"
                      "i.value = arguments[1]; i.dispatchEvent(new Event('change'))", key, value)
        state = "return document.getElementById('settings-state').textContent"
        set_value("heal.max_attempts", "5")
        wait_for("the setting saved", lambda: wd.script(state).startswith("Saved heal.max_attempts"), 15)
        with open(config) as f:
            text = f.read()
        assert text.startswith("# The e2e test's configuration: this comment stays.\n[monitoring]\n"
                               "interval_seconds = 2  # fast\n"), text
        assert "[heal]\nmax_attempts = 5\n" in text, text
        assert wd.script(origin, "heal.max_attempts") == "file"
        # The heal policy is the engine's: the page says it waits for a restart, and offers one.
        pending = wait_for("the restart asked for", lambda: wd.script(
            "const p = document.getElementById('restart-needed-line');"
            "return !p.hidden && document.getElementById('restart-needed').textContent"), 15)
        assert pending == "[heal] changed: in use when Sickbay restarts.", pending
        set_value("monitoring.interval_seconds", "0")
        refused = wait_for("the refusal", lambda: (lambda t: t if "invalid configuration" in t else None)(
            wd.script(state)), 15)
        assert "monitoring.interval_seconds" in refused and "must be at least 1" in refused, refused
        with open(config) as f:
            assert f.read() == text, "a refused value writes nothing"
        assert not wd.script("return document.getElementById('restart-needed-line').hidden")
        wd.screenshot(os.path.join(ARTIFACTS, "dashboard-settings.png"))
        log(f"settings: ok; a refused value: {refused!r}")

        # The stack set from the page is in use at once, without a restart: the tray app reads
        # the file, and the stack's buttons appear with its compose file.
        set_value("stack.compose_file", compose)
        wait_for("the compose file saved", lambda: wd.script(state).startswith("Saved stack.compose_file"), 15)
        assert wd.script(state).endswith("In use now."), wd.script(state)
        set_value("stack.project_name", project)
        wait_for("the project saved", lambda: wd.script(state).startswith("Saved stack.project_name"), 15)
        assert wd.script("return document.getElementById('restart-needed').textContent").startswith("[heal] changed")
        with open(config) as f:
            text = f.read()
        assert f'[stack]\ncompose_file = "{compose}"\nproject_name = "{project}"\n' in text, text

        # One click starts the compose stack (`up -d`), one stops it (`stop`: nothing removed).
        wd.script("document.querySelector('nav button[data-tab=containers]').click()")
        wait_for("the stack's buttons", lambda: wd.script(
            "return !document.getElementById('stack').hidden && document.getElementById('stack-file').textContent")
            == compose, 15)
        stack_state = "return document.getElementById('stack-state').textContent"
        wd.script("document.getElementById('stack-start').click()")
        wait_for("the stack started", lambda: "done" in wd.script(stack_state), 60)
        app_c = docker("ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.Names}}")
        assert docker("inspect", "-f", "{{.State.Status}}", app_c) == "running"
        wait_for("the stack's container in the dashboard", lambda: app_c in wd.script(rows), 30)
        log(f"start stack: {wd.script(stack_state)!r}")
        wd.script("document.getElementById('stack-stop').click()")
        wait_for("the stack stopped", lambda: "Stopping stack: done" in wd.script(stack_state), 60)
        assert docker("inspect", "-f", "{{.State.Status}}", app_c) == "exited", "stopped, not removed"
        log(f"stop stack: {wd.script(stack_state)!r}")

        wd.script("document.querySelector('nav button[data-tab=incidents]').click()")
        time.sleep(0.5)
        wd.screenshot(os.path.join(ARTIFACTS, "dashboard-incidents.png"))
        wd.script("document.querySelector('nav button[data-tab=containers]').click()")
        time.sleep(0.5)
        wd.screenshot(os.path.join(ARTIFACTS, "dashboard.png"))
        log(f"screenshots in {ARTIFACTS}")

        # "Restart Sickbay now" (shown since the heal policy changed): the engine stops cleanly and
        # the tray app starts again, with the saved setting and its dashboard open.
        monitor_log = os.path.join(home, "data", "logs", "monitor.log")
        first = app_pids(home)
        wd.script("document.querySelector('nav button[data-tab=settings]').click()")
        try:
            wd.script("document.getElementById('restart-app').click()")
        except RuntimeError as e:  # the page may be gone before it answers: it restarts
            log(f"the restart's click: {e}")
        again = wait_for("the app started again", lambda: (lambda p: p if p and not p & first else None)(
            app_pids(home)), 60)
        wait_for("the new engine's start", lambda: open(monitor_log).read().count("] monitor_started") == 2, 60)
        assert "] monitor_stopped" in open(monitor_log).read(), "the old engine stopped cleanly"
        with open(f"/proc/{min(again)}/cmdline", "rb") as f:
            assert b"--open-dashboard" in f.read().split(b"\0")
        log(f"restarted: pids {sorted(first)} → {sorted(again)}")
        print("e2e: dashboard lists containers and shows a new incident: ok")
    except BaseException:
        log(f"failed; the app's output is in {app_log.name}")
        raise
    finally:
        stop_driver(wd, driver_proc)
        for pid in app_pids(home):  # a restarted app is no child of the driver's
            os.kill(pid, signal.SIGTERM)
        for name in made:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        for tool in (["docker", "compose"], ["docker-compose"]):
            r = subprocess.run([*tool, "-p", project, "-f", compose, "down", "-t", "1"], capture_output=True)
            if r.returncode == 0:
                break


def first_run():
    """No configuration file: the dashboard opens on "Set up Sickbay", and saving writes the
    file where Sickbay looks for it. The app is given an engine it cannot reach, so that while
    it runs on its defaults (every container) it can touch no container of this machine."""
    home = tempfile.mkdtemp(prefix="sbt-e2e-first-")
    env = app_env(home, "unused", DOCKER_HOST=f"unix://{home}/no-docker.sock")
    del env["SICKBAY_CONFIG"]
    written = os.path.join(home, "config", "sickbay", "sickbay.toml")
    app_log = open(os.path.join(ARTIFACTS, "app-first-run.log"), "w")
    # A D-Bus session and a keychain of the test's own: gnome-keyring unlocked on that bus, its
    # files in the test's home (the app, its driver and the keychain all talk on it).
    bus = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    env["DBUS_SESSION_BUS_ADDRESS"], bus_pid = bus[0], int(bus[1])
    driver_proc, wd = None, None
    try:
        subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"], input=b"e2e-keyring",
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        driver_proc, wd = start_driver(env, app_log)
        wait_for("the setup", lambda: wd.script("return !document.getElementById('setup').hidden"), 30)
        engine = wait_for("what the setup found", lambda: wd.script(
            "return document.getElementById('setup-engine').textContent"), 30)
        assert "cannot be reached" in engine, engine
        assert wd.script("return document.getElementById('setup-file').textContent") == written
        assert not os.path.exists(written), "nothing written before Save"
        # The API key goes to the keychain (a real one: gnome-keyring in this D-Bus session).
        key = "sk-ant-e2e-" + secrets.token_hex(8)
        wd.script("document.getElementById('setup-key').value = arguments[0];"
                  "document.getElementById('setup-key-store').click()", key)
        stored = wait_for("the key stored", lambda: (lambda t: t if t.startswith("Key stored") else None)(
            wd.script("return document.getElementById('setup-key-state').textContent")), 15)
        found = subprocess.run(["secret-tool", "lookup", "service", "sickbay", "account", "ANTHROPIC_API_KEY"],
                               env=env, capture_output=True, text=True).stdout
        assert found == key, f"the keychain holds {found!r}"
        assert wd.script("return document.getElementById('setup-key').value") == "", "the field is emptied"
        app_log.flush()
        for folder in (ARTIFACTS, os.path.join(home, "data")):
            for root, _, files in os.walk(folder):
                for name in files:
                    with open(os.path.join(root, name), "rb") as f:
                        assert key.encode() not in f.read(), f"the key is in {name}"
        log(f"first run: {stored!r}")
        wd.script("document.getElementById('setup-desktop').click()")  # notifications off
        wd.script("document.getElementById('setup-save').click()")
        saved = wait_for("the setup saved", lambda: (lambda t: t if t.startswith("Saved in") else None)(
            wd.script("return document.getElementById('setup-state').textContent")), 15)
        with open(written) as f:
            text = f.read()
        assert text == "[notify]\ndesktop = false\n", text
        wd.screenshot(os.path.join(ARTIFACTS, "dashboard-setup.png"))
        log(f"first run: {saved!r}")
        print("e2e: the first run's setup writes the configuration: ok")
    except BaseException:
        log(f"failed; the app's output is in {app_log.name}")
        raise
    finally:
        stop_driver(wd, driver_proc)
        os.kill(bus_pid, signal.SIGTERM)  # the keychain daemon ends with its bus


def app_pids(home):
    """The tray app's processes (not its dashboard) that run on `home`'s data folder."""
    data = f"SICKBAY_DATA_DIR={os.path.join(home, 'data')}".encode()
    pids = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{p}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"sickbay" and b"dashboard" not in argv and data in env:
            pids.add(int(p))
    return pids


def stop_driver(wd, driver_proc):
    """Ends the session (and so the app), then tauri-driver."""
    if wd:
        wd.quit()
    if driver_proc:
        driver_proc.terminate()
        driver_proc.wait(timeout=10)


def start_driver(env, app_log):
    """tauri-driver with the app's environment, and a session of the app with its dashboard open."""
    port, native = free_port(), free_port()
    driver_proc = subprocess.Popen(
        ["tauri-driver", "--port", str(port), "--native-port", str(native),
         "--native-driver", "/usr/bin/WebKitWebDriver"],
        env=env, stdout=app_log, stderr=subprocess.STDOUT)
    wd = WebDriver(port)
    try:
        # tauri-driver answers before the WebKitWebDriver it starts listens: wait for both.
        wait_for("tauri-driver and WebKitWebDriver", lambda: _up(wd) and _listening(native), 30)
        wd.start(["--open-dashboard"])
    except BaseException:
        driver_proc.terminate()
        raise
    return driver_proc, wd


def _listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _up(wd):
    try:
        return wd.request("GET", "/status") is not None
    except Exception:
        return False


if __name__ == "__main__":
    main()
    first_run()
