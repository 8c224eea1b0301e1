"""make bench-formats: parsing Fashion-MNIST (60,000 x 784) as CSV and as
RecordIO-protobuf with kiln's readers, against pandas.read_csv and
numpy.loadtxt on the same CSV file and against the memory-bandwidth floor
(`cat` of the same bytes from the page cache to /dev/null)."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import kiln  # noqa: E402

FM = "/usr/share/datasets/fashion-mnist"
BENCH = os.environ.get("BENCH_FORMATS_BIN", "build/bench/bench_formats")


def best(fn, n=3):
    return min(fn() for _ in range(n))


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def kiln_parse(path, ctype):
    out = subprocess.run([BENCH, path, ctype, "784"], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[2])


def main():
    import numpy as np
    import pandas as pd
    work = tempfile.mkdtemp(prefix="kiln-formats-bench-")
    csv, pbr = os.path.join(work, "train.csv"), os.path.join(work, "train.pbr")
    kiln("admin", "convert", "--from", "idx", "--to", "csv",
         f"{FM}/train-images-idx3-ubyte.gz", csv)
    kiln("admin", "convert", "--from", "idx", "--to", "recordio",
         f"{FM}/train-images-idx3-ubyte.gz", pbr)
    rows = []
    for path, ctype, name in ((csv, "text/csv", "CSV"),
                              (pbr, "application/x-recordio-protobuf", "RecordIO")):
        size = os.path.getsize(path)
        timed(["cat", path])  # warm the page cache
        t_cat = best(lambda: timed(["sh", "-c", f"cat {path} > /dev/null"]))
        t_kiln = best(lambda: kiln_parse(path, ctype))
        rows.append((f"kiln {name}", size, t_kiln, "cat (bandwidth floor)", t_cat))
    t = time.perf_counter()
    pd.read_csv(csv, header=None, dtype=np.float32)
    t_pd = time.perf_counter() - t
    t = time.perf_counter()
    np.loadtxt(csv, delimiter=",", dtype=np.float32)
    t_np = time.perf_counter() - t
    size = os.path.getsize(csv)
    t_kiln_csv = rows[0][2]
    rows.append(("kiln CSV", size, t_kiln_csv, "pandas.read_csv", t_pd))
    rows.append(("kiln CSV", size, t_kiln_csv, "numpy.loadtxt", t_np))
    print(f"{'':16} {'MB':>7} {'s':>7} {'rows/s':>10} {'MB/s':>8}   {'peer':22} {'s':>7} "
          f"{'kiln speed-up':>13}")
    for name, size, t, peer, tp in rows:
        print(f"{name:16} {size / 1e6:7.1f} {t:7.3f} {60000 / t:10.0f} {size / t / 1e6:8.0f}   "
              f"{peer:22} {tp:7.3f} {tp / t:13.2f}")
    for f in (csv, pbr):
        os.unlink(f)
    os.rmdir(work)


if __name__ == "__main__":
    main()
