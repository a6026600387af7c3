# SPDX-License-Identifier: LGPL-2.1-or-later
"""browsertest.py: what a browser test of the Cockpit page needs on top of bustest.py
(TAP cases, the root client of the bus): a cockpit-ws local session per test user, so
that the bridge, vmsnapd and polkit all see that user; headless Chromium driven through
chromedriver; waiting for the page; screenshots kept as artifacts. run.sh and
tests/bus/harness.sh have started the bus, polkitd and vmsnapd and set the environment."""
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bus"))

from bustest import ADDRESS, TEST_DIR  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

PACKAGE = os.environ["VMSNAP_COCKPIT_PACKAGE"]
ARTIFACTS = os.environ["VMSNAP_BROWSER_ARTIFACTS"]
COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# How long a wait for something the page should show may take before the case fails.
WAIT_SECONDS = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CockpitSession:
    """cockpit-ws serving a local session (no login) as user, with the package of the
    build tree found through XDG_DATA_HOME. The session ends ~15 s after its last
    browser connection closes, so a test keeps one page of it open."""

    def __init__(self, user):
        self.user = user
        self.port = free_port()
        account = pwd.getpwnam(user)
        base = tempfile.mkdtemp(prefix=f"cockpit-{user}-", dir=TEST_DIR)
        os.chmod(base, 0o755)
        data = os.path.join(base, "data")
        os.makedirs(os.path.join(data, "cockpit"))
        # A copy, not a link: the build tree may sit under a directory the test user cannot
        # enter (a mktemp -d checkout is 0700).
        shutil.copytree(os.path.abspath(PACKAGE), os.path.join(data, "cockpit", "vmsnap"))
        for root, dirs, files in os.walk(data):
            for name in dirs + files:
                os.chmod(os.path.join(root, name), 0o755 if name in dirs else 0o644)
        home = os.path.join(base, "home")
        os.makedirs(home)
        os.chown(home, account.pw_uid, account.pw_gid)
        # Dummy session bus and ssh agent, or the bridge starts its own that outlive it.
        environment = {
            "LANG": "C.UTF-8",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": home,
            "XDG_DATA_HOME": data,
            "DBUS_SYSTEM_BUS_ADDRESS": ADDRESS,
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/vmsnap-test-session-bus",
            "SSH_AUTH_SOCK": "/nonexistent/vmsnap-test-ssh-agent",
        }
        self.log_path = os.path.join(base, "cockpit-ws.log")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", COCKPIT_WS, "--no-tls",
                 "--address", "127.0.0.1", "--port", str(self.port), "--local-session=cockpit-bridge"],
                env=environment, cwd="/", stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"cockpit-ws as {user} did not start: {self.log()}")
                time.sleep(0.05)

    def url(self, vm=None):
        page = f"http://127.0.0.1:{self.port}/cockpit/@localhost/vmsnap/index.html"
        return page + (f"#/{vm}" if vm else "")

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Browser:
    """Headless Chromium through chromedriver, 1280×1024, a fresh profile."""

    def __init__(self):
        profile = tempfile.mkdtemp(prefix="chromium-", dir=TEST_DIR)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,1024", "--lang=en-US",
                         f"--user-data-dir={profile}"]:
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(CHROMEDRIVER, env={**os.environ, "HOME": profile},
                          log_path=os.path.join(profile, "chromedriver.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.console = []
        os.makedirs(ARTIFACTS, exist_ok=True)
        for name in os.listdir(ARTIFACTS):  # a run's screenshots, not an earlier run's
            if name.endswith(".png"):
                os.remove(os.path.join(ARTIFACTS, name))
        self.shots = 0

    def quit(self):
        self.driver.quit()

    def open(self, url):
        self.driver.get(url)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, expression, timeout=WAIT_SECONDS, what=None):
        """Waits in the page until the JavaScript expression is truthy; returns its value.
        The expression may use `q(css)` and `qa(css)` (querySelector, querySelectorAll).
        The timeout is generous: a condition that holds returns at once, and under the
        sanitizers every part is several times slower."""
        script = """
            const done = arguments[arguments.length - 1];
            const q = css => document.querySelector(css);
            const qa = css => Array.from(document.querySelectorAll(css));
            const start = performance.now();
            (function poll() {
                let value = null;
                try { value = (%s); } catch (e) { value = null; }
                if (value) return done(value);
                if (performance.now() - start > %d) return done(null);
                setTimeout(poll, 20);
            })();""" % (expression, int(timeout * 1000))
        self.driver.set_script_timeout(timeout + 30)  # WebDriver's own limit must not cut the wait short
        value = self.driver.execute_async_script(script)
        if not value:
            self.screenshot("timeout")
            raise AssertionError(f"waited {timeout} s for {what or expression}")
        return value

    def element(self, css, timeout=WAIT_SECONDS):
        self.wait(f"q({json.dumps(css)})", timeout, f"an element {css}")
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def click(self, css, timeout=WAIT_SECONDS):
        """Clicks the element once it exists and is enabled, as a person would: with the
        mouse, in the middle of the window. A page that redraws the element between
        finding and clicking it gets another try."""
        for attempt in range(5):
            self.wait(f"(e => e && !e.disabled && e.offsetParent !== null)(q({json.dumps(css)}))", timeout,
                      f"an enabled, visible {css}")
            try:
                element = self.driver.find_element(By.CSS_SELECTOR, css)
                self.js("arguments[0].scrollIntoView({block: 'center'})", element)
                element.click()
                return
            except (StaleElementReferenceException, ElementClickInterceptedException):
                if attempt == 4:
                    raise
                self.next_paint()

    def next_paint(self):
        """Returns once the page has painted again (what redraws an element is done by then)."""
        self.driver.set_script_timeout(WAIT_SECONDS)
        self.driver.execute_async_script(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));")

    def fill(self, css, text):
        field = self.element(css)
        field.clear()
        field.send_keys(text)

    def text(self, css):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def screenshot(self, name, show=None):
        """Saves the window as ARTIFACTS/NN-name.png, scrolled to the element show (CSS) if given."""
        if show:
            self.js("const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'start'});", show)
        self.shots += 1
        path = os.path.join(ARTIFACTS, f"{self.shots:02d}-{name}.png")
        self.driver.save_screenshot(path)
        return path

    def collect_console(self):
        """Every console message so far (chromedriver hands each out once)."""
        self.console.extend(self.driver.get_log("browser"))
        return self.console

    def dark(self, how):
        """how: "shell" (Cockpit's shell:style + cockpit-style event), "system"
        (prefers-color-scheme through DevTools) or None (light)."""
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-color-scheme", "value": "dark" if how == "system" else "light"}]})
        style = "dark" if how == "shell" else "auto" if how == "system" else "light"
        self.js("""localStorage.setItem('shell:style', arguments[0]);
                   window.dispatchEvent(new CustomEvent('cockpit-style', {detail: {style: arguments[0]}}));""", style)
