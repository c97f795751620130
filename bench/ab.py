#!/usr/bin/env python3
"""A/B of Rauta binaries against a peer, the quick loop used while optimising.

    bench/ab.py OLD_RAUTA,NEW_RAUTA [ROUNDS] [SECONDS] [PORT_OFFSET] [SCENARIO] [PEER]

SCENARIO is h1-small (the default: `wrk -t1 -c32`), https-keepalive (the same over TLS), h2c or
h2-tls (`h2load -t1 -c16 -m10`, as compare.py); PEER is nginx (the default) or haproxy. Same
layout as compare.py (proxy on CPU 1; the load generator and the backend nginx on CPU 0),
targets interleaved in every round (the peer, then each binary); prints the proxy's CPU per
request (user/system) and the per-round ratio to the peer, median and range.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as c  # noqa: E402


def wrk(url, seconds):
    return ["wrk", "-t1", "-c32", f"-d{seconds}s", url]


def h2load(url, seconds):
    return ["h2load", "-t1", "-c16", "-m10", "-D", str(seconds), url]


# scenario: (scheme, index of the peer's port in compare.PORTS, load command, its parser)
SCENARIOS = {
    "h1-small": ("http", 0, wrk, c.parse_wrk),
    "https-keepalive": ("https", 1, wrk, c.parse_wrk),
    "h2c": ("http", 2, h2load, c.parse_h2load),
    "h2-tls": ("https", 1, h2load, c.parse_h2load),
}


def main():
    bins = sys.argv[1].split(",")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    dur = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    # Added to every port, as compare.py's --port-offset, to run beside another run.
    off = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    c.PORT_OFFSET = off
    c.BACKEND_PORT += off
    c.PORTS = {k: tuple(p + off for p in v) for k, v in c.PORTS.items()}
    scenario = sys.argv[5] if len(sys.argv) > 5 else "h1-small"
    peer = sys.argv[6] if len(sys.argv) > 6 else "nginx"
    if scenario not in SCENARIOS or peer not in ("nginx", "haproxy"):
        sys.exit(f"scenario: one of {', '.join(SCENARIOS)}; peer: nginx or haproxy")
    d, crt, key, backend = c.start_backend("rauta-ab-")
    procs = [backend]
    if peer == "nginx":
        c.write(f"{d}/nginx.conf", c.nginx_conf(d, crt, key))
        procs.append(c.Proc("nginx", ["nginx", "-c", f"{d}/nginx.conf", "-p", d], c.PROXY_CPU, logdir=d))
    else:
        c.write(f"{d}/haproxy.cfg", c.haproxy_conf(d))
        procs.append(c.Proc("haproxy", ["haproxy", "-f", f"{d}/haproxy.cfg"], c.PROXY_CPU, logdir=d))
    scheme, port_index, load, parse = SCENARIOS[scenario]
    # The peer's ports: plain HTTP/1.1, TLS, h2c. Rauta serves h2c on its plain port.
    targets = {peer: (procs[-1], c.PORTS[peer][port_index])}
    try:
        for i, b in enumerate(bins):
            c.RAUTA = b
            r = c.Rauta(f"r{i}", d, off + 19100 + i, off + 19200 + i, off + 19300 + i, crt, key, c.route("r", "/"), d)
            procs.append(r.proc)
            port = off + (19200 if scheme == "https" else 19100) + i
            targets[f"{i}:{os.path.basename(b)}"] = (r.proc, port)
        time.sleep(1)
        c.wait_http(off + 19100, "/small")
        res = {k: [] for k in targets}
        for rnd in range(rounds):
            for name, (p, port) in targets.items():
                url = f"{scheme}://127.0.0.1:{port}/small"
                c.run(load(url, 1))
                r = c.measure(p.pid, load(url, dur), parse, dur)
                res[name].append(r)
                print(rnd, name, r.get("cpu_us_per_req"), r.get("user_us_per_req"), r.get("sys_us_per_req"),
                      r["rps"], r["errors"], r["non2xx"], flush=True)
        print(f"target  CPU us/req (user/sys)  ratio to {peer}: median [range]  req/s")
        for name, rs in res.items():
            ratios = [x["cpu_us_per_req"] / n["cpu_us_per_req"] for x, n in zip(rs, res[peer])]
            print(f"{name:30s} {statistics.median(x['cpu_us_per_req'] for x in rs):6.1f} "
                  f"({statistics.median(x['user_us_per_req'] for x in rs):.1f}/"
                  f"{statistics.median(x['sys_us_per_req'] for x in rs):.1f}) "
                  f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}] "
                  f"{statistics.median(x['rps'] for x in rs):.0f}")
    finally:
        for p in procs:
            p.stop()


if __name__ == "__main__":
    main()
