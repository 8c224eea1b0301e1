"""[F2] crash safety: SIGKILL the server at random moments during many
concurrent PUTs, overwrites and multipart completions; after a restart
every listed object must read back whole and match a checksum of something
that was written, and no temp file or unreferenced blob may remain."""
import hashlib
import os
import random
import signal
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest

from conftest import ACCOUNT, AKID, SECRET, Server, client, kiln


def body_for(seed, size):
    payload = random.Random(seed).randbytes(size)
    return hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def well_formed(body):
    digest, _, payload = body.partition(b"\n")
    return hashlib.sha256(payload).hexdigest().encode() == digest


def worker(s3, i):
    rnd = random.Random(i)
    key = f"obj-{rnd.randrange(40)}"
    try:
        if i % 5 == 0:
            # Every other one is left for the test to complete after the
            # kill, from parts stored before it.
            up = s3.create_multipart_upload(Bucket="crash", Key=key)
            part1 = body_for(i, 5 << 20)
            e1 = s3.upload_part(Bucket="crash", Key=key, UploadId=up["UploadId"],
                                PartNumber=1, Body=part1[:5 << 20])["ETag"]
            tail = part1[5 << 20:] + b""
            e2 = s3.upload_part(Bucket="crash", Key=key, UploadId=up["UploadId"],
                                PartNumber=2, Body=tail)["ETag"]
            if i % 10 == 5:
                return
            s3.complete_multipart_upload(
                Bucket="crash", Key=key, UploadId=up["UploadId"],
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                           {"PartNumber": 2, "ETag": e2}]})
        else:
            s3.put_object(Bucket="crash", Key=key,
                          Body=body_for(i, rnd.randrange(1, 400000)))
    except Exception:
        pass  # the server died under us: expected


def blob_files(data):
    root = os.path.join(data, "objects")
    out = []
    for sub in os.listdir(root):
        out += [os.path.join(sub, f) for f in os.listdir(os.path.join(root, sub))]
    return out


def indexed_blobs(data):
    db = sqlite3.connect(f"file:{os.path.join(data, 'kiln.db')}?mode=ro", uri=True)
    try:
        return sorted(r[0] for r in db.execute(
            "SELECT blob FROM objects UNION SELECT blob FROM parts"))
    finally:
        db.close()


def test_kill_during_concurrent_writes():
    with tempfile.TemporaryDirectory(prefix="kiln-crash-") as tmp:
        data = os.path.join(tmp, "var")
        kiln("admin", "keys", "add", "--data-dir", data, "--access-key-id", AKID,
             "--secret-access-key", SECRET, "--account", ACCOUNT)
        server = Server(data)
        client(server, "s3").create_bucket(Bucket="crash")
        rnd = random.Random(7)
        op = 0
        for round_ in range(3):
            s3 = client(server, "s3")
            ex = ThreadPoolExecutor(16)
            futures = [ex.submit(worker, s3, op + j) for j in range(200)]
            op += 200
            time.sleep(rnd.uniform(0.3, 1.2))
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
            for f in futures:
                f.result()
            ex.shutdown()
            server.log.close()
            server = Server(data)
            s3 = client(server, "s3", retries=3)
            listed = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="crash"):
                listed += page.get("Contents", [])
            for o in listed:
                body = s3.get_object(Bucket="crash", Key=o["Key"])["Body"].read()
                assert len(body) == o["Size"], o["Key"]
                assert well_formed(body), o["Key"]
            # After the restart's sweep, no temp file, no blob without a row
            # and no row without its blob (parts of one upload may share one).
            files = blob_files(data)
            assert not [f for f in files if f.startswith("tmp/")]
            assert sorted(os.path.basename(f) for f in files) == indexed_blobs(data)
            # Uploads cut short with both parts stored (in one file, as
            # they arrived before the kill) complete whole after it.
            for u in s3.list_multipart_uploads(Bucket="crash").get("Uploads", []):
                parts = s3.list_parts(Bucket="crash", Key=u["Key"],
                                      UploadId=u["UploadId"]).get("Parts", [])
                if [p["PartNumber"] for p in parts] != [1, 2]:
                    s3.abort_multipart_upload(Bucket="crash", Key=u["Key"],
                                              UploadId=u["UploadId"])
                    continue
                s3.complete_multipart_upload(
                    Bucket="crash", Key=u["Key"], UploadId=u["UploadId"],
                    MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"],
                                                "ETag": p["ETag"]} for p in parts]})
                body = s3.get_object(Bucket="crash", Key=u["Key"])["Body"].read()
                assert well_formed(body), u["Key"]
            assert sorted(os.path.basename(f) for f in blob_files(data)) == \
                indexed_blobs(data)
        assert server.stop() == 0
