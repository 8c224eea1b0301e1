"""What jobs and endpoints used and cost, through Cost Explorer's
GetCostAndUsage with boto3 and the aws CLI, from a server started with a
price list."""
import datetime
import json

import botocore.exceptions
import numpy as np
import pytest

from conftest import ACCOUNT, aws, client, model_tgz, priced_server

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
PRICES = {"ml.m5.large": 0.115,
          "ml.c5.xlarge": {"training": 0.204, "hosting": 0.25, "transform": 0.3}}


@pytest.fixture(scope="module")
def priced():
    with priced_server(PRICES, "kiln-cost-") as s:
        yield s


def period():
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return {"Start": str(today - datetime.timedelta(days=1)),
            "End": str(today + datetime.timedelta(days=1))}


@pytest.fixture(scope="module")
def usage(priced):
    """A transform job on 2 x ml.c5.xlarge and an endpoint on ml.m5.large
    that served for a while and was deleted."""
    s3, sm = client(priced, "s3"), client(priced, "sagemaker")
    for b in ("models", "data"):
        s3.create_bucket(Bucket=b)
    centers = np.array([[0.0] * 4, [5.0] * 4], np.float32)
    s3.put_object(Bucket="models", Key="m/model.tar.gz", Body=model_tgz(centers))
    sm.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": "s3://models/m/model.tar.gz"})
    s3.put_object(Bucket="data", Key="in/a.csv", Body=b"1,1,1,1\n5,5,5,4\n" * 1000)
    sm.create_transform_job(
        TransformJobName="tj", ModelName="m", BatchStrategy="SingleRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": "s3://data/in/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": "s3://data/out"},
        TransformResources={"InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
        Tags=[{"Key": "team", "Value": "ml"}])
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="tj", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    tj = sm.describe_transform_job(TransformJobName="tj")
    assert tj["TransformJobStatus"] == "Completed", tj.get("FailureReason")

    sm.create_endpoint_config(EndpointConfigName="ep-config", ProductionVariants=[
        {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="ep-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    up = datetime.datetime.now(datetime.timezone.utc)
    rt = client(priced, "sagemaker-runtime")
    for _ in range(50):
        rt.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body="1,2,3,4")
    sm.delete_endpoint(EndpointName="ep")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="ep",
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    span = (datetime.datetime.now(datetime.timezone.utc) - up).total_seconds()
    job_hours = 2 * (tj["TransformEndTime"] - tj["TransformStartTime"]).total_seconds() / 3600
    return {"job_hours": job_hours, "endpoint_max_hours": (span + 60) / 3600,
            "job_arn": tj["TransformJobArn"],
            "endpoint_arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/ep"}


def amounts(group):
    return {k: float(v["Amount"]) for k, v in group["Metrics"].items()}


def test_cost_by_usage_type(priced, usage):
    ce = client(priced, "ce")
    r = ce.get_cost_and_usage(TimePeriod=period(), Granularity="DAILY",
                              Metrics=["UnblendedCost", "UsageQuantity"],
                              GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    assert r["GroupDefinitions"] == [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
    assert len(r["ResultsByTime"]) == 2
    groups = {}
    for day in r["ResultsByTime"]:
        for g in day["Groups"]:
            key = g["Keys"][0]
            got = amounts(g)
            assert g["Metrics"]["UnblendedCost"]["Unit"] == "USD"
            assert g["Metrics"]["UsageQuantity"]["Unit"] == "Hrs"
            prev = groups.get(key, {"UnblendedCost": 0, "UsageQuantity": 0})
            groups[key] = {k: prev[k] + got[k] for k in got}
    assert set(groups) == {"USE1-Tsform:ml.c5.xlarge", "USE1-Host:ml.m5.large"}
    job = groups["USE1-Tsform:ml.c5.xlarge"]
    # The times in DescribeTransformJob come to boto3 to the microsecond.
    assert job["UsageQuantity"] == pytest.approx(usage["job_hours"], rel=1e-4)
    assert job["UnblendedCost"] == pytest.approx(job["UsageQuantity"] * 0.3, rel=1e-9)
    host = groups["USE1-Host:ml.m5.large"]
    assert 0 < host["UsageQuantity"] < usage["endpoint_max_hours"]
    assert host["UnblendedCost"] == pytest.approx(host["UsageQuantity"] * 0.115, rel=1e-6)

    # Without a group, the total; hour by hour, the same total.
    daily = ce.get_cost_and_usage(TimePeriod=period(), Granularity="DAILY",
                                  Metrics=["UnblendedCost"])
    total = sum(float(d["Total"]["UnblendedCost"]["Amount"]) for d in daily["ResultsByTime"])
    assert total == pytest.approx(job["UnblendedCost"] + host["UnblendedCost"], rel=1e-6)
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = now - datetime.timedelta(hours=3)
    hourly = ce.get_cost_and_usage(
        TimePeriod={"Start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "End": (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        Granularity="HOURLY", Metrics=["UnblendedCost"])
    assert len(hourly["ResultsByTime"]) == 4
    assert hourly["ResultsByTime"][0]["TimePeriod"]["Start"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sum(float(h["Total"]["UnblendedCost"]["Amount"]) for h in hourly["ResultsByTime"]) == \
        pytest.approx(total, rel=1e-6)


def test_cost_by_resource_tag_and_filter(priced, usage):
    ce = client(priced, "ce")
    r = ce.get_cost_and_usage_with_resources(
        TimePeriod=period(), Granularity="MONTHLY",
        Filter={"Dimensions": {"Key": "SERVICE", "Values": ["Amazon SageMaker"]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}])
    keys = {g["Keys"][0] for m in r["ResultsByTime"] for g in m["Groups"]}
    assert keys == {usage["job_arn"], usage["endpoint_arn"]}

    r = ce.get_cost_and_usage(TimePeriod=period(), Granularity="MONTHLY",
                              Metrics=["UsageQuantity"],
                              GroupBy=[{"Type": "TAG", "Key": "team"},
                                       {"Type": "DIMENSION", "Key": "OPERATION"}])
    keys = {tuple(g["Keys"]) for m in r["ResultsByTime"] for g in m["Groups"]}
    assert keys == {("team$ml", "Transform"), ("team$", "Hosting")}

    r = ce.get_cost_and_usage(
        TimePeriod=period(), Granularity="MONTHLY", Metrics=["UsageQuantity"],
        Filter={"Not": {"Dimensions": {"Key": "OPERATION", "Values": ["Hosting"]}}})
    hours = sum(float(m["Total"]["UsageQuantity"]["Amount"]) for m in r["ResultsByTime"])
    assert hours == pytest.approx(usage["job_hours"], rel=1e-4)
    r = ce.get_cost_and_usage(
        TimePeriod=period(), Granularity="MONTHLY", Metrics=["UsageQuantity"],
        Filter={"Tags": {"Key": "team", "Values": ["nobody"]}})
    assert all(float(m["Total"]["UsageQuantity"]["Amount"]) == 0 for m in r["ResultsByTime"])

    out = json.loads(aws(priced, "ce", "get-cost-and-usage", "--time-period",
                         "Start={Start},End={End}".format(**period()), "--granularity",
                         "DAILY", "--metrics", "BlendedCost").stdout)
    assert sum(float(d["Total"]["BlendedCost"]["Amount"]) for d in out["ResultsByTime"]) > 0


def test_cost_bad_requests(priced):
    ce = client(priced, "ce")

    def refused(text, **kw):
        args = dict(TimePeriod=period(), Granularity="DAILY", Metrics=["UnblendedCost"])
        args.update(kw)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ce.get_cost_and_usage(**args)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert text in e.value.response["Error"]["Message"]

    refused("should be before end date", TimePeriod={"Start": "2026-02-02", "End": "2026-02-01"})
    refused("Group Definition dimension RESOURCE_ID",
            GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}])
    refused("not one kiln reports", Metrics=["NormalizedUsageAmount"])
    refused("exactly one of", Filter={})
    refused("at most 14 days", Granularity="HOURLY",
            TimePeriod={"Start": "2026-01-01", "End": "2026-02-01"})
    refused("TimePeriod Start and End are dates",
            TimePeriod={"Start": "2026-13-01", "End": "2026-02-01"})
