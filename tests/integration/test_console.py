"""The web console: its files as the server sends them, and a real browser
(Debian's Chromium, driven by playwright-core) signing in, deploying a
trained model with one click, invoking it, reading what each job and
endpoint used and cost, retraining and deleting, each checked with boto3."""
import http.client
import json
import os
import subprocess
import tempfile

import botocore.exceptions
import numpy as np
import pytest

from conftest import ACCOUNT, KILN, Server, client, own_data_dir, run_js

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
PRICES = {"ml.m5.large": 0.115, "ml.c5.xlarge": 0.204}


@pytest.fixture(scope="module")
def priced():
    with tempfile.TemporaryDirectory(prefix="kiln-console-") as tmp:
        data = own_data_dir(tmp)
        prices = os.path.join(tmp, "prices.json")
        with open(prices, "w") as f:
            json.dump(PRICES, f)
        s = Server(data, ["--price-list", prices])
        yield s
        assert s.stop() == 0, s.stderr()[-3000:]


def get(server, method, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r, body


def test_files_need_no_signature_and_keep_the_page_to_itself(priced):
    r, _ = get(priced, "GET", "/console")
    assert r.status == 301 and r.getheader("Location") == "/console/"
    r, body = get(priced, "GET", "/console/")
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/html")
    assert b'<script type="module" src="console.js">' in body
    csp = r.getheader("Content-Security-Policy")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.getheader("X-Content-Type-Options") == "nosniff"
    for path, ctype in (("console.js", "text/javascript"), ("sigv4.js", "text/javascript"),
                        ("console.css", "text/css")):
        r, body = get(priced, "GET", f"/console/{path}")
        assert r.status == 200 and r.getheader("Content-Type").startswith(ctype), path
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "src", "console",
                               path), "rb") as f:
            assert body == f.read()
    r, body = get(priced, "HEAD", "/console/")
    assert r.status == 200 and body == b""
    for path in ("/console/nope.js", "/console/../kiln.db", "/console/console.js/x"):
        r, _ = get(priced, "GET", path)
        assert r.status == 404, path
    r, _ = get(priced, "POST", "/console/")
    assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"
    # Data is another matter: an unsigned API call is still refused.
    r, _ = get(priced, "GET", "/")
    assert r.status == 403


def recordio(X):
    text = "".join(",".join(f"{x:.4f}" for x in row) + "\n" for row in X)
    return subprocess.run([KILN, "admin", "convert", "--from", "csv", "--to", "recordio",
                           "/dev/stdin", "/dev/stdout"], input=text.encode(),
                          capture_output=True, check=True).stdout


def test_sign_in_deploy_invoke_cost_retrain_delete(priced):
    s3, sm = client(priced, "s3"), client(priced, "sagemaker")
    s3.create_bucket(Bucket="console")
    rng = np.random.default_rng(5)
    centers = np.array([[0.0] * 4, [10.0] * 4, [-10.0, 10.0, -10.0, 10.0]])
    X = centers[rng.integers(0, 3, 900)] + rng.normal(0, 0.5, (900, 4))
    s3.put_object(Bucket="console", Key="train/data.pbr", Body=recordio(X))
    job = "console-km"
    sm.create_training_job(
        TrainingJobName=job, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://console/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://console/output"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        HyperParameters={"k": "3", "feature_dim": "4", "mini_batch_size": "300"},
        Tags=[{"Key": "team", "Value": "vision"}])
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    trained = sm.describe_training_job(TrainingJobName=job)
    assert trained["TrainingJobStatus"] == "Completed"

    row = "9.8,10.1,10.3,9.9"
    seen = run_js(priced, "console.mjs", PHASE="deploy", JOB=job, ENDPOINT="console-ep", ROW=row)
    # A wrong secret gets the front door's answer, and no way in.
    assert "SignatureDoesNotMatch" in seen["badSignIn"]
    assert seen["navAfterBadSignIn"] is False
    assert ACCOUNT in seen["who"]
    assert "Completed" in seen["listed"]
    assert IMAGE in seen["details"] and "ml.m5.large" in seen["details"]
    assert any("feature_dim" in t and "mini_batch_size" in t for t in seen["tables"])
    assert seen["log"].strip()

    # One click made a model, a config and an endpoint that serve the job.
    assert "InService" in seen["endpoint"]
    model = sm.describe_model(ModelName="console-ep")
    assert model["PrimaryContainer"]["ModelDataUrl"] == trained["ModelArtifacts"]["S3ModelArtifacts"]
    assert model["PrimaryContainer"]["Image"] == IMAGE
    config = sm.describe_endpoint_config(EndpointConfigName="console-ep")
    variant = config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 1)
    want = client(priced, "sagemaker-runtime").invoke_endpoint(
        EndpointName="console-ep", Body=row, ContentType="text/csv",
        Accept="application/jsonlines")["Body"].read().decode()
    assert json.loads(seen["answer"]) == json.loads(want)
    assert "200 from variant AllTraffic" in seen["answerNote"]

    # The training job's instance time, priced, on the usage page.
    rows = {r[0]: r for r in seen["cost"]}
    mine = rows[trained["TrainingJobArn"]]
    assert mine[1] == "USE1-Train:ml.m5.large"
    hours = float(mine[2])
    assert hours > 0
    assert float(mine[3]) == pytest.approx(hours * PRICES["ml.m5.large"], abs=2e-6)
    assert seen["costTotal"].startswith("Total: ")

    # Retrain: a new job with the same settings and tags.
    again = seen["retrained"]
    assert again.startswith(job + "-") and len(again) == len(job) + 15
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=again, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    copy = sm.describe_training_job(TrainingJobName=again)
    assert copy["TrainingJobStatus"] == "Completed"
    for k in ("HyperParameters", "InputDataConfig", "ResourceConfig", "RoleArn"):
        assert copy[k] == trained[k], k
    assert sm.list_tags(ResourceArn=copy["TrainingJobArn"])["Tags"] == [
        {"Key": "team", "Value": "vision"}]

    seen2 = run_js(priced, "console.mjs", PHASE="delete", ENDPOINT="console-ep")
    assert "Click again" in seen2["armed"]
    assert "Could not find endpoint" in seen2["gone"]
    assert seen2["signedOut"] == 0
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_endpoint(EndpointName="console-ep")
    assert e.value.response["Error"]["Code"] == "ValidationException"

    # The page itself never failed; refused requests show as the browser's
    # own "Failed to load resource" lines, which are expected here.
    for s in (seen, seen2):
        assert s["pageErrors"] == []
        assert [m for m in s["consoleErrors"] if "Failed to load resource" not in m] == []
