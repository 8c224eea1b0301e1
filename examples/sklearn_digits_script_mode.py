#!/usr/bin/python3
"""Your own scikit-learn code on kiln, as the SageMaker SDK's SKLearn
estimator runs it (script mode), in boto3:

  scikit-learn's digits -> CSV in S3 -> sourcedir.tar.gz of
  examples/sklearn_digits/ -> CreateTrainingJob with the SKLearn image and
  sagemaker_program=train.py -> CreateModel (SAGEMAKER_PROGRAM) /
  EndpointConfig / Endpoint -> InvokeEndpoint with NumPy's .npy (what
  SKLearnPredictor sends) -> clean up.

Run it after `make run` (credentials from the environment or
var/credentials):
  /usr/bin/python3 examples/sklearn_digits_script_mode.py
Options: --endpoint-url URL, --n-estimators N, --keep (leave the endpoint)."""
import argparse
import configparser
import io
import json
import os
import tarfile
import time

import boto3
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# The SDK's image for SKLearn(framework_version="1.2-1") in us-east-1.
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
HERE = os.path.dirname(os.path.abspath(__file__))


def credentials(data_dir):
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    cp = configparser.ConfigParser()
    cp.read(os.path.join(data_dir, "credentials"))
    return cp["kiln"]["aws_access_key_id"], cp["kiln"]["aws_secret_access_key"]


def csv(X, y):
    rows = np.column_stack([y, X])
    return "\n".join(",".join(f"{v:g}" for v in row) for row in rows).encode() + b"\n"


def sourcedir():
    """What the SDK uploads for source_dir="sklearn_digits"."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as t:
        t.add(os.path.join(HERE, "sklearn_digits", "train.py"), arcname="train.py")
    return raw.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint-url", default=os.environ.get("KILN_URL",
                                                             "http://127.0.0.1:9000"))
    ap.add_argument("--data-dir", default=os.path.join(HERE, "..", "var"))
    ap.add_argument("--n-estimators", type=int, default=50)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    akid, secret = credentials(args.data_dir)
    mk = dict(endpoint_url=args.endpoint_url, region_name="us-east-1",
              aws_access_key_id=akid, aws_secret_access_key=secret)
    s3, sm = boto3.client("s3", **mk), boto3.client("sagemaker", **mk)
    rt, logs = boto3.client("sagemaker-runtime", **mk), boto3.client("logs", **mk)
    account = boto3.client("sts", **mk).get_caller_identity()["Account"]
    role = f"arn:aws:iam::{account}:role/SageMakerRole"
    bucket, job = f"sagemaker-us-east-1-{account}", f"sklearn-digits-{int(time.time())}"

    X, y = load_digits(return_X_y=True)
    X, Xt, y, yt = train_test_split(X, y, test_size=0.25, random_state=0)
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=f"{job}/data/train/digits.csv", Body=csv(X, y))
    s3.put_object(Bucket=bucket, Key=f"{job}/data/test/digits.csv", Body=csv(Xt, yt))
    s3.put_object(Bucket=bucket, Key=f"{job}/source/sourcedir.tar.gz", Body=sourcedir())
    submit = f"s3://{bucket}/{job}/source/sourcedir.tar.gz"

    def channel(name):
        return {"ChannelName": name, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{job}/data/{name}",
            "S3DataDistributionType": "FullyReplicated"}}}

    sm.create_training_job(
        TrainingJobName=job, RoleArn=role,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "validation:accuracy",
                                                       "Regex": r"validation:accuracy=([0-9.]+);"}]},
        HyperParameters={"sagemaker_program": json.dumps("train.py"),
                         "sagemaker_submit_directory": json.dumps(submit),
                         "sagemaker_region": json.dumps("us-east-1"),
                         "n-estimators": json.dumps(args.n_estimators)},
        InputDataConfig=[channel("train"), channel("test")],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    d = sm.describe_training_job(TrainingJobName=job)
    if d["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"training failed: {d.get('FailureReason')}")
    stream = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                       logStreamNamePrefix=f"{job}/")["logStreams"][0]
    for e in logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                 logStreamName=stream["logStreamName"],
                                 startFromHead=True)["events"]:
        print("  |", e["message"])
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}

    sm.create_model(ModelName=job, ExecutionRoleArn=role, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": d["ModelArtifacts"]["S3ModelArtifacts"],
        "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": submit,
                        "SAGEMAKER_REGION": "us-east-1"}})
    sm.create_endpoint_config(EndpointConfigName=job, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": job, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=job, EndpointConfigName=job)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=job,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    body = io.BytesIO()
    np.save(body, Xt)
    r = rt.invoke_endpoint(EndpointName=job, ContentType="application/x-npy",
                           Accept="application/x-npy", Body=body.getvalue())
    predicted = np.load(io.BytesIO(r["Body"].read()))
    accuracy = float((predicted == yt).mean())
    if not args.keep:
        sm.delete_endpoint(EndpointName=job)
        sm.delete_endpoint_config(EndpointConfigName=job)
        sm.delete_model(ModelName=job)
    print(json.dumps({"job": job, "validation_accuracy": metrics["validation:accuracy"],
                      "endpoint_accuracy": accuracy, "predictions": len(predicted)}))


if __name__ == "__main__":
    main()
