#!/usr/bin/env python3
"""A hostile client and a deployer against groundwork-serve, on the loopback.

Starts the server itself (short timeouts, so the probe takes about a minute), then tries
what a hostile client or a careless deployment does and prints one line per probe:

    OK    name: what was measured
    HANG  name: the server held something it should have let go (a connection, a shutdown)
    LEAK  name: memory that did not come back
    FAIL  name: a wrong answer or status

and exits 1 if any line is not OK. Python standard library only.

    cargo build --release -p serve
    python3 scripts/hostile_probe.py [--server target/release/groundwork-serve] [--int8]
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HEADER_S, BODY_S, GRACE_S = 2.0, 2.0, 3.0
results = []


def report(kind, name, detail):
    results.append(kind)
    print(f"{kind:5} {name}: {detail}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def request(port, method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def health_ms(port):
    t = time.perf_counter()
    status, _ = request(port, "GET", "/health", timeout=30)
    return (time.perf_counter() - t) * 1e3 if status == 200 else float("inf")


def closed_within(sock, seconds):
    """Whether the server closes `sock` within `seconds` (reads until EOF)."""
    sock.settimeout(seconds)
    t = time.monotonic()
    try:
        while sock.recv(4096):
            if time.monotonic() - t > seconds:
                return False
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def start(args, port, **overrides):
    flags = {"port": port, "header-timeout": HEADER_S, "body-timeout": BODY_S,
             "shutdown-grace": GRACE_S, "max-connections": 256}
    flags.update({k.replace("_", "-"): v for k, v in overrides.items()})
    cmd = [args.server]
    for k, v in flags.items():
        cmd += [f"--{k}", str(v)]
    if args.int8:
        cmd.append("--int8")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if request(port, "GET", "/health", timeout=1)[0] == 200:
                return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    sys.exit("the server did not start (is the model fetched? cargo xtask fetch-model all-minilm-l6-v2)")


def probe_slowloris(port):
    socks = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    h = health_ms(port)
    stop = time.monotonic() + HEADER_S + 3
    open_ = list(socks)
    while open_ and time.monotonic() < stop:
        still = []
        for s in open_:
            try:
                s.setblocking(False)
                s.sendall(b"a")
                data = s.recv(1)
                if data == b"":
                    continue
                still.append(s)
            except BlockingIOError:
                still.append(s)
            except OSError:
                continue
        open_ = still
        time.sleep(0.5)
    for s in socks:
        s.close()
    if open_:
        report("HANG", "slowloris", f"{len(open_)} of 100 one-byte-at-a-time connections still open after {HEADER_S + 3:.0f} s")
    else:
        report("OK", "slowloris", f"100 dripping connections cut within {HEADER_S:.0f} s + 3 s; /health meanwhile {h:.1f} ms")


def probe_connection_flood(port):
    socks = []
    for _ in range(400):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    # At the cap new clients wait in the backlog; idle connections are cut at the header
    # timeout, so /health must come within about two of them.
    try:
        h = health_ms(port)
    except OSError as e:
        h = float("inf")
        report("HANG", "connection flood", f"/health failed with {len(socks)} idle connections open: {e}")
    for s in socks:
        s.close()
    if h < 2 * HEADER_S * 1e3 + 1000:
        report("OK", "connection flood", f"{len(socks)} idle connections (cap 256, header timeout {HEADER_S:.0f} s): /health in {h:.0f} ms")
    elif h != float("inf"):
        report("HANG", "connection flood", f"/health took {h:.0f} ms with {len(socks)} idle connections")


def probe_endless_body(port):
    for name, head in [
        ("content-length", b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"input\":"),
        ("chunked", b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"in\r\n"),
    ]:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(head)
        s.settimeout(BODY_S + 3)
        t = time.monotonic()
        try:
            data = s.recv(4096)
        except socket.timeout:
            data = b""
        s.close()
        if data.startswith(b"HTTP/1.1 408"):
            report("OK", f"endless body ({name})", f"408 after {time.monotonic() - t:.1f} s")
        else:
            report("HANG", f"endless body ({name})", f"no 408 within {BODY_S + 3:.0f} s: {data[:60]!r}")


def probe_big_flood(port, pid):
    # Idle after one full batch (32 texts of 256 tokens): the encoder keeps its workspace
    # for the largest batch it has run, live memory any busy server holds.
    request(port, "POST", "/v1/embeddings", json.dumps({"input": ["word " * 300] * 32}).encode())
    time.sleep(2)
    idle = rss_mib(pid)
    big = json.dumps({"input": "word " * 200_000}).encode()  # ~1 MiB
    errors, peak = [], [idle]

    def client():
        for _ in range(6):
            try:
                request(port, "POST", "/v1/embeddings", big, timeout=60)
            except OSError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=client) for _ in range(32)]
    lat = []
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak.append(rss_mib(pid))
        lat.append(health_ms(port))
        time.sleep(0.2)
    time.sleep(5)
    after = rss_mib(pid)
    detail = (f"192 requests of 1 MiB from 32 clients: RSS idle (after a full batch) {idle:.0f} MiB, peak {max(peak):.0f}, "
              f"5 s after {after:.0f}; /health p50 {statistics.median(lat):.1f} ms during")
    if errors:
        report("FAIL", "1 MiB flood", f"{len(errors)} client errors ({errors[0]}); {detail}")
    elif after > 2 * idle:
        report("LEAK", "1 MiB flood", detail)
    else:
        report("OK", "1 MiB flood", detail)


def probe_fairness(port):
    big = json.dumps({"input": ["x" * 4000] * 256}).encode()
    stop = threading.Event()

    def hog():
        while not stop.is_set():
            try:
                request(port, "POST", "/v1/embeddings", big, timeout=120)
            except OSError:
                pass

    hogs = [threading.Thread(target=hog) for _ in range(4)]
    for h in hogs:
        h.start()
    time.sleep(2)
    lat = []
    for _ in range(10):
        t = time.perf_counter()
        status, _ = request(port, "POST", "/v1/embeddings", json.dumps({"input": "one sentence"}).encode(), timeout=120)
        lat.append((time.perf_counter() - t) * 1e3 if status == 200 else float("inf"))
    stop.set()
    for h in hogs:
        h.join()
    worst = max(lat)
    detail = f"one-sentence requests behind 4 clients looping 256 x 4,000 B: p50 {statistics.median(lat):.0f} ms, max {worst:.0f} ms"
    report("OK" if worst < 5000 else "HANG", "fairness", detail)


def probe_auth_and_types(args):
    port = free_port()
    p = start(args, port, api_key="probe-key")
    try:
        body = json.dumps({"input": "a"}).encode()
        s1, _ = request(port, "POST", "/v1/embeddings", body)
        s2, _ = request(port, "POST", "/v1/embeddings", body, {"Authorization": "Bearer probe-key"})
        s3, _ = request(port, "POST", "/v1/embeddings", body, {"Authorization": "Bearer probe-key", "Content-Type": "text/plain"})
        s4, _ = request(port, "GET", "/v1/models", None, {"Authorization": "Bearer probe-key"})
        ok = (s1, s2, s3, s4) == (401, 200, 415, 200)
        report("OK" if ok else "FAIL", "api key and content type",
               f"no key {s1}, key {s2}, text/plain {s3}, /v1/models {s4} (want 401, 200, 415, 200)")
    finally:
        p.terminate()
        p.wait(timeout=30)


def probe_sigterm_half_sent(args):
    port = free_port()
    p = start(args, port, header_timeout=120, body_timeout=120)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
    time.sleep(0.3)
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        code = p.wait(timeout=GRACE_S + 10)
        took = time.monotonic() - t
        if code == 3:
            report("OK", "SIGTERM with a half-sent request", f"exited {code} (connections cut) after {took:.1f} s, grace {GRACE_S:.0f} s")
        else:
            report("FAIL", "SIGTERM with a half-sent request", f"exit status {code}, expected 3")
    except subprocess.TimeoutExpired:
        p.kill()
        report("HANG", "SIGTERM with a half-sent request", f"still running {GRACE_S + 10:.0f} s after SIGTERM")
    s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="target/release/groundwork-serve")
    ap.add_argument("--int8", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.server):
        sys.exit(f"{args.server} not found: cargo build --release -p serve")
    port = free_port()
    p = start(args, port)
    try:
        probe_slowloris(port)
        probe_connection_flood(port)
        probe_endless_body(port)
        probe_big_flood(port, p.pid)
        probe_fairness(port)
    finally:
        p.terminate()
        try:
            code = p.wait(timeout=GRACE_S + 10)
            report("OK" if code == 0 else "FAIL", "SIGTERM when idle", f"exit status {code}")
        except subprocess.TimeoutExpired:
            p.kill()
            report("HANG", "SIGTERM when idle", "did not exit")
    probe_auth_and_types(args)
    probe_sigterm_half_sent(args)
    bad = [r for r in results if r != "OK"]
    print(f"{len(results) - len(bad)} of {len(results)} probes OK")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
