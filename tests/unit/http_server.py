#!/usr/bin/env python3
"""A loopback HTTP(S) server for test_http.

Binds 127.0.0.1 on a port the kernel picks, prints that port on one line and
serves until killed.  With --tls DIR it makes a self-signed certificate for
IP:127.0.0.1 in DIR (cert.pem, and a hashed copy in DIR/capath/ for
CURLOPT_CAPATH) and speaks HTTPS.  What each path answers is in route().
"""
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
HITS = {}  # path -> number of requests
# Scripted answers (test_relayc, test_oidc): path without query ->
# {"status", "body" ("{base}" becomes http://127.0.0.1:PORT),
#  "content_type", "require": {header: value} (else 401)}.
SCRIPT = {}
LAST = {}  # scripted path -> the last request to it
# Failures before a scripted answer (test_login): path without query ->
# {"times": how many requests fail yet, "status": their status (0: the
# connection is closed unanswered), "retry_after": a Retry-After or none}.
FAILS = {}
CONNECTS = []  # CONNECT targets seen (we are a refusing proxy too)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def raw(self, data):
        self.wfile.write(data)
        self.close_connection = True

    def drop(self, reset=False):
        """Closes the connection without an answer; with reset, by a TCP
        RST (a relay killed mid-poll), else by a FIN."""
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def do_GET(self):
        self.route(b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.route(self.rfile.read(n))

    def do_CONNECT(self):
        with LOCK:
            CONNECTS.append(self.path)
        self.send(403, b"no tunnels here")
        self.close_connection = True

    def route(self, body):
        path = self.path
        with LOCK:
            HITS[path] = HITS.get(path, 0) + 1
        if path == "/echo":
            out = {
                "method": self.command,
                "authorization": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "user_agent": self.headers.get("User-Agent"),
                "expect": self.headers.get("Expect"),
                "cookie": self.headers.get("Cookie"),
                "accept_encoding": self.headers.get("Accept-Encoding"),
                "client_key": self.headers.get("PAM-Ion-Client-Key"),
                "body": body.decode("latin-1"),
            }
            self.send(200, json.dumps(out).encode(),
                      [("Content-Type", "application/json")])
        elif path.startswith("/_script/") and self.command == "POST":
            with LOCK:
                SCRIPT[path[len("/_script"):]] = json.loads(body)
            self.send(200, b"{}")
        elif path.startswith("/_fail/") and self.command == "POST":
            with LOCK:
                FAILS[path[len("/_fail"):]] = json.loads(body)
            self.send(200, b"{}")
        elif path.startswith("/_last/"):
            with LOCK:
                out = LAST.get(path[len("/_last"):])
            self.send(200, json.dumps(out).encode())
        elif path.split("?")[0] in SCRIPT:
            if not self.failed(path.split("?")[0]):
                self.scripted(path, body)
        elif path.startswith("/drop/"):
            self.drop()
        elif path.startswith("/reset/"):
            self.drop(reset=True)
        elif path.startswith("/retry-after/"):
            # A relay busy (test_relayc): 503 with the Retry-After in the
            # path ("date" for one in the HTTP-date form).
            v = path.split("/")[2]
            v = "Fri, 31 Dec 1999 23:59:59 GMT" if v == "date" else v
            self.send(503, b'{"error":"busy"}', [("Retry-After", v)])
        elif path.startswith("/status/"):
            code = int(path[8:])
            # 204 and 304 have no body (RFC 9110 sections 15.3.5, 15.4.5).
            self.send(code, b"" if code in (204, 304) else b"status body")
        elif path.startswith("/size/"):
            self.send(200, b"x" * int(path[6:]))
        elif path.startswith("/chunked/"):
            n = int(path[9:])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, n, 7):
                part = b"y" * min(7, n - i)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/redirect":
            self.send(302, b"moved", [("Location", "/status/418")])
        elif path == "/created":
            self.send(201, b"{}", [("Location", "/somewhere")])
        elif path == "/cache":
            self.send(200, b"{}", [("Cache-Control", "max-age=300"),
                                   ("Cache-Control", "must-revalidate"),
                                   ("Content-Type",
                                    "application/json; charset=utf-8")])
        elif path == "/cookie":
            self.send(200, b"", [("Set-Cookie", "sid=1; Path=/")])
        elif path == "/hits":
            with LOCK:
                out = {"hits": HITS, "connects": CONNECTS}
            self.send(200, json.dumps(out).encode())
        elif path == "/slow":
            time.sleep(3)
            self.send(200, b"late")
        elif path.startswith("/slow/"):
            # A provider or relay that does not answer in time (test_oidc,
            # test_relayc): the client has given up before the answer.
            time.sleep(3)
            try:
                self.send(200, b"late")
            except OSError:
                pass
        elif path == "/fold":
            self.raw(b"HTTP/1.1 200 OK\r\nCache-Control: max-age=1,\r\n"
                     b" private\r\nContent-Length: 0\r\n\r\n")
        elif path == "/two-types":
            self.send(200, b"", [("Content-Type", "text/plain"),
                                 ("Content-Type", "application/json")])
        elif path == "/long-header":
            self.send(200, b"", [("Cache-Control", "x" * 5000)])
        elif path == "/many-headers":
            self.send(200, b"", [("X-Filler-%d" % i, "z" * 1000)
                                 for i in range(70)])
        elif path == "/lying-length":
            # Announces more than any cap; sends nothing.
            self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n")
        else:
            self.send(404, b"not found")

    def failed(self, p):
        """Answers with the next of FAILS[p]'s failures, if any is left."""
        with LOCK:
            f = FAILS.get(p)
            if f is None or f["times"] <= 0:
                return False
            f["times"] -= 1
        if f["status"] == 0:
            self.drop()
        else:
            self.send(f["status"],
                      f.get("body", '{"error":"busy"}').encode(),
                      [("Retry-After", f["retry_after"])]
                      if "retry_after" in f else [])
        return True

    def scripted(self, path, body):
        p = path.split("?")[0]
        with LOCK:
            s = SCRIPT[p]
            LAST[p] = {"method": self.command,
                       "query": path[len(p) + 1:],
                       "headers": {k.lower(): v
                                   for k, v in self.headers.items()},
                       "body": body.decode("latin-1")}
        for k, v in s.get("require", {}).items():
            if self.headers.get(k) != v:
                self.send(401, b'{"error":"unauthorized"}',
                          [("Content-Type", "application/json")])
                return
        base = "http://127.0.0.1:%d" % self.server.server_address[1]
        out = s.get("body", "").replace("{base}", base).encode()
        self.send(s.get("status", 200), out,
                  [("Content-Type", s.get("content_type",
                                          "application/json"))])


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
         "-days", "2", "-subj", "/CN=pam_ion test",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", cert],
                       check=True, capture_output=True, text=True)
    capath = os.path.join(d, "capath")
    os.makedirs(capath, exist_ok=True)
    shutil.copy(cert, os.path.join(capath, h.stdout.strip() + ".0"))
    return cert, key


def watch_parent(parent, tls_dir):
    """Exit with the test: a crashed test leaves no server or key behind."""
    deadline = time.monotonic() + 300
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.2)
    if tls_dir is not None:
        shutil.rmtree(tls_dir, ignore_errors=True)
    os._exit(0)


def main():
    tls = len(sys.argv) == 3 and sys.argv[1] == "--tls"
    threading.Thread(target=watch_parent,
                     args=(os.getppid(), sys.argv[2] if tls else None),
                     daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls:
        cert, key = make_cert(sys.argv[2])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
