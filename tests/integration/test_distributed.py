"""[F8] multi-instance training: InstanceCount > 1 runs the hosts as the
ranks of one Open MPI job. The SDK-shaped request (ManifestFile, two
matrix_N.pbr shards, ShardedByS3Key, two instances) on Fashion-MNIST, a
failing rank, StopTrainingJob, and three hosts in three network namespaces."""
import json
import os
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

from conftest import ACCOUNT, AKID, SECRET, Server, client, kiln
from test_training import FM, job_body, read_model, wait

pytestmark = pytest.mark.skipif(not os.path.exists(FM),
                                reason="dataset-fashion-mnist not installed")

PREFIX = "kmeans_highlevel_example/dataKMeans-2026-11-28-00-00-00-000/"
ROW = 3164  # one 784-float RecordIO-protobuf record without label, framed


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A server that keeps job trees, with the SDK's record_set() upload:
    two shards of 5,000 training rows and its manifest, plus 2,000 test rows."""
    tmp = tmp_path_factory.mktemp("dist")
    data_dir = str(tmp / "var")
    kiln("admin", "keys", "add", "--data-dir", data_dir, "--access-key-id", AKID,
         "--secret-access-key", SECRET, "--account", ACCOUNT)
    kiln("admin", "convert", "--from", "idx", "--to", "recordio", "--rows", "10000",
         f"{FM}/train-images-idx3-ubyte.gz", str(tmp / "train.pbr"))
    kiln("admin", "convert", "--from", "idx", "--to", "recordio", "--rows", "2000",
         f"{FM}/t10k-images-idx3-ubyte.gz", str(tmp / "test.pbr"))
    server = Server(data_dir, ["--keep-job-dirs", "1"])
    try:
        s3 = client(server, "s3")
        s3.create_bucket(Bucket="dist")
        raw = (tmp / "train.pbr").read_bytes()
        assert len(raw) == ROW * 10000
        s3.put_object(Bucket="dist", Key=PREFIX + "matrix_0.pbr", Body=raw[:ROW * 5000])
        s3.put_object(Bucket="dist", Key=PREFIX + "matrix_1.pbr", Body=raw[ROW * 5000:])
        manifest = [{"prefix": f"s3://dist/{PREFIX}"}, "matrix_0.pbr", "matrix_1.pbr"]
        s3.put_object(Bucket="dist", Key=PREFIX + ".amazon.manifest",
                      Body=json.dumps(manifest).encode())
        s3.put_object(Bucket="dist", Key="test/test.pbr", Body=(tmp / "test.pbr").read_bytes())
        server.tmp = tmp
        yield server
    finally:
        assert server.stop() == 0


def sdk_job(name, instances, distribution="ShardedByS3Key", manifest_key=None, **over):
    """What KMeans(instance_count=N).fit(record_set(...)) sends."""
    body = job_body(name, Tags=[], ResourceConfig={
        "InstanceCount": instances, "InstanceType": "ml.c4.xlarge", "VolumeSizeInGB": 30},
        OutputDataConfig={"S3OutputPath": "s3://dist/output"},
        HyperParameters={"k": "10", "feature_dim": "784", "mini_batch_size": "500",
                         "force_dense": "True", "eval_metrics": '["msd", "ssd"]'})
    body["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(
        S3DataType="ManifestFile",
        S3Uri=f"s3://dist/{manifest_key or PREFIX + '.amazon.manifest'}",
        S3DataDistributionType=distribution)
    body["InputDataConfig"].append({
        "ChannelName": "test",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://dist/test/",
                                        "S3DataDistributionType": "FullyReplicated"}}})
    body.update(over)
    return body


def host_logs(server, job):
    """{host: [lines]} from the job's log streams, as fit(logs=True) reads them."""
    logs = client(server, "logs")
    group = "/aws/sagemaker/TrainingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=job + "/",
                                        orderBy="LogStreamName")["logStreams"]
    out = {}
    for s in streams:
        host = re.fullmatch(re.escape(job) + r"/(algo-\d+)-\d+", s["logStreamName"]).group(1)
        ev = logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"],
                                 startFromHead=True)
        out[host] = [e["message"] for e in ev["events"]]
    return out


def problems(server, job):
    """The lines of a job's logs that are not the algorithm's own INFO lines:
    what to show when it failed."""
    return {h: [l for l in lines if " INFO " not in l]
            for h, lines in host_logs(server, job).items()}


def metric(lines, name):
    pat = re.compile(r"#quality_metric: host=algo-\d+, " + name + r" <loss>=([0-9.eE+-]+)")
    vals = [float(m.group(1)) for l in lines for m in [pat.search(l)] if m]
    assert vals, f"no {name} in the log"
    return vals[-1]


def test_sdk_two_instances(cluster):
    sm = client(cluster, "sagemaker")
    sm.create_training_job(**sdk_job("sdk-two", 2))
    sm.create_training_job(**sdk_job("sdk-one", 1, distribution="FullyReplicated"))
    two, one = wait(sm, "sdk-two"), wait(sm, "sdk-one")
    assert two["TrainingJobStatus"] == "Completed", (two.get("FailureReason"),
                                                     problems(cluster, "sdk-two"))
    assert one["TrainingJobStatus"] == "Completed", one.get("FailureReason")
    assert two["ResourceConfig"]["InstanceCount"] == 2
    # As in SageMaker: wall-clock seconds; the bill multiplies by the count.
    assert two["BillableTimeInSeconds"] == two["TrainingTimeInSeconds"]

    # Two log streams, one per host, each with its own metrics lines.
    logs = host_logs(cluster, "sdk-two")
    assert sorted(logs) == ["algo-1", "algo-2"]
    for host, lines in logs.items():
        assert any(f"#progress_metric: host={host}, completed 100.0 % of epochs" in l
                   for l in lines), lines[-20:]
        assert any(f"#quality_metric: host={host}, train msd <loss>=" in l for l in lines)
        # Each host streamed its own shard only: 5,000 of the 10,000 rows.
        assert any("processed a total of 5000 examples" in l for l in lines), lines[-20:]
        assert not any(l.startswith("[1,") for l in lines)
    # Only the first host shrinks the state and writes the model.
    assert any("shrinking 100 centers into 10" in l for l in logs["algo-1"])
    assert not any("shrinking" in l for l in logs["algo-2"])
    assert any("processed a total of 10000 examples" in l for l in host_logs(cluster, "sdk-one")["algo-1"])

    # Each host's tree held exactly its shard.
    tree = os.path.join(cluster.data_dir, "jobs", ACCOUNT, "sdk-two")
    for h, shard in ((1, "matrix_0.pbr"), (2, "matrix_1.pbr")):
        data = os.path.join(tree, f"algo-{h}", "input/data/train")
        assert os.listdir(data) == [shard]
        assert os.path.getsize(os.path.join(data, shard)) == ROW * 5000
        rc = json.load(open(os.path.join(tree, f"algo-{h}", "input/config/resourceconfig.json")))
        assert rc["current_host"] == f"algo-{h}" and rc["hosts"] == ["algo-1", "algo-2"]
    assert not os.path.exists(os.path.join(tree, "algo-2", "model", "model_algo-1"))

    # One model of shape (10, 784); its test error per row is within 1% of
    # the one-instance job's on the same data.
    import io
    import tarfile
    s3 = client(cluster, "s3")
    for job in ("sdk-two", "sdk-one"):
        body = s3.get_object(Bucket="dist", Key=f"output/{job}/output/model.tar.gz")["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as t:
            assert t.getnames() == ["model_algo-1"]
            assert read_model(t.extractfile("model_algo-1").read()).shape == (10, 784)
    msd_two = metric(logs["algo-1"], "test msd")
    msd_one = metric(host_logs(cluster, "sdk-one")["algo-1"], "test msd")
    print(f"test msd: two instances {msd_two:.3f}, one instance {msd_one:.3f}")
    assert abs(msd_two - msd_one) / msd_one < 0.01
    # Every host reports the same train and test metrics of the whole job.
    assert metric(logs["algo-2"], "train msd") == metric(logs["algo-1"], "train msd")
    assert metric(logs["algo-2"], "test msd") == msd_two
    # The test channel is replicated: every host scored the same 2,000 rows.
    assert metric(logs["algo-1"], "test ssd") == pytest.approx(msd_two * 2000, rel=1e-9)
    metrics = {m["MetricName"]: m["Value"] for m in two["FinalMetricDataList"]}
    assert metrics["test:msd"] == pytest.approx(msd_two)


def test_failing_rank_fails_the_job(cluster):
    """The second host's shard is not RecordIO: the job fails with that
    host's message, and no process of the job is left."""
    s3 = client(cluster, "s3")
    prefix = "bad-shard/"
    raw = (cluster.tmp / "train.pbr").read_bytes()
    s3.put_object(Bucket="dist", Key=prefix + "matrix_0.pbr", Body=raw[:ROW * 3000])
    s3.put_object(Bucket="dist", Key=prefix + "matrix_1.pbr", Body=b"this is not recordio\n" * 50)
    manifest = [{"prefix": f"s3://dist/{prefix}"}, "matrix_0.pbr", "matrix_1.pbr"]
    s3.put_object(Bucket="dist", Key=prefix + ".amazon.manifest",
                  Body=json.dumps(manifest).encode())
    sm = client(cluster, "sagemaker")
    sm.create_training_job(**sdk_job("bad-rank", 2, manifest_key=prefix + ".amazon.manifest"))
    d = wait(sm, "bad-rank")
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: "), d["FailureReason"]
    assert "matrix_1.pbr" in d["FailureReason"], d["FailureReason"]
    assert not job_processes("bad-rank")


def job_processes(job):
    """mpirun, orted and the ranks of `job`: the processes whose command line
    or environment (TRAINING_JOB_NAME, set for every rank) names it."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if not any(w in cmd for w in ("algo kmeans train", "mpirun", "orted")):
            continue
        if job in cmd or f"TRAINING_JOB_NAME={job}".encode() in env:
            found.append(f"{pid} {cmd}")
    return found


def test_stop_kills_every_rank(cluster):
    sm = client(cluster, "sagemaker")
    body = sdk_job("stop-two", 2)
    body["HyperParameters"]["epochs"] = "1000000"
    sm.create_training_job(**body)
    def ranks():
        return [p for p in job_processes("stop-two") if "mpirun" not in p]
    deadline = time.time() + 30
    while time.time() < deadline and len(ranks()) < 2:
        time.sleep(0.05)
    assert len(ranks()) == 2
    time.sleep(0.5)
    sm.stop_training_job(TrainingJobName="stop-two")
    d = wait(sm, "stop-two")
    assert d["TrainingJobStatus"] == "Stopped", d.get("FailureReason")
    assert not job_processes("stop-two")


HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers")


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


_nets = 0


@pytest.fixture
def namespaces(tmp_path):
    """Three "machines": network namespaces kiln-<addr> on one bridge, each
    reachable only at its own address. Yields (addresses, subnet)."""
    if os.geteuid() != 0:
        pytest.skip("the three-host test needs root for network namespaces "
                    "(CI runs as root)")
    global _nets
    _nets += 1
    n = 20 + (os.getpid() + 7 * _nets) % 200
    subnet, bridge = f"10.231.{n}", f"kbr{n}"
    hosts = [f"{subnet}.{11 + i}" for i in range(3)]
    made = []
    try:
        ip("link", "add", bridge, "type", "bridge")
        made.append(("link", "del", bridge))
        ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for i, host in enumerate(hosts):
            ns, veth = f"kiln-{host}", f"kv{n}x{i}"
            ip("netns", "add", ns)
            made.append(("netns", "del", ns))
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("link", "set", veth, "master", bridge, "up")
            ip("-n", ns, "addr", "add", f"{host}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        for cmd in reversed(made):
            subprocess.run(["ip", *cmd], capture_output=True)
        pytest.skip(f"cannot create network namespaces here: {e}")
    yield hosts, f"{subnet}.0/24"
    for cmd in reversed(made):
        subprocess.run(["ip", *cmd], capture_output=True)
    for host in hosts:  # the "machines'" temporary directories (netns-rsh)
        shutil.rmtree(f"/tmp/kiln-netns-{host}", ignore_errors=True)


@pytest.mark.parametrize("files", ["shared", "fetched"])
def test_three_hosts_in_network_namespaces(namespaces, tmp_path, files):
    """A cluster hostfile of three hosts, each a network namespace entered by
    Open MPI's rsh agent: the ranks run on those hosts and, with only the TCP
    transport over the namespaces' subnet, exchange their state over it.
    `shared`: the hosts see kiln's data directory. `fetched`: with
    cluster-url, each host builds its own tree from presigned URLs to the
    server's address on the bridge and sends the model back the same way."""
    hosts, subnet = namespaces
    launches = tmp_path / "launches"
    agent = tmp_path / "rsh"
    agent.write_text(f"#!/bin/sh\nKILN_NETNS_LOG={launches} exec {HELPERS}/netns-rsh \"$@\"\n")
    agent.chmod(0o755)
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("".join(f"{h} slots=1\n" for h in hosts))
    data_dir = str(tmp_path / "var")
    kiln("admin", "keys", "add", "--data-dir", data_dir, "--access-key-id", AKID,
         "--secret-access-key", SECRET, "--account", ACCOUNT)
    kiln("admin", "convert", "--from", "idx", "--to", "recordio", "--rows", "3000",
         f"{FM}/train-images-idx3-ubyte.gz", str(tmp_path / "train.pbr"))
    options = (f"--mca plm_rsh_agent {agent} --mca btl tcp,self "
               f"--mca btl_tcp_if_include {subnet} --mca oob_tcp_if_include {subnet}")
    args = ["--hostfile", str(hostfile), "--mpi-options", options, "--keep-job-dirs", "1"]
    port = None
    if files == "fetched":
        from conftest import free_port
        port = free_port()
        bridge = subnet.rsplit(".", 1)[0] + ".1"
        args += ["--bind", "0.0.0.0", "--cluster-url", f"http://{bridge}:{port}"]
    server = Server(data_dir, args, port=port)
    try:
        s3 = client(server, "s3")
        s3.create_bucket(Bucket="three")
        raw = (tmp_path / "train.pbr").read_bytes()
        for i in range(3):
            s3.put_object(Bucket="three", Key=f"data/matrix_{i}.pbr",
                          Body=raw[ROW * 1000 * i:ROW * 1000 * (i + 1)])
        sm = client(server, "sagemaker")
        body = job_body("three-hosts", ResourceConfig={
            "InstanceCount": 3, "InstanceType": "ml.c4.xlarge", "VolumeSizeInGB": 30},
            OutputDataConfig={"S3OutputPath": "s3://three/output"})
        body["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(
            S3Uri="s3://three/data/", S3DataDistributionType="ShardedByS3Key")
        # The same rows as a sharded test channel: the hosts add up their SSD.
        body["InputDataConfig"].append({"ChannelName": "test", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://three/data/",
            "S3DataDistributionType": "ShardedByS3Key"}}})
        body["HyperParameters"]["eval_metrics"] = '["msd", "ssd"]'
        sm.create_training_job(**body)
        d = wait(sm, "three-hosts")
        logs = host_logs(server, "three-hosts")
        assert d["TrainingJobStatus"] == "Completed", (d.get("FailureReason"),
                                                       problems(server, "three-hosts"))
        # Open MPI started one daemon on each of the three hosts...
        assert sorted(launches.read_text().split()) == hosts
        # ...and each host trained on its own 1,000 rows.
        assert sorted(logs) == ["algo-1", "algo-2", "algo-3"]
        for host, lines in logs.items():
            assert any("processed a total of 1000 examples" in l for l in lines), lines
            assert any(f"host {host} of 3:" in l for l in lines), lines
            assert metric(lines, "test ssd") == pytest.approx(metric(lines, "test msd") * 3000,
                                                              rel=1e-9)
        s3.head_object(Bucket="three", Key="output/three-hosts/output/model.tar.gz")
        tree = os.path.join(data_dir, "jobs", ACCOUNT, "three-hosts")
        linked = [os.listdir(os.path.join(tree, f"algo-{h}", "input/data/train"))
                  for h in (1, 2, 3)]
        left = s3.list_objects_v2(Bucket="three", Prefix="output/three-hosts/")
        keys = sorted(o["Key"] for o in left.get("Contents", []))
        if files == "shared":
            assert linked == [["matrix_0.pbr"], ["matrix_1.pbr"], ["matrix_2.pbr"]]
        else:
            # Nothing was placed in the server's tree for the hosts; what
            # was staged for them is gone; the model came back through S3.
            assert linked == [[], [], []]
            # A host's failure message comes back the same way.
            for i in range(3):
                s3.put_object(Bucket="three", Key=f"bad/matrix_{i}.pbr",
                              Body=raw[:ROW * 100] if i != 2 else b"not recordio\n" * 9)
            body["TrainingJobName"] = "three-bad"
            body["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://three/bad/"
            del body["InputDataConfig"][1]
            sm.create_training_job(**body)
            bad = wait(sm, "three-bad")
            assert bad["TrainingJobStatus"] == "Failed"
            assert bad["FailureReason"].startswith("ClientError: "), bad["FailureReason"]
            assert "matrix_2.pbr" in bad["FailureReason"], bad["FailureReason"]
            assert not s3.list_objects_v2(Bucket="three", Prefix="output/three-bad/kiln-hosts/").get("Contents")
        assert keys == ["output/three-hosts/output/model.tar.gz",
                        "output/three-hosts/output/output.tar.gz"], keys
    finally:
        assert server.stop() == 0
