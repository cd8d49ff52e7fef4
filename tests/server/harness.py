"""Starts a real stockd process on free loopback ports in a temporary data directory, and talks to it
over real sockets (HTTP with http.client, RESP with a raw socket client and with redis-py)."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

STOCKD = os.environ.get("STOCKD_BIN", "stockd")
# STOCKD_TEST_STORE=redis-cluster://host:port runs the same tests against stockd's cluster store (a
# test cluster that nothing else uses: every Stockd() empties it first, see flush_cluster()).
STORE = os.environ.get("STOCKD_TEST_STORE", "")
CLUSTER = STORE.startswith("redis-cluster://")
# With STOCKD_TEST_PG (a PostgreSQL URL) each cluster-mode stockd that empties the cluster runs with a
# ledger (--ledger) in a database of its own, created here and dropped by cleanup(): the events feed
# and the SKU listing come from it (docs/cluster.md "Events feed").
PG = os.environ.get("STOCKD_TEST_PG", "") if CLUSTER else ""


def flush_cluster():
    """Empties every master of the test cluster (FLUSHALL keeps the function library)."""
    seed = STORE[len("redis-cluster://"):].split(",")[0]
    host, port = seed.rsplit(":", 1)
    nodes = subprocess.run(["redis-cli", "-h", host, "-p", port, "CLUSTER", "NODES"], check=True,
                           capture_output=True, text=True).stdout
    for line in nodes.splitlines():
        f = line.split()
        if len(f) > 2 and "master" in f[2] and "fail" not in f[2]:
            h, p = f[1].split("@")[0].rsplit(":", 1)
            subprocess.run(["redis-cli", "-h", h, "-p", p, "FLUSHALL"], check=True, capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stockd:
    # flush=False for a second stockd beside a test class's own: emptying the cluster under that one
    # would leave its ledger (a database of its own) with SKUs the cluster no longer has.
    def __init__(self, extra_args=(), config=None, data_dir=None, flush=True):
        if CLUSTER and flush and data_dir is None:
            flush_cluster()
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="stockd-e2e-")
        # STOCKD_TEST_ARGS: more flags for every stockd (e.g. a short --redis-wait-timeout-ms, to see how
        # the tests fare when the cluster store answers 503 often).
        self.extra_args = list(extra_args) + os.environ.get("STOCKD_TEST_ARGS", "").split()
        self.config = config
        self.proc = None
        self.http_port = free_port()
        self.resp_port = free_port()
        self.log_path = os.path.join(tempfile.gettempdir(), f"stockd-e2e-{self.http_port}.log")
        self.ledger_db = None
        # Only a stockd that emptied the cluster gets a ledger: a second one beside it (flush=False)
        # would share the ledger's consumer group and take entries away into its own database.
        if PG and flush and data_dir is None and not any(a == "--ledger" for a in self.extra_args):
            self.ledger_db = f"stockd_e2e_{self.http_port}"
            subprocess.run(["psql", PG, "-c", f"CREATE DATABASE {self.ledger_db}"], check=True, capture_output=True)
            self.extra_args += ["--ledger", PG.rsplit("/", 1)[0] + "/" + self.ledger_db]

    def debug_state(self, sku, channel):
        """Cluster mode, for a failing test's message: the SKU's hash fields of `channel` in Redis and its
        publication rows in the ledger's PostgreSQL (best effort; [] on the embedded store)."""
        if not CLUSTER:
            return []
        out = []
        seed = STORE[len("redis-cluster://"):].split(",")[0]
        host, port = seed.rsplit(":", 1)
        try:
            nodes = subprocess.run(["redis-cli", "-h", host, "-p", port, "CLUSTER", "NODES"], capture_output=True,
                                   text=True, timeout=10).stdout
            for line in nodes.splitlines():
                f = line.split()
                if len(f) > 2 and "master" in f[2]:
                    h, p = f[1].split("@")[0].rsplit(":", 1)
                    keys = subprocess.run(["redis-cli", "-h", h, "-p", p, "--scan", "--pattern", f"*:s:{sku}"],
                                          capture_output=True, text=True, timeout=10).stdout.split()
                    for k in keys:
                        fields = subprocess.run(["redis-cli", "-h", h, "-p", p, "HGETALL", k], capture_output=True,
                                                text=True, timeout=10).stdout.split("\n")
                        pairs = dict(zip(fields[0::2], fields[1::2]))
                        out.append(f"redis {k}: " + str({k2: v for k2, v in pairs.items()
                                                         if k2.endswith(":" + channel) or k2 in ("ver", "oh", "hd", "ex")}))
            if self.ledger_db:
                db = PG.rsplit("/", 1)[0] + "/" + self.ledger_db
                for q in (f"SELECT * FROM publications WHERE sku = '{sku}' AND channel = '{channel}'",
                          f"SELECT * FROM publication_channels WHERE channel = '{channel}'"):
                    out.append("pg: " + subprocess.run(["psql", db, "-Atc", q], capture_output=True, text=True,
                                                       timeout=10).stdout.strip())
        except Exception as e:  # noqa: BLE001 (a failing test's message must not be lost to this)
            out.append(f"debug_state failed: {e!r}")
        return out

    def start(self, wait=True):
        args = [STOCKD, "--data-dir", self.data_dir, "--http", f"127.0.0.1:{self.http_port}",
                "--resp", f"127.0.0.1:{self.resp_port}"] + self.extra_args
        if CLUSTER:
            args += ["--store", STORE]
        if self.config is not None:
            path = os.path.join(tempfile.gettempdir(), f"stockd-e2e-{self.http_port}.toml")
            with open(path, "w") as f:
                f.write(self.config)
            args += ["--config", path]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s=20):
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stockd exited with {self.proc.returncode}: {self.tail_log()}")
            try:
                status, _ = self.http("GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("stockd did not become healthy: " + self.tail_log())

    def tail_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout_s=20):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def restart(self, sig=signal.SIGTERM):
        rc = self.stop(sig)
        self.start()
        return rc

    def cleanup(self):
        self.stop(signal.SIGKILL)
        if self.ledger_db:
            subprocess.run(["psql", PG, "-c", f"DROP DATABASE IF EXISTS {self.ledger_db} WITH (FORCE)"],
                           capture_output=True)
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # HTTP ------------------------------------------------------------------------------------------
    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)

    def http(self, method, path, body=None, token=None, raw=None, conn=None, headers=None):
        c = conn or self.conn()
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        if conn is None:
            c.close()
        ctype = r.getheader("Content-Type", "")
        if "json" in ctype:
            return r.status, json.loads(payload)
        return r.status, payload.decode(errors="replace")

    # RESP ------------------------------------------------------------------------------------------
    def resp(self):
        return RespClient("127.0.0.1", self.resp_port)


class RespClient:
    """A minimal RESP2 client: sends arrays of bulk strings, reads one reply per command."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        self.sock.sendall(b"".join(out))

    def call(self, *args):
        self.send(*args)
        return self.read()

    def pipeline(self, *commands):
        """Sends every command in one write (one batch for the server), reads their replies."""
        out = []
        for args in commands:
            out.append(f"*{len(args)}\r\n".encode())
            for a in args:
                b = a if isinstance(a, bytes) else str(a).encode()
                out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        self.sock.sendall(b"".join(out))
        return [self.read() for _ in commands]

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def read(self):
        line = self._line()
        kind, rest = line[0], line[1:]
        if kind == "+":
            return rest
        if kind == "-":
            return RespError(rest)
        if kind == ":":
            return int(rest)
        if kind == "$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if kind == "*":
            return [self.read() for _ in range(int(rest))]
        raise ValueError("bad reply " + line)


class RespError(str):
    pass
