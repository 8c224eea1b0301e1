"""[F3] kiln's RecordIO-protobuf against Debian's protobuf compiler and
Python runtime built from kiln's own record.proto, and the convert command
across CSV, libsvm and RecordIO."""
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, kiln

PROTO = os.path.join(ROOT, "src", "formats", "record.proto")


def frame(payload):
    return struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\0" * ((-len(payload)) % 4)


@pytest.mark.skipif(not shutil.which("protoc"), reason="protobuf-compiler not installed")
def test_recordio_matches_python_protobuf(tmp_path):
    subprocess.run(["protoc", f"--proto_path={os.path.dirname(PROTO)}",
                    f"--python_out={tmp_path}", PROTO], check=True)
    sys.path.insert(0, str(tmp_path))
    try:
        import record_pb2
    finally:
        sys.path.pop(0)
    rng = np.random.RandomState(7)
    X = rng.rand(25, 6).astype(np.float32)
    y = rng.randint(0, 5, 25).astype(np.float32)
    expected = b""
    for row, label in zip(X, y):
        r = record_pb2.Record()
        r.features["values"].float32_tensor.values.extend(row.tolist())
        r.label["values"].float32_tensor.values.append(float(label))
        expected += frame(r.SerializeToString())
    csv = tmp_path / "rows.csv"
    csv.write_text("\n".join(",".join(repr(float(v)) for v in [l, *row])
                             for row, l in zip(X, y)) + "\n")
    out = tmp_path / "rows.pbr"
    kiln("admin", "convert", "--from", "csv", "--label-column", "0", "--to", "recordio",
         str(csv), str(out))
    assert out.read_bytes() == expected
    # And Python's parser reads kiln's sparse records back.
    data = out.read_bytes()
    r = record_pb2.Record()
    r.ParseFromString(data[8:8 + struct.unpack("<I", data[4:8])[0]])
    assert list(r.features["values"].float32_tensor.values) == X[0].tolist()


def test_convert_round_trips(tmp_path):
    rng = np.random.RandomState(8)
    X = np.where(rng.rand(40, 7) < 0.4, rng.rand(40, 7), 0).astype(np.float32)
    X[:, 6] = 1.0
    y = rng.randint(0, 3, 40).astype(np.float32)
    csv = tmp_path / "a.csv"
    csv.write_text("\n".join(",".join(repr(float(v)) for v in [l, *row])
                             for row, l in zip(X, y)))
    kiln("admin", "convert", "--from", "csv", "--label-column", "0", "--to", "recordio",
         str(csv), str(tmp_path / "a.pbr"))
    kiln("admin", "convert", "--from", "recordio", "--to", "libsvm", str(tmp_path / "a.pbr"),
         str(tmp_path / "a.svm"))
    kiln("admin", "convert", "--from", "libsvm", "--to", "csv", str(tmp_path / "a.svm"),
         str(tmp_path / "b.csv"))
    back = np.loadtxt(tmp_path / "b.csv", delimiter=",", dtype=np.float32)
    assert np.array_equal(back[:, 0], y) and np.array_equal(back[:, 1:], X)
    bad = subprocess.run([os.environ.get("KILN_BIN", "build/kiln"), "admin", "convert",
                          "--from", "csv", "--to", "recordio", "/etc/hostname",
                          str(tmp_path / "x.pbr")], capture_output=True, text=True)
    assert bad.returncode != 0 and "is not a number" in bad.stderr
    assert not (tmp_path / "x.pbr").exists()
