// Uploads a stream with @aws-sdk/lib-storage's Upload, the JavaScript
// SDK's way to send large files: multipart, four parts in flight, CRC32
// checksums on every part as the SDK now sends them by default, tags set
// after the completion. Reads the object back whole, by range and by part.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, BUCKET.
import { Readable } from "node:stream";
import { createHash, randomBytes } from "node:crypto";
import {
  CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand,
  HeadObjectCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { s3, bucket } from "./client.mjs";

const partSize = 5 * 1024 * 1024;
const data = randomBytes(4 * partSize + 12345);
const sha = (b) => createHash("sha256").update(b).digest("hex");

await s3.send(new CreateBucketCommand({ Bucket: bucket }));
const pieces = [];
for (let i = 0; i < data.length; i += 65536) pieces.push(data.subarray(i, i + 65536));
const up = new Upload({
  client: s3, queueSize: 4, partSize,
  params: { Bucket: bucket, Key: "big/upload.bin", Body: Readable.from(pieces),
            ContentType: "application/x-test" },
  tags: [{ Key: "stage", Value: "raw" }],
});
const done = await up.done();
const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big/upload.bin" }));
const back = Buffer.from(await got.Body.transformToByteArray());
const ranged = await s3.send(new GetObjectCommand({
  Bucket: bucket, Key: "big/upload.bin", Range: `bytes=${partSize - 10}-${partSize + 9}`,
}));
const mid = Buffer.from(await ranged.Body.transformToByteArray());
const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "big/upload.bin" }));
const part2 = await s3.send(new GetObjectCommand({
  Bucket: bucket, Key: "big/upload.bin", PartNumber: 2,
}));
const second = Buffer.from(await part2.Body.transformToByteArray());
const tags = await s3.send(new GetObjectTaggingCommand({
  Bucket: bucket, Key: "big/upload.bin",
}));
console.log(JSON.stringify({
  same: sha(back) === sha(data), size: back.length, etag: done.ETag,
  checksum: done.ChecksumCRC32 ?? null,
  mid: mid.equals(data.subarray(partSize - 10, partSize + 10)),
  type: head.ContentType,
  part2: second.equals(data.subarray(partSize, 2 * partSize)),
  parts: part2.PartsCount, tags: tags.TagSet,
}));
