// Asynchronous inference through the AWS SDK for JavaScript v3: an
// endpoint config with AsyncInferenceConfig (S3FailurePath included),
// InvokeEndpointAsync, and the results read back from S3, as a Node.js
// user would; prints what it saw as JSON.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// MODEL_NAME (an existing model), ROWS (CSV).
import {
  SageMakerClient, CreateEndpointConfigCommand, CreateEndpointCommand,
  DescribeEndpointCommand, DeleteEndpointCommand, waitUntilEndpointInService,
} from "@aws-sdk/client-sagemaker";
import {
  SageMakerRuntimeClient, InvokeEndpointAsyncCommand,
} from "@aws-sdk/client-sagemaker-runtime";
import {
  CreateBucketCommand, PutObjectCommand, GetObjectCommand,
} from "@aws-sdk/client-s3";
import { config, s3 } from "./client.mjs";

const sm = new SageMakerClient(config);
const rt = new SageMakerRuntimeClient(config);
const name = "js-async";

// The object at an s3:// URI once it is there.
const fetch = async (uri) => {
  const [, bucket, key] = uri.match(/^s3:\/\/([^/]+)\/(.*)$/);
  for (let i = 0; i < 300; i++) {
    try {
      const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return { type: o.ContentType, body: await o.Body.transformToString() };
    } catch (e) {
      if (e.name !== "NoSuchKey") throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${uri} never appeared`);
};

await s3.send(new CreateBucketCommand({ Bucket: "js-async" }));
await s3.send(new PutObjectCommand({ Bucket: "js-async", Key: "in/rows.csv",
                                     Body: process.env.ROWS }));
await s3.send(new PutObjectCommand({ Bucket: "js-async", Key: "in/bad.csv", Body: "1,2,x" }));
await sm.send(new CreateEndpointConfigCommand({
  EndpointConfigName: name,
  ProductionVariants: [{ VariantName: "A", ModelName: process.env.MODEL_NAME,
                         InitialInstanceCount: 1, InstanceType: "ml.m5.large" }],
  AsyncInferenceConfig: {
    OutputConfig: { S3OutputPath: "s3://js-async/out", S3FailurePath: "s3://js-async/failed" },
  },
}));
await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
await waitUntilEndpointInService({ client: sm, maxWaitTime: 60, minDelay: 1 },
                                 { EndpointName: name });
const described = await sm.send(new DescribeEndpointCommand({ EndpointName: name }));
const good = await rt.send(new InvokeEndpointAsyncCommand({
  EndpointName: name, ContentType: "text/csv", InputLocation: "s3://js-async/in/rows.csv",
  InferenceId: "js-1", RequestTTLSeconds: 600,
}));
const bad = await rt.send(new InvokeEndpointAsyncCommand({
  EndpointName: name, ContentType: "text/csv", InputLocation: "s3://js-async/in/bad.csv",
}));
const result = await fetch(good.OutputLocation);
const error = await fetch(bad.FailureLocation);
await sm.send(new DeleteEndpointCommand({ EndpointName: name }));

console.log(JSON.stringify({
  async: described.AsyncInferenceConfig,
  good: { id: good.InferenceId, output: good.OutputLocation, failure: good.FailureLocation },
  badId: bad.InferenceId,
  result: { type: result.type, body: JSON.parse(result.body) },
  error: error.body,
}));
