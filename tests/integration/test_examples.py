"""[F7] The examples run as a user runs them: examples/kmeans_mnist_lowlevel.py
is SageMaker's low-level k-means notebook in boto3 (convert, upload, train,
deploy, predict, clean up) and must cluster Fashion-MNIST far above chance."""
import json
import os
import subprocess

import botocore.exceptions
import numpy as np
import pytest

from conftest import (ACCOUNT, AKID, KILN, ROOT, SECRET, client, free_port, idx,
                      sandbox_missing)

EXAMPLE = os.path.join(ROOT, "examples", "kmeans_mnist_lowlevel.py")


def test_lowlevel_kmeans_example(server, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
               KILN_BIN=KILN)
    r = subprocess.run(["/usr/bin/python3", EXAMPLE, "--endpoint-url", server.url,
                        "--rows", "10000", "--out", str(tmp_path), "--account", ACCOUNT],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    result = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    theirs = sklearn_purity(10000)
    print(f"cluster purity: kiln {result['purity']:.2f}, scikit-learn {theirs:.2f}")
    assert result["purity"] > 0.4 and result["purity"] > theirs - 0.15, r.stdout
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


def purity(clusters, labels):
    return sum(np.bincount(labels[clusters == c]).max()
               for c in set(clusters.tolist())) / len(labels)


def sklearn_purity(rows):
    """scikit-learn's KMeans on the same training rows, scored the same way."""
    from sklearn.cluster import KMeans
    X = idx("train-images-idx3-ubyte.gz").reshape(-1, 784)[:rows].astype(np.float32) / 255
    T = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784)[:100].astype(np.float32) / 255
    km = KMeans(n_clusters=10, n_init=1, random_state=0).fit(X)
    return purity(km.predict(T), idx("t10k-labels-idx1-ubyte.gz")[:100].astype(np.int64))


def test_awscli_example(server, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
               KILN_BIN=KILN, KILN_URL=server.url, ROWS="10000", OUT=str(tmp_path))
    r = subprocess.run(["sh", os.path.join(ROOT, "examples", "kmeans_mnist_awscli.sh")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    job = [w for w in r.stdout.split() if w.startswith("kmeans-cli-")][0]
    with open(tmp_path / "predictions.json") as f:
        pred = json.load(f)["predictions"]
    assert len(pred) == 100
    clusters = np.array([int(p["closest_cluster"]) for p in pred])
    ours = purity(clusters, idx("t10k-labels-idx1-ubyte.gz")[:100].astype(np.int64))
    theirs = sklearn_purity(10000)
    print(f"cluster purity over 100 test images: kiln {ours:.2f}, scikit-learn {theirs:.2f}")
    assert ours > 0.4 and ours > theirs - 0.15
    # The batch transform answers every test image, the first 100 as the
    # endpoint did.
    with open(tmp_path / "batch.jsonl") as f:
        batch = [json.loads(l) for l in f]
    assert len(batch) == 10000
    assert [int(b["closest_cluster"]) for b in batch[:100]] == clusters.tolist()
    # Cost Explorer's report shows the three kinds of use.
    for usage in ("USE1-Train:ml.c5.xlarge", "USE1-Host:ml.m5.large", "USE1-Tsform:ml.m5.large"):
        assert usage in r.stdout
    # A clean teardown: every describe is a ValidationException now.
    sm = client(server, "sagemaker")
    sm.get_waiter("endpoint_deleted").wait(EndpointName=job, WaiterConfig={"Delay": 1})
    for call, kw in ((sm.describe_endpoint, {"EndpointName": job}),
                     (sm.describe_endpoint_config, {"EndpointConfigName": job}),
                     (sm.describe_model, {"ModelName": job})):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(**kw)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "kiln-cli-demo" not in [b["Name"] for b in
                                   client(server, "s3").list_buckets()["Buckets"]]


def test_examples_against_a_make_run_server(tmp_path):
    """`make run` starts `kiln server` with its defaults: a data dir relative
    to where it runs and credentials in var/credentials. Jobs run in
    directories of their own, so relative paths must not reach them."""
    port = free_port()
    proc = subprocess.Popen([KILN, "server", "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("kiln: ready on "):
                break
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(KILN_BIN=KILN, KILN_URL=f"http://127.0.0.1:{port}",
                   KILN_DATA_DIR=str(tmp_path / "var"), ROWS="2000", OUT=str(tmp_path))
        r = subprocess.run(["sh", os.path.join(ROOT, "examples", "kmeans_mnist_awscli.sh")],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        with open(tmp_path / "predictions.json") as f:
            assert len(json.load(f)["predictions"]) == 100
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_notebook(server, tmp_path):
    """examples/kmeans_mnist.ipynb runs top to bottom in a Jupyter kernel
    (nbclient, as `jupyter nbconvert --execute` does) and draws its pictures."""
    import nbclient
    import nbformat
    nb = nbformat.read(os.path.join(ROOT, "examples", "kmeans_mnist.ipynb"), as_version=4)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
               KILN_URL=server.url, ROWS="10000", MPLBACKEND="module://matplotlib_inline."
               "backend_inline")
    old = dict(os.environ)
    os.environ.update(env)  # the kernel inherits the environment
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    text = "".join(o.get("text", "") for o in outputs)
    result = json.loads([ln for ln in text.splitlines() if ln.startswith("{")][-1])
    assert result["purity"] > 0.4, text


def test_trained_model_answers_alike_in_every_format(server, tmp_path):
    """The seed's model (k-means on 10,000 Fashion-MNIST images, trained by
    kiln) gives the same clusters to the same 50 test images sent as CSV,
    JSON, JSON Lines and RecordIO-protobuf; teardown leaves nothing."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "lowlevel", os.path.join(ROOT, "examples", "kmeans_mnist_lowlevel.py"))
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    rt = client(server, "sagemaker-runtime")
    X = idx("train-images-idx3-ubyte.gz").reshape(-1, 784)[:10000].astype(np.float32) / 255
    y = idx("train-labels-idx1-ubyte.gz")[:10000]
    T = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784)[:50].astype(np.float32) / 255
    s3.create_bucket(Bucket="formats-e2e")
    s3.put_object(Bucket="formats-e2e", Key="train/data.pbr", Body=ex.to_recordio(X, y))
    role, name = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole", "formats-e2e"
    sm.create_training_job(
        TrainingJobName=name, RoleArn=role,
        AlgorithmSpecification={"TrainingImage": ex.IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"k": "10", "feature_dim": "784"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://formats-e2e/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://formats-e2e/out"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.c5.xlarge",
                        "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    model = sm.describe_training_job(TrainingJobName=name)["ModelArtifacts"]["S3ModelArtifacts"]
    sm.create_model(ModelName=name, ExecutionRoleArn=role,
                    PrimaryContainer={"Image": ex.IMAGE, "ModelDataUrl": model})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    def ask(content_type, body):
        r = rt.invoke_endpoint(EndpointName=name, ContentType=content_type, Body=body,
                               Accept="application/json")
        return [int(p["closest_cluster"]) for p in json.loads(r["Body"].read())["predictions"]]

    csv = "\n".join(",".join(f"{v:.9g}" for v in row) for row in T)
    by_csv = ask("text/csv", csv)
    assert len(by_csv) == 50 and len(set(by_csv)) > 3
    assert ask("application/json", json.dumps(
        {"instances": [{"features": row.tolist()} for row in T]})) == by_csv
    assert ask("application/jsonlines", "\n".join(
        json.dumps({"features": row.tolist()}) for row in T)) == by_csv
    assert ask("application/x-recordio-protobuf", ex.to_recordio(T, np.zeros(50))) == by_csv

    sm.delete_endpoint(EndpointName=name)
    sm.delete_endpoint_config(EndpointConfigName=name)
    sm.delete_model(ModelName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1})
    for call, kw in ((sm.describe_endpoint, {"EndpointName": name}),
                     (sm.describe_endpoint_config, {"EndpointConfigName": name}),
                     (sm.describe_model, {"ModelName": name})):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(**kw)
        assert e.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.skipif(sandbox_missing() is not None, reason=str(sandbox_missing()))
def test_sklearn_script_mode_example(server):
    """examples/sklearn_digits_script_mode.py: the user's own scikit-learn
    script trained and served through script mode, as a user runs it."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET)
    r = subprocess.run(["/usr/bin/python3",
                        os.path.join(ROOT, "examples", "sklearn_digits_script_mode.py"),
                        "--endpoint-url", server.url, "--n-estimators", "30"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    result = json.loads(r.stdout.splitlines()[-1])
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X, Xt, y, yt = train_test_split(X, y, test_size=0.25, random_state=0)
    want = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y).score(Xt, yt)
    assert result["predictions"] == len(yt)
    assert abs(result["endpoint_accuracy"] - want) < 1e-9
    assert abs(result["validation_accuracy"] - want) < 1e-4
    assert "  | Invoking script with the following command:" in r.stdout
    sm = client(server, "sagemaker")
    assert result["job"] not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
