#!/usr/bin/env python3
"""Writes the link order of the `rauta` executable's functions (crates/rauta/symbol-order.txt).

    bench/symbol_order.py [BINARY] [OUT]

Runs BINARY (default: the `dist` build) under callgrind through what a serving gateway does, in
three parts: start-up on the benchmark's configuration (an HTTP and an HTTPS Gateway, one route,
the backend nginx of compare.py); the requests of the benchmark's scenarios (HTTP/1.1 with small,
16 KiB and 1 MiB bodies, HTTPS with keep-alive and with a handshake per request, HTTP/2 over TLS
and h2c through h2load); then the admin endpoints, a reload that adds a route, and a graceful
stop. Every function of the binary that ran is written out: the request path's first, the most
executed first, then the others. crates/rauta/build.rs hands the file to the linker
(`--symbol-ordering-file`), which places those functions together, in that order, at the start
of `.text`.

Why: the kernel maps a file's pages around every page fault (64 KiB at a time), so code that
runs is resident together with whatever the linker put beside it. Unordered, the ~2,300
functions that run touch most of the 8.4 MB of code; ordered, they are 2.6 MB in a row
(docs/benchmarks.md, "Session 7").

A function of a later build that the file does not name (new code, or a new symbol hash after a
compiler or dependency update) is placed after the ordered ones, as without the file: a stale
file costs memory, never correctness. Run this again after such changes.
"""
import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as c  # noqa: E402

OUT = os.path.join(c.REPO, "crates", "rauta", "symbol-order.txt")
OFFSET = 900
Ports = namedtuple("Ports", "http_port tls_port admin_port dir")


def function_costs(callgrind_out):
    """Self cost (instructions) of every function named in a callgrind output file."""
    names, costs = {}, {}
    current, after_call = None, False
    fn_line = re.compile(r"^(c?fn)=\((\d+)\)(?: (.*))?$")
    cost_line = re.compile(r"^[+\-*0-9]")
    with open(callgrind_out, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = fn_line.match(line)
            if m:
                kind, ident, name = m.groups()
                if name:
                    names[ident] = name
                if kind == "fn":
                    current = names.get(ident)
                continue
            if line.startswith("calls="):
                after_call = True
                continue
            if cost_line.match(line):
                if after_call:
                    after_call = False  # the inclusive cost of the call, not this function's own
                    continue
                parts = line.split()
                if current is not None and len(parts) >= 2:
                    costs[current] = costs.get(current, 0) + int(parts[1])
    for name in names.values():
        costs.setdefault(name, 0)
    return costs


def text_symbols(binary):
    """The size of every function symbol of `binary` (0 where `nm` knows none)."""
    out = subprocess.run(["nm", "-S", "--defined-only", binary], check=True, capture_output=True, text=True).stdout
    sizes = {}
    for p in (line.split() for line in out.splitlines()):
        if len(p) == 4 and p[2] in "tTwW":
            sizes.setdefault(p[3], int(p[1], 16))
        elif len(p) == 3 and p[1] in "tTwW":
            sizes.setdefault(p[2], 0)
    return sizes


def get(port, path, tls_ctx=None, requests=1):
    """`requests` GETs of `path` on one keep-alive connection."""
    if tls_ctx:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls_ctx, timeout=60)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(requests):
            conn.request("GET", path, headers={"Host": "localhost"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise SystemExit(f"GET {path} on {port}: {resp.status}")
    finally:
        conn.close()


def serve(ports, crt):
    """What the benchmark's scenarios send: the request path, profiled on its own."""
    h1, tls = ports.http_port, ports.tls_port
    ctx = ssl.create_default_context(cafile=crt)
    get(h1, "/small", requests=300)
    get(h1, "/16k", requests=30)
    get(h1, "/1m", requests=3)
    get(tls, "/small", ctx, requests=300)
    for _ in range(10):  # a handshake per request
        get(tls, "/small", ctx)
    if shutil.which("h2load"):
        for url in (f"http://127.0.0.1:{h1}/small", f"https://127.0.0.1:{tls}/small"):
            r = c.run(["h2load", "-n", "600", "-c", "2", "-m", "4", url], timeout=300)
            if "600 succeeded" not in r.stdout:
                raise SystemExit(f"h2load {url} failed:\n{r.stdout}{r.stderr}")
    else:
        c.log("h2load not installed: HTTP/2 not in the profile")


def control(ports):
    """The admin endpoints and a reload that adds a route."""
    for path in ("/healthz", "/ready", "/metrics", "/config", "/status"):
        conn = http.client.HTTPConnection("127.0.0.1", ports.admin_port, timeout=60)
        conn.request("GET", path)
        conn.getresponse().read()
        conn.close()
    c.write(os.path.join(ports.dir, "20-reload.yaml"), c.route("reloaded", "/reloaded"))
    if not c.wait_http(ports.http_port, "/reloaded", timeout=120):
        raise SystemExit("the reload did not take effect")
    get(ports.http_port, "/reloaded")


def dump(pid):
    """Ends a part of the profile: callgrind writes what it counted so far to `<out>.<n>`."""
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True, timeout=120)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else c.RAUTA
    out = sys.argv[2] if len(sys.argv) > 2 else OUT
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed (apt-get install valgrind)")
    c.PORT_OFFSET = OFFSET
    c.BACKEND_PORT += OFFSET
    d, crt, key, backend = c.start_backend("rauta-order-")
    if not c.wait_http(c.BACKEND_PORT, "/small"):
        raise SystemExit(f"the backend nginx did not start; see {d}")
    profile = os.path.join(d, "callgrind.out")
    ports = Ports(c.P(18104), c.P(18204), c.P(18199), os.path.join(d, "config"))
    c.ensure_free(ports.http_port, ports.tls_port, ports.admin_port)
    os.makedirs(ports.dir)
    c.write(os.path.join(ports.dir, "00-gateway.yaml"), c.rauta_gateway(ports.http_port, ports.tls_port, crt, key))
    c.write(os.path.join(ports.dir, "10-routes.yaml"), c.route("all", "/"))
    # As compare.Rauta runs it, under callgrind.
    argv = ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={profile}", binary,
            "run", "-f", ports.dir, "--workers", "1", "--access-log", "off",
            "--admin-address", f"127.0.0.1:{ports.admin_port}"]
    proc = subprocess.Popen(argv, stdout=open(os.path.join(d, "valgrind.log"), "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        if not c.wait_http(ports.http_port, "/small", timeout=300):
            raise SystemExit(f"rauta did not start under valgrind; see {d}/valgrind.log")
        dump(proc.pid)  # part 1: start-up
        serve(ports, crt)
        dump(proc.pid)  # part 2: serving
        control(ports)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        backend.stop()
    symbols = text_symbols(binary)
    parts = [function_costs(f) for f in (profile + ".1", profile + ".2", profile)]
    serving = {n: v for n, v in parts[1].items() if n in symbols and v > 0}
    rest = {}
    for part in (parts[0], parts[2]):
        for n, v in part.items():
            if n in symbols and n not in serving:
                rest[n] = rest.get(n, 0) + v
    # The request path first, the most executed first (its hot code shares cache lines and TLB
    # entries), then what only start-up, the admin endpoints and reloads run.
    ordered = sorted(serving, key=lambda n: (-serving[n], n)) + sorted(rest, key=lambda n: (-rest[n], n))
    with open(out, "w") as f:
        f.write("# Functions of `rauta` that run: the request path's, the most executed first, then the rest\n"
                "# that runs. The linker places them together at the start of `.text` (crates/rauta/build.rs).\n"
                "# Generated by bench/symbol_order.py; do not edit.\n")
        for name in ordered:
            f.write(name + "\n")
    c.log(f"{len(serving)} functions on the request path, {len(ordered)} in all ({sum(symbols[n] for n in ordered) / 1e6:.2f} MB of "
          f"{sum(symbols.values()) / 1e6:.2f} MB) written to {out}")
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
