"""make bench-kmeans: kiln's built-in K-Means against scikit-learn and
faiss on Fashion-MNIST (60,000 x 784, k=10, 2 cores), then k=100 and a
600,000-row set. kiln is timed as a whole process reading a RecordIO file
(`kiln algo kmeans train`); the peers are timed inside Python on arrays
already in memory, which favours them. Quality: test SSD per row (10,000
test images to their nearest center)."""
import gzip
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import idx  # noqa: E402
from recordio import write_recordio  # noqa: E402

KILN = os.environ.get("KILN_BIN", os.path.join(os.path.dirname(__file__), "..", "build", "kiln"))
FM = "/usr/share/datasets/fashion-mnist"




def test_ssd(C, T):
    C = np.asarray(C, np.float32)
    d = (T * T).sum(1)[:, None] - 2 * T @ C.T + (C * C).sum(1)[None, :]
    return float(np.maximum(d.min(1), 0).mean())


def read_model(path):
    raw = open(path, "rb").read()
    k, d = struct.unpack("<qq", raw[36:52])
    return np.frombuffer(raw, np.float32, count=k * d, offset=64).reshape(k, d)


def kiln_run(path, k, d, test_path, extra=()):
    tmp = tempfile.mkdtemp(prefix="kiln-km-")
    args = [KILN, "algo", "kmeans", "train", "--data", path, "--hp", f"k={k}",
            "--hp", f"feature_dim={d}", "--model-dir", tmp, "--output-dir", tmp]
    for e in extra:
        args += ["--hp", e]
    t = time.perf_counter()
    # The environment a training job gives the algorithm: OpenMP threads
    # for the cores, one thread inside each BLAS call.
    env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count()), OPENBLAS_NUM_THREADS="1",
               OMP_WAIT_POLICY="PASSIVE")
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    wall = time.perf_counter() - t
    return wall, read_model(os.path.join(tmp, "model_algo-1")), out.stdout


def main():
    import sklearn
    from sklearn.cluster import KMeans, MiniBatchKMeans
    try:
        import faiss
    except ImportError:
        faiss = None
    X = idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    T = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    work = tempfile.mkdtemp(prefix="kiln-kmbench-")
    rio = os.path.join(work, "train.pbr")
    write_recordio(X, rio)
    rows = []

    def add(name, k, n, secs, iters, C):
        rows.append((name, k, n, secs, iters, test_ssd(C, T)))

    passes = {}
    for k in (10, 100):
        # The headline runs are short: the median of 5 for kiln's defaults
        # (and for faiss's sampled default below).
        runs = sorted((kiln_run(rio, k, 784, None) for _ in range(5)), key=lambda r: r[0])
        wall, C, log = runs[2]
        add("kiln (SageMaker defaults)", k, len(X), wall, 1, C)
        wall, C, log = kiln_run(rio, k, 784, None, ["extra_center_factor=1", "epochs=20",
                                                   "mini_batch_size=60000",
                                                   "init_method=kmeans++"])
        add("kiln (full Lloyd: 20 epochs, K=k)", k, len(X), wall, 20, C)
        # A full pass: an epoch from memory (assign every row, sum it into
        # its center), as kiln times it.
        ts = sorted(float(m) for m in re.findall(r"epoch \d+: \d+ records in ([0-9.]+) s \(from memory\)", log))
        passes[k] = ts[len(ts) // 2] if ts else float("nan")
        t = time.perf_counter()
        m = KMeans(n_clusters=k, n_init=1, max_iter=100, algorithm="elkan", random_state=0).fit(X)
        add("sklearn KMeans elkan", k, len(X), time.perf_counter() - t, m.n_iter_, m.cluster_centers_)
        t = time.perf_counter()
        m = KMeans(n_clusters=k, n_init=1, max_iter=100, algorithm="lloyd", random_state=0).fit(X)
        add("sklearn KMeans lloyd", k, len(X), time.perf_counter() - t, m.n_iter_, m.cluster_centers_)
        t = time.perf_counter()
        m = MiniBatchKMeans(n_clusters=k, n_init=1, random_state=0).fit(X)
        add("sklearn MiniBatchKMeans", k, len(X), time.perf_counter() - t, m.n_iter_, m.cluster_centers_)
        if faiss:
            runs = []
            for _ in range(5):
                t = time.perf_counter()
                km = faiss.Kmeans(784, k, niter=20, seed=1)
                km.train(X)
                runs.append((time.perf_counter() - t, km.centroids))
            runs.sort(key=lambda r: r[0])
            add("faiss Kmeans (256*k sample)", k, len(X), runs[2][0], 20, runs[2][1])
            t = time.perf_counter()
            km = faiss.Kmeans(784, k, niter=20, seed=1, max_points_per_centroid=len(X))
            km.train(X)
            add("faiss Kmeans (all rows)", k, len(X), time.perf_counter() - t, 20, km.centroids)
    # Scaling: 600,000 rows (each row repeated 10 times with small noise).
    rng = np.random.RandomState(0)
    big = np.clip(np.repeat(X, 10, axis=0) + rng.normal(0, 0.01, (600000, 784)).astype(np.float32), 0, 1)
    big_rio = os.path.join(work, "big.pbr")
    write_recordio(big, big_rio)
    wall, C, _ = kiln_run(big_rio, 10, 784, None)
    add("kiln (SageMaker defaults)", 10, len(big), wall, 1, C)
    if faiss:
        t = time.perf_counter()
        km = faiss.Kmeans(784, 10, niter=20, seed=1)
        km.train(big)
        add("faiss Kmeans (256*k sample)", 10, len(big), time.perf_counter() - t, 20, km.centroids)
    t = time.perf_counter()
    m = KMeans(n_clusters=10, n_init=1, max_iter=100, algorithm="elkan", random_state=0).fit(big)
    add("sklearn KMeans elkan", 10, len(big), time.perf_counter() - t, m.n_iter_, m.cluster_centers_)

    print(f"scikit-learn {sklearn.__version__}, faiss {getattr(faiss, '__version__', 'absent') if faiss else 'absent'}")
    print(f"{'':36} {'k':>4} {'rows':>7} {'wall s':>8} {'iters':>6} {'s/iter':>8} "
          f"{'test SSD/row':>12} {'kiln/peer time':>15}")
    base = {}
    for name, k, n, secs, iters, ssd in rows:
        if name.startswith("kiln (SageMaker"):
            base[(k, n)] = secs
    for name, k, n, secs, iters, ssd in rows:
        ratio = "" if name.startswith("kiln") else f"{base[(k, n)] / secs:15.3f}"
        print(f"{name:36} {k:4d} {n:7d} {secs:8.3f} {iters:6d} {secs / max(iters, 1):8.4f} "
              f"{ssd:12.3f} {ratio}")


    floor = read_floor(X)
    for k, p in passes.items():
        print(f"full pass over 60,000 rows, k={k}: {p * 1e3:.1f} ms (median epoch from memory); "
              f"streaming read of the {X.nbytes / 1e6:.0f} MB matrix with 2 threads: "
              f"{floor * 1e3:.1f} ms; pass/floor {p / floor:.2f}")
    ref = {k: ssd for name, k, n, secs, iters, ssd in rows
           if name == "sklearn KMeans elkan" and n == len(X)}
    for name, k, n, secs, iters, ssd in rows:
        if name.startswith("kiln (SageMaker") and n == len(X):
            print(f"k={k}: kiln defaults test SSD/row / sklearn converged: {ssd / ref[k]:.4f}")


def read_floor(X):
    """The bandwidth floor: one read of X by two threads (numpy releases
    the GIL in its reductions), best of 20."""
    import threading
    half = len(X) // 2
    parts = [X[:half], X[half:]]
    best = float("inf")
    for _ in range(20):
        ts = [threading.Thread(target=np.add.reduce, args=(p, None)) for p in parts]
        t = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        best = min(best, time.perf_counter() - t)
    return best


if __name__ == "__main__":
    main()
