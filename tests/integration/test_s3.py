"""[F2] the S3-compatible object store, driven by the aws CLI and boto3,
plus raw requests for what a client library would refuse to send."""
import base64
import datetime
import hashlib
import hmac
import json
import os
import random
import subprocess
import tempfile
import threading
import time
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest

from conftest import (ACCOUNT, AKID, REGION, SECRET, aws, client, kiln, run_js, send,
                      signed)

ODD_KEYS = ["dir/a b+c&d.txt", "uni/caf\u00e9 \u2603.txt", "dots/../x",
            "double//slash", "plus+and%percent", "folder", "folder/inside",
            "tilde~(paren)!*'"]


@pytest.fixture(scope="module")
def s3(server):
    return client(server, "s3")


@pytest.fixture(scope="module")
def bucket(s3):
    s3.create_bucket(Bucket="data")
    return "data"


def code_of(fn, *a, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*a, **kw)
    return e.value.response["Error"]["Code"]


def other_account(server):
    """An S3 client with a new key of another account, 999988887777."""
    out = kiln("admin", "keys", "add", "--data-dir", server.data_dir, "--account", "999988887777")
    akid, _, _, secret = out.stdout.split()
    return client(server, "s3", akid=akid, secret=secret)


def test_bucket_lifecycle(s3):
    s3.create_bucket(Bucket="life-cycle.1")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "life-cycle.1" in names
    s3.head_bucket(Bucket="life-cycle.1")
    assert s3.get_bucket_location(Bucket="life-cycle.1")["LocationConstraint"] in (None, "")
    assert code_of(s3.create_bucket, Bucket="life-cycle.1") == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket="life-cycle.1", Key="k", Body=b"x")
    assert code_of(s3.delete_bucket, Bucket="life-cycle.1") == "BucketNotEmpty"
    s3.delete_object(Bucket="life-cycle.1", Key="k")
    s3.delete_bucket(Bucket="life-cycle.1")
    assert code_of(s3.head_bucket, Bucket="life-cycle.1") == "404"
    assert code_of(s3.delete_bucket, Bucket="life-cycle.1") == "NoSuchBucket"


def test_delete_bucket_aborts_uploads_in_progress(server, s3):
    """As in S3: objects keep a bucket, uploads in progress do not."""
    before = blob_files(server)
    s3.create_bucket(Bucket="half-done")
    uid = s3.create_multipart_upload(Bucket="half-done", Key="k")["UploadId"]
    s3.upload_part(Bucket="half-done", Key="k", UploadId=uid, PartNumber=1, Body=b"p" * 1000)
    assert new_blobs(server, before)
    s3.delete_bucket(Bucket="half-done")
    assert new_blobs(server, before) == {}
    s3.create_bucket(Bucket="half-done")
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="half-done")
    assert code_of(s3.list_parts, Bucket="half-done", Key="k", UploadId=uid) == "NoSuchUpload"
    s3.delete_bucket(Bucket="half-done")


def test_location_constraint(s3):
    s3.create_bucket(Bucket="in-europe",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket="in-europe")["LocationConstraint"] == "eu-west-1"
    h = s3.head_bucket(Bucket="in-europe")["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amz-bucket-region"] == "eu-west-1"


@pytest.mark.parametrize("name", ["ab", "Upper", "-lead", "trail-", "a..b",
                                  "192.168.1.1", "under_score", "x" * 64])
def test_invalid_bucket_names(server, name):
    # botocore checks some names itself; send the rest raw.
    req = signed(server, "s3", b"", {"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()},
                 method="PUT", path="/" + name)
    status, _, body = send(server, *req)
    assert status == 400 and b"<Code>InvalidBucketName</Code>" in body, body


def test_storage_class_is_kept_and_listed(s3, bucket):
    s3.put_object(Bucket=bucket, Key="cold/ia", Body=b"x", StorageClass="STANDARD_IA")
    s3.put_object(Bucket=bucket, Key="cold/std", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="cold/ia")["StorageClass"] == "STANDARD_IA"
    listed = {o["Key"]: o["StorageClass"]
              for o in s3.list_objects_v2(Bucket=bucket, Prefix="cold/")["Contents"]}
    assert listed == {"cold/ia": "STANDARD_IA", "cold/std": "STANDARD"}


def test_put_get_metadata_and_odd_keys(s3, bucket):
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode(),
                      ContentType="text/plain", Metadata={"origin": "test"},
                      ContentDisposition="attachment", ContentEncoding="identity")
    for key in ODD_KEYS:
        r = s3.get_object(Bucket=bucket, Key=key)
        assert r["Body"].read() == key.encode()
        assert r["ContentType"] == "text/plain"
        assert r["Metadata"] == {"origin": "test"}
        assert r["ContentDisposition"] == "attachment"
        assert r["ContentEncoding"] == "identity"
        assert r["ETag"] == '"%s"' % hashlib.md5(key.encode()).hexdigest()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys, key=lambda k: k.encode()) == keys
    assert set(ODD_KEYS) <= set(keys)


def test_ranges_and_conditionals(s3, bucket):
    body = bytes(range(256)) * 4
    etag = s3.put_object(Bucket=bucket, Key="range", Body=body)["ETag"]
    r = s3.get_object(Bucket=bucket, Key="range", Range="bytes=10-19")
    assert r["Body"].read() == body[10:20]
    assert r["ContentRange"] == "bytes 10-19/1024"
    assert s3.get_object(Bucket=bucket, Key="range", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="range", Range="bytes=1000-")["Body"].read() == body[1000:]
    assert code_of(s3.get_object, Bucket=bucket, Key="range", Range="bytes=5000-") == "InvalidRange"
    assert s3.get_object(Bucket=bucket, Key="range", IfMatch=etag)["Body"].read() == body
    assert code_of(s3.get_object, Bucket=bucket, Key="range", IfMatch='"nope"') == "PreconditionFailed"
    assert code_of(s3.get_object, Bucket=bucket, Key="range", IfNoneMatch=etag) == "304"
    h = s3.head_object(Bucket=bucket, Key="range")
    assert h["ContentLength"] == 1024 and h["ETag"] == etag
    assert code_of(s3.head_object, Bucket=bucket, Key="missing") == "404"
    assert code_of(s3.get_object, Bucket=bucket, Key="missing") == "NoSuchKey"
    r = s3.get_object(Bucket=bucket, Key="range", ResponseContentType="text/csv")
    assert r["ContentType"] == "text/csv"


def test_listing_delimiter_and_pages(s3, bucket):
    s3.create_bucket(Bucket="listing")
    for k in ["a/1", "a/2", "a/b/3", "b/1", "c", "d/x/y"]:
        s3.put_object(Bucket="listing", Key=k, Body=b"")
    r = s3.list_objects_v2(Bucket="listing", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/", "d/"]
    assert [o["Key"] for o in r["Contents"]] == ["c"]
    assert r["KeyCount"] == 4
    r = s3.list_objects_v2(Bucket="listing", Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"]
    # Paging one entry at a time through prefixes and keys.
    seen = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket="listing", Delimiter="/", PaginationConfig={"PageSize": 1}):
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == ["a/", "b/", "c", "d/"]
    seen = []
    for page in s3.get_paginator("list_objects").paginate(
            Bucket="listing", PaginationConfig={"PageSize": 2}):
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == ["a/1", "a/2", "a/b/3", "b/1", "c", "d/x/y"]
    r = s3.list_objects_v2(Bucket="listing", StartAfter="b/1")
    assert [o["Key"] for o in r["Contents"]] == ["c", "d/x/y"]


def test_unversioned_buckets_list_one_null_version(server, s3):
    """Buckets never have versioning on: each key is its one version,
    "null". boto3's idiom for emptying a bucket works on them."""
    import boto3
    s3.create_bucket(Bucket="versions")
    keys = [f"v/{i:03d}" for i in range(25)] + ["w/x", "w/y", "top"]
    for k in keys:
        s3.put_object(Bucket="versions", Key=k, Body=k.encode())
    assert "Status" not in s3.get_bucket_versioning(Bucket="versions")
    assert code_of(s3.put_bucket_versioning, Bucket="versions",
                   VersioningConfiguration={"Status": "Enabled"}) == "NotImplemented"
    pages = list(s3.get_paginator("list_object_versions").paginate(
        Bucket="versions", Delimiter="/", PaginationConfig={"PageSize": 4}))
    versions = [v for p in pages for v in p.get("Versions", [])]
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert len(pages) == 1 and [v["Key"] for v in versions] == ["top"]
    assert prefixes == ["v/", "w/"]
    pages = list(s3.get_paginator("list_object_versions").paginate(
        Bucket="versions", Prefix="v/", PaginationConfig={"PageSize": 10}))
    assert len(pages) == 3 and pages[0]["NextVersionIdMarker"] == "null"
    versions = [v for p in pages for v in p["Versions"]]
    assert [v["Key"] for v in versions] == keys[:25]
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in versions)
    assert versions[0]["ETag"] == '"%s"' % hashlib.md5(b"v/000").hexdigest()
    assert s3.get_object(Bucket="versions", Key="top",
                         VersionId="null")["Body"].read() == b"top"
    assert code_of(s3.get_object, Bucket="versions", Key="top",
                   VersionId="3HL4kqtJlcpXroDTDmjVBH40Nrjfkd") == "InvalidArgument"
    resource = boto3.resource("s3", endpoint_url=server.url, region_name=REGION,
                              aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    resource.Bucket("versions").object_versions.all().delete()
    assert "Contents" not in s3.list_objects_v2(Bucket="versions")
    s3.delete_bucket(Bucket="versions")


def test_paginator_2500_keys(server, s3):
    s3.create_bucket(Bucket="many")
    from concurrent.futures import ThreadPoolExecutor
    keys = [f"k/{i:05d}" for i in range(2500)]
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket="many", Key=k, Body=k.encode()), keys))
    got = []
    pages = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="many"):
        got += [o["Key"] for o in page["Contents"]]
        pages += 1
    assert got == keys and pages == 3
    # delete_objects in two batches of 1000 and one of 500
    for i in range(0, 2500, 1000):
        r = s3.delete_objects(Bucket="many", Delete={
            "Objects": [{"Key": k} for k in keys[i:i + 1000]]})
        assert len(r["Deleted"]) == len(keys[i:i + 1000])
    assert s3.list_objects_v2(Bucket="many")["KeyCount"] == 0


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src key+1", Body=b"copy me",
                  Metadata={"a": "1"}, ContentType="text/x-a")
    r = s3.copy_object(Bucket=bucket, Key="dst",
                       CopySource={"Bucket": bucket, "Key": "src key+1"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"copy me").hexdigest()
    g = s3.get_object(Bucket=bucket, Key="dst")
    assert g["Body"].read() == b"copy me" and g["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src key+1",
                   MetadataDirective="REPLACE", Metadata={"b": "2"},
                   ContentType="text/x-b")
    g = s3.get_object(Bucket=bucket, Key="dst")
    assert g["Metadata"] == {"b": "2"} and g["ContentType"] == "text/x-b"
    assert code_of(s3.copy_object, Bucket=bucket, Key="dst",
                   CopySource={"Bucket": bucket, "Key": "dst"}) == "InvalidRequest"
    # deleting the source leaves the copy intact
    s3.delete_object(Bucket=bucket, Key="src key+1")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"


def tags_of(s3, bucket, key):
    return {t["Key"]: t["Value"]
            for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def test_object_tagging(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Metadata={"m": "1"},
                  Tagging="project=digits&stage=a%20b%26c")
    assert tags_of(s3, bucket, "tagged") == {"project": "digits", "stage": "a b&c"}
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 2
    s3.put_object_tagging(Bucket=bucket, Key="tagged", Tagging={"TagSet": [
        {"Key": "caf\u00e9", "Value": ""}, {"Key": "k" * 128, "Value": "v" * 256}]})
    assert tags_of(s3, bucket, "tagged") == {"caf\u00e9": "", "k" * 128: "v" * 256}
    g = s3.get_object(Bucket=bucket, Key="tagged")
    assert g["Body"].read() == b"t" and g["Metadata"] == {"m": "1"}
    s3.delete_object_tagging(Bucket=bucket, Key="tagged")
    assert tags_of(s3, bucket, "tagged") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="tagged")

    def bad(tags):
        return code_of(s3.put_object_tagging, Bucket=bucket, Key="tagged",
                       Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags]})
    assert bad([("aws:x", "1")]) == "InvalidTag"
    assert bad([("k" * 129, "1")]) == "InvalidTag"
    assert bad([("k", "v" * 257)]) == "InvalidTag"
    assert bad([("same", "1"), ("same", "2")]) == "InvalidTag"
    assert bad([(f"k{i}", "v") for i in range(11)]) == "BadRequest"
    assert code_of(s3.put_object, Bucket=bucket, Key="tagged2", Body=b"x",
                   Tagging="a=1&a=2") == "InvalidArgument"
    assert code_of(s3.get_object, Bucket=bucket, Key="tagged2") == "NoSuchKey"
    assert code_of(s3.get_object_tagging, Bucket=bucket, Key="absent") == "NoSuchKey"
    assert code_of(s3.put_object_tagging, Bucket=bucket, Key="absent",
                   Tagging={"TagSet": []}) == "NoSuchKey"
    req = signed(server, "s3", b"<Tagging><Tag>", {
        "x-amz-content-sha256": hashlib.sha256(b"<Tagging><Tag>").hexdigest()},
        method="PUT", path=f"/{bucket}/tagged?tagging=")
    status, _, body = send(server, *req)
    assert status == 400 and b"<Code>MalformedXML</Code>" in body, body
    xml = (b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>"
           b"</TagSet></Tagging>")
    for md5, code in [(hashlib.md5(b"other").digest(), b"BadDigest"),
                      (b"short", b"InvalidDigest")]:
        req = signed(server, "s3", xml, {
            "x-amz-content-sha256": hashlib.sha256(xml).hexdigest(),
            "Content-MD5": base64.b64encode(md5).decode()},
            method="PUT", path=f"/{bucket}/tagged?tagging=")
        status, _, body = send(server, *req)
        assert status == 400 and b"<Code>%s</Code>" % code in body, body
    assert tags_of(s3, bucket, "tagged") == {}


def test_copy_and_multipart_carry_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tag-src", Body=b"src", Tagging="a=1")
    s3.copy_object(Bucket=bucket, Key="tag-copy", CopySource=f"{bucket}/tag-src")
    assert tags_of(s3, bucket, "tag-copy") == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="tag-copy", CopySource=f"{bucket}/tag-src",
                   TaggingDirective="REPLACE", Tagging="b=2")
    assert tags_of(s3, bucket, "tag-copy") == {"b": "2"}
    # The metadata directive does not touch the tags, nor the tags it.
    s3.copy_object(Bucket=bucket, Key="tag-copy", CopySource=f"{bucket}/tag-src",
                   MetadataDirective="REPLACE", Metadata={"x": "y"})
    assert tags_of(s3, bucket, "tag-copy") == {"a": "1"}
    assert s3.head_object(Bucket=bucket, Key="tag-copy")["Metadata"] == {"x": "y"}
    assert code_of(s3.copy_object, Bucket=bucket, Key="tag-copy",
                   CopySource=f"{bucket}/tag-src",
                   TaggingDirective="BOGUS") == "InvalidArgument"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="tag-mp",
                                     Tagging="team=ml")["UploadId"]
    e = s3.upload_part(Bucket=bucket, Key="tag-mp", UploadId=uid, PartNumber=1,
                       Body=b"p")["ETag"]
    complete(s3, bucket, "tag-mp", uid, {1: e}, [1])
    assert tags_of(s3, bucket, "tag-mp") == {"team": "ml"}


def test_multipart_etag_and_errors(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/y")
    uid = up["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1,
                        Body=b"a" * (5 << 20))
    p2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2,
                        Body=b"hello world")
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]
    ups = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in ups] == [uid]
    assert code_of(s3.complete_multipart_upload, Bucket=bucket, Key="mp", UploadId=uid,
                   MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": p2["ETag"]},
                                              {"PartNumber": 1, "ETag": p1["ETag"]}]}) == "InvalidPartOrder"
    assert code_of(s3.complete_multipart_upload, Bucket=bucket, Key="mp", UploadId=uid,
                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]},
                                              {"PartNumber": 3, "ETag": p2["ETag"]}]}) == "InvalidPart"
    assert code_of(s3.head_object, Bucket=bucket, Key="mp") == "404"
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]},
                                   {"PartNumber": 2, "ETag": p2["ETag"]}]})
    assert r["ETag"] == '"4ba54d90a25d93d94b7b41c987352341-2"'
    g = s3.get_object(Bucket=bucket, Key="mp")
    assert g["ContentType"] == "text/y"
    data = g["Body"].read()
    assert data == b"a" * (5 << 20) + b"hello world"
    assert code_of(s3.upload_part, Bucket=bucket, Key="mp", UploadId=uid,
                   PartNumber=1, Body=b"x") == "NoSuchUpload"
    # too-small part, then abort
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=2, Body=b"y")["ETag"]
    assert code_of(s3.complete_multipart_upload, Bucket=bucket, Key="small", UploadId=uid,
                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                              {"PartNumber": 2, "ETag": e2}]}) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    assert code_of(s3.list_parts, Bucket=bucket, Key="small", UploadId=uid) == "NoSuchUpload"


def test_list_multipart_uploads_prefix_delimiter_pages(server, s3):
    """ListMultipartUploads filters by prefix, rolls keys up by delimiter
    and pages with key and upload-id markers, uploads of one key in the
    order they were started."""
    s3.create_bucket(Bucket="uploads")
    keys = ["a/1", "a/2", "b", "c", "c", "d/x/y", "e f"]
    ids = [s3.create_multipart_upload(Bucket="uploads", Key=k)["UploadId"] for k in keys]
    def listed(pages):
        up, pre = [], []
        for p in pages:
            up += [(u["Key"], u["UploadId"]) for u in p.get("Uploads", [])]
            pre += [c["Prefix"] for c in p.get("CommonPrefixes", [])]
        return up, pre
    everything = list(zip(keys, ids))
    r = s3.list_multipart_uploads(Bucket="uploads")
    assert listed([r]) == (everything, []) and not r["IsTruncated"]
    assert listed([s3.list_multipart_uploads(Bucket="uploads", Prefix="c")]) == (
        everything[3:5], [])
    r = s3.list_multipart_uploads(Bucket="uploads", Delimiter="/")
    assert listed([r]) == ([everything[i] for i in (2, 3, 4, 6)], ["a/", "d/"])
    pag = s3.get_paginator("list_multipart_uploads")
    pages = list(pag.paginate(Bucket="uploads", PaginationConfig={"PageSize": 2}))
    assert len(pages) == 4 and listed(pages) == (everything, [])
    pages = list(pag.paginate(Bucket="uploads", Delimiter="/",
                              PaginationConfig={"PageSize": 1}))
    assert listed(pages) == ([everything[i] for i in (2, 3, 4, 6)], ["a/", "d/"])
    r = s3.list_multipart_uploads(Bucket="uploads", MaxUploads=3)
    assert r["IsTruncated"] and (r["NextKeyMarker"], r["NextUploadIdMarker"]) == everything[2]
    r = s3.list_multipart_uploads(Bucket="uploads", KeyMarker="c", UploadIdMarker=ids[3])
    assert listed([r]) == (everything[4:], [])
    r = s3.list_multipart_uploads(Bucket="uploads", KeyMarker="c")
    assert listed([r]) == (everything[5:], [])
    for k, i in everything:
        s3.abort_multipart_upload(Bucket="uploads", Key=k, UploadId=i)
    s3.delete_bucket(Bucket="uploads")


def test_upload_part_copy(s3, bucket):
    s3.put_object(Bucket=bucket, Key="whole", Body=b"0123456789" * 1000)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="copied")["UploadId"]
    p = s3.upload_part_copy(Bucket=bucket, Key="copied", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "whole"},
                            CopySourceRange="bytes=10-29")
    # Ranges are exact, as S3 wants them: none past the end, none open.
    for bad in ["bytes=9990-10000", "bytes=5-", "bytes=-5", "bytes=7-3", "0-9"]:
        assert code_of(s3.upload_part_copy, Bucket=bucket, Key="copied", UploadId=uid,
                       PartNumber=2, CopySource={"Bucket": bucket, "Key": "whole"},
                       CopySourceRange=bad) == "InvalidArgument", bad
    s3.complete_multipart_upload(Bucket=bucket, Key="copied", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == b"01234567890123456789"


def blob_files(server):
    """Blob id -> (inode, size) of every stored blob file."""
    root = os.path.join(server.data_dir, "objects")
    out = {}
    for sub in os.listdir(root):
        if sub != "tmp":
            for f in os.listdir(os.path.join(root, sub)):
                st = os.stat(os.path.join(root, sub, f))
                out[f] = (st.st_ino, st.st_size)
    return out


def new_blobs(server, before):
    return {k: v for k, v in blob_files(server).items() if k not in before}


def test_damaged_blob_is_an_error_not_a_hang(server, s3, bucket):
    before = blob_files(server)
    s3.put_object(Bucket=bucket, Key="damaged", Body=b"x" * 5000)
    [blob] = new_blobs(server, before)
    os.truncate(os.path.join(server.data_dir, "objects", blob[:2], blob), 100)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="damaged")
    assert e.value.response["Error"]["Code"] == "InternalError"
    s3.delete_object(Bucket=bucket, Key="damaged")


def multipart_etag(bodies):
    md5s = b"".join(hashlib.md5(b).digest() for b in bodies)
    return f'"{hashlib.md5(md5s).hexdigest()}-{len(bodies)}"'


def complete(s3, bucket, key, uid, etags, numbers):
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": etags[n]} for n in numbers]})


def test_get_and_head_by_part_number(s3, bucket):
    bodies = {1: os.urandom(5 << 20), 3: os.urandom(5 << 20), 4: b"tail"}
    uid = s3.create_multipart_upload(Bucket=bucket, Key="by-part")["UploadId"]
    etags = {n: s3.upload_part(Bucket=bucket, Key="by-part", UploadId=uid, PartNumber=n,
                               Body=b)["ETag"] for n, b in bodies.items()}
    complete(s3, bucket, "by-part", uid, etags, [1, 3, 4])
    total, off = sum(map(len, bodies.values())), 0
    for n, b in bodies.items():
        g = s3.get_object(Bucket=bucket, Key="by-part", PartNumber=n)
        assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert g["Body"].read() == b and g["PartsCount"] == 3
        assert g["ContentRange"] == f"bytes {off}-{off + len(b) - 1}/{total}"
        h = s3.head_object(Bucket=bucket, Key="by-part", PartNumber=n)
        assert h["ContentLength"] == len(b) and h["PartsCount"] == 3
        off += len(b)
    assert code_of(s3.get_object, Bucket=bucket, Key="by-part", PartNumber=2) == "InvalidPartNumber"
    assert code_of(s3.get_object, Bucket=bucket, Key="by-part", PartNumber=1,
                   Range="bytes=0-1") == "InvalidRequest"
    # A copy keeps the parts; a single-part object is its own part 1.
    s3.copy_object(Bucket=bucket, Key="by-part-copy", CopySource=f"{bucket}/by-part")
    assert s3.get_object(Bucket=bucket, Key="by-part-copy", PartNumber=4)["Body"].read() == b"tail"
    s3.put_object(Bucket=bucket, Key="one-part", Body=b"whole")
    g = s3.get_object(Bucket=bucket, Key="one-part", PartNumber=1)
    assert g["Body"].read() == b"whole" and g["ContentRange"] == "bytes 0-4/5"
    assert code_of(s3.get_object, Bucket=bucket, Key="one-part", PartNumber=2) == "InvalidPartNumber"


def test_multipart_parts_land_in_place(server, s3, bucket):
    """Parts of one size go straight to their places in one file, in
    whatever order they come; completing them in order makes that very
    file the object: nothing is copied."""
    rnd = random.Random(3)
    bodies = [rnd.randbytes(6 << 20), rnd.randbytes(6 << 20), rnd.randbytes(1 << 20)]
    before = blob_files(server)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="inplace")["UploadId"]
    etags = {n: s3.upload_part(Bucket=bucket, Key="inplace", UploadId=uid,
                               PartNumber=n, Body=bodies[n - 1])["ETag"]
             for n in (2, 3, 1)}
    placed = new_blobs(server, before)
    assert [size for _, size in placed.values()] == [13 << 20]
    r = complete(s3, bucket, "inplace", uid, etags, [1, 2, 3])
    assert r["ETag"] == multipart_etag(bodies)
    assert s3.get_object(Bucket=bucket, Key="inplace")["Body"].read() == b"".join(bodies)
    assert new_blobs(server, before) == placed  # the same file: same inode


MIB5 = 5 << 20


# (part number, size) in upload order (a later upload of a number replaces
# the earlier), the numbers completed, and whether the parts already form
# the object where they lie.
ODD_LAYOUTS = {
    "reuploaded": ([(1, MIB5), (2, MIB5), (1, MIB5), (3, 100)], [1, 2, 3], False),
    "skipped": ([(1, MIB5), (3, MIB5), (4, 9)], [1, 3, 4], False),
    "subset": ([(1, MIB5), (2, MIB5), (3, 7)], [1, 2], False),
    "last_larger": ([(1, MIB5), (2, MIB5 + 4096)], [1, 2], False),
    "unaligned": ([(2, MIB5 + 1), (1, MIB5 + 1), (3, 10)], [1, 2, 3], True),
    "small_first": ([(3, 10), (1, MIB5), (2, MIB5)], [1, 2, 3], False),
    "shorter_middle": ([(1, MIB5 + 8), (2, MIB5), (3, 5)], [1, 2, 3], False),
    "one_part": ([(1, 12345)], [1], True),
}


@pytest.mark.parametrize("layout", sorted(ODD_LAYOUTS))
def test_multipart_odd_layouts(server, s3, bucket, layout):
    """Parts that do not make a file of equal strides (re-uploads, gaps,
    subsets, sizes off the stride) still complete byte-exact, and leave
    nothing behind but the object's own blob."""
    uploads, chosen, in_place = ODD_LAYOUTS[layout]
    rnd = random.Random(layout)
    before = blob_files(server)
    key = f"odd/{layout}"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    bodies, etags = {}, {}
    for n, size in uploads:
        bodies[n] = rnd.randbytes(size)
        etags[n] = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid,
                                  PartNumber=n, Body=bodies[n])["ETag"]
    want = [bodies[n] for n in chosen]
    placed = new_blobs(server, before)
    assert complete(s3, bucket, key, uid, etags, chosen)["ETag"] == multipart_etag(want)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(want)
    left = new_blobs(server, before)
    assert [size for _, size in left.values()] == [sum(map(len, want))]
    (blob, (inode, _)), = left.items()
    assert (placed.get(blob, (None,))[0] == inode) == in_place


def test_multipart_same_part_raced(server, s3, bucket):
    """Eight clients upload part 1 at once, with different bodies: one of
    them is the part (whichever ListParts shows), byte for byte."""
    rnd = random.Random(5)
    bodies = [rnd.randbytes(MIB5) for _ in range(8)]
    by_etag = {f'"{hashlib.md5(b).hexdigest()}"': b for b in bodies}
    uid = s3.create_multipart_upload(Bucket=bucket, Key="raced")["UploadId"]
    def put(b):
        return s3.upload_part(Bucket=bucket, Key="raced", UploadId=uid,
                              PartNumber=1, Body=b)["ETag"]
    with ThreadPoolExecutor(8) as ex:
        got = list(ex.map(put, bodies))
    assert sorted(got) == sorted(by_etag)
    tail = rnd.randbytes(777)
    e2 = s3.upload_part(Bucket=bucket, Key="raced", UploadId=uid,
                        PartNumber=2, Body=tail)["ETag"]
    e1 = s3.list_parts(Bucket=bucket, Key="raced", UploadId=uid)["Parts"][0]["ETag"]
    complete(s3, bucket, "raced", uid, {1: e1, 2: e2}, [1, 2])
    assert s3.get_object(Bucket=bucket, Key="raced")["Body"].read() == by_etag[e1] + tail


def test_multipart_complete_raced(server, s3, bucket):
    """CompleteMultipartUpload at the same moment as a PutObject of the
    same key, or as an AbortMultipartUpload of the upload: whichever wins,
    every object reads back whole, the loser of complete and abort gets
    NoSuchUpload, and no file is left that no object owns. A PutObject that
    replaced an object completed a moment before used to leave that
    object's file behind."""
    other = client(server, "s3")
    rnd = random.Random(9)
    head, tail = rnd.randbytes(MIB5), b"tail"
    before = blob_files(server)
    for i in range(40):
        key = f"raced-complete/{i % 2}"
        uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etags = {n: s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n,
                                   Body=b)["ETag"] for n, b in ((1, head), (2, tail))}
        small = b"small %d" % i
        if i % 2:
            rival = lambda: other.put_object(Bucket=bucket, Key=key, Body=small)
        else:
            rival = lambda: other.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
        barrier = threading.Barrier(2)

        def race(call):
            barrier.wait()
            time.sleep(0.0003 * (i % 7))
            try:
                call()
                return "ok"
            except botocore.exceptions.ClientError as e:
                return e.response["Error"]["Code"]
        with ThreadPoolExecutor(2) as ex:
            done = ex.submit(race, lambda: complete(s3, bucket, key, uid, etags, [1, 2]))
            other_done = ex.submit(race, rival)
            results = done.result(), other_done.result()
        if i % 2:
            assert results == ("ok", "ok")
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() in (head + tail, small)
        else:
            assert sorted(results) == ["NoSuchUpload", "ok"], results
            if results[0] == "ok":
                assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == head + tail
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="raced-complete/").get("Contents", [])
    assert len(new_blobs(server, before)) == len(listed)


def test_copies_raced_by_overwrites(server, s3, bucket):
    """CopyObject and UploadPartCopy at the same moment as a PutObject that
    replaces their source: each copy succeeds with the old or the new
    bytes whole. The source's file could vanish between the lookup and the
    copy, and the copy answered InternalError."""
    other = client(server, "s3")
    rnd = random.Random(11)
    versions = [rnd.randbytes(MIB5) for _ in range(2)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="raced-copy/mpu")["UploadId"]
    for i in range(30):
        old, new = versions[i % 2], versions[(i + 1) % 2]
        s3.put_object(Bucket=bucket, Key="raced-copy/src", Body=old)
        barrier = threading.Barrier(2)

        def race(call):
            barrier.wait()
            time.sleep(0.0002 * (i % 5))
            return call()
        source = {"Bucket": bucket, "Key": "raced-copy/src"}
        if i % 2:
            copy = lambda: s3.upload_part_copy(Bucket=bucket, Key="raced-copy/mpu",
                                               UploadId=uid, PartNumber=1, CopySource=source)
        else:
            copy = lambda: s3.copy_object(Bucket=bucket, Key="raced-copy/dst",
                                          CopySource=source)
        with ThreadPoolExecutor(2) as ex:
            copied = ex.submit(race, copy)
            ex.submit(race, lambda: other.put_object(Bucket=bucket, Key="raced-copy/src",
                                                     Body=new)).result()
            copied.result()
        if i % 2:
            etag = s3.list_parts(Bucket=bucket, Key="raced-copy/mpu", UploadId=uid)["Parts"][0]["ETag"]
            assert etag.strip('"') in (hashlib.md5(old).hexdigest(), hashlib.md5(new).hexdigest())
        else:
            got = s3.get_object(Bucket=bucket, Key="raced-copy/dst")["Body"].read()
            assert got in (old, new)
    s3.abort_multipart_upload(Bucket=bucket, Key="raced-copy/mpu", UploadId=uid)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def raw_checksum(alg, data):
    if alg == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if alg == "CRC32C":
        return crc32c(data).to_bytes(4, "big")
    return hashlib.new(alg.lower(), data).digest()


def b64(raw):
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_multipart_composite_checksums(s3, bucket, alg):
    """An upload created with a checksum algorithm keeps each part's
    checksum (kiln computes it when the client sends none), checks the
    ones CompleteMultipartUpload lists, and gives the object S3's composite
    checksum: the algorithm over the parts' checksums, then -<parts>."""
    key = f"composite/{alg}"
    field = "Checksum" + alg
    rnd = random.Random(alg)
    bodies = [rnd.randbytes(MIB5), rnd.randbytes(1000)]
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=alg)
    assert up["ChecksumAlgorithm"] == alg
    uid = up["UploadId"]
    sent = {"ChecksumAlgorithm": alg} if alg != "CRC32C" else {}  # no crc32c in botocore here
    parts = [s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1,
                            Body=bodies[0]),
             s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2,
                            Body=bodies[1], **sent)]
    if alg != "CRC32C":  # a 5 MiB CRC32C in pure Python is too slow
        assert parts[0][field] == b64(raw_checksum(alg, bodies[0]))
    assert parts[1][field] == b64(raw_checksum(alg, bodies[1]))
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]
    assert [p[field] for p in listed] == [p[field] for p in parts]
    done = [{"PartNumber": n + 1, "ETag": p["ETag"], field: p[field]}
            for n, p in enumerate(parts)]
    wrong = [dict(done[0]), dict(done[1], **{field: done[0][field]})]
    assert code_of(s3.complete_multipart_upload, Bucket=bucket, Key=key, UploadId=uid,
                   MultipartUpload={"Parts": wrong}) == "InvalidPart"
    r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": done})
    joined = b"".join(base64.b64decode(p[field]) for p in parts)
    composite = b64(raw_checksum(alg, joined)) + "-2"
    assert r[field] == composite
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head[field] == composite
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-type"] == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED", Range="bytes=0-9")
    assert field not in got and got["Body"].read() == bodies[0][:10]


def create_upload_raw(server, bucket, key, headers):
    """CreateMultipartUpload with headers this botocore cannot send
    (x-amz-checksum-type); returns (status, upload id or error body)."""
    headers = dict(headers, **{"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
    req = signed(server, "s3", b"", headers, method="POST", path=f"/{bucket}/{key}?uploads")
    status, _, body = send(server, *req)
    if status != 200:
        return status, body
    return status, body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()


def test_multipart_full_object_crc(server, s3, bucket):
    """x-amz-checksum-type FULL_OBJECT: the object's CRC32 is the CRC of
    all its bytes, combined from the parts' CRCs; a full-object CRC the
    client sends at completion must match it. SHA-256 has no full-object
    form."""
    rnd = random.Random(17)
    bodies = [rnd.randbytes(MIB5), rnd.randbytes(MIB5), rnd.randbytes(4321)]
    status, uid = create_upload_raw(server, bucket, "full/crc32", {
        "x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "FULL_OBJECT"})
    assert status == 200, uid
    parts = [s3.upload_part(Bucket=bucket, Key="full/crc32", UploadId=uid,
                            PartNumber=n + 1, Body=b)
             for n, b in enumerate(bodies)]
    done = {"Parts": [{"PartNumber": n + 1, "ETag": p["ETag"],
                       "ChecksumCRC32": p["ChecksumCRC32"]} for n, p in enumerate(parts)]}
    whole = b64(zlib.crc32(b"".join(bodies)).to_bytes(4, "big"))
    assert code_of(s3.complete_multipart_upload, Bucket=bucket, Key="full/crc32",
                   UploadId=uid, MultipartUpload=done,
                   ChecksumCRC32=b64(zlib.crc32(b"other").to_bytes(4, "big"))) == "BadDigest"
    r = s3.complete_multipart_upload(Bucket=bucket, Key="full/crc32", UploadId=uid,
                                     MultipartUpload=done, ChecksumCRC32=whole)
    assert r["ChecksumCRC32"] == whole
    head = s3.head_object(Bucket=bucket, Key="full/crc32", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == whole
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-type"] == "FULL_OBJECT"
    # What the upload kept to itself is not a header of the object.
    assert not [h for h in head["ResponseMetadata"]["HTTPHeaders"] if h.startswith("checksum")]
    status, body = create_upload_raw(server, bucket, "full/sha", {
        "x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-type": "FULL_OBJECT"})
    assert status == 400 and b"InvalidRequest" in body


def test_multipart_copy_parts_in_place_and_abort(server, s3, bucket):
    """UploadPartCopy parts land in place too; an aborted upload leaves no
    file behind."""
    src = os.urandom(11 << 20)
    s3.put_object(Bucket=bucket, Key="copy-src", Body=src)
    before = blob_files(server)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="copy-dst")["UploadId"]
    etags = {}
    for n, lo, hi in [(2, MIB5, 2 * MIB5), (1, 0, MIB5), (3, 2 * MIB5, len(src))]:
        etags[n] = s3.upload_part_copy(
            Bucket=bucket, Key="copy-dst", UploadId=uid, PartNumber=n,
            CopySource={"Bucket": bucket, "Key": "copy-src"},
            CopySourceRange=f"bytes={lo}-{hi - 1}")["CopyPartResult"]["ETag"]
    placed = new_blobs(server, before)
    assert [size for _, size in placed.values()] == [len(src)]
    complete(s3, bucket, "copy-dst", uid, etags, [1, 2, 3])
    assert s3.get_object(Bucket=bucket, Key="copy-dst")["Body"].read() == src
    assert new_blobs(server, before) == placed
    before = blob_files(server)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    for n in (1, 2):
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=n,
                       Body=os.urandom(MIB5))
    assert len(new_blobs(server, before)) == 1
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid)
    assert new_blobs(server, before) == {}


def test_cli_cp_sync_ls_rm_large_multipart(server, tmp_path):
    aws(server, "s3", "mb", "s3://cli-bucket")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for i in range(100):
            f.write(hashlib.sha256(str(i).encode()).digest() * 32768)
    aws(server, "s3", "cp", str(big), "s3://cli-bucket/big.bin")
    out = tmp_path / "back.bin"
    aws(server, "s3", "cp", "s3://cli-bucket/big.bin", str(out))
    assert open(out, "rb").read() == open(big, "rb").read()
    tree = tmp_path / "tree"
    (tree / "sub dir").mkdir(parents=True)
    for name in ["a.txt", "sub dir/b+c.txt", "sub dir/caf\u00e9 & co.txt"]:
        (tree / name).write_text(name)
    aws(server, "s3", "sync", str(tree), "s3://cli-bucket/tree")
    ls = aws(server, "s3", "ls", "--recursive", "s3://cli-bucket/tree/").stdout
    for name in ["tree/a.txt", "tree/sub dir/b+c.txt", "tree/sub dir/caf\u00e9 & co.txt"]:
        assert name in ls
    back = tmp_path / "back"
    aws(server, "s3", "sync", "s3://cli-bucket/tree", str(back))
    assert (back / "sub dir" / "caf\u00e9 & co.txt").read_text() == "sub dir/caf\u00e9 & co.txt"
    aws(server, "s3", "rm", "--recursive", "s3://cli-bucket/")
    aws(server, "s3", "rb", "s3://cli-bucket")


def test_cli_copies_large_objects_between_keys(server, s3, tmp_path):
    """`aws s3 cp` and `mv` from S3 to S3 copy an object of 8 MB or more
    in parts, asking GetObjectTagging for the tags to carry over."""
    aws(server, "s3", "mb", "s3://cli-copies")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))
    aws(server, "s3", "cp", str(big), "s3://cli-copies/a/big.bin")
    s3.put_object_tagging(Bucket="cli-copies", Key="a/big.bin",
                          Tagging={"TagSet": [{"Key": "stage", "Value": "raw"}]})
    aws(server, "s3", "cp", "s3://cli-copies/a/big.bin", "s3://cli-copies/b/big.bin")
    aws(server, "s3", "mv", "s3://cli-copies/b/big.bin", "s3://cli-copies/c/big.bin")
    aws(server, "s3", "sync", "s3://cli-copies/a", "s3://cli-copies/d")
    for key in ["c/big.bin", "d/big.bin"]:
        g = s3.get_object(Bucket="cli-copies", Key=key)
        assert g["Body"].read() == big.read_bytes()
        assert tags_of(s3, "cli-copies", key) == {"stage": "raw"}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="cli-copies")["Contents"]]
    assert keys == ["a/big.bin", "c/big.bin", "d/big.bin"]


def test_boto3_upload_download_file(s3, bucket, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(20 << 20))
    s3.upload_file(str(src), bucket, "managed/f.bin")
    dst = tmp_path / "g.bin"
    s3.download_file(bucket, "managed/f.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()


def test_large_put_digests(s3, bucket):
    """Past the first megabyte, a PUT is hashed on a thread of its own while
    it arrives, a block at a time: the digests of a 10 MiB + 7 body (ten
    blocks, round the ring of four more than twice) are still exact."""
    body = os.urandom((10 << 20) + 7)
    md5 = hashlib.md5(body)
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    r = s3.put_object(Bucket=bucket, Key="large/digests", Body=body,
                      ContentMD5=base64.b64encode(md5.digest()).decode(),
                      ChecksumSHA256=sha)
    assert r["ETag"] == f'"{md5.hexdigest()}"'
    assert r["ChecksumSHA256"] == sha
    got = s3.get_object(Bucket=bucket, Key="large/digests", ChecksumMode="ENABLED")
    assert got["ChecksumSHA256"] == sha and got["Body"].read() == body
    bad = base64.b64encode(hashlib.md5(body[:-1]).digest()).decode()
    assert code_of(s3.put_object, Bucket=bucket, Key="large/bad", Body=body,
                   ContentMD5=bad) == "BadDigest"
    assert code_of(s3.head_object, Bucket=bucket, Key="large/bad") == "404"


@pytest.mark.parametrize("size", [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, (3 << 20) + 4096,
                                  (3 << 20) + 4095, (8 << 20) + 17])
def test_put_sizes_round_blocks(s3, bucket, size):
    """Whole megabyte blocks of a large PUT go to disk with direct I/O and
    the last, partial one through the page cache: every size round the
    block and page boundaries reads back byte-identical with an exact
    ETag."""
    body = os.urandom(size)
    r = s3.put_object(Bucket=bucket, Key=f"sizes/{size}", Body=body)
    assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key=f"sizes/{size}")
    assert got["ContentLength"] == size and got["Body"].read() == body


def test_bad_digests_store_nothing(server, s3, bucket):
    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert code_of(s3.put_object, Bucket=bucket, Key="bad-md5", Body=b"data",
                   ContentMD5=md5) == "BadDigest"
    assert code_of(s3.head_object, Bucket=bucket, Key="bad-md5") == "404"
    # A payload that does not match its signed SHA-256.
    method, path, headers, _ = signed(
        server, "s3", b"good", {"x-amz-content-sha256": hashlib.sha256(b"good").hexdigest()},
        method="PUT", path=f"/{bucket}/bad-sha")
    status, _, body = send(server, method, path, headers, b"evil")
    assert status == 400 and b"XAmzContentSHA256Mismatch" in body
    # A wrong CRC32 header.
    req = signed(server, "s3", b"data", {
        "x-amz-content-sha256": hashlib.sha256(b"data").hexdigest(),
        "x-amz-checksum-crc32": "AAAAAA=="}, method="PUT", path=f"/{bucket}/bad-crc")
    status, _, body = send(server, *req)
    assert status == 400 and b"<Code>BadDigest</Code>" in body
    for key in ("bad-sha", "bad-crc"):
        assert code_of(s3.head_object, Bucket=bucket, Key=key) == "404"


def test_key_too_long(s3, bucket):
    assert code_of(s3.put_object, Bucket=bucket, Key="k" * 1025, Body=b"") == "KeyTooLongError"
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"ok")


def test_keys_that_are_not_utf8_are_invalid_uris(server, s3, bucket):
    """S3 keys are UTF-8 text: a path or query that decodes to anything
    else (or to a NUL) is InvalidURI, as S3 answers, and nothing is stored;
    listings stay valid XML."""
    def curl(method, path, *headers):
        """curl signs the path as sent (botocore would re-encode it)."""
        out = subprocess.run(
            ["curl", "-s", "-X", method, "--aws-sigv4", f"aws:amz:{REGION}:s3", "--user",
             f"{AKID}:{SECRET}", "-H", "x-amz-content-sha256:UNSIGNED-PAYLOAD",
             *[a for h in headers for a in ("-H", h)],
             "--data-binary", "x" if method == "PUT" else "", "-w", "\n%{http_code}",
             server.url + path], capture_output=True, check=True).stdout
        body, _, status = out.rpartition(b"\n")
        return int(status), body.decode()
    for path in (f"/{bucket}/u8/a%FFb", f"/{bucket}/u8/cut%E2%82", f"/{bucket}/u8/nul%00x",
                 f"/{bucket}?list-type=2&prefix=%C3"):
        status, body = curl("PUT" if "?" not in path else "GET", path)
        assert status == 400 and "<Code>InvalidURI</Code>" in body, (path, body)
    assert curl("PUT", f"/{bucket}/u8/utf8-%C3%A9%F0%9F%99%82")[0] == 200
    # Metadata is text too: refused, not dropped, when it is not UTF-8.
    status, body = curl("PUT", f"/{bucket}/u8/latin1-meta", b"x-amz-meta-a: caf\xe9")
    assert status == 400 and "<Code>InvalidArgument</Code>" in body
    assert curl("PUT", f"/{bucket}/u8/utf8-meta", b"x-amz-meta-a: caf\xc3\xa9")[0] == 200
    assert s3.head_object(Bucket=bucket, Key="u8/utf8-meta")["ResponseMetadata"][
        "HTTPHeaders"]["x-amz-meta-a"].encode("latin-1") == b"caf\xc3\xa9"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="u8/")["Contents"]]
    assert set(keys) == {"u8/utf8-\u00e9\U0001f642", "u8/utf8-meta"}


def test_keys_with_line_breaks_round_trip(s3, bucket):
    """CR and LF in keys come back as S3 writes them, &#13; and &#10;, so an
    XML parser does not fold them: DeleteObjects names each key exactly."""
    keys = ["crlf/a\rb", "crlf/c\nd", "crlf/e\r\nf"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    uid = s3.create_multipart_upload(Bucket=bucket, Key=keys[0])["UploadId"]
    assert [u["Key"] for u in s3.list_multipart_uploads(
        Bucket=bucket, Prefix="crlf/")["Uploads"]] == [keys[0]]
    s3.abort_multipart_upload(Bucket=bucket, Key=keys[0], UploadId=uid)
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="crlf/")


def test_malformed_xml(server, bucket):
    req = signed(server, "s3", b"not xml at all", {
        "x-amz-content-sha256": hashlib.sha256(b"not xml at all").hexdigest()},
        method="POST", path=f"/{bucket}?delete")
    status, _, body = send(server, *req)
    assert status == 400 and b"<Code>MalformedXML</Code>" in body


def test_other_account_is_denied(server, s3, bucket):
    other = other_account(server)
    assert code_of(other.get_object, Bucket=bucket, Key="range") == "AccessDenied"
    assert code_of(other.put_object, Bucket=bucket, Key="x", Body=b"") == "AccessDenied"
    assert code_of(other.create_bucket, Bucket=bucket) == "BucketAlreadyExists"
    assert bucket not in [b["Name"] for b in other.list_buckets()["Buckets"]]


def test_expected_bucket_owner(s3, bucket):
    """The SageMaker SDK checks its default bucket this way."""
    other = "999988887777"
    s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=ACCOUNT)
    assert code_of(s3.list_objects_v2, Bucket=bucket, ExpectedBucketOwner=other) == "AccessDenied"
    assert code_of(s3.put_object, Bucket=bucket, Key="owned", Body=b"x",
                   ExpectedBucketOwner=other) == "AccessDenied"
    assert code_of(s3.head_object, Bucket=bucket, Key="owned") == "404"
    s3.put_object(Bucket=bucket, Key="owned", Body=b"x", ExpectedBucketOwner=ACCOUNT)
    assert code_of(s3.copy_object, Bucket=bucket, Key="owned-copy",
                   CopySource=f"{bucket}/owned", ExpectedSourceBucketOwner=other) == "AccessDenied"
    s3.copy_object(Bucket=bucket, Key="owned-copy", CopySource=f"{bucket}/owned",
                   ExpectedSourceBucketOwner=ACCOUNT, ExpectedBucketOwner=ACCOUNT)


def chunk_sig(key, amz_date, scope, prev, data):
    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev,
                     hashlib.sha256(b"").hexdigest(), hashlib.sha256(data).hexdigest()])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def signing_key(date):
    k = ("AWS4" + SECRET).encode()
    for part in (date, REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def test_signed_aws_chunked_upload(server, s3, bucket):
    payload = os.urandom(150000)
    chunks = [payload[i:i + 65536] for i in range(0, len(payload), 65536)] + [b""]
    framed_len = sum(len(f"{len(c):x};chunk-signature=".encode()) + 64 + 2 + len(c) + 2
                     for c in chunks)
    method, path, headers, _ = signed(server, "s3", b"", {
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "Content-Length": str(framed_len)}, method="PUT", path=f"/{bucket}/chunked")
    amz_date = headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    prev = headers["Authorization"].split("Signature=")[1]
    key = signing_key(amz_date[:8])
    body = b""
    for c in chunks:
        prev = chunk_sig(key, amz_date, scope, prev, c)
        body += f"{len(c):x};chunk-signature={prev}\r\n".encode() + c + b"\r\n"
    assert len(body) == framed_len
    status, _, resp = send(server, method, path, headers, body)
    assert status == 200, resp
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == payload
    # One flipped byte in the second chunk breaks its signature.
    bad = bytearray(body)
    bad[70000] ^= 1
    status, _, resp = send(server, method, path.replace("chunked", "chunked-bad"), headers, bytes(bad))
    assert status == 403 and b"SignatureDoesNotMatch" in resp
    assert code_of(s3.head_object, Bucket=bucket, Key="chunked-bad") == "404"


def test_unsigned_trailer_upload(server, s3, bucket):
    payload = b"hello world" * 1000
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    def framed(data, crc_value):
        return (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n" +
                f"x-amz-checksum-crc32:{crc_value}\r\n\r\n".encode())
    for key, crc_value, ok in (("trailer", crc, True), ("trailer-bad", "AAAAAA==", False)):
        body = framed(payload, crc_value)
        req = signed(server, "s3", b"", {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(payload)),
            "x-amz-trailer": "x-amz-checksum-crc32",
            "Content-Length": str(len(body))}, method="PUT", path=f"/{bucket}/{key}")
        status, _, resp = send(server, req[0], req[1], req[2], body)
        if ok:
            assert status == 200, resp
            g = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            assert g["Body"].read() == payload
            assert g["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-crc32") == crc
        else:
            assert status == 400 and b"BadDigest" in resp
            assert code_of(s3.head_object, Bucket=bucket, Key=key) == "404"
    # Truncated framing: the final chunk never arrives.
    body = framed(payload, crc)[:-30]
    req = signed(server, "s3", b"", {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "Content-Length": str(len(body))}, method="PUT", path=f"/{bucket}/truncated")
    status, _, resp = send(server, req[0], req[1], req[2], body)
    assert status == 400 and b"IncompleteBody" in resp
    assert code_of(s3.head_object, Bucket=bucket, Key="truncated") == "404"


def test_part_longer_than_declared_spills_nothing(server, s3, bucket):
    """A part lands in place at its declared length: an aws-chunked part
    that decodes to more bytes than x-amz-decoded-content-length says is
    refused before it reaches the next part's range."""
    rnd = random.Random(11)
    bodies = [rnd.randbytes(MIB5), rnd.randbytes(MIB5), rnd.randbytes(1000)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="spill")["UploadId"]
    etags = {n: s3.upload_part(Bucket=bucket, Key="spill", UploadId=uid,
                               PartNumber=n, Body=bodies[n - 1])["ETag"]
             for n in (1, 3)}
    longer = bodies[1] + b"X" * ((2 << 20) + 500)  # past the 1 MiB write blocks
    body = f"{len(longer):x}\r\n".encode() + longer + b"\r\n0\r\n\r\n"
    req = signed(server, "s3", b"", {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(MIB5),
        "Content-Length": str(len(body))}, method="PUT",
        path=f"/{bucket}/spill?partNumber=2&uploadId={uid}")
    status, _, resp = send(server, req[0], req[1], req[2], body)
    assert status == 400 and b"IncompleteBody" in resp
    etags[2] = s3.upload_part(Bucket=bucket, Key="spill", UploadId=uid,
                              PartNumber=2, Body=bodies[1])["ETag"]
    complete(s3, bucket, "spill", uid, etags, [1, 2, 3])
    assert s3.get_object(Bucket=bucket, Key="spill")["Body"].read() == b"".join(bodies)


def test_presigned_v4_get_and_put(server, bucket):
    import boto3, botocore.config
    s3v4 = boto3.client("s3", endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                        config=botocore.config.Config(signature_version="s3v4"))
    put = s3v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre/x y"},
                                      ExpiresIn=60)
    req = urllib.request.Request(put, data=b"presigned body", method="PUT")
    assert urllib.request.urlopen(req).status == 200
    get = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/x y"},
                                      ExpiresIn=60)
    assert urllib.request.urlopen(get).read() == b"presigned body"
    tampered = get.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered)
    assert e.value.code == 403


def test_presigned_v2_default_boto3(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="v2/a b+c.txt", Body=b"legacy")
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "v2/a b+c.txt", "ResponseContentType": "text/csv"},
        ExpiresIn=60)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    resp = urllib.request.urlopen(url)
    assert resp.read() == b"legacy"
    assert resp.headers["Content-Type"] == "text/csv"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("Expires=", "Expires=1"))
    assert e.value.code == 403
    expired = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "v2/a b+c.txt"}, ExpiresIn=-10)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(expired)
    assert e.value.code == 403 and b"Request has expired" in e.value.read()


def test_virtual_hosted_style(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="vh/key", Body=b"virtual")
    req = signed(server, "s3", b"", {"x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
                                     "Host": f"{bucket}.localhost:{server.port}"},
                 method="GET", path="/vh/key")
    status, _, body = send(server, *req)
    assert status == 200 and body == b"virtual"


def test_s3cmd_put_get_ls(server, tmp_path):
    cfg = tmp_path / "s3cfg"
    cfg.write_text(f"""[default]
access_key = {AKID}
secret_key = {SECRET}
host_base = 127.0.0.1:{server.port}
host_bucket = 127.0.0.1:{server.port}
use_https = False
signature_v2 = False
bucket_location = us-east-1
""")
    def s3cmd(*args, ok=True):
        out = subprocess.run(["s3cmd", "-c", str(cfg), *args], capture_output=True,
                             text=True, timeout=120)
        assert (out.returncode == 0) == ok, out.stderr
        return out.stdout + out.stderr
    s3cmd("mb", "s3://s3cmd-bucket")
    src = tmp_path / "file name.txt"
    src.write_bytes(os.urandom(300000))
    s3cmd("put", str(src), "s3://s3cmd-bucket/dir/file name.txt")
    listing = s3cmd("ls", "s3://s3cmd-bucket/dir/")
    assert "s3://s3cmd-bucket/dir/file name.txt" in listing
    assert "DIR" in s3cmd("ls", "s3://s3cmd-bucket/")
    # s3cmd info reads the ACL, policy, CORS and lifecycle; setacl writes
    # an <AccessControlPolicy>, taken when it is owner-only.
    info = s3cmd("info", "s3://s3cmd-bucket/dir/file name.txt")
    assert f"ACL:       {ACCOUNT}: FULL_CONTROL" in info and "Policy:    none" in info
    s3cmd("setacl", "--acl-private", "s3://s3cmd-bucket/dir/file name.txt")
    assert "AccessControlListNotSupported" in s3cmd(
        "setacl", "--acl-public", "s3://s3cmd-bucket/dir/file name.txt", ok=False)
    dst = tmp_path / "back.txt"
    s3cmd("get", "s3://s3cmd-bucket/dir/file name.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    # s3cmd's multipart (15 MiB parts) on a 20 MiB file
    big = tmp_path / "big"
    big.write_bytes(os.urandom(20 << 20))
    s3cmd("put", str(big), "s3://s3cmd-bucket/big")
    s3cmd("get", "s3://s3cmd-bucket/big", str(tmp_path / "big2"))
    assert (tmp_path / "big2").read_bytes() == big.read_bytes()
    s3cmd("del", "s3://s3cmd-bucket/big", "s3://s3cmd-bucket/dir/file name.txt")
    s3cmd("rb", "s3://s3cmd-bucket")


def test_js_sdk_v3_stream_put(server):
    res = run_js(server, "s3_stream.mjs", BUCKET="js-bucket")
    assert res == {"same": True, "size": 3 * 1024 * 1024 + 17,
                   "keys": ["buffer.txt", "stream/obj.bin"], "text": "hello from js"}
    log = server.stderr()
    assert "path=\"/js-bucket/stream/obj.bin\"" in log


def test_js_sdk_v3_multipart_upload(server):
    """@aws-sdk/lib-storage's Upload: a 20 MiB stream in five parts, four
    in flight at once, CRC32 on each, read back whole and across a part
    boundary."""
    res = run_js(server, "s3_upload.mjs", BUCKET="js-upload")
    assert res["same"] and res["mid"] and res["size"] == 4 * MIB5 + 12345
    assert res["etag"].endswith('-5"') and res["type"] == "application/x-test"
    # The SDK asks for CRC32 part checksums; the object gets their composite.
    assert res["checksum"] and res["checksum"].endswith("-5")
    # Upload's tags (PutObjectTagging) and a read by part number.
    assert res["tags"] == [{"Key": "stage", "Value": "raw"}]
    assert res["part2"] and res["parts"] == 5



def test_bucket_cors(server, s3):
    """PutBucketCors / GetBucketCors / DeleteBucketCors, and what a browser
    sees: a preflight (unsigned OPTIONS) answered from the bucket's rules,
    and the Access-Control-* headers on the answers the rules allow."""
    s3.create_bucket(Bucket="web-assets")
    assert code_of(s3.get_bucket_cors, Bucket="web-assets") == "NoSuchCORSConfiguration"
    rules = [{"ID": "app", "AllowedOrigins": ["https://*.example.com"],
              "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"],
              "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
             {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}]
    s3.put_bucket_cors(Bucket="web-assets", CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket="web-assets")["CORSRules"] == rules
    s3.put_object(Bucket="web-assets", Key="app.js", Body=b"console.log(1)")

    def preflight(origin, method, headers=None):
        h = {"Access-Control-Request-Method": method}
        if origin:
            h["Origin"] = origin
        if headers:
            h["Access-Control-Request-Headers"] = headers
        return send(server, "OPTIONS", "/web-assets/app.js", h)

    status, hdrs, _ = preflight("https://app.example.com", "PUT",
                                "content-type, x-amz-date, authorization")
    assert status == 200
    assert hdrs["access-control-allow-origin"] == "https://app.example.com"
    assert hdrs["access-control-allow-methods"] == "GET, PUT"
    assert hdrs["access-control-allow-headers"] == "content-type, x-amz-date, authorization"
    assert hdrs["access-control-expose-headers"] == "ETag"
    assert hdrs["access-control-max-age"] == "600"
    status, hdrs, _ = preflight("https://elsewhere.org", "HEAD")
    assert status == 200 and hdrs["access-control-allow-origin"] == "*"
    status, hdrs, body = preflight("https://elsewhere.org", "PUT")
    assert status == 403 and b"<Code>AccessForbidden</Code>" in body
    assert "access-control-allow-origin" not in hdrs
    status, _, body = preflight(None, "GET")
    assert status == 400 and b"Origin request header needed" in body

    # The answer to a signed request carries the rule's headers.
    for origin, allowed in (("https://app.example.com", True), ("https://evil.org", False)):
        status, hdrs, body = send(server, *signed(
            server, "s3", method="GET", path="/web-assets/app.js",
            headers={"Origin": origin,
                     "x-amz-content-sha256": hashlib.sha256(b"").hexdigest()}))
        assert status == 200 and body == b"console.log(1)"
        assert hdrs.get("access-control-allow-origin") == (origin if allowed else None)
        if allowed:
            assert hdrs["access-control-expose-headers"] == "ETag"

    # What S3 refuses.
    for bad, code in (([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest"),
                      ([{"AllowedOrigins": ["*.*.example.com"], "AllowedMethods": ["GET"]}],
                       "InvalidRequest")):
        assert code_of(s3.put_bucket_cors, Bucket="web-assets",
                       CORSConfiguration={"CORSRules": bad}) == code
    body = b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>" \
           b"</CORSConfiguration>"
    status, _, answer = send(server, *signed(server, "s3", body, method="PUT",
                                             path="/web-assets?cors",
                                             headers={"x-amz-content-sha256":
                                                      hashlib.sha256(body).hexdigest()}))
    assert status == 400 and b"<Code>MalformedXML</Code>" in answer
    other = other_account(server)
    assert code_of(other.get_bucket_cors, Bucket="web-assets") == "AccessDenied"
    assert code_of(other.delete_bucket_cors, Bucket="web-assets") == "AccessDenied"
    assert s3.get_bucket_cors(Bucket="web-assets")["CORSRules"] == rules

    s3.delete_bucket_cors(Bucket="web-assets")
    assert code_of(s3.get_bucket_cors, Bucket="web-assets") == "NoSuchCORSConfiguration"
    status, _, body = preflight("https://app.example.com", "GET")
    assert status == 403 and b"CORS is not enabled for this bucket" in body


def test_sagemaker_apis_answer_browsers(server):
    """The SageMaker APIs take a browser's preflight from any origin (every
    call is still signed) and let its script read their answers."""
    status, hdrs, _ = send(server, "OPTIONS", "/", {
        "Origin": "http://localhost:8888", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-amz-target, authorization"})
    assert status == 200
    assert hdrs["access-control-allow-origin"] == "http://localhost:8888"
    assert "x-amz-target" in hdrs["access-control-allow-headers"]
    status, hdrs, body = send(server, *signed(
        server, "sagemaker", b"{}", {"Content-Type": "application/x-amz-json-1.1",
                                      "X-Amz-Target": "SageMaker.ListEndpoints",
                                      "Origin": "http://localhost:8888"}))
    assert status == 200 and "Endpoints" in json.loads(body)
    assert hdrs["access-control-allow-origin"] == "http://localhost:8888"
    assert "x-amzn-RequestId" in hdrs["access-control-expose-headers"]


def test_acls_disabled_and_unset_bucket_settings(server, s3, tmp_path):
    """Buckets are as S3 makes them by default: ACLs disabled (Object
    Ownership BucketOwnerEnforced) and nothing public. ACLs read as the
    owner's FULL_CONTROL; only owner-only ACLs are taken, others get
    AccessControlListNotSupported and change nothing. The settings kiln
    does not keep read as S3 answers for a bucket where they were never
    set."""
    s3.create_bucket(Bucket="acl-bucket")
    s3.put_object(Bucket="acl-bucket", Key="k", Body=b"data")
    owner_only = [{"Grantee": {"ID": ACCOUNT, "DisplayName": ACCOUNT,
                               "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]
    for acl in (s3.get_bucket_acl(Bucket="acl-bucket"),
                s3.get_object_acl(Bucket="acl-bucket", Key="k")):
        assert acl["Owner"]["ID"] == ACCOUNT and acl["Grants"] == owner_only
    s3.put_object_acl(Bucket="acl-bucket", Key="k", ACL="private")
    s3.put_bucket_acl(Bucket="acl-bucket", ACL="bucket-owner-full-control")
    s3.put_bucket_acl(Bucket="acl-bucket", AccessControlPolicy={
        "Owner": {"ID": ACCOUNT}, "Grants": owner_only})
    public = {"Grantee": {"Type": "Group",
                          "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
              "Permission": "READ"}
    for fn, kw in ((s3.put_object_acl, {"Key": "k", "ACL": "public-read"}),
                   (s3.put_bucket_acl, {"AccessControlPolicy": {
                       "Owner": {"ID": ACCOUNT}, "Grants": owner_only + [public]}}),
                   (s3.put_bucket_acl, {"GrantRead": "uri=http://acs.amazonaws.com/groups/"
                                                     "global/AllUsers"}),
                   (s3.put_object, {"Key": "public", "Body": b"x", "ACL": "public-read"}),
                   (s3.create_multipart_upload, {"Key": "public", "ACL": "authenticated-read"}),
                   (s3.copy_object, {"Key": "public", "CopySource": "acl-bucket/k",
                                     "GrantRead": f"id={ACCOUNT}"})):
        assert code_of(fn, Bucket="acl-bucket", **kw) == "AccessControlListNotSupported"
    assert code_of(s3.head_object, Bucket="acl-bucket", Key="public") == "404"
    assert s3.list_multipart_uploads(Bucket="acl-bucket").get("Uploads", []) == []
    assert code_of(s3.create_bucket, Bucket="acl-public", ACL="public-read") == \
        "InvalidBucketAclWithObjectOwnership"
    assert code_of(s3.head_bucket, Bucket="acl-public") == "404"
    assert code_of(s3.get_object_acl, Bucket="acl-bucket", Key="nope") == "NoSuchKey"
    assert code_of(other_account(server).get_bucket_acl, Bucket="acl-bucket") == "AccessDenied"

    for op, code in (("get_bucket_policy", "NoSuchBucketPolicy"),
                     ("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
                     ("get_bucket_encryption",
                      "ServerSideEncryptionConfigurationNotFoundError"),
                     ("get_bucket_tagging", "NoSuchTagSet"),
                     ("get_bucket_website", "NoSuchWebsiteConfiguration"),
                     ("get_bucket_replication", "ReplicationConfigurationNotFoundError"),
                     ("get_object_lock_configuration",
                      "ObjectLockConfigurationNotFoundError")):
        assert code_of(getattr(s3, op), Bucket="acl-bucket") == code, op
    assert s3.get_public_access_block(Bucket="acl-bucket")[
        "PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                              "BlockPublicPolicy": True,
                                              "RestrictPublicBuckets": True}
    assert s3.get_bucket_ownership_controls(Bucket="acl-bucket")["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert s3.get_bucket_request_payment(Bucket="acl-bucket")["Payer"] == "BucketOwner"
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="acl-bucket")
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket="acl-bucket")
    assert code_of(s3.get_bucket_policy, Bucket="no-such-bucket-here") == "NoSuchBucket"
    # Setting them is still not something kiln does, but for asking for
    # what they already are.
    assert code_of(s3.put_bucket_policy, Bucket="acl-bucket", Policy="{}") == "NotImplemented"
    s3.put_bucket_ownership_controls(Bucket="acl-bucket", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert code_of(s3.put_bucket_ownership_controls, Bucket="acl-bucket",
                   OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}) == \
        "NotImplemented"
    blocks = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
              "RestrictPublicBuckets": True}
    s3.put_public_access_block(Bucket="acl-bucket", PublicAccessBlockConfiguration=blocks)
    assert code_of(s3.put_public_access_block, Bucket="acl-bucket",
                   PublicAccessBlockConfiguration=dict(blocks, BlockPublicPolicy=False)) == \
        "NotImplemented"
    assert code_of(s3.delete_public_access_block, Bucket="acl-bucket") == "NotImplemented"
    assert code_of(other_account(server).put_public_access_block, Bucket="acl-bucket",
                   PublicAccessBlockConfiguration=blocks) == "AccessDenied"

    (tmp_path / "f").write_bytes(b"hello")
    out = aws(server, "s3", "cp", str(tmp_path / "f"), "s3://acl-bucket/f", "--acl",
              "public-read", check=False)
    assert out.returncode != 0 and "AccessControlListNotSupported" in out.stderr
    aws(server, "s3", "cp", str(tmp_path / "f"), "s3://acl-bucket/f", "--acl",
        "bucket-owner-full-control")
    assert s3.get_object(Bucket="acl-bucket", Key="f")["Body"].read() == b"hello"
