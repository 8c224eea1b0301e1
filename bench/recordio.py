"""Dense float32 rows written as RecordIO-protobuf, exactly as the SageMaker
SDK's record_set() writes them (one Record per row, features only, no
label), for the benchmarks. Every record has the same length, so the
framing is built once and the rows are laid in with numpy."""
import numpy as np


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def write_recordio(X, path):
    n, d = X.shape
    payload = 4 * d
    t = b"\x0a" + varint(payload)
    v = b"\x12" + varint(len(t) + payload)
    e = b"\x0a\x06values\x12" + varint(len(v) + len(t) + payload)
    rec_head = b"\x0a" + varint(len(e) + len(v) + len(t) + payload) + e + v + t
    reclen = len(rec_head) + payload
    pad = (-reclen) % 4
    head = np.frombuffer(np.array([0xCED7230A, reclen], "<u4").tobytes() + rec_head, np.uint8)
    out = np.zeros((n, len(head) + payload + pad), np.uint8)
    out[:, :len(head)] = head
    out[:, len(head):len(head) + payload] = X.astype("<f4").view(np.uint8).reshape(n, payload)
    out.tofile(path)
