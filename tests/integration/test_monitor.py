"""Model Monitor's data quality through processing jobs, driven with boto3 the
way the SageMaker Python SDK's DefaultModelMonitor drives it: suggest a
baseline from a CSV dataset, then check an endpoint's captured requests (and
a CSV dataset) against it; each statistic and violation checked against
numpy."""
import base64
import csv
import io
import json
import time

import botocore.exceptions
import numpy as np
import pytest

from conftest import (ACCOUNT, Server, aws, client, model_tgz, own_data_dir, refused, run_js,
                      send, signed)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
KMEANS = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
ROOT = "/opt/ml/processing"


def job(sm, name, inputs, env, out, runtime=1800, wait=True, **kw):
    """A processing job of the analyzer: inputs {name: (s3 uri, local
    path)}, its output at `out`; waits for it to end (unless not `wait`)
    and describes it."""
    sm.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE, AppSpecification={"ImageUri": ANALYZER},
        ProcessingInputs=[{"InputName": n, "S3Input": {
            "S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"}}
            for n, (uri, local) in inputs.items()],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "monitoring_output", "S3Output": {
            "S3Uri": out, "LocalPath": f"{ROOT}/output", "S3UploadMode": "EndOfJob"}}]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 20}},
        StoppingCondition={"MaxRuntimeInSeconds": runtime},
        Environment={"output_path": f"{ROOT}/output", "publish_cloudwatch_metrics": "Disabled",
                     **env}, **kw)
    if not wait:
        return sm.describe_processing_job(ProcessingJobName=name)
    try:
        sm.get_waiter("processing_job_completed_or_stopped").wait(
            ProcessingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except botocore.exceptions.WaiterError:
        pass
    return sm.describe_processing_job(ProcessingJobName=name)


def baseline_env():
    return {"dataset_format": json.dumps({"csv": {"header": True,
                                                  "output_columns_position": "START"}}),
            "dataset_source": f"{ROOT}/input/baseline_dataset_input"}


def monitor_env(fmt):
    return {"dataset_format": json.dumps(fmt), "dataset_source": f"{ROOT}/input/data",
            "baseline_statistics": f"{ROOT}/baseline/stats/statistics.json",
            "baseline_constraints": f"{ROOT}/baseline/constraints/constraints.json"}


def read_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def csv_text(header, rows):
    f = io.StringIO()
    w = csv.writer(f, lineterminator="\n")
    if header:
        w.writerow(header)
    w.writerows(rows)
    return f.getvalue()


@pytest.fixture(scope="module")
def baseline(server):
    """Bucket mon with a 2,000-row baseline: a, b, c ~ N(0, 1), color in
    red/green/blue, suggested by a processing job."""
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    s3.create_bucket(Bucket="mon")
    rng = np.random.default_rng(11)
    X = rng.normal(0, 1, (2000, 3))
    colors = rng.choice(["red", "green", "blue"], 2000)
    rows = [[f"{x:.4f}" for x in r] + [c] for r, c in zip(X, colors)]
    s3.put_object(Bucket="mon", Key="baseline/data.csv",
                  Body=csv_text(["a", "b", "c", "color"], rows))
    d = job(sm, "mon-baseline", {"baseline_dataset_input": (
        "s3://mon/baseline/data.csv", f"{ROOT}/input/baseline_dataset_input")},
        baseline_env(), "s3://mon/baseline-results", Tags=[{"Key": "team", "Value": "ml"}])
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    return X, colors, d


def test_suggested_baseline(server, baseline):
    X, colors, d = baseline
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    stats = read_json(s3, "mon", "baseline-results/statistics.json")
    cons = read_json(s3, "mon", "baseline-results/constraints.json")
    assert stats["dataset"]["item_count"] == 2000
    names = [f["name"] for f in stats["features"]]
    assert names == ["a", "b", "c", "color"]
    Xr = np.round(X, 4)
    for i, f in enumerate(stats["features"][:3]):
        assert f["inferred_type"] == "Fractional"
        ns = f["numerical_statistics"]
        assert ns["common"] == {"num_present": 2000, "num_missing": 0}
        assert ns["mean"] == pytest.approx(Xr[:, i].mean(), abs=1e-9)
        assert ns["std_dev"] == pytest.approx(Xr[:, i].std(), rel=1e-6)
        assert (ns["min"], ns["max"]) == pytest.approx((Xr[:, i].min(), Xr[:, i].max()))
        buckets = ns["distribution"]["kll"]["buckets"]
        assert len(buckets) == 10 and sum(b["count"] for b in buckets) == 2000
        edges = np.linspace(Xr[:, i].min(), Xr[:, i].max(), 11)
        want = np.histogram(Xr[:, i], edges)[0]
        assert [b["count"] for b in buckets] == pytest.approx(want, abs=2)
    color = stats["features"][3]
    assert color["inferred_type"] == "String"
    counts = {b["value"]: b["count"]
              for b in color["string_statistics"]["distribution"]["categorical"]["buckets"]}
    assert counts == {c: int((colors == c).sum()) for c in ("red", "green", "blue")}
    by_name = {f["name"]: f for f in cons["features"]}
    assert by_name["a"]["completeness"] == 1.0
    assert by_name["a"]["num_constraints"] == {"is_non_negative": False}
    assert sorted(by_name["color"]["string_constraints"]["domains"]) == ["blue", "green", "red"]
    assert cons["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1

    # The job as Describe, List, tags and logs show it.
    assert d["ProcessingJobArn"] == \
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:processing-job/mon-baseline"
    assert d["ProcessingInputs"][0]["S3Input"]["S3DataDistributionType"] == "FullyReplicated"
    assert d["ProcessingEndTime"] >= d["ProcessingStartTime"] >= d["CreationTime"]
    assert d["Environment"]["dataset_source"] == f"{ROOT}/input/baseline_dataset_input"
    summaries = sm.list_processing_jobs(NameContains="mon-base")["ProcessingJobSummaries"]
    assert [(x["ProcessingJobName"], x["ProcessingJobStatus"]) for x in summaries] == [
        ("mon-baseline", "Completed")]
    assert sm.list_tags(ResourceArn=d["ProcessingJobArn"])["Tags"] == [
        {"Key": "team", "Value": "ml"}]
    logs = client(server, "logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                        logStreamNamePrefix="mon-baseline/")["logStreams"]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs",
                                 logStreamName=streams[0]["logStreamName"])["events"]
    text = "\n".join(e["message"] for e in events)
    assert "Read 2000 row(s) of 4 column(s)" in text and "Completed" in text
    # aws CLI users see the same job.
    out = json.loads(aws(server, "sagemaker", "describe-processing-job",
                         "--processing-job-name", "mon-baseline").stdout)
    assert out["ProcessingJobStatus"] == "Completed"


def body(io):
    """A capture's data: base64 unless its content type was listed."""
    data = io["data"]
    return base64.b64decode(data).decode() if io["encoding"] == "BASE64" else data


def wait_capture(s3, prefix, rows):
    """Capture records under prefix once they hold `rows` CSV rows."""
    deadline = time.time() + 30
    while time.time() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mon", Prefix=prefix)
                .get("Contents", [])]
        records = [json.loads(line) for k in keys
                   for line in s3.get_object(Bucket="mon", Key=k)["Body"].read().splitlines()]
        got = sum(len(body(r["captureData"]["endpointInput"]).splitlines()) for r in records)
        if got >= rows:
            return records
        time.sleep(0.25)
    raise AssertionError(f"capture under {prefix} has {got} of {rows} rows")


@pytest.fixture(scope="module")
def captured(server, baseline):
    """Endpoints mon-ok and mon-drift, capturing 100% of their requests:
    2,000 rows each of a, b, c like the baseline's, mon-drift's with c
    shifted by 3. Returns the rows each was sent, as sent."""
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    rt = client(server, "sagemaker-runtime")
    s3.put_object(Bucket="mon", Key="models/km.tar.gz",
                  Body=model_tgz(np.array([[0.0] * 3, [5.0] * 3], np.float32)))
    sm.create_model(ModelName="mon-km", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": KMEANS, "ModelDataUrl": "s3://mon/models/km.tar.gz"})
    rng = np.random.default_rng(12)
    sent = {}
    for name, shift in (("mon-ok", 0.0), ("mon-drift", 3.0)):
        sm.create_endpoint_config(
            EndpointConfigName=name,
            DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                               "DestinationS3Uri": "s3://mon/capture",
                               "CaptureOptions": [{"CaptureMode": "Input"},
                                                  {"CaptureMode": "Output"}]},
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "mon-km",
                                 "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        # The endpoint takes the feature columns; the baseline's fourth
        # (color) is not sent.
        for _ in range(20):
            X = rng.normal(0, 1, (100, 3))
            X[:, 2] += shift
            body = "".join(",".join(f"{x:.4f}" for x in r) + "\n" for r in X)
            rt.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=body)
            sent.setdefault(name, []).append(np.loadtxt(body.splitlines(), delimiter=","))
        wait_capture(s3, f"capture/{name}/", 2000)
    return {name: np.vstack(rows) for name, rows in sent.items()}


def test_monitoring_captured_requests(server, captured):
    """Traffic like the baseline's has no violation but the column it does
    not send; traffic with column c shifted has a baseline drift in c."""
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    inputs = {"stats": ("s3://mon/baseline-results/statistics.json", f"{ROOT}/baseline/stats"),
              "constraints": ("s3://mon/baseline-results/constraints.json",
                              f"{ROOT}/baseline/constraints")}
    capture = {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput",
                                                              "endpointOutput"]}}
    results = {}
    for name in ("mon-ok", "mon-drift"):
        env = {**monitor_env(capture), "sagemaker_endpoint_name": name,
               "start_time": "2000-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z"}
        d = job(sm, f"{name}-check", {**inputs, "data": (f"s3://mon/capture/{name}/",
                                                         f"{ROOT}/input/data")},
                env, f"s3://mon/results/{name}")
        assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
        results[name] = read_json(s3, "mon", f"results/{name}/constraint_violations.json")
        stats = read_json(s3, "mon", f"results/{name}/statistics.json")
        assert stats["dataset"]["item_count"] == 2000
        assert [f["name"] for f in stats["features"]] == ["a", "b", "c", "color"]
    # Three columns sent where the baseline has four: that, and nothing
    # else, for traffic like the baseline's.
    missing = {"feature_name": "", "constraint_check_type": "missing_column_check",
               "description": "There are missing columns in current dataset. Number of "
                              "columns in current dataset: 3, Number of columns in baseline "
                              "constraints: 4"}
    ok = [v for v in results["mon-ok"]["violations"] if v != missing]
    assert ok == [{"feature_name": "color", "constraint_check_type": "completeness_check",
                   "description": "Data completeness requirement is not met. Expected: "
                                  "100.0%. Observed: Only 0.0% of data is complete."}]
    drift = {(v["feature_name"], v["constraint_check_type"])
             for v in results["mon-drift"]["violations"] if v != missing}
    assert drift == {("c", "baseline_drift_check"), ("color", "completeness_check")}

    # A window with no requests in it: the job fails as SageMaker's does.
    env = {**monitor_env(capture), "start_time": "2001-01-01T00:00:00Z",
           "end_time": "2001-01-01T01:00:00Z"}
    d = job(sm, "mon-empty-window", {**inputs, "data": ("s3://mon/capture/mon-ok/",
                                                        f"{ROOT}/input/data")},
            env, "s3://mon/results/empty")
    assert d["ProcessingJobStatus"] == "Failed"
    assert d["FailureReason"] == "ClientError: Job inputs had no data."
    assert d["ExitMessage"] == d["FailureReason"]


def test_every_check_on_a_csv_dataset(server, baseline):
    """A CSV dataset against the baseline: a column of text where numbers
    were, missing values, colors outside the domain, an extra column."""
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    rng = np.random.default_rng(13)
    rows = []
    for i in range(1000):
        a = "n/a" if i % 2 else f"{rng.normal():.4f}"
        b = "" if i % 10 < 3 else f"{rng.normal():.4f}"
        c = f"{rng.normal():.4f}"
        color = ["red", "purple"][i % 2]
        rows.append([a, b, c, color] + (["extra"] if i == 7 else []))
    s3.put_object(Bucket="mon", Key="current/data.csv",
                  Body=csv_text(["a", "b", "c", "color"], rows))
    d = job(sm, "mon-csv-check", {
        "stats": ("s3://mon/baseline-results/statistics.json", f"{ROOT}/baseline/stats"),
        "constraints": ("s3://mon/baseline-results/constraints.json",
                        f"{ROOT}/baseline/constraints"),
        "data": ("s3://mon/current/", f"{ROOT}/input/data")},
        monitor_env({"csv": {"header": True}}), "s3://mon/results/csv")
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    found = {(v["feature_name"], v["constraint_check_type"]): v["description"] for v in
             read_json(s3, "mon", "results/csv/constraint_violations.json")["violations"]}
    assert set(found) == {
        ("a", "data_type_check"), ("b", "completeness_check"),
        ("color", "categorical_values_check"), ("color", "baseline_drift_check"),
        ("", "extra_column_check")}
    assert "Only 50.0% of data is Fractional" in found[("a", "data_type_check")]
    assert "Only 70.0% of data is complete" in found[("b", "completeness_check")]
    assert "Only 50.0% of data is in the domain" in found[("color", "categorical_values_check")]


def test_refusals_failures_and_usage(server, baseline):
    sm = client(server, "sagemaker")

    def refused(text, **over):
        args = dict(ProcessingJobName="mon-bad", RoleArn=ROLE,
                    AppSpecification={"ImageUri": ANALYZER},
                    ProcessingResources={"ClusterConfig": {
                        "InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                        "VolumeSizeInGB": 20}})
        args.update(over)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_processing_job(**args)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert text in e.value.response["Error"]["Message"]

    refused("LocalPath must be a path under /opt/ml/processing/", ProcessingInputs=[{
        "InputName": "x", "S3Input": {"S3Uri": "s3://mon/current/", "LocalPath": "/etc",
                                      "S3DataType": "S3Prefix"}}])
    refused("LocalPath must be a path under /opt/ml/processing/", ProcessingInputs=[{
        "InputName": "x", "S3Input": {"S3Uri": "s3://mon/current/",
                                      "LocalPath": f"{ROOT}/input/../../../etc",
                                      "S3DataType": "S3Prefix"}}])
    refused("Member must have value less than or equal to 100",
            ProcessingResources={"ClusterConfig": {
                "InstanceCount": 101, "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 20}})
    refused("Member must satisfy enum value set", ProcessingResources={"ClusterConfig": {
        "InstanceCount": 1, "InstanceType": "ml.nope", "VolumeSizeInGB": 20}})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_processing_job(ProcessingJobName="mon-baseline", RoleArn=ROLE,
                                 AppSpecification={"ImageUri": ANALYZER},
                                 ProcessingResources={"ClusterConfig": {
                                     "InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                     "VolumeSizeInGB": 20}})
    assert e.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_processing_job(ProcessingJobName="mon-none")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.stop_processing_job(ProcessingJobName="mon-baseline")
    assert e.value.response["Error"]["Code"] == "ValidationException"

    # The analyzer's own errors fail the job with its message.
    d = job(sm, "mon-bad-format", {"data": ("s3://mon/current/", f"{ROOT}/input/data")},
            {"dataset_format": json.dumps({"parquet": {}}),
             "dataset_source": f"{ROOT}/input/data"}, "s3://mon/results/bad")
    assert d["ProcessingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: dataset_format")
    # Paths in the environment stay inside the job's own tree.
    for var, value in (("dataset_source", f"{ROOT}/../../../../../etc"),
                       ("output_path", "../../out")):
        env = {"dataset_format": json.dumps({"csv": {"header": False}}),
               "dataset_source": f"{ROOT}/input/data", var: value}
        d = job(sm, f"mon-escape-{var.split('_')[0]}",
                {"data": ("s3://mon/current/", f"{ROOT}/input/data")}, env,
                f"s3://mon/results/escape-{var}")
        assert d["ProcessingJobStatus"] == "Failed"
        assert d["FailureReason"].startswith(f"ClientError: {var} must be an absolute path")
    d = job(sm, "mon-no-baseline", {"data": ("s3://mon/current/", f"{ROOT}/input/data")},
            monitor_env({"csv": {"header": True}}), "s3://mon/results/none")
    assert d["ProcessingJobStatus"] == "Failed"
    assert "cannot read /opt/ml/processing/baseline/stats/statistics.json" in d["FailureReason"]

    # Processing time is metered like the other jobs'.
    ce = client(server, "ce")
    day = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    r = ce.get_cost_and_usage(TimePeriod={"Start": day, "End": tomorrow}, Granularity="DAILY",
                              Metrics=["UsageQuantity"],
                              GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    groups = {g["Keys"][0]: float(g["Metrics"]["UsageQuantity"]["Amount"])
              for p in r["ResultsByTime"] for g in p["Groups"]}
    assert groups.get("USE1-Processing:ml.m5.xlarge", 0) > 0


def schedule_config(endpoint, expr="NOW", baseline="baseline-num-results", window=True,
                    env=None):
    sc = {"ScheduleExpression": expr}
    if window:
        sc.update(DataAnalysisStartTime="-PT1H", DataAnalysisEndTime="-PT0H")
    return {
        "ScheduleConfig": sc,
        "MonitoringJobDefinition": {
            "BaselineConfig": {
                "ConstraintsResource": {"S3Uri": f"s3://mon/{baseline}/constraints.json"},
                "StatisticsResource": {"S3Uri": f"s3://mon/{baseline}/statistics.json"}},
            "MonitoringInputs": [{"EndpointInput": {
                "EndpointName": endpoint, "LocalPath": f"{ROOT}/input/endpoint"}}],
            "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": "s3://mon/monitoring", "LocalPath": f"{ROOT}/output",
                "S3UploadMode": "EndOfJob"}}]},
            "MonitoringResources": {"ClusterConfig": {
                "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
            "MonitoringAppSpecification": {"ImageUri": ANALYZER},
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
            "RoleArn": ROLE, **({"Environment": env} if env else {})},
        "MonitoringType": "DataQuality"}


def create_schedule(server, name, cfg, tags=None):
    """CreateMonitoringSchedule as a current SDK sends it: Debian's botocore
    (1.29) predates DataAnalysisStartTime and DataAnalysisEndTime and would
    refuse them, so this one is signed and sent by hand. Returns (HTTP
    status, answer)."""
    body = {"MonitoringScheduleName": name, "MonitoringScheduleConfig": cfg}
    if tags:
        body["Tags"] = tags
    status, _, data = send(server, *signed(server, "sagemaker", json.dumps(body).encode(), {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "SageMaker.CreateMonitoringSchedule"}))
    return status, json.loads(data)


def executions(sm, schedule):
    """The schedule's executions once none is pending or running."""
    deadline = time.time() + 60
    while time.time() < deadline:
        got = sm.list_monitoring_executions(
            MonitoringScheduleName=schedule)["MonitoringExecutionSummaries"]
        if got and all(e["MonitoringExecutionStatus"] not in ("Pending", "InProgress")
                       for e in got):
            return got
        time.sleep(0.25)
    raise AssertionError(f"{schedule}: {got}")


DATA_NS = "aws/sagemaker/Endpoints/data-metrics"


def data_metrics(server, rows):
    """The per-feature metrics sched-drift's execution published, as Model
    Monitor's container emits them, match the rows mon-drift was sent; an
    alarm on the drift of c fires; sched-ok, which disabled them, has none."""
    cw = client(server, "cloudwatch")
    listed = cw.list_metrics(Namespace=DATA_NS)["Metrics"]
    dims = [{"Name": "Endpoint", "Value": "mon-drift"},
            {"Name": "MonitoringSchedule", "Value": "sched-drift"}]
    assert all(m["Namespace"] == DATA_NS and m["Dimensions"] == dims for m in listed), listed
    assert sorted(m["MetricName"] for m in listed) == sorted(
        f"feature_{kind}_{col}" for kind in ("data", "non_null", "baseline_drift")
        for col in "abc")
    assert cw.list_metrics(Namespace=DATA_NS, Dimensions=[
        {"Name": "Endpoint", "Value": "mon-ok"}])["Metrics"] == []
    # Other namespaces' dimensions match nothing here, and the reverse.
    assert cw.list_metrics(Namespace=DATA_NS, Dimensions=[
        {"Name": "EndpointName", "Value": "mon-drift"}])["Metrics"] == []
    assert cw.list_metrics(Namespace="AWS/SageMaker", MetricName="feature_data_a")["Metrics"] == []

    now = time.time()

    def stats(name, *which):
        points = cw.get_metric_statistics(
            Namespace=DATA_NS, MetricName=name, Dimensions=dims, StartTime=now - 7200,
            EndTime=now + 60, Period=86400, Statistics=list(which))["Datapoints"]
        assert len(points) == 1, points
        return points[0]

    for i, col in enumerate("abc"):
        p = stats(f"feature_data_{col}", "SampleCount", "Sum", "Minimum", "Maximum")
        assert p["SampleCount"] == len(rows)
        assert p["Sum"] == pytest.approx(rows[:, i].sum(), abs=1e-6)
        assert p["Minimum"] == pytest.approx(rows[:, i].min())
        assert p["Maximum"] == pytest.approx(rows[:, i].max())
        assert stats(f"feature_non_null_{col}", "Sum")["Sum"] == 1.0
    assert stats("feature_baseline_drift_c", "Maximum")["Maximum"] > 0.5
    assert stats("feature_baseline_drift_a", "Maximum")["Maximum"] < 0.1

    # The web console shows the same, per feature, on the endpoint's page.
    seen = run_js(server, "console.mjs", PHASE="quality", ENDPOINT="mon-drift")
    assert [r[:2] for r in seen["features"]] == [["sched-drift", c] for c in "abc"]
    for (_, col, mean, present, drift), i in zip(seen["features"], range(3)):
        assert float(mean) == pytest.approx(rows[:, i].mean(), abs=1e-4)
        assert present == "100.0%"
        assert float(drift) == pytest.approx(
            stats(f"feature_baseline_drift_{col}", "Maximum")["Maximum"], abs=1e-4)
    # No call failed, and the console has an icon of its own, so the
    # browser asks for no /favicon.ico (which, unsigned, would get a 403).
    assert seen["pageErrors"] == [] and seen["failed"] == []
    assert seen["consoleErrors"] == []

    cw.put_metric_alarm(
        AlarmName="drift-c", Namespace=DATA_NS, MetricName="feature_baseline_drift_c",
        Dimensions=dims, Statistic="Maximum", Period=3600, EvaluationPeriods=2,
        DatapointsToAlarm=1, Threshold=0.1, ComparisonOperator="GreaterThanThreshold")
    for _ in range(60):
        state = cw.describe_alarms(AlarmNames=["drift-c"])["MetricAlarms"][0]["StateValue"]
        if state == "ALARM":
            break
        time.sleep(0.5)
    assert state == "ALARM"
    cw.delete_alarms(AlarmNames=["drift-c"])


@pytest.fixture(scope="module")
def num_baseline(server, baseline):
    """A baseline of the three columns the endpoints take, under
    s3://mon/baseline-num-results."""
    X, _, _ = baseline
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    s3.put_object(Bucket="mon", Key="baseline-num/data.csv",
                  Body=csv_text(["a", "b", "c"], [[f"{x:.4f}" for x in r] for r in X]))
    d = job(sm, "mon-baseline-num", {"baseline_dataset_input": (
        "s3://mon/baseline-num/data.csv", f"{ROOT}/input/baseline_dataset_input")},
        baseline_env(), "s3://mon/baseline-num-results")
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")


def test_monitoring_schedules(server, num_baseline, captured):
    """Schedules that run at once (NOW) over the last hour of captures: the
    drifted endpoint's execution completes with violations, the other's
    without; an hourly schedule stops, starts and is deleted."""
    s3, sm = client(server, "s3"), client(server, "sagemaker")

    # sched-drift publishes CloudWatch metrics (as the SDK asks by default);
    # sched-ok turns them off.
    for name, endpoint, publish in (("sched-ok", "mon-ok", "Disabled"),
                                    ("sched-drift", "mon-drift", "Enabled")):
        cfg = schedule_config(endpoint, env={"publish_cloudwatch_metrics": publish})
        status, r = create_schedule(server, name, cfg, [{"Key": "team", "Value": "ml"}])
        assert status == 200, r
        assert r["MonitoringScheduleArn"] == \
            f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:monitoring-schedule/{name}"
    ok, drift = executions(sm, "sched-ok"), executions(sm, "sched-drift")
    assert [e["MonitoringExecutionStatus"] for e in ok] == ["Completed"]
    assert [e["MonitoringExecutionStatus"] for e in drift] == ["CompletedWithViolations"]
    e = drift[0]
    assert e["EndpointName"] == "mon-drift" and e["MonitoringType"] == "DataQuality"
    job_name = e["ProcessingJobArn"].split("/")[-1]
    assert job_name.startswith("model-monitoring-")
    pj = sm.describe_processing_job(ProcessingJobName=job_name)
    assert pj["Environment"]["sagemaker_endpoint_name"] == "mon-drift"
    out = pj["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(e["ScheduledTime"].timestamp()))
    assert out == f"s3://mon/monitoring/mon-drift/sched-drift/{hour}"
    found = read_json(s3, "mon", out[len("s3://mon/"):] + "/constraint_violations.json")
    assert [(v["feature_name"], v["constraint_check_type"]) for v in found["violations"]] == [
        ("c", "baseline_drift_check")]
    desc = sm.describe_monitoring_schedule(MonitoringScheduleName="sched-drift")
    assert desc["MonitoringScheduleStatus"] == "Scheduled"
    assert desc["EndpointName"] == "mon-drift" and desc["MonitoringType"] == "DataQuality"
    assert desc["LastMonitoringExecutionSummary"]["MonitoringExecutionStatus"] == \
        "CompletedWithViolations"
    assert "KilnExecutions" not in desc and "KilnNextTime" not in desc
    assert sm.list_tags(ResourceArn=desc["MonitoringScheduleArn"])["Tags"] == [
        {"Key": "team", "Value": "ml"}]
    both = sm.list_monitoring_executions(
        EndpointName="mon-ok", SortBy="ScheduledTime")["MonitoringExecutionSummaries"]
    assert [x["MonitoringScheduleName"] for x in both] == ["sched-ok"]
    data_metrics(server, captured["mon-drift"])

    # An hourly schedule: nothing runs before the hour; stop, start, delete.
    sm.create_monitoring_schedule(
        MonitoringScheduleName="sched-hourly",
        MonitoringScheduleConfig=schedule_config("mon-ok", "cron(0 * ? * * *)", window=False))
    listed = sm.list_monitoring_schedules(EndpointName="mon-ok")["MonitoringScheduleSummaries"]
    assert sorted(x["MonitoringScheduleName"] for x in listed) == ["sched-hourly", "sched-ok"]
    assert sm.list_monitoring_executions(
        MonitoringScheduleName="sched-hourly")["MonitoringExecutionSummaries"] == []
    sm.stop_monitoring_schedule(MonitoringScheduleName="sched-hourly")
    assert sm.describe_monitoring_schedule(
        MonitoringScheduleName="sched-hourly")["MonitoringScheduleStatus"] == "Stopped"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        sm.stop_monitoring_schedule(MonitoringScheduleName="sched-hourly")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    sm.start_monitoring_schedule(MonitoringScheduleName="sched-hourly")
    assert sm.describe_monitoring_schedule(
        MonitoringScheduleName="sched-hourly")["MonitoringScheduleStatus"] == "Scheduled"
    arn = sm.update_monitoring_schedule(
        MonitoringScheduleName="sched-hourly",
        MonitoringScheduleConfig=schedule_config("mon-drift", "cron(0 3 ? * * *)",
                                                 window=False))["MonitoringScheduleArn"]
    desc = sm.describe_monitoring_schedule(MonitoringScheduleName="sched-hourly")
    assert desc["MonitoringScheduleArn"] == arn and desc["EndpointName"] == "mon-drift"
    assert desc["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == \
        "cron(0 3 ? * * *)"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        sm.update_monitoring_schedule(
            MonitoringScheduleName="sched-hourly",
            MonitoringScheduleConfig=schedule_config("mon-ok", "cron(0 */5 ? * * *)",
                                                     window=False))
    assert "is not one kiln runs" in err.value.response["Error"]["Message"]
    sm.delete_monitoring_schedule(MonitoringScheduleName="sched-hourly")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        sm.describe_monitoring_schedule(MonitoringScheduleName="sched-hourly")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"

    # An endpoint that captures nothing: its execution fails and says why.
    sm.create_endpoint_config(EndpointConfigName="mon-nocap", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "mon-km", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="mon-nocap", EndpointConfigName="mon-nocap")
    assert create_schedule(server, "sched-nocap", schedule_config("mon-nocap"))[0] == 200
    failed = executions(sm, "sched-nocap")
    assert failed[0]["MonitoringExecutionStatus"] == "Failed"
    assert "captures no data" in failed[0]["FailureReason"]

    def refused(code, text, name="sched-bad", **cfg):
        status, r = create_schedule(server, name, cfg)
        assert status == 400 and r["__type"].endswith(code), r
        assert text in r["message"]

    refused("ValidationException", "is not one kiln runs",
            **schedule_config("mon-ok", "rate(5 minutes)", window=False))
    refused("ValidationException", "required with NOW",
            **schedule_config("mon-ok", window=False))
    refused("ValidationException", "Could not find endpoint", **schedule_config("mon-none"))
    refused("ValidationException", "data quality only",
            **{**schedule_config("mon-ok"), "MonitoringType": "ModelQuality"})
    refused("ResourceInUse", "already exists", name="sched-ok", **schedule_config("mon-ok"))


def sdk_job_definition(name, endpoint, **over):
    """CreateDataQualityJobDefinition as the SageMaker Python SDK's
    DefaultModelMonitor.create_monitoring_schedule sends it."""
    req = {
        "JobDefinitionName": name,
        "DataQualityBaselineConfig": {
            "ConstraintsResource": {"S3Uri": "s3://mon/baseline-num-results/constraints.json"},
            "StatisticsResource": {"S3Uri": "s3://mon/baseline-num-results/statistics.json"}},
        "DataQualityAppSpecification": {
            "ImageUri": ANALYZER, "Environment": {"publish_cloudwatch_metrics": "Enabled"}},
        "DataQualityJobInput": {"EndpointInput": {
            "EndpointName": endpoint, "LocalPath": f"{ROOT}/input/endpoint",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}},
        "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": "s3://mon/sdk-monitoring", "LocalPath": f"{ROOT}/output",
            "S3UploadMode": "Continuous"}}]},
        "JobResources": {"ClusterConfig": {
            "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
        "RoleArn": ROLE,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "by", "Value": "sdk"}]}
    req.update(over)
    return req


def test_job_definitions_as_the_sdk_uses_them(server, num_baseline, captured):
    """The SageMaker Python SDK's DefaultModelMonitor creates a data quality
    job definition, then a schedule that names it (MonitoringJobDefinitionName
    and MonitoringType); its updates create a new definition and name that;
    delete_monitoring_schedule() deletes the schedule, then the definition.
    A schedule that names a definition runs as one holding it."""
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    arn = sm.create_data_quality_job_definition(
        **sdk_job_definition("dq-drift", "mon-drift"))["JobDefinitionArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:data-quality-job-definition/dq-drift"
    sm.create_data_quality_job_definition(**sdk_job_definition("dq-ok", "mon-ok"))
    d = sm.describe_data_quality_job_definition(JobDefinitionName="dq-drift")
    assert d["JobDefinitionArn"] == arn and d["JobDefinitionName"] == "dq-drift"
    want = sdk_job_definition("dq-drift", "mon-drift")
    for key in ("DataQualityBaselineConfig", "DataQualityAppSpecification",
                "DataQualityJobInput", "DataQualityJobOutputConfig", "JobResources",
                "RoleArn", "StoppingCondition"):
        assert d[key] == want[key], key
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "by", "Value": "sdk"}]
    listed = sm.list_data_quality_job_definitions(
        SortBy="Name", SortOrder="Ascending")["JobDefinitionSummaries"]
    assert [(x["MonitoringJobDefinitionName"], x["EndpointName"]) for x in listed] == [
        ("dq-drift", "mon-drift"), ("dq-ok", "mon-ok")]
    assert listed[0]["MonitoringJobDefinitionArn"] == arn
    assert [x["MonitoringJobDefinitionName"] for x in sm.list_data_quality_job_definitions(
        EndpointName="mon-ok")["JobDefinitionSummaries"]] == ["dq-ok"]
    out = json.loads(aws(server, "sagemaker", "list-data-quality-job-definitions",
                         "--name-contains", "drift").stdout)
    assert [x["MonitoringJobDefinitionName"] for x in out["JobDefinitionSummaries"]] == [
        "dq-drift"]

    # The schedule, as the SDK creates it: the definition's name and type.
    status, r = create_schedule(server, "sdk-drift", {
        "MonitoringJobDefinitionName": "dq-drift", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"}})
    assert status == 200, r
    [e] = executions(sm, "sdk-drift")
    assert e["MonitoringExecutionStatus"] == "CompletedWithViolations"
    assert e["MonitoringJobDefinitionName"] == "dq-drift" and e["EndpointName"] == "mon-drift"
    pj = sm.describe_processing_job(ProcessingJobName=e["ProcessingJobArn"].split("/")[-1])
    assert pj["Environment"]["publish_cloudwatch_metrics"] == "Enabled"
    out = pj["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert out.startswith("s3://mon/sdk-monitoring/mon-drift/sdk-drift/"), out
    found = read_json(s3, "mon", out[len("s3://mon/"):] + "/constraint_violations.json")
    assert [(v["feature_name"], v["constraint_check_type"]) for v in found["violations"]] == [
        ("c", "baseline_drift_check")]
    desc = sm.describe_monitoring_schedule(MonitoringScheduleName="sdk-drift")
    assert desc["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == "dq-drift"
    assert "MonitoringJobDefinition" not in desc["MonitoringScheduleConfig"]
    assert "KilnJobDefinition" not in desc and desc["EndpointName"] == "mon-drift"
    [summary] = [x for x in sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]
                 if x["MonitoringScheduleName"] == "sdk-drift"]
    assert summary["MonitoringJobDefinitionName"] == "dq-drift"
    assert [x["MonitoringScheduleName"] for x in sm.list_monitoring_executions(
        MonitoringJobDefinitionName="dq-drift")["MonitoringExecutionSummaries"]] == ["sdk-drift"]

    # Without a ScheduleConfig (the SDK's default) a schedule is daily.
    sm.create_monitoring_schedule(MonitoringScheduleName="sdk-daily", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "dq-ok", "MonitoringType": "DataQuality"})
    assert sm.describe_monitoring_schedule(
        MonitoringScheduleName="sdk-daily")["MonitoringScheduleStatus"] == "Scheduled"
    assert sm.list_monitoring_executions(
        MonitoringScheduleName="sdk-daily")["MonitoringExecutionSummaries"] == []
    # update_monitoring_schedule(): a new definition, named by the schedule,
    # then the old one deleted; the schedule keeps what it runs.
    sm.create_data_quality_job_definition(**sdk_job_definition("dq-ok-2", "mon-drift"))
    sm.update_monitoring_schedule(MonitoringScheduleName="sdk-daily", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "dq-ok-2", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}})
    sm.delete_data_quality_job_definition(JobDefinitionName="dq-ok")
    desc = sm.describe_monitoring_schedule(MonitoringScheduleName="sdk-daily")
    assert desc["EndpointName"] == "mon-drift"
    assert desc["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == "dq-ok-2"

    # What is refused.
    refused(sm.create_data_quality_job_definition, "ResourceInUse", "already exists",
            **sdk_job_definition("dq-drift", "mon-drift"))
    refused(sm.create_data_quality_job_definition, "ValidationException", "runs no scripts",
            **sdk_job_definition("dq-pre", "mon-drift", DataQualityAppSpecification={
                "ImageUri": ANALYZER, "RecordPreprocessorSourceUri": "s3://mon/pre.py"}))
    refused(sm.create_data_quality_job_definition, "ValidationException",
            "built-in sagemaker-model-monitor-analyzer",
            **sdk_job_definition("dq-img", "mon-drift", DataQualityAppSpecification={
                "ImageUri": "my/monitor:1"}))
    refused(sm.describe_data_quality_job_definition, "ResourceNotFound", "does not exist",
            JobDefinitionName="dq-ok")
    refused(sm.delete_data_quality_job_definition, "ResourceNotFound", "does not exist",
            JobDefinitionName="dq-ok")
    refused(sm.create_monitoring_schedule, "ValidationException",
            "dq-none does not exist", MonitoringScheduleName="sdk-bad",
            MonitoringScheduleConfig={"MonitoringJobDefinitionName": "dq-none",
                                      "MonitoringType": "DataQuality"})
    refused(sm.create_monitoring_schedule, "ValidationException", "not both",
            MonitoringScheduleName="sdk-bad", MonitoringScheduleConfig={
                **schedule_config("mon-ok", "cron(0 * ? * * *)", window=False),
                "MonitoringJobDefinitionName": "dq-drift"})
    refused(sm.create_monitoring_schedule, "ValidationException", "MonitoringType is required",
            MonitoringScheduleName="sdk-bad",
            MonitoringScheduleConfig={"MonitoringJobDefinitionName": "dq-drift"})

    # delete_monitoring_schedule(): the schedule, then its definition.
    for schedule, definition in (("sdk-drift", "dq-drift"), ("sdk-daily", "dq-ok-2")):
        sm.delete_monitoring_schedule(MonitoringScheduleName=schedule)
        sm.delete_data_quality_job_definition(JobDefinitionName=definition)
    assert sm.list_data_quality_job_definitions()["JobDefinitionSummaries"] == []


def test_stop_runtime_limit_and_restart(tmp_path):
    """A long analysis (8,000,000 rows: one 200,000-row CSV under 40 keys)
    stops when asked, fails past its MaxRuntimeInSeconds, and a job still
    running when kiln stops runs again, whole, at the next start."""
    s = Server(own_data_dir(tmp_path))
    inputs = {"data": ("s3://big/data/", f"{ROOT}/input/data")}
    env = {"dataset_format": json.dumps({"csv": {"header": True}}),
           "dataset_source": f"{ROOT}/input/data"}

    def running(sm, name, **kw):
        job(sm, name, inputs, env, f"s3://big/out/{name}", wait=False, **kw)
        for _ in range(100):
            d = sm.describe_processing_job(ProcessingJobName=name)
            if d["ProcessingJobStatus"] != "InProgress" or "ProcessingStartTime" in d:
                break
            time.sleep(0.1)
        assert d["ProcessingJobStatus"] == "InProgress", d

    def waited(sm, name):
        try:
            sm.get_waiter("processing_job_completed_or_stopped").wait(
                ProcessingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        except botocore.exceptions.WaiterError:
            pass  # Failed
        return sm.describe_processing_job(ProcessingJobName=name)

    try:
        s3, sm = client(s, "s3"), client(s, "sagemaker")
        s3.create_bucket(Bucket="big")
        X = np.random.default_rng(5).normal(0, 1, (200000, 3))
        s3.put_object(Bucket="big", Key="data/part-00.csv",
                      Body=csv_text(["a", "b", "c"], [[f"{x:.4f}" for x in r] for r in X]))
        for i in range(1, 40):
            s3.copy_object(Bucket="big", Key=f"data/part-{i:02d}.csv",
                           CopySource={"Bucket": "big", "Key": "data/part-00.csv"})

        running(sm, "proc-stop")
        time.sleep(0.5)
        sm.stop_processing_job(ProcessingJobName="proc-stop")
        assert sm.describe_processing_job(ProcessingJobName="proc-stop")[
            "ProcessingJobStatus"] in ("Stopping", "Stopped")
        d = waited(sm, "proc-stop")
        assert d["ProcessingJobStatus"] == "Stopped" and "ProcessingEndTime" in d
        assert "Contents" not in s3.list_objects_v2(Bucket="big", Prefix="out/proc-stop/")

        running(sm, "proc-limit", runtime=1)
        d = waited(sm, "proc-limit")
        assert d["ProcessingJobStatus"] == "Failed"
        assert d["FailureReason"] == \
            "ClientError: The processing job ran past its MaxRuntimeInSeconds."
        assert "Contents" not in s3.list_objects_v2(Bucket="big", Prefix="out/proc-limit/")

        running(sm, "proc-restart")
        time.sleep(0.5)
    finally:
        assert s.stop() == 0, s.stderr()[-3000:]
    s = Server(s.data_dir)
    try:
        s3, sm = client(s, "s3"), client(s, "sagemaker")
        d = waited(sm, "proc-restart")
        assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
        stats = read_json(s3, "big", "out/proc-restart/statistics.json")
        assert stats["dataset"]["item_count"] == 8000000
        a = stats["features"][0]["numerical_statistics"]
        assert a["sum"] == pytest.approx(40 * np.round(X[:, 0], 4).sum(), abs=1e-3)
    finally:
        assert s.stop() == 0, s.stderr()[-3000:]
