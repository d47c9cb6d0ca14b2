"""What the end-to-end scripts share: the app under test, the test image, Docker, waiting."""
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
