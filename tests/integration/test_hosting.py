"""[F6] models, endpoint configs, endpoints and InvokeEndpoint through boto3
and the aws CLI, against a real server running real model servers."""
import base64
import datetime
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import botocore.exceptions
import numpy as np
import pytest

from conftest import (ACCOUNT, KILN, Server, aws, client, model_tgz,
                      own_data_dir, refused, run_js, send, signed)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = "174872318107.dkr.ecr.us-west-2.amazonaws.com/kmeans:1"
D = 8




CENTERS_A = np.array([[10.0 * c] * D for c in range(4)], np.float32)
CENTERS_B = np.array([[-5.0 * c] * D for c in range(3)], np.float32)


def add_model(sm, name, key, s3=None, body=None):
    """Model `name` serving s3://models/<key>/model.tar.gz, uploaded first
    (through s3) when body is given."""
    if body is not None:
        s3.put_object(Bucket="models", Key=f"{key}/model.tar.gz", Body=body)
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://models/{key}/model.tar.gz"})


@pytest.fixture(scope="module")
def models(server):
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    s3.create_bucket(Bucket="models")
    add_model(sm, "model-a", "a", s3, model_tgz(CENTERS_A))
    add_model(sm, "model-b", "b", s3, model_tgz(CENTERS_B))
    return sm


def deploy(sm, endpoint, variants):
    sm.create_endpoint_config(EndpointConfigName=endpoint + "-config", ProductionVariants=[
        {"VariantName": v, "ModelName": m, "InitialInstanceCount": n,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": w}
        for v, m, n, w in variants])
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint + "-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def nearest(C, X):
    d2 = ((X[:, None, :] - C[None, :, :]) ** 2).sum(-1)
    return d2.argmin(1), np.sqrt(d2.min(1))


def test_deploy_and_invoke_every_format(server, models):
    sm = models
    deploy(sm, "ep-formats", [("AllTraffic", "model-a", 1, 1.0)])
    d = sm.describe_endpoint(EndpointName="ep-formats")
    assert d["EndpointStatus"] == "InService"
    assert d["EndpointConfigName"] == "ep-formats-config"
    [v] = d["ProductionVariants"]
    assert v["VariantName"] == "AllTraffic" and v["CurrentInstanceCount"] == 1
    assert v["CurrentWeight"] == 1.0
    rt = client(server, "sagemaker-runtime")
    rng = np.random.RandomState(1)
    X = (rng.rand(100, D) * 35).astype(np.float32)
    want_c, want_d = nearest(CENTERS_A, X)

    def check(clusters, dists, n):
        assert list(clusters) == list(want_c[:n])
        assert np.allclose(dists, want_d[:n], rtol=1e-5, atol=1e-5)

    for n in (1, 100):
        body = "\n".join(",".join(f"{x:g}" for x in row) for row in X[:n])
        r = rt.invoke_endpoint(EndpointName="ep-formats", ContentType="text/csv", Body=body)
        assert r["ContentType"] == "application/json"
        assert r["InvokedProductionVariant"] == "AllTraffic"
        p = json.loads(r["Body"].read())["predictions"]
        check([q["closest_cluster"] for q in p], [q["distance_to_cluster"] for q in p], n)
    js = json.dumps({"instances": [{"features": row.tolist()} for row in X[:10]]})
    r = rt.invoke_endpoint(EndpointName="ep-formats", ContentType="application/json",
                           Accept="application/jsonlines", Body=js)
    lines = [json.loads(l) for l in r["Body"].read().decode().splitlines()]
    check([q["closest_cluster"] for q in lines], [q["distance_to_cluster"] for q in lines], 10)
    jl = "\n".join(json.dumps({"data": {"features": {"values": row.tolist()}}}) for row in X[:5])
    r = rt.invoke_endpoint(EndpointName="ep-formats", ContentType="application/jsonlines",
                           Accept="text/csv", Body=jl)
    rows = [l.split(",") for l in r["Body"].read().decode().splitlines()]
    check([float(a) for a, b in rows], [float(b) for a, b in rows], 5)
    # RecordIO in and out, as the SDK's KMeansPredictor talks.
    rio = subprocess.run([KILN, "admin", "convert", "--from", "csv", "--to", "recordio",
                          "/dev/stdin", "/dev/stdout"],
                         input="\n".join(",".join(f"{x:g}" for x in row) for row in X[:7]).encode(),
                         capture_output=True, check=True).stdout
    r = rt.invoke_endpoint(EndpointName="ep-formats", ContentType="application/x-recordio-protobuf",
                           Accept="application/x-recordio-protobuf", Body=rio)
    out = r["Body"].read()
    assert r["ContentType"] == "application/x-recordio-protobuf"
    got = []
    pos = 0
    while pos < len(out):
        magic, length = struct.unpack("<II", out[pos:pos + 8])
        assert magic == 0xCED7230A
        rec = out[pos + 8:pos + 8 + length]
        pos += 8 + length + ((-length) % 4)
        vals = struct.unpack("<f", rec[rec.index(b"closest_cluster") + 15 + 6:][:4])[0], \
            struct.unpack("<f", rec[rec.index(b"distance_to_cluster") + 19 + 6:][:4])[0]
        got.append(vals)
    check([a for a, b in got], [b for a, b in got], 7)
    # Accept is negotiated: the listed type with the highest q kiln answers.
    row = ",".join(f"{x:g}" for x in X[0])
    for accept, want in [("text/csv, application/json;q=0.5", "text/csv"),
                         ("application/json;q=0.1, application/jsonlines", "application/jsonlines"),
                         ("image/png, */*;q=0.1", "application/json"),
                         ("text/*", "text/csv")]:
        r = rt.invoke_endpoint(EndpointName="ep-formats", ContentType="text/csv",
                               Accept=accept, Body=row)
        assert r["ContentType"] == want, accept
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="ep-formats", ContentType="text/csv",
                           Accept="text/csv;q=0, image/png", Body=row)
    assert e.value.response["Error"]["Code"] == "ModelError"
    assert e.value.response["OriginalStatusCode"] == 406


def test_errors(server, models):
    rt = client(server, "sagemaker-runtime")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="ep-formats", ContentType="text/csv", Body="1,2,3")
    err = e.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 400
    assert "line 1 has 3 columns, expected 8" in err["OriginalMessage"]
    assert "Received client error (400) from AllTraffic" in err["Error"]["Message"]
    # Headers past the service model's limits.
    for kw, member in (({"CustomAttributes": "a" * 1025}, "customAttributes"),
                       ({"InferenceId": "i" * 65}, "inferenceId"),
                       ({"TargetVariant": "-AllTraffic"}, "targetVariant")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            rt.invoke_endpoint(EndpointName="ep-formats", ContentType="text/csv",
                               Body=",".join(["1"] * D), **kw)
        assert e.value.response["Error"]["Code"] == "ValidationError"
        assert f"at '{member}' failed to satisfy constraint" in e.value.response["Error"]["Message"]
    # A model server's message quoting bytes that are not UTF-8.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="ep-formats", ContentType="text/csv",
                           Body=b"1,\xff\xfe" + b",1" * (D - 2))
    assert e.value.response["Error"]["Code"] == "ModelError"
    assert e.value.response["OriginalMessage"] == "line 1, column 2: '??' is not a number"
    assert "'??' is not a number" in e.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="ep-formats", ContentType="image/png", Body=b"x")
    assert e.value.response["OriginalStatusCode"] == 415
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="nope", ContentType="text/csv", Body="1")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == f"Endpoint nope of account {ACCOUNT} not found."
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="ep-formats", ContentType="text/csv",
                           Body=b"1," * (3_600_000))
    assert e.value.response["Error"]["Code"] == "ValidationError"
    # The server is still up.
    assert rt.invoke_endpoint(EndpointName="ep-formats", ContentType="text/csv",
                              Body=",".join(["1"] * D))["ResponseMetadata"]["HTTPStatusCode"] == 200
    sm = models
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_model(ModelName="model-a", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://models/a/model.tar.gz"})
    assert "Cannot create already existing model" in str(e.value)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_model(ModelName="missing-model")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find model" in e.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_endpoint(EndpointName="x", EndpointConfigName="missing-config")
    assert "Could not find endpoint configuration" in str(e.value)
    # Features kiln does not run are refused by name, not silently dropped.
    variant = {"VariantName": "v", "ModelName": "model-a", "InitialInstanceCount": 1,
               "InstanceType": "ml.m5.large"}
    for extra, words in (
            ({"ExplainerConfig": {"ClarifyExplainerConfig": {"ShapConfig": {
                "ShapBaselineConfig": {"MimeType": "text/csv"}}}}}, "ExplainerConfig"),
            ({"ShadowProductionVariants": [variant]}, "appears more than once")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_endpoint_config(**{"EndpointConfigName": "unsupported",
                                         "ProductionVariants": [variant], **extra})
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert words in e.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError):
        sm.describe_endpoint_config(EndpointConfigName="unsupported")
    container = {"Image": IMAGE, "ModelDataUrl": "s3://models/a/model.tar.gz"}
    for kw, words in (({"Containers": [container, container]}, "inference pipelines"),
                      ({"PrimaryContainer": container, "Containers": [container]}, "not both")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_model(ModelName="unsupported-model", ExecutionRoleArn=ROLE, **kw)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert words in e.value.response["Error"]["Message"]


def test_serverless_variant(server, models):
    """A ServerlessConfig variant runs as one model server held to its
    MaxConcurrency: requests past it get ThrottlingException (which the SDKs
    retry); DescribeEndpoint shows the serverless config, not instances."""
    sm = models
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 1}
    sm.create_endpoint_config(EndpointConfigName="ep-serverless-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "model-a", "ServerlessConfig": serverless}])
    cfg = sm.describe_endpoint_config(EndpointConfigName="ep-serverless-config")
    assert cfg["ProductionVariants"][0]["ServerlessConfig"] == serverless
    assert "InitialInstanceCount" not in cfg["ProductionVariants"][0]
    sm.create_endpoint(EndpointName="ep-serverless", EndpointConfigName="ep-serverless-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-serverless",
                                              WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    [v] = sm.describe_endpoint(EndpointName="ep-serverless")["ProductionVariants"]
    assert v["CurrentServerlessConfig"] == v["DesiredServerlessConfig"] == serverless
    assert "CurrentInstanceCount" not in v
    X = np.random.RandomState(4).uniform(-5, 35, (40000, D)).astype(np.float32)
    body = "\n".join(",".join("%.3f" % x for x in row) for row in X).encode()
    request = signed(server, "sagemaker", body, {"Content-Type": "text/csv"},
                     path="/endpoints/ep-serverless/invocations")
    results = [(status, len(answer["predictions"]) if status == 200 else answer["__type"])
               for status, answer in send_together(server, [request] * 6)]
    assert (200, len(X)) in results
    assert (429, "ThrottlingException") in results
    assert set(results) <= {(200, len(X)), (429, "ThrottlingException")}
    # What serverless variants cannot be given.
    bad = [
        [{"VariantName": "a", "ModelName": "model-a", "ServerlessConfig": serverless},
         {"VariantName": "b", "ModelName": "model-a", "InstanceType": "ml.m5.large",
          "InitialInstanceCount": 1}],
        [{"VariantName": "a", "ModelName": "model-a", "ServerlessConfig": serverless,
          "InstanceType": "ml.m5.large"}],
        [{"VariantName": "a", "ModelName": "model-a",
          "ServerlessConfig": {"MemorySizeInMB": 1500, "MaxConcurrency": 1}}],
        [{"VariantName": "a", "ModelName": "model-a",
          "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 201}}],
    ]
    for variants in bad:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_endpoint_config(EndpointConfigName="bad-serverless",
                                      ProductionVariants=variants)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.update_endpoint_weights_and_capacities(
            EndpointName="ep-serverless",
            DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}])
    assert "serverless" in e.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName="ep-serverless")


def test_weights_target_variant_and_cli(server, models, tmp_path):
    sm = models
    deploy(sm, "ep-split", [("A", "model-a", 1, 3.0), ("B", "model-b", 1, 1.0)])
    rt = client(server, "sagemaker-runtime")
    row = ",".join(["1"] * D)
    counts = {"A": 0, "B": 0}
    for _ in range(4000):
        r = rt.invoke_endpoint(EndpointName="ep-split", ContentType="text/csv", Body=row)
        counts[r["InvokedProductionVariant"]] += 1
    assert abs(counts["A"] / 4000 - 0.75) < 0.05, counts
    for _ in range(20):
        r = rt.invoke_endpoint(EndpointName="ep-split", ContentType="text/csv", Body=row,
                               TargetVariant="B")
        assert r["InvokedProductionVariant"] == "B"
    body = tmp_path / "row.csv"
    body.write_text(row)
    out = tmp_path / "out.json"
    aws(server, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", "ep-split",
        "--body", f"fileb://{body}", "--content-type", "text/csv", str(out))
    assert "predictions" in json.loads(out.read_text())
    # Weights and capacities change in place: A gets no traffic, B two
    # instances. DescribeEndpoint shows the desired values at once.
    sm.update_endpoint_weights_and_capacities(EndpointName="ep-split", DesiredWeightsAndCapacities=[
        {"VariantName": "A", "DesiredWeight": 0},
        {"VariantName": "B", "DesiredInstanceCount": 2}])
    pv = {v["VariantName"]: v for v in
          sm.describe_endpoint(EndpointName="ep-split")["ProductionVariants"]}
    assert pv["A"]["DesiredWeight"] == 0 and pv["B"]["DesiredInstanceCount"] == 2
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-split",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    pv = {v["VariantName"]: v for v in
          sm.describe_endpoint(EndpointName="ep-split")["ProductionVariants"]}
    assert (pv["A"]["CurrentWeight"], pv["A"]["CurrentInstanceCount"]) == (0, 1)
    assert (pv["B"]["CurrentWeight"], pv["B"]["CurrentInstanceCount"]) == (1, 2)
    for _ in range(200):
        r = rt.invoke_endpoint(EndpointName="ep-split", ContentType="text/csv", Body=row)
        assert r["InvokedProductionVariant"] == "B"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.update_endpoint_weights_and_capacities(EndpointName="ep-split", DesiredWeightsAndCapacities=[
            {"VariantName": "C", "DesiredWeight": 1}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    # A target model is for multi-model endpoints, which kiln's are not.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="ep-split", ContentType="text/csv", Body=row,
                           TargetModel="a.tar.gz")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "not a multi-model endpoint" in e.value.response["Error"]["Message"]


def test_update_without_downtime_and_crash_recovery(server, models):
    sm = models
    deploy(sm, "ep-live", [("AllTraffic", "model-a", 2, 1.0)])
    rt = client(server, "sagemaker-runtime", retries=1)
    row = ",".join(["1"] * D)
    failures, calls = [], [0]
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                rt.invoke_endpoint(EndpointName="ep-live", ContentType="text/csv", Body=row)
            except Exception as e:  # noqa: BLE001 - counted, not hidden
                failures.append(repr(e))
            calls[0] += 1

    t = threading.Thread(target=loop)
    t.start()
    try:
        time.sleep(0.3)
        # Kill one instance: the other keeps answering while it restarts.
        out = subprocess.run(["pgrep", "-f", "algo kmeans serve"], capture_output=True,
                             text=True).stdout.split()
        os.kill(int(out[0]), signal.SIGKILL)
        time.sleep(0.5)
        sm.create_endpoint_config(EndpointConfigName="ep-live-config-2", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "model-b", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}])
        sm.update_endpoint(EndpointName="ep-live", EndpointConfigName="ep-live-config-2")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-live",
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    assert calls[0] > 50
    assert failures == []
    d = sm.describe_endpoint(EndpointName="ep-live")
    assert d["EndpointConfigName"] == "ep-live-config-2"
    r = rt.invoke_endpoint(EndpointName="ep-live", ContentType="text/csv", Body=row)
    assert json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] == 0.0


def test_describe_while_updating(server, models):
    """While an UpdateEndpoint is in progress DescribeEndpoint shows it as
    SageMaker does, in PendingDeploymentSummary, and nothing of kiln's own
    bookkeeping; a weights change shows its desired values instead."""
    sm = models
    deploy(sm, "ep-pending", [("AllTraffic", "model-a", 1, 1.0)])
    sm.create_endpoint_config(EndpointConfigName="ep-pending-3", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "model-b", "InitialInstanceCount": 3,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": 2.0}])
    wait = {"Delay": 0.2, "MaxAttempts": 150}
    seen = 0
    for config in ("ep-pending-3", "ep-pending-config") * 3:
        t0 = time.time()
        sm.update_endpoint(EndpointName="ep-pending", EndpointConfigName=config)
        d = sm.describe_endpoint(EndpointName="ep-pending")
        assert not [k for k in d if k.startswith("Kiln") or k == "PendingDeployment"]
        if d["EndpointStatus"] == "Updating":
            seen += 1
            p = d["PendingDeploymentSummary"]
            assert p["EndpointConfigName"] == config
            assert abs(p["StartTime"].timestamp() - t0) < 60
            n, w = (3, 2.0) if config == "ep-pending-3" else (1, 1.0)
            assert p["ProductionVariants"] == [{"VariantName": "AllTraffic", "DesiredWeight": w,
                                                "DesiredInstanceCount": n,
                                                "InstanceType": "ml.m5.large"}]
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-pending", WaiterConfig=wait)
        d = sm.describe_endpoint(EndpointName="ep-pending")
        assert "PendingDeploymentSummary" not in d and d["EndpointConfigName"] == config
    assert seen
    sm.update_endpoint_weights_and_capacities(EndpointName="ep-pending", DesiredWeightsAndCapacities=[
        {"VariantName": "AllTraffic", "DesiredInstanceCount": 2}])
    d = sm.describe_endpoint(EndpointName="ep-pending")
    assert "PendingDeploymentSummary" not in d
    assert d["EndpointStatus"] == "InService" or d["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-pending", WaiterConfig=wait)
    sm.delete_endpoint(EndpointName="ep-pending")


def test_update_retaining_variant_properties(server, models):
    """UpdateEndpoint with RetainAllVariantProperties keeps the weights and
    instance counts set since (ExcludeRetainedVariantProperties names what
    comes from the new config after all); a DeploymentConfig kiln cannot
    follow is refused by name."""
    sm = models
    wait = {"Delay": 0.2, "MaxAttempts": 150}
    deploy(sm, "ep-retain", [("AllTraffic", "model-a", 1, 1.0)])
    sm.update_endpoint_weights_and_capacities(EndpointName="ep-retain", DesiredWeightsAndCapacities=[
        {"VariantName": "AllTraffic", "DesiredWeight": 3.0, "DesiredInstanceCount": 2}])
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-retain", WaiterConfig=wait)
    sm.create_endpoint_config(EndpointConfigName="ep-retain-b", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "model-b", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
    all_at_once = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}}

    def variant():
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-retain", WaiterConfig=wait)
        d = sm.describe_endpoint(EndpointName="ep-retain")
        assert d["EndpointConfigName"] == "ep-retain-b" and "FailureReason" not in d
        [v] = d["ProductionVariants"]
        return v["CurrentWeight"], v["CurrentInstanceCount"]
    sm.update_endpoint(EndpointName="ep-retain", EndpointConfigName="ep-retain-b",
                       RetainAllVariantProperties=True, DeploymentConfig=all_at_once)
    assert variant() == (3.0, 2)
    rt = client(server, "sagemaker-runtime")
    r = rt.invoke_endpoint(EndpointName="ep-retain", ContentType="text/csv",
                           Body=",".join(["-9"] * D))
    assert json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] == 2.0
    sm.update_endpoint(EndpointName="ep-retain", EndpointConfigName="ep-retain-b",
                       RetainAllVariantProperties=True, ExcludeRetainedVariantProperties=[
                           {"VariantPropertyType": "DesiredInstanceCount"}])
    assert variant() == (3.0, 1)
    sm.update_endpoint(EndpointName="ep-retain", EndpointConfigName="ep-retain-b")
    assert variant() == (1.0, 1)
    for config, words in (
            ({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 60,
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}}},
             "CanarySize must be less than the whole new fleet (1 instances)"),
            (dict(all_at_once, AutoRollbackConfiguration={"Alarms": [{"AlarmName": "a"}]}),
             "alarm a in AutoRollbackConfiguration does not exist")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.update_endpoint(EndpointName="ep-retain", EndpointConfigName="ep-retain-b",
                               DeploymentConfig=config)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert words in e.value.response["Error"]["Message"]
    status, answer = sagemaker_raw(server, "UpdateEndpoint", {
        "EndpointName": "ep-retain", "EndpointConfigName": "ep-retain-b",
        "DeploymentConfig": {"RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 60}}})
    assert status == 400 and "a rolling deployment needs at least 2" in answer["message"]
    assert sm.describe_endpoint(EndpointName="ep-retain")["EndpointStatus"] == "InService"
    sm.delete_endpoint(EndpointName="ep-retain")


def test_failed_update_rolls_back(server, models):
    sm = models
    deploy(sm, "ep-rollback", [("AllTraffic", "model-a", 1, 1.0)])
    add_model(sm, "model-broken", "broken", client(server, "s3"), b"not a tarball")
    sm.create_endpoint_config(EndpointConfigName="ep-rollback-broken", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "model-broken", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    sm.update_endpoint(EndpointName="ep-rollback", EndpointConfigName="ep-rollback-broken")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-rollback",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    d = sm.describe_endpoint(EndpointName="ep-rollback")
    assert d["EndpointConfigName"] == "ep-rollback-config"
    assert "previous configuration" in d["FailureReason"]
    rt = client(server, "sagemaker-runtime")
    r = rt.invoke_endpoint(EndpointName="ep-rollback", ContentType="text/csv",
                           Body=",".join(["10"] * D))
    assert json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] == 1.0
    # A good update afterwards clears the failure.
    sm.update_endpoint(EndpointName="ep-rollback", EndpointConfigName="ep-rollback-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-rollback",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert "FailureReason" not in sm.describe_endpoint(EndpointName="ep-rollback")
    sm.delete_endpoint(EndpointName="ep-rollback")
    # Created on the broken model, an endpoint fails, and says why.
    sm.create_endpoint(EndpointName="ep-broken", EndpointConfigName="ep-rollback-broken")
    with pytest.raises(botocore.exceptions.WaiterError):
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-broken",
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    d = sm.describe_endpoint(EndpointName="ep-broken")
    assert d["EndpointStatus"] == "Failed" and "model" in d["FailureReason"], d
    sm.delete_endpoint(EndpointName="ep-broken")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="ep-broken",
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def model_servers(server):
    """(pid, KILN_SERVE_SOCKET) of each model-server process the server
    runs (its children with a socket in their environment)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != server.proc.pid:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        found += [(int(pid), e.split(b"=", 1)[1].decode()) for e in env
                  if e.startswith(b"KILN_SERVE_SOCKET=")]
    return found


def instance_pids(server):
    return [pid for pid, _ in model_servers(server)]


def instance_sockets(server):
    """The Unix sockets of the server's model servers."""
    return [sock for _, sock in model_servers(server)]


def instance_connections(socks):
    """The inodes of the connections the model servers on socks accepted."""
    ss = subprocess.run(["ss", "-x", "-n"], capture_output=True, text=True).stdout
    found = set()
    for line in ss.splitlines():
        f = line.split()
        if len(f) >= 6 and f[1] == "ESTAB" and f[4] in socks:
            found.add(f[5])
    return found


def test_instance_connections_are_reused(server, models):
    """Every invocation below comes on a new client connection (a new boto3
    client each, so a new front-door thread), yet the connection to the
    model server opened by the first one still serves the last: the
    connections to instances are kept alive in one shared pool."""
    others = set(instance_sockets(server))
    deploy(models, "reuse", [("AllTraffic", "model-a", 1, 1.0)])
    socks = set(instance_sockets(server)) - others
    assert len(socks) == 1

    def invoke():
        rt = client(server, "sagemaker-runtime")
        r = rt.invoke_endpoint(EndpointName="reuse", ContentType="text/csv",
                               Body=",".join(["1"] * D))
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        rt.close()

    invoke()
    first = instance_connections(socks)
    for _ in range(30):
        invoke()
    last = instance_connections(socks)
    assert first and first & last, (first, last)
    assert len(last) <= 4, last
    models.delete_endpoint(EndpointName="reuse")


def test_delete_config_then_endpoint(server, models):
    sm = models
    deploy(sm, "ep-delete", [("AllTraffic", "model-a", 1, 1.0)])
    sm.delete_endpoint_config(EndpointConfigName="ep-delete-config")
    rt = client(server, "sagemaker-runtime")
    rt.invoke_endpoint(EndpointName="ep-delete", ContentType="text/csv", Body=",".join(["1"] * D))
    names = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert "ep-delete" in names
    sm.delete_endpoint(EndpointName="ep-delete")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="ep-delete",
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_endpoint(EndpointName="ep-delete")
    assert "Could not find endpoint" in e.value.response["Error"]["Message"]
    sm.delete_model(ModelName="model-b")
    with pytest.raises(botocore.exceptions.ClientError):
        sm.describe_model(ModelName="model-b")


def test_delete_while_creating_or_updating(server, models):
    """DeleteEndpoint right after CreateEndpoint or UpdateEndpoint: the
    fleet that was starting is stopped, nothing comes back, nothing is
    left behind. Updating an endpoint that does not exist is refused."""
    sm = models
    others = set(instance_sockets(server))
    for name, n in (("racy-1", 1), ("racy-2", 2)):
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "model-a", "InitialInstanceCount": n,
             "InstanceType": "ml.m5.large"}])
    for i in range(3):
        sm.create_endpoint(EndpointName=f"racy-c{i}", EndpointConfigName="racy-1")
        sm.delete_endpoint(EndpointName=f"racy-c{i}")
        sm.create_endpoint(EndpointName=f"racy-u{i}", EndpointConfigName="racy-1")
        sm.get_waiter("endpoint_in_service").wait(EndpointName=f"racy-u{i}",
                                                  WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        sm.update_endpoint(EndpointName=f"racy-u{i}", EndpointConfigName="racy-2")
        sm.delete_endpoint(EndpointName=f"racy-u{i}")
    for i in range(3):
        for name in (f"racy-c{i}", f"racy-u{i}"):
            sm.get_waiter("endpoint_deleted").wait(EndpointName=name,
                                                   WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    time.sleep(1)  # a fleet that outlived its endpoint would now be InService
    assert not [e for e in sm.list_endpoints()["Endpoints"]
                if e["EndpointName"].startswith("racy")]
    assert set(instance_sockets(server)) == others
    kept = os.listdir(os.path.join(server.data_dir, "endpoint-models"))
    assert not [k for k in kept if "racy" in k], kept
    for call, kw in ((sm.update_endpoint, {"EndpointConfigName": "racy-1"}),
                     (sm.update_endpoint_weights_and_capacities,
                      {"DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic",
                                                        "DesiredWeight": 1.0}]})):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(EndpointName="racy-none", **kw)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert "Could not find endpoint" in e.value.response["Error"]["Message"]


def send_together(server, requests):
    """Sends every signed (method, path, headers, body) at the same moment:
    all connected first, then written back to back. The answers in order:
    (status, JSON body)."""
    socks, results = [], []
    for method, path, headers, body in requests:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host")
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        socks.append((socket.create_connection(("127.0.0.1", server.port)), head.encode() + body))
    for sock, data in socks:
        sock.sendall(data)
    for sock, _ in socks:
        r = http.client.HTTPResponse(sock)
        r.begin()
        results.append((r.status, json.loads(r.read() or b"{}")))
        sock.close()
    return results


def burst(server, calls):
    """SageMaker (operation, params) calls sent together: "ok" or (error
    code, message) for each."""
    return ["ok" if status == 200 else (body.get("__type", "").split("#")[-1],
                                        body.get("message", ""))
            for status, body in send_together(server, [
                signed(server, "sagemaker", json.dumps(params).encode(),
                       {"Content-Type": "application/x-amz-json-1.1",
                        "X-Amz-Target": "SageMaker." + op})
                for op, params in calls])]


def test_concurrent_changes_to_one_endpoint(server, models):
    """UpdateEndpoint, UpdateEndpointWeightsAndCapacities and DeleteEndpoint
    on one endpoint at the same moment. Each call is accepted or refused as
    SageMaker refuses a change to an endpoint in progress; two accepted at
    once used to start an update with nothing to deploy, and the next
    invocation crashed the server."""
    sm = models
    rt = client(server, "sagemaker-runtime")
    others = set(instance_sockets(server))
    for name, n in (("busy-1", 1), ("busy-2", 2)):
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "model-a", "InitialInstanceCount": n,
             "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="busy", EndpointConfigName="busy-1")
    wait = {"Delay": 0.2, "MaxAttempts": 150}
    sm.get_waiter("endpoint_in_service").wait(EndpointName="busy", WaiterConfig=wait)
    update = ("UpdateEndpoint", {"EndpointName": "busy", "EndpointConfigName": "busy-2"})
    weights = ("UpdateEndpointWeightsAndCapacities", {
        "EndpointName": "busy", "DesiredWeightsAndCapacities": [
            {"VariantName": "AllTraffic", "DesiredWeight": 2.0, "DesiredInstanceCount": 1}]})
    delete = ("DeleteEndpoint", {"EndpointName": "busy"})
    X = np.full((1, D), 21.0, np.float32)
    for _ in range(4):
        results = burst(server, [update, weights] * 4)
        assert "ok" in results
        for r in results:
            assert r == "ok" or (r[0] == "ValidationException"
                                 and "Cannot update in-progress endpoint" in r[1]), r
        sm.get_waiter("endpoint_in_service").wait(EndpointName="busy", WaiterConfig=wait)
        desc = sm.describe_endpoint(EndpointName="busy")
        assert "FailureReason" not in desc, desc["FailureReason"]
        assert [v["VariantName"] for v in desc["ProductionVariants"]] == ["AllTraffic"]
        for _ in range(10):
            out = json.loads(rt.invoke_endpoint(EndpointName="busy", ContentType="text/csv",
                                                Body="21" + ",21" * (D - 1))["Body"].read())
            assert out["predictions"][0]["closest_cluster"] == nearest(CENTERS_A, X)[0][0]
    results = burst(server, [update, weights, delete] * 3)
    assert "ok" in results[2::3]
    for r in results:
        assert r == "ok" or (r[0] == "ValidationException" and (
            "Cannot update in-progress endpoint" in r[1] or "Could not find endpoint" in r[1])), r
    sm.get_waiter("endpoint_deleted").wait(EndpointName="busy", WaiterConfig=wait)
    time.sleep(1)  # an update that outlived the delete would bring it back now
    assert "busy" not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert set(instance_sockets(server)) == others


def test_delete_twice_then_create_again(server, models):
    """Scripts delete an endpoint more than once and create it again as soon
    as the name is free. The second DeleteEndpoint used to queue another
    deletion, which then deleted the new endpoint's record or left two
    fleets for one endpoint."""
    sm = models
    others = set(instance_sockets(server))
    sm.create_endpoint_config(EndpointConfigName="again-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "model-a", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    create = ("CreateEndpoint", {"EndpointName": "again", "EndpointConfigName": "again-config"})
    wait = {"Delay": 0.2, "MaxAttempts": 150}
    sm.create_endpoint(EndpointName="again", EndpointConfigName="again-config")
    for _ in range(5):
        sm.get_waiter("endpoint_in_service").wait(EndpointName="again", WaiterConfig=wait)
        sm.delete_endpoint(EndpointName="again")
        try:
            # Usually still Deleting, so the second call races the first;
            # on a slow machine (ASan) the first may already be done.
            assert sm.describe_endpoint(EndpointName="again")["EndpointStatus"] == "Deleting"
            sm.delete_endpoint(EndpointName="again")
        except botocore.exceptions.ClientError as e:
            assert "Could not find endpoint" in str(e)
        deadline = time.time() + 30
        while burst(server, [create]) != ["ok"]:
            assert time.time() < deadline
    sm.get_waiter("endpoint_in_service").wait(EndpointName="again", WaiterConfig=wait)
    time.sleep(1)  # a deletion still queued would have run by now
    assert sm.describe_endpoint(EndpointName="again")["EndpointStatus"] == "InService"
    assert len(set(instance_sockets(server)) - others) == 1
    sm.delete_endpoint(EndpointName="again")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="again", WaiterConfig=wait)


def test_js_sdk_v3_deploy_and_invoke(server, models):
    """The AWS SDK for JavaScript v3: SageMaker and SageMaker Runtime
    clients with their waiters, from create to delete."""
    X = np.array([[9.0] * D, [31.0] * D], np.float32)
    res = run_js(server, "sagemaker_deploy.mjs", MODEL_URL="s3://models/a/model.tar.gz",
                 ROWS="\n".join(",".join(str(v) for v in row) for row in X),
                 ROW=json.dumps(X[1].tolist()))
    clusters, dists = nearest(CENTERS_A, X)
    assert res["ready"] == "SUCCESS" and res["status"] == "InService" and res["dates"]
    assert res["listed"] == ["js-endpoint"]
    assert res["csv"]["type"] == "application/json" and res["csv"]["variant"] == "A"
    got = res["csv"]["body"]["predictions"]
    assert [p["closest_cluster"] for p in got] == clusters.tolist()
    assert np.allclose([p["distance_to_cluster"] for p in got], dists, rtol=1e-5)
    assert res["jsonlines"]["type"] == "application/jsonlines"
    line = json.loads(res["jsonlines"]["body"].splitlines()[0])
    assert line["closest_cluster"] == clusters[1]
    assert res["badRow"]["name"] == "ModelError" and res["badRow"]["status"] == 424
    assert res["badRow"]["original"] == 400
    assert res["unknown"]["name"] == "ValidationError" and res["unknown"]["status"] == 400
    assert "js-none" in res["unknown"]["message"]
    assert res["grown"] == [2] and res["gone"] == "SUCCESS"


def test_tags_on_models_configs_endpoints(server, models):
    sm = models

    def tags(arn):
        return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}

    def create_model(**kw):
        sm.create_model(ModelName="Tagged-Model", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": IMAGE, "ModelDataUrl": "s3://models/a/model.tar.gz"}, **kw)
        return sm.describe_model(ModelName="Tagged-Model")["ModelArn"]
    arn = create_model(Tags=[{"Key": "team", "Value": "ml"}])
    assert arn.endswith(":model/tagged-model")  # SageMaker's ARNs are lower case
    assert tags(arn) == {"team": "ml"}
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert tags(arn) == {"stage": "dev"}
    sm.create_endpoint_config(EndpointConfigName="Tagged-Config", ProductionVariants=[
        {"VariantName": "v", "ModelName": "Tagged-Model", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}], Tags=[{"Key": "c", "Value": "1"}])
    carn = sm.describe_endpoint_config(EndpointConfigName="Tagged-Config")["EndpointConfigArn"]
    assert tags(carn) == {"c": "1"}
    sm.create_endpoint(EndpointName="Tagged-Ep", EndpointConfigName="Tagged-Config",
                       Tags=[{"Key": "e", "Value": "2"}])
    earn = sm.describe_endpoint(EndpointName="Tagged-Ep")["EndpointArn"]
    assert tags(earn) == {"e": "2"}
    sm.get_waiter("endpoint_in_service").wait(EndpointName="Tagged-Ep",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    sm.add_tags(ResourceArn=earn, Tags=[{"Key": "e", "Value": "3"}])
    assert tags(earn) == {"e": "3"}
    sm.delete_endpoint(EndpointName="Tagged-Ep")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="Tagged-Ep",
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.list_tags(ResourceArn=earn)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    # A resource made again under a deleted one's name has none of its tags.
    sm.delete_endpoint_config(EndpointConfigName="Tagged-Config")
    sm.delete_model(ModelName="Tagged-Model")
    assert tags(create_model()) == {}
    sm.delete_model(ModelName="Tagged-Model")


def model_a_on(s):
    """Creates model-a on server s; returns its S3 and SageMaker clients."""
    s3 = client(s, "s3")
    s3.create_bucket(Bucket="models")
    sm = client(s, "sagemaker")
    add_model(sm, "model-a", "a", s3, model_tgz(CENTERS_A))
    return s3, sm


def assert_model_a_answers(s, endpoint):
    """The endpoint on server s answers as model-a does (retrying while
    its fleet comes back)."""
    rt = client(s, "sagemaker-runtime", retries=10)
    r = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv",
                           Body=",".join(["10"] * D))
    assert json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] == 1.0


def test_endpoints_come_back_after_restart(models, tmp_path):
    """An endpoint that was InService is InService again, and answers, after
    kiln server restarts on the same data directory."""
    data_dir = own_data_dir(tmp_path)
    s = Server(data_dir)
    try:
        s3, sm = model_a_on(s)
        deploy(sm, "ep-restart", [("AllTraffic", "model-a", 1, 1.0)])
        deploy(sm, "ep-gone", [("AllTraffic", "model-a", 1, 1.0)])
        sm.delete_endpoint(EndpointName="ep-gone")
        # A SageMaker endpoint outlives its artifact, restarts included.
        s3.delete_object(Bucket="models", Key="a/model.tar.gz")
    finally:
        assert s.stop() == 0
    assert os.listdir(os.path.join(data_dir, "endpoint-models")) == [f"{ACCOUNT}-ep-restart"]
    s = Server(data_dir)
    try:
        sm = client(s, "sagemaker")
        assert sm.describe_endpoint(EndpointName="ep-restart")["EndpointStatus"] == "InService"
        assert_model_a_answers(s, "ep-restart")
    finally:
        assert s.stop() == 0


def test_update_cut_short_by_a_crash_finishes_after_restart(models, tmp_path):
    """kiln killed in the middle of an UpdateEndpoint: after the restart the
    endpoint serves its old model again, stays Updating, and then the update
    runs to the end, as it would have."""
    data_dir = own_data_dir(tmp_path)
    s = Server(data_dir)
    try:
        s3, sm = model_a_on(s)
        add_model(sm, "model-b", "b", s3, model_tgz(CENTERS_B))
        deploy(sm, "ep-cut", [("AllTraffic", "model-a", 1, 1.0)])
        sm.create_endpoint_config(EndpointConfigName="ep-cut-b", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "model-b", "InitialInstanceCount": 4,
             "InstanceType": "ml.m5.large"}])
        sm.update_endpoint(EndpointName="ep-cut", EndpointConfigName="ep-cut-b")
    finally:
        s.proc.kill()
        s.stop()
    with open(os.path.join(data_dir, "endpoint-sockets")) as f:
        killed_sockets = f.read().strip()
    assert os.path.isdir(killed_sockets) and os.listdir(killed_sockets)
    s = Server(data_dir)
    try:
        # The killed server's model-server sockets are cleared away.
        assert not os.path.exists(killed_sockets)
        sm = client(s, "sagemaker")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-cut",
                                                  WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
        d = sm.describe_endpoint(EndpointName="ep-cut")
        assert d["EndpointConfigName"] == "ep-cut-b" and "FailureReason" not in d
        assert d["ProductionVariants"][0]["CurrentInstanceCount"] == 4
        rt = client(s, "sagemaker-runtime", retries=10)
        X = np.full((1, D), -9.0, np.float32)
        r = rt.invoke_endpoint(EndpointName="ep-cut", ContentType="text/csv",
                               Body=",".join(["-9"] * D))
        got = json.loads(r["Body"].read())["predictions"][0]["closest_cluster"]
        assert got == nearest(CENTERS_B, X)[0][0] != nearest(CENTERS_A, X)[0][0]
    finally:
        assert s.stop() == 0


def test_instance_limit(tmp_path):
    """--max-endpoint-instances caps the model servers of all endpoints, as
    SageMaker's account quota does: a call that would pass it gets
    ResourceLimitExceeded at once and changes nothing; a blue/green update
    needs room for both fleets."""
    data_dir = own_data_dir(tmp_path)
    s = Server(data_dir, ["--max-endpoint-instances", "3"])
    try:
        s3, sm = model_a_on(s)
        for name, n in (("two", 2), ("four", 4)):
            sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": "model-a",
                 "InitialInstanceCount": n, "InstanceType": "ml.m5.large"}])

        def refused(call, **kw):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                call(**kw)
            err = e.value.response["Error"]
            assert err["Code"] == "ResourceLimitExceeded", err
            assert "is 3 Instances" in err["Message"], err

        def wait(name):
            sm.get_waiter("endpoint_in_service").wait(
                EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})

        refused(sm.create_endpoint, EndpointName="big", EndpointConfigName="four")
        with pytest.raises(botocore.exceptions.ClientError):
            sm.describe_endpoint(EndpointName="big")
        sm.create_endpoint(EndpointName="ep1", EndpointConfigName="two")
        wait("ep1")
        # Blue/green: 2 running + 2 starting > 3.
        refused(sm.update_endpoint, EndpointName="ep1", EndpointConfigName="two")
        refused(sm.update_endpoint_weights_and_capacities, EndpointName="ep1",
                DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic",
                                              "DesiredInstanceCount": 100000}])
        d = sm.describe_endpoint(EndpointName="ep1")
        assert d["EndpointStatus"] == "InService"
        assert d["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        # Down to 1, in place: no room needed.
        sm.update_endpoint_weights_and_capacities(
            EndpointName="ep1", DesiredWeightsAndCapacities=[
                {"VariantName": "AllTraffic", "DesiredInstanceCount": 1}])
        wait("ep1")
        assert sm.describe_endpoint(EndpointName="ep1")["ProductionVariants"][0][
            "CurrentInstanceCount"] == 1
        sm.create_endpoint(EndpointName="ep2", EndpointConfigName="two")
        wait("ep2")
        refused(sm.create_endpoint, EndpointName="ep3", EndpointConfigName="two")
        sm.delete_endpoint(EndpointName="ep2")
        sm.get_waiter("endpoint_deleted").wait(EndpointName="ep2",
                                               WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        sm.create_endpoint(EndpointName="ep3", EndpointConfigName="two")
        wait("ep3")
        rt = client(s, "sagemaker-runtime")
        for name in ("ep1", "ep3"):
            r = rt.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                   Body=",".join(["10"] * D))
            assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert len(instance_sockets(s)) == 3
    finally:
        assert s.stop() == 0


def test_model_registry(server, models):
    """The model registry as the SageMaker Python SDK uses it: a model
    package group, versions registered into it (estimator.register()),
    approval set with UpdateModelPackage, and the approved version deployed
    from its package (ModelPackage.deploy(): CreateModel with the
    container's ModelPackageName) and answering as its model does."""
    sm, rt = models, client(server, "sagemaker-runtime")
    arn = sm.create_model_package_group(
        ModelPackageGroupName="kmeans-digits", ModelPackageGroupDescription="k-means",
        Tags=[{"Key": "team", "Value": "ml"}])["ModelPackageGroupArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package-group/kmeans-digits"
    g = sm.describe_model_package_group(ModelPackageGroupName="kmeans-digits")
    assert g["ModelPackageGroupStatus"] == "Completed" and g["ModelPackageGroupArn"] == arn
    assert g["ModelPackageGroupDescription"] == "k-means" and "KilnNextVersion" not in g
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]

    def spec(key):
        return {"Containers": [{"Image": IMAGE,
                                "ModelDataUrl": f"s3://models/{key}/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
                "SupportedTransformInstanceTypes": ["ml.m5.large"]}

    metrics = {"ModelQuality": {"Statistics": {
        "ContentType": "application/json", "S3Uri": "s3://models/b/evaluation.json"}}}
    versions = [sm.create_model_package(
        ModelPackageGroupName="kmeans-digits", InferenceSpecification=spec(key),
        ModelPackageDescription=f"trained on {key}", CertifyForMarketplace=False,
        CustomerMetadataProperties={"data": key}, ModelMetrics=metrics)["ModelPackageArn"]
        for key in "ab"]
    assert versions == [f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/kmeans-digits/{n}"
                        for n in (1, 2)]
    d = sm.describe_model_package(ModelPackageName=versions[1])
    assert d["ModelPackageName"] == d["ModelPackageGroupName"] == "kmeans-digits"
    assert d["ModelPackageVersion"] == 2 and d["ModelPackageStatus"] == "Completed"
    assert d["ModelApprovalStatus"] == "PendingManualApproval"
    assert d["InferenceSpecification"] == spec("b")
    assert d["CustomerMetadataProperties"] == {"data": "b"} and d["ModelMetrics"] == metrics
    assert sm.describe_model_package(ModelPackageName="kmeans-digits/1")[
        "ModelPackageArn"] == versions[0]

    sm.update_model_package(ModelPackageArn=versions[1], ModelApprovalStatus="Approved",
                            ApprovalDescription="tighter clusters",
                            CustomerMetadataProperties={"by": "ci"},
                            CustomerMetadataPropertiesToRemove=["data"])
    d = sm.describe_model_package(ModelPackageName=versions[1])
    assert d["ModelApprovalStatus"] == "Approved"
    assert d["ApprovalDescription"] == "tighter clusters"
    assert d["CustomerMetadataProperties"] == {"by": "ci"}
    listed = sm.list_model_packages(ModelPackageGroupName="kmeans-digits",
                                    SortBy="CreationTime",
                                    SortOrder="Descending")["ModelPackageSummaryList"]
    assert [(p["ModelPackageVersion"], p["ModelApprovalStatus"]) for p in listed] == [
        (2, "Approved"), (1, "PendingManualApproval")]
    # The latest approved version, as a release pipeline looks it up.
    [latest] = sm.list_model_packages(
        ModelPackageGroupName="kmeans-digits", ModelApprovalStatus="Approved",
        SortBy="CreationTime", SortOrder="Descending", MaxResults=1)["ModelPackageSummaryList"]
    assert latest["ModelPackageArn"] == versions[1]
    page = sm.list_model_packages(ModelPackageGroupName="kmeans-digits", MaxResults=1)
    rest = sm.list_model_packages(ModelPackageGroupName="kmeans-digits",
                                  NextToken=page["NextToken"])
    assert len(page["ModelPackageSummaryList"]) == len(rest["ModelPackageSummaryList"]) == 1
    out = json.loads(aws(server, "sagemaker", "list-model-package-groups",
                         "--name-contains", "digits").stdout)
    assert [x["ModelPackageGroupName"] for x in out["ModelPackageGroupSummaryList"]] == [
        "kmeans-digits"]

    # Deployed from the package, as ModelPackage(...).deploy() does.
    sm.create_model(ModelName="registry-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"ModelPackageName": latest["ModelPackageArn"]})
    m = sm.describe_model(ModelName="registry-model")["PrimaryContainer"]
    assert m["ModelPackageName"] == versions[1] and m["Image"] == IMAGE
    deploy(sm, "ep-registry", [("AllTraffic", "registry-model", 1, 1.0)])
    X = np.array([[-9.0] * D, [1.0] * D], np.float32)
    r = rt.invoke_endpoint(EndpointName="ep-registry", ContentType="text/csv",
                           Body="\n".join(",".join(str(v) for v in x) for x in X))
    got = [p["closest_cluster"] for p in json.loads(r["Body"].read())["predictions"]]
    assert got == nearest(CENTERS_B, X)[0].tolist()
    sm.delete_endpoint(EndpointName="ep-registry")

    # What is refused.
    refused(sm.create_model_package, "ValidationException", "nope does not exist",
            ModelPackageGroupName="nope", InferenceSpecification=spec("a"))
    refused(sm.create_model, "ValidationException", "kmeans-digits/9 does not exist",
            ModelName="registry-bad", ExecutionRoleArn=ROLE,
            PrimaryContainer={"ModelPackageName": versions[0][:-1] + "9"})
    refused(sm.delete_model_package_group, "ConflictException", "still has model packages",
            ModelPackageGroupName="kmeans-digits")
    refused(sm.describe_model_package, "ValidationException", "does not exist",
            ModelPackageName="kmeans-digits/3")

    # A deleted version's number is not given again.
    sm.delete_model_package(ModelPackageName=versions[1])
    v3 = sm.create_model_package(ModelPackageGroupName="kmeans-digits",
                                 InferenceSpecification=spec("a"))["ModelPackageArn"]
    assert v3.endswith("/kmeans-digits/3")
    for v in (versions[0], v3):
        sm.delete_model_package(ModelPackageName=v)
    sm.delete_model_package_group(ModelPackageGroupName="kmeans-digits")
    refused(sm.describe_model_package_group, "ValidationException", "does not exist",
            ModelPackageGroupName="kmeans-digits")
    assert sm.list_model_packages(
        ModelPackageGroupName="kmeans-digits")["ModelPackageSummaryList"] == []


def test_weights_and_capacities_change_in_place(tmp_path):
    """UpdateEndpointWeightsAndCapacities (and so autoscaling) changes an
    endpoint in place, as SageMaker does: the instances it keeps serve
    throughout (the same processes), new ones start beside them, so going
    from one instance to three fits in a limit of three; weights change
    without a new fleet."""
    data_dir = own_data_dir(tmp_path)
    s = Server(data_dir, ["--max-endpoint-instances", "3"])
    try:
        s3, sm = model_a_on(s)
        add_model(sm, "model-b", "b", s3, model_tgz(CENTERS_B))
        rt = client(s, "sagemaker-runtime")
        wait = {"Delay": 0.2, "MaxAttempts": 150}
        deploy(sm, "grow", [("AllTraffic", "model-a", 1, 1.0)])
        [(first, _)] = model_servers(s)
        row = ",".join(["10"] * D)

        def change(endpoint, **want):
            """Changes the variants as asked while a client keeps calling;
            returns the calls made (none may fail)."""
            sm.update_endpoint_weights_and_capacities(
                EndpointName=endpoint, DesiredWeightsAndCapacities=[
                    {"VariantName": v, **w} for v, w in want.items()])
            calls = 0
            while sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] != "InService":
                rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=row)
                calls += 1
            return calls

        change("grow", AllTraffic={"DesiredInstanceCount": 3})
        pids = {pid for pid, _ in model_servers(s)}
        assert len(pids) == 3 and first in pids
        v = sm.describe_endpoint(EndpointName="grow")["ProductionVariants"][0]
        assert v["CurrentInstanceCount"] == v["DesiredInstanceCount"] == 3
        for _ in range(30):  # the new instances answer too
            rt.invoke_endpoint(EndpointName="grow", ContentType="text/csv", Body=row)
        change("grow", AllTraffic={"DesiredInstanceCount": 1})
        assert [pid for pid, _ in model_servers(s)] == [first]
        assert sm.describe_endpoint(EndpointName="grow")["ProductionVariants"][0][
            "CurrentInstanceCount"] == 1

        # Weights: all of the traffic to A, then to B, the same processes.
        deploy(sm, "split", [("A", "model-a", 1, 1.0), ("B", "model-b", 1, 1.0)])
        before = sorted(pid for pid, _ in model_servers(s))
        for weights, cluster in (((1.0, 0.0), 1.0), ((0.0, 1.0), 0.0)):
            change("split", A={"DesiredWeight": weights[0]}, B={"DesiredWeight": weights[1]})
            for _ in range(20):
                r = rt.invoke_endpoint(EndpointName="split", ContentType="text/csv", Body=row)
                assert json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] \
                    == cluster
        assert sorted(pid for pid, _ in model_servers(s)) == before
        d = sm.describe_endpoint(EndpointName="split")
        assert [(v["VariantName"], v["CurrentWeight"]) for v in d["ProductionVariants"]] == [
            ("A", 0.0), ("B", 1.0)]
        # Past the limit: refused at once, nothing changes.
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.update_endpoint_weights_and_capacities(
                EndpointName="grow", DesiredWeightsAndCapacities=[
                    {"VariantName": "AllTraffic", "DesiredInstanceCount": 2}])
        assert e.value.response["Error"]["Code"] == "ResourceLimitExceeded"
        assert len(model_servers(s)) == 3
    finally:
        assert s.stop() == 0


def test_rolling_update(tmp_path):
    """UpdateEndpoint with a RollingUpdatePolicy (sent by the JavaScript SDK,
    as Debian's botocore predates it): batch by batch, new instances start
    and take requests while old ones stop, so an endpoint of two instances
    updates within a limit of three model servers, where blue/green needs
    four. No call fails; both models answer while it rolls; an alarm rolls
    it back; what cannot roll is refused; one cut short by a restart rolls
    again after it."""
    data_dir = own_data_dir(tmp_path)
    s = Server(data_dir, ["--max-endpoint-instances", "3"])
    try:
        s3, sm = model_a_on(s)
        add_model(sm, "model-b", "b", s3, model_tgz(CENTERS_B))
        rt, cw = client(s, "sagemaker-runtime"), client(s, "cloudwatch")
        for name, model, n, variant in (("roll-a", "model-a", 2, "AllTraffic"),
                                        ("roll-b", "model-b", 2, "AllTraffic"),
                                        ("roll-one", "model-b", 1, "AllTraffic"),
                                        ("roll-renamed", "model-b", 2, "Other")):
            sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
                {"VariantName": variant, "ModelName": model, "InitialInstanceCount": n,
                 "InstanceType": "ml.m5.large"}])
        sm.create_endpoint_config(EndpointConfigName="roll-two", ProductionVariants=[
            {"VariantName": v, "ModelName": m, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"} for v, m in (("A", "model-a"), ("B", "model-b"))])
        sm.create_endpoint(EndpointName="roll", EndpointConfigName="roll-a")
        wait = {"Delay": 0.2, "MaxAttempts": 300}
        sm.get_waiter("endpoint_in_service").wait(EndpointName="roll", WaiterConfig=wait)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.update_endpoint(EndpointName="roll", EndpointConfigName="roll-b")
        assert e.value.response["Error"]["Code"] == "ResourceLimitExceeded"

        def update(config, deployment_config, op="update", endpoint="roll"):
            [r] = run_js(s, "sagemaker_update.mjs", CALLS=json.dumps([{
                "op": op, "EndpointName": endpoint, "EndpointConfigName": config,
                "DeploymentConfig": deployment_config}]))
            return r

        row = ",".join(["10"] * D)  # model-a: cluster 1; model-b: cluster 0

        def invoke_until_in_service(timeout=60):
            """Invokes while the endpoint updates: the clusters answered and
            the most model servers seen running."""
            seen, most = [], 0
            deadline = time.time() + timeout
            while sm.describe_endpoint(EndpointName="roll")["EndpointStatus"] != "InService":
                assert time.time() < deadline
                r = rt.invoke_endpoint(EndpointName="roll", ContentType="text/csv", Body=row)
                seen.append(json.loads(r["Body"].read())["predictions"][0]["closest_cluster"])
                most = max(most, len(instance_sockets(s)))
            return seen, most

        rolling = {"RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 3}}
        assert update("roll-b", rolling) == {"status": "Updating", "last": rolling}
        seen, most = invoke_until_in_service()
        assert most <= 3, most
        last_a = max(i for i, c in enumerate(seen) if c == 1.0)
        assert 0.0 in seen[:last_a], seen  # model-b answered while model-a still did
        assert seen[-1] == 0.0
        d = sm.describe_endpoint(EndpointName="roll")
        assert d["EndpointConfigName"] == "roll-b" and "FailureReason" not in d
        assert d["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        assert len(instance_sockets(s)) == 2
        for _ in range(20):
            r = rt.invoke_endpoint(EndpointName="roll", ContentType="text/csv", Body=row)
            assert json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] == 0.0
        log = s.stderr()
        assert "event=rolling_step endpoint=roll new=1 old=1" in log
        assert "event=rolling_step endpoint=roll new=2 old=0" in log

        # An alarm that fires while the first batch bakes rolls it back: the
        # old instances take every request again and the new one stops.
        cw.put_metric_alarm(AlarmName="roll-manual", Namespace="AWS/SageMaker",
                            MetricName="Invocations",
                            Dimensions=[{"Name": "EndpointName", "Value": "roll"}],
                            Statistic="Sum", Period=60, EvaluationPeriods=2,
                            DatapointsToAlarm=1, Threshold=1e9,
                            ComparisonOperator="GreaterThanOrEqualToThreshold",
                            TreatMissingData="ignore")
        slow = {"RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 600},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "roll-manual"}]}}
        assert update("roll-a", slow)["status"] == "Updating"
        deadline = time.time() + 30
        while True:  # until the new batch answers
            r = rt.invoke_endpoint(EndpointName="roll", ContentType="text/csv", Body=row)
            if json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] == 1.0:
                break
            assert time.time() < deadline
        cw.set_alarm_state(AlarmName="roll-manual", StateValue="ALARM",
                           StateReason="testing the rollback")
        seen, most = invoke_until_in_service(timeout=15)
        assert most <= 3, most
        d = sm.describe_endpoint(EndpointName="roll")
        assert d["EndpointConfigName"] == "roll-b"
        assert "alarm roll-manual" in d["FailureReason"], d["FailureReason"]
        assert len(instance_sockets(s)) == 2
        for _ in range(20):
            r = rt.invoke_endpoint(EndpointName="roll", ContentType="text/csv", Body=row)
            assert json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] == 0.0
        assert "event=rolling_rollback endpoint=roll" in s.stderr()

        # What cannot roll, refused before anything starts.
        both = dict(rolling, BlueGreenUpdatePolicy={"TrafficRoutingConfiguration": {
            "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}})
        half = {"RollingUpdatePolicy": dict(rolling["RollingUpdatePolicy"],
                                            MaximumBatchSize={"Type": "INSTANCE_COUNT",
                                                              "Value": 2})}
        timeout = {"RollingUpdatePolicy": dict(rolling["RollingUpdatePolicy"],
                                               WaitIntervalInSeconds=400,
                                               MaximumExecutionTimeoutInSeconds=600)}
        calls = [("roll-b", both, "update", "either a BlueGreenUpdatePolicy or"),
                 ("roll-b", half, "update", "between 5% and 50% of the variant's 2"),
                 ("roll-one", rolling, "update", "needs at least 2"),
                 ("roll-renamed", rolling, "update", "must name it AllTraffic, not Other"),
                 ("roll-two", rolling, "update", "one production variant"),
                 ("roll-two", rolling, "create", "one production variant"),
                 ("roll-b", timeout, "update", "takes 800 seconds of waiting")]
        got = run_js(s, "sagemaker_update.mjs", CALLS=json.dumps([
            {"op": op, "EndpointName": "roll" if op == "update" else "roll-new",
             "EndpointConfigName": c, "DeploymentConfig": dc} for c, dc, op, _ in calls]))
        for (c, _, op, words), r in zip(calls, got):
            assert r.get("error") == "ValidationException", (c, r)
            assert words in r["message"], (words, r["message"])
        d = sm.describe_endpoint(EndpointName="roll")
        assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == "roll-b"

        # A server stopped in the middle of a rolling update serves the old
        # configuration after its restart, then rolls again to the end.
        again = {"RollingUpdatePolicy": dict(rolling["RollingUpdatePolicy"],
                                             WaitIntervalInSeconds=4)}
        assert update("roll-a", again)["status"] == "Updating"
        deadline = time.time() + 30
        while "event=rolling_step endpoint=roll new=1 old=1" not in \
                s.stderr().split("event=rolling_rollback")[-1]:
            assert time.time() < deadline
            time.sleep(0.1)
        assert s.stop() == 0
        s = Server(data_dir, ["--max-endpoint-instances", "3"])
        sm, rt = client(s, "sagemaker"), client(s, "sagemaker-runtime", retries=10)
        assert sm.describe_endpoint(EndpointName="roll")["EndpointStatus"] == "Updating"
        seen, most = invoke_until_in_service()
        assert most <= 3 and 0.0 in seen and seen[-1] == 1.0, (most, seen[:3], seen[-3:])
        d = sm.describe_endpoint(EndpointName="roll")
        assert d["EndpointConfigName"] == "roll-a" and "FailureReason" not in d
    finally:
        assert s.stop() == 0


def capture_records(s3, bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    records = []
    for k in keys:
        body = s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode()
        records += [json.loads(line) for line in body.splitlines()]
    return keys, records


def wait_capture(s3, bucket, prefix, n, timeout=20):
    deadline = time.time() + timeout
    while True:
        keys, records = capture_records(s3, bucket, prefix)
        if len(records) >= n or time.time() > deadline:
            return keys, records
        time.sleep(0.25)


def test_data_capture(server, models):
    """DataCaptureConfig: SageMaker's capture files with the exact bodies, at
    100% and 50% sampling; no files when capture is off."""
    sm, s3 = models, client(server, "s3")
    rt = client(server, "sagemaker-runtime")
    s3.create_bucket(Bucket="capture")
    rows = [f"{i},{i + 1},{i + 2},{i},{i},{i},{i},{i}" for i in range(20)]

    def run(endpoint, pct, enable=True):
        dcc = {"EnableCapture": enable, "InitialSamplingPercentage": pct,
               "DestinationS3Uri": f"s3://capture/{endpoint}-data/",
               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
               "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                            "JsonContentTypes": ["application/json"]}}
        sm.create_endpoint_config(EndpointConfigName=endpoint, DataCaptureConfig=dcc,
                                  ProductionVariants=[{
                                      "VariantName": "AllTraffic", "ModelName": "model-a",
                                      "InitialInstanceCount": 1,
                                      "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        d = sm.describe_endpoint(EndpointName=endpoint)["DataCaptureConfig"]
        assert d["EnableCapture"] is enable
        assert d["CaptureStatus"] == ("Started" if enable else "Stopped")
        assert d["CurrentSamplingPercentage"] == pct
        assert d["DestinationS3Uri"] == f"s3://capture/{endpoint}-data/"
        answers = {}
        for row in rows:
            r = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=row,
                                   InferenceId=f"id-{row}")
            answers[row] = r["Body"].read().decode()
        return answers

    answers = run("cap-all", 100)
    keys, records = wait_capture(s3, "capture", "cap-all-data/", len(rows))
    assert len(records) == len(rows)
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    for k in keys:
        assert k.startswith("cap-all-data/cap-all/AllTraffic/")
        assert k.split("/")[3:7] == hour.split("/") and k.endswith(".jsonl")
    got = {}
    for rec in records:
        inp, out = rec["captureData"]["endpointInput"], rec["captureData"]["endpointOutput"]
        assert inp["mode"] == "INPUT" and inp["encoding"] == "CSV"
        assert inp["observedContentType"] == "text/csv"
        assert out["mode"] == "OUTPUT" and out["encoding"] == "JSON"
        assert out["observedContentType"].startswith("application/json")
        assert rec["eventMetadata"]["inferenceId"] == "id-" + inp["data"]
        assert len(rec["eventMetadata"]["eventId"]) == 36
        assert rec["eventMetadata"]["inferenceTime"].endswith("Z")
        assert rec["eventVersion"] == "0"
        got[inp["data"]] = out["data"]
    assert got == answers

    run("cap-half", 50)
    _, records = wait_capture(s3, "capture", "cap-half-data/", len(rows) // 2)
    time.sleep(2.5)  # nothing more arrives after the next flush
    _, records = capture_records(s3, "capture", "cap-half-data/")
    assert len(records) == len(rows) // 2

    run("cap-off", 100, enable=False)
    time.sleep(2.5)
    assert capture_records(s3, "capture", "cap-off-data/") == ([], [])

    # Bodies in types outside CaptureContentTypeHeader are kept in base64;
    # a failed invocation (ModelError) is not an inference and is not kept.
    rio = subprocess.run([KILN, "admin", "convert", "--from", "csv", "--to", "recordio",
                          "/dev/stdin", "/dev/stdout"], input=rows[3].encode(),
                         capture_output=True, check=True).stdout
    r = rt.invoke_endpoint(EndpointName="cap-all", ContentType="application/x-recordio-protobuf",
                           Accept="application/x-recordio-protobuf", Body=rio)
    answer = r["Body"].read()
    with pytest.raises(rt.exceptions.ModelError):
        rt.invoke_endpoint(EndpointName="cap-all", ContentType="text/csv", Body="1,2,x")
    _, records = wait_capture(s3, "capture", "cap-all-data/", len(rows) + 1)
    time.sleep(2.5)
    _, records = capture_records(s3, "capture", "cap-all-data/")
    assert len(records) == len(rows) + 1
    [rec] = [r for r in records if r["captureData"]["endpointInput"]["encoding"] == "BASE64"]
    assert base64.b64decode(rec["captureData"]["endpointInput"]["data"]) == rio
    out = rec["captureData"]["endpointOutput"]
    assert out["encoding"] == "BASE64" and base64.b64decode(out["data"]) == answer
    for name in ("cap-all", "cap-half", "cap-off"):
        sm.delete_endpoint(EndpointName=name)
        sm.delete_endpoint_config(EndpointConfigName=name)


def async_config(name, model, per_instance=2, failure=True, **extra):
    output = {"S3OutputPath": "s3://async-out/results/"}
    if failure:
        output["S3FailurePath"] = "s3://async-out/failures"
    return dict(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}],
        AsyncInferenceConfig={"OutputConfig": output,
                              "ClientConfig": {"MaxConcurrentInvocationsPerInstance": per_instance}},
        **extra)


def sagemaker_raw(server, op, params):
    """One SageMaker call sent as JSON, for members Debian's botocore does
    not know yet (S3FailurePath); returns (status, answer)."""
    status, _, answer = send(server, *signed(
        server, "sagemaker", json.dumps(params).encode(),
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker." + op}))
    return status, json.loads(answer)


def wait_object(s3, uri, timeout=30):
    """The bytes and content type of the object at s3://bucket/key once it
    exists."""
    bucket, key = uri[len("s3://"):].split("/", 1)
    deadline = time.time() + timeout
    while True:
        try:
            o = s3.get_object(Bucket=bucket, Key=key)
            return o["Body"].read(), o["ContentType"]
        except s3.exceptions.NoSuchKey:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def async_failure_location(response):
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-sagemaker-failurelocation"]


def test_async_inference(server, models, tmp_path):
    """AsyncInferenceConfig and InvokeEndpointAsync: each input object gets
    its answer at OutputLocation, or its error at the failure location, with
    the same bytes InvokeEndpoint would give; concurrent requests all finish;
    a real-time endpoint and an asynchronous one each take only their own
    call."""
    sm, s3 = models, client(server, "s3")
    rt = client(server, "sagemaker-runtime")
    for b in ("async-in", "async-out"):
        s3.create_bucket(Bucket=b)
    assert sagemaker_raw(server, "CreateEndpointConfig",
                         async_config("ep-async", "model-a"))[0] == 200
    sm.create_endpoint(EndpointName="ep-async", EndpointConfigName="ep-async")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-async",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    want = {"ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2},
            "OutputConfig": {"S3OutputPath": "s3://async-out/results/",
                             "S3FailurePath": "s3://async-out/failures"}}
    for op, params in (("DescribeEndpointConfig", {"EndpointConfigName": "ep-async"}),
                       ("DescribeEndpoint", {"EndpointName": "ep-async"})):
        assert sagemaker_raw(server, op, params)[1]["AsyncInferenceConfig"] == want

    # 100 rows in, the true nearest centers out.
    rng = np.random.default_rng(7)
    X = rng.uniform(-5, 35, (100, D)).astype(np.float32)
    s3.put_object(Bucket="async-in", Key="x100.csv",
                  Body="\n".join(",".join(f"{v:.6g}" for v in row) for row in X).encode())
    r = rt.invoke_endpoint_async(EndpointName="ep-async", InputLocation="s3://async-in/x100.csv",
                                 ContentType="text/csv", Accept="application/jsonlines",
                                 InferenceId="first-request")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert r["InferenceId"] == "first-request"
    out, failure = r["OutputLocation"], async_failure_location(r)
    assert out.startswith("s3://async-out/results/") and out.endswith(".out")
    ident = out[len("s3://async-out/results/"):-len(".out")]
    assert len(ident) == 36 and "/" not in ident
    assert failure == f"s3://async-out/failures/{ident}-error.out"
    body, ctype = wait_object(s3, out)
    assert ctype == "application/jsonlines"
    lines = [json.loads(line) for line in body.decode().splitlines()]
    labels, dists = nearest(CENTERS_A, X)
    assert [int(x["closest_cluster"]) for x in lines] == labels.tolist()
    np.testing.assert_allclose([x["distance_to_cluster"] for x in lines], dists, rtol=1e-4)

    # Many at once (MaxConcurrentInvocationsPerInstance 2): every one answered.
    outs = {}
    for i in range(24):
        s3.put_object(Bucket="async-in", Key=f"one/{i}.csv", Body=",".join([str(i)] * D))
    for i in range(24):
        r = rt.invoke_endpoint_async(EndpointName="ep-async", ContentType="text/csv",
                                     InputLocation=f"s3://async-in/one/{i}.csv")
        assert len(r["InferenceId"]) == 36  # generated when not given
        outs[i] = r["OutputLocation"]
    assert len(set(outs.values())) == 24
    for i, uri in outs.items():
        got = json.loads(wait_object(s3, uri)[0])["predictions"][0]
        assert got["closest_cluster"] == nearest(CENTERS_A, np.full((1, D), i, np.float32))[0][0]

    # Errors go to the failure location, and nothing to the output.
    s3.put_object(Bucket="async-in", Key="bad.csv", Body=b"1,2,x\n")
    for key, words in (("bad.csv", "'x' is not a number"), ("missing.csv", "no such object")):
        r = rt.invoke_endpoint_async(EndpointName="ep-async", ContentType="text/csv",
                                     InputLocation=f"s3://async-in/{key}")
        assert words in wait_object(s3, async_failure_location(r))[0].decode()
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket="async-out", Key=r["OutputLocation"][len("s3://async-out/"):])

    # The aws CLI's invoke-endpoint-async.
    res = json.loads(aws(server, "sagemaker-runtime", "invoke-endpoint-async",
                         "--endpoint-name", "ep-async", "--content-type", "text/csv",
                         "--input-location", "s3://async-in/one/3.csv").stdout)
    assert json.loads(wait_object(s3, res["OutputLocation"])[0])["predictions"][0][
        "closest_cluster"] == 0.0

    # Each kind of endpoint takes only its own call.
    with pytest.raises(rt.exceptions.ValidationError, match="InvokeEndpointAsync"):
        rt.invoke_endpoint(EndpointName="ep-async", ContentType="text/csv", Body="1," * 7 + "1")
    deploy(sm, "ep-realtime", [("AllTraffic", "model-a", 1, 1.0)])
    with pytest.raises(rt.exceptions.ValidationError, match="not configured for asynchronous"):
        rt.invoke_endpoint_async(EndpointName="ep-realtime", InputLocation="s3://async-in/bad.csv")
    with pytest.raises(rt.exceptions.ValidationError, match="Endpoint no-such-ep of account"):
        rt.invoke_endpoint_async(EndpointName="no-such-ep", InputLocation="s3://async-in/bad.csv")
    for name in ("ep-realtime", "ep-async"):
        other = "ep-async" if name == "ep-realtime" else "ep-realtime-config"
        with pytest.raises(sm.exceptions.ClientError, match="AsyncInferenceConfig parameter cannot"):
            sm.update_endpoint(EndpointName=name, EndpointConfigName=other)

    # Header limits, checked by kiln as AWS does (botocore checks some itself).
    path = "/endpoints/ep-async/async-invocations"
    for headers, words in (
            ({}, "Value null at 'inputLocation'"),
            ({"X-Amzn-SageMaker-InputLocation": "ftp://async-in/x"}, "inputLocation"),
            ({"X-Amzn-SageMaker-InputLocation": "https://host/key"}, "s3://bucket/key"),
            ({"X-Amzn-SageMaker-InputLocation": "s3://async-in/x",
              "X-Amzn-SageMaker-RequestTTLSeconds": "30"}, "greater than or equal to 60"),
            ({"X-Amzn-SageMaker-InputLocation": "s3://async-in/x",
              "X-Amzn-SageMaker-InvocationTimeoutSeconds": "3601"}, "less than or equal to 3600"),
            ({"X-Amzn-SageMaker-InputLocation": "s3://async-in/x",
              "X-Amzn-SageMaker-RequestTTLSeconds": "soon"}, "be an integer")):
        status, hdrs, answer = send(server, *signed(server, "sagemaker", b"", headers, path=path))
        assert status == 400 and hdrs["x-amzn-errortype"].startswith("ValidationError"), answer
        assert words in json.loads(answer)["message"]

    # What kiln cannot run is refused when the config is created.
    serverless = {"VariantName": "AllTraffic", "ModelName": "model-a",
                  "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}
    for change, words in (
            ({"NotificationConfig": {"SuccessTopic": f"arn:aws:sns:us-east-1:{ACCOUNT}:done"}},
             "NotificationConfig"),
            ({"S3OutputPath": None}, "needs an S3OutputPath"),
            ({"S3OutputPath": "https://example.com/out"}, "s3:// URI"),
            ({"S3FailurePath": "https://example.com/fail"}, "s3:// URI"),
            ({"ProductionVariants": [serverless]}, "serverless")):
        cfg = async_config("ep-async-bad", "model-a")
        output = cfg["AsyncInferenceConfig"]["OutputConfig"]
        for k, v in change.items():
            if k == "ProductionVariants":
                cfg[k] = v
            elif v is None:
                del output[k]
            else:
                output[k] = v
        status, answer = sagemaker_raw(server, "CreateEndpointConfig", cfg)
        assert status == 400 and answer["__type"] == "ValidationException", answer
        assert words in answer["message"]
    with pytest.raises(sm.exceptions.ClientError, match="Could not find endpoint config"):
        sm.describe_endpoint_config(EndpointConfigName="ep-async-bad")
    for name in ("ep-realtime", "ep-async"):
        sm.delete_endpoint(EndpointName=name)


def test_js_sdk_v3_async_inference(server, models):
    """The AWS SDK for JavaScript v3 (which knows S3FailurePath and
    FailureLocation): an asynchronous endpoint from config to answers."""
    X = np.array([[2.0] * D, [19.0] * D], np.float32)
    res = run_js(server, "sagemaker_async.mjs", MODEL_NAME="model-a",
                 ROWS="\n".join(",".join(str(v) for v in row) for row in X))
    assert res["async"]["OutputConfig"] == {"S3OutputPath": "s3://js-async/out",
                                            "S3FailurePath": "s3://js-async/failed"}
    good = res["good"]
    assert good["id"] == "js-1" and good["output"].startswith("s3://js-async/out/")
    ident = good["output"][len("s3://js-async/out/"):-len(".out")]
    assert good["failure"] == f"s3://js-async/failed/{ident}-error.out"
    assert len(res["badId"]) == 36
    assert res["result"]["type"] == "application/json"
    got = [p["closest_cluster"] for p in res["result"]["body"]["predictions"]]
    assert got == nearest(CENTERS_A, X)[0].tolist()
    assert "'x' is not a number" in res["error"]


def test_async_requests_survive_restart(models, tmp_path):
    """Requests queued by InvokeEndpointAsync are stored: those not yet run
    when kiln stops, and the one cut short, run after it starts again,
    each answered once."""
    data_dir = own_data_dir(tmp_path)
    s = Server(data_dir)
    try:
        s3, sm = model_a_on(s)
        for b in ("async-in", "async-out"):
            s3.create_bucket(Bucket=b)
        for i in range(20):
            s3.put_object(Bucket="async-in", Key=f"{i}.csv", Body=",".join([str(i)] * D))
        sm.create_endpoint_config(**async_config("ep-queue", "model-a", per_instance=1,
                                                 failure=False))
        sm.create_endpoint(EndpointName="ep-queue", EndpointConfigName="ep-queue")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-queue",
                                                  WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
        # The model server frozen: the first request hangs in it (one at a
        # time), the others wait their turn; then kiln stops.
        for pid in instance_pids(s):
            os.kill(pid, signal.SIGSTOP)
        rt = client(s, "sagemaker-runtime")
        answers = [rt.invoke_endpoint_async(EndpointName="ep-queue", ContentType="text/csv",
                                            InputLocation=f"s3://async-in/{i}.csv")
                   for i in range(20)]
    finally:
        assert s.stop() == 0
    outs = {i: r["OutputLocation"] for i, r in enumerate(answers)}
    for i, r in enumerate(answers):
        # Without S3FailurePath, errors would go beside the results.
        assert async_failure_location(r) == outs[i][:-len(".out")] + "-error.out"
    s = Server(data_dir, ["--log-level", "info"])
    try:
        assert "event=async_requeued count=20" in wait_log(s, "event=async_requeued")
        s3 = client(s, "s3")
        for i, uri in outs.items():
            got = json.loads(wait_object(s3, uri)[0])["predictions"][0]
            assert got["closest_cluster"] == nearest(CENTERS_A, np.full((1, D), i, np.float32))[0][0]
        time.sleep(0.5)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="async-out")["Contents"]]
        assert sorted(keys) == sorted(u[len("s3://async-out/"):] for u in outs.values())
    finally:
        assert s.stop() == 0


def wait_log(s, words, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        err = s.stderr()
        if words in err:
            return err
        time.sleep(0.1)
    return s.stderr()


def test_shadow_variants(server, models):
    """ShadowProductionVariants: a shadow gets copies of its share of the
    requests (its weight over the production variant's), its answers go
    to data capture and never to a client; its weight can be changed like
    any variant's."""
    sm, s3 = models, client(server, "s3")
    rt = client(server, "sagemaker-runtime")
    s3.create_bucket(Bucket="shadow-capture")
    add_model(sm, "model-shadow", "b")
    sm.create_endpoint_config(
        EndpointConfigName="ep-shadow",
        ProductionVariants=[{"VariantName": "prod", "ModelName": "model-a",
                             "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
                             "InitialVariantWeight": 2.0}],
        ShadowProductionVariants=[{"VariantName": "shadow", "ModelName": "model-shadow",
                                   "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
                                   "InitialVariantWeight": 1.0}],
        DataCaptureConfig={"InitialSamplingPercentage": 100,
                           "DestinationS3Uri": "s3://shadow-capture/data",
                           "CaptureOptions": [{"CaptureMode": "Input"},
                                              {"CaptureMode": "Output"}],
                           "CaptureContentTypeHeader": {
                               "CsvContentTypes": ["text/csv"],
                               "JsonContentTypes": ["application/json"]}})
    cfg = sm.describe_endpoint_config(EndpointConfigName="ep-shadow")
    assert [v["VariantName"] for v in cfg["ShadowProductionVariants"]] == ["shadow"]
    sm.create_endpoint(EndpointName="ep-shadow", EndpointConfigName="ep-shadow")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-shadow",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    d = sm.describe_endpoint(EndpointName="ep-shadow")
    assert [v["VariantName"] for v in d["ProductionVariants"]] == ["prod"]
    [shadow] = d["ShadowProductionVariants"]
    assert shadow["VariantName"] == "shadow" and shadow["CurrentWeight"] == 1.0
    assert shadow["CurrentInstanceCount"] == 1

    def call(i):
        r = rt.invoke_endpoint(EndpointName="ep-shadow", ContentType="text/csv",
                               Body=",".join([str(i)] * D))
        assert r["InvokedProductionVariant"] == "prod"
        got = json.loads(r["Body"].read())["predictions"][0]["closest_cluster"]
        assert got == nearest(CENTERS_A, np.full((1, D), i, np.float32))[0][0]

    for i in range(40):
        call(i - 20)
    _, records = wait_capture(s3, "shadow-capture", "data/ep-shadow/shadow/", 20)
    time.sleep(2.5)  # nothing more arrives after the next flush
    _, records = capture_records(s3, "shadow-capture", "data/ep-shadow/shadow/")
    assert len(records) == 20  # weight 1 over 2: exactly half
    for rec in records:
        x = float(rec["captureData"]["endpointInput"]["data"].split(",")[0])
        answer = json.loads(rec["captureData"]["endpointOutput"]["data"])
        want = nearest(CENTERS_B, np.full((1, D), x, np.float32))[0][0]
        assert answer["predictions"][0]["closest_cluster"] == want
    assert len(capture_records(s3, "shadow-capture", "data/ep-shadow/prod/")[1]) == 40

    # A shadow answers no one.
    with pytest.raises(rt.exceptions.ValidationError, match="not a production variant"):
        rt.invoke_endpoint(EndpointName="ep-shadow", ContentType="text/csv",
                           Body=",".join(["1"] * D), TargetVariant="shadow")
    # Its weight set equal to production's: every request copied.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="ep-shadow",
        DesiredWeightsAndCapacities=[{"VariantName": "shadow", "DesiredWeight": 2.0}])
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-shadow",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert sm.describe_endpoint(EndpointName="ep-shadow")["ShadowProductionVariants"][0][
        "CurrentWeight"] == 2.0
    for i in range(10):
        call(i)
    _, records = wait_capture(s3, "shadow-capture", "data/ep-shadow/shadow/", 30)
    assert len(records) == 30

    # Where SageMaker runs no shadow tests, kiln refuses them.
    shadow_variant = [{"VariantName": "s", "ModelName": "model-shadow",
                       "InstanceType": "ml.m5.large"}]
    serverless = [{"VariantName": "p", "ModelName": "model-a",
                   "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}]
    with pytest.raises(sm.exceptions.ClientError, match="serverless"):
        sm.create_endpoint_config(EndpointConfigName="bad-shadow", ProductionVariants=serverless,
                                  ShadowProductionVariants=shadow_variant)
    cfg = async_config("bad-shadow", "model-a", failure=False)
    with pytest.raises(sm.exceptions.ClientError, match="asynchronous"):
        sm.create_endpoint_config(ShadowProductionVariants=shadow_variant, **cfg)
    sm.delete_endpoint(EndpointName="ep-shadow")


def test_multi_model_endpoint(server, models):
    """Mode MultiModel: InvokeEndpoint's TargetModel names a model.tar.gz
    under the model's ModelDataUrl; it is loaded into a model server of its
    own on first use, and the least recently used is unloaded past 16 per
    instance; every answer comes from the model named."""
    sm, s3 = models, client(server, "s3")
    rt = client(server, "sagemaker-runtime")
    s3.create_bucket(Bucket="mme-models")

    def centers(i):
        return np.array([[float(i + 100 * c)] * D for c in range(3)], np.float32)

    n = 18
    for i in range(n):
        s3.put_object(Bucket="mme-models", Key=f"set/m{i}.tar.gz", Body=model_tgz(centers(i)))
    sm.create_model(ModelName="model-multi", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": "s3://mme-models/set/", "Mode": "MultiModel"})
    assert sm.describe_model(ModelName="model-multi")["PrimaryContainer"]["Mode"] == "MultiModel"
    before = set(instance_sockets(server))
    deploy(sm, "ep-multi", [("AllTraffic", "model-multi", 1, 1.0)])
    # Nothing loaded yet: no model server started (one of an endpoint an
    # earlier test deleted may still be stopping meanwhile).
    assert set(instance_sockets(server)) <= before

    def check(i):
        r = rt.invoke_endpoint(EndpointName="ep-multi", ContentType="text/csv",
                               Body=",".join(["0"] * D), TargetModel=f"m{i}.tar.gz")
        got = json.loads(r["Body"].read())["predictions"][0]
        assert got["closest_cluster"] == 0.0
        assert got["distance_to_cluster"] == pytest.approx(i * np.sqrt(D), rel=1e-5)
        assert r["InvokedProductionVariant"] == "AllTraffic"

    for i in range(n):
        check(i)
    loaded = set(instance_sockets(server)) - before
    assert len(loaded) == 16  # 16 per instance; m0 and m1 were unloaded
    check(0)  # loaded again, in place of the least recently used
    assert len(set(instance_sockets(server)) - before) == 16

    # Requests for several models at once, from several clients.
    errors = []

    def hammer(k):
        try:
            for j in range(10):
                check((k + j) % 6)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    out = aws(server, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", "ep-multi",
              "--target-model", "m5.tar.gz", "--content-type", "text/csv",
              "--body", ",".join(["5"] * D), "--cli-binary-format", "raw-in-base64-out",
              "/dev/stdout")
    assert '"distance_to_cluster": 0' in out.stdout

    with pytest.raises(rt.exceptions.ValidationError, match="name the model"):
        rt.invoke_endpoint(EndpointName="ep-multi", ContentType="text/csv", Body="1")
    with pytest.raises(rt.exceptions.ValidationError, match="Failed to download model data"):
        rt.invoke_endpoint(EndpointName="ep-multi", ContentType="text/csv", Body="1",
                           TargetModel="missing.tar.gz")
    # A model that is not there unloads none that is.
    assert len(set(instance_sockets(server)) - before) == 16

    # What a multi-model endpoint cannot be.
    with pytest.raises(sm.exceptions.ClientError, match="needs a ModelDataUrl"):
        sm.create_model(ModelName="model-multi-bad", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": IMAGE, "Mode": "MultiModel"})
    mixed = [{"VariantName": v, "ModelName": m, "InitialInstanceCount": 1,
              "InstanceType": "ml.m5.large"} for v, m in (("a", "model-multi"), ("b", "model-a"))]
    with pytest.raises(sm.exceptions.ClientError, match="all use multi-model"):
        sm.create_endpoint_config(EndpointConfigName="bad-multi", ProductionVariants=mixed)
    with pytest.raises(sm.exceptions.ClientError, match="asynchronous"):
        sm.create_endpoint_config(**async_config("bad-multi", "model-multi", failure=False))
    sm.delete_endpoint(EndpointName="ep-multi")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="ep-multi",
                                           WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    assert set(instance_sockets(server)) - before == set()


def test_canary_and_linear_traffic_shifting(server, models):
    """UpdateEndpoint with a CANARY or LINEAR BlueGreenUpdatePolicy: the new
    fleet first takes its share of the traffic, then all of it, the
    endpoint Updating until the old fleet is gone; a DeleteEndpoint cuts a
    long wait short."""
    sm, rt = models, client(server, "sagemaker-runtime")
    add_model(sm, "model-green", "b")
    for name, model in (("ep-shift-blue", "model-a"), ("ep-shift-green", "model-green")):
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 2,
             "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="ep-shift", EndpointConfigName="ep-shift-blue")
    wait = {"Delay": 0.2, "MaxAttempts": 300}
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-shift", WaiterConfig=wait)

    def green_share(n=200):
        """The share of n calls the new model (model-b's centers) answered."""
        greens = 0
        for _ in range(n):
            r = rt.invoke_endpoint(EndpointName="ep-shift", ContentType="text/csv",
                                   Body=",".join(["-9"] * D))
            greens += json.loads(r["Body"].read())["predictions"][0]["closest_cluster"] == 2.0
        return greens / n

    canary = {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 8,
                                        "CanarySize": {"Type": "CAPACITY_PERCENT",
                                                       "Value": 25}},
        "TerminationWaitInSeconds": 1}}
    def first_step(config_name, deployment_config, before):
        """The share of calls model-b answers once the update's first
        step has moved some of them."""
        sm.update_endpoint(EndpointName="ep-shift", EndpointConfigName=config_name,
                           DeploymentConfig=deployment_config)
        deadline = time.time() + 30
        while green_share(20) == before and time.time() < deadline:
            time.sleep(0.1)
        return green_share(100)

    share = first_step("ep-shift-green", canary, 0)
    assert 0.1 <= share <= 0.4, share  # the canary's 25%
    assert sm.describe_endpoint(EndpointName="ep-shift")["EndpointStatus"] == "Updating"
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-shift", WaiterConfig=wait)
    assert green_share(50) == 1.0
    d = sm.describe_endpoint(EndpointName="ep-shift")
    assert d["EndpointConfigName"] == "ep-shift-green"
    assert d["LastDeploymentConfig"] == canary

    # Linear steps of half the instances: half the traffic, then all.
    linear = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "LINEAR", "WaitIntervalInSeconds": 8,
        "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1}}}}
    share = first_step("ep-shift-blue", linear, 1.0)
    assert 0.3 <= share <= 0.7, share  # one of two instances' worth moved
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-shift", WaiterConfig=wait)
    assert green_share(50) == 0.0
    # Weights and counts change at once, not by the last update's steps.
    started = time.time()
    sm.update_endpoint_weights_and_capacities(
        EndpointName="ep-shift",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredWeight": 2.0}])
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-shift", WaiterConfig=wait)
    assert time.time() - started < 6

    # An hour-long canary wait gives way to a DeleteEndpoint at once.
    long_canary = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 3600,
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}}}
    sm.update_endpoint(EndpointName="ep-shift", EndpointConfigName="ep-shift-green",
                       DeploymentConfig=long_canary)
    time.sleep(1)
    started = time.time()
    sm.delete_endpoint(EndpointName="ep-shift")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="ep-shift", WaiterConfig=wait)
    assert time.time() - started < 30

    # What cannot be followed is refused.
    for config, words in (
            ({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "LINEAR", "WaitIntervalInSeconds": 1}}}, "needs a LinearStepSize"),
            ({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "LINEAR", "WaitIntervalInSeconds": 600,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
                "MaximumExecutionTimeoutInSeconds": 600}}, "MaximumExecutionTimeoutInSeconds")):
        with pytest.raises(sm.exceptions.ClientError, match=words):
            sm.create_endpoint(EndpointName="ep-shift-bad", EndpointConfigName="ep-shift-blue",
                               DeploymentConfig=config)


def test_shutdown_cuts_a_traffic_shift_short(models, tmp_path):
    """A server stopped while an update waits between traffic steps stops at
    once; after the restart the endpoint serves and the update runs again."""
    data_dir = own_data_dir(tmp_path)
    s = Server(data_dir)
    try:
        s3, sm = model_a_on(s)
        deploy(sm, "ep-long", [("AllTraffic", "model-a", 2, 1.0)])
        sm.update_endpoint(EndpointName="ep-long", EndpointConfigName="ep-long-config",
                           DeploymentConfig={"BlueGreenUpdatePolicy": {
                               "TrafficRoutingConfiguration": {
                                   "Type": "CANARY", "WaitIntervalInSeconds": 3600,
                                   "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}}})
        assert "event=traffic_shift" in wait_log(s, "event=traffic_shift")
    finally:
        started = time.time()
        assert s.stop() == 0
        assert time.time() - started < 20
    s = Server(data_dir)
    try:
        sm = client(s, "sagemaker")
        assert sm.describe_endpoint(EndpointName="ep-long")["EndpointStatus"] == "Updating"
        assert_model_a_answers(s, "ep-long")
        sm.delete_endpoint(EndpointName="ep-long")
        sm.get_waiter("endpoint_deleted").wait(EndpointName="ep-long",
                                               WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    finally:
        assert s.stop() == 0


def test_endpoint_metrics_in_cloudwatch(server, models):
    """CloudWatch's AWS/SageMaker endpoint metrics, by the minute, per
    EndpointName and VariantName: ListMetrics, GetMetricStatistics and
    GetMetricData through boto3 and the aws CLI."""
    sm, rt = models, client(server, "sagemaker-runtime")
    cw = client(server, "cloudwatch")
    deploy(sm, "ep-metrics", [("AllTraffic", "model-a", 2, 1.0)])
    for i in range(20):
        rt.invoke_endpoint(EndpointName="ep-metrics", ContentType="text/csv",
                           Body=",".join([str(i)] * D))
    for _ in range(3):
        with pytest.raises(rt.exceptions.ModelError):
            rt.invoke_endpoint(EndpointName="ep-metrics", ContentType="text/csv", Body="1,x")
    dims = [{"Name": "EndpointName", "Value": "ep-metrics"},
            {"Name": "VariantName", "Value": "AllTraffic"}]
    now = datetime.datetime.now(datetime.timezone.utc)
    window = dict(StartTime=now - datetime.timedelta(minutes=5),
                  EndTime=now + datetime.timedelta(minutes=5), Period=600)

    def stats(name, dimensions=dims):
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName=name, Dimensions=dimensions,
            Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
            **window)["Datapoints"]
        assert len(points) <= 1
        return points[0] if points else None

    deadline = time.time() + 30  # written every few seconds
    while (stats("Invocations") or {}).get("Sum") != 23 and time.time() < deadline:
        time.sleep(0.5)
    assert stats("Invocations")["Sum"] == 23
    assert stats("Invocation4XXErrors")["Sum"] == 3
    assert stats("Invocation5XXErrors")["Sum"] == 0
    assert stats("InvocationsPerInstance")["Sum"] == pytest.approx(23 / 2)
    for name in ("ModelLatency", "OverheadLatency"):
        p = stats(name)
        assert p["Unit"] == "Microseconds" and p["SampleCount"] == 23
        assert 0 < p["Minimum"] <= p["Average"] <= p["Maximum"] < 60e6
    # As in CloudWatch, a metric is found by all of its dimensions.
    assert stats("Invocations", dims[:1]) is None
    listed = cw.list_metrics(Namespace="AWS/SageMaker", MetricName="ModelLatency",
                             Dimensions=[{"Name": "EndpointName", "Value": "ep-metrics"}])
    assert [m["Dimensions"] for m in listed["Metrics"]] == [dims]
    names = {m["MetricName"] for m in cw.list_metrics(
        Namespace="AWS/SageMaker", Dimensions=[dims[0]])["Metrics"]}
    assert {"Invocations", "Invocation4XXErrors", "ModelLatency"} <= names

    out = json.loads(aws(server, "cloudwatch", "get-metric-statistics",
                         "--namespace", "AWS/SageMaker", "--metric-name", "Invocations",
                         "--dimensions", "Name=EndpointName,Value=ep-metrics",
                         "Name=VariantName,Value=AllTraffic", "--statistics", "Sum",
                         "--start-time", window["StartTime"].isoformat(),
                         "--end-time", window["EndTime"].isoformat(),
                         "--period", "600").stdout)
    assert [p["Sum"] for p in out["Datapoints"]] == [23.0]

    for kw, words in (({"Period": 90}, "multiple of 60"),
                      ({"Statistics": ["p99"]}, "must be one of"),
                      ({"StartTime": now, "EndTime": now - datetime.timedelta(hours=1)},
                       "less than"),
                      ({"Period": 60, "StartTime": now - datetime.timedelta(days=3)},
                       "exceeds the limit of 1440")):
        args = dict(Namespace="AWS/SageMaker", MetricName="Invocations", Dimensions=dims,
                    Statistics=["Sum"], **window)
        args.update(kw)
        with pytest.raises(cw.exceptions.ClientError, match=words):
            cw.get_metric_statistics(**args)
    with pytest.raises(cw.exceptions.ClientError, match="InvalidAction"):
        cw.put_metric_data(Namespace="Custom", MetricData=[{"MetricName": "m", "Value": 1}])

    # GetMetricData: the same figures, several metrics in one call.
    def query(ident, name, stat, period=600, **extra):
        return dict({"Id": ident, "MetricStat": {"Metric": {
            "Namespace": "AWS/SageMaker", "MetricName": name, "Dimensions": dims},
            "Period": period, "Stat": stat}}, **extra)

    span = dict(StartTime=window["StartTime"], EndTime=window["EndTime"])
    got = cw.get_metric_data(MetricDataQueries=[
        query("calls", "Invocations", "Sum"),
        query("errors", "Invocation4XXErrors", "Sum", Label="client errors"),
        query("latency", "ModelLatency", "SampleCount", 60),
        query("hidden", "Invocations", "Maximum", ReturnData=False),
        dict(query("seconds", "Invocations", "Sum"), MetricStat=dict(
            query("s", "Invocations", "Sum")["MetricStat"], Unit="Seconds")),
    ], **span)
    res = {r["Id"]: r for r in got["MetricDataResults"]}
    assert list(res) == ["calls", "errors", "latency", "seconds"]
    assert res["calls"]["Values"] == [23.0] and res["calls"]["Label"] == "Invocations"
    assert res["errors"]["Values"] == [3.0] and res["errors"]["Label"] == "client errors"
    assert sum(res["latency"]["Values"]) == 23
    stamps = res["latency"]["Timestamps"]
    assert stamps == sorted(stamps, reverse=True) and all(t.second == 0 for t in stamps)
    assert res["seconds"]["Values"] == []  # another unit matches nothing
    assert {r["StatusCode"] for r in res.values()} == {"Complete"}
    # One datapoint a page: the pages join to the whole answer.
    many = [query("a", "ModelLatency", "SampleCount", 60), query("b", "Invocations", "Sum")]
    whole = cw.get_metric_data(MetricDataQueries=many, ScanBy="TimestampAscending", **span)
    pages = list(cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=many, ScanBy="TimestampAscending", MaxDatapoints=1, **span))
    assert len(pages) == 1 + len(stamps)
    for r in whole["MetricDataResults"]:
        parts = [x for p in pages for x in p["MetricDataResults"] if x["Id"] == r["Id"]]
        assert [v for x in parts for v in x["Values"]] == r["Values"]
        assert [t for x in parts for t in x["Timestamps"]] == r["Timestamps"]
    assert pages[0]["MetricDataResults"][1]["StatusCode"] == "PartialData"
    out = json.loads(aws(server, "cloudwatch", "get-metric-data", "--metric-data-queries",
                         json.dumps([query("calls", "Invocations", "Sum")]),
                         "--start-time", window["StartTime"].isoformat(),
                         "--end-time", window["EndTime"].isoformat()).stdout)
    assert out["MetricDataResults"][0]["Values"] == [23.0]
    for queries, extra, code, words in (
            ([query("calls", "Invocations", "Sum"), query("calls", "Invocations", "Sum")],
             {}, "ValidationError", "not unique"),
            ([query("Calls", "Invocations", "Sum")], {}, "ValidationError", "pattern"),
            ([{"Id": "e", "Expression": "SUM(METRICS())"}], {}, "ValidationError",
             "metric math"),
            ([query("p", "Invocations", "p99")], {}, "InvalidParameterValue", "percentiles"),
            ([query("p", "Invocations", "Sum", 90)], {}, "InvalidParameterValue",
             "multiple of 60"),
            ([query("p", "Invocations", "Sum")], {"NextToken": "nope"}, "InvalidNextToken",
             "NextToken")):
        with pytest.raises(cw.exceptions.ClientError, match=words) as e:
            cw.get_metric_data(MetricDataQueries=queries, **span, **extra)
        assert e.value.response["Error"]["Code"] == code
    sm.delete_endpoint(EndpointName="ep-metrics")


def test_cloudwatch_in_json_and_cbor(server, models):
    """CloudWatch as newer SDKs speak it, besides Query: AWS JSON 1.0 (the
    JavaScript SDK v3, and botocore since CloudWatch moved off Query) and
    Smithy RPC v2 CBOR, both with Query's error codes in
    x-amzn-query-error."""
    import cbor2
    sm, rt = models, client(server, "sagemaker-runtime")
    deploy(sm, "ep-cw", [("AllTraffic", "model-a", 1, 1.0)])
    for i in range(5):
        rt.invoke_endpoint(EndpointName="ep-cw", ContentType="text/csv",
                           Body=",".join([str(i)] * D))
    cw = client(server, "cloudwatch")
    dims = [{"Name": "EndpointName", "Value": "ep-cw"},
            {"Name": "VariantName", "Value": "AllTraffic"}]
    now = datetime.datetime.now(datetime.timezone.utc)
    span = dict(StartTime=now - datetime.timedelta(minutes=10),
                EndTime=now + datetime.timedelta(minutes=5))

    def calls():
        p = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName="Invocations",
                                     Dimensions=dims, Period=900, Statistics=["Sum"],
                                     **span)["Datapoints"]
        return p[0]["Sum"] if p else 0
    deadline = time.time() + 30
    while calls() != 5 and time.time() < deadline:
        time.sleep(0.5)
    assert calls() == 5

    res = run_js(server, "cloudwatch.mjs", ENDPOINT_NAME="ep-cw")
    assert res["values"] == [5] and res["timestampIsDate"]
    assert res["samples"] == [5] and res["latencyUnit"] == "Microseconds"
    assert res["alarm"] == {"name": "js-alarm", "period": 60, "state": "INSUFFICIENT_DATA",
                            "updatedIsDate": True}
    assert res["missing"] == {"name": "ResourceNotFound", "status": 404}

    def cbor_call(op, params):
        body = cbor2.dumps(params, timezone=datetime.timezone.utc,
                           datetime_as_timestamp=True)
        return send(server, *signed(
            server, "monitoring", body,
            {"Content-Type": "application/cbor", "Accept": "application/cbor",
             "smithy-protocol": "rpc-v2-cbor", "x-amzn-query-mode": "true"},
            path=f"/service/GraniteServiceVersion20100801/operation/{op}"))

    status, h, raw = cbor_call("GetMetricData", {
        "MetricDataQueries": [{"Id": "calls", "MetricStat": {"Metric": {
            "Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": dims},
            "Period": 900, "Stat": "Sum"}}], **span})
    assert status == 200 and h["smithy-protocol"] == "rpc-v2-cbor"
    assert h["content-type"] == "application/cbor"
    [r] = cbor2.loads(raw)["MetricDataResults"]
    assert r["Id"] == "calls" and r["Values"] == [5.0]
    assert isinstance(r["Timestamps"][0], datetime.datetime)  # tag 1
    assert span["StartTime"] - datetime.timedelta(minutes=15) < r["Timestamps"][0] < now
    status, h, raw = cbor_call("PutMetricAlarm", {
        "AlarmName": "cbor-alarm", "Namespace": "AWS/SageMaker", "MetricName": "Invocations",
        "Dimensions": dims, "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1,
        "Threshold": 1.5, "ComparisonOperator": "GreaterThanThreshold"})
    assert status == 200 and cbor2.loads(raw) == {}
    [a] = cw.describe_alarms(AlarmNames=["cbor-alarm"])["MetricAlarms"]
    assert a["Threshold"] == 1.5 and a["Dimensions"] == dims
    status, h, raw = cbor_call("DescribeAlarms", {"AlarmNames": ["cbor-alarm"]})
    [b] = cbor2.loads(raw)["MetricAlarms"]
    assert b["AlarmName"] == "cbor-alarm" and b["Period"] == 60 and b["ActionsEnabled"] is True
    assert isinstance(b["StateUpdatedTimestamp"], datetime.datetime)
    cw.delete_alarms(AlarmNames=["cbor-alarm"])
    status, h, raw = cbor_call("DeleteAlarms", {"AlarmNames": ["cbor-alarm"]})
    assert status == 404 and h["x-amzn-query-error"] == "ResourceNotFound;Sender"
    assert cbor2.loads(raw)["__type"] == "ResourceNotFound"
    status, h, raw = cbor_call("GetMetricData", {"MetricDataQueries": []})
    assert status == 400 and cbor2.loads(raw)["__type"] == "MissingParameter"
    for body in (b"\xff\x00", cbor2.dumps([1, 2]), cbor2.dumps({"a": b"bytes"})):
        status, h, raw = send(server, *signed(
            server, "monitoring", body, {"Content-Type": "application/cbor",
                                         "smithy-protocol": "rpc-v2-cbor"},
            path="/service/GraniteServiceVersion20100801/operation/ListMetrics"))
        assert status == 400 and "not a CBOR map" in cbor2.loads(raw)["message"]
    sm.delete_endpoint(EndpointName="ep-cw")


def test_autoscaling_tracks_invocations_per_instance(server, models):
    """Application Auto Scaling: a variant registered as a scalable target
    with a target-tracking policy on SageMakerVariantInvocationsPerInstance
    gets the instances its last minute of traffic asks for, within its
    MinCapacity and MaxCapacity."""
    sm, rt = models, client(server, "sagemaker-runtime")
    aas = client(server, "application-autoscaling")
    deploy(sm, "ep-scale", [("AllTraffic", "model-a", 1, 1.0)])
    rid, dim = "endpoint/ep-scale/variant/AllTraffic", "sagemaker:variant:DesiredInstanceCount"
    target = dict(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=dim)
    policy = dict(PolicyName="per-instance", PolicyType="TargetTrackingScaling",
                  TargetTrackingScalingPolicyConfiguration={
                      "TargetValue": 50.0, "ScaleOutCooldown": 0, "ScaleInCooldown": 3600,
                      "PredefinedMetricSpecification": {
                          "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}},
                  **target)

    # A policy needs its target; the target needs its variant.
    with pytest.raises(aas.exceptions.ObjectNotFoundException):
        aas.put_scaling_policy(**policy)
    for bad, words in ((dict(target, ResourceId="endpoint/ep-scale/variant/Nope"),
                        "no instance-based variant Nope"),
                       (dict(target, ScalableDimension="sagemaker:variant:Weight"),
                        "Unsupported scalable dimension"),
                       (dict(target, MinCapacity=3), "MaxCapacity are required")):
        args = {"MinCapacity": 1, "MaxCapacity": 3, **bad}
        if words.startswith("MaxCapacity"):
            args.pop("MaxCapacity")
        with pytest.raises(aas.exceptions.ValidationException, match=words):
            aas.register_scalable_target(**args)

    aas.register_scalable_target(MinCapacity=1, MaxCapacity=3, **target)
    arn = aas.put_scaling_policy(**policy)["PolicyARN"]
    assert arn.startswith("arn:aws:autoscaling:") and "policyName/per-instance" in arn
    [t] = aas.describe_scalable_targets(ServiceNamespace="sagemaker",
                                        ResourceIds=[rid])["ScalableTargets"]
    assert (t["MinCapacity"], t["MaxCapacity"], t["ScalableDimension"]) == (1, 3, dim)
    [p] = aas.describe_scaling_policies(ServiceNamespace="sagemaker",
                                        ResourceId=rid)["ScalingPolicies"]
    assert p["PolicyARN"] == arn and p["TargetTrackingScalingPolicyConfiguration"][
        "TargetValue"] == 50.0
    step = dict(policy, PolicyType="StepScaling")
    step.pop("TargetTrackingScalingPolicyConfiguration")
    with pytest.raises(aas.exceptions.ValidationException, match="TargetTrackingScaling"):
        aas.put_scaling_policy(**step)

    # 200 calls to one instance, 50 wanted per instance: 4, capped at 3.
    for _ in range(200):
        rt.invoke_endpoint(EndpointName="ep-scale", ContentType="text/csv",
                           Body=",".join(["1"] * D))
    deadline = time.time() + 45

    def instances():
        d = sm.describe_endpoint(EndpointName="ep-scale")
        return d["EndpointStatus"], d["ProductionVariants"][0]["CurrentInstanceCount"]
    while instances() != ("InService", 3) and time.time() < deadline:
        time.sleep(0.5)
    assert instances() == ("InService", 3)
    assert "event=autoscale endpoint=ep-scale" in server.stderr()
    [act] = aas.describe_scaling_activities(ServiceNamespace="sagemaker",
                                            ResourceId=rid)["ScalingActivities"]
    assert act["StatusCode"] == "Successful"
    assert act["Description"] == "Setting desired instance count to 3."
    assert "policy per-instance" in act["Cause"]

    # A narrower range applies at once, whatever the cooldowns.
    aas.register_scalable_target(MaxCapacity=2, **target)
    deadline = time.time() + 45
    while instances() != ("InService", 2) and time.time() < deadline:
        time.sleep(0.5)
    assert instances() == ("InService", 2)
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0][
        "MaxCapacity"] == 2

    out = json.loads(aws(server, "application-autoscaling", "describe-scaling-policies",
                         "--service-namespace", "sagemaker").stdout)
    assert arn in [q["PolicyARN"] for q in out["ScalingPolicies"]]
    aas.deregister_scalable_target(**target)
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker",
                                         ResourceId=rid)["ScalingPolicies"] == []
    with pytest.raises(aas.exceptions.ObjectNotFoundException):
        aas.delete_scaling_policy(PolicyName="per-instance", **target)
    sm.delete_endpoint(EndpointName="ep-scale")


def invoke_stream(server, endpoint, body, headers=None):
    """InvokeEndpointWithResponseStream sent raw (Debian's botocore predates
    it), its body decoded with botocore's own event-stream parser; returns
    (status, headers, [(event headers, payload)], raw body)."""
    from botocore.eventstream import EventStreamBuffer
    status, h, raw = send(server, *signed(
        server, "sagemaker", body, dict({"Content-Type": "text/csv"}, **(headers or {})),
        path=f"/endpoints/{endpoint}/invocations-response-stream"))
    events = []
    if status == 200:
        parser = EventStreamBuffer()
        parser.add_data(raw)
        events = [(m.headers, m.payload) for m in parser]
    return status, h, events, raw


def test_invoke_with_response_stream(server, models):
    """InvokeEndpointWithResponseStream: the answer InvokeEndpoint gives, as
    PayloadPart events of at most 64 KiB that join to it byte for byte; the
    container's errors as ModelError before any event; the JS SDK reads the
    stream as a Node.js user does."""
    sm = models
    deploy(sm, "ep-stream", [("A", "model-a", 1, 1.0)])
    rt = client(server, "sagemaker-runtime")
    rng = np.random.RandomState(7)
    X = (rng.rand(3000, D) * 35).astype(np.float32)
    csv = "\n".join(",".join(f"{x:g}" for x in row) for row in X)

    for n, accept in ((5, "application/jsonlines"), (3000, "application/json")):
        body = "\n".join(csv.split("\n")[:n]).encode()
        want = rt.invoke_endpoint(EndpointName="ep-stream", ContentType="text/csv",
                                  Accept=accept, Body=body)["Body"].read()
        status, h, events, _ = invoke_stream(server, "ep-stream", body,
                                             {"X-Amzn-SageMaker-Accept": accept,
                                              "X-Amzn-SageMaker-Custom-Attributes": "t=1"})
        assert status == 200
        assert h["content-type"] == "application/vnd.amazon.eventstream"
        assert h["x-amzn-sagemaker-content-type"] == accept
        assert h["x-amzn-invoked-production-variant"] == "A"
        assert h["x-amzn-requestid"]
        for eh, payload in events:
            assert eh == {":event-type": "PayloadPart", ":message-type": "event",
                          ":content-type": "application/octet-stream"}
            assert 0 < len(payload) <= 64 << 10
        assert b"".join(p for _, p in events) == want
        assert len(events) == -(-len(want) // (64 << 10))
    assert len(events) > 1
    got = json.loads(b"".join(p for _, p in events))["predictions"]
    assert [p["closest_cluster"] for p in got] == nearest(CENTERS_A, X)[0].tolist()

    # Errors come before the stream, as JSON with the runtime's codes.
    status, h, _, raw = invoke_stream(server, "ep-stream", b"1,2,x")
    assert status == 424 and h["x-amzn-errortype"].startswith("ModelError")
    assert json.loads(raw)["OriginalStatusCode"] == 400
    assert "'x' is not a number" in json.loads(raw)["OriginalMessage"]
    for endpoint, headers, words in (
            ("no-such", {}, "Endpoint no-such of account"),
            ("ep-stream", {"X-Amzn-SageMaker-Target-Variant": "B"}, "variant B"),
            ("ep-stream", {"X-Amzn-SageMaker-Accept": "x" * 1025}, "'accept'"),
            ("ep-stream", {"X-Amzn-SageMaker-Session-Id": "NEW_SESSION"}, "stateful"),
            ("ep-stream", {"X-Amzn-SageMaker-Inference-Component": "ic"},
             "Inference Component")):
        status, h, _, raw = invoke_stream(server, endpoint, b"1,2", headers)
        assert status == 400 and h["x-amzn-errortype"].startswith("ValidationError"), raw
        assert words in json.loads(raw)["message"], raw
    # InvokeEndpoint refuses what kiln's endpoints never have, too.
    for kw, words in (({"EnableExplanations": "`true`"}, "ExplainerConfig"),
                      ({"TargetContainerHostname": "c1"}, "multi-container")):
        with pytest.raises(rt.exceptions.ValidationError, match=words):
            rt.invoke_endpoint(EndpointName="ep-stream", ContentType="text/csv", Body="1,2",
                               **kw)
    status, h, raw = send(server, *signed(
        server, "sagemaker", b"1,2", {"Content-Type": "text/csv",
                                      "X-Amzn-SageMaker-Inference-Component": "ic"},
        path="/endpoints/ep-stream/invocations"))
    assert status == 400 and "Inference Component" in json.loads(raw)["message"]

    res = run_js(server, "sagemaker_stream.mjs", ENDPOINT_NAME="ep-stream",
                 ROWS="\n".join(csv.split("\n")[:3]))
    assert res["contentType"] == "application/jsonlines" and res["variant"] == "A"
    lines = [json.loads(l) for l in res["body"].splitlines()]
    assert [q["closest_cluster"] for q in lines] == nearest(CENTERS_A, X[:3])[0].tolist()
    assert res["bad"]["name"] == "ModelError" and res["bad"]["status"] == 424
    sm.delete_endpoint(EndpointName="ep-stream")


def test_alarms_roll_back_deployments(server, models):
    """CloudWatch metric alarms on the endpoint metrics (PutMetricAlarm,
    DescribeAlarms, SetAlarmState, DeleteAlarms) and UpdateEndpoint's
    AutoRollbackConfiguration: a canary whose new model answers errors is
    rolled back when the alarm on Invocation4XXErrors fires, and an
    all-at-once update when its alarm is set to ALARM while it bakes."""
    sm, rt = models, client(server, "sagemaker-runtime")
    cw = client(server, "cloudwatch")
    s3 = client(server, "s3")
    # A model for rows one feature longer: every row of D features is a 400.
    add_model(sm, "model-wide", "wide", s3, model_tgz(np.zeros((2, D + 1), np.float32)))
    deploy(sm, "ep-alarm", [("AllTraffic", "model-a", 1, 1.0)])
    sm.create_endpoint_config(EndpointConfigName="ep-alarm-wide", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "model-wide", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    dims = [{"Name": "EndpointName", "Value": "ep-alarm"},
            {"Name": "VariantName", "Value": "AllTraffic"}]
    cw.put_metric_alarm(AlarmName="ep-alarm-4xx", Namespace="AWS/SageMaker",
                        MetricName="Invocation4XXErrors", Dimensions=dims, Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmDescription="client errors")
    cw.get_waiter("alarm_exists").wait(AlarmNames=["ep-alarm-4xx"])

    def alarm(name):
        [a] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return a

    a = alarm("ep-alarm-4xx")
    assert a["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:ep-alarm-4xx"
    assert a["Dimensions"] == dims and a["Threshold"] == 0 and a["DatapointsToAlarm"] == 1
    assert a["AlarmDescription"] == "client errors"
    deadline = time.time() + 20  # no data, treated as not breaching: OK
    while alarm("ep-alarm-4xx")["StateValue"] != "OK" and time.time() < deadline:
        time.sleep(0.5)
    assert alarm("ep-alarm-4xx")["StateValue"] == "OK"

    row = ",".join(["1"] * D)

    def invoke_until_in_service(timeout=60):
        """Invokes while the endpoint updates; returns (answered, failed)."""
        ok = failed = 0
        deadline = time.time() + timeout
        while time.time() < deadline:
            for _ in range(10):
                try:
                    rt.invoke_endpoint(EndpointName="ep-alarm", ContentType="text/csv",
                                       Body=row)
                    ok += 1
                except rt.exceptions.ModelError:
                    failed += 1
            if sm.describe_endpoint(EndpointName="ep-alarm")["EndpointStatus"] == "InService":
                return ok, failed
        raise AssertionError("the update never ended")

    canary = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 120,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "ep-alarm-4xx"}]}}
    with pytest.raises(sm.exceptions.ClientError, match="nope .*does not exist"):
        sm.update_endpoint(EndpointName="ep-alarm", EndpointConfigName="ep-alarm-wide",
                           DeploymentConfig=dict(canary, AutoRollbackConfiguration={
                               "Alarms": [{"AlarmName": "nope"}]}))
    began = time.time()
    sm.update_endpoint(EndpointName="ep-alarm", EndpointConfigName="ep-alarm-wide",
                       DeploymentConfig=canary)
    ok, failed = invoke_until_in_service()
    assert failed > 0 and ok > 0  # the canary took about half
    assert time.time() - began < 60    # long before the 120 s wait
    d = sm.describe_endpoint(EndpointName="ep-alarm")
    assert d["EndpointConfigName"] == "ep-alarm-config"
    assert "alarm ep-alarm-4xx went into ALARM" in d["FailureReason"]
    for _ in range(20):  # the old fleet has all the traffic again
        rt.invoke_endpoint(EndpointName="ep-alarm", ContentType="text/csv", Body=row)
    assert_model_a_answers(server, "ep-alarm")
    a = alarm("ep-alarm-4xx")
    assert a["StateValue"] == "ALARM" and a["StateReason"].startswith("Threshold Crossed")
    assert [x["AlarmName"] for x in cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]] \
        == ["ep-alarm-4xx"]
    assert "event=rollback endpoint=ep-alarm alarm=ep-alarm-4xx" in server.stderr()

    # An alarm with no data that ignores missing data keeps the state it is
    # set to: SetAlarmState while the new fleet bakes rolls it back.
    cw.put_metric_alarm(AlarmName="ep-alarm-manual", Namespace="AWS/SageMaker",
                        MetricName="Invocations", Dimensions=dims[:1], Statistic="Sum",
                        Period=60, EvaluationPeriods=2, DatapointsToAlarm=1, Threshold=1e9,
                        ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="ignore")
    sm.update_endpoint(EndpointName="ep-alarm", EndpointConfigName="ep-alarm-wide",
                       DeploymentConfig={"BlueGreenUpdatePolicy": {
                           "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE",
                                                           "WaitIntervalInSeconds": 120}},
                           "AutoRollbackConfiguration": {"Alarms": [
                               {"AlarmName": "ep-alarm-manual"}]}})
    deadline = time.time() + 30
    while time.time() < deadline:  # until the new fleet answers everything
        try:
            rt.invoke_endpoint(EndpointName="ep-alarm", ContentType="text/csv", Body=row)
        except rt.exceptions.ModelError:
            break
        time.sleep(0.05)
    with pytest.raises(rt.exceptions.ModelError):
        rt.invoke_endpoint(EndpointName="ep-alarm", ContentType="text/csv", Body=row)
    assert sm.describe_endpoint(EndpointName="ep-alarm")["EndpointStatus"] == "Updating"
    cw.set_alarm_state(AlarmName="ep-alarm-manual", StateValue="ALARM",
                       StateReason="testing the rollback")
    deadline = time.time() + 10
    while sm.describe_endpoint(EndpointName="ep-alarm")["EndpointStatus"] != "InService":
        assert time.time() < deadline
        time.sleep(0.1)
    d = sm.describe_endpoint(EndpointName="ep-alarm")
    assert d["EndpointConfigName"] == "ep-alarm-config"
    assert "alarm ep-alarm-manual" in d["FailureReason"]
    assert_model_a_answers(server, "ep-alarm")
    assert alarm("ep-alarm-manual")["StateReason"] == "testing the rollback"

    # The alarms' history tells why: created, then OK, then ALARM.
    items = cw.describe_alarm_history(AlarmName="ep-alarm-4xx",
                                      ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items][:3] == [
        'Alarm "ep-alarm-4xx" created', "Alarm updated from INSUFFICIENT_DATA to OK",
        "Alarm updated from OK to ALARM"]
    fired = json.loads(items[2]["HistoryData"])
    assert fired["oldState"]["stateValue"] == "OK"
    assert fired["newState"]["stateReason"].startswith("Threshold Crossed")
    updates = cw.describe_alarm_history(HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert {i["AlarmName"] for i in updates} == {"ep-alarm-4xx", "ep-alarm-manual"}
    stamps = [i["Timestamp"] for i in updates]
    assert stamps == sorted(stamps, reverse=True)
    out = json.loads(aws(server, "cloudwatch", "describe-alarm-history", "--alarm-name",
                         "ep-alarm-manual", "--history-item-type", "StateUpdate").stdout)
    assert out["AlarmHistoryItems"][0]["HistorySummary"] == \
        "Alarm updated from INSUFFICIENT_DATA to ALARM"
    cw.disable_alarm_actions(AlarmNames=["ep-alarm-4xx", "no-such-alarm"])
    assert alarm("ep-alarm-4xx")["ActionsEnabled"] is False
    cw.enable_alarm_actions(AlarmNames=["ep-alarm-4xx"])
    assert alarm("ep-alarm-4xx")["ActionsEnabled"] is True
    found = cw.describe_alarms_for_metric(Namespace="AWS/SageMaker",
                                          MetricName="Invocation4XXErrors",
                                          Dimensions=dims)["MetricAlarms"]
    assert [a["AlarmName"] for a in found] == ["ep-alarm-4xx"]
    assert cw.describe_alarms_for_metric(Namespace="AWS/SageMaker",
                                         MetricName="Invocation4XXErrors",
                                         Dimensions=dims[:1])["MetricAlarms"] == []

    # Listing, paging, the aws CLI, deletion, and what is refused.
    page = cw.describe_alarms(MaxRecords=1)
    assert [x["AlarmName"] for x in page["MetricAlarms"]] == ["ep-alarm-4xx"]
    rest = cw.describe_alarms(MaxRecords=1, NextToken=page["NextToken"])
    assert [x["AlarmName"] for x in rest["MetricAlarms"]] == ["ep-alarm-manual"]
    assert "NextToken" not in rest
    out = json.loads(aws(server, "cloudwatch", "describe-alarms", "--alarm-name-prefix",
                         "ep-alarm-m").stdout)
    assert [x["AlarmName"] for x in out["MetricAlarms"]] == ["ep-alarm-manual"]
    for kw, words in (({"AlarmActions": ["arn:aws:sns:us-east-1:1:t"]}, "no SNS"),
                      ({"Statistic": None, "ExtendedStatistic": "p99"}, "percentiles"),
                      ({"Period": 90}, "multiple of 60"),
                      ({"ComparisonOperator": "LessThanLowerThreshold"}, "anomaly")):
        args = dict(AlarmName="bad", Namespace="AWS/SageMaker", MetricName="Invocations",
                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                    ComparisonOperator="GreaterThanThreshold")
        args.update(kw)
        args = {k: v for k, v in args.items() if v is not None}
        with pytest.raises(cw.exceptions.ClientError, match=words):
            cw.put_metric_alarm(**args)
    with pytest.raises(cw.exceptions.ResourceNotFound):
        cw.delete_alarms(AlarmNames=["ep-alarm-4xx", "nope"])
    with pytest.raises(cw.exceptions.ResourceNotFound):
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    aws(server, "cloudwatch", "delete-alarms", "--alarm-names", "ep-alarm-4xx",
        "ep-alarm-manual")
    assert cw.describe_alarms()["MetricAlarms"] == []
    sm.delete_endpoint(EndpointName="ep-alarm")
