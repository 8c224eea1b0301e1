"""make bench-invoke: InvokeEndpoint throughput and latency with wrk, against
SageMaker's own inference-container design as the anchor (gunicorn with 2
sync workers + Flask + scikit-learn KMeans.predict), measured the same way
in the same run: one CSV row of 784 floats and 100-row requests, keep-alive,
16 connections and 1 connection, 20 s each (BENCH_SECONDS).

kiln's requests carry real SigV4: before each wrk run the exact request
wrk sends (body included) is signed, and the server verifies that signature
on every call; each run is far shorter than the 15-minute window. wrk
shares the 2 cores with the servers.

One more row, for reference and not a peer: a single `kiln algo kmeans
serve` driven by wrk directly on a loopback port (no front door, no SigV4,
one HTTP exchange instead of two). Every InvokeEndpoint passes through
such a model server, so its rate bounds what the whole path can reach on
this machine."""
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import boto3  # noqa: E402
import botocore.auth  # noqa: E402
import numpy as np  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from conftest import ACCOUNT, AKID, KILN, SECRET, Server, kiln, model_tgz  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
LUA = r"""
wrk.method = "POST"
wrk.body = io.open(os.getenv("BODY"), "rb"):read("*a")
wrk.headers["Content-Type"] = "text/csv"
wrk.path = os.getenv("WRK_PATH")
for name, value in string.gmatch(os.getenv("WRK_HEADERS") or "", "([^\t]+)\t([^\n]+)\n") do
  wrk.headers[name] = value
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6), summary.errors.status +
    summary.errors.connect + summary.errors.read + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""

FLASK_APP = """
import numpy as np
from flask import Flask, request
from sklearn.cluster import KMeans
C = np.load({centers!r})
model = KMeans(n_clusters=C.shape[0], n_init=1).fit(C)
model.cluster_centers_ = C.astype(np.float64)
app = Flask(__name__)

@app.route("/ping")
def ping():
    return ""

@app.route("/invocations", methods=["POST"])
def invocations():
    X = np.loadtxt(request.data.decode().splitlines(), delimiter=",", ndmin=2)
    c = model.predict(X)
    d = np.sqrt(((X - model.cluster_centers_[c]) ** 2).sum(1))
    return {{"predictions": [{{"closest_cluster": float(a), "distance_to_cluster": float(b)}}
                             for a, b in zip(c, d)]}}
"""


def wrk(url, path, body, conns, lua, headers=None):
    env = dict(os.environ, BODY=body, WRK_PATH=path,
               WRK_HEADERS="".join(f"{k}\t{v}\n" for k, v in (headers or {}).items()))
    run = subprocess.run(["wrk", "-t", "2" if conns > 1 else "1", "-c", str(conns),
                          "-d", f"{SECONDS}s", "-s", lua, url], capture_output=True,
                         text=True, env=env)
    found = [l for l in run.stdout.splitlines() if l.startswith("RESULT")]
    if not found:
        raise RuntimeError(f"wrk failed: {run.stdout}\n{run.stderr}")
    line = found[0].split()
    return float(line[1]), int(line[2]), int(line[3]) / 1000, int(line[4]) / 1000, \
        int(line[5]) / 1000


def wait_ping(url, seconds=10):
    end = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.time() > end:
                raise
        time.sleep(0.05)


def signed_headers(server, body):
    url = f"{server.url}/endpoints/bench/invocations"
    req = AWSRequest(method="POST", url=url, data=body,
                     headers={"Content-Type": "text/csv"})
    botocore.auth.SigV4Auth(Credentials(AKID, SECRET), "sagemaker",
                            "us-east-1").add_auth(req)
    return {k: v for k, v in req.headers.items() if k != "Content-Type"}


def main():
    work = tempfile.mkdtemp(prefix="kiln-invoke-bench-")
    rng = np.random.RandomState(0)
    C = rng.rand(10, 784).astype(np.float32)
    np.save(os.path.join(work, "centers.npy"), C)
    rows = rng.rand(100, 784).astype(np.float32)
    bodies = {}
    for n in (1, 100):
        p = os.path.join(work, f"body{n}.csv")
        with open(p, "w") as f:
            f.write("\n".join(",".join(f"{x:.6f}" for x in r) for r in rows[:n]))
        bodies[n] = p
    lua = os.path.join(work, "post.lua")
    open(lua, "w").write(LUA)

    data = os.path.join(work, "var")
    kiln("admin", "keys", "add", "--data-dir", data, "--access-key-id", AKID,
         "--secret-access-key", SECRET, "--account", ACCOUNT)
    server = Server(data, ["--log-level", "warn"])
    results = []
    try:
        mk = dict(endpoint_url=server.url, region_name="us-east-1",
                  aws_access_key_id=AKID, aws_secret_access_key=SECRET)
        s3, sm = boto3.client("s3", **mk), boto3.client("sagemaker", **mk)
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="model.tar.gz", Body=model_tgz(C))
        sm.create_model(ModelName="bench", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                        PrimaryContainer={"Image": "kmeans",
                                          "ModelDataUrl": "s3://bench/model.tar.gz"})
        sm.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "bench", "InitialInstanceCount": 2,
            "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="bench",
                                                  WaiterConfig={"Delay": 1})
        for n in (1, 100):
            for conns in (16, 1):
                h = signed_headers(server, open(bodies[n], "rb").read())
                results.append(("kiln InvokeEndpoint (SigV4)", n, conns,
                                *wrk(server.url, "/endpoints/bench/invocations",
                                     bodies[n], conns, lua, h)))
    finally:
        server.stop()
    model = os.path.join(work, "model")
    with tarfile.open(fileobj=io.BytesIO(model_tgz(C))) as t:
        t.extractall(model)
    env = dict(os.environ, SM_MODEL_DIR=model, SAGEMAKER_BIND_TO_PORT="18081",
               KILN_THREADS="2", KILN_LOG_LEVEL="warn", OPENBLAS_NUM_THREADS="1")
    ms = subprocess.Popen([KILN, "algo", "kmeans", "serve"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping("http://127.0.0.1:18081/ping")
        for n in (1, 100):
            results.append(("model server alone (no auth)", n, 16,
                            *wrk("http://127.0.0.1:18081", "/invocations", bodies[n], 16,
                                 lua)))
    finally:
        ms.terminate()
        ms.wait()
    app = os.path.join(work, "app.py")
    open(app, "w").write(textwrap.dedent(FLASK_APP.format(
        centers=os.path.join(work, "centers.npy"))))
    g = subprocess.Popen(["gunicorn", "-w", "2", "-b", "127.0.0.1:18080", "--chdir", work,
                          "app:app"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        for n in (1, 100):
            for conns in (16, 1):
                results.append(("gunicorn+Flask+sklearn", n, conns,
                                *wrk("http://127.0.0.1:18080", "/invocations", bodies[n],
                                     conns, lua)))
    finally:
        g.terminate()
        g.wait()
    shutil.rmtree(work, ignore_errors=True)
    print(f"{'':30} {'rows':>4} {'conns':>5} {'req/s':>10} {'errors':>6} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'kiln/anchor':>11}")
    anchor = {(n, c): rps for name, n, c, rps, *_ in results if name.startswith("gunicorn")}
    for name, n, c, rps, errs, p50, p99, p999 in results:
        ratio = f"{rps / anchor[(n, c)]:11.1f}" if not name.startswith("gunicorn") else ""
        print(f"{name:30} {n:4d} {c:5d} {rps:10.0f} {errs:6d} {p50:7.3f} {p99:7.3f} "
              f"{p999:8.3f} {ratio}")


if __name__ == "__main__":
    main()
