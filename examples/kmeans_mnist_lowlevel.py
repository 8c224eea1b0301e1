#!/usr/bin/python3
"""K-Means on Fashion-MNIST with boto3, as SageMaker's low-level example
notebook does it, against a local kiln:

  convert to RecordIO-protobuf -> upload to S3 -> CreateTrainingJob with the
  built-in kmeans image -> CreateModel / EndpointConfig / Endpoint ->
  InvokeEndpoint with text/csv -> clean up.

Run it after `make run`, or let it start a server of its own (it does so
when nothing answers at --endpoint-url):
  /usr/bin/python3 examples/kmeans_mnist_lowlevel.py            # ./var server
  /usr/bin/python3 examples/kmeans_mnist_lowlevel.py --start-server
Options: --rows N (training rows, default all 60,000), --out DIR (pictures).
Credentials: the environment, or var/credentials (profile kiln)."""
import argparse
import configparser
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import boto3
import botocore.config
import botocore.exceptions
import numpy as np

FM = "/usr/share/datasets/fashion-mnist"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
HERE = os.path.dirname(os.path.abspath(__file__))
KILN = os.environ.get("KILN_BIN", os.path.join(HERE, "..", "build", "kiln"))
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
          "Sneaker", "Bag", "Ankle boot"]
T0 = time.time()


def stage(msg):
    print(f"[{time.time() - T0:7.2f} s] {msg}", flush=True)


def idx(name):
    with gzip.open(os.path.join(FM, name)) as f:
        data = f.read()
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def to_recordio(X, y):
    """What the SageMaker SDK's write_numpy_to_dense_tensor writes: one
    aialgs.data.Record per row, framed as MXNet RecordIO."""
    out = bytearray()
    for row, label in zip(X, y):
        def value(payload):
            t = b"\x0a" + varint(len(payload)) + payload      # Float32Tensor.values
            v = b"\x12" + varint(len(t)) + t                    # Value.float32_tensor
            e = b"\x0a\x06values\x12" + varint(len(v)) + v     # map entry "values"
            return e
        feat = value(row.astype("<f4").tobytes())
        lab = value(struct.pack("<f", float(label)))
        rec = b"\x0a" + varint(len(feat)) + feat + b"\x12" + varint(len(lab)) + lab
        out += struct.pack("<II", 0xCED7230A, len(rec)) + rec + b"\0" * ((-len(rec)) % 4)
    return bytes(out)


def write_png(path, pixels):
    """A grayscale PNG from a 2-D uint8 array (zlib only, no imaging library)."""
    h, w = pixels.shape
    raw = b"".join(b"\0" + pixels[i].tobytes() for i in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def tiles(images, per_row):
    n = len(images)
    rows = (n + per_row - 1) // per_row
    grid = np.full((rows * 30, per_row * 30), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, per_row)
        grid[r * 30 + 1:r * 30 + 29, c * 30 + 1:c * 30 + 29] = 255 - (
            np.clip(img.reshape(28, 28), 0, 1) * 255).astype(np.uint8)
    return grid


def credentials(data_dir):
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    cp = configparser.ConfigParser()
    cp.read(os.path.join(data_dir, "credentials"))
    return cp["kiln"]["aws_access_key_id"], cp["kiln"]["aws_secret_access_key"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint-url", default=os.environ.get("KILN_URL",
                                                             "http://127.0.0.1:9000"))
    ap.add_argument("--data-dir", default=os.path.join(HERE, "..", "var"))
    ap.add_argument("--start-server", action="store_true")
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--out", default=".")
    ap.add_argument("--account", default=None)
    args = ap.parse_args()

    server = None
    if not args.start_server:
        import socket
        import urllib.parse
        u = urllib.parse.urlparse(args.endpoint_url)
        try:
            socket.create_connection((u.hostname, u.port or 80), timeout=2).close()
        except OSError:
            print(f"nothing answers at {args.endpoint_url}: starting a server of its own")
            args.start_server = True
    if args.start_server:
        tmp = tempfile.mkdtemp(prefix="kiln-demo-")
        args.data_dir = os.path.join(tmp, "var")
        server = subprocess.Popen([KILN, "server", "--data-dir", args.data_dir, "--port", "0",
                                   "--log-level", "warn"], stdout=subprocess.PIPE, text=True)
        for line in server.stdout:
            if line.startswith("kiln: ready on "):
                args.endpoint_url = line.split()[3]
                break
        stage(f"started kiln server at {args.endpoint_url}")
    akid, secret = credentials(args.data_dir)
    mk = dict(endpoint_url=args.endpoint_url, region_name="us-east-1",
              aws_access_key_id=akid, aws_secret_access_key=secret,
              config=botocore.config.Config(retries={"max_attempts": 5}))
    s3, sm = boto3.client("s3", **mk), boto3.client("sagemaker", **mk)
    rt = boto3.client("sagemaker-runtime", **mk)
    account = args.account or boto3.client("sts", **mk).get_caller_identity()["Account"]
    role = f"arn:aws:iam::{account}:role/SageMakerRole"
    bucket, job = "kiln-demo", f"kmeans-demo-{int(time.time())}"
    try:
        stage("loading Fashion-MNIST from Debian's dataset-fashion-mnist")
        X = idx("train-images-idx3-ubyte.gz").reshape(-1, 784)[:args.rows].astype(np.float32) / 255
        y = idx("train-labels-idx1-ubyte.gz")[:args.rows]
        T = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784)[:100].astype(np.float32) / 255
        Ty = idx("t10k-labels-idx1-ubyte.gz")[:100]
        stage(f"converting {len(X)} images to RecordIO-protobuf")
        body = to_recordio(X, y)
        stage(f"uploading {len(body) / 1e6:.1f} MB to s3://{bucket}/")
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        s3.put_object(Bucket=bucket, Key="kmeans_lowlevel_example/data", Body=body)
        stage(f"training k-means (k=10, feature_dim=784) as job {job}")
        sm.create_training_job(
            TrainingJobName=job, RoleArn=role,
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            HyperParameters={"k": "10", "feature_dim": "784", "mini_batch_size": "500"},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"s3://{bucket}/kmeans_lowlevel_example/data",
                "S3DataDistributionType": "FullyReplicated"}},
                "CompressionType": "None", "RecordWrapperType": "None"}],
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/kmeans_example/output"},
            ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.c4.xlarge",
                            "VolumeSizeInGB": 50},
            StoppingCondition={"MaxRuntimeInSeconds": 3600})
        try:
            sm.get_waiter("training_job_completed_or_stopped").wait(
                TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
        except botocore.exceptions.WaiterError:
            pass  # a failed job: its FailureReason is shown below
        d = sm.describe_training_job(TrainingJobName=job)
        if d["TrainingJobStatus"] != "Completed":
            sys.exit(f"training failed: {d.get('FailureReason')}")
        msd = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}["train:msd"]
        stage(f"trained in {d['TrainingTimeInSeconds']} s (train msd {msd:.3f}); "
              f"model at {d['ModelArtifacts']['S3ModelArtifacts']}")
        stage("deploying the model to an endpoint")
        sm.create_model(ModelName=job, ExecutionRoleArn=role, PrimaryContainer={
            "Image": IMAGE, "ModelDataUrl": d["ModelArtifacts"]["S3ModelArtifacts"]})
        sm.create_endpoint_config(EndpointConfigName=job, ProductionVariants=[{
            "InstanceType": "ml.m4.xlarge", "InitialInstanceCount": 1, "ModelName": job,
            "VariantName": "AllTraffic"}])
        sm.create_endpoint(EndpointName=job, EndpointConfigName=job)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=job,
                                                  WaiterConfig={"Delay": 1})
        stage("sending 100 test images (text/csv)")
        csv = "\n".join(",".join(f"{v:g}" for v in row) for row in T)
        t = time.perf_counter()
        r = rt.invoke_endpoint(EndpointName=job, ContentType="text/csv", Body=csv)
        ms = (time.perf_counter() - t) * 1000
        pred = json.loads(r["Body"].read())["predictions"]
        clusters = np.array([int(p["closest_cluster"]) for p in pred])
        stage(f"predictions in {ms:.1f} ms")
        for c in range(10):
            members = Ty[clusters == c]
            if len(members):
                top = np.bincount(members, minlength=10)
                print(f"  cluster {c}: {len(members):3d} images, mostly "
                      f"{LABELS[top.argmax()]} ({top.max()}/{len(members)})")
        purity = sum(np.bincount(Ty[clusters == c]).max() for c in range(10)
                     if (clusters == c).any()) / len(Ty)
        print(f"cluster purity over 100 test images: {purity:.2f} (chance: 0.10)")
        # The pictures: the 10 centroids, and the test images by cluster.
        model = s3.get_object(Bucket=bucket, Key=d["ModelArtifacts"]["S3ModelArtifacts"]
                              .split(f"s3://{bucket}/")[1])["Body"].read()
        import io
        import tarfile
        with tarfile.open(fileobj=io.BytesIO(model)) as tf:
            raw = tf.extractfile("model_algo-1").read()
        k, dim = struct.unpack("<qq", raw[36:52])
        C = np.frombuffer(raw, np.float32, count=k * dim, offset=64).reshape(k, dim)
        os.makedirs(args.out, exist_ok=True)
        write_png(os.path.join(args.out, "centroids.png"), tiles(C, 10))
        by_cluster = [T[clusters == c][:10] for c in range(10)]
        grid = np.full((10 * 30, 10 * 30), 255, np.uint8)
        for c, imgs in enumerate(by_cluster):
            if len(imgs):
                grid[c * 30:(c + 1) * 30, :len(imgs) * 30] = tiles(imgs, len(imgs))
        write_png(os.path.join(args.out, "clusters.png"), grid)
        stage(f"wrote {args.out}/centroids.png and {args.out}/clusters.png")
        print(json.dumps({"purity": purity, "train_msd": msd}))
    finally:
        stage("cleaning up")
        for fn, kw in ((sm.delete_endpoint, {"EndpointName": job}),
                       (sm.delete_endpoint_config, {"EndpointConfigName": job}),
                       (sm.delete_model, {"ModelName": job})):
            try:
                fn(**kw)
            except Exception:  # noqa: BLE001 - best effort
                pass
        try:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
            s3.delete_bucket(Bucket=bucket)
        except Exception:  # noqa: BLE001
            pass
        if server:
            server.terminate()
            server.wait()
            shutil.rmtree(os.path.dirname(args.data_dir), ignore_errors=True)
        stage(f"done in {time.time() - T0:.2f} s")


if __name__ == "__main__":
    main()
