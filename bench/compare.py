#!/usr/bin/env python3
"""Side-by-side benchmark of Rauta, nginx, HAProxy and Caddy on one machine (run through compare.sh).

Every proxy gets one CPU (taskset) and one worker; the load generator and the backend (a separate
nginx serving fixed responses) share the other CPU. Targets are interleaved inside each round
(direct, nginx, haproxy, caddy, rauta, then again) and every ratio is taken within one round.

The primary metric is the proxy's CPU time per request: utime+stime of the whole process tree
from /proc/<pid>/stat over the measured window, divided by the requests completed in it.
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGET_DIR = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
# The binary we ship: `cargo build --profile dist` (LTO; see Cargo.toml). RAUTA_BIN overrides it.
RAUTA = os.environ.get("RAUTA_BIN") or os.path.join(TARGET_DIR, "dist", "rauta")
TOOL = os.path.join(TARGET_DIR, "release", "rauta-bench")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

BACKEND_PORT = 18080
# (h1, tls, h2c) ports per proxy; Rauta serves h2c prior knowledge on its HTTP port.
PORTS = {
    "nginx": (18101, 18201, 18301),
    "haproxy": (18102, 18202, 18302),
    "caddy": (18103, 18203, 18303),
    "rauta": (18104, 18204, 18104),
}
PROXIES = list(PORTS)
# The program each peer runs (Rauta's is RAUTA).
EXECUTABLES = {"nginx": "nginx", "haproxy": "haproxy", "caddy": "caddy"}
# Added to every port (--port-offset), so that two runs on one machine do not collide.
PORT_OFFSET = 0


def P(port):
    """A fixed port of the harness, shifted by --port-offset."""
    return port + PORT_OFFSET
ROUTES_MANY = 5000

LOAD_CPU = "0"
PROXY_CPU = "1"


# ---------------------------------------------------------------- processes and /proc


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def tree(root):
    """The pids of `root` and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(children.get(p, []))
    return pids


def cpu_times(root):
    """(utime, stime) in seconds of the process tree (all threads, including exited ones)."""
    user = system = 0
    for p in tree(root):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return user / TICK, system / TICK


def cpu_seconds(root):
    return sum(cpu_times(root))


def memory_kib(root, field):
    """Sum of a /proc/<pid>/status field (VmRSS, VmHWM) over the tree, in KiB."""
    total = 0
    for p in tree(root):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def drop_from_page_cache(executable):
    """Evicts a program's file from the page cache (`posix_fadvise(DONTNEED)`), so that every
    target starts as it would on a machine that has not just written or run it. How much of a
    binary's code a start maps depends on how its file sits in the page cache: a file `cp` or the
    linker has just written is cached in other folio sizes than one read from disk, and the idle
    RSS of the same binary moved by ±0.5 MB between those states (docs/benchmarks.md)."""
    path = shutil.which(executable) or executable
    try:
        fd = os.open(os.path.realpath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class Proc:
    def __init__(self, name, argv, cpu, env=None, cwd=None, logdir=None):
        self.name = name
        out = open(os.path.join(logdir, f"{name}.log"), "ab") if logdir else subprocess.DEVNULL
        full_env = dict(os.environ, **(env or {}))
        self.p = subprocess.Popen(
            ["taskset", "-c", cpu] + argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()


def wait_http(port, path="/", host=None, tls=False, timeout=20.0, want=200, proc=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            log(f"port {port}: the process exited")
            return False
        try:
            status = get(port, path, host=host, tls=tls)
            if want is None or status == want:
                return True
            last = status
        except OSError as e:
            last = e
        time.sleep(0.05)
    log(f"port {port}{path}: not ready ({last})")
    return False


def ensure_free(*ports):
    """Refuses to measure a leftover process: every port a target will listen on must be free."""
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as e:
                raise SystemExit(f"port {port} is already in use ({e}); stop whatever listens there") from e


def get(port, path, host=None, tls=False, timeout=2.0):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def run(argv, cpu=LOAD_CPU, timeout=None, stdin=None):
    return subprocess.run(
        ["taskset", "-c", cpu] + argv, capture_output=True, text=True, timeout=timeout, stdin=stdin
    )


# ---------------------------------------------------------------- configurations


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# An OpenSSL configuration that caps a client (wrk) at TLS 1.2, for `https-new-conn-tls12`.
TLS12_CLIENT_CONF = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MaxProtocol = TLSv1.2
"""


def make_cert(d):
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=bench.local",
         "-addext", "subjectAltName=DNS:bench.local,DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    with open(os.path.join(d, "bundle.pem"), "w") as f:
        f.write(open(crt).read() + open(key).read())
    return crt, key


def backend_conf(d):
    www = os.path.join(d, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "16k"), "wb") as f:
        f.write(b"x" * 16384)
    with open(os.path.join(www, "1m"), "wb") as f:
        f.write(b"x" * 1048576)
    return f"""
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid {d}/backend.pid;
error_log {d}/backend.err warn;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp-b/body; proxy_temp_path {d}/tmp-b/proxy;
  fastcgi_temp_path {d}/tmp-b/fcgi; uwsgi_temp_path {d}/tmp-b/uwsgi; scgi_temp_path {d}/tmp-b/scgi;
  keepalive_requests 10000000; keepalive_timeout 300s;
  sendfile on; tcp_nopush on;
  default_type text/plain;
  server {{
    listen 127.0.0.1:{BACKEND_PORT} backlog=4096;
    root {www};
    location = /16k {{ }}
    location = /1m {{ }}
    location / {{ return 200 "hello, world\\n"; }}
  }}
}}
"""


def nginx_conf(d, crt, key):
    h1, tls, h2c = PORTS["nginx"]
    return f"""
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid {d}/nginx.pid;
error_log {d}/nginx.err warn;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp-n/body; proxy_temp_path {d}/tmp-n/proxy;
  fastcgi_temp_path {d}/tmp-n/fcgi; uwsgi_temp_path {d}/tmp-n/uwsgi; scgi_temp_path {d}/tmp-n/scgi;
  keepalive_requests 10000000; keepalive_timeout 300s;
  upstream backend {{
    server 127.0.0.1:{BACKEND_PORT};
    keepalive 64; keepalive_requests 10000000; keepalive_timeout 300s;
  }}
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  # Stream large bodies instead of spilling them to temporary files (as the others do).
  proxy_max_temp_file_size 0;
  ssl_certificate {crt};
  ssl_certificate_key {key};
  # nginx 1.22 offers TLS 1.0-1.2 unless told (1.23.4 added TLS 1.3 to its default); every peer
  # must negotiate the same protocol with the same client, so nginx gets today's default.
  ssl_protocols TLSv1.2 TLSv1.3;
  server {{
    listen 127.0.0.1:{h1} backlog=4096;
    listen 127.0.0.1:{tls} ssl http2 backlog=4096;
    location / {{ proxy_pass http://backend; }}
  }}
  server {{
    listen 127.0.0.1:{h2c} http2 backlog=4096;
    location / {{ proxy_pass http://backend; }}
  }}
}}
"""


def fd_limit():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def haproxy_maxconn():
    """HAProxy reserves two descriptors per connection and refuses to start beyond the limit."""
    return min(40000, (fd_limit() - 300) // 2)


def haproxy_conf(d):
    h1, tls, h2c = PORTS["haproxy"]
    return f"""
global
  nbthread 1
  maxconn {haproxy_maxconn()}
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  option forwardfor
frontend fe
  bind 127.0.0.1:{h1}
  bind 127.0.0.1:{tls} ssl crt {d}/bundle.pem alpn h2,http/1.1
  bind 127.0.0.1:{h2c} proto h2
  http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
  http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
  default_backend be
backend be
  server s1 127.0.0.1:{BACKEND_PORT}
"""


def caddy_conf(crt, key):
    h1, tls, h2c = PORTS["caddy"]
    return f"""
{{
  admin off
  auto_https disable_redirects
  skip_install_trust
  servers 127.0.0.1:{h2c} {{
    protocols h1 h2c
  }}
}}
http://127.0.0.1:{h1} {{
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:{BACKEND_PORT}
}}
https://127.0.0.1:{tls} {{
  bind 127.0.0.1
  tls {crt} {key}
  reverse_proxy 127.0.0.1:{BACKEND_PORT}
}}
http://127.0.0.1:{h2c} {{
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:{BACKEND_PORT}
}}
"""


def rauta_gateway(http_port, tls_port, crt, key):
    """GatewayClass, an HTTP Gateway, an HTTPS Gateway (its own, so an unsupported HTTPS listener
    cannot affect the HTTP one), the certificate Secret and the backend Service."""
    b64 = lambda p: base64.b64encode(open(p, "rb").read()).decode()
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: rauta}}
spec: {{controllerName: rauta.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: bench, namespace: default}}
spec:
  gatewayClassName: rauta
  listeners:
  - name: http
    protocol: HTTP
    port: {http_port}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: bench-tls, namespace: default}}
spec:
  gatewayClassName: rauta
  listeners:
  - name: https
    protocol: HTTPS
    port: {tls_port}
    tls:
      mode: Terminate
      certificateRefs:
      - kind: Secret
        name: bench-cert
---
apiVersion: v1
kind: Secret
metadata: {{name: bench-cert, namespace: default}}
type: kubernetes.io/tls
data:
  tls.crt: {b64(crt)}
  tls.key: {b64(key)}
---
apiVersion: v1
kind: Service
metadata: {{name: backend, namespace: default}}
spec:
  ports:
  - name: http
    port: 80
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend
  namespace: default
  labels: {{kubernetes.io/service-name: backend}}
addressType: IPv4
ports:
- name: http
  port: {BACKEND_PORT}
endpoints:
- addresses: ["127.0.0.1"]
"""


def route(name, path, kind="PathPrefix", extra_rule=""):
    return f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: default}}
spec:
  parentRefs: [{{name: bench}}, {{name: bench-tls}}]
  rules:
  - matches: [{{path: {{type: {kind}, value: "{path}"}}}}]{extra_rule}
    backendRefs: [{{name: backend, port: 80}}]
"""


def many_routes(n):
    """n routes of equal precedence; the one a request names (/r/<n-1>) sorts last."""
    return "".join(route(f"r-{i:05d}", f"/r/{i:05d}") for i in range(n))


class Rauta:
    """A `rauta run -f DIR` instance."""

    def __init__(self, name, d, http_port, tls_port, admin_port, crt, key, routes_yaml, logdir):
        ensure_free(http_port, tls_port, admin_port)
        self.dir = os.path.join(d, name)
        os.makedirs(self.dir, exist_ok=True)
        write(os.path.join(self.dir, "00-gateway.yaml"), rauta_gateway(http_port, tls_port, crt, key))
        write(os.path.join(self.dir, "10-routes.yaml"), routes_yaml)
        self.http_port, self.tls_port, self.admin_port = http_port, tls_port, admin_port
        self.proc = Proc(
            name,
            [RAUTA, "run", "-f", self.dir, "--workers", "1", "--access-log", "off",
             "--admin-address", f"127.0.0.1:{admin_port}"],
            PROXY_CPU,
            logdir=logdir,
        )


# ---------------------------------------------------------------- load generators


def parse_wrk(out):
    r = {"requests": 0, "errors": 0, "non2xx": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            v = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
            r[f"p{q}_us"] = round(v)
    return r


def parse_h2load(out):
    r = {"requests": 0, "errors": 0, "non2xx": 0}
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if m:
        r["requests"] = int(m.group(1))
        r["errors"] = int(m.group(2)) + int(m.group(3))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["non2xx"] = sum(int(x) for x in m.groups()[1:])
    if "No protocol negotiated" in out or r["requests"] == 0:
        r["unsupported"] = True
    return r


def quiesce(pids, limit=10.0):
    """Waits (up to `limit` s) until the given process trees are idle, so that a target still
    working off the previous run's backlog (an overloaded peer) does not share the proxy CPU."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(0.3)
        if sum(cpu_seconds(p) for p in pids) - before < 0.3 * 0.03:
            return


def measure(proxy_pid, load_argv, parse, duration):
    """Runs `load_argv` on the load CPU and charges the proxy tree's CPU over that window."""
    user0, sys0 = cpu_times(proxy_pid) if proxy_pid else (0.0, 0.0)
    t0 = time.monotonic()
    p = run(load_argv, timeout=duration + 60)
    wall = time.monotonic() - t0
    user1, sys1 = cpu_times(proxy_pid) if proxy_pid else (0.0, 0.0)
    before, after = user0 + sys0, user1 + sys1
    r = parse(p.stdout + p.stderr)
    r["wall_s"] = round(wall, 3)
    r["cpu_s"] = round(after - before, 3)
    n = r.get("requests") or r.get("sent") or 0
    r["rps"] = round(n / duration, 1)
    if proxy_pid and n:
        r["cpu_us_per_req"] = round((after - before) * 1e6 / n, 2)
        # User space is the proxy's own code; system time is mostly the TCP stack's work per send
        # and receive, which any proxy making the same system calls pays.
        r["user_us_per_req"] = round((user1 - user0) * 1e6 / n, 2)
        r["sys_us_per_req"] = round((sys1 - sys0) * 1e6 / n, 2)
        r["cpu_util"] = round((after - before) / wall, 3)
    if proxy_pid:
        r["rss_kib"] = memory_kib(proxy_pid, "VmRSS")
        r["hwm_kib"] = memory_kib(proxy_pid, "VmHWM")
    if p.returncode != 0 and not r.get("requests") and not r.get("sent"):
        r["failed"] = (p.stdout + p.stderr)[-400:]
    return r


# ---------------------------------------------------------------- the run


def start_backend(prefix):
    """A work directory with nginx's temp dirs and a certificate, and the backend nginx running
    from it on the load CPU: the set-up bench/ab.py and bench/instructions.py share."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)  # nginx's workers (user nobody) read the bodies under it
    for t in ("tmp-b", "tmp-n"):
        for s in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(d, t, s), exist_ok=True)
    crt, key = make_cert(d)
    write(f"{d}/backend.conf", backend_conf(d))
    backend = Proc("backend", ["nginx", "-c", f"{d}/backend.conf", "-p", d], LOAD_CPU, logdir=d)
    return d, crt, key, backend


class Bench:
    def __init__(self, args):
        self.args = args
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out = os.path.abspath(args.out or os.path.join(HERE, "results", stamp))
        os.makedirs(self.out, exist_ok=True)
        self.d = tempfile.mkdtemp(prefix="rauta-bench-")
        # nginx workers drop to an unprivileged user: they must be able to read the backend's files.
        os.chmod(self.d, 0o755)
        for sub in ("tmp-b", "tmp-n"):
            os.makedirs(os.path.join(self.d, sub), exist_ok=True)
        self.raw = open(os.path.join(self.out, "raw.jsonl"), "a")
        self.procs = {}
        self.results = []
        self.crt, self.key = make_cert(self.d)
        self.tls_ok = {}

    def record(self, **r):
        self.results.append(r)
        self.raw.write(json.dumps(r) + "\n")
        self.raw.flush()

    # --- peers

    def start_backend(self):
        ensure_free(BACKEND_PORT)
        write(os.path.join(self.d, "backend.conf"), backend_conf(self.d))
        self.procs["backend"] = Proc("backend", ["nginx", "-c", f"{self.d}/backend.conf", "-p", self.d],
                                     LOAD_CPU, logdir=self.out)
        wait_http(BACKEND_PORT, "/small")

    def start(self, name, routes_yaml=None):
        d = self.d
        if name in PORTS:
            ensure_free(*set(PORTS[name]))
        if name == "nginx":
            write(f"{d}/nginx.conf", nginx_conf(d, self.crt, self.key))
            p = Proc(name, ["nginx", "-c", f"{d}/nginx.conf", "-p", d], PROXY_CPU, logdir=self.out)
        elif name == "haproxy":
            write(f"{d}/haproxy.cfg", haproxy_conf(d))
            p = Proc(name, ["haproxy", "-db", "-f", f"{d}/haproxy.cfg"], PROXY_CPU, logdir=self.out)
        elif name == "caddy":
            write(f"{d}/Caddyfile", caddy_conf(self.crt, self.key))
            home = os.path.join(d, "caddy-home")
            os.makedirs(home, exist_ok=True)
            p = Proc(name, ["caddy", "run", "--adapter", "caddyfile", "--config", f"{d}/Caddyfile"], PROXY_CPU,
                     env={"GOMAXPROCS": "1", "HOME": home, "XDG_DATA_HOME": home, "XDG_CONFIG_HOME": home},
                     logdir=self.out)
        elif name == "rauta":
            h1, tls, _ = PORTS["rauta"]
            p = Rauta("rauta", d, h1, tls, P(18199), self.crt, self.key, routes_yaml or route("all", "/"),
                      self.out).proc
        elif name == "rauta-5k":
            p = Rauta("rauta-5k", d, P(18105), P(18205), P(18198), self.crt, self.key,
                      routes_yaml or many_routes(ROUTES_MANY), self.out).proc
        else:
            raise ValueError(name)
        self.procs[name] = p
        port = P(18105) if name == "rauta-5k" else PORTS[name][0]
        path = f"/r/{ROUTES_MANY - 1:05d}"
        if not wait_http(port, path, timeout=60, proc=p):
            raise SystemExit(f"{name} did not start; see {self.out}/{name}.log")
        return p

    def stop(self, name):
        p = self.procs.pop(name, None)
        if p:
            p.stop()

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def tls_supported(self, name):
        if name not in self.tls_ok:
            try:
                self.tls_ok[name] = get(PORTS[name][1], "/small", tls=True) == 200
            except (OSError, ssl.SSLError):
                self.tls_ok[name] = False
        return self.tls_ok[name]

    def h2c_supported(self, name):
        out = run(["h2load", "-n", "4", "-c", "1", f"http://127.0.0.1:{PORTS[name][2]}/small"], timeout=20)
        return "4 succeeded" in out.stdout

    # --- scenarios

    def scenarios(self):
        a = self.args
        D = a.duration
        wrk = lambda c, url, *extra: (["wrk", "-t1", f"-c{c}", f"-d{D}s", "--latency", *extra, url], parse_wrk)
        h2 = lambda url: (["h2load", "-t1", "-c16", "-m10", "-D", str(D), url], parse_h2load)
        # wrk links OpenSSL, whose configuration file can cap the client at TLS 1.2 (wrk has no option).
        tls12 = os.path.join(self.d, "openssl-tls12.cnf")
        if not os.path.exists(tls12):
            write(tls12, TLS12_CLIENT_CONF)
        wrk12 = lambda c, url, *extra: (["env", f"OPENSSL_CONF={tls12}", *wrk(c, url, *extra)[0]], parse_wrk)
        return {
            "h1-small": lambda port, tls, h2c: wrk(32, f"http://127.0.0.1:{port}/small"),
            "h1-16k": lambda port, tls, h2c: wrk(32, f"http://127.0.0.1:{port}/16k"),
            "h1-1m": lambda port, tls, h2c: wrk(8, f"http://127.0.0.1:{port}/1m"),
            "https-keepalive": lambda port, tls, h2c: wrk(32, f"https://127.0.0.1:{tls}/small"),
            "https-new-conn": lambda port, tls, h2c: wrk(16, f"https://127.0.0.1:{tls}/small", "-H", "Connection: close"),
            "https-new-conn-tls12": lambda port, tls, h2c: wrk12(16, f"https://127.0.0.1:{tls}/small", "-H",
                                                                 "Connection: close"),
            "h2-tls": lambda port, tls, h2c: h2(f"https://127.0.0.1:{tls}/small"),
            "h2c": lambda port, tls, h2c: h2(f"http://127.0.0.1:{h2c}/small"),
        }

    def throughput_phase(self):
        a = self.args
        for name in PROXIES:
            self.start(name)
        scen = self.scenarios()
        wanted = [s for s in scen if s in a.scenarios]
        support = {}
        for name in PROXIES:
            support[(name, "tls")] = self.tls_supported(name)
            support[(name, "h2c")] = self.h2c_supported(name)
        log("support:", {f"{k[0]}/{k[1]}": v for k, v in support.items()})
        for rnd in range(1, a.rounds + 1):
            for s in wanted:
                targets = (["direct"] if s.startswith("h1") else []) + PROXIES
                for t in targets:
                    tls_scen = s.startswith("https") or s == "h2-tls"
                    need = "tls" if tls_scen else "h2c" if s == "h2c" else None
                    if t != "direct" and need and not support[(t, need)]:
                        self.record(phase="throughput", scenario=s, target=t, round=rnd, unsupported=True)
                        continue
                    if t == "direct":
                        port = tls = h2c = BACKEND_PORT
                        pid = self.procs["backend"].pid
                    else:
                        port, tls, h2c = PORTS[t]
                        pid = self.procs[t].pid
                    argv, parse = scen[s](port, tls, h2c)
                    quiesce([p.pid for p in self.procs.values()])
                    # A short unmeasured run warms pools, caches and TLS session state.
                    warm = [x if not x.startswith("-d") else "-d1s" for x in argv]
                    if argv[0] == "h2load":
                        warm = [x if x != str(a.duration) else "1" for x in argv]
                    run(warm, timeout=30)
                    r = measure(pid, argv, parse, a.duration)
                    if t == "direct":
                        # The backend is not a proxy: its CPU is reported apart.
                        r["backend_cpu_us_per_req"] = r.pop("cpu_us_per_req", None)
                    self.record(phase="throughput", scenario=s, target=t, round=rnd, **r)
                    log(f"round {rnd} {s:16} {t:8} rps={r.get('rps')} cpu/req={r.get('cpu_us_per_req')} "
                        f"err={r.get('errors')}/{r.get('non2xx')}")

    def routes_phase(self):
        """1 route vs 5,000 routes, interleaved: CPU per request of a request matching the last route."""
        a = self.args
        if "rauta" not in self.procs:
            self.start("rauta")
        self.start("rauta-5k")
        path = f"/r/{ROUTES_MANY - 1:05d}"
        for rnd in range(1, a.rounds + 1):
            for t, port in (("rauta", PORTS["rauta"][0]), ("rauta-5k", P(18105))):
                argv = ["wrk", "-t1", "-c32", f"-d{a.duration}s", "--latency", f"http://127.0.0.1:{port}{path}"]
                run(["wrk", "-t1", "-c32", "-d1s", f"http://127.0.0.1:{port}{path}"], timeout=30)
                r = measure(self.procs[t].pid, argv, parse_wrk, a.duration)
                self.record(phase="routes", scenario="h1-small-last-route", target=t, round=rnd, **r)
                log(f"round {rnd} routes {t:8} rps={r.get('rps')} cpu/req={r.get('cpu_us_per_req')}")
        self.stop("rauta-5k")

    def latency_phase(self):
        """Open-loop latency at 50% of nginx's saturation rate (h1-small, same run)."""
        a = self.args
        sat = [r["rps"] for r in self.results
               if r.get("scenario") == "h1-small" and r.get("target") == "nginx" and r.get("rps")]
        rate = int(statistics.median(sat) * 0.5) if sat else a.rate
        log(f"latency: {rate} req/s open loop (nginx saturation median {statistics.median(sat) if sat else '?'})")
        for name in PROXIES:
            if name not in self.procs:
                self.start(name)
        for rnd in range(1, a.rounds + 1):
            for t in ["direct"] + PROXIES:
                port = BACKEND_PORT if t == "direct" else PORTS[t][0]
                pid = self.procs["backend" if t == "direct" else t].pid
                # An overloaded peer (Caddy at this rate) works off its backlog for seconds.
                quiesce([p.pid for p in self.procs.values()], limit=40.0)
                argv = [TOOL, "open-loop", "--addr", f"127.0.0.1:{port}", "--path", "/small", "--rate", str(rate),
                        "--connections", "64", "--duration", str(a.latency_duration), "--warmup", "2"]
                r = measure(pid, argv, lambda out: json.loads(out.strip().splitlines()[-1]), a.latency_duration + 2.2)
                r["requests"] = r.get("sent")
                if t == "direct":
                    r["backend_cpu_us_per_req"] = r.pop("cpu_us_per_req", None)
                self.record(phase="latency", scenario="h1-open-loop", target=t, round=rnd, **r)
                log(f"round {rnd} latency {t:8} p50={r.get('p50_us')} p99={r.get('p99_us')} "
                    f"p99.9={r.get('p999_us')} sent={r.get('sent')} err={r.get('errors')}/{r.get('non2xx')}")

    def memory_phase(self):
        """Fresh processes: idle RSS after one request, then RSS per idle keep-alive connection."""
        a = self.args
        self.stop_all_proxies()
        for rnd in range(1, a.memory_rounds + 1):
            for t in PROXIES + ["rauta-5k"]:
                drop_from_page_cache(EXECUTABLES.get(t, RAUTA))
                p = self.start(t)
                port = P(18105) if t == "rauta-5k" else PORTS[t][0]
                time.sleep(1.0)
                idle = memory_kib(p.pid, "VmRSS")
                r = {"idle_rss_kib": idle}
                if t != "rauta-5k":
                    holder = subprocess.Popen(
                        ["taskset", "-c", LOAD_CPU, TOOL, "idle", "--addr", f"127.0.0.1:{port}", "--path", "/small",
                         "--connections", str(a.idle_connections), "--hold", "120"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    line = holder.stdout.readline()
                    time.sleep(1.0)
                    held = memory_kib(p.pid, "VmRSS")
                    try:
                        info = json.loads(line)
                    except ValueError:
                        info = {"held": 0}
                    holder.stdin.close()
                    holder.wait(30)
                    n = info.get("held") or 0
                    if not n:
                        log(f"memory {t}: no idle connection held ({TOOL} idle printed {line.strip()!r})")
                    # Nothing held is nothing measured, not 0 KiB per connection.
                    r.update(held_connections=n, failed_connections=info.get("failed"),
                             rss_with_idle_conns_kib=held,
                             kib_per_conn=round((held - idle) / n, 2) if n else None)
                self.record(phase="memory", target=t, round=rnd, **r)
                log(f"round {rnd} memory {t:8} {r}")
                self.stop(t)

    def stop_all_proxies(self):
        for name in list(self.procs):
            if name != "backend":
                self.stop(name)

    def propagation_phase(self):
        """File change → first 200 on the new route, probed every 5 ms, with 1 and 5,000 routes."""
        a = self.args
        self.stop_all_proxies()
        for label, routes_yaml in (("1", route("base", "/base")), (str(ROUTES_MANY), many_routes(ROUTES_MANY))):
            inst = Rauta(f"rauta-prop-{label}", self.d, P(18106), P(18206), P(18197), self.crt, self.key, routes_yaml, self.out)
            probe_path = "/base" if label == "1" else f"/r/{ROUTES_MANY - 1:05d}"
            if not wait_http(P(18106), probe_path, timeout=60):
                raise SystemExit("rauta (propagation) did not start")
            times = []
            for i in range(a.propagation_samples):
                path = f"/p/{label}-{i}"
                conn = http.client.HTTPConnection("127.0.0.1", P(18106), timeout=2)
                t0 = time.monotonic()
                write(os.path.join(inst.dir, f"20-new-{i}.yaml"), route(f"new-{i}", path, kind="Exact"))
                status, elapsed = None, None
                while time.monotonic() - t0 < 5.0:
                    try:
                        conn.request("GET", path, headers={"Host": "bench.local"})
                        resp = conn.getresponse()
                        resp.read()
                        status = resp.status
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", P(18106), timeout=2)
                    if status == 200:
                        elapsed = time.monotonic() - t0
                        break
                    time.sleep(0.005)
                conn.close()
                times.append(elapsed)
                self.record(phase="propagation", routes=int(label), sample=i,
                            ms=None if elapsed is None else round(elapsed * 1e3, 2))
                time.sleep(0.2)
            ok = sorted(t * 1e3 for t in times if t is not None)
            rss = memory_kib(inst.proc.pid, "VmRSS")
            log(f"propagation {label} routes: p50={statistics.median(ok) if ok else None:.1f} ms "
                f"max={max(ok) if ok else None} missed={len(times) - len(ok)} rss={rss} KiB")
            inst.proc.stop()

    def churn_phase(self):
        """Routes added, changed and removed every 50 ms while an open-loop load runs on stable and changing routes."""
        a = self.args
        self.stop_all_proxies()
        stable = [route(f"stable-{i}", f"/s/{i}") for i in range(20)]
        changing = [route(f"change-{i}", f"/c/{i}") for i in range(10)]
        inst = Rauta("rauta-churn", self.d, P(18107), P(18207), P(18196), self.crt, self.key, "".join(stable), self.out)
        for i, r in enumerate(changing):
            write(os.path.join(inst.dir, f"30-change-{i}.yaml"), r)
        if not wait_http(P(18107), "/c/9", timeout=60):
            raise SystemExit("rauta (churn) did not start")
        paths = [x for i in range(10) for x in ("--path", f"/s/{i}", "--path", f"/c/{i}")]
        load = subprocess.Popen(
            ["taskset", "-c", LOAD_CPU, TOOL, "open-loop", "--addr", f"127.0.0.1:{P(18107)}", *paths,
             "--rate", str(a.churn_rate), "--connections", "32", "--duration", str(a.churn_duration), "--warmup", "1"],
            stdout=subprocess.PIPE, text=True)
        ops = 0
        end = time.monotonic() + 1.2 + a.churn_duration
        added = []
        header = "\n    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-churn, value: \"%d\"}]}}]"
        while time.monotonic() < end:
            k = ops % 3
            if k == 0:  # add a route nobody requests yet
                name = f"added-{ops}"
                write(os.path.join(inst.dir, f"40-{name}.yaml"), route(name, f"/a/{ops}"))
                added.append(name)
            elif k == 1:  # change a loaded route: flip its path match type and add or drop a filter
                i = (ops // 3) % 10
                kind = "Exact" if (ops // 30) % 2 else "PathPrefix"
                extra = header % ops if (ops // 3) % 2 else ""
                write(os.path.join(inst.dir, f"30-change-{i}.yaml"), route(f"change-{i}", f"/c/{i}", kind, extra))
            elif added:  # remove an added route
                os.unlink(os.path.join(inst.dir, f"40-{added.pop(0)}.yaml"))
            ops += 1
            time.sleep(0.05)
        out, _ = load.communicate(timeout=60)
        r = json.loads(out.strip().splitlines()[-1])
        self.record(phase="churn", target="rauta", operations=ops, **r)
        log(f"churn: {ops} operations; {r}")
        inst.proc.stop()

    def close(self):
        self.stop_all()
        shutil.rmtree(self.d, ignore_errors=True)


# ---------------------------------------------------------------- report


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def spread(values):
    v = [x for x in values if x is not None]
    if not v:
        return ""
    return f"{min(v):.3g}–{max(v):.3g}"


def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def ratio_by_round(rows, scen, a, b, key):
    """Median over rounds of a's key / b's key, both from the same round."""
    by = {}
    for r in rows:
        if r.get("scenario") == scen and r.get(key):
            by.setdefault(r["round"], {})[r["target"]] = r[key]
    ratios = [v[a] / v[b] for v in by.values() if a in v and b in v]
    return (med(ratios), ratios)


def report(results, args, out):
    lines = []
    w = lines.append
    w(f"## Results ({datetime.datetime.now():%Y-%m-%d %H:%M} UTC, {args.rounds} rounds × {args.duration} s)\n")
    w("CPU µs/req is the proxy's whole-process CPU per completed request (median, min–max over rounds); "
      "ratios are per-round ratios of Rauta's figure to the peer's, median over rounds.\n")
    thr = [r for r in results if r.get("phase") in ("throughput", "routes")]
    scen_order = []
    for r in thr:
        if r["scenario"] not in scen_order:
            scen_order.append(r["scenario"])
    w("| scenario | target | CPU µs/req | user / sys µs | ratio Rauta/target | req/s | p50 / p99 µs (closed loop) | errors | peak RSS MiB |")
    w("|---|---|---|---|---|---|---|---|---|")
    for s in scen_order:
        rows = [r for r in thr if r["scenario"] == s]
        targets = []
        for r in rows:
            if r["target"] not in targets:
                targets.append(r["target"])
        for t in targets:
            rs = [r for r in rows if r["target"] == t]
            if all(r.get("unsupported") for r in rs):
                w(f"| {s} | {t} | not supported yet | | | | | | |")
                continue
            key = "backend_cpu_us_per_req" if t == "direct" else "cpu_us_per_req"
            cpu = [r.get(key) for r in rs]
            rauta = "rauta"
            ratio = ""
            if t not in ("direct", rauta) and t != "rauta-5k":
                m, _ = ratio_by_round(rows, s, rauta, t, "cpu_us_per_req")
                ratio = fmt(m) if m else "–"
            if t == "rauta-5k":
                m, _ = ratio_by_round(rows, s, "rauta-5k", "rauta", "cpu_us_per_req")
                ratio = f"5k/1: {fmt(m)}" if m else "–"
            cpu_txt = f"{fmt(med(cpu))} ({spread(cpu)})" + (" backend" if t == "direct" else "")
            rps = [r.get("rps") for r in rs]
            p50 = med([r.get("p50_us") for r in rs])
            p99 = med([r.get("p99_us") for r in rs])
            errs = sum((r.get("errors") or 0) + (r.get("non2xx") or 0) for r in rs)
            hwm = med([r.get("hwm_kib") for r in rs])
            us = f"{fmt(med([r.get('user_us_per_req') for r in rs]))} / {fmt(med([r.get('sys_us_per_req') for r in rs]))}"
            if t == "direct":
                us = ""
            w(f"| {s} | {t} | {cpu_txt} | {us} | {ratio} | {fmt(med(rps))} ({spread(rps)}) | {fmt(p50)} / {fmt(p99)} | "
              f"{errs} | {fmt(hwm / 1024 if hwm else None)} |")
    lat = [r for r in results if r.get("phase") == "latency"]
    if lat:
        w("\n### Open-loop latency (fixed rate, 64 connections)\n")
        w(f"Rate: {fmt(lat[0].get('rate'))} req/s (50% of nginx's median h1-small saturation rate).\n")
        w("| target | p50 µs | p99 µs | p99.9 µs | max µs | p99 ratio Rauta/target | CPU µs/req at this rate | errors | sent | generator timer late p99 µs |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for t in ["direct"] + PROXIES:
            rs = [r for r in lat if r["target"] == t]
            if not rs:
                continue
            m, _ = ratio_by_round(lat, "h1-open-loop", "rauta", t, "p99_us")
            key = "backend_cpu_us_per_req" if t == "direct" else "cpu_us_per_req"
            cpu = [r.get(key) for r in rs]
            w(f"| {t} | {fmt(med([r.get('p50_us') for r in rs]))} ({spread([r.get('p50_us') for r in rs])}) | "
              f"{fmt(med([r.get('p99_us') for r in rs]))} ({spread([r.get('p99_us') for r in rs])}) | "
              f"{fmt(med([r.get('p999_us') for r in rs]))} | {fmt(med([r.get('max_us') for r in rs]))} | "
              f"{fmt(m) if t != 'rauta' and m else ''} | {fmt(med(cpu))}{' backend' if t == 'direct' else ''} | "
              f"{sum((r.get('errors') or 0) + (r.get('non2xx') or 0) for r in rs)} | {sum(r.get('sent') or 0 for r in rs)} | "
              f"{fmt(med([r.get('timer_late_p99_us') for r in rs]))} ({spread([r.get('timer_late_p99_us') for r in rs])}) |")
    mem = [r for r in results if r.get("phase") == "memory"]
    if mem:
        w("\n### Memory (fresh process, after one request)\n")
        w("| target | idle RSS MiB | RSS per idle keep-alive connection KiB | connections held |")
        w("|---|---|---|---|")
        for t in PROXIES + ["rauta-5k"]:
            rs = [r for r in mem if r["target"] == t]
            if not rs:
                continue
            idle = [r["idle_rss_kib"] / 1024 for r in rs]
            per = [r.get("kib_per_conn") for r in rs]
            w(f"| {t} | {fmt(med(idle))} ({spread(idle)}) | {fmt(med(per))} ({spread(per)}) | "
              f"{fmt(med([r.get('held_connections') for r in rs]))} |")
        one = med([r["idle_rss_kib"] for r in mem if r["target"] == "rauta"])
        many = med([r["idle_rss_kib"] for r in mem if r["target"] == "rauta-5k"])
        if one and many:
            w(f"\nMemory per route: ({fmt(many)} − {fmt(one)}) KiB / {ROUTES_MANY - 1} = "
              f"**{(many - one) / (ROUTES_MANY - 1):.2f} KiB per route**.")
    prop = [r for r in results if r.get("phase") == "propagation"]
    if prop:
        w("\n### Route propagation (new file → first 200, probed every 5 ms)\n")
        w("| routes | p50 ms | max ms | samples | missed (no 200 within 5 s) |")
        w("|---|---|---|---|---|")
        for n in sorted({r["routes"] for r in prop}):
            ms = [r["ms"] for r in prop if r["routes"] == n and r["ms"] is not None]
            miss = sum(1 for r in prop if r["routes"] == n and r["ms"] is None)
            w(f"| {n} | {fmt(med(ms))} | {fmt(max(ms) if ms else None)} | {len(ms)} | {miss} |")
    churn = [r for r in results if r.get("phase") == "churn"]
    for r in churn:
        w(f"\n### Route churn under load\n\n{r['operations']} route operations (add, change, remove; one per 50 ms) "
          f"during {r['duration_s']} s of {fmt(r['rate'])} req/s open-loop load on 20 stable and changing routes: "
          f"**{r['non2xx']} non-2xx, {r['errors']} errors** of {r['sent']} requests; p99 {r['p99_us']} µs.")
    lines.extend(verdicts(results))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    return text


def verdicts(results):
    """Issue #5's targets, each checked on this run's figures (ratios within rounds)."""
    out = ["\n### Targets\n", "| target | measured | holds |", "|---|---|---|"]

    def row(name, value, ok, fmt_value=lambda v: f"{v:.3g}"):
        shown = "not measured" if value is None else fmt_value(value)
        out.append(f"| {name} | {shown} | {'–' if value is None else ('yes' if ok else '**no**')} |")

    thr = [r for r in results if r.get("phase") in ("throughput", "routes")]

    def cpu_ratio(scen, a, b):
        m, _ = ratio_by_round(thr, scen, a, b, "cpu_us_per_req")
        return m

    r = cpu_ratio("h1-small", "rauta", "nginx")
    row("HTTP/1.1 CPU/req ≤ 0.8× nginx", r, r is not None and r <= 0.8, lambda v: f"{v:.2f}×")
    r = cpu_ratio("h1-small", "rauta", "haproxy")
    row("HTTP/1.1 CPU/req ≤ 1.0× HAProxy", r, r is not None and r <= 1.0, lambda v: f"{v:.2f}×")
    r = cpu_ratio("https-keepalive", "rauta", "nginx")
    row("HTTPS keep-alive CPU/req ≤ 0.8× nginx", r, r is not None and r <= 0.8, lambda v: f"{v:.2f}×")
    r = cpu_ratio("https-new-conn", "rauta", "nginx")
    row("HTTPS new connection per request CPU/req ≤ 1.0× nginx", r, r is not None and r <= 1.0, lambda v: f"{v:.2f}×")
    r = cpu_ratio("https-new-conn-tls12", "rauta", "nginx")
    row("the same with a TLS 1.2 client ≤ 1.0× nginx", r, r is not None and r <= 1.0, lambda v: f"{v:.2f}×")
    for scen in ("h2-tls", "h2c"):
        for peer in ("nginx", "haproxy"):
            # Throughput per core is requests per CPU-second: the inverse of CPU per request.
            r = cpu_ratio(scen, peer, "rauta")
            row(f"{scen} requests per CPU-second ≥ {peer}'s", r, r is not None and r >= 1.0, lambda v: f"{v:.2f}×")
    lat = [x for x in results if x.get("phase") == "latency"]
    m, _ = ratio_by_round(lat, "h1-open-loop", "rauta", "nginx", "p99_us")
    row("p99 at 50% of nginx's saturation ≤ nginx's p99", m, m is not None and m <= 1.0, lambda v: f"{v:.2f}×")
    m, _ = ratio_by_round(thr, "h1-small-last-route", "rauta-5k", "rauta", "cpu_us_per_req")
    row("5,000 routes CPU/req ≤ 1.03× 1 route", m, m is not None and m <= 1.03, lambda v: f"{v:.3f}×")
    mem = [x for x in results if x.get("phase") == "memory"]
    one = med([x["idle_rss_kib"] for x in mem if x["target"] == "rauta"])
    many = med([x["idle_rss_kib"] for x in mem if x["target"] == "rauta-5k"])
    per_route = (many - one) / (ROUTES_MANY - 1) if one and many else None
    row("memory ≤ 10 KiB per route", per_route, per_route is not None and per_route <= 10, lambda v: f"{v:.1f} KiB")
    prop = [x for x in results if x.get("phase") == "propagation"]
    for n in sorted({x["routes"] for x in prop}):
        p50 = med([x["ms"] for x in prop if x["routes"] == n])
        row(f"route propagation p50 ≤ 30 ms at {n} routes", p50, p50 is not None and p50 <= 30, lambda v: f"{v:.1f} ms")
    row("idle RSS ≤ 10 MB", one, one is not None and one * 1024 <= 10e6, lambda v: f"{v * 1024 / 1e6:.1f} MB")
    per_conn = med([x.get("kib_per_conn") for x in mem if x["target"] == "rauta"])
    row("≤ 16 KiB RSS per idle keep-alive connection", per_conn, per_conn is not None and per_conn <= 16,
        lambda v: f"{v:.1f} KiB")
    churn = [x for x in results if x.get("phase") == "churn"]
    bad = sum(x["non2xx"] + x["errors"] for x in churn) if churn else None
    row("zero non-2xx during route churn under load", bad, bad == 0, lambda v: f"{v} non-2xx/errors")
    return out


def machine():
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def ver(argv):
        # A peer left out of --targets need not be installed.
        try:
            p = subprocess.run(argv, capture_output=True, text=True)
        except FileNotFoundError:
            return ["not installed"]
        return (p.stdout + p.stderr).strip().splitlines()[0:1]

    return {
        "cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
        "nginx": ver(["nginx", "-v"]), "haproxy": ver(["haproxy", "-v"]), "caddy": ver(["caddy", "version"]),
        "wrk": ver(["wrk", "-v"]), "h2load": ver(["h2load", "--version"]),
        "rauta_commit": subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip(),
    }


ALL = ["h1-small", "h1-16k", "h1-1m", "https-keepalive", "https-new-conn", "https-new-conn-tls12", "h2-tls", "h2c", "routes",
       "latency", "memory", "propagation", "churn"]


def main():
    global BACKEND_PORT, PORTS, PROXIES, PORT_OFFSET
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8, help="seconds per closed-loop measurement")
    ap.add_argument("--latency-duration", type=int, default=15)
    ap.add_argument("--rate", type=int, default=10000, help="open-loop rate when nginx's saturation is unknown")
    ap.add_argument("--memory-rounds", type=int, default=2)
    ap.add_argument("--idle-connections", type=int, default=10000)
    ap.add_argument("--propagation-samples", type=int, default=20)
    ap.add_argument("--churn-rate", type=int, default=5000)
    ap.add_argument("--churn-duration", type=int, default=20)
    ap.add_argument("--scenarios", default=",".join(ALL), help="comma-separated subset of: " + ",".join(ALL))
    ap.add_argument("--out", help="results directory (default bench/results/<time>)")
    ap.add_argument("--targets", help="comma-separated subset of the proxies to run: " + ",".join(PROXIES)
                    + " (default: all; the 5,000-route Rauta runs whenever rauta does)")
    ap.add_argument("--port-offset", type=int, default=0,
                    help="added to every port the harness uses, to run beside another run")
    args = ap.parse_args()
    args.scenarios = args.scenarios.split(",")
    PORT_OFFSET = args.port_offset
    BACKEND_PORT += PORT_OFFSET
    PORTS = {k: tuple(p + PORT_OFFSET for p in v) for k, v in PORTS.items()}
    if args.targets:
        wanted = args.targets.split(",")
        unknown = set(wanted) - set(PROXIES)
        if unknown:
            raise SystemExit(f"unknown targets: {','.join(sorted(unknown))} (known: {','.join(PROXIES)})")
        PROXIES = [t for t in PROXIES if t in wanted]
    if os.cpu_count() < 2:
        raise SystemExit("needs 2 CPUs: one for the proxy, one for the load generator and backend")
    # 10,000 idle connections need more descriptors than the usual default (root may raise it).
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200000, 200000))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.idle_connections > haproxy_maxconn() - 50:
        args.idle_connections = haproxy_maxconn() - 50
        log(f"descriptor limit {fd_limit()}: holding {args.idle_connections} idle connections")
    b = Bench(args)
    log(f"results in {b.out}")

    def terminate(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    with open(os.path.join(b.out, "machine.json"), "w") as f:
        json.dump(dict(machine(), args=vars(args)), f, indent=1)
    try:
        b.start_backend()
        if any(s in args.scenarios for s in b.scenarios()):
            b.throughput_phase()
        if "routes" in args.scenarios:
            b.routes_phase()
        if "latency" in args.scenarios:
            b.latency_phase()
        if "memory" in args.scenarios:
            b.memory_phase()
        if "propagation" in args.scenarios:
            b.propagation_phase()
        if "churn" in args.scenarios:
            b.churn_phase()
    finally:
        b.close()
    print(report(b.results, args, b.out))


if __name__ == "__main__":
    main()
