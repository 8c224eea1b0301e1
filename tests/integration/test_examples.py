"""[F7] The examples run as a user runs them: examples/kmeans_mnist_lowlevel.py
is SageMaker's low-level k-means notebook in boto3 (convert, upload, train,
deploy, predict, clean up) and must cluster Fashion-MNIST far above chance."""
import json
import os
import subprocess

from conftest import ACCOUNT, AKID, KILN, ROOT, SECRET, client

EXAMPLE = os.path.join(ROOT, "examples", "kmeans_mnist_lowlevel.py")


def test_lowlevel_kmeans_example(server, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
               KILN_BIN=KILN)
    r = subprocess.run(["/usr/bin/python3", EXAMPLE, "--endpoint-url", server.url,
                        "--rows", "10000", "--out", str(tmp_path), "--account", ACCOUNT],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    result = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    assert result["purity"] > 0.3, r.stdout
    assert 0 < result["train_msd"] < 100
    for name in ("centroids.png", "clusters.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # A model server lives as long as its endpoint: none died and was restarted.
    assert "event=instance_restart" not in server.stderr()
    # The example cleans up after itself: no endpoint, model or bucket is left.
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    assert not [e for e in sm.list_endpoints()["Endpoints"]
                if e["EndpointName"].startswith("kmeans-demo-")]
    assert not [m for m in sm.list_models()["Models"]
                if m["ModelName"].startswith("kmeans-demo-")]
    assert "kiln-demo" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
