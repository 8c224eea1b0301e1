"""Script mode: a framework estimator's own training code (the SageMaker
SDK's SKLearn estimator with entry_point and source_dir) run by kiln on the
host's Python under bubblewrap, with the training toolkit's contract:
the source directory from S3 at /opt/ml/code, hyper-parameters as
arguments and SM_* variables, the model and output data uploaded, metrics
from MetricDefinitions, failures reported as the toolkit reports them, and
nothing of the host visible but its programs."""
import io
import json
import os
import subprocess
import tarfile
import time

import botocore.exceptions
import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import ACCOUNT, client, sandbox_missing, waited
from conftest import training_log_lines as log_lines
from conftest import wait_training_job as wait
from test_tuning import wait as wait_tuning

pytestmark = pytest.mark.skipif(sandbox_missing() is not None,
                                reason=str(sandbox_missing()))

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
# The SDK's image for SKLearn(framework_version="1.2-1") in us-east-1.
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = f"sagemaker-us-east-1-{ACCOUNT}"

TRAIN_PY = r'''
import argparse, glob, json, os, socket, sys
import numpy as np
import joblib
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from helpers.scaling import Standardize


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--max_iter", type=int, default=100)
    p.add_argument("--tag", type=str)
    p.add_argument("--probe", type=str, default="/nonexistent")
    p.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    p.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    args = p.parse_args()

    data = np.loadtxt(glob.glob(os.path.join(args.train, "*.csv"))[0], delimiter=",")
    X, y = data[:, 1:], data[:, 0]
    model = make_pipeline(Standardize(), LogisticRegression(max_iter=args.max_iter))
    model.fit(X, y)
    print("train:accuracy=%.6f;" % model.score(X, y))
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))

    report = {
        "argv": sys.argv[1:],
        "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
        "hostname": socket.gethostname(),
        "cwd": os.getcwd(),
        "probe_visible": os.path.exists(args.probe),
        "usr_writable": writable("/usr/kiln-probe"),
        "input_writable": writable(os.path.join(args.train, "probe")),
        "code_files": sorted(os.listdir("/opt/ml/code")),
        "config": json.load(open("/opt/ml/input/config/hyperparameters.json")),
    }
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.json"), "w") as f:
        json.dump(report, f)
'''

SCALING_PY = '''
from sklearn.preprocessing import StandardScaler


class Standardize(StandardScaler):
    """A class of the source directory: the model's pickle refers to it,
    so serving needs the source directory too."""
'''


def sourcedir(files):
    """The SDK's sourcedir.tar.gz: the source_dir's files at the top."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.fixture(scope="module")
def iris(server):
    s3 = client(server, "s3")
    s3.create_bucket(Bucket=BUCKET)
    x, y = load_iris(return_X_y=True)
    rows = np.column_stack([y, x])
    text = "\n".join(",".join(f"{v:g}" for v in row) for row in rows) + "\n"
    s3.put_object(Bucket=BUCKET, Key="iris/train/iris.csv", Body=text.encode())
    return x, y


def upload_source(server, job, files):
    key = f"{job}/source/sourcedir.tar.gz"
    client(server, "s3").put_object(Bucket=BUCKET, Key=key, Body=sourcedir(files))
    return f"s3://{BUCKET}/{key}"


def sdk_body(job, submit, program="train.py", hps=None, **over):
    """What SKLearn(entry_point=..., source_dir=...).fit() sends."""
    hyper = {
        "sagemaker_submit_directory": json.dumps(submit),
        "sagemaker_program": json.dumps(program),
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": json.dumps(job),
        "sagemaker_region": json.dumps("us-east-1"),
    }
    hyper.update({k: json.dumps(v) for k, v in (hps or {}).items()})
    body = {
        "TrainingJobName": job,
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE, "TrainingInputMode": "File",
            "EnableSageMakerMetricsTimeSeries": True,
            "MetricDefinitions": [{"Name": "train:accuracy",
                                   "Regex": r"train:accuracy=([0-9\.]+);"}]},
        "RoleArn": ROLE,
        "InputDataConfig": [{
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/iris/train",
                "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "HyperParameters": hyper,
        "DebugHookConfig": {"S3OutputPath": f"s3://{BUCKET}/",
                            "CollectionConfigurations": []},
        "ProfilerConfig": {"S3OutputPath": f"s3://{BUCKET}/", "DisableProfiler": False},
        "Tags": [],
    }
    body.update(over)
    return body


def tar_members(server, key):
    body = client(server, "s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def host_logs(server, group, job):
    """Each instance's log lines of a job, oldest first:
    {"algo-1": [...], ...}."""
    logs = client(server, "logs")
    return {st["logStreamName"].split("/")[1].rsplit("-", 1)[0]: [
        e["message"] for e in logs.get_log_events(
            logGroupName=group, logStreamName=st["logStreamName"],
            startFromHead=True)["events"]]
        for st in logs.describe_log_streams(
            logGroupName=group, logStreamNamePrefix=f"{job}/")["logStreams"]}


TRAINING_LOGS = "/aws/sagemaker/TrainingJobs"
PROCESSING_LOGS = "/aws/sagemaker/ProcessingJobs"


def load_with_source(model_file, submit, server, tmp_path):
    """joblib.load with the job's source directory importable, as the
    model's pickle names its classes."""
    import sys
    src = tmp_path / "src"
    key = submit.split("/", 3)[3]
    raw = client(server, "s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        t.extractall(src)
    sys.path.insert(0, str(src))
    try:
        return joblib.load(model_file)
    finally:
        sys.path.remove(str(src))


SOURCE = {"train.py": TRAIN_PY, "helpers/__init__.py": "",
          "helpers/scaling.py": SCALING_PY}


@pytest.fixture(scope="module")
def trained(server, iris):
    """The SKLearn estimator's job: (its description, its submit dir)."""
    sm = client(server, "sagemaker")
    job = "sklearn-script-1"
    submit = upload_source(server, job, SOURCE)
    sm.create_training_job(**sdk_body(job, submit, hps={
        "max_iter": 200, "tag": "v1", "probe": server.data_dir}))
    return wait(sm, job), submit


def test_sklearn_entry_point_trains_in_its_sandbox(server, iris, trained, tmp_path):
    d, submit = trained
    job = d["TrainingJobName"]
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["ModelArtifacts"]["S3ModelArtifacts"] == \
        f"s3://{BUCKET}/{job}/output/model.tar.gz"

    # The model is the one the same code fits here, and its accuracy the
    # metric the job reported.
    x, y = iris
    want = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x, y)
    model_file = tmp_path / "model.joblib"
    model_file.write_bytes(tar_members(server, f"{job}/output/model.tar.gz")["model.joblib"])
    model = load_with_source(model_file, submit, server, tmp_path)
    assert (model.predict(x) == want.predict(x)).all()
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics["train:accuracy"] == pytest.approx(want.score(x, y), abs=1e-6)

    # The toolkit's contract, as the script saw it.
    report = json.loads(tar_members(server, f"{job}/output/output.tar.gz")["report.json"])
    assert report["argv"] == ["--max_iter", "200", "--probe", server.data_dir,
                              "--tag", "v1"]
    env = report["env"]
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert env["SM_HP_MAX_ITER"] == "200" and env["SM_HP_TAG"] == "v1"
    assert json.loads(env["SM_HPS"]) == {"max_iter": 200, "tag": "v1",
                                         "probe": server.data_dir}
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == submit
    assert env["SM_CURRENT_HOST"] == "algo-1"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.large"
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert json.loads(env["SM_USER_ARGS"]) == report["argv"]
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == job
    assert training_env["channel_input_dirs"] == {"train": "/opt/ml/input/data/train"}
    assert report["config"]["sagemaker_program"] == '"train.py"'
    assert report["hostname"] == "algo-1" and report["cwd"] == "/opt/ml/code"
    assert report["code_files"] == ["helpers", "train.py"]
    # The sandbox: kiln's data directory is not there, /usr and the input
    # channels cannot be written.
    assert report["probe_visible"] is False
    assert report["usr_writable"] is False and report["input_writable"] is False
    assert not os.path.exists("/usr/kiln-probe")

    lines = log_lines(server, job)
    i = lines.index("Invoking script with the following command:")
    assert lines[i + 1] == ("/usr/bin/python3 train.py --max_iter 200 --probe "
                            f"{server.data_dir} --tag v1")
    assert any(line.startswith("train:accuracy=") for line in lines)


def test_failing_script_reports_as_the_toolkit(server, iris):
    sm = client(server, "sagemaker")
    job = "sklearn-script-fails"
    submit = upload_source(server, job, {"train.py": "import sys\n"
                                         "print('starting')\n"
                                         "raise ValueError('column 3 is empty')\n"})
    sm.create_training_job(**sdk_body(job, submit, hps={"epochs": 2}))
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n"), reason
    assert 'ErrorMessage "ValueError: column 3 is empty"' in reason
    assert 'Command "/usr/bin/python3 train.py --epochs 2", exit code: 1' in reason
    lines = log_lines(server, job)
    assert "starting" in lines and any("Traceback" in line for line in lines)


def test_failure_file_and_shell_entry_point(server, iris):
    """A script that writes /opt/ml/output/failure, as the docs ask, gets
    that text as its FailureReason; a .sh entry point runs under sh."""
    sm = client(server, "sagemaker")
    job = "shell-script-fails"
    submit = upload_source(server, job, {
        "run.sh": "echo \"args: $*\"\n"
                  "echo 'the labels are missing' > /opt/ml/output/failure\n"
                  "exit 3\n"})
    sm.create_training_job(**sdk_body(job, submit, program="run.sh", hps={"n": 5}))
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"] == "AlgorithmError: the labels are missing\n, exit code: 3"
    assert "args: -n 5" in log_lines(server, job)


@pytest.mark.parametrize("submit, words", [
    ("s3://{bucket}/nowhere/sourcedir.tar.gz", "cannot install the source directory"),
    ("s3://no-such-bucket-here/x.tar.gz", "cannot install the source directory"),
    ("file:///etc/passwd", "must be an s3:// URI"),
])
def test_bad_source_directory_fails_the_job(server, iris, submit, words):
    sm = client(server, "sagemaker")
    job = f"bad-source-{abs(hash(submit)) % 100000}"
    sm.create_training_job(**sdk_body(job, submit.format(bucket=BUCKET)))
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: ") and words in d["FailureReason"]


def test_archive_escaping_the_code_directory_is_refused(server, iris):
    sm = client(server, "sagemaker")
    job = "evil-source"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as t:
        info = tarfile.TarInfo("../../../escaped.py")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    key = f"{job}/source/sourcedir.tar.gz"
    client(server, "s3").put_object(Bucket=BUCKET, Key=key, Body=raw.getvalue())
    sm.create_training_job(**sdk_body(job, f"s3://{BUCKET}/{key}"))
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Failed"
    assert "cannot install the source directory" in d["FailureReason"]


def test_stop_a_running_script(server, iris):
    sm = client(server, "sagemaker")
    job = "sleepy-script"
    submit = upload_source(server, job, {
        "train.py": "import time, os\n"
                    "open(os.path.join(os.environ['SM_MODEL_DIR'], 'partial'), 'w').write('1')\n"
                    "print('sleeping', flush=True)\n"
                    "time.sleep(600)\n"})
    sm.create_training_job(**sdk_body(job, submit))
    logs = client(server, "logs")
    deadline = time.time() + 60

    def started():
        """Whether the script has said so (its log stream may not exist
        yet: the server may be slow to start it, under ASan)."""
        for st in logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                            logStreamNamePrefix=f"{job}/")["logStreams"]:
            if any(e["message"] == "sleeping" for e in logs.get_log_events(
                    logGroupName="/aws/sagemaker/TrainingJobs",
                    logStreamName=st["logStreamName"])["events"]):
                return True
        return False

    while not started() and time.time() < deadline:
        time.sleep(0.2)
    assert time.time() < deadline, "the script never started"
    sm.stop_training_job(TrainingJobName=job)
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Stopped"
    # Stopped jobs upload what the model directory holds, as SageMaker does.
    assert tar_members(server, f"{job}/output/model.tar.gz") == {"partial": b"1"}
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "time.sleep" not in ps and "sleepy-script" not in ps


def test_images_without_an_entry_point_are_refused_by_name(server, iris):
    sm = client(server, "sagemaker")
    body = sdk_body("byo-image", "s3://x/y.tar.gz")
    body["HyperParameters"] = {"epochs": "2"}
    body["AlgorithmSpecification"]["TrainingImage"] = \
        f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/my-own-image:latest"
    sm.create_training_job(**body)
    d = wait(sm, "byo-image")
    assert d["TrainingJobStatus"] == "Failed"
    assert "no entry point (sagemaker_program)" in d["FailureReason"]


DISTRIBUTED_PY = r'''
import glob, json, os, socket, sys, time

env = json.loads(os.environ["SM_TRAINING_ENV"])
me, hosts = env["current_host"], env["hosts"]
master = env["master_hostname"]
model, out = os.environ["SM_MODEL_DIR"], os.environ["SM_OUTPUT_DATA_DIR"]
files = sorted(glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*")))
values = [float(v) for f in files for v in open(f).read().split()]
print("host %s of %s reads %s" % (me, hosts, [os.path.basename(f) for f in files]),
      flush=True)
# Every instance listens on the same port at its own address.
own = socket.socket()
own.bind((socket.gethostbyname(me), 29500))
own.listen(len(hosts))
if me == master:
    totals = [sum(values)], [len(values)]
    for _ in hosts[1:]:
        conn, _ = own.accept()
        s, n = json.loads(conn.makefile().readline())
        totals[0].append(s)
        totals[1].append(n)
    json.dump({"mean": sum(totals[0]) / sum(totals[1]), "n": sum(totals[1])},
              open(os.path.join(model, "mean.json"), "w"))
else:
    deadline = time.time() + 60
    while True:
        try:
            c = socket.create_connection((master, 29500), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    c.sendall((json.dumps([sum(values), len(values)]) + "\n").encode())
    c.close()
open(os.path.join(model, "host-%s.txt" % me), "w").write(socket.gethostname())
try:
    socket.create_connection(("127.0.0.1", int(os.environ["KILN_PORT"])), timeout=5).close()
    kiln_reachable = True
except OSError:
    kiln_reachable = False
json.dump({"files": [os.path.basename(f) for f in files],
           "hosts_line": [l for l in open("/etc/hosts") if me in l],
           "kiln_reachable": kiln_reachable},
          open(os.path.join(out, "%s.json" % me), "w"))
'''


@pytest.mark.parametrize("isolated", [False, True])
def test_instances_of_a_script_train_together(server, iris, isolated):
    """InstanceCount 2: one sandbox per instance, algo-1 and algo-2, each
    its own host name and address (both listen on one port), a sharded
    channel split between them, the instances talking by name; one
    model.tar.gz of both instances' model directories. With network
    isolation they still reach each other (as on SageMaker), and nothing
    else: not kiln's own port."""
    sm = client(server, "sagemaker")
    s3 = client(server, "s3")
    job = "two-host-isolated" if isolated else "two-host-script"
    shards = {f"dist/part-{i}.txt": [float(i * 10 + k) for k in range(i + 2)]
              for i in range(4)}
    for key, vals in shards.items():
        s3.put_object(Bucket=BUCKET, Key=key,
                      Body=" ".join(str(v) for v in vals).encode())
    submit = upload_source(server, job, {"train.py": DISTRIBUTED_PY})
    body = sdk_body(job, submit)
    body["ResourceConfig"]["InstanceCount"] = 2
    body["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(
        S3Uri=f"s3://{BUCKET}/dist/", S3DataDistributionType="ShardedByS3Key")
    body["Environment"] = {"KILN_PORT": str(server.port)}
    body["EnableNetworkIsolation"] = isolated
    sm.create_training_job(**body)
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    everything = [v for vals in shards.values() for v in vals]
    model = tar_members(server, f"{job}/output/model.tar.gz")
    assert set(model) == {"mean.json", "host-algo-1.txt", "host-algo-2.txt"}
    assert json.loads(model["mean.json"]) == {
        "mean": pytest.approx(np.mean(everything)), "n": len(everything)}
    assert model["host-algo-2.txt"] == b"algo-2"
    out = tar_members(server, f"{job}/output/output.tar.gz")
    seen = [json.loads(out[f"algo-{h}.json"]) for h in (1, 2)]
    # Each instance had its share of the keys, and none twice.
    assert sorted(seen[0]["files"] + seen[1]["files"]) == \
        sorted(k.split("/")[1] for k in shards)
    assert seen[0]["files"] and seen[1]["files"]
    a1, a2 = (s["hosts_line"][0].split()[0] for s in seen)
    assert a1 != a2 and a1.startswith("127.") and a2.startswith("127.")
    assert [s["kiln_reachable"] for s in seen] == [not isolated] * 2
    # Each instance's output in its own log stream.
    streams = host_logs(server, TRAINING_LOGS, job)
    assert sorted(streams) == ["algo-1", "algo-2"]
    for host, lines in streams.items():
        assert lines[0] == "Invoking script with the following command:"
        assert any(line.startswith(f"host {host} of ['algo-1', 'algo-2']")
                   for line in lines), lines


def test_one_failing_instance_fails_the_job(server, iris):
    """algo-2 fails while algo-1 would run for ten minutes: the job fails
    at once with algo-2's error, and algo-1 is stopped."""
    sm = client(server, "sagemaker")
    job = "two-host-one-fails"
    submit = upload_source(server, job, {"train.py": (
        "import os, time\n"
        "if os.environ['SM_CURRENT_HOST'] == 'algo-2':\n"
        "    raise RuntimeError('shard 2 is corrupt')\n"
        "print('waiting', flush=True)\n"
        "time.sleep(600)\n")})
    body = sdk_body(job, submit, hps={"epochs": 1})
    body["ResourceConfig"]["InstanceCount"] = 2
    started = time.time()
    sm.create_training_job(**body)
    d = wait(sm, job)
    assert time.time() - started < 300
    assert d["TrainingJobStatus"] == "Failed"
    assert 'ErrorMessage "RuntimeError: shard 2 is corrupt"' in d["FailureReason"]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "two-host-one-fails" not in ps and "time.sleep(600)" not in ps


def test_distribution_launchers_are_refused_by_name(server, iris):
    """The SDK's distribution={"parameter_server": ...} asks the toolkit
    for TensorFlow's parameter servers, which kiln does not start: the job
    says so rather than run the script as something it is not."""
    sm = client(server, "sagemaker")
    job = "ps-script"
    submit = upload_source(server, job, {"train.py": "print('hi')\n"})
    body = sdk_body(job, submit)
    body["HyperParameters"].update({"sagemaker_parameter_server_enabled": "true"})
    body["ResourceConfig"]["InstanceCount"] = 2
    sm.create_training_job(**body)
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: ")
    assert "sagemaker_parameter_server_enabled" in d["FailureReason"]


MPI_PY = r'''
import json, os, socket, sys
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
if rank == int(os.environ.get("FAIL_RANK", "-1")):
    raise RuntimeError("rank %d lost its shard" % rank)
total = comm.allreduce(rank + 1, op=MPI.SUM)
names = comm.allgather(socket.gethostname())
with open(os.path.join("/opt/ml/output/data", "rank-%d.json" % rank), "w") as f:
    json.dump({"rank": rank, "size": size, "sum": total, "names": names,
               "args": sys.argv[1:], "sm_hosts": json.loads(os.environ["SM_HOSTS"])}, f)
if rank == 0:
    open(os.path.join("/opt/ml/model", "sum.txt"), "w").write(str(total))
print("rank %d of %d: sum %d" % (rank, size, total), flush=True)
if os.environ.get("SLEEP"):
    import time
    time.sleep(600)
'''


def mpi4py_missing():
    try:
        import mpi4py  # noqa: F401
        return None
    except ImportError:
        return "python3-mpi4py is not installed"


def mpi_job(server, job, instances, per_host, isolated=False, **env):
    sm = client(server, "sagemaker")
    submit = upload_source(server, job, {"train.py": MPI_PY})
    # What distribution={"mpi": {"enabled": True, "processes_per_host": 2,
    # "custom_mpi_options": "--NCCL_DEBUG WARN"}} sends.
    body = sdk_body(job, submit, hps={
        "epochs": 2, "sagemaker_mpi_enabled": True,
        "sagemaker_mpi_num_of_processes_per_host": per_host,
        "sagemaker_mpi_custom_mpi_options": "--NCCL_DEBUG WARN -mca btl_tcp_links 1"})
    body["ResourceConfig"]["InstanceCount"] = instances
    body["Environment"] = env
    body["EnableNetworkIsolation"] = isolated
    sm.create_training_job(**body)
    return wait(sm, job)


@pytest.mark.skipif(mpi4py_missing() is not None, reason=str(mpi4py_missing()))
@pytest.mark.parametrize("isolated", [False, True])
def test_mpi_distribution_runs_mpirun_across_instances(server, iris, isolated):
    """distribution={"mpi": ...}: algo-1 runs the toolkit's mpirun, whose
    ranks on algo-2 start through kiln rsh, the stand-in for the SSH
    between SageMaker's containers; 2 instances x 2 processes are one
    MPI_COMM_WORLD of 4, and the job completes when mpirun does."""
    job = "mpi-two-hosts-isolated" if isolated else "mpi-two-hosts"
    d = mpi_job(server, job, 2, 2, isolated)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    out = tar_members(server, f"{job}/output/output.tar.gz")
    ranks = [json.loads(out[f"rank-{r}.json"]) for r in range(4)]
    for seen in ranks:
        assert seen["size"] == 4 and seen["sum"] == 10
        assert seen["names"] == ["algo-1", "algo-1", "algo-2", "algo-2"]
        assert seen["args"] == ["--epochs", "2"]
        assert seen["sm_hosts"] == ["algo-1", "algo-2"]
    assert tar_members(server, f"{job}/output/model.tar.gz") == {"sum.txt": b"10"}
    streams = host_logs(server, TRAINING_LOGS, job)
    command = streams["algo-1"][1].split()
    assert command[:5] == ["mpirun", "--host", "algo-1:2,algo-2:2", "-np", "4"]
    assert "NCCL_DEBUG=WARN" in command and "btl_tcp_links" in command
    assert command[-5:] == ["-m", "mpi4py", "train.py", "--epochs", "2"]
    assert streams["algo-2"][1].split()[1:] == ["rshd", "algo-2"]
    # Every rank's output reaches mpirun's log, tagged with its rank.
    text = "\n".join(streams["algo-1"])
    assert all(f"[1,{r}]<stdout>:rank {r} of 4: sum 10" in text for r in range(4))
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "rshd" not in ps and "orted" not in ps


HETERO_MPI_PY = r'''
import json, os, socket
out = os.environ["SM_OUTPUT_DATA_DIR"]
if os.environ["SM_CURRENT_INSTANCE_GROUP"] == "data":
    env = json.loads(os.environ["SM_TRAINING_ENV"])
    json.dump({k: env[k] for k in ("distribution_hosts", "distribution_instance_groups",
                                   "master_hostname", "is_master")},
              open(os.path.join(out, "data.json"), "w"))
else:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    names = comm.allgather(socket.gethostname())
    json.dump({"size": comm.Get_size(), "names": names},
              open(os.path.join(out, "rank-%d.json" % comm.Get_rank()), "w"))
'''


@pytest.mark.skipif(mpi4py_missing() is not None, reason=str(mpi4py_missing()))
def test_mpi_on_one_instance_group(server, iris):
    """distribution={"mpi": ..., "instance_groups": [dnn]} on a
    heterogeneous cluster: mpirun spans the dnn group's hosts, from the
    first of them; the data group's host runs the entry point itself."""
    sm = client(server, "sagemaker")
    job = "mpi-hetero"
    submit = upload_source(server, job, {"train.py": HETERO_MPI_PY})
    body = sdk_body(job, submit, hps={
        "sagemaker_mpi_enabled": True,
        "sagemaker_distribution_instance_groups": ["dnn"]})
    body["ResourceConfig"] = {"VolumeSizeInGB": 30, "InstanceGroups": [
        {"InstanceGroupName": "data", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
        {"InstanceGroupName": "dnn", "InstanceType": "ml.m5.large", "InstanceCount": 2}]}
    sm.create_training_job(**body)
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    out = tar_members(server, f"{job}/output/output.tar.gz")
    assert json.loads(out["data.json"]) == {
        "distribution_hosts": ["algo-2", "algo-3"], "distribution_instance_groups": ["dnn"],
        "master_hostname": "algo-2", "is_master": False}
    for r in range(2):
        assert json.loads(out[f"rank-{r}.json"]) == {"size": 2, "names": ["algo-2", "algo-3"]}
    streams = host_logs(server, TRAINING_LOGS, job)
    assert streams["algo-1"][1].split()[1:] == ["train.py"]
    assert streams["algo-2"][1].split()[:5] == ["mpirun", "--host", "algo-2,algo-3", "-np", "2"]
    assert streams["algo-3"][1].split()[1:] == ["rshd", "algo-3"]


@pytest.mark.skipif(mpi4py_missing() is not None, reason=str(mpi4py_missing()))
def test_mpi_with_fewer_processes_than_instances(server, iris):
    """sagemaker_mpi_num_processes 1 on 2 instances: mpirun maps its one
    rank to algo-1; algo-2's kiln rshd, which mpirun may never call, ends
    with it, and the job completes."""
    sm = client(server, "sagemaker")
    job = "mpi-one-rank"
    submit = upload_source(server, job, {"train.py": MPI_PY})
    body = sdk_body(job, submit, hps={"sagemaker_mpi_enabled": True,
                                      "sagemaker_mpi_num_processes": 1})
    body["ResourceConfig"]["InstanceCount"] = 2
    sm.create_training_job(**body)
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    out = tar_members(server, f"{job}/output/output.tar.gz")
    assert json.loads(out["rank-0.json"])["size"] == 1
    assert "rank-1.json" not in out
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "rshd" not in ps


@pytest.mark.skipif(mpi4py_missing() is not None, reason=str(mpi4py_missing()))
def test_stop_an_mpi_job(server, iris):
    """StopTrainingJob stops mpirun, kiln rshd and the Open MPI daemon it
    adopted, and every rank on both instances."""
    sm = client(server, "sagemaker")
    job = "mpi-sleepy"
    submit = upload_source(server, job, {"train.py": MPI_PY})
    body = sdk_body(job, submit, hps={"sagemaker_mpi_enabled": True})
    body["ResourceConfig"]["InstanceCount"] = 2
    body["Environment"] = {"SLEEP": "1"}
    sm.create_training_job(**body)
    deadline = time.time() + 120
    while time.time() < deadline and not any(
            "[1,1]<stdout>:rank 1 of 2" in line
            for line in host_logs(server, TRAINING_LOGS, job).get("algo-1", [])):
        time.sleep(0.3)
    assert time.time() < deadline, "the ranks never started"
    sm.stop_training_job(TrainingJobName=job)
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Stopped"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "rshd" not in ps and "orted" not in ps and "mpi4py" not in ps


@pytest.mark.skipif(mpi4py_missing() is not None, reason=str(mpi4py_missing()))
def test_mpi_rank_failure_fails_the_job(server, iris):
    """A rank that raises on algo-2 aborts mpirun (mpi4py and
    orte_abort_on_non_zero_status), and the job fails with mpirun's error,
    the rank's exception its message; nothing of the job keeps running.
    (Open MPI may kill the rank before its output has travelled to
    mpirun, as its abort message says; then the message is mpirun's.)"""
    job = "mpi-rank-fails"
    started = time.time()
    d = mpi_job(server, job, 2, 1, FAIL_RANK="1")
    assert time.time() - started < 300
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:"), reason
    assert reason.count("Command \"mpirun --host algo-1,algo-2") == 1
    lines = host_logs(server, TRAINING_LOGS, job)["algo-1"]
    assert any("MPI_ABORT was invoked on rank 1" in line for line in lines)
    if "[1,1]<stderr>:RuntimeError: rank 1 lost its shard" in lines:
        assert 'ErrorMessage "[1,1]<stderr>:RuntimeError: rank 1 lost its shard"' in reason
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "rshd" not in ps and "orted" not in ps and "mpi4py" not in ps


TORCH_PY = r'''
import json, os, socket, sys
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
host = os.environ["SM_CURRENT_HOST"]
if rank == int(os.environ.get("FAIL_RANK", "-1")):
    raise RuntimeError("rank %d lost its shard" % rank)
t = torch.tensor([float(rank + 1), 1.0])
dist.all_reduce(t)
json.dump({"rank": rank, "world": world, "local_rank": int(os.environ["LOCAL_RANK"]),
           "host": host, "hostname": socket.gethostname(), "sum": t.tolist(),
           "args": sys.argv[1:]},
          open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "rank-%d.json" % rank), "w"))
if rank == 0:
    torch.save({"w": torch.full((3,), t[0].item())},
               os.path.join(os.environ["SM_MODEL_DIR"], "model.pt"))
print("rank %d of %d on %s: sum %g" % (rank, world, host, t[0].item()), flush=True)
dist.destroy_process_group()
'''


def torch_missing():
    try:
        import torch.distributed as dist
        return None if dist.is_gloo_available() else "torch without gloo"
    except ImportError:
        return "python3-torch is not installed"


def torch_job(server, job, instances, per_host, **env):
    sm = client(server, "sagemaker")
    submit = upload_source(server, job, {"train.py": TORCH_PY})
    # What PyTorch(distribution={"torch_distributed": {"enabled": True}})
    # sends, with the MPI processes per host the toolkit also reads.
    body = sdk_body(job, submit, hps={
        "epochs": 3, "sagemaker_torch_distributed_enabled": True,
        "sagemaker_mpi_num_of_processes_per_host": per_host})
    body["ResourceConfig"].update(InstanceCount=instances,
                                  InstanceType="ml.m5.xlarge")
    body["Environment"] = env
    sm.create_training_job(**body)
    return wait(sm, job)


@pytest.mark.skipif(torch_missing() is not None, reason=str(torch_missing()))
def test_torch_distributed_runs_torchrun_on_every_instance(server, iris):
    """distribution={"torch_distributed": ...}: each instance runs the
    toolkit's torchrun command; 2 instances x 2 processes are one gloo
    process group of 4 ranks that all-reduce across the instances' sandboxes."""
    job = "torchrun-two-hosts"
    d = torch_job(server, job, 2, 2)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    out = tar_members(server, f"{job}/output/output.tar.gz")
    ranks = [json.loads(out[f"rank-{r}.json"]) for r in range(4)]
    for r, seen in enumerate(ranks):
        assert seen["world"] == 4
        assert seen["sum"] == [10.0, 4.0]  # 1+2+3+4 over 4 ranks
        assert seen["host"] == seen["hostname"] == f"algo-{r // 2 + 1}"
        assert seen["local_rank"] == r % 2
        assert seen["args"] == ["--epochs", "3"]
    model = tar_members(server, f"{job}/output/model.tar.gz")
    assert set(model) == {"model.pt"}
    streams = host_logs(server, TRAINING_LOGS, job)
    for node, host in enumerate(("algo-1", "algo-2")):
        command = streams[host][1].split()
        assert command[1:4] == ["-m", "torch.distributed.run", "--nnodes"]
        assert command[4:] == ["2", "--nproc_per_node", "2", "--master_addr",
                               "algo-1", "--master_port", command[10],
                               "--node_rank", str(node), "train.py",
                               "--epochs", "3"]
        assert any("sum 10" in line for line in streams[host]), streams[host]


@pytest.mark.skipif(torch_missing() is not None, reason=str(torch_missing()))
def test_torch_distributed_rank_failure_fails_the_job(server, iris):
    """A rank that raises on algo-2 fails torchrun there; algo-1's rank,
    whose all_reduce loses its peer, fails too, and the job fails with the
    error of the instance that ended first (which one is a race, as on
    SageMaker), the raising rank's in algo-2's log."""
    job = "torchrun-rank-fails"
    started = time.time()
    d = torch_job(server, job, 2, 1, FAIL_RANK="1")
    assert time.time() - started < 300
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:"), reason
    assert "RuntimeError: " in reason and "torch.distributed.run" in reason
    logs = host_logs(server, TRAINING_LOGS, job)
    assert "RuntimeError: rank 1 lost its shard" in logs["algo-2"]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "torch.distributed.run" not in ps


def want_model(iris):
    x, y = iris
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x, y)


def deploy(server, name, artifact, submit, **env):
    """What SKLearnModel.deploy() creates: a model whose container names the
    entry point and its code, a config, an endpoint; waits for it."""
    sm = client(server, "sagemaker")
    environment = {"SAGEMAKER_PROGRAM": "train.py",
                   "SAGEMAKER_SUBMIT_DIRECTORY": submit,
                   "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                   "SAGEMAKER_REGION": "us-east-1"}
    environment.update(env)
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": artifact, "Environment": environment})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name,
        "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return waited(sm, "endpoint_in_service", "describe_endpoint", EndpointName=name)


def npy(array):
    raw = io.BytesIO()
    np.save(raw, array)
    return raw.getvalue()


def model_servers():
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if "algo script serve" in line]


def test_deploy_the_trained_script(server, iris, trained):
    d, submit = trained
    artifact = d["ModelArtifacts"]["S3ModelArtifacts"]
    e = deploy(server, "iris", artifact, submit)
    assert e["EndpointStatus"] == "InService", e.get("FailureReason")
    rt = client(server, "sagemaker-runtime")
    x, _ = iris
    want = want_model(iris).predict(x)

    # CSV in; JSON out, the default.
    body = "\n".join(",".join(f"{v:g}" for v in row) for row in x[:20])
    r = rt.invoke_endpoint(EndpointName="iris", ContentType="text/csv", Body=body)
    assert r["ContentType"] == "application/json"
    assert r["InvokedProductionVariant"] == "AllTraffic"
    assert json.loads(r["Body"].read()) == want[:20].tolist()
    # What the SDK's SKLearnPredictor sends and reads: NumPy's .npy.
    r = rt.invoke_endpoint(EndpointName="iris", ContentType="application/x-npy",
                           Accept="application/x-npy", Body=npy(x))
    assert r["ContentType"] == "application/x-npy"
    assert (np.load(io.BytesIO(r["Body"].read())) == want).all()
    # JSON in, CSV out.
    r = rt.invoke_endpoint(EndpointName="iris", ContentType="application/json",
                           Accept="text/csv", Body=json.dumps(x[:3].tolist()))
    assert [float(v) for v in r["Body"].read().decode().split()] == want[:3].tolist()

    # The model's errors are ModelErrors with the container's status.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="iris", ContentType="text/csv", Body="1,2\n3,4\n")
    err = e.value.response
    assert err["Error"]["Code"] == "ModelError" and err["OriginalStatusCode"] == 500
    assert "expecting 4 features" in err["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="iris", ContentType="image/png", Body=b"x")
    assert e.value.response["OriginalStatusCode"] == 415

    # One sandboxed model server, gone with the endpoint.
    servers = model_servers()
    assert len(servers) >= 1 and any("bwrap" in s for s in servers), servers
    sm = client(server, "sagemaker")
    sm.delete_endpoint(EndpointName="iris")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="iris",
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert model_servers() == []


CUSTOM_PY = TRAIN_PY + r"""

import json as _json


def input_fn(body, content_type):
    assert isinstance(body, str) and content_type == "application/json"
    return np.array(_json.loads(body)["rows"], dtype=float)


def predict_fn(data, model):
    if os.path.exists(os.environ.get("KILN_PROBE", "/nonexistent")):
        raise RuntimeError("the model server can see the data directory")
    return model.predict_proba(data)


def output_fn(prediction, accept):
    return _json.dumps({"probabilities": prediction.round(6).tolist()}), "application/vnd.iris+json"
"""


def test_custom_handlers_and_failures(server, iris, trained):
    d, _ = trained
    artifact = d["ModelArtifacts"]["S3ModelArtifacts"]
    custom = upload_source(server, "custom", dict(SOURCE, **{"train.py": CUSTOM_PY}))
    e = deploy(server, "iris-custom", artifact, custom, KILN_PROBE=server.data_dir)
    assert e["EndpointStatus"] == "InService", e.get("FailureReason")
    rt = client(server, "sagemaker-runtime")
    x, _ = iris
    r = rt.invoke_endpoint(EndpointName="iris-custom", ContentType="application/json",
                           Body=json.dumps({"rows": x[:5].tolist()}))
    assert r["ContentType"] == "application/vnd.iris+json"
    got = np.array(json.loads(r["Body"].read())["probabilities"])
    assert np.allclose(got, want_model(iris).predict_proba(x[:5]), atol=1e-5)
    client(server, "sagemaker").delete_endpoint(EndpointName="iris-custom")

    # No model_fn: the server never answers /ping, the endpoint fails, and
    # its log says why.
    broken = upload_source(server, "broken", {"train.py": "print('no model_fn here')\n"})
    e = deploy(server, "iris-broken", artifact, broken)
    assert e["EndpointStatus"] == "Failed"
    logs = client(server, "logs")
    group = "/aws/sagemaker/Endpoints/iris-broken"
    text = "\n".join(ev["message"] for stream in logs.describe_log_streams(
        logGroupName=group)["logStreams"] for ev in logs.get_log_events(
        logGroupName=group, logStreamName=stream["logStreamName"])["events"])
    assert "has no model_fn" in text, text

    # Code that is not there fails the endpoint with a clear reason.
    e = deploy(server, "iris-nocode", artifact, f"s3://{BUCKET}/missing/sourcedir.tar.gz")
    assert e["EndpointStatus"] == "Failed"
    assert "Could not find the code" in e["FailureReason"]


def test_batch_transform_with_the_script_model(server, iris, trained):
    """Batch transform runs the same model server: MultiRecord batches of
    CSV lines to the default input_fn, answers as CSV lines."""
    d, submit = trained
    sm = client(server, "sagemaker")
    sm.create_model(ModelName="iris-batch", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": d["ModelArtifacts"]["S3ModelArtifacts"],
        "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": submit}})
    x, _ = iris
    body = "\n".join(",".join(f"{v:g}" for v in row) for row in x) + "\n"
    client(server, "s3").put_object(Bucket=BUCKET, Key="batch-in/iris.csv", Body=body.encode())
    sm.create_transform_job(
        TransformJobName="iris-batch", ModelName="iris-batch", BatchStrategy="MultiRecord",
        TransformInput={"DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/batch-in/"}},
            "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/batch-out", "Accept": "text/csv",
                         "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    t = waited(sm, "transform_job_completed_or_stopped", "describe_transform_job",
               TransformJobName="iris-batch")
    assert t["TransformJobStatus"] == "Completed", t.get("FailureReason")
    out = client(server, "s3").get_object(Bucket=BUCKET, Key="batch-out/iris.csv.out")
    got = [float(v) for v in out["Body"].read().decode().split()]
    assert got == want_model(iris).predict(x).tolist()


PREPROCESS_PY = r'''
import argparse, glob, json, os
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--train-test-split-ratio", type=float, default=0.3)
args = p.parse_args()
print("job:", json.load(open("/opt/ml/config/processingjobconfig.json"))["ProcessingJobName"])
data = np.loadtxt(glob.glob("/opt/ml/processing/input/*.csv")[0], delimiter=",")
order = np.random.default_rng(0).permutation(len(data))
n_test = int(len(data) * args.train_test_split_ratio)
np.savetxt("/opt/ml/processing/train/train.csv", data[order[n_test:]], delimiter=",", fmt="%g")
np.savetxt("/opt/ml/processing/test/test.csv", data[order[:n_test]], delimiter=",", fmt="%g")
try:
    open("/opt/ml/processing/input/iris.csv", "a").write("tampered")
    print("input is writable")
except OSError:
    print("input is read-only")
if os.environ.get("FAIL_NOW"):
    raise ValueError("the split ratio is out of range")
'''


def processing_job(server, name, env=None):
    """What SKLearnProcessor.run(code=..., inputs=..., outputs=...) sends."""
    s3 = client(server, "s3")
    s3.put_object(Bucket=BUCKET, Key=f"{name}/input/code/preprocessing.py",
                  Body=PREPROCESS_PY.encode())
    sm = client(server, "sagemaker")
    out = f"s3://{BUCKET}/{name}/output"
    sm.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE,
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1,
                                               "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 30}},
        AppSpecification={
            "ImageUri": IMAGE,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocessing.py"],
            "ContainerArguments": ["--train-test-split-ratio", "0.2"]},
        ProcessingInputs=[
            {"InputName": "input-1", "AppManaged": False, "S3Input": {
                "S3Uri": f"s3://{BUCKET}/iris/train", "LocalPath": "/opt/ml/processing/input",
                "S3DataType": "S3Prefix", "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}},
            {"InputName": "code", "AppManaged": False, "S3Input": {
                "S3Uri": f"s3://{BUCKET}/{name}/input/code/preprocessing.py",
                "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
                "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
                "S3CompressionType": "None"}}],
        ProcessingOutputConfig={"Outputs": [
            {"OutputName": "train", "AppManaged": False, "S3Output": {
                "S3Uri": f"{out}/train", "LocalPath": "/opt/ml/processing/train",
                "S3UploadMode": "EndOfJob"}},
            {"OutputName": "test", "AppManaged": False, "S3Output": {
                "S3Uri": f"{out}/test", "LocalPath": "/opt/ml/processing/test",
                "S3UploadMode": "EndOfJob"}}]},
        Environment=env or {})
    return waited(sm, "processing_job_completed_or_stopped", "describe_processing_job",
                  ProcessingJobName=name)


def processing_log(server, name):
    [lines] = host_logs(server, PROCESSING_LOGS, name).values()
    return lines


def test_sklearn_processor_script(server, iris):
    d = processing_job(server, "iris-split")
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    s3 = client(server, "s3")
    train = np.loadtxt(io.BytesIO(s3.get_object(
        Bucket=BUCKET, Key="iris-split/output/train/train.csv")["Body"].read()), delimiter=",")
    test = np.loadtxt(io.BytesIO(s3.get_object(
        Bucket=BUCKET, Key="iris-split/output/test/test.csv")["Body"].read()), delimiter=",")
    assert len(train) == 120 and len(test) == 30
    x, y = iris
    whole = sorted(map(tuple, np.vstack([train, test]).round(4)))
    assert whole == sorted(map(tuple, np.column_stack([y, x]).round(4)))
    lines = processing_log(server, "iris-split")
    assert "job: iris-split" in lines and "input is read-only" in lines
    # The channel's object is untouched.
    body = s3.get_object(Bucket=BUCKET, Key="iris/train/iris.csv")["Body"].read()
    assert b"tampered" not in body


def test_failing_processing_script(server, iris):
    d = processing_job(server, "iris-split-fails", env={"FAIL_NOW": "1"})
    assert d["ProcessingJobStatus"] == "Failed"
    assert d["FailureReason"] == "AlgorithmError: ValueError: the split ratio is out of range"



def test_tuning_a_script(server, iris, trained):
    """HyperparameterTuner over the SKLearn estimator: the SDK's static
    hyper-parameters name the entry point, the tuned one arrives as text
    (max_iter=37), which the toolkit decodes as JSON before argparse sees
    it; the objective comes from the job's MetricDefinitions."""
    _, submit = trained
    base = sdk_body("unused", submit)
    static = dict(base["HyperParameters"])
    static.update({"sagemaker_estimator_class_name": '"SKLearn"',
                   "sagemaker_estimator_module": '"sagemaker.sklearn.estimator"',
                   "_tuning_objective_metric": '"train:accuracy"'})
    sm = client(server, "sagemaker")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-script",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize",
                                                 "MetricName": "train:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"IntegerParameterRanges": [
                {"Name": "max_iter", "MinValue": "1", "MaxValue": "100",
                 "ScalingType": "Auto"}]},
            "TrainingJobEarlyStoppingType": "Off"},
        TrainingJobDefinition={
            "AlgorithmSpecification": {
                k: v for k, v in base["AlgorithmSpecification"].items()
                if k != "EnableSageMakerMetricsTimeSeries"},
            "StaticHyperParameters": static, "RoleArn": ROLE,
            "InputDataConfig": base["InputDataConfig"],
            "OutputDataConfig": base["OutputDataConfig"],
            "ResourceConfig": base["ResourceConfig"],
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}})
    d = wait_tuning(sm, "tune-script")
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    assert d["TrainingJobStatusCounters"]["Completed"] == 4
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-script")["TrainingJobSummaries"]
    values = [j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs]
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == \
        max(values)
    for j in jobs:
        n = int(j["TunedHyperParameters"]["max_iter"])
        assert 1 <= n <= 100
        lines = log_lines(server, j["TrainingJobName"])
        assert any(line.endswith(f"train.py --max_iter {n}") for line in lines), lines[:3]


EPOCHS_PY = r'''
import argparse, os, time
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--epochs", type=int)
args = p.parse_args()
for epoch in range(1, args.epochs + 1):
    print("loss=%.6f;" % (abs(args.lr - 0.3) + 1.0 / epoch), flush=True)
    time.sleep(0.3)
open(os.path.join(os.environ["SM_MODEL_DIR"], "lr.txt"), "w").write(str(args.lr))
'''


def epochs_tuning_request(name, submit, epochs=9, **config):
    """A tuning job of EPOCHS_PY (a loss line per epoch, best at lr=0.3):
    Hyperband by default."""
    base = sdk_body("unused", submit, hps={"epochs": epochs})
    base["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": r"loss=([0-9.]+);"}]
    cfg = {"Strategy": "Hyperband",
           "StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 1}},
           "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
           "ResourceLimits": {"MaxNumberOfTrainingJobs": 9, "MaxParallelTrainingJobs": 2},
           "ParameterRanges": {"ContinuousParameterRanges": [
               {"Name": "lr", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}]}}
    cfg.update(config)
    return dict(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
        TrainingJobDefinition={
            "AlgorithmSpecification": {
                k: v for k, v in base["AlgorithmSpecification"].items()
                if k != "EnableSageMakerMetricsTimeSeries"},
            "StaticHyperParameters": base["HyperParameters"], "RoleArn": ROLE,
            "InputDataConfig": base["InputDataConfig"],
            "OutputDataConfig": base["OutputDataConfig"],
            "ResourceConfig": base["ResourceConfig"],
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}})


def test_hyperband_stops_the_poor_configurations(server, iris):
    """Strategy Hyperband: every loss line is an epoch; MaxResource comes
    from the static epochs=9, rungs at 1 and 3 epochs; a job outside the
    best third at a rung is stopped early (Stopped, its last loss its
    objective), the best configuration never is."""
    sm = client(server, "sagemaker")
    submit = upload_source(server, "hyperband", {"train.py": EPOCHS_PY})
    sm.create_hyper_parameter_tuning_job(**epochs_tuning_request("hyperband", submit))
    d = wait_tuning(sm, "hyperband")
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="hyperband", MaxResults=100)["TrainingJobSummaries"]
    assert len(jobs) == 9
    epochs = {j["TrainingJobName"]: sum(line.startswith("loss=") for line in
                                        log_lines(server, j["TrainingJobName"]))
              for j in jobs}
    stopped = [j for j in jobs if j["TrainingJobStatus"] == "Stopped"]
    assert stopped, "Hyperband stopped no job"
    for j in stopped:
        assert epochs[j["TrainingJobName"]] < 9
        assert j["ObjectiveStatus"] == "Succeeded"
    assert d["TrainingJobStatusCounters"]["Stopped"] == len(stopped)
    assert d["ObjectiveStatusCounters"]["Succeeded"] == 9
    best = min(jobs, key=lambda j: abs(float(j["TunedHyperParameters"]["lr"]) - 0.3))
    assert best["TrainingJobStatus"] == "Completed"
    assert epochs[best["TrainingJobName"]] == 9
    assert d["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]


def test_early_stopping_auto_stops_below_the_median(server, iris):
    """TrainingJobEarlyStoppingType Auto (one job at a time): a job whose
    loss after an epoch is worse than the median of the earlier jobs'
    running averages to that epoch is stopped; the best never is."""
    sm = client(server, "sagemaker")
    submit = upload_source(server, "early-auto", {"train.py": EPOCHS_PY})
    req = epochs_tuning_request(
        "early-auto", submit, epochs=6, Strategy="Random",
        TrainingJobEarlyStoppingType="Auto",
        ResourceLimits={"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 1})
    del req["HyperParameterTuningJobConfig"]["StrategyConfig"]
    sm.create_hyper_parameter_tuning_job(**req)
    d = wait_tuning(sm, "early-auto")
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="early-auto", MaxResults=100)["TrainingJobSummaries"]
    lr = {j["TrainingJobName"]: float(j["TunedHyperParameters"]["lr"]) for j in jobs}
    stopped = [j for j in jobs if j["TrainingJobStatus"] == "Stopped"]
    assert stopped, sorted((round(lr[j["TrainingJobName"]], 3), j["TrainingJobStatus"])
                           for j in jobs)
    order = sorted(jobs, key=lambda j: j["TrainingJobName"])
    for j in stopped:
        # Judged against three earlier jobs at least, and worse than most.
        earlier = [abs(lr[o["TrainingJobName"]] - 0.3) for o in order
                   if o["TrainingJobName"] < j["TrainingJobName"]]
        assert len(earlier) >= 3
        assert abs(lr[j["TrainingJobName"]] - 0.3) > sorted(earlier)[0]
        assert j["ObjectiveStatus"] == "Succeeded"
        assert sum(line.startswith("loss=") for line in
                   log_lines(server, j["TrainingJobName"])) < 6
    best = min(jobs, key=lambda j: abs(lr[j["TrainingJobName"]] - 0.3))
    assert best["TrainingJobStatus"] == "Completed"


def test_warm_start_from_a_parent_tuning_job(server, iris):
    """WarmStartConfig: the parent's results are the Bayesian search's
    first observations, so the child's first job already aims at the best
    region (lr near 0.3) instead of drawing at random; Describe reports
    OverallBestTrainingJob over both."""
    sm = client(server, "sagemaker")
    submit = upload_source(server, "warm", {"train.py": EPOCHS_PY})
    one_at_a_time = {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 1}

    def bayesian(name, **over):
        req = epochs_tuning_request(name, submit, epochs=2, Strategy="Bayesian",
                                    ResourceLimits=dict(one_at_a_time))
        del req["HyperParameterTuningJobConfig"]["StrategyConfig"]
        req.update(over)
        return req

    sm.create_hyper_parameter_tuning_job(**bayesian("warm-parent"))
    assert wait_tuning(sm, "warm-parent")["HyperParameterTuningJobStatus"] == "Completed"
    warm = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "warm-parent"}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}
    child = bayesian("warm-child", WarmStartConfig=warm)
    child["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 2
    sm.create_hyper_parameter_tuning_job(**child)
    d = wait_tuning(sm, "warm-child")
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    assert d["WarmStartConfig"] == warm
    mine = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="warm-child")["TrainingJobSummaries"]
    theirs = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="warm-parent")["TrainingJobSummaries"]
    assert len(mine) == 2 and len(theirs) == 5
    first = min(mine, key=lambda j: j["TrainingJobName"])
    assert abs(float(first["TunedHyperParameters"]["lr"]) - 0.3) < 0.15, first

    def value(j):
        return j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    overall = min(mine + theirs, key=value)
    assert d["OverallBestTrainingJob"]["TrainingJobName"] == overall["TrainingJobName"]
    assert d["BestTrainingJob"]["TrainingJobName"] == min(mine, key=value)["TrainingJobName"]

    # Parents that are missing, or not the same algorithm and data.
    for over, words in [
            ({"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "nope"}]},
             "does not exist"),
            ({}, "IdenticalDataAndAlgorithm needs")]:
        bad = bayesian("warm-bad", WarmStartConfig=dict(warm, **over))
        bad["TrainingJobDefinition"]["StaticHyperParameters"]["extra"] = "1"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_hyper_parameter_tuning_job(**bad)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert words in e.value.response["Error"]["Message"]


@pytest.mark.parametrize("config, words", [
    ({"StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 10}}},
     "MaxResource of at least its MinResource"),
    ({"TrainingJobEarlyStoppingType": "Auto"}, "must be Off"),
])
def test_hyperband_refusals(server, iris, config, words):
    sm = client(server, "sagemaker")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_hyper_parameter_tuning_job(
            **epochs_tuning_request("hyperband-bad", "s3://x/y.tar.gz", **config))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert words in e.value.response["Error"]["Message"]


CHECKPOINT_PY = r'''
import json, os
ck = "/opt/ml/checkpoints"
state = os.path.join(ck, "state.json")
epoch = json.load(open(state))["epoch"] if os.path.exists(state) else 0
print(f"starting at epoch {epoch}")
os.makedirs(os.path.join(ck, "sub"), exist_ok=True)
with open(state, "w") as f:
    json.dump({"epoch": epoch + 2}, f)
with open(os.path.join(ck, "sub", "weights.bin"), "ab") as f:
    f.write(b"w" * 2)
if epoch == 0:
    raise SystemExit("interrupted after epoch 2")
'''


def test_checkpoints_survive_a_failed_job(server, iris):
    """CheckpointConfig: what a job leaves in /opt/ml/checkpoints is put
    under S3Uri even when it fails; the next job starts from it (copies, so
    appending to a restored file leaves the stored one as it was)."""
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    submit = upload_source(server, "ckpt", {"train.py": CHECKPOINT_PY})
    cfg = {"S3Uri": f"s3://{BUCKET}/ckpt/checkpoints"}
    sm.create_training_job(**sdk_body("ckpt-1", submit, CheckpointConfig=cfg))
    d = wait(sm, "ckpt-1")
    assert d["TrainingJobStatus"] == "Failed"
    assert d["CheckpointConfig"] == cfg
    state = s3.get_object(Bucket=BUCKET, Key="ckpt/checkpoints/state.json")
    assert json.loads(state["Body"].read()) == {"epoch": 2}
    assert s3.get_object(Bucket=BUCKET, Key="ckpt/checkpoints/sub/weights.bin")[
        "Body"].read() == b"ww"

    sm.create_training_job(**sdk_body("ckpt-2", submit, CheckpointConfig=cfg))
    d = wait(sm, "ckpt-2")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    lines = log_lines(server, "ckpt-2")
    assert "Restored 2 checkpoint file(s) from CheckpointConfig's S3Uri" in lines
    assert "starting at epoch 2" in lines
    state = s3.get_object(Bucket=BUCKET, Key="ckpt/checkpoints/state.json")
    assert json.loads(state["Body"].read()) == {"epoch": 4}
    assert s3.get_object(Bucket=BUCKET, Key="ckpt/checkpoints/sub/weights.bin")[
        "Body"].read() == b"wwww"

    bad = dict(cfg, LocalPath="/etc/checkpoints")
    sm.create_training_job(**sdk_body("ckpt-bad", submit, CheckpointConfig=bad))
    d = wait(sm, "ckpt-bad")
    assert d["TrainingJobStatus"] == "Failed"
    assert "LocalPath must be a path under /opt/ml/" in d["FailureReason"]


def test_checkpoints_of_several_instances(server, iris):
    """Every instance's checkpoints go to the one S3Uri (each under its
    own name), and every instance of the next job gets them all back."""
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    submit = upload_source(server, "ckpt-multi", {"train.py": (
        "import json, os\n"
        "ck, me = '/opt/ml/checkpoints', os.environ['SM_CURRENT_HOST']\n"
        "print('found', sorted(os.listdir(ck)))\n"
        "mine = os.path.join(ck, me + '.json')\n"
        "n = json.load(open(mine))['n'] if os.path.exists(mine) else 0\n"
        "json.dump({'n': n + 1}, open(mine, 'w'))\n")})
    cfg = {"S3Uri": f"s3://{BUCKET}/ckpt-multi/checkpoints"}
    for job in ("ckpt-multi-1", "ckpt-multi-2"):
        body = sdk_body(job, submit, CheckpointConfig=cfg)
        body["ResourceConfig"]["InstanceCount"] = 2
        sm.create_training_job(**body)
        d = wait(sm, job)
        assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    for host in ("algo-1", "algo-2"):
        got = s3.get_object(Bucket=BUCKET, Key=f"ckpt-multi/checkpoints/{host}.json")
        assert json.loads(got["Body"].read()) == {"n": 2}
    streams = host_logs(server, TRAINING_LOGS, "ckpt-multi-2")
    assert sorted(streams) == ["algo-1", "algo-2"]
    for lines in streams.values():
        assert "Restored 2 checkpoint file(s) from CheckpointConfig's S3Uri" in lines
        assert "found ['algo-1.json', 'algo-2.json']" in lines, lines


def test_checkpoints_reach_s3_while_the_job_runs(server, iris):
    """Saved checkpoints are in S3 within seconds, before the job ends (so a
    crash of the machine loses little); changed files again, unchanged
    ones not."""
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    submit = upload_source(server, "ckpt-live", {"train.py": (
        "import os, time\n"
        "ck = '/opt/ml/checkpoints'\n"
        "open(os.path.join(ck, 'fixed.bin'), 'w').write('same')\n"
        "for step in range(100):\n"
        "    open(os.path.join(ck, 'step.txt'), 'w').write(str(step))\n"
        "    time.sleep(1)\n")})
    cfg = {"S3Uri": f"s3://{BUCKET}/ckpt-live/checkpoints"}
    sm.create_training_job(**sdk_body("ckpt-live", submit, CheckpointConfig=cfg))
    seen = []
    deadline = time.time() + 40
    while time.time() < deadline and len(set(seen)) < 2:
        try:
            seen.append(int(s3.get_object(Bucket=BUCKET, Key="ckpt-live/checkpoints/step.txt")[
                "Body"].read()))
        except botocore.exceptions.ClientError:
            pass
        time.sleep(0.5)
    assert sm.describe_training_job(TrainingJobName="ckpt-live")["TrainingJobStatus"] == \
        "InProgress"
    assert len(set(seen)) >= 2 and seen == sorted(seen), seen
    fixed = s3.head_object(Bucket=BUCKET, Key="ckpt-live/checkpoints/fixed.bin")
    sm.stop_training_job(TrainingJobName="ckpt-live")
    d = wait(sm, "ckpt-live")
    assert d["TrainingJobStatus"] == "Stopped"
    # Put once: the unchanged file kept its first upload.
    assert s3.head_object(Bucket=BUCKET, Key="ckpt-live/checkpoints/fixed.bin")[
        "LastModified"] == fixed["LastModified"]


SHARD_PY = r'''
import glob, json, os, socket, time
me = json.load(open("/opt/ml/config/resourceconfig.json"))
files = sorted(glob.glob("/opt/ml/processing/input/*.txt"))
values = [float(v) for f in files for v in open(f).read().split()]
print("%s of %s has %d values" % (me["current_host"], me["hosts"], len(values)), flush=True)
if os.environ.get("FAIL_ON") == me["current_host"]:
    raise ValueError("cannot read shard on " + me["current_host"])
if os.environ.get("FAIL_ON"):
    time.sleep(600)
with open("/opt/ml/processing/out/%s.json" % socket.gethostname(), "w") as f:
    json.dump({"files": [os.path.basename(p) for p in files], "sum": sum(values)}, f)
'''


def two_instance_processing(server, name, script, inputs=(), **over):
    """A processing job of two instances running `script` (uploaded as
    the code input), one output at /opt/ml/processing/out; waited for."""
    client(server, "s3").put_object(Bucket=BUCKET, Key=f"{name}/code/run.py",
                                    Body=script.encode())
    sm = client(server, "sagemaker")
    sm.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE,
        ProcessingResources={"ClusterConfig": {"InstanceCount": 2,
                                               "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 30}},
        AppSpecification={"ImageUri": IMAGE, "ContainerEntrypoint": [
            "python3", "/opt/ml/processing/input/code/run.py"]},
        ProcessingInputs=[*inputs, {"InputName": "code", "S3Input": {
            "S3Uri": f"s3://{BUCKET}/{name}/code/run.py",
            "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/{name}/out", "LocalPath": "/opt/ml/processing/out",
            "S3UploadMode": "EndOfJob"}}]},
        **over)
    return waited(sm, "processing_job_completed_or_stopped", "describe_processing_job",
                  ProcessingJobName=name)


def sharded_processing(server, name, env=None):
    s3 = client(server, "s3")
    for i in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"{name}/in/part-{i}.txt",
                      Body=" ".join(str(i * 100 + k) for k in range(i + 1)).encode())
    return two_instance_processing(server, name, SHARD_PY, inputs=[
        {"InputName": "data", "S3Input": {
            "S3Uri": f"s3://{BUCKET}/{name}/in/", "LocalPath": "/opt/ml/processing/input",
            "S3DataType": "S3Prefix", "S3InputMode": "File",
            "S3DataDistributionType": "ShardedByS3Key"}}], Environment=env or {})


def test_processing_on_two_instances(server, iris):
    """SKLearnProcessor(instance_count=2) with a ShardedByS3Key input:
    each instance its share, its host name and resourceconfig.json, its
    log stream; both instances' outputs under the one S3Uri."""
    d = sharded_processing(server, "shard-proc")
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    s3 = client(server, "s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(
        Bucket=BUCKET, Prefix="shard-proc/out/")["Contents"])
    assert keys == ["shard-proc/out/algo-1.json", "shard-proc/out/algo-2.json"]
    got = [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]
    assert sorted(got[0]["files"] + got[1]["files"]) == [f"part-{i}.txt" for i in range(5)]
    assert got[0]["files"] and got[1]["files"]
    want = sum(i * 100 + k for i in range(5) for k in range(i + 1))
    assert got[0]["sum"] + got[1]["sum"] == want
    assert sorted(host_logs(server, PROCESSING_LOGS, "shard-proc")) == ["algo-1", "algo-2"]


def test_processing_instance_failure_stops_the_other(server, iris):
    started = time.time()
    d = sharded_processing(server, "shard-proc-fails", env={"FAIL_ON": "algo-2"})
    assert time.time() - started < 300
    assert d["ProcessingJobStatus"] == "Failed"
    assert d["FailureReason"] == "AlgorithmError: ValueError: cannot read shard on algo-2"


PEERS_PY = r'''
import json, os, socket, time
me = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
if me == "algo-1":
    s = socket.socket()
    s.bind((socket.gethostbyname(me), 29601))
    s.listen(1)
    conn, _ = s.accept()
    got = conn.makefile().readline().strip()
    open("/opt/ml/processing/out/heard.txt", "w").write(got)
else:
    deadline = time.time() + 60
    while True:
        try:
            c = socket.create_connection(("algo-1", 29601), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    c.sendall(b"hello from algo-2\n")
    c.close()
try:
    socket.create_connection(("127.0.0.1", int(os.environ["KILN_PORT"])), timeout=5).close()
    print("kiln reachable", flush=True)
except OSError:
    print("kiln unreachable", flush=True)
'''


def test_isolated_processing_instances_reach_each_other(server, iris):
    """NetworkConfig.EnableNetworkIsolation on two instances: they share a
    network of their own (as SageMaker's peers do) and reach nothing
    else."""
    name = "peers-proc"
    s3 = client(server, "s3")
    d = two_instance_processing(server, name, PEERS_PY,
                                NetworkConfig={"EnableNetworkIsolation": True},
                                Environment={"KILN_PORT": str(server.port)})
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    heard = s3.get_object(Bucket=BUCKET, Key=f"{name}/out/heard.txt")["Body"].read()
    assert heard == b"hello from algo-2"
    streams = host_logs(server, PROCESSING_LOGS, name)
    assert sorted(streams) == ["algo-1", "algo-2"]
    for lines in streams.values():
        assert "kiln unreachable" in lines, lines


HETERO_PY = r'''
import json, os
env = json.loads(os.environ["SM_TRAINING_ENV"])
rc = json.load(open("/opt/ml/input/config/resourceconfig.json"))
idc = json.load(open("/opt/ml/input/config/inputdataconfig.json"))
data = "/opt/ml/input/data"
json.dump({"group": rc["current_group_name"], "type": rc["current_instance_type"],
           "groups": rc["instance_groups"], "group_hosts": env["current_instance_group_hosts"],
           "is_hetero": env["is_hetero"], "channels": sorted(idc),
           "dirs": {c: sorted(os.listdir(os.path.join(data, c))) for c in os.listdir(data)}},
          open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], rc["current_host"] + ".json"), "w"))
'''


def test_heterogeneous_cluster(server, iris):
    """ResourceConfig.InstanceGroups: hosts numbered across the groups,
    each told its group and type; a channel with InstanceGroupNames goes
    to those groups' hosts only (sharded among them), one without to
    every host."""
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    for i in range(4):
        s3.put_object(Bucket=BUCKET, Key=f"hetero/shards/part-{i}", Body=b"x")
    submit = upload_source(server, "hetero", {"train.py": HETERO_PY})
    body = sdk_body("hetero", submit)
    groups = [{"InstanceGroupName": "data", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
              {"InstanceGroupName": "dnn", "InstanceType": "ml.m5.large", "InstanceCount": 2}]
    body["ResourceConfig"] = {"InstanceGroups": groups, "VolumeSizeInGB": 30}
    body["InputDataConfig"].append({"ChannelName": "shards", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/hetero/shards/",
        "S3DataDistributionType": "ShardedByS3Key", "InstanceGroupNames": ["dnn"]}}})
    sm.create_training_job(**body)
    d = wait(sm, "hetero")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["ResourceConfig"]["InstanceGroups"] == groups
    assert "InstanceCount" not in d["ResourceConfig"]
    out = tar_members(server, "hetero/output/output.tar.gz")
    seen = {h: json.loads(out[f"{h}.json"]) for h in ("algo-1", "algo-2", "algo-3")}
    assert [seen[h]["group"] for h in seen] == ["data", "dnn", "dnn"]
    assert [seen[h]["type"] for h in seen] == ["ml.c5.xlarge", "ml.m5.large", "ml.m5.large"]
    assert seen["algo-1"]["groups"] == [
        {"instance_group_name": "data", "instance_type": "ml.c5.xlarge", "hosts": ["algo-1"]},
        {"instance_group_name": "dnn", "instance_type": "ml.m5.large",
         "hosts": ["algo-2", "algo-3"]}]
    assert seen["algo-2"]["group_hosts"] == ["algo-2", "algo-3"]
    assert seen["algo-1"]["group_hosts"] == ["algo-1"]
    assert all(s["is_hetero"] for s in seen.values())
    assert seen["algo-1"]["channels"] == ["train"] and "shards" not in seen["algo-1"]["dirs"]
    assert seen["algo-2"]["channels"] == ["shards", "train"]
    assert sorted(seen["algo-2"]["dirs"]["shards"] + seen["algo-3"]["dirs"]["shards"]) == \
        [f"part-{i}" for i in range(4)]
    assert len(seen["algo-2"]["dirs"]["shards"]) == 2
    assert all(s["dirs"]["train"] == ["iris.csv"] for s in seen.values())
    # Each group metered at its instance type: 1 and 2 instances.
    import datetime
    today = datetime.datetime.now(datetime.timezone.utc).date()
    r = client(server, "ce").get_cost_and_usage_with_resources(
        TimePeriod={"Start": str(today - datetime.timedelta(days=1)),
                    "End": str(today + datetime.timedelta(days=1))},
        Granularity="MONTHLY", Metrics=["UsageQuantity"],
        Filter={"Dimensions": {"Key": "RESOURCE_ID", "Values": [d["TrainingJobArn"]]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    hours = {g["Keys"][0].split(":", 1)[1]: float(g["Metrics"]["UsageQuantity"]["Amount"])
             for m in r["ResultsByTime"] for g in m["Groups"]}
    assert set(hours) == {"ml.c5.xlarge", "ml.m5.large"}
    assert hours["ml.m5.large"] == pytest.approx(2 * hours["ml.c5.xlarge"])


def test_heterogeneous_cluster_refusals(server, iris):
    sm = client(server, "sagemaker")
    groups = [{"InstanceGroupName": "a", "InstanceType": "ml.m5.large", "InstanceCount": 1}]

    def refused(words, resource, channel_groups=None):
        body = sdk_body("hetero-bad", "s3://x/y.tar.gz")
        body["ResourceConfig"] = resource
        if channel_groups:
            body["InputDataConfig"][0]["DataSource"]["S3DataSource"][
                "InstanceGroupNames"] = channel_groups
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_training_job(**body)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert words in e.value.response["Error"]["Message"]

    refused("not both", {"InstanceGroups": groups, "InstanceType": "ml.m5.large",
                         "VolumeSizeInGB": 30})
    refused("unique", {"InstanceGroups": groups * 2, "VolumeSizeInGB": 30})
    refused("does not have", {"InstanceGroups": groups, "VolumeSizeInGB": 30}, ["b"])
    refused("does not know the instance type", {"InstanceGroups": [
        dict(groups[0], InstanceType="ml.nope")], "VolumeSizeInGB": 30})
    # The built-in algorithms take one instance type.
    body = sdk_body("hetero-kmeans", "s3://x/y.tar.gz")
    body["AlgorithmSpecification"]["TrainingImage"] = \
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
    body["HyperParameters"] = {"k": "2", "feature_dim": "4"}
    body["ResourceConfig"] = {"InstanceGroups": groups, "VolumeSizeInGB": 30}
    sm.create_training_job(**body)
    d = wait(sm, "hetero-kmeans")
    assert d["TrainingJobStatus"] == "Failed"
    assert "heterogeneous clusters" in d["FailureReason"]
