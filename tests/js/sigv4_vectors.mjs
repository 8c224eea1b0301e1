// The console's signing code (src/console/sigv4.js) against AWS's published
// examples and Node's own SHA-256 and HMAC; prints {"ok": true} or fails.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { hex, hmac, presign, sha256, sign } from "../../src/console/sigv4.js";

for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 65537]) {
  const data = crypto.randomBytes(n);
  assert.equal(hex(sha256(new Uint8Array(data))),
               crypto.createHash("sha256").update(data).digest("hex"), `sha256 of ${n}`);
  const key = crypto.randomBytes(n % 130);
  assert.equal(hex(hmac(new Uint8Array(key), new Uint8Array(data))),
               crypto.createHmac("sha256", key).update(data).digest("hex"), `hmac ${n}`);
}
assert.equal(hex(sha256("héllo")), crypto.createHash("sha256").update("héllo").digest("hex"));

// The SigV4 test suite's get-vanilla.
const vanilla = sign({
  method: "GET", host: "example.amazonaws.com", path: "/", service: "service",
  region: "us-east-1", now: new Date("2015-08-30T12:36:00Z"),
  creds: { akid: "AKIDEXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
});
assert.equal(vanilla.Authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/" +
  "us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, " +
  "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");

// S3's examples ("Signature Calculations for the Authorization Header" and
// "Authenticating Requests: Using Query Parameters").
const creds = { akid: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
const get = sign({
  method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
  headers: { Range: "bytes=0-9" }, service: "s3", region: "us-east-1", creds,
  payload: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  now: new Date("2013-05-24T00:00:00Z"),
});
assert.match(get.Authorization,
  /Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41$/);
const url = presign({
  method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
  region: "us-east-1", creds, expires: 86400, now: new Date("2013-05-24T00:00:00Z"),
});
assert.match(url,
  /X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404$/);
console.log(JSON.stringify({ ok: true }));
