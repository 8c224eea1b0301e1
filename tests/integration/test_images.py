"""Bring-your-own images without Docker: a `docker save` archive loaded
with `kiln admin images load`, then run by training and processing jobs as
SageMaker runs it (`train`, ENTRYPOINT/CMD, ContainerEntrypoint) in its
own root file system under bubblewrap. The test builds the image itself:
two layers with Debian's static busybox, a whiteout, and a `train`
program."""
import hashlib
import io
import json
import os
import tarfile

import pytest

from conftest import ACCOUNT, client, kiln, sandbox_missing, waited
from conftest import training_log_lines as log_lines
from conftest import wait_training_job as wait

pytestmark = pytest.mark.skipif(sandbox_missing() is not None,
                                reason=str(sandbox_missing()))

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
REPO = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
BUSYBOX = "/bin/busybox"

TRAIN = b"""#!/bin/sh
echo "hello from $(hostname) in $(pwd) as $0 $*"
echo "PATH=$PATH MODE=$MODE"
[ -e /etc/junk ] && echo "whiteout ignored"
[ -e /usr/bin/python3 ] && echo "host visible"
touch /opt/ml/input/data/train/x 2>/dev/null && echo "input writable"
rows=$(cat /opt/ml/input/data/train/*.csv | wc -l)
echo "rows $rows"
if grep -q '"fail"' /opt/ml/input/config/hyperparameters.json; then
    echo "the labels are missing" > /opt/ml/output/failure
    exit 3
fi
echo "$rows" > /opt/ml/model/rows.txt
echo "loss=0.25;"
"""

# `serve`: SageMaker's serving contract on port 8080, one connection at a
# time with busybox nc; HANDLE answers one request and closes.
SERVE = b"""#!/bin/sh
echo "serving on 8080 in $(pwd) with $(cat /opt/ml/model/rows.txt) rows, GREETING=$GREETING"
exec nc -ll -p 8080 -e /opt/program/handle
"""

HANDLE = b"""#!/bin/sh
read -r method path proto
len=0
while read -r line; do
    line=$(printf '%s' "$line" | tr -d '\\r')
    [ -z "$line" ] && break
    case "$line" in [Cc]ontent-[Ll]ength:*) len=${line#*: };; esac
done
body=""
[ "$len" -gt 0 ] && body=$(head -c "$len")
case "$path" in
/ping) out="healthy" ;;
/invocations) out="$GREETING: $(printf '%s\\n' "$body" | grep -c .) rows, model of $(cat /opt/ml/model/rows.txt)" ;;
*) out="no such path" ;;
esac
printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s' "${#out}" "$out"
"""

PROCESS = b"""#!/bin/sh
echo "processing $* in $(pwd)"
cat /opt/ml/processing/input/*.csv | wc -l > /opt/ml/processing/out/count.txt
"""


def layer(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for name, spec in entries:
            info = tarfile.TarInfo(name)
            if spec is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif isinstance(spec, str):
                info.type, info.linkname = tarfile.SYMTYPE, spec
                t.addfile(info)
            else:
                data, mode = spec
                info.size, info.mode = len(data), mode
                t.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def save(path, tags, config, layers):
    """A `docker save` archive (Docker's legacy layout: manifest.json, the
    config by id, a directory per layer)."""
    body = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                       "rootfs": {"type": "layers", "diff_ids": [
                           "sha256:" + hashlib.sha256(l).hexdigest() for l in layers]}}).encode()
    cid = hashlib.sha256(body).hexdigest()
    names = [f"{hashlib.sha256(l).hexdigest()}/layer.tar" for l in layers]
    manifest = json.dumps([{"Config": f"{cid}.json", "RepoTags": tags,
                            "Layers": names}]).encode()
    with tarfile.open(path, "w") as t:
        for name, data in [(f"{cid}.json", body), *zip(names, layers),
                           ("manifest.json", manifest)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return cid


@pytest.fixture(scope="module")
def image(server, tmp_path_factory):
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    busybox = open(BUSYBOX, "rb").read()
    base = layer([("bin/", None), ("bin/busybox", (busybox, 0o755))] +
                 [(f"bin/{tool}", "busybox") for tool in
                  ("sh", "cat", "wc", "grep", "hostname", "pwd", "touch", "echo",
                   "nc", "tr", "head")] +
                 [("etc/", None), ("etc/junk", (b"x", 0o644)),
                  ("usr/", None), ("usr/lib/", None), ("lib", "/usr/lib")])
    top = layer([("opt/", None), ("opt/program/", None),
                 ("opt/program/train", (TRAIN, 0o755)),
                 ("opt/program/process", (PROCESS, 0o755)),
                 ("opt/program/serve", (SERVE, 0o755)),
                 ("opt/program/handle", (HANDLE, 0o755)),
                 ("opt/program/su-probe", (b"#!/bin/sh\n", 0o4755)),
                 ("etc/.wh.junk", (b"", 0o644)),
                 # Through the image's absolute link: inside the image only.
                 ("lib/kiln-escape-probe", (b"x", 0o644))])
    path = tmp_path_factory.mktemp("image") / "my-algo.tar"
    cid = save(path, ["my-algo:1"], {"Env": ["PATH=/opt/program:/bin", "MODE=image"],
                                     "WorkingDir": "/opt/program",
                                     "Cmd": ["process", "--from-cmd"]}, [base, top])
    out = kiln("admin", "images", "load", str(path), "--tag", f"{REPO}/algo-alias",
               "--data-dir", server.data_dir).stdout
    assert out.split("\n")[:2] == [f"my-algo:1 {cid}", f"algo-alias:latest {cid}"]
    assert not os.path.exists("/usr/lib/kiln-escape-probe")
    root = os.path.join(server.data_dir, "images", cid, "rootfs")
    assert os.path.exists(os.path.join(root, "usr", "lib", "kiln-escape-probe"))
    # No set-user-ID program of an image on the host.
    assert os.stat(os.path.join(root, "opt", "program", "su-probe")).st_mode & 0o7777 == 0o755
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="byo")
    s3.put_object(Bucket="byo", Key="data/train/a.csv", Body=b"1,2\n3,4\n5,6\n")
    return cid


def job_body(name, image, **hps):
    return dict(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "loss",
                                                       "Regex": r"loss=([0-9.]+);"}]},
        HyperParameters=hps,
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://byo/data/train",
            "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": "s3://byo/out"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large",
                        "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        Environment={"MODE": "request"})


def test_train_with_a_loaded_image(server, image):
    sm = client(server, "sagemaker")
    sm.create_training_job(**job_body("byo-train", f"{REPO}/my-algo:1", epochs="2"))
    d = wait(sm, "byo-train")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    lines = log_lines(server, "byo-train")
    # No ENTRYPOINT: "train" is the command, found in the image's PATH.
    assert "hello from algo-1 in /opt/program as /opt/program/train " in lines
    assert "PATH=/opt/program:/bin MODE=request" in lines
    assert "rows 3" in lines
    for bad in ("whiteout ignored", "host visible", "input writable"):
        assert bad not in lines
    assert {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]} == {"loss": 0.25}
    body = client(server, "s3").get_object(
        Bucket="byo", Key="out/byo-train/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        assert t.extractfile("rows.txt").read() == b"3\n"


CLUSTER = """
me=$(hostname)
while read -r addr name; do [ "$name" = algo-1 ] && master=$addr; done < /etc/hosts
if [ "$me" = algo-1 ]; then
    nc -l -p 7311 > /opt/ml/model/from-worker.txt
else
    i=0
    until echo "hello from $me" | nc "$master" 7311; do
        i=$((i + 1)); [ $i -gt 300 ] && exit 1; /bin/busybox sleep 0.2
    done
fi
echo "$me at $master" > "/opt/ml/model/$me.txt"
"""


def test_two_instances_of_an_image(server, image):
    """InstanceCount 2: each instance its own sandbox and host name, the
    job's /etc/hosts naming both, the worker reaching algo-1 there; both
    instances' model files in one model.tar.gz."""
    sm = client(server, "sagemaker")
    body = job_body("byo-cluster", f"{REPO}/my-algo:1")
    body["ResourceConfig"]["InstanceCount"] = 2
    body["AlgorithmSpecification"]["ContainerEntrypoint"] = ["/bin/sh", "-c", CLUSTER]
    sm.create_training_job(**body)
    d = wait(sm, "byo-cluster")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    raw = client(server, "s3").get_object(
        Bucket="byo", Key="out/byo-cluster/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        files = {m.name: t.extractfile(m).read().decode() for m in t.getmembers()
                 if m.isfile()}
    assert set(files) == {"from-worker.txt", "algo-1.txt", "algo-2.txt"}
    assert files["from-worker.txt"] == "hello from algo-2\n"
    master = files["algo-1.txt"].split()[-1]
    assert master.startswith("127.") and master != "127.0.0.1"
    assert files["algo-2.txt"] == f"algo-2 at {master}\n"


def test_failure_file_and_other_names(server, image):
    sm = client(server, "sagemaker")
    # Another reference to the same image; the failure file is the reason.
    sm.create_training_job(**job_body("byo-fails", "algo-alias", fail="yes"))
    d = wait(sm, "byo-fails")
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"] == "AlgorithmError: the labels are missing\n, exit code: 3"
    # An image nobody loaded.
    sm.create_training_job(**job_body("byo-missing", f"{REPO}/not-loaded:3"))
    d = wait(sm, "byo-missing")
    assert d["TrainingJobStatus"] == "Failed"
    assert "kiln admin images load" in d["FailureReason"]


def test_processing_with_the_image(server, image):
    """No ContainerEntrypoint: the image's own CMD runs; with
    ContainerArguments they replace the CMD."""
    sm = client(server, "sagemaker")
    for name, app in [("byo-proc-cmd", {}),
                      ("byo-proc-args", {"ContainerEntrypoint": ["process"],
                                         "ContainerArguments": ["--given"]})]:
        sm.create_processing_job(
            ProcessingJobName=name, RoleArn=ROLE,
            AppSpecification={"ImageUri": f"{REPO}/my-algo:1", **app},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1,
                                                   "InstanceType": "ml.m5.large",
                                                   "VolumeSizeInGB": 10}},
            ProcessingInputs=[{"InputName": "data", "S3Input": {
                "S3Uri": "s3://byo/data/train", "LocalPath": "/opt/ml/processing/input",
                "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
            ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {
                "S3Uri": f"s3://byo/{name}", "LocalPath": "/opt/ml/processing/out",
                "S3UploadMode": "EndOfJob"}}]})
        d = waited(sm, "processing_job_completed_or_stopped", "describe_processing_job",
                   ProcessingJobName=name)
        assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
        count = client(server, "s3").get_object(Bucket="byo", Key=f"{name}/count.txt")
        assert count["Body"].read() == b"3\n"
    logs = client(server, "logs")
    seen = []
    for name in ("byo-proc-cmd", "byo-proc-args"):
        [stream] = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                             logStreamNamePrefix=f"{name}/")["logStreams"]
        seen += [e["message"] for e in logs.get_log_events(
            logGroupName="/aws/sagemaker/ProcessingJobs",
            logStreamName=stream["logStreamName"])["events"]]
    assert "processing --from-cmd in /opt/program" in seen
    assert "processing --given in /opt/program" in seen


def test_admin_list_and_remove(server, image):
    listed = kiln("admin", "images", "list", "--data-dir", server.data_dir).stdout.split("\n")
    assert f"my-algo:1 {image}" in listed and f"algo-alias:latest {image}" in listed
    kiln("admin", "images", "remove", "algo-alias", "--data-dir", server.data_dir)
    # The image stays while my-algo:1 names it.
    assert os.path.isdir(os.path.join(server.data_dir, "images", image, "rootfs"))
    r = kiln("admin", "images", "remove", "algo-alias", "--data-dir", server.data_dir,
             check=False)
    assert r.returncode == 1 and "no image algo-alias:latest" in r.stderr
    r = kiln("admin", "images", "load", "/etc/hostname", "--data-dir", server.data_dir,
             check=False)
    assert r.returncode == 1 and "not a tar archive" in r.stderr



def test_serve_a_loaded_image(server, image):
    """An endpoint of the image: `serve` listens on 8080 in a network of
    its own; kiln reaches it there, /ping first, then each InvokeEndpoint."""
    sm = client(server, "sagemaker")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as t:
        info = tarfile.TarInfo("rows.txt")
        info.size = 2
        t.addfile(info, io.BytesIO(b"3\n"))
    client(server, "s3").put_object(Bucket="byo", Key="models/byo.tar.gz", Body=raw.getvalue())
    sm.create_model(ModelName="byo-model", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": f"{REPO}/my-algo:1", "ModelDataUrl": "s3://byo/models/byo.tar.gz",
        "Environment": {"GREETING": "counted"}})
    sm.create_endpoint_config(EndpointConfigName="byo-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "byo-model",
        "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="byo-endpoint", EndpointConfigName="byo-config")
    e = waited(sm, "endpoint_in_service", "describe_endpoint", EndpointName="byo-endpoint")
    assert e["EndpointStatus"] == "InService", e.get("FailureReason")
    rt = client(server, "sagemaker-runtime")
    for i in range(6):  # both instances, each connection closed by nc
        r = rt.invoke_endpoint(EndpointName="byo-endpoint", ContentType="text/csv",
                               Body=b"1,2\n3,4\n" * (i + 1))
        assert r["Body"].read() == f"counted: {2 * (i + 1)} rows, model of 3".encode()
        assert r["ContentType"] == "text/plain"
    logs = client(server, "logs")
    group = "/aws/sagemaker/Endpoints/byo-endpoint"
    text = [ev["message"] for st in logs.describe_log_streams(logGroupName=group)["logStreams"]
            for ev in logs.get_log_events(logGroupName=group,
                                          logStreamName=st["logStreamName"])["events"]]
    assert text.count("serving on 8080 in /opt/program with 3 rows, GREETING=counted") == 2
    sm.delete_endpoint(EndpointName="byo-endpoint")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="byo-endpoint",
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 30})
