"""make bench-jobs: CreateTrainingJob to Completed for the seed job
(60,000 Fashion-MNIST rows in RecordIO-protobuf, k=10, feature_dim=784,
SageMaker's defaults), split by the job's own SecondaryStatusTransitions
into kiln's overhead (materialising the channel, spawning, uploading the
model) and the algorithm's time; then 50 tiny jobs submitted at once."""
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import boto3  # noqa: E402
import botocore.config  # noqa: E402
from conftest import ACCOUNT, AKID, SECRET, Server, kiln  # noqa: E402

FM = "/usr/share/datasets/fashion-mnist"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"


def job(name, uri, hp, ctype=None):
    ch = {"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri}}}
    if ctype:
        ch["ContentType"] = ctype
    return dict(TrainingJobName=name, RoleArn=ROLE,
                AlgorithmSpecification={"TrainingImage": "kmeans", "TrainingInputMode": "File"},
                InputDataConfig=[ch], OutputDataConfig={"S3OutputPath": "s3://bench/out"},
                ResourceConfig={"InstanceType": "ml.c4.xlarge", "InstanceCount": 1,
                                "VolumeSizeInGB": 1},
                StoppingCondition={"MaxRuntimeInSeconds": 600}, HyperParameters=hp)


def until_done(sm, name):
    while True:
        d = sm.describe_training_job(TrainingJobName=name)
        if d["TrainingJobStatus"] != "InProgress":
            return d
        time.sleep(0.005)


def main():
    work = tempfile.mkdtemp(prefix="kiln-jobs-bench-")
    data = os.path.join(work, "var")
    kiln("admin", "keys", "add", "--data-dir", data, "--access-key-id", AKID,
         "--secret-access-key", SECRET, "--account", ACCOUNT)
    server = Server(data, ["--log-level", "warn", "--max-jobs", "2"])
    try:
        mk = dict(endpoint_url=server.url, region_name="us-east-1",
                  aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                  config=botocore.config.Config(max_pool_connections=20))
        s3, sm = boto3.client("s3", **mk), boto3.client("sagemaker", **mk)
        s3.create_bucket(Bucket="bench")
        pbr = os.path.join(work, "train.pbr")
        kiln("admin", "convert", "--from", "idx", "--to", "recordio",
             f"{FM}/train-images-idx3-ubyte.gz", pbr)
        s3.upload_file(pbr, "bench", "seed/train.pbr")
        s3.put_object(Bucket="bench", Key="tiny/data.csv",
                      Body=b"\n".join(b"%d,%d,%d,%d" % (i, i % 7, i % 3, i % 5)
                                      for i in range(30)))
        runs = []
        for i in range(3):
            t = time.perf_counter()
            sm.create_training_job(**job(f"seed-{i}", "s3://bench/seed/",
                                         {"k": "10", "feature_dim": "784"}))
            d = until_done(sm, f"seed-{i}")
            wall = time.perf_counter() - t
            assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
            tr = {x["StatusMessage"]: x for x in d["SecondaryStatusTransitions"]}
            st = {x["Status"]: x for x in d["SecondaryStatusTransitions"]}
            def secs(a, b):
                return (b - a).total_seconds()
            download = secs(st["Downloading"]["StartTime"], st["Downloading"]["EndTime"])
            training = secs(tr["Downloading the training image"]["StartTime"],
                            st["Uploading"]["StartTime"])
            upload = secs(st["Uploading"]["StartTime"], st["Completed"]["StartTime"])
            runs.append((wall, download, training, upload))
        print("seed job (60,000 x 784 RecordIO, k=10), 3 runs:")
        print(f"{'':10} {'submit->Completed s':>20} {'materialise ms':>15} "
              f"{'spawn+algorithm s':>18} {'upload ms':>10} {'overhead ms':>12}")
        for wall, dl, tr, up in runs:
            print(f"{'':10} {wall:20.3f} {dl * 1000:15.1f} {tr:18.3f} {up * 1000:10.1f} "
                  f"{(wall - tr) * 1000:12.1f}")
        t = time.perf_counter()

        def tiny(i):
            sm.create_training_job(**job(f"tiny-{i}", "s3://bench/tiny/data.csv",
                                         {"k": "2", "feature_dim": "4"}, "text/csv"))
            return until_done(sm, f"tiny-{i}")["TrainingJobStatus"]

        with ThreadPoolExecutor(16) as ex:
            statuses = list(ex.map(tiny, range(50)))
        secs = time.perf_counter() - t
        print(f"50 tiny jobs at once (max-jobs 2): {secs:.2f} s, {50 / secs:.1f} jobs/s, "
              f"failures: {sum(s != 'Completed' for s in statuses)}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
