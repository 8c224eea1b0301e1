// The S3 client every script here uses: kiln at KILN_URL, path-style,
// keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; BUCKET names the
// bucket to work in.
import { S3Client } from "@aws-sdk/client-s3";

export const s3 = new S3Client({
  endpoint: process.env.KILN_URL, region: "us-east-1", forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
});
export const bucket = process.env.BUCKET;
