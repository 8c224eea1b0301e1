"""make bench-distributed: multi-instance k-means through the SageMaker
API. The 600,000-row set of bench-kmeans (Fashion-MNIST's 60,000 images,
each repeated 10 times with small noise), uploaded as 4 RecordIO-protobuf
shards, trained with k=10 and InstanceCount 1, 2 and 4 (ShardedByS3Key;
the instances share this machine's cores, oversubscribed). For each run:
the job's wall time and, per host, the time spent in MPI collectives
against the whole training time, with the bytes each host sends per round
(K x feature_dim doubles: it depends on k, not on the data). The peer is
faiss's k-means on the same rows, in memory, in one process."""
import os
import re
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import boto3  # noqa: E402
import botocore.config  # noqa: E402
from conftest import ACCOUNT, AKID, SECRET, Server, idx, kiln  # noqa: E402

from recordio import write_recordio  # noqa: E402

FM = "/usr/share/datasets/fashion-mnist"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
SHARDS = 4


def job(name, instances):
    return dict(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "kmeans", "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bench/big/",
            "S3DataDistributionType": "ShardedByS3Key"}}}],
        OutputDataConfig={"S3OutputPath": "s3://bench/out"},
        ResourceConfig={"InstanceType": "ml.c5.xlarge", "InstanceCount": instances,
                        "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        HyperParameters={"k": "10", "feature_dim": "784", "mini_batch_size": "5000"})


def main():
    X = idx(f"{FM}/train-images-idx3-ubyte.gz").reshape(60000, 784).astype(np.float32) / 255
    rng = np.random.RandomState(0)
    big = np.clip(np.repeat(X, 10, axis=0)
                  + rng.normal(0, 0.01, (600000, 784)).astype(np.float32), 0, 1)
    work = tempfile.mkdtemp(prefix="kiln-dist-bench-")
    data = os.path.join(work, "var")
    kiln("admin", "keys", "add", "--data-dir", data, "--access-key-id", AKID,
         "--secret-access-key", SECRET, "--account", ACCOUNT)
    server = Server(data, ["--log-level", "warn"])
    try:
        mk = dict(endpoint_url=server.url, region_name="us-east-1",
                  aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                  config=botocore.config.Config(retries={"max_attempts": 1}))
        s3, sm = boto3.client("s3", **mk), boto3.client("sagemaker", **mk)
        logs = boto3.client("logs", **mk)
        s3.create_bucket(Bucket="bench")
        per = len(big) // SHARDS
        for i in range(SHARDS):
            path = os.path.join(work, f"matrix_{i}.pbr")
            write_recordio(big[i * per:(i + 1) * per], path)
            s3.upload_file(path, "bench", f"big/matrix_{i}.pbr")
            os.unlink(path)
        print(f"600,000 x 784 rows in {SHARDS} shards, k=10, mini_batch_size=5000, "
              f"{os.cpu_count()} cores")
        results = {}
        for n in (1, 2, 4):
            name = f"dist-{n}"
            sm.create_training_job(**job(name, n))
            while True:
                d = sm.describe_training_job(TrainingJobName=name)
                if d["TrainingJobStatus"] != "InProgress":
                    break
                time.sleep(0.02)
            assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
            tr = {t["Status"]: t for t in d["SecondaryStatusTransitions"]}
            wall = (tr["Training"]["EndTime"] - tr["Training"]["StartTime"]).total_seconds()
            streams = logs.describe_log_streams(
                logGroupName="/aws/sagemaker/TrainingJobs",
                logStreamNamePrefix=name + "/")["logStreams"]
            hosts = []
            msd = None
            for s in sorted(streams, key=lambda s: s["logStreamName"]):
                lines = [e["message"] for e in logs.get_log_events(
                    logGroupName="/aws/sagemaker/TrainingJobs",
                    logStreamName=s["logStreamName"], startFromHead=True)["events"]]
                for line in lines:
                    m = re.search(r"host (algo-\d+) of \d+: (\d+) rounds, (\d+) collectives "
                                  r"took ([0-9.]+) s of ([0-9.]+) s of training, (\d+) bytes", line)
                    if m:
                        hosts.append((m.group(1), int(m.group(2)), float(m.group(4)),
                                      float(m.group(5)), int(m.group(6))))
                    m = re.search(r"train msd <loss>=([0-9.eE+-]+)", line)
                    if m:
                        msd = float(m.group(1))
            results[n] = wall
            print(f"InstanceCount {n}: training {wall:.3f} s (job wall time incl. "
                  f"mpirun start-up), train msd {msd:.4f}")
            for h, rounds, comm, total, nbytes in hosts:
                print(f"    {h}: {rounds} rounds, collectives {comm:.3f} s of {total:.3f} s "
                      f"({100 * comm / total:.0f} %), {nbytes / 1e6:.2f} MB sent per round")
        try:
            import faiss
            t = time.perf_counter()
            km = faiss.Kmeans(784, 10, niter=20, seed=1, max_points_per_centroid=256)
            km.train(big)
            peer = time.perf_counter() - t
            print(f"peer: faiss Kmeans (niter=20, sampled 2,560 points/centroid), one "
                  f"process in memory: {peer:.3f} s")
            for n, wall in results.items():
                print(f"    kiln InstanceCount {n} / faiss: {wall / peer:.2f}x")
        except ImportError:
            print("peer: faiss not installed (python3-faiss)")
        print(f"kiln InstanceCount 2 / 1: {results[2] / results[1]:.2f}x, "
              f"4 / 1: {results[4] / results[1]:.2f}x wall time on the same cores")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
