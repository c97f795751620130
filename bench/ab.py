#!/usr/bin/env python3
"""A/B of Rauta binaries against nginx on h1-small, the quick loop used while optimising.

    bench/ab.py OLD_RAUTA,NEW_RAUTA [ROUNDS] [SECONDS] [PORT_OFFSET]

Same layout as compare.py (proxy on CPU 1; wrk, the backend nginx on CPU 0), `wrk -t1 -c32`,
targets interleaved in every round (nginx, then each binary); prints the proxy's CPU per
request (user/system) and the per-round ratio to nginx, median and range.
"""
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as c  # noqa: E402


def main():
    bins = sys.argv[1].split(",")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    dur = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    # Added to every port, as compare.py's --port-offset, to run beside another run.
    off = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    c.PORT_OFFSET = off
    c.BACKEND_PORT += off
    c.PORTS = {k: tuple(p + off for p in v) for k, v in c.PORTS.items()}
    d = tempfile.mkdtemp(prefix="rauta-ab-")
    for t in ("tmp-b", "tmp-n"):
        for s in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(d, t, s), exist_ok=True)
    crt, key = c.make_cert(d)
    c.write(f"{d}/backend.conf", c.backend_conf(d))
    procs = [c.Proc("backend", ["nginx", "-c", f"{d}/backend.conf", "-p", d], c.LOAD_CPU, logdir=d)]
    c.write(f"{d}/nginx.conf", c.nginx_conf(d, crt, key))
    procs.append(c.Proc("nginx", ["nginx", "-c", f"{d}/nginx.conf", "-p", d], c.PROXY_CPU, logdir=d))
    targets = {"nginx": (procs[-1], c.PORTS["nginx"][0])}
    try:
        for i, b in enumerate(bins):
            c.RAUTA = b
            r = c.Rauta(f"r{i}", d, off + 19100 + i, off + 19200 + i, off + 19300 + i, crt, key, c.route("r", "/"), d)
            procs.append(r.proc)
            targets[f"{i}:{os.path.basename(b)}"] = (r.proc, off + 19100 + i)
        time.sleep(1)
        for _, port in targets.values():
            c.wait_http(port, "/small")
        res = {k: [] for k in targets}
        for rnd in range(rounds):
            for name, (p, port) in targets.items():
                url = f"http://127.0.0.1:{port}/small"
                c.run(["wrk", "-t1", "-c32", "-d1s", url])
                r = c.measure(p.pid, ["wrk", "-t1", "-c32", f"-d{dur}s", url], c.parse_wrk, dur)
                res[name].append(r)
                print(rnd, name, r.get("cpu_us_per_req"), r.get("user_us_per_req"), r.get("sys_us_per_req"),
                      r["rps"], r["errors"], r["non2xx"], flush=True)
        print("target  CPU us/req (user/sys)  ratio to nginx: median [range]  req/s")
        for name, rs in res.items():
            ratios = [x["cpu_us_per_req"] / n["cpu_us_per_req"] for x, n in zip(rs, res["nginx"])]
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
