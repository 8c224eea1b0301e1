// What every script here uses: kiln at KILN_URL with the keys in
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`config`, for any client),
// and a path-style S3 client; BUCKET names the bucket to work in.
import { S3Client } from "@aws-sdk/client-s3";

export const config = {
  endpoint: process.env.KILN_URL, region: "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
};
export const s3 = new S3Client({ ...config, forcePathStyle: true });
export const bucket = process.env.BUCKET;
