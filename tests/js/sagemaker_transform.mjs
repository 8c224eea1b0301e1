// Batch transform through the AWS SDK for JavaScript v3, as a Node.js user
// would run one: CreateTransformJob, the SDK's
// waitUntilTransformJobCompletedOrStopped, ListTransformJobs, and the
// output read back from S3; prints what it saw as JSON.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// MODEL_NAME (an existing model), ROWS (CSV lines).
import {
  SageMakerClient, CreateTransformJobCommand, DescribeTransformJobCommand,
  ListTransformJobsCommand, waitUntilTransformJobCompletedOrStopped,
} from "@aws-sdk/client-sagemaker";
import {
  CreateBucketCommand, PutObjectCommand, GetObjectCommand,
} from "@aws-sdk/client-s3";
import { config, s3 } from "./client.mjs";

const sm = new SageMakerClient(config);
const name = "js-transform";

await s3.send(new CreateBucketCommand({ Bucket: "js-transform" }));
await s3.send(new PutObjectCommand({ Bucket: "js-transform", Key: "in/rows.csv",
                                     Body: process.env.ROWS }));
await sm.send(new CreateTransformJobCommand({
  TransformJobName: name,
  ModelName: process.env.MODEL_NAME,
  BatchStrategy: "MultiRecord",
  TransformInput: {
    DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: "s3://js-transform/in/" } },
    ContentType: "text/csv", SplitType: "Line",
  },
  TransformOutput: { S3OutputPath: "s3://js-transform/out", Accept: "text/csv",
                     AssembleWith: "Line" },
  TransformResources: { InstanceType: "ml.m5.large", InstanceCount: 1 },
}));
const waited = await waitUntilTransformJobCompletedOrStopped(
  { client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 120 }, { TransformJobName: name });
const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
const list = await sm.send(new ListTransformJobsCommand({ NameContains: "js-" }));
const o = await s3.send(new GetObjectCommand({ Bucket: "js-transform",
                                               Key: "out/rows.csv.out" }));
console.log(JSON.stringify({
  waiter: waited.state,
  status: d.TransformJobStatus,
  startBeforeEnd: d.TransformStartTime <= d.TransformEndTime,
  listed: list.TransformJobSummaries.map((s) => s.TransformJobName),
  type: o.ContentType,
  body: await o.Body.transformToString(),
}));
