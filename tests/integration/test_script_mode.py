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

from conftest import ACCOUNT, client

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
# The SDK's image for SKLearn(framework_version="1.2-1") in us-east-1.
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = f"sagemaker-us-east-1-{ACCOUNT}"

TRAIN_PY = r'''
import argparse, glob, json, os, socket, sys
import numpy as np
import joblib
from sklearn.linear_model import LogisticRegression
from helpers.scaling import standardize

p = argparse.ArgumentParser()
p.add_argument("--max_iter", type=int, default=100)
p.add_argument("--tag", type=str)
p.add_argument("--probe", type=str)
p.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
p.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
args = p.parse_args()

data = np.loadtxt(glob.glob(os.path.join(args.train, "*.csv"))[0], delimiter=",")
X, y = standardize(data[:, 1:]), data[:, 0]
model = LogisticRegression(max_iter=args.max_iter).fit(X, y)
print("train:accuracy=%.6f;" % model.score(X, y))
joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))

def writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False

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
import numpy as np
def standardize(x):
    return (x - x.mean(axis=0)) / x.std(axis=0)
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


def wait(sm, job):
    try:
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except botocore.exceptions.WaiterError as e:
        assert "Failed" in str(e)
    return sm.describe_training_job(TrainingJobName=job)


def log_lines(server, job):
    logs = client(server, "logs")
    [stream] = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                         logStreamNamePrefix=f"{job}/")["logStreams"]
    assert stream["logStreamName"].startswith(f"{job}/algo-1-")
    return [e["message"] for e in logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamName=stream["logStreamName"], startFromHead=True)["events"]]


def tar_members(server, key):
    body = client(server, "s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def test_sklearn_entry_point_trains_in_its_sandbox(server, iris, tmp_path):
    sm = client(server, "sagemaker")
    job = "sklearn-script-1"
    submit = upload_source(server, job, {
        "train.py": TRAIN_PY, "helpers/__init__.py": "",
        "helpers/scaling.py": SCALING_PY})
    sm.create_training_job(**sdk_body(job, submit, hps={
        "max_iter": 200, "tag": "v1", "probe": server.data_dir}))
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["ModelArtifacts"]["S3ModelArtifacts"] == \
        f"s3://{BUCKET}/{job}/output/model.tar.gz"

    # The model is the one the same code fits here, and its accuracy the
    # metric the job reported.
    x, y = iris
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    want = LogisticRegression(max_iter=200).fit(xs, y)
    model_file = tmp_path / "model.joblib"
    model_file.write_bytes(tar_members(server, f"{job}/output/model.tar.gz")["model.joblib"])
    model = joblib.load(model_file)
    assert (model.predict(xs) == want.predict(xs)).all()
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics["train:accuracy"] == pytest.approx(want.score(xs, y), abs=1e-6)

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
    deadline = time.time() + 30
    while "sleeping" not in (log_lines(server, job) if time.time() < deadline else ["sleeping"]):
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


def test_script_mode_runs_on_one_instance(server, iris):
    sm = client(server, "sagemaker")
    job = "two-host-script"
    submit = upload_source(server, job, {"train.py": "print('hi')\n"})
    body = sdk_body(job, submit)
    body["ResourceConfig"]["InstanceCount"] = 2
    sm.create_training_job(**body)
    d = wait(sm, job)
    assert d["TrainingJobStatus"] == "Failed"
    assert "InstanceCount to 1" in d["FailureReason"]
