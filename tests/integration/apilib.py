"""apilib: helpers for test_api_* and test_cli_*: a stack of agentd + shim + bridge with known
statsd data in it, and checks of the DC/OS JSON shapes."""
import json
import re
import socket
import time

import mbharness as mb

PREFIXES = ["/system/v1/metrics/v0", "/v0", "/system/v1/agent/self/metrics/v0",
            "/system/v1/agent/node-7/metrics/v0"]
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CID = "web-1"

# One datagram per flush: the latest interval holds exactly this.
LINES = [
    "req:1|c", "req:2|c", "req:3|c",
    "temp:21.5|g",
    "users:alice|s", "users:bob|s", "users:alice|s",
    "lat:10|ms", "lat:20|ms", "lat:30|ms", "lat:40|ms",
    "tagged:1|c|#region:eu", "tagged:5|c|#region:us,Le:x",
]


def send(port, lines):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto("\n".join(lines).encode(), ("127.0.0.1", port))
    finally:
        s.close()


def shim_port(stack, p):
    def port():
        if p.poll() is not None:
            raise AssertionError(f"shim exited {p.returncode}:\n{stack.log_of(p)}")
        m = re.search(r"statsd on 127\.0\.0\.1:(\d+)", stack.log_of(p))
        return int(m.group(1)) if m else None
    return mb.poll(port, what="shim listening")


def start(stack, api_args=(), agentd_args=(), data=True, headers=None):
    """agentd (node-7, cluster k1), a bridge, and a shim for CID with LINES sent once.
    Returns (agentd, api, shim, port)."""
    a = stack.agentd("--node-id", "node-7", "--cluster-id", "k1", "--node-interval", "1s",
                     *agentd_args)
    api = stack.api(*api_args)
    shim = port = None
    if data:
        shim = stack.shim("--container-id", CID, "--flush-interval", "1s",
                          "--dimension", "task_name=web")
        port = shim_port(stack, shim)
        send(port, LINES)
        wait_app(stack, "tagged", headers=headers)
    return a, api, shim, port


def app_points(stack, name=None, headers=None):
    path = f"/v0/containers/{CID}/app" + (f"/{name}" if name else "")
    st, body = stack.http_json(path, headers=headers)
    return st, body


def wait_app(stack, name, pred=None, headers=None):
    """Polls /app until a datapoint called name is there (and pred(points) holds)."""
    def ready():
        st, body = app_points(stack, headers=headers)
        if st != 200:
            return None
        pts = [p for p in body["datapoints"] if p["name"] == name]
        if pts and (pred is None or pred(body["datapoints"])):
            return body
        return None
    return mb.poll(ready, timeout=20, what=f"{name} in /app")


def by_name(points, name, tags=None):
    return [p for p in points if p["name"] == name and (tags is None or p.get("tags", {}) == tags)]


def check_datapoints_shape(tc, body):
    tc.assertIsInstance(body, dict)
    tc.assertEqual(set(body.keys()), {"datapoints", "dimensions"})
    dims = body["dimensions"]
    tc.assertIn("mesos_id", dims)
    tc.assertIn("hostname", dims)
    for p in body["datapoints"]:
        tc.assertTrue(set(p.keys()) <= {"name", "value", "unit", "timestamp", "tags"}, p)
        for k in ("name", "value", "unit", "timestamp"):
            tc.assertIn(k, p)
        tc.assertIsInstance(p["value"], (int, float))
        tc.assertIsInstance(p["unit"], str)
        tc.assertRegex(p["timestamp"], RFC3339)
        if "tags" in p:
            tc.assertTrue(p["tags"], "tags present but empty: %r" % p)


def strict_json(raw):
    """json.loads refusing NaN/Infinity (which Python accepts by default)."""
    def bad(c):
        raise ValueError("non-finite number in JSON: " + c)
    return json.loads(raw, parse_constant=bad)


def wait_http(stack, path, status, timeout=20, **kw):
    def ok():
        st, _, body = stack.http(path, **kw)
        return (st, body) if st == status else None
    return mb.poll(ok, timeout=timeout, what=f"{path} -> {status}")


def now():
    return time.time()
