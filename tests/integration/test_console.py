"""The web console: its files as the server sends them, and a real browser
(Debian's Chromium, driven by playwright-core) signing in, deploying a
trained model with one click, invoking it, reading what each job and
endpoint used and cost, retraining and deleting, each checked with boto3."""
import http.client
import json
import os

import botocore.exceptions
import numpy as np
import pytest

from conftest import (ACCOUNT, client, priced_server, run_js, sandbox_missing,
                      wait_training_job)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
PRICES = {"ml.m5.large": 0.115, "ml.c5.xlarge": 0.204}


@pytest.fixture(scope="module")
def priced():
    with priced_server(PRICES, "kiln-console-") as s:
        yield s


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


def test_signing_code_matches_aws_examples(priced):
    """sigv4.js against the SigV4 test suite, S3's documented signatures
    and Node's SHA-256 and HMAC."""
    assert run_js(priced, "sigv4_vectors.mjs") == {"ok": True}


def test_upload_train_deploy_invoke_monitor_cost_retrain_delete(priced, tmp_path):
    sm = client(priced, "sagemaker")
    rng = np.random.default_rng(5)
    centers = np.array([[0.0] * 4, [10.0] * 4, [-10.0, 10.0, -10.0, 10.0]])
    X = centers[rng.integers(0, 3, 900)] + rng.normal(0, 0.5, (900, 4))
    data = tmp_path / "clusters.csv"
    data.write_text("".join(",".join(f"{x:.4f}" for x in row) + "\n" for row in X))
    job = "console-km"

    # Upload and train, all in the browser.
    seen = run_js(priced, "console.mjs", PHASE="train", BUCKET="console", DATA=str(data),
                  JOB=job, HYPERPARAMETERS="k=3\nfeature_dim=4\nmini_batch_size=300")
    # A wrong secret gets the front door's answer, and no way in.
    assert "SignatureDoesNotMatch" in seen["badSignIn"]
    # The calls that failed: that sign-in's STS call, and the log of the
    # first training job read before its log group exists.
    assert f"403 {priced.url}/" in seen["failed"]
    assert set(seen["failed"]) <= {
        f"403 {priced.url}/", "400 Logs_20140328.FilterLogEvents ResourceNotFoundException"}
    assert seen["navAfterBadSignIn"] is False
    assert ACCOUNT in seen["who"]
    assert "clusters.csv" in seen["listing"] and seen["downloadMatches"] is True
    obj = client(priced, "s3").get_object(Bucket="console", Key="train/clusters.csv")
    assert obj["Body"].read() == data.read_bytes() and obj["ContentType"] == "text/csv"
    trained = sm.describe_training_job(TrainingJobName=job)
    assert trained["TrainingJobStatus"] == "Completed"
    assert trained["HyperParameters"] == {"k": "3", "feature_dim": "4", "mini_batch_size": "300"}
    assert trained["InputDataConfig"][0]["ContentType"] == "text/csv"
    assert trained["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == \
        "s3://console/train/"
    assert trained["RoleArn"] == ROLE
    sm.add_tags(ResourceArn=trained["TrainingJobArn"], Tags=[{"Key": "team", "Value": "vision"}])

    row = "9.8,10.1,10.3,9.9"
    seen1 = run_js(priced, "console.mjs", PHASE="deploy", JOB=job, ENDPOINT="console-ep",
                   ROW=row)
    assert "Completed" in seen1["listed"]
    assert IMAGE in seen1["details"] and "ml.m5.large" in seen1["details"]
    assert any("feature_dim" in t and "mini_batch_size" in t for t in seen1["tables"])
    assert seen1["log"].strip()

    # One click made a model, a config and an endpoint that serve the job.
    assert "InService" in seen1["endpoint"]
    model = sm.describe_model(ModelName="console-ep")
    assert model["PrimaryContainer"]["ModelDataUrl"] == trained["ModelArtifacts"]["S3ModelArtifacts"]
    assert model["PrimaryContainer"]["Image"] == IMAGE
    config = sm.describe_endpoint_config(EndpointConfigName="console-ep")
    variant = config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 1)
    want = client(priced, "sagemaker-runtime").invoke_endpoint(
        EndpointName="console-ep", Body=row, ContentType="text/csv",
        Accept="application/jsonlines")["Body"].read().decode()
    assert json.loads(seen1["answer"]) == json.loads(want)
    assert "200 from variant AllTraffic" in seen1["answerNote"]

    # The training job's instance time, priced, on the usage page.
    rows = {r[0]: r for r in seen1["cost"]}
    mine = rows[trained["TrainingJobArn"]]
    assert mine[1] == "USE1-Train:ml.m5.large"
    hours = float(mine[2])
    assert hours > 0
    assert float(mine[3]) == pytest.approx(hours * PRICES["ml.m5.large"], abs=2e-6)
    assert seen1["costTotal"].startswith("Total: ")

    # Retrain: a new job with the same settings and tags.
    again = seen1["retrained"]
    assert again.startswith(job + "-") and len(again) == len(job) + 15
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=again, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    copy = sm.describe_training_job(TrainingJobName=again)
    assert copy["TrainingJobStatus"] == "Completed"
    for k in ("HyperParameters", "InputDataConfig", "ResourceConfig", "RoleArn"):
        assert copy[k] == trained[k], k
    assert sm.list_tags(ResourceArn=copy["TrainingJobArn"])["Tags"] == [
        {"Key": "team", "Value": "vision"}]

    # Registered, approved and deployed from the model registry, in clicks.
    seen_r = run_js(priced, "console.mjs", PHASE="registry", JOB=job, ENDPOINT="console-reg",
                    GROUP="console-models")
    assert "PendingManualApproval" in seen_r["pending"] and "Approved" in seen_r["approved"]
    assert "InService" in seen_r["endpoint"] and "console-models" in seen_r["groups"]
    [pkg] = sm.list_model_packages(
        ModelPackageGroupName="console-models")["ModelPackageSummaryList"]
    assert pkg["ModelApprovalStatus"] == "Approved" and pkg["ModelPackageVersion"] == 1
    spec = sm.describe_model_package(ModelPackageName=pkg["ModelPackageArn"])[
        "InferenceSpecification"]
    assert spec["Containers"] == [{"Image": IMAGE, "ModelDataUrl": trained[
        "ModelArtifacts"]["S3ModelArtifacts"]}]
    assert sm.describe_model(ModelName="console-reg")["PrimaryContainer"][
        "ModelPackageName"] == pkg["ModelPackageArn"]
    same = client(priced, "sagemaker-runtime").invoke_endpoint(
        EndpointName="console-reg", Body=row, ContentType="text/csv",
        Accept="application/jsonlines")["Body"].read().decode()
    assert json.loads(same) == json.loads(want)
    assert seen_r["pageErrors"] == [] and seen_r["failed"] == []
    assert seen_r["consoleErrors"] == []
    sm.delete_endpoint(EndpointName="console-reg")

    # An hourly data-quality schedule shows on the endpoint's page.
    sm.create_monitoring_schedule(MonitoringScheduleName="console-hourly",
                                  MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinition": {
            "MonitoringInputs": [{"EndpointInput": {
                "EndpointName": "console-ep", "LocalPath": "/opt/ml/processing/input/ep"}}],
            "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": "s3://console/monitoring", "LocalPath": "/opt/ml/processing/output"}}]},
            "MonitoringResources": {"ClusterConfig": {
                "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5}},
            "MonitoringAppSpecification": {"ImageUri": "156813124566.dkr.ecr.us-east-1."
                                                       "amazonaws.com/sagemaker-model-"
                                                       "monitor-analyzer"},
            "RoleArn": ROLE}})
    seen2 = run_js(priced, "console.mjs", PHASE="delete", ENDPOINT="console-ep", INVOKED="2")
    assert "console-hourlyScheduled" in seen2["quality"]
    # The browser's call and boto3's, in CloudWatch's AWS/SageMaker metrics.
    variant, invoked, e4, e5, model_latency, _ = seen2["metrics"][0]
    assert (variant, invoked, e4, e5) == ("AllTraffic", "2", "0", "0")
    assert model_latency.endswith(" µs") and int(model_latency.split()[0]) > 0
    assert len(seen2["bars"]) == 60
    assert sum(int(b.split(": ")[1].split()[0]) for b in seen2["bars"]) == 2
    assert "Data captureoff" in seen2["capture"]
    assert "Click again" in seen2["armed"]
    assert "Could not find endpoint" in seen2["gone"]
    assert seen2["signedOut"] == 0
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_endpoint(EndpointName="console-ep")
    assert e.value.response["Error"]["Code"] == "ValidationException"

    # The page itself never failed; refused requests show as the browser's
    # own "Failed to load resource" lines, which are expected here.
    for s in (seen, seen1, seen2):
        assert s["pageErrors"] == []
        assert [m for m in s["consoleErrors"] if "Failed to load resource" not in m] == []
    # After sign-in no call fails while an endpoint is still being created;
    # a deleted one is known gone, as the SDK's waiter knows it, when
    # DescribeEndpoint no longer finds it.
    assert seen1["failed"] == [], seen1["failed"]
    assert set(seen2["failed"]) == {"400 SageMaker.DescribeEndpoint ValidationException"}


SCRIPT = """
import os, joblib
from sklearn.linear_model import LogisticRegression
import numpy as np

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

if __name__ == "__main__":
    x = np.array([[0.0, 0.0], [1.0, 1.0], [10.0, 10.0], [11.0, 11.0]])
    joblib.dump(LogisticRegression().fit(x, [0, 0, 1, 1]),
                os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""


@pytest.mark.skipif(sandbox_missing() is not None, reason=str(sandbox_missing()))
def test_deploy_a_script_mode_job(priced):
    """The console's Deploy of a script-mode job serves it: the model names
    the entry point and its code, as the SDK's deploy() does."""
    import io
    import tarfile
    s3, sm = client(priced, "s3"), client(priced, "sagemaker")
    s3.create_bucket(Bucket="console-script")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as t:
        info = tarfile.TarInfo("train.py")
        info.size = len(SCRIPT.encode())
        t.addfile(info, io.BytesIO(SCRIPT.encode()))
    s3.put_object(Bucket="console-script", Key="src/sourcedir.tar.gz", Body=raw.getvalue())
    s3.put_object(Bucket="console-script", Key="data/x.csv", Body=b"0\n")
    submit = "s3://console-script/src/sourcedir.tar.gz"
    sm.create_training_job(
        TrainingJobName="console-script", RoleArn=ROLE,
        AlgorithmSpecification={
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                             "sagemaker-scikit-learn:1.2-1-cpu-py3",
            "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": json.dumps("train.py"),
                         "sagemaker_submit_directory": json.dumps(submit)},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://console-script/data"}}}],
        OutputDataConfig={"S3OutputPath": "s3://console-script/out"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large",
                        "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    d = wait_training_job(sm, "console-script")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    seen = run_js(priced, "console.mjs", PHASE="script", JOB="console-script",
                  ENDPOINT="console-script", ROW="0.5,0.5\n10.5,10.5")
    assert json.loads(seen["answer"]) == [0, 1]
    env = sm.describe_model(ModelName="console-script")["PrimaryContainer"]["Environment"]
    assert env == {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": submit}
    assert seen["pageErrors"] == []
