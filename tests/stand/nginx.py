"""Debian's nginx in front of the relay, as pam-ion-relay(8) deploys it
(packaging/nginx/pam-ion-relay.conf), run by the harness itself: its own
prefix directory holds the config, the pid file, the logs and the temporary
files, so /etc/nginx and the system's service are never touched."""

import os
import shutil
import subprocess
import tempfile

from stand.proc import Daemon, StandError, tail, wait_healthy

NGINX = "/usr/sbin/nginx"

# The frame around an http block's inside.  One worker (the machine's cores
# are shared); enough connections and open files for ~2,500 connections at
# once, since each proxied request holds two.  Everything relative lands in
# the prefix (-p).  daemon and master_process come with -g (see Nginx).
MAIN_CONF = """\
worker_processes 1;
worker_rlimit_nofile 8192;
pid nginx.pid;
error_log error.log warn;

events {
    worker_connections 4096;
}

http {
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;

%s
}
"""

# packaging/nginx/pam-ion-relay.conf, directive for directive, except where
# a test on loopback cannot follow it: plain http on 127.0.0.1 (a test has
# no certificate, so no listen ... ssl, no ssl_* lines, and no HSTS header,
# which only means something over https), the access log in the prefix,
# and the relays of the upstream block (two there, any number here: a test
# passes their addresses).  Keep the two in step.
RELAY_SITE = """\
    limit_conn_zone $binary_remote_addr zone=pam_ion_relay_conn:10m;
    limit_req_zone $binary_remote_addr zone=pam_ion_relay_req:10m rate=10r/s;

    log_format pam_ion_relay
        '$remote_addr - [$time_local] "$request_method $uri" '
        '$status $body_bytes_sent';

    upstream pam_ion_relay {
        least_conn;
%(servers)s
    }

    server {
        listen 127.0.0.1:%(port)d;
        server_name relay.example;

        server_tokens off;
        access_log access.log pam_ion_relay;

        client_header_timeout 10s;
        client_body_timeout 10s;
        client_max_body_size 16k;

        limit_conn pam_ion_relay_conn 64;
        limit_req zone=pam_ion_relay_req burst=40 nodelay;

        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_connect_timeout 5s;

        proxy_next_upstream error timeout;

        location / {
            proxy_pass http://pam_ion_relay;
        }

        location /v1/ {
            proxy_pass http://pam_ion_relay;

            location = /v1/logins/result {
                proxy_pass http://pam_ion_relay;
                proxy_buffering off;
                proxy_read_timeout 60s;
            }
        }

        location = /metrics {
            deny all;
        }
    }
"""


def nginx_binary():
    """The nginx to run, or None."""
    found = shutil.which("nginx")
    if found is None and os.access(NGINX, os.X_OK):
        found = NGINX
    return found


def nginx_missing():
    """Why nginx cannot run here, or None."""
    if nginx_binary() is None:
        return "nginx is not installed (scripts/deps.sh installs it)"
    return None


def relay_site(port, relays):
    """The inside of an http block: the documented site on 127.0.0.1:port
    in front of relays ("127.0.0.1:PORT" each), one upstream server each:
    least_conn, a relay that fails a connection or a request is left out
    for 2 s, and a GET (or a POST that never reached its relay) goes to
    the next relay after a connection error or timeout, never after a
    503."""
    servers = "\n".join("        server %s max_fails=1 fail_timeout=2s;" % r
                         for r in relays)
    return RELAY_SITE % {"servers": servers, "port": port}


class Nginx(Daemon):
    """nginx -p PREFIX -c PREFIX/nginx.conf, a master and one worker in the
    foreground, on 127.0.0.1:port with http_text inside its http block
    (relay_site() for the relay).  PREFIX is a fresh directory of its own
    (self.prefix): its stderr is PREFIX/nginx.log, its logs error.log and
    access.log there.  Ready once GET ready_path through it answers 200.
    stop() ends it (SIGTERM: the master ends its worker first); remove()
    then deletes PREFIX."""

    def __init__(self, port, http_text, ready_path="/healthz",
                 start_timeout=20.0):
        binary = nginx_binary()
        if binary is None:
            raise StandError(nginx_missing())
        self.prefix = tempfile.mkdtemp(prefix="nginx-")
        # The worker runs as nobody when the harness is root: it may
        # have to reach tmp/ for a large body.
        os.chmod(self.prefix, 0o755)
        os.mkdir(os.path.join(self.prefix, "tmp"), 0o755)
        super().__init__("nginx", self.prefix)
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.error_log = os.path.join(self.prefix, "error.log")
        self.access_log = os.path.join(self.prefix, "access.log")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(MAIN_CONF % http_text)
        # -e: the error log before the config is read, else nginx opens
        # the system's /var/log/nginx/error.log first.
        self.start([binary, "-p", self.prefix + "/", "-c", self.conf,
                    "-e", self.error_log,
                    "-g", "daemon off; master_process on;"],
                   stdout=subprocess.DEVNULL)
        try:
            wait_healthy(self.url + ready_path, self.proc, "nginx",
                         start_timeout, self.errpath)
        except StandError as e:
            self.stop()
            why = "%s\nerror.log:\n%s" % (e, tail(self.error_log))
            self.remove()
            raise StandError(why) from None

    def error_lines(self):
        """Every line of its error.log so far."""
        return tail(self.error_log, 1000000).splitlines()

    def remove(self):
        """Deletes the prefix (after stop())."""
        shutil.rmtree(self.prefix, ignore_errors=True)
