"""Hyperparameter tuning of the built-in k-means through boto3: Random and
Grid strategies, the best training job by test:msd, stopping, and the
requests kiln refuses."""
import subprocess
import time

import botocore.exceptions
import numpy as np
import pytest

from conftest import ACCOUNT, KILN, Server, client, own_data_dir

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
D = 8


def recordio(X):
    text = "".join(",".join(f"{x:.4f}" for x in row) + "\n" for row in X)
    return subprocess.run([KILN, "admin", "convert", "--from", "csv", "--to", "recordio",
                           "/dev/stdin", "/dev/stdout"], input=text.encode(),
                          capture_output=True, check=True).stdout


def data_on(server):
    """Bucket tune with train and test channels: 5 clusters in 8
    dimensions."""
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="tune")
    rng = np.random.default_rng(3)
    centers = rng.normal(0, 10, (5, D))
    for channel, n in (("train", 3000), ("test", 600)):
        X = centers[rng.integers(0, 5, n)] + rng.normal(0, 1, (n, D))
        s3.put_object(Bucket="tune", Key=f"{channel}/data.pbr", Body=recordio(X))
    return client(server, "sagemaker")


@pytest.fixture(scope="module")
def sm(server):
    return data_on(server)


def definition(**over):
    d = {
        "StaticHyperParameters": {"feature_dim": str(D), "mini_batch_size": "300"},
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {"ChannelName": ch, "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://tune/{ch}/",
                "S3DataDistributionType": "FullyReplicated"}}}
            for ch in ("train", "test")],
        "OutputDataConfig": {"S3OutputPath": "s3://tune/output"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    d.update(over)
    return d


def config(strategy="Random", ranges=None, **limits):
    return {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "test:msd"},
        "ResourceLimits": {"MaxParallelTrainingJobs": 2, **limits},
        "ParameterRanges": ranges or {
            "IntegerParameterRanges": [{"Name": "k", "MinValue": "2", "MaxValue": "8",
                                        "ScalingType": "Linear"}],
            "ContinuousParameterRanges": [{"Name": "local_lloyd_tol", "MinValue": "0.0001",
                                           "MaxValue": "0.01",
                                           "ScalingType": "Logarithmic"}]},
    }


def wait(sm, name, timeout=300):
    """Polls until the tuning job has ended (botocore has no waiter for it)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d
        time.sleep(0.5)
    raise AssertionError(f"{name} still {d['HyperParameterTuningJobStatus']}")


def children(sm, name, **kw):
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name, PaginationConfig={"PageSize": 2}, **kw)
    return [j for p in pages for j in p["TrainingJobSummaries"]]


def test_random_search_finds_the_best_job(sm):
    r = sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-random",
        HyperParameterTuningJobConfig=config(MaxNumberOfTrainingJobs=5),
        TrainingJobDefinition=definition(), Tags=[{"Key": "team", "Value": "ml"}])
    assert r["HyperParameterTuningJobArn"] == \
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:hyper-parameter-tuning-job/tune-random"
    d = wait(sm, "tune-random")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"] == {"Completed": 5, "InProgress": 0,
                                             "RetryableError": 0, "NonRetryableError": 0,
                                             "Stopped": 0}
    assert d["ObjectiveStatusCounters"] == {"Succeeded": 5, "Pending": 0, "Failed": 0}
    assert d["HyperParameterTuningEndTime"] >= d["CreationTime"]
    jobs = children(sm, "tune-random", SortBy="FinalObjectiveMetricValue",
                    SortOrder="Ascending")
    assert len(jobs) == 5
    values = [j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs]
    assert values == sorted(values)
    best = d["BestTrainingJob"]
    assert best["TrainingJobName"] == jobs[0]["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize", "MetricName": "test:msd", "Value": values[0]}
    for j in jobs:
        assert j["TrainingJobName"].startswith("tune-random-")
        assert j["TuningJobName"] == "tune-random" and j["ObjectiveStatus"] == "Succeeded"
        tuned = j["TunedHyperParameters"]
        assert 2 <= int(tuned["k"]) <= 8
        assert 0.0001 <= float(tuned["local_lloyd_tol"]) <= 0.01
        # Each is a training job of its own, with the static values too.
        t = sm.describe_training_job(TrainingJobName=j["TrainingJobName"])
        assert t["HyperParameters"]["k"] == tuned["k"]
        assert t["HyperParameters"]["feature_dim"] == str(D)
        metric = [m["Value"] for m in t["FinalMetricDataList"] if m["MetricName"] == "test:msd"]
        assert metric == [j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]]
    assert sm.list_tags(ResourceArn=r["HyperParameterTuningJobArn"])["Tags"] == \
        [{"Key": "team", "Value": "ml"}]
    summaries = sm.list_hyper_parameter_tuning_jobs(
        StatusEquals="Completed")["HyperParameterTuningJobSummaries"]
    s = [x for x in summaries if x["HyperParameterTuningJobName"] == "tune-random"][0]
    assert s["Strategy"] == "Random"
    assert s["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2}
    assert s["TrainingJobStatusCounters"]["Completed"] == 5


def test_grid_search_runs_every_combination(sm):
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-grid",
        HyperParameterTuningJobConfig=config("Grid", {"CategoricalParameterRanges": [
            {"Name": "k", "Values": ["3", "5"]},
            {"Name": "init_method", "Values": ["random", "kmeans++"]}]}),
        TrainingJobDefinition=definition())
    d = wait(sm, "tune-grid")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    jobs = children(sm, "tune-grid")
    combos = {(j["TunedHyperParameters"]["k"], j["TunedHyperParameters"]["init_method"])
              for j in jobs}
    assert len(jobs) == 4 and combos == {("3", "random"), ("3", "kmeans++"),
                                         ("5", "random"), ("5", "kmeans++")}
    # With 5 true clusters, k=5 fits the test rows better than k=3.
    assert d["BestTrainingJob"]["TunedHyperParameters"]["k"] == "5"


def test_bayesian_search(sm):
    """SageMaker's default strategy: after three results, each next set is
    where a Gaussian process expects the most improvement."""
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-bayes",
        HyperParameterTuningJobConfig=config("Bayesian", ranges={
            "IntegerParameterRanges": [{"Name": "k", "MinValue": "2", "MaxValue": "9"}],
            "CategoricalParameterRanges": [{"Name": "init_method",
                                            "Values": ["random", "kmeans++"]}]},
            MaxNumberOfTrainingJobs=8),
        TrainingJobDefinition=definition())
    d = wait(sm, "tune-bayes")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    jobs = children(sm, "tune-bayes")
    assert len(jobs) == 8 and d["ObjectiveStatusCounters"]["Succeeded"] == 8
    for j in jobs:
        assert 2 <= int(j["TunedHyperParameters"]["k"]) <= 9
        assert j["TunedHyperParameters"]["init_method"] in ("random", "kmeans++")
    values = [j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs]
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == \
        min(values)


def test_stop_tuning_job(sm):
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-stop",
        HyperParameterTuningJobConfig=config(MaxNumberOfTrainingJobs=30),
        TrainingJobDefinition=definition())
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="tune-stop")
    d = wait(sm, "tune-stop")
    assert d["HyperParameterTuningJobStatus"] == "Stopped"
    assert len(children(sm, "tune-stop")) < 30
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="tune-stop")
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_bad_requests(sm):
    def refused(code, text, name="tune-bad", cfg=None, **kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name,
                HyperParameterTuningJobConfig=cfg or config(MaxNumberOfTrainingJobs=2),
                TrainingJobDefinition=kw.pop("definition", definition()), **kw)
        assert e.value.response["Error"]["Code"] == code
        assert text in e.value.response["Error"]["Message"]

    refused("ValidationException", "Hyperband needs a MaxResource",
            cfg=config("Hyperband", MaxNumberOfTrainingJobs=2))
    refused("ValidationException", "StrategyConfig is for the Hyperband strategy",
            cfg=dict(config("Random", MaxNumberOfTrainingJobs=2), StrategyConfig={
                "HyperbandStrategyConfig": {"MaxResource": 9}}))
    refused("ValidationException", "categorical parameter ranges only", cfg=config("Grid"))
    refused("ValidationException", "both static and tuned",
            definition=definition(StaticHyperParameters={"k": "3", "feature_dim": "8"}))
    refused("ValidationException", "MinValue at most MaxValue", cfg=config(
        ranges={"IntegerParameterRanges": [{"Name": "k", "MinValue": "9", "MaxValue": "2"}]},
        MaxNumberOfTrainingJobs=2))
    refused("ValidationException", "MaxNumberOfTrainingJobs is required", cfg=config())
    bad_channel = definition()
    bad_channel["InputDataConfig"][0]["ChannelName"] = "bad name!"
    refused("ValidationException", "TrainingJobDefinition: ", definition=bad_channel)
    refused("ValidationException", "Member must have length less than or equal to 32",
            name="a" * 33)
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-dup",
        HyperParameterTuningJobConfig=config(MaxNumberOfTrainingJobs=1),
        TrainingJobDefinition=definition())
    refused("ResourceInUse", "already exists", name="tune-dup")
    assert wait(sm, "tune-dup")["HyperParameterTuningJobStatus"] == "Completed"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="tune-none")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_tuning_job_goes_on_after_a_restart(tmp_path):
    """kiln stopped while a tuning job runs: at the next start the tuning
    job starts the training jobs it had not started, and completes."""
    s = Server(own_data_dir(tmp_path))
    try:
        sm = data_on(s)
        sm.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="tune-restart",
            HyperParameterTuningJobConfig={**config(MaxNumberOfTrainingJobs=12),
                                           "ResourceLimits": {"MaxNumberOfTrainingJobs": 12,
                                                              "MaxParallelTrainingJobs": 1}},
            TrainingJobDefinition=definition())
        deadline = time.time() + 60
        while not children(sm, "tune-restart") and time.time() < deadline:
            time.sleep(0.1)
        assert sm.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="tune-restart")["HyperParameterTuningJobStatus"] == \
            "InProgress"
    finally:
        assert s.stop() == 0, s.stderr()[-3000:]
    s = Server(s.data_dir)
    try:
        sm = client(s, "sagemaker")
        d = wait(sm, "tune-restart")
        assert d["HyperParameterTuningJobStatus"] == "Completed"
        jobs = children(sm, "tune-restart")
        assert len(jobs) == 12 == len({j["TrainingJobName"] for j in jobs})
        counters = d["TrainingJobStatusCounters"]
        assert counters["Completed"] >= 1 and counters["InProgress"] == 0
        assert sum(counters.values()) == 12
    finally:
        assert s.stop() == 0, s.stderr()[-3000:]
