// Puts a stream body through the AWS SDK for JavaScript v3 (aws-chunked
// with a CRC32 trailer, as the SDK sends streams) and reads it back.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, BUCKET.
import { Readable } from "node:stream";
import { createHash, randomBytes } from "node:crypto";
import {
  CreateBucketCommand, PutObjectCommand, GetObjectCommand,
  ListObjectsV2Command, DeleteObjectCommand,
} from "@aws-sdk/client-s3";
import { s3, bucket } from "./client.mjs";

const data = randomBytes(3 * 1024 * 1024 + 17);
const sha = (b) => createHash("sha256").update(b).digest("hex");

await s3.send(new CreateBucketCommand({ Bucket: bucket }));
const pieces = [];
for (let i = 0; i < data.length; i += 100000) pieces.push(data.subarray(i, i + 100000));
await s3.send(new PutObjectCommand({
  Bucket: bucket, Key: "stream/obj.bin", Body: Readable.from(pieces),
  ContentLength: data.length,
}));
await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "buffer.txt", Body: "hello from js" }));
const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "stream/obj.bin" }));
const back = Buffer.from(await got.Body.transformToByteArray());
const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
const text = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "buffer.txt" })))
  .Body.transformToString();
await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "buffer.txt" }));
console.log(JSON.stringify({
  same: sha(back) === sha(data), size: back.length,
  keys: list.Contents.map((o) => o.Key), text,
}));
