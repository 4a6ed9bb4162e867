"""Ports, child processes and HTTP, as every harness needs them."""

import ctypes
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request


class StandError(RuntimeError):
    """Something of the stand did not start or answer as it should."""


def free_port():
    """A loopback TCP port the kernel had free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, n=40):
    """The last n lines of a file, as one string ("" when unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def die_with_parent():
    """In a child: SIGTERM when the harness goes, however it goes (a ctest
    timeout kills it), so no provider or relay is left behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):  # PR_SET_PDEATHSIG is 1
        pass


def spawn(argv, errpath, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
          **kw):
    """argv started with its stderr in the file errpath and its stdout a
    text pipe (unless told otherwise); it dies with the harness."""
    with open(errpath, "w") as err:
        return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=err,
                                text=True, preexec_fn=die_with_parent, **kw)


def stop(proc, grace=10.0):
    """SIGTERM, then SIGKILL after grace seconds; closes its pipes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for f in (proc.stdin, proc.stdout):
        if f is not None:
            try:
                f.close()
            except (OSError, ValueError):
                pass


_running = []


def stop_all():
    """Stops every Daemon of this process still running, newest first."""
    for d in reversed(list(_running)):
        d.stop()


class Daemon:
    """A child process of the harness whose stderr is kept in
    workdir/NAME.log (errpath), for a failure's report."""

    def __init__(self, name, workdir):
        self.name = name
        self.errpath = os.path.join(workdir, name + ".log")
        self.proc = None

    def start(self, argv, **kw):
        """spawn()s argv (stdout a pipe unless kw says otherwise)."""
        self.proc = spawn(argv, self.errpath, **kw)
        _running.append(self)
        return self.proc

    def logs(self, n=60):
        """The last lines of its stderr."""
        return tail(self.errpath, n).rstrip("\n")

    def log_lines(self):
        """Every line of its stderr so far."""
        try:
            with open(self.errpath, encoding="utf-8",
                      errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    def stop(self, grace=10.0):
        if self.proc is None:
            return
        stop(self.proc, grace)
        if self in _running:
            _running.remove(self)
        self.proc = None


class Lines:
    """A child's stdout, line by line, with timeouts (a reader thread).
    timeout: seconds, or a function returning them (it may raise to give
    up); what get() waits at most unless it is told."""

    def __init__(self, stream, timeout=60.0):
        self.q = queue.Queue()
        self.timeout = timeout
        threading.Thread(target=self._read, args=(stream,),
                         daemon=True).start()

    def _read(self, stream):
        try:
            for line in stream:
                self.q.put(line.rstrip("\n"))
        except (OSError, ValueError):
            pass
        self.q.put(None)

    def get(self, what, timeout=None):
        """The next line; StandError after the timeout or at the end."""
        if timeout is None:
            timeout = self.timeout() if callable(self.timeout) \
                else self.timeout
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            raise StandError("timed out after %.0f s waiting for %s" %
                             (timeout, what)) from None
        if line is None:
            raise StandError("end of output while waiting for %s" % what)
        return line


def request(method, url, body=None, timeout=10.0, headers=None,
            context=None):
    """(status, text) of one request, no proxies.  body (a dict or list)
    goes as JSON; context: an ssl.SSLContext for https."""
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method=method)
    handlers = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, raw.decode("utf-8", "replace")


def http(method, url, body=None, timeout=10.0, headers=None, context=None):
    """(status, parsed JSON or text) of one request (see request())."""
    status, text = request(method, url, body, timeout, headers, context)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_healthy(url, proc, what, timeout=20.0, errpath=None):
    """Waits until GET url answers 200; StandError when proc exits first
    or the time is up (with the tail of errpath)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StandError("%s exited %s:\n%s" % (
                what, proc.returncode, tail(errpath) if errpath else ""))
        try:
            if request("GET", url, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise StandError("%s did not answer %s within %.0f s:\n%s" % (
        what, url, timeout, tail(errpath) if errpath else ""))
