"""Batch transform (CreateTransformJob and friends) through boto3 and the
aws CLI, against a real server running real k-means model servers."""
import gzip
import json
import subprocess
import time

import botocore.exceptions
import numpy as np
import pytest

from conftest import ACCOUNT, KILN, Server, aws, client, model_tgz, own_data_dir, run_js

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
D = 8
CENTERS = np.array([[10.0 * c] * D for c in range(4)], np.float32)


def model_on(server):
    """Buckets models, data and out, and model "km" on server; returns its
    S3 and SageMaker clients."""
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    for b in ("models", "data", "out"):
        s3.create_bucket(Bucket=b)
    s3.put_object(Bucket="models", Key="km/model.tar.gz", Body=model_tgz(CENTERS))
    sm.create_model(ModelName="km", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": "s3://models/km/model.tar.gz"})
    return s3, sm


@pytest.fixture(scope="module")
def sm(server):
    return model_on(server)[1]


def rows(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 4, n)[:, None] * 10.0 + rng.normal(0, 2, (n, D))).astype(np.float32)


def csv(X):
    return "".join(",".join(f"{x:.4f}" for x in row) + "\n" for row in X).encode()


def nearest(X):
    X = np.array([[float(f"{x:.4f}") for x in row] for row in X], np.float64)
    d2 = ((X[:, None, :] - CENTERS[None, :, :].astype(np.float64)) ** 2).sum(-1)
    return d2.argmin(1), np.sqrt(d2.min(1))


def check_jsonlines(body, X):
    got = [json.loads(l) for l in body.decode().splitlines()]
    assert len(got) == len(X)
    want_c, want_d = nearest(X)
    assert [g["closest_cluster"] for g in got] == want_c.tolist()
    np.testing.assert_allclose([g["distance_to_cluster"] for g in got], want_d, rtol=1e-4,
                               atol=1e-3)


def job(sm, name, uri, **kw):
    args = dict(
        TransformJobName=name, ModelName="km",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://out/{name}", "Accept": "application/jsonlines",
                         "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    for k, v in kw.items():
        if isinstance(v, dict) and k in args:
            args[k] = {**args[k], **v}
        else:
            args[k] = v
    return sm.create_transform_job(**args)


def wait(sm, name):
    """The job once ended; the waiter ends in failure on Failed."""
    try:
        sm.get_waiter("transform_job_completed_or_stopped").wait(
            TransformJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except botocore.exceptions.WaiterError as e:
        assert e.last_response["TransformJobStatus"] == "Failed"
    return sm.describe_transform_job(TransformJobName=name)


def test_csv_lines_in_order_across_instances_and_batches(server, sm):
    s3 = client(server, "s3")
    big, small, nested = rows(60000, 1), rows(5, 2), rows(3, 3)
    s3.put_object(Bucket="data", Key="batch/big.csv", Body=csv(big))
    # No newline at the end, and blank lines: both as SageMaker reads them.
    s3.put_object(Bucket="data", Key="batch/small.csv", Body=csv(small).rstrip(b"\n") + b"")
    s3.put_object(Bucket="data", Key="batch/sub/nested.csv", Body=b"\n" + csv(nested) + b"\n\n")
    s3.put_object(Bucket="data", Key="batch/sub/", Body=b"")  # a folder marker
    s3.put_object(Bucket="data", Key="other/x.csv", Body=csv(small))
    arn = job(sm, "tj-lines", "s3://data/batch/", MaxPayloadInMB=1, MaxConcurrentTransforms=2,
              BatchStrategy="MultiRecord",
              TransformResources={"InstanceCount": 2}, Tags=[{"Key": "team", "Value": "ml"}])
    assert arn["TransformJobArn"] == \
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:transform-job/tj-lines"
    d = wait(sm, "tj-lines")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert d["ModelName"] == "km"
    assert d["MaxPayloadInMB"] == 1 and d["MaxConcurrentTransforms"] == 2
    assert d["BatchStrategy"] == "MultiRecord"
    assert d["TransformInput"]["SplitType"] == "Line"
    assert d["TransformInput"]["CompressionType"] == "None"
    assert d["TransformOutput"]["AssembleWith"] == "Line"
    assert d["TransformResources"]["InstanceCount"] == 2
    assert d["ModelClientConfig"] == {"InvocationsTimeoutInSeconds": 600,
                                      "InvocationsMaxRetries": 3}
    assert d["CreationTime"] <= d["TransformStartTime"] <= d["TransformEndTime"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="out", Prefix="tj-lines/")["Contents"])
    assert keys == ["tj-lines/big.csv.out", "tj-lines/small.csv.out", "tj-lines/sub/nested.csv.out"]
    for key, X in [("big", big), ("small", small), ("sub/nested", nested)]:
        o = s3.get_object(Bucket="out", Key=f"tj-lines/{key}.csv.out")
        assert o["ContentType"] == "application/jsonlines"
        check_jsonlines(o["Body"].read(), X)
    # The data log says how each object went: 60,000 rows of about 80
    # bytes do not fit in one 1 MB payload.
    logs = client(server, "logs")
    ev = logs.get_log_events(logGroupName="/aws/sagemaker/TransformJobs",
                             logStreamName="tj-lines/data-log")["events"]
    text = "\n".join(e["message"] for e in ev)
    assert "s3://data/batch/big.csv: 60000 records in" in text
    n_batches = int(text.split("s3://data/batch/big.csv: 60000 records in ")[1].split()[0])
    assert n_batches >= 4
    assert "s3://data/batch/small.csv: 5 records in 1 mini-batches" in text
    assert sm.list_tags(ResourceArn=d["TransformJobArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_single_record_gzip_json_and_manifest(server, sm):
    s3 = client(server, "s3")
    X = rows(7, 4)
    s3.put_object(Bucket="data", Key="gz/part.csv.gz", Body=gzip.compress(csv(X)))
    job(sm, "tj-single", "s3://data/gz/", BatchStrategy="SingleRecord",
        TransformInput={"CompressionType": "Gzip"},
        TransformOutput={"Accept": "application/json"})
    d = wait(sm, "tj-single")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    out = s3.get_object(Bucket="out", Key="tj-single/part.csv.gz.out")["Body"].read().decode()
    # One request per record: one JSON answer per line.
    answers = [json.loads(l) for l in out.splitlines()]
    assert len(answers) == 7 and all(len(a["predictions"]) == 1 for a in answers)
    want_c, _ = nearest(X)
    assert [a["predictions"][0]["closest_cluster"] for a in answers] == want_c.tolist()

    # SplitType None: each object is one request, here JSON; a manifest
    # names the objects.
    Y = rows(4, 5)
    body = json.dumps({"instances": [{"features": r.tolist()} for r in Y]}).encode()
    s3.put_object(Bucket="data", Key="json/a.json", Body=body)
    s3.put_object(Bucket="data", Key="json/b.json", Body=body)
    s3.put_object(Bucket="data", Key="json/list.manifest",
                  Body=json.dumps([{"prefix": "s3://data/json/"}, "b.json", "a.json"]).encode())
    job(sm, "tj-none", "s3://data/json/list.manifest",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                                        "S3Uri": "s3://data/json/list.manifest"}},
                        "ContentType": "application/json", "SplitType": "None"},
        TransformOutput={"Accept": "application/json", "AssembleWith": "None"})
    d = wait(sm, "tj-none")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    for k in ("a", "b"):
        got = json.loads(s3.get_object(Bucket="out", Key=f"tj-none/{k}.json.out")["Body"].read())
        assert [p["closest_cluster"] for p in got["predictions"]] == nearest(Y)[0].tolist()


def test_recordio_split_with_the_cli(server, sm):
    X = rows(50, 6)
    rio = subprocess.run([KILN, "admin", "convert", "--from", "csv", "--to", "recordio",
                          "/dev/stdin", "/dev/stdout"], input=csv(X), capture_output=True,
                         check=True).stdout
    client(server, "s3").put_object(Bucket="data", Key="rio/x.rec", Body=rio)
    aws(server, "sagemaker", "create-transform-job", "--transform-job-name", "tj-rio",
        "--model-name", "km", "--max-payload-in-mb", "1",
        "--transform-input", json.dumps({
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/rio/"}},
            "ContentType": "application/x-recordio-protobuf", "SplitType": "RecordIO"}),
        "--transform-output", json.dumps({"S3OutputPath": "s3://out/tj-rio",
                                          "Accept": "application/jsonlines"}),
        "--transform-resources", "InstanceType=ml.c5.xlarge,InstanceCount=1")
    aws(server, "sagemaker", "wait", "transform-job-completed-or-stopped",
        "--transform-job-name", "tj-rio")
    d = json.loads(aws(server, "sagemaker", "describe-transform-job",
                       "--transform-job-name", "tj-rio").stdout)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    out = client(server, "s3").get_object(Bucket="out", Key="tj-rio/x.rec.out")["Body"].read()
    check_jsonlines(out, X)


def test_model_error_fails_the_job_and_writes_nothing(server, sm):
    s3 = client(server, "s3")
    good = csv(rows(3, 7))
    s3.put_object(Bucket="data", Key="bad/a.csv", Body=good)
    s3.put_object(Bucket="data", Key="bad/b.csv", Body=good + b"1,2,oops\n")
    job(sm, "tj-bad", "s3://data/bad/")
    d = wait(sm, "tj-bad")
    assert d["TransformJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: The model answered 400")
    assert "s3://data/bad/b.csv" in d["FailureReason"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="out", Prefix="tj-bad/").get("Contents", [])]
    assert keys == ["tj-bad/a.csv.out"]
    # A record over MaxPayloadInMB fails the job as SageMaker's does.
    s3.put_object(Bucket="data", Key="long/a.csv", Body=b"1," * 600000 + b"1\n")
    job(sm, "tj-long", "s3://data/long/", MaxPayloadInMB=1)
    d = wait(sm, "tj-long")
    assert d["TransformJobStatus"] == "Failed"
    assert "MaxPayloadInMB" in d["FailureReason"]
    # No input at all.
    job(sm, "tj-empty", "s3://data/nothing-here/")
    d = wait(sm, "tj-empty")
    assert d["TransformJobStatus"] == "Failed"
    assert "no objects were found under s3://data/nothing-here/" in d["FailureReason"]


def test_bad_requests(server, sm):
    def refused(code, text, **kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            job(sm, kw.pop("name", "tj-refused"), "s3://data/batch/", **kw)
        assert e.value.response["Error"]["Code"] == code
        assert text in e.value.response["Error"]["Message"]

    refused("ValidationException", 'Could not find model "arn:aws:sagemaker:us-east-1:'
            f'{ACCOUNT}:model/nope"', ModelName="nope")
    refused("ValidationException", "must not exceed 100 MB", MaxPayloadInMB=50,
            MaxConcurrentTransforms=4)
    refused("ValidationException", "AugmentedManifestFile", TransformInput={
        "DataSource": {"S3DataSource": {"S3DataType": "AugmentedManifestFile",
                                        "S3Uri": "s3://data/x"}}})
    refused("ValidationException", "InputFilter: '$[1' is not a JSONPath",
            DataProcessing={"InputFilter": "$[1"})
    refused("ValidationException", "SplitType to Line", DataProcessing={"JoinSource": "Input"},
            TransformInput={"SplitType": "None"})
    refused("ValidationException", "transformResources.instanceType",
            TransformResources={"InstanceType": "ml.nope.large"})
    refused("ResourceInUse", "already exists", name="tj-lines")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_transform_job(TransformJobName="tj-unknown")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == \
        "Could not find requested job with name tj-unknown"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.stop_transform_job(TransformJobName="tj-lines")
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_stop_and_list(server, sm):
    s3 = client(server, "s3")
    # One request per row keeps the job busy long enough to stop it.
    s3.put_object(Bucket="data", Key="slow/a.csv", Body=csv(rows(200000, 8)))
    job(sm, "tj-stop", "s3://data/slow/", BatchStrategy="SingleRecord")
    time.sleep(0.5)
    sm.stop_transform_job(TransformJobName="tj-stop")
    assert sm.describe_transform_job(TransformJobName="tj-stop")["TransformJobStatus"] in (
        "Stopping", "Stopped")
    d = wait(sm, "tj-stop")
    assert d["TransformJobStatus"] == "Stopped"
    assert "Contents" not in s3.list_objects_v2(Bucket="out", Prefix="tj-stop/")

    jobs = sm.list_transform_jobs(StatusEquals="Completed", SortBy="Name",
                                  SortOrder="Ascending")["TransformJobSummaries"]
    names = [j["TransformJobName"] for j in jobs]
    assert names == sorted(names) and {"tj-lines", "tj-none", "tj-single"} <= set(names)
    assert all("TransformEndTime" in j and "LastModifiedTime" in j for j in jobs)
    failed = sm.list_transform_jobs(StatusEquals="Failed", NameContains="bad")
    assert [j["TransformJobName"] for j in failed["TransformJobSummaries"]] == ["tj-bad"]
    assert failed["TransformJobSummaries"][0]["FailureReason"].startswith("ClientError")
    pages = sm.get_paginator("list_transform_jobs").paginate(PaginationConfig={"PageSize": 2})
    all_names = [j["TransformJobName"] for p in pages for j in p["TransformJobSummaries"]]
    assert len(all_names) == len(set(all_names)) >= 7


def test_data_processing_filters_and_join(server, sm):
    """The ID column stays out of what the model sees and comes back
    beside its prediction (SageMaker's "associate prediction results with
    input records")."""
    s3 = client(server, "s3")
    X = rows(500, 9)
    ids = [f"id-{i}" if i % 7 else f'"id,{i}"' for i in range(len(X))]
    lines = [f"{ident},{','.join(f'{x:.4f}' for x in row)}" for ident, row in zip(ids, X)]
    s3.put_object(Bucket="data", Key="ids/a.csv", Body=("\n".join(lines) + "\n").encode())
    job(sm, "tj-join-csv", "s3://data/ids/", MaxPayloadInMB=1,
        TransformOutput={"Accept": "text/csv"},
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2]"})
    d = wait(sm, "tj-join-csv")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert d["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input",
                                   "OutputFilter": "$[0,-2]"}
    out = s3.get_object(Bucket="out", Key="tj-join-csv/a.csv.out")["Body"].read().decode()
    got = out.splitlines()
    want_c, _ = nearest(X)
    assert [l.rsplit(",", 1)[0] for l in got] == ids
    assert [float(l.rsplit(",", 1)[1]) for l in got] == want_c.tolist()

    # JSON Lines: the features under "data" go to the model, and the
    # answer joins each record under SageMakerOutput.
    recs = [{"id": i, "data": {"features": row.tolist()}, "note": "x"} for i, row in enumerate(X[:20])]
    s3.put_object(Bucket="data", Key="idsj/a.jsonl",
                  Body="".join(json.dumps(r) + "\n" for r in recs).encode())
    job(sm, "tj-join-json", "s3://data/idsj/",
        TransformInput={"ContentType": "application/jsonlines"},
        DataProcessing={"InputFilter": "$.data", "JoinSource": "Input",
                        "OutputFilter": "$['id','SageMakerOutput']"})
    d = wait(sm, "tj-join-json")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    got = [json.loads(l) for l in s3.get_object(
        Bucket="out", Key="tj-join-json/a.jsonl.out")["Body"].read().decode().splitlines()]
    assert [g["id"] for g in got] == list(range(20))
    assert [g["SageMakerOutput"]["closest_cluster"] for g in got] == nearest(X[:20])[0].tolist()
    assert all(set(g) == {"id", "SageMakerOutput"} for g in got)

    # An index past the joined record fails the job with SageMaker's reason.
    job(sm, "tj-join-bad", "s3://data/ids/", TransformOutput={"Accept": "text/csv"},
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[40]"})
    d = wait(sm, "tj-join-bad")
    assert d["TransformJobStatus"] == "Failed"
    assert "OutputFilter: Index 40 is out of range" in d["FailureReason"]
    # A mini-batch answer that is not one line per record cannot be joined.
    job(sm, "tj-join-json-answer", "s3://data/ids/", TransformOutput={"Accept": "application/json"},
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input"})
    d = wait(sm, "tj-join-json-answer")
    assert d["TransformJobStatus"] == "Failed"
    assert "one line per record" in d["FailureReason"]


def test_job_runs_again_after_a_restart(tmp_path):
    """A job still running when kiln stops runs again from the start at the
    next start, and its output is whole."""
    s = Server(own_data_dir(tmp_path))
    X = rows(60000, 10)
    try:
        s3, sm = model_on(s)
        s3.put_object(Bucket="data", Key="slow/a.csv", Body=csv(X))
        job(sm, "tj-restart", "s3://data/slow/", BatchStrategy="SingleRecord")
        time.sleep(0.5)
        assert sm.describe_transform_job(
            TransformJobName="tj-restart")["TransformJobStatus"] == "InProgress"
    finally:
        assert s.stop() == 0, s.stderr()[-3000:]
    s = Server(s.data_dir)
    try:
        sm = client(s, "sagemaker")
        d = wait(sm, "tj-restart")
        assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
        out = client(s, "s3").get_object(Bucket="out", Key="tj-restart/a.csv.out")["Body"].read()
        check_jsonlines(out, X)
    finally:
        assert s.stop() == 0, s.stderr()[-3000:]


def test_javascript_sdk(server, sm):
    """The AWS SDK for JavaScript v3 runs a job and waits with its own
    waiter."""
    X = rows(30, 11)
    out = run_js(server, "sagemaker_transform.mjs", MODEL_NAME="km", ROWS=csv(X).decode())
    assert out["waiter"] == "SUCCESS" and out["status"] == "Completed"
    assert out["startBeforeEnd"] and out["listed"] == ["js-transform"]
    assert out["type"] == "text/csv"
    lines = out["body"].splitlines()
    assert [int(float(l.split(",")[0])) for l in lines] == nearest(X)[0].tolist()
