#!/usr/bin/env python3
"""User-space instructions per proxied request of Rauta binaries, counted by valgrind (callgrind).

    bench/instructions.py RAUTA_A[,RAUTA_B...] [SECONDS] [PORT_OFFSET] [SCENARIO]

CPU time on a shared machine moves by ±5% between rounds, which hides the 1-4% a change to the
request path is worth; an instruction count does not move. Each binary serves h1-small (the
backend nginx of compare.py, one route) under callgrind: `wrk -t1 -c8` warms it up, the counters
are zeroed (`callgrind_control -z`), `wrk` runs SECONDS (default 8), the counters are dumped and
divided by the requests `wrk` completed. What it counts is the proxy process's user-space
instructions (the kernel's work is not seen), at valgrind's speed (~50× slower), so it ranks
changes to Rauta's own code; CPU time against a peer stays compare.py's job. Needs `valgrind`
(Debian package) besides what compare.py needs. SCENARIO is h1-small (the default), h2c or
h2-tls (`h2load -t1 -c16 -m10`, as compare.py, for the warm-up and the measured window alike;
h2-tls through the HTTPS listener, so TLS records are counted too).
With CALLGRIND_KEEP=DIR set, the callgrind dumps are copied there for callgrind_annotate;
CALLGRIND_ARGS adds valgrind options (e.g. `--dump-instr=yes`: costs per call site, by address).
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as c  # noqa: E402


def dumped_instructions(prefix):
    """Total Ir of the dump `callgrind_control -d` wrote (not the one written at exit)."""
    for path in sorted(glob.glob(prefix + ".*")):
        with open(path) as f:
            text = f.read()
        if "Trigger: dump" in text[:4000]:
            m = re.search(r"^summary: (\d+)", text, re.M)
            if m:
                return int(m.group(1))
    return None


def wrk(url, seconds):
    return ["wrk", "-t1", "-c8", f"-d{seconds}s", url]


def h2load(url, seconds):
    return ["h2load", "-t1", "-c16", "-m10", "-D", str(seconds), url]


# scenario: (load command, its parser, whether it goes through the HTTPS listener)
SCENARIOS = {
    "h1-small": (wrk, c.parse_wrk, False),
    "h2c": (h2load, c.parse_h2load, False),
    "h2-tls": (h2load, c.parse_h2load, True),
}


def main():
    bins = sys.argv[1].split(",")
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    off = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    scenario = sys.argv[4] if len(sys.argv) > 4 else "h1-small"
    if scenario not in SCENARIOS:
        raise SystemExit(f"unknown scenario {scenario}: one of {', '.join(SCENARIOS)}")
    load, parse, tls = SCENARIOS[scenario]
    c.PORT_OFFSET = off
    c.BACKEND_PORT += off
    d, crt, key, backend = c.start_backend("rauta-instructions-")
    c.wait_http(c.BACKEND_PORT, "/small")
    try:
        for i, binary in enumerate(bins):
            config = os.path.join(d, f"r{i}")
            os.makedirs(config)
            port, tls_port, admin_port = off + 19100 + i, off + 19200 + i, off + 19300 + i
            c.ensure_free(port, tls_port, admin_port)
            c.write(os.path.join(config, "00-gateway.yaml"), c.rauta_gateway(port, tls_port, crt, key))
            c.write(os.path.join(config, "10-routes.yaml"), c.route("all", "/"))
            out = os.path.join(d, f"callgrind-{i}")
            proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
                 *os.environ.get("CALLGRIND_ARGS", "").split(), binary, "run", "-f", config,
                 "--workers", "1", "--access-log", "off", "--admin-address", f"127.0.0.1:{admin_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                if not c.wait_http(port, "/small", timeout=120):
                    raise SystemExit(f"{binary} did not start under valgrind")
                url = f"https://127.0.0.1:{tls_port}/small" if tls else f"http://127.0.0.1:{port}/small"
                subprocess.run(load(url, 3), capture_output=True, check=True)
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
                text = subprocess.run(load(url, seconds), capture_output=True, text=True, check=True).stdout
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
                time.sleep(1)
            finally:
                proc.terminate()
                proc.wait()
            requests = parse(text)["requests"]
            total = dumped_instructions(out)
            keep = os.environ.get("CALLGRIND_KEEP")
            if keep:
                # The dumps, for callgrind_annotate (e.g. --inclusive=yes): copied before the
                # work dir goes.
                os.makedirs(keep, exist_ok=True)
                for path in glob.glob(out + ".*"):
                    shutil.copy(path, os.path.join(keep, f"{i}-{os.path.basename(path)}"))
            per_request = round(total / requests) if total and requests else None
            print(f"{binary}: {requests} requests, {total} instructions, {per_request} per request", flush=True)
    finally:
        backend.stop()


if __name__ == "__main__":
    main()
