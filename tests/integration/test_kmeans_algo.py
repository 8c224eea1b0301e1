"""[F4] `kiln algo kmeans train` under the container contract on the real
Fashion-MNIST (Debian's dataset-fashion-mnist, converted with
`kiln admin convert`), checked against scikit-learn's KMeans."""
import gzip
import json
import os
import re
import struct
import subprocess

import numpy as np
import pytest

from conftest import KILN, kiln, idx

FM = "/usr/share/datasets/fashion-mnist"
pytestmark = pytest.mark.skipif(not os.path.exists(FM),
                                reason="dataset-fashion-mnist is not installed")




def read_model(path):
    raw = open(path, "rb").read()
    magic, _, count = struct.unpack("<QQQ", raw[:24])
    assert (magic, count) == (0x112, 1)
    nd_magic, stype, ndim = struct.unpack("<Iii", raw[24:36])
    assert (nd_magic, stype, ndim) == (0xF993FAC9, 0, 2)
    k, d = struct.unpack("<qq", raw[36:52])
    dev, dev_id, dtype = struct.unpack("<iii", raw[52:64])
    assert dtype == 0
    return np.frombuffer(raw, np.float32, count=k * d, offset=64).reshape(k, d)


@pytest.fixture(scope="module")
def ml(tmp_path_factory):
    root = tmp_path_factory.mktemp("opt-ml")
    for sub in ("input/config", "input/data/train", "input/data/test", "model", "output"):
        (root / sub).mkdir(parents=True)
    kiln("admin", "convert", "--from", "idx", "--to", "recordio", "--labels",
         f"{FM}/train-labels-idx1-ubyte.gz", f"{FM}/train-images-idx3-ubyte.gz",
         str(root / "input/data/train/part-0.pbr"))
    kiln("admin", "convert", "--from", "idx", "--to", "recordio",
         f"{FM}/t10k-images-idx3-ubyte.gz", str(root / "input/data/test/part-0.pbr"))
    return root


def run_container(root, hp, inputs=None):
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hp))
    (root / "input/config/inputdataconfig.json").write_text(json.dumps(inputs or {
        "train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                  "RecordWrapperType": "None"},
        "test": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                 "RecordWrapperType": "None"}}))
    (root / "input/config/resourceconfig.json").write_text(json.dumps(
        {"current_host": "algo-1", "hosts": ["algo-1"]}))
    env = dict(os.environ, SM_INPUT_DIR=str(root / "input"), SM_MODEL_DIR=str(root / "model"),
               SM_OUTPUT_DIR=str(root / "output"))
    return subprocess.run([KILN, "algo", "kmeans", "train"], capture_output=True,
                          text=True, env=env, timeout=600)


def test_fashion_mnist_against_sklearn(ml):
    from sklearn.cluster import KMeans
    out = run_container(ml, {"k": "10", "feature_dim": "784", "eval_metrics": '["msd", "ssd"]'})
    assert out.returncode == 0, out.stdout + out.stderr
    log = out.stdout
    assert "Final configuration: " in log
    assert re.search(r"#progress_metric: host=algo-1, completed 100.0 % of epochs", log)
    assert re.search(r"#throughput_metric: host=algo-1, train throughput=\S+ records/second", log)
    train_msd = float(re.search(r"#quality_metric: host=\S+, train msd <loss>=(\S+)", log).group(1))
    test_msd = float(re.search(r"#quality_metric: host=\S+, test msd <loss>=(\S+)", log).group(1))
    test_ssd = float(re.search(r"#quality_metric: host=\S+, test ssd <loss>=(\S+)", log).group(1))
    assert train_msd > 0
    C = read_model(ml / "model/model_algo-1")
    assert C.shape == (10, 784)
    # The logged test metric is what the model gives on the test set.
    T = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    d2 = ((T[:, None, :] - C[None, :, :]) ** 2).sum(-1).min(1)
    assert abs(d2.sum() - test_ssd) / test_ssd < 1e-3
    assert abs(test_ssd / len(T) - test_msd) / test_msd < 1e-6
    # scikit-learn's converged KMeans on the same training rows.
    X = idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    ref = KMeans(n_clusters=10, n_init=1, random_state=0, algorithm="elkan").fit(X)
    ref_rows = ((T[:, None, :] - ref.cluster_centers_[None, :, :]) ** 2).sum(-1).min(1).mean()
    print(f"test SSD per row: kiln {test_msd:.4f}, scikit-learn {ref_rows:.4f}")
    assert test_msd <= ref_rows * 1.02


def test_wrong_feature_dim_fails_clearly(ml, tmp_path):
    out = run_container(ml, {"k": "10", "feature_dim": "783"})
    assert out.returncode != 0
    failure = (ml / "output/failure").read_text()
    assert failure.startswith("ClientError: ")
    assert "train/part-0.pbr, record 1" in failure and "feature_dim is 783" in failure
    # The CSV wording names the file, the line and both widths.
    csv = tmp_path / "part-0.csv"
    csv.write_text("0.5," * 782 + "0.5\n")
    out = subprocess.run([KILN, "algo", "kmeans", "train", "--data", str(csv),
                          "--hp", "k=1", "--hp", "feature_dim=784",
                          "--model-dir", str(tmp_path / "m"), "--output-dir", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert (tmp_path / "o/failure").read_text() == (
        "ClientError: feature_dim 784 does not match the 783 columns of "
        "train/part-0.csv, line 1")


def test_bad_hyperparameter_and_channel(ml):
    out = run_container(ml, {"k": "ten", "feature_dim": "784"})
    assert out.returncode != 0
    assert "hyperparameter 'k' must be a positive integer, not 'ten'" in (
        ml / "output/failure").read_text()
    out = run_container(ml, {"k": "10", "feature_dim": "784"},
                        {"train": {}, "validation": {}})
    assert out.returncode != 0
    assert "channel 'validation' is not supported" in (ml / "output/failure").read_text()


def blobs_csv(tmp_path, seed, per):
    """Three blobs of `per` 4-d rows around 0, 10 and 20, as a CSV file."""
    rows = np.vstack([np.random.RandomState(seed).normal(c * 10, 0.1, size=(per, 4))
                      for c in range(3)])
    data = tmp_path / "data.csv"
    np.savetxt(data, rows, fmt="%.5f", delimiter=",")
    return data


def train_standalone(tmp_path, data, *hps):
    """`kiln algo kmeans train` on a local file with k=3, feature_dim=4."""
    args = [KILN, "algo", "kmeans", "train", "--data", str(data), "--hp", "k=3",
            "--hp", "feature_dim=4", "--model-dir", str(tmp_path / "m")]
    for hp in hps:
        args += ["--hp", hp]
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    return out


def test_standalone_csv_and_content_type(tmp_path):
    data = blobs_csv(tmp_path, 0, 50)
    train_standalone(tmp_path, data, "init_method=kmeans++")
    C = read_model(tmp_path / "m/model_algo-1")
    found = sorted(np.round(C[:, 0] / 10).astype(int))
    assert found == [0, 1, 2]
    bad = subprocess.run([KILN, "algo", "kmeans", "train", "--data", str(data),
                          "--content-type", "application/x-parquet", "--hp", "k=3",
                          "--hp", "feature_dim=4", "--model-dir", str(tmp_path / "m"),
                          "--output-dir", str(tmp_path / "o")], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "application/x-parquet is not supported" in (tmp_path / "o/failure").read_text()


def test_later_epochs_replay_from_memory(tmp_path):
    """With several epochs over a file, epoch 0 keeps its mini-batches and
    the later epochs replay them: each epoch still sees every row."""
    out = train_standalone(tmp_path, blobs_csv(tmp_path, 1, 300), "epochs=3",
                           "mini_batch_size=100")
    assert "kept the training data in memory (9 batches" in out.stdout
    epochs = re.findall(r"epoch (\d+): (\d+) records in [0-9.]+ s( \(from memory\))?",
                        out.stdout)
    assert [(e, n, bool(m)) for e, n, m in epochs] == [
        ("0", "900", False), ("1", "900", True), ("2", "900", True)]
    assert re.search(r"processed a total of 2700 examples", out.stdout)
