"""What the end-to-end scripts share: the app under test, the test image, Docker, waiting."""
import ctypes
import os
import subprocess
import sys
import time

APP = os.path.abspath(os.environ["SICKBAY_APP"])
ARTIFACTS = os.path.abspath(os.environ.get("SICKBAY_ARTIFACTS", "artifacts/e2e"))
IMAGE = os.environ.get("SICKBAY_TEST_IMAGE", "sickbay-test:latest")


def logger(prefix):
    def log(msg):
        print(f"{prefix}: {msg}", file=sys.stderr, flush=True)
    return log


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def app_env(home, config, **extra):
    """The app's environment: its config and data in `home`, nothing of the user's."""
    return dict(os.environ, SICKBAY_CONFIG=config, SICKBAY_DATA_DIR=os.path.join(home, "data"), HOME=home,
                XDG_CONFIG_HOME=os.path.join(home, "config"), XDG_DATA_HOME=os.path.join(home, "share"),
                XDG_CACHE_HOME=os.path.join(home, "cache"), **extra)


def tree(root):
    """The pids of `root` and all its descendants."""
    parents = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parents[int(p)] = int(fields[1])
            except OSError:
                pass
    pids, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, pp in parents.items():
            if pp == parent and pid not in pids:
                pids.add(pid)
                frontier.append(pid)
    return pids


def names(pids):
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                out.append(f.read().strip())
        except OSError:
            pass
    return sorted(out)


def close_window(title):
    """Sends WM_DELETE_WINDOW to the windows named `title`, as a window manager would."""
    x11 = ctypes.cdll.LoadLibrary("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XInternAtom.restype = ctypes.c_ulong
    dpy = ctypes.c_void_p(x11.XOpenDisplay(None))

    class Msg(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("l", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]

    protocols = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    delete = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    ids = subprocess.run(["xdotool", "search", "--name", f"^{title}$"], capture_output=True, text=True).stdout.split()
    for w in ids:
        ev = Msg(type=33, window=int(w), message_type=protocols, format=32)
        ev.l[0] = delete
        x11.XSendEvent(dpy, ctypes.c_ulong(int(w)), 0, 0, ctypes.byref(ev))
    x11.XFlush(dpy)
    x11.XCloseDisplay(dpy)
    return len(ids)


def stop(procs, timeout=10):
    """Terminates the processes, the last started first, and kills those that do not end."""
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
