"""[F5] training jobs through the SageMaker API with boto3 and the aws CLI:
CreateTrainingJob to Completed on Fashion-MNIST, logs and metrics through
the CloudWatch Logs API, model.tar.gz in the object store, stops, runtime
limits, failures and bad requests."""
import gzip
import io
import json
import os
import re
import struct
import subprocess
import tarfile
import time

import botocore.exceptions
import numpy as np
import pytest

from conftest import ACCOUNT, KILN, aws, client, kiln
from conftest import training_log_lines as job_log_lines
from conftest import wait_training_job as wait

FM = "/usr/share/datasets/fashion-mnist"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"


@pytest.fixture(scope="module")
def data(server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train-data")
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="train-bucket")
    # A 5,000-row Fashion-MNIST subset in RecordIO-protobuf, as the
    # low-level notebook uploads it: one object whose key is the prefix.
    csv = tmp / "subset.csv"
    kiln("admin", "convert", "--from", "idx", "--to", "csv",
         f"{FM}/t10k-images-idx3-ubyte.gz", str(tmp / "all.csv"))
    with open(tmp / "all.csv") as f, open(csv, "w") as out:
        for i, line in enumerate(f):
            if i == 5000:
                break
            out.write(line)
    kiln("admin", "convert", "--from", "csv", "--to", "recordio", str(csv),
         str(tmp / "data.pbr"))
    s3.upload_file(str(tmp / "data.pbr"), "train-bucket", "kmeans_lowlevel_example/data")
    return tmp


def job_body(name, **over):
    body = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [{
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://train-bucket/kmeans_lowlevel_example/data",
                "S3DataDistributionType": "FullyReplicated"}},
            "CompressionType": "None", "RecordWrapperType": "None"}],
        "OutputDataConfig": {"S3OutputPath": "s3://train-bucket/kmeans_example/output"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c4.xlarge",
                           "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {"k": "10", "feature_dim": "784", "mini_batch_size": "500",
                            "force_dense": "True"},
    }
    body.update(over)
    return body


def read_model(raw):
    k, d = struct.unpack("<qq", raw[36:52])
    return np.frombuffer(raw, np.float32, count=k * d, offset=64).reshape(k, d)


@pytest.mark.skipif(not os.path.exists(FM), reason="dataset-fashion-mnist not installed")
def test_lowlevel_notebook_job(server, data):
    sm = client(server, "sagemaker")
    arn = sm.create_training_job(**job_body("kmeans-lowlevel-1"))["TrainingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/kmeans-lowlevel-1"
    d = wait(sm, "kmeans-lowlevel-1")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["SecondaryStatus"] == "Completed"
    statuses = [t["Status"] for t in d["SecondaryStatusTransitions"]]
    assert statuses[0] == "Starting" and "Downloading" in statuses
    assert statuses[-3:] == ["Training", "Uploading", "Completed"]
    assert all("StatusMessage" in t for t in d["SecondaryStatusTransitions"])
    assert d["TrainingTimeInSeconds"] >= 1 and d["BillableTimeInSeconds"] >= 1
    assert d["TrainingEndTime"] >= d["TrainingStartTime"] >= d["CreationTime"]
    assert d["ResourceConfig"]["InstanceCount"] == 1
    assert d["OutputDataConfig"]["KmsKeyId"] == ""
    art = d["ModelArtifacts"]["S3ModelArtifacts"]
    assert art == "s3://train-bucket/kmeans_example/output/kmeans-lowlevel-1/output/model.tar.gz"
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics["train:msd"] > 0 and metrics["train:progress"] == 100.0
    # The model archive holds model_algo-1 of shape (10, 784).
    body = client(server, "s3").get_object(
        Bucket="train-bucket",
        Key="kmeans_example/output/kmeans-lowlevel-1/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        assert t.getnames() == ["model_algo-1"]
        assert read_model(t.extractfile("model_algo-1").read()).shape == (10, 784)
    # Logs, as estimator.fit(logs=True) reads them.
    logs = client(server, "logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]
    [g] = [g for g in groups if g["logGroupName"] == "/aws/sagemaker/TrainingJobs"]
    assert g["storedBytes"] > 0
    assert g["arn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:*"
    assert logs.describe_log_groups(logGroupNamePrefix="/nothing")["logGroups"] == []
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix="kmeans-lowlevel-1/",
                                        orderBy="LogStreamName", limit=1)
    assert "nextToken" not in streams
    [stream] = streams["logStreams"]
    assert re.fullmatch(r"kmeans-lowlevel-1/algo-1-\d+", stream["logStreamName"])
    ev = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                             logStreamName=stream["logStreamName"], startFromHead=True)
    lines = [e["message"] for e in ev["events"]]
    assert any("#quality_metric: host=algo-1, train msd <loss>=" in l for l in lines)
    again = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                logStreamName=stream["logStreamName"], startFromHead=True,
                                nextToken=ev["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == ev["nextForwardToken"]
    # Without startFromHead, the latest events come first; backward tokens
    # page towards the start, each page oldest first.
    pages, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                   logStreamName=stream["logStreamName"], limit=3, **kw)
        if not page["events"]:
            assert page["nextBackwardToken"] == token
            break
        pages.insert(0, [e["message"] for e in page["events"]])
        token = page["nextBackwardToken"]
    assert [l for p in pages for l in p] == lines and len(pages[-1]) == 3
    found = logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                   logStreamNamePrefix="kmeans-lowlevel-1/",
                                   filterPattern="quality_metric")
    assert found["events"] and all("quality_metric" in e["message"] for e in found["events"])
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as e:
        logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                            logStreamName="kmeans-lowlevel-1/algo-9")
    assert e.value.response["Error"]["Message"] == "The specified log stream does not exist."
    # Listing and tags.
    names = [j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"]]
    assert "kmeans-lowlevel-1" in names
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "project", "Value": "kiln"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "project", "Value": "kiln"}]
    sm.delete_tags(ResourceArn=arn, TagKeys=["project"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_duplicate_and_missing(server, data):
    sm = client(server, "sagemaker")
    sm.create_training_job(**job_body("dup-job"))
    with pytest.raises(sm.exceptions.ResourceInUse) as e:
        sm.create_training_job(**job_body("dup-job"))
    assert "Training job names must be unique within an AWS account and region, and a " \
           "training job with this name already exists" in str(e.value)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_training_job(TrainingJobName="no-such-job")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == "Requested resource not found."
    wait(sm, "dup-job")


@pytest.mark.parametrize("change,member", [
    ({"RoleArn": "arn:aws:iam::12345:user/not-a-role"}, "roleArn"),
    ({"TrainingJobName": "bad_name"}, "trainingJobName"),
    ({"AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "Stream"}},
     "algorithmSpecification.trainingInputMode"),
    ({"ResourceConfig": {"InstanceType": "ml.banana.large", "InstanceCount": 1,
                         "VolumeSizeInGB": 1}}, "resourceConfig.instanceType"),
])
def test_bad_requests(server, change, member):
    sm = client(server, "sagemaker")
    body = job_body("bad-request-job", **change)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_training_job(**body)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert f"at '{member}'" in e.value.response["Error"]["Message"]


@pytest.mark.parametrize("change,words", [
    # (InstanceGroups: test_script_mode's heterogeneous cluster tests.)
    ({"OutputDataConfig": {"S3OutputPath": "s3://train-bucket/out", "CompressionType": "NONE"}},
     "CompressionType NONE"),
])
def test_unsupported_features_are_refused_by_name(server, change, words):
    # Sent raw: Debian's botocore predates OutputDataConfig.CompressionType.
    from conftest import send, signed
    req = signed(server, "sagemaker", json.dumps(job_body("unsupported-job", **change)).encode(),
                 {"Content-Type": "application/x-amz-json-1.1",
                  "X-Amz-Target": "SageMaker.CreateTrainingJob"})
    status, _, resp = send(server, *req)
    err = json.loads(resp)
    assert status == 400 and err["__type"] == "ValidationException"
    assert words in err["message"]


def test_duplicate_channel_names_are_rejected(server, data):
    """Two channels of one name would share a directory; before this was
    refused, linking the second over the first emptied the stored object."""
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    body = job_body("dup-channels")
    body["InputDataConfig"] = body["InputDataConfig"] * 2
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_training_job(**body)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Channel names must be unique" in e.value.response["Error"]["Message"]
    got = s3.get_object(Bucket="train-bucket", Key="kmeans_lowlevel_example/data")
    assert got["ContentLength"] == os.path.getsize(data / "data.pbr")


def test_instance_count_over_the_limit(server):
    """InstanceCount past --max-training-instances (16 by default) gets
    ResourceLimitExceeded, as a SageMaker quota does; nothing is created."""
    sm = client(server, "sagemaker")
    body = job_body("too-many-hosts", ResourceConfig={
        "InstanceType": "ml.m5.large", "InstanceCount": 10000, "VolumeSizeInGB": 1})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_training_job(**body)
    err = e.value.response["Error"]
    assert err["Code"] == "ResourceLimitExceeded", err
    assert "is 16 Instances" in err["Message"] and "delta of 10000" in err["Message"]
    with pytest.raises(botocore.exceptions.ClientError):
        sm.describe_training_job(TrainingJobName="too-many-hosts")


def test_missing_role_is_rejected(server):
    # botocore checks required members itself; send the JSON raw.
    from conftest import send, signed
    body = job_body("no-role")
    del body["RoleArn"]
    req = signed(server, "sagemaker", json.dumps(body).encode(), {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "SageMaker.CreateTrainingJob"})
    status, _, resp = send(server, *req)
    err = json.loads(resp)
    assert status == 400 and err["__type"] == "ValidationException"
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" \
        in err["message"]


def test_data_errors_fail_the_job(server, data):
    sm = client(server, "sagemaker")
    body = job_body("missing-bucket")
    body["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://no-such-bucket/x"
    sm.create_training_job(**body)
    d = wait(sm, "missing-bucket")
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: Data download failed: the bucket "
                                         "'no-such-bucket' does not exist")
    sm.create_training_job(**job_body("wrong-dim", HyperParameters={"k": "10",
                                                                    "feature_dim": "783"}))
    d = wait(sm, "wrong-dim")
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: ")
    assert "feature_dim is 783" in d["FailureReason"]
    # The file is named by its path in the channel.
    assert ": train/data, record " in d["FailureReason"], d["FailureReason"]
    sm.create_training_job(**job_body("unknown-image", AlgorithmSpecification={
        "TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/my-own:latest",
        "TrainingInputMode": "File"}))
    d = wait(sm, "unknown-image")
    assert d["TrainingJobStatus"] == "Failed" and "not a kiln built-in" in d["FailureReason"]
    # Bytes that are not UTF-8 (a gzip file given as CSV) reach the reason
    # and the log as '?': both used to be dropped whole, leaving a Failed
    # job without a FailureReason and a log event without a message.
    s3 = client(server, "s3")
    s3.put_object(Bucket="train-bucket", Key="binary/x.csv",
                  Body=b"\x1f\x8b\x08\x00\xff\xfe,1\n")
    body = job_body("binary-csv", HyperParameters={"k": "2", "feature_dim": "2"})
    body["InputDataConfig"][0]["ContentType"] = "text/csv"
    body["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://train-bucket/binary/"
    sm.create_training_job(**body)
    d = wait(sm, "binary-csv")
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: train/x.csv: line 1, column 1: '\x1f?\x08'")
    logs = client(server, "logs")
    [stream] = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                         logStreamNamePrefix="binary-csv/")["logStreams"]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                 logStreamName=stream["logStreamName"])["events"]
    assert events and all("message" in e for e in events)


def test_cli_create_wait_describe(server, data, tmp_path):
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(job_body("cli-job")))
    aws(server, "sagemaker", "create-training-job", "--cli-input-json", f"file://{spec}")
    aws(server, "sagemaker", "wait", "training-job-completed-or-stopped",
        "--training-job-name", "cli-job")
    d = json.loads(aws(server, "sagemaker", "describe-training-job",
                       "--training-job-name", "cli-job").stdout)
    assert d["TrainingJobStatus"] == "Completed"
    assert d["ModelArtifacts"]["S3ModelArtifacts"].endswith("/cli-job/output/model.tar.gz")


def long_job(name, **over):
    body = job_body(name, HyperParameters={"k": "10", "feature_dim": "784",
                                           "mini_batch_size": "5000",
                                           "epochs": "1000000"})
    body.update(over)
    return body


def wait_for(sm, name, secondary, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sm.describe_training_job(TrainingJobName=name)
        if d["SecondaryStatus"] == secondary:
            return d
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {secondary}: {d['SecondaryStatus']}")


def algo_processes():
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if "algo kmeans train" in l and "ps -eo" not in l]


def test_stop_training_job(server, data):
    sm = client(server, "sagemaker")
    sm.create_training_job(**long_job("long-stop"))
    wait_for(sm, "long-stop", "Training")
    time.sleep(0.3)
    t = time.time()
    sm.stop_training_job(TrainingJobName="long-stop")
    d = wait(sm, "long-stop")
    assert time.time() - t < 10
    assert d["TrainingJobStatus"] == "Stopped" and d["SecondaryStatus"] == "Stopped"
    assert "Stopping" in [x["Status"] for x in d["SecondaryStatusTransitions"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.stop_training_job(TrainingJobName="long-stop")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert not [p for p in algo_processes() if "long-stop" in p]


def test_stop_a_job_waiting_for_a_slot(server, data):
    """With every slot taken (--max-jobs, 2 by default), a new job waits;
    stopping it ends it at once, not when a slot frees."""
    sm = client(server, "sagemaker")
    for name in ("slot-1", "slot-2"):
        sm.create_training_job(**long_job(name))
        wait_for(sm, name, "Training")
    sm.create_training_job(**long_job("slot-waiting"))
    time.sleep(0.5)
    d = sm.describe_training_job(TrainingJobName="slot-waiting")
    assert d["TrainingJobStatus"] == "InProgress" and d["SecondaryStatus"] == "Starting"
    sm.stop_training_job(TrainingJobName="slot-waiting")
    d = wait(sm, "slot-waiting")
    assert d["TrainingJobStatus"] == "Stopped"
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]
    assert sm.describe_training_job(TrainingJobName="slot-1")["TrainingJobStatus"] == "InProgress"
    for name in ("slot-1", "slot-2"):
        sm.stop_training_job(TrainingJobName=name)
    for name in ("slot-1", "slot-2"):
        assert wait(sm, name)["TrainingJobStatus"] == "Stopped"
    assert not [p for p in algo_processes() if "slot-" in p]


def test_max_runtime_exceeded(server, data):
    sm = client(server, "sagemaker")
    sm.create_training_job(**long_job("long-runtime",
                                      StoppingCondition={"MaxRuntimeInSeconds": 2}))
    d = wait(sm, "long-runtime")
    assert d["TrainingJobStatus"] == "Stopped"
    assert d["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert d["TrainingTimeInSeconds"] >= 2


def test_server_killed_mid_job(data, tmp_path):
    """kill -9 of the server: after a restart the job is Failed with a reason,
    no model was published, its tree is gone and no algorithm runs on."""
    import shutil
    from conftest import AKID, SECRET, Server
    data_dir = str(tmp_path / "var")
    kiln("admin", "keys", "add", "--data-dir", data_dir, "--access-key-id", AKID,
         "--secret-access-key", SECRET, "--account", ACCOUNT)
    s = Server(data_dir)
    s3 = client(s, "s3")
    s3.create_bucket(Bucket="train-bucket")
    s3.upload_file(str(data / "data.pbr"), "train-bucket", "kmeans_lowlevel_example/data")
    sm = client(s, "sagemaker")
    sm.create_training_job(**long_job("killed-job"))
    wait_for(sm, "killed-job", "Training")
    s.proc.kill()
    s.proc.wait()
    s.log.close()
    time.sleep(0.5)
    assert not algo_processes()
    s = Server(data_dir)
    try:
        sm = client(s, "sagemaker")
        d = sm.describe_training_job(TrainingJobName="killed-job")
        assert d["TrainingJobStatus"] == "Failed"
        assert "kiln server stopped while the training job was running" in d["FailureReason"]
        keys = [o["Key"] for o in client(s, "s3").list_objects_v2(
            Bucket="train-bucket").get("Contents", [])]
        assert not [k for k in keys if "killed-job" in k]
        assert not os.path.exists(os.path.join(data_dir, "jobs", ACCOUNT, "killed-job"))
    finally:
        assert s.stop() == 0


def test_pipe_mode_unpacks_gzip(server, data):
    """CompressionType Gzip: a Pipe-mode channel carries the objects
    decompressed (several gzip members in one object too), as SageMaker's
    Pipe mode does; File mode with Gzip is refused, since the algorithm
    would get the compressed bytes."""
    s3 = client(server, "s3")
    X = np.random.RandomState(8).rand(2000, 4)
    rows = ["%.4f,%.4f,%.4f,%.4f" % tuple(r) for r in X]
    s3.put_object(Bucket="train-bucket", Key="gz/a.csv.gz",
                  Body=gzip.compress("\n".join(rows[:500]).encode() + b"\n"))
    s3.put_object(Bucket="train-bucket", Key="gz/b.csv.gz",
                  Body=gzip.compress("\n".join(rows[500:1200]).encode() + b"\n") +
                  gzip.compress("\n".join(rows[1200:]).encode() + b"\n"))
    sm = client(server, "sagemaker")

    def body(name, mode):
        b = job_body(name, AlgorithmSpecification={"TrainingImage": IMAGE,
                                                   "TrainingInputMode": mode},
                     HyperParameters={"k": "3", "feature_dim": "4", "mini_batch_size": "100"})
        b["InputDataConfig"][0].update(ContentType="text/csv", CompressionType="Gzip")
        b["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://train-bucket/gz/"
        return b
    sm.create_training_job(**body("pipe-gzip", "Pipe"))
    d = wait(sm, "pipe-gzip")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    lines = job_log_lines(server, "pipe-gzip")
    assert any("processed a total of 2000 examples" in l for l in lines), lines
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_training_job(**body("file-gzip", "File"))
    assert "Pipe input mode" in e.value.response["Error"]["Message"]


def test_pipe_mode_shuffle(tmp_path):
    """ShuffleConfig in Pipe mode: each epoch feeds the channel's objects in
    a new order, the same orders again for the same Seed; without it, in
    key order every epoch. Read from the server's debug log of feeds."""
    from conftest import AKID, SECRET, Server
    data_dir = str(tmp_path / "var")
    kiln("admin", "keys", "add", "--data-dir", data_dir, "--access-key-id", AKID,
         "--secret-access-key", SECRET, "--account", ACCOUNT)
    s = Server(data_dir, ["--log-level", "debug"])
    try:
        s3 = client(s, "s3")
        s3.create_bucket(Bucket="shuffle-bucket")
        keys = [f"d/part-{i}.csv" for i in range(6)]
        rng = np.random.RandomState(2)
        for k in keys:
            s3.put_object(Bucket="shuffle-bucket", Key=k, Body="\n".join(
                ",".join("%.3f" % v for v in row) for row in rng.rand(50, 4)).encode() + b"\n")
        sm = client(s, "sagemaker")

        def orders(name, shuffle):
            b = job_body(name, AlgorithmSpecification={"TrainingImage": IMAGE,
                                                       "TrainingInputMode": "Pipe"},
                         HyperParameters={"k": "2", "feature_dim": "4",
                                          "mini_batch_size": "50", "epochs": "3"})
            ch = b["InputDataConfig"][0]
            ch.update(ContentType="text/csv", **shuffle)
            ch["DataSource"]["S3DataSource"]["S3Uri"] = "s3://shuffle-bucket/d/"
            b["OutputDataConfig"]["S3OutputPath"] = "s3://shuffle-bucket/out"
            start = len(s.stderr())
            sm.create_training_job(**b)
            d = wait(sm, name)
            assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
            fed = {}
            for m in re.finditer(r'event=pipe_feed epoch=(\d+) key="([^"]+)"',
                                 s.stderr()[start:]):
                fed.setdefault(int(m.group(1)), []).append(m.group(2))
            return fed
        plain = orders("no-shuffle", {})
        assert sorted(plain) == [0, 1, 2] and all(plain[e] == keys for e in plain)
        first = orders("shuffle-1", {"ShuffleConfig": {"Seed": 7}})
        assert all(sorted(first[e]) == keys for e in first)
        assert len({tuple(first[e]) for e in first}) > 1
        again = orders("shuffle-2", {"ShuffleConfig": {"Seed": 7}})
        assert again == first
    finally:
        assert s.stop() == 0


def test_pipe_mode(server, data):
    """Pipe mode: the channel arrives as FIFOs train_0, train_1, ... fed from
    the object store; k-means reads one per pass (3 epochs here) and the
    test channel through its own FIFO."""
    sm = client(server, "sagemaker")
    body = job_body("pipe-job", AlgorithmSpecification={"TrainingImage": IMAGE,
                                                        "TrainingInputMode": "Pipe"},
                    HyperParameters={"k": "10", "feature_dim": "784",
                                     "mini_batch_size": "1000", "epochs": "3"})
    body["InputDataConfig"].append({
        "ChannelName": "test", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix",
            "S3Uri": "s3://train-bucket/kmeans_lowlevel_example/data"}}})
    sm.create_training_job(**body)
    d = wait(sm, "pipe-job")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics["test:msd"] > 0
    lines = job_log_lines(server, "pipe-job")
    assert any("processed a total of 15000 examples" in l for l in lines), lines
    # The metric time series is kept per job: one progress sample per epoch.
    import sqlite3
    db = sqlite3.connect(os.path.join(server.data_dir, "kiln.db"))
    series = [round(v, 1) for (v,) in db.execute(
        "SELECT value FROM metrics WHERE arn = ? AND name = 'train:progress' "
        "ORDER BY ts", (d["TrainingJobArn"],))]
    db.close()
    assert series == [33.3, 66.7, 100.0]


def test_augmented_manifest_channel(server, data):
    """An AugmentedManifestFile names its objects by attribute; the job reads
    those objects (here two CSV shards) as its channel."""
    s3 = client(server, "s3")
    rows = np.random.RandomState(3).rand(40, 784)
    for i in (0, 1):
        s3.put_object(Bucket="train-bucket", Key=f"aug/part-{i}.csv",
                      Body="\n".join(",".join(f"{x:.4f}" for x in r)
                                     for r in rows[i * 20:(i + 1) * 20]).encode())
    lines = [json.dumps({"source-ref": f"s3://train-bucket/aug/part-{i}.csv", "label": i})
             for i in (0, 1)]
    s3.put_object(Bucket="train-bucket", Key="aug/manifest.jsonl", Body="\n".join(lines).encode())
    sm = client(server, "sagemaker")
    body = job_body("augmented-job", HyperParameters={"k": "2", "feature_dim": "784"})
    body["InputDataConfig"][0].update(ContentType="text/csv")
    body["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(
        S3DataType="AugmentedManifestFile", S3Uri="s3://train-bucket/aug/manifest.jsonl",
        AttributeNames=["source-ref", "label"])
    sm.create_training_job(**body)
    d = wait(sm, "augmented-job")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")


def test_fifty_tiny_jobs_at_once(server, data):
    """50 jobs submitted together all complete (at most max-jobs run at a
    time; the rest wait their turn in Starting)."""
    from concurrent.futures import ThreadPoolExecutor
    s3 = client(server, "s3")
    rows = np.random.RandomState(4).rand(30, 4)
    s3.put_object(Bucket="train-bucket", Key="tiny/data.csv",
                  Body="\n".join(",".join(f"{x:.4f}" for x in r) for r in rows).encode())

    def submit(i):
        sm = client(server, "sagemaker")
        body = job_body(f"tiny-{i}", HyperParameters={"k": "2", "feature_dim": "4"})
        body["InputDataConfig"][0].update(ContentType="text/csv")
        body["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = \
            "s3://train-bucket/tiny/data.csv"
        sm.create_training_job(**body)
        return wait(sm, f"tiny-{i}")["TrainingJobStatus"]

    with ThreadPoolExecutor(10) as ex:
        statuses = list(ex.map(submit, range(50)))
    assert statuses == ["Completed"] * 50


def test_sdk_high_level_fields(server, data):
    """What the SDK's KMeans.fit sends besides the low-level notebook's
    fields: force_dense, DebugHookConfig, ProfilerConfig, Tags: []. They are
    accepted, the job completes, and Describe echoes the configs."""
    sm = client(server, "sagemaker")
    out = "s3://train-bucket/kmeans_example/output"
    body = job_body("sdk-fields", Tags=[],
                    HyperParameters={"force_dense": "True", "k": "10", "feature_dim": "784"},
                    DebugHookConfig={"S3OutputPath": out, "CollectionConfigurations": []},
                    ProfilerConfig={"S3OutputPath": out, "DisableProfiler": False})
    sm.create_training_job(**body)
    d = wait(sm, "sdk-fields")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["DebugHookConfig"]["S3OutputPath"] == out
    assert d["ProfilerConfig"] == {"S3OutputPath": out, "DisableProfiler": False}
    assert d["HyperParameters"]["force_dense"] == "True"
