"""Integration fixtures: a real `kiln server` on a free loopback port with a
temporary data directory, driven by Debian's boto3 and aws CLI."""
import contextlib
import datetime
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from unittest import mock

import boto3
import botocore.auth
import botocore.config
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILN = os.environ.get("KILN_BIN", os.path.join(ROOT, "build", "kiln"))
AWS = "/usr/bin/aws"
ACCOUNT = "111122223333"
AKID = "AKIAKILNTESTKEY00001"
SECRET = "kilnTestSecretKey/with+chars0000000000000"
REGION = "us-east-1"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "event=assert")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kiln(*args, check=True):
    return subprocess.run([KILN, *args], capture_output=True, text=True,
                          check=check, timeout=60)


class Server:
    """One kiln server process; stop() checks it exits cleanly."""

    def __init__(self, data_dir, extra_args=(), port=None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(os.path.dirname(data_dir), f"server-{self.port}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [KILN, "server", "--data-dir", data_dir, "--port", str(self.port),
             *extra_args],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.stdout_lines = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.stdout_lines.append(line)
            if line.startswith("kiln: ready on "):
                return
        raise RuntimeError("server did not start: " + self.stderr())

    def stderr(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="kiln-it-") as tmp:
        data = os.path.join(tmp, "var")
        kiln("admin", "keys", "add", "--data-dir", data, "--access-key-id", AKID,
             "--secret-access-key", SECRET, "--account", ACCOUNT)
        s = Server(data)
        yield s
        rc = s.stop()
        err = s.stderr()
        assert rc == 0, err[-3000:]
        for mark in SANITIZER_MARKS:
            assert mark not in err, err[-5000:]


def own_data_dir(tmp_path):
    """A data dir of its own, with the test key, for a server of a test."""
    data_dir = os.path.join(str(tmp_path), "var")
    kiln("admin", "keys", "add", "--data-dir", data_dir, "--access-key-id", AKID,
         "--secret-access-key", SECRET, "--account", ACCOUNT)
    return data_dir


@contextlib.contextmanager
def priced_server(prices, prefix):
    """A server of its own started with --price-list of `prices`; stopped
    cleanly at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        data = own_data_dir(tmp)
        path = os.path.join(tmp, "prices.json")
        with open(path, "w") as f:
            json.dump(prices, f)
        s = Server(data, ["--price-list", path])
        yield s
        assert s.stop() == 0, s.stderr()[-3000:]


def client(server, service, akid=AKID, secret=SECRET, retries=1):
    return boto3.client(
        service, endpoint_url=server.url, region_name=REGION,
        aws_access_key_id=akid, aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": retries}))


def cli_env(akid=AKID, secret=SECRET):
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION=REGION, AWS_PAGER="",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return env


def aws(server, *args, akid=AKID, secret=SECRET, check=True):
    return subprocess.run([AWS, "--endpoint-url", server.url, *args],
                          capture_output=True, text=True, env=cli_env(akid, secret),
                          check=check, timeout=120)


def signed(server, service, body=b"", headers=None, method="POST", path="/",
           when=None, secret=SECRET, akid=AKID):
    """Signs a raw request with botocore's signer (optionally at another
    time) and returns (method, path, headers, body) ready to send."""
    headers = dict(headers or {})
    req = AWSRequest(method=method, url=server.url + path, headers=headers,
                     data=body)
    signer = botocore.auth.SigV4Auth(Credentials(akid, secret), service, REGION)
    if when is None:
        signer.add_auth(req)
    else:
        with mock.patch("botocore.auth.datetime") as m:
            m.datetime.utcnow.return_value = when
            m.datetime.strptime = datetime.datetime.strptime
            signer.add_auth(req)
    return method, path, dict(req.headers.items()), body


def refused(call, code, text, **kw):
    """Calls call(**kw), which must fail with AWS error `code` and a message
    that holds `text`."""
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(**kw)
    assert err.value.response["Error"]["Code"] == code, err.value.response
    assert text in err.value.response["Error"]["Message"]


def send(server, method, path, headers, body=b""):
    """Sends one request; returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def model_tgz(centers):
    """A model.tar.gz holding model_algo-1 for a (k, d) array of centers,
    byte for byte what SageMaker's k-means writes."""
    import io
    import struct
    import tarfile
    k, d = centers.shape
    raw = struct.pack("<QQQIii", 0x112, 0, 1, 0xF993FAC9, 0, 2) + struct.pack("<qq", k, d)
    raw += struct.pack("<iii", 1, 0, 0) + centers.astype("<f4").tobytes() + struct.pack("<Q", 0)
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w:gz") as t:
        ti = tarfile.TarInfo("model_algo-1")
        ti.size = len(raw)
        t.addfile(ti, io.BytesIO(raw))
    return bio.getvalue()


FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def idx(name):
    """An IDX file of Debian's dataset-fashion-mnist as a numpy array."""
    import gzip
    import struct
    import numpy as np
    with gzip.open(os.path.join(FASHION_MNIST, name)) as f:
        data = f.read()
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def run_js(server, script, **env):
    """Runs tests/js/<script> (the AWS SDK for JavaScript v3) against the
    server, with env added to its environment; returns the JSON it
    prints."""
    js = os.path.join(os.path.dirname(__file__), "..", "js")
    env = dict(os.environ, KILN_URL=server.url, AWS_ACCESS_KEY_ID=AKID,
               AWS_SECRET_ACCESS_KEY=SECRET, **env)
    out = subprocess.run(["node", script], cwd=js, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def wait_training_job(sm, name):
    """The botocore waiter; a Failed job ends it with a WaiterError."""
    import botocore.exceptions
    try:
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except botocore.exceptions.WaiterError as e:
        assert "Failed" in str(e)
    return sm.describe_training_job(TrainingJobName=name)


def training_log_lines(server, job):
    """The messages of a one-host job's log stream, oldest first."""
    logs = client(server, "logs")
    [stream] = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                         logStreamNamePrefix=f"{job}/")["logStreams"]
    assert stream["logStreamName"].startswith(f"{job}/algo-1-")
    return [e["message"] for e in logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"],
        startFromHead=True)["events"]]


def waited(sm, waiter, describe, **name):
    """botocore's waiter `waiter` (which a failure ends too), then the
    resource's description: waited(sm, "endpoint_in_service",
    "describe_endpoint", EndpointName="e")."""
    import botocore.exceptions
    try:
        sm.get_waiter(waiter).wait(WaiterConfig={"Delay": 1, "MaxAttempts": 120}, **name)
    except botocore.exceptions.WaiterError:
        pass
    return getattr(sm, describe)(**name)


def sandbox_missing():
    """Why bubblewrap cannot make a sandbox on this machine (script mode
    and images need one), or None: a kernel without the namespaces, a
    container that forbids them. Checked with bwrap alone, not kiln."""
    try:
        r = subprocess.run(["/usr/bin/bwrap", "--ro-bind", "/usr", "/usr",
                            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64",
                            "/lib64", "--symlink", "usr/bin", "/bin", "--proc", "/proc",
                            "--dev", "/dev", "--unshare-all", "--", "/bin/true"],
                           capture_output=True, text=True, timeout=30)
    except OSError as e:
        return f"bubblewrap is not installed: {e}"
    return None if r.returncode == 0 else f"bubblewrap cannot sandbox here: {r.stderr}"
