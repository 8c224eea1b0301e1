"""[F1] the front door: auth on every route, AWS error shapes per protocol,
STS, the JSON 1.1 dispatch, body limits, 100-continue, first start, keys."""
import datetime
import json
import os
import re
import socket
import subprocess
import tempfile
import time

import botocore.exceptions
import pytest

from conftest import (ACCOUNT, AKID, AWS, SECRET, Server, aws, client, kiln,
                      send, signed)

JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "SageMaker.ListTrainingJobs"}


def error_code(fn, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_cli_get_caller_identity(server):
    out = aws(server, "sts", "get-caller-identity")
    ident = json.loads(out.stdout)
    assert ident["Account"] == ACCOUNT
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/admin"
    assert ident["UserId"].startswith("AIDA")


def test_boto3_list_training_jobs_empty(server):
    res = client(server, "sagemaker").list_training_jobs()
    res.pop("ResponseMetadata")
    assert res == {"TrainingJobSummaries": []}
    pages = list(client(server, "sagemaker").get_paginator(
        "list_training_jobs").paginate())
    assert [p["TrainingJobSummaries"] for p in pages] == [[]]


def test_request_id_header(server):
    res = client(server, "sagemaker").list_training_jobs()
    rid = res["ResponseMetadata"]["RequestId"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rid)


def test_wrong_secret(server):
    sm = client(server, "sagemaker", secret="x" * 40)
    code, msg = error_code(sm.list_training_jobs)
    assert code == "InvalidSignatureException"
    assert "does not match" in msg
    out = aws(server, "sts", "get-caller-identity", secret="x" * 40, check=False)
    assert out.returncode != 0 and "SignatureDoesNotMatch" in out.stderr


def test_unknown_key(server):
    sm = client(server, "sagemaker", akid="AKIANOSUCHKEY0000000")
    code, _ = error_code(sm.list_training_jobs)
    assert code == "UnrecognizedClientException"
    out = aws(server, "sts", "get-caller-identity", akid="AKIANOSUCHKEY0000000",
              check=False)
    assert "InvalidClientTokenId" in out.stderr
    s3 = client(server, "s3", akid="AKIANOSUCHKEY0000000")
    code, _ = error_code(s3.list_buckets)
    assert code == "InvalidAccessKeyId"


def test_signed_twenty_minutes_ago(server):
    when = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    req = signed(server, "sagemaker", b"{}", JSON_HEADERS, when=when)
    status, headers, body = send(server, *req)
    err = json.loads(body)
    assert status == 400
    assert err["__type"] == "InvalidSignatureException"
    assert err["message"].startswith("Signature expired: ")
    assert "date" in headers
    # STS answers the same clock problem with its own code.
    req = signed(server, "sts", b"Action=GetCallerIdentity&Version=2011-06-15",
                 {"Content-Type": "application/x-www-form-urlencoded"}, when=when)
    status, _, body = send(server, *req)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    # And S3 with RequestTimeTooSkewed.
    req = signed(server, "s3", b"", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
                 method="GET", when=when)
    status, _, body = send(server, *req)
    assert status == 403 and b"<Code>RequestTimeTooSkewed</Code>" in body


def test_no_auth_at_all(server):
    status, headers, body = send(server, "POST", "/", JSON_HEADERS, b"{}")
    assert status == 400
    assert json.loads(body)["__type"] == "MissingAuthenticationTokenException"
    status, _, body = send(server, "POST", "/", {
        "Content-Type": "application/x-www-form-urlencoded"},
        b"Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 403 and b"<Code>MissingAuthenticationToken</Code>" in body
    status, headers, body = send(server, "GET", "/some-bucket/key", {})
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert "x-amz-request-id" in headers


def test_unknown_operation(server):
    req = signed(server, "sagemaker", b"{}", {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "SageMaker.Frobnicate"})
    status, _, body = send(server, *req)
    assert status == 400
    assert json.loads(body)["__type"] == "UnknownOperationException"
    out = aws(server, "logs", "create-log-group", "--log-group-name", "mine", check=False)
    assert "UnknownOperationException" in out.stderr
    req = signed(server, "sts", b"Action=AssumeRole&Version=2011-06-15",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    status, _, body = send(server, *req)
    assert status == 400 and b"<Code>InvalidAction</Code>" in body


def test_malformed_json(server):
    for bad in (b'{"MaxResults": ', b"[]", b'{"MaxResults": "ten"}'):
        req = signed(server, "sagemaker", bad, JSON_HEADERS)
        status, _, body = send(server, *req)
        assert status == 400, bad
        assert json.loads(body)["__type"] == "SerializationException", bad


def test_validation_exception(server):
    sm = client(server, "sagemaker")
    code, msg = error_code(sm.list_training_jobs, MaxResults=500)
    assert code == "ValidationException"
    assert msg == ("1 validation error detected: Value '500' at 'maxResults' "
                   "failed to satisfy constraint: Member must have value less "
                   "than or equal to 100")
    code, msg = error_code(sm.list_training_jobs, NameContains="bad_name")
    assert "Member must satisfy regular expression pattern" in msg


def test_oversized_body(server):
    big = b'{"NameContains": "' + b"a" * 200000 + b'"}'
    req = signed(server, "sagemaker", big, JSON_HEADERS)
    status, _, body = send(server, *req)
    assert status == 413
    assert json.loads(body)["__type"] == "RequestEntityTooLargeException"
    # Without a Content-Length (chunked), the limit still holds.
    method, path, headers, _ = signed(server, "sagemaker", big, JSON_HEADERS)
    headers.pop("Content-Length", None)
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = f"Host: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items())
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 8192]), big[i:i + 8192])
                       for i in range(0, len(big), 8192)) + b"0\r\n\r\n"
    conn.sendall(f"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n{head}\r\n"
                 .encode() + chunked)
    reply = conn.recv(65536)
    conn.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    # The server is still up and serving.
    assert client(server, "sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_payload_hash_mismatch(server):
    method, path, headers, _ = signed(server, "sagemaker", b"{}", JSON_HEADERS)
    status, _, body = send(server, method, path, headers, b'{"a":1}')
    assert status == 400
    assert json.loads(body)["__type"] == "InvalidSignatureException"


def test_expect_100_continue(server):
    method, path, headers, body = signed(server, "sagemaker", b"{}", JSON_HEADERS)
    headers["Content-Length"] = str(len(body))
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = f"Host: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items())
    conn.sendall(f"POST / HTTP/1.1\r\nExpect: 100-continue\r\n{head}\r\n".encode())
    interim = conn.recv(4096)
    assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
    conn.sendall(body)
    reply = b""
    while b"TrainingJobSummaries" not in reply:
        chunk = conn.recv(65536)
        if not chunk:
            break
        reply += chunk
    conn.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    # A request refused at the headers gets its final answer, no 100.
    bad = dict(headers, Authorization=headers["Authorization"].replace(AKID, "AKIANOPE0000000000000"))
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = f"Host: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in bad.items())
    conn.sendall(f"POST / HTTP/1.1\r\nExpect: 100-continue\r\n{head}\r\n".encode())
    reply = conn.recv(4096)
    conn.close()
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]


def test_more_than_a_thousand_clients(server):
    """libmicrohttpd alone would reset connections past FD_SETSIZE."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    idle = []
    try:
        for _ in range(1200):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        assert client(server, "sts").get_caller_identity()["Account"] == ACCOUNT
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_runtime_route(server):
    rt = client(server, "sagemaker-runtime")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="nope", Body=b"1,2", ContentType="text/csv")
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert err["Message"] == f"Endpoint nope of account {ACCOUNT} not found."


def test_access_log(server):
    client(server, "sagemaker").list_training_jobs()
    log = server.stderr()
    lines = [l for l in log.splitlines() if "event=request" in l]
    assert any("op=SageMaker.ListTrainingJobs" in l and "status=200" in l
               and f"akid={AKID}" in l for l in lines)
    assert all(re.search(r" id=[0-9a-f-]{36} ", l) for l in lines)
    assert SECRET not in log
    assert "Signature=" not in log and "X-Amz-Signature" not in log


def test_first_start_prints_key_and_cli_line():
    with tempfile.TemporaryDirectory(prefix="kiln-first-") as tmp:
        s = Server(os.path.join(tmp, "var"))
        try:
            text = "".join(s.stdout_lines)
            akid = re.search(r"aws_access_key_id\s+= (\S+)", text).group(1)
            secret = re.search(r"aws_secret_access_key\s+= (\S+)", text).group(1)
            line = [l for l in s.stdout_lines if "sts get-caller-identity" in l][0]
            assert f"--endpoint-url http://127.0.0.1:{s.port}" in line
            cmd = line.strip().replace(" aws ", f" {AWS} ", 1)
            out = subprocess.run(["bash", "-c", cmd], capture_output=True,
                                 text=True, timeout=60,
                                 env=dict(os.environ, AWS_CONFIG_FILE="/dev/null",
                                          AWS_SHARED_CREDENTIALS_FILE="/dev/null"))
            assert out.returncode == 0, out.stderr
            assert json.loads(out.stdout)["Account"] == "000000000000"
            creds = open(os.path.join(tmp, "var", "credentials")).read()
            assert akid in creds and secret in creds
            assert oct(os.stat(os.path.join(tmp, "var", "credentials")).st_mode & 0o777) == "0o600"
            assert secret not in s.stderr()
        finally:
            assert s.stop() == 0
        # A second start keeps the key and prints none.
        s = Server(os.path.join(tmp, "var"))
        try:
            assert not any("aws_secret_access_key" in l for l in s.stdout_lines)
        finally:
            assert s.stop() == 0


def test_admin_keys(server):
    out = kiln("admin", "keys", "add", "--data-dir", server.data_dir,
               "--account", "444455556666", "--user", "alice")
    akid, account, user, secret = out.stdout.split()
    assert (account, user) == ("444455556666", "alice")
    listed = kiln("admin", "keys", "list", "--data-dir", server.data_dir).stdout
    assert akid in listed and secret not in listed
    ident = client(server, "sts", akid=akid, secret=secret).get_caller_identity()
    assert ident["Account"] == "444455556666"
    assert ident["Arn"] == "arn:aws:iam::444455556666:user/alice"
    kiln("admin", "keys", "remove", "--data-dir", server.data_dir, akid)
    # A running server trusts a key it has read for at most a second (like
    # an AWS key deactivation, removal takes effect within seconds).
    t = time.time()
    while True:
        try:
            client(server, "sts", akid=akid, secret=secret).get_caller_identity()
            code = None
        except botocore.exceptions.ClientError as e:
            code = e.response["Error"]["Code"]
        if code == "InvalidClientTokenId" or time.time() - t > 3:
            break
        time.sleep(0.1)
    assert code == "InvalidClientTokenId"
    assert time.time() - t < 2
    bad = kiln("admin", "keys", "add", "--data-dir", server.data_dir,
               "--account", "12", check=False)
    assert bad.returncode != 0 and "12 digits" in bad.stderr
    dup = kiln("admin", "keys", "add", "--data-dir", server.data_dir,
               "--access-key-id", AKID, "--secret-access-key", "s" * 40, check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr


def test_config_flags_env_file(tmp_path):
    cfg = tmp_path / "kiln.conf"
    cfg.write_text("region = eu-west-1\nport = 1234\n")
    env = dict(os.environ, KILN_PORT="2345", KILN_CONFIG=str(cfg))
    out = subprocess.run([os.environ.get("KILN_BIN", "build/kiln"), "admin", "config",
                          "show", "--log-level", "warn"],
                         capture_output=True, text=True, env=env, check=True)
    assert "region = eu-west-1" in out.stdout
    assert "port = 2345" in out.stdout
    assert "log-level = warn" in out.stdout
    bad = subprocess.run([os.environ.get("KILN_BIN", "build/kiln"), "server",
                          "--port", "99999"], capture_output=True, text=True)
    assert bad.returncode != 0 and "port must be" in bad.stderr
