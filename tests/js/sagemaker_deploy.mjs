// Deploys a model and invokes it through the AWS SDK for JavaScript v3's
// SageMaker and SageMaker Runtime clients, with their waiters, as a
// Node.js user would; prints what it saw as JSON.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, MODEL_URL.
import {
  SageMakerClient, CreateModelCommand, CreateEndpointConfigCommand,
  CreateEndpointCommand, DescribeEndpointCommand, ListEndpointsCommand,
  UpdateEndpointWeightsAndCapacitiesCommand, DeleteEndpointCommand,
  waitUntilEndpointInService, waitUntilEndpointDeleted,
} from "@aws-sdk/client-sagemaker";
import {
  SageMakerRuntimeClient, InvokeEndpointCommand,
} from "@aws-sdk/client-sagemaker-runtime";
import { config } from "./client.mjs";

const sm = new SageMakerClient(config);
const rt = new SageMakerRuntimeClient(config);
const name = "js-endpoint";
const wait = { client: sm, maxWaitTime: 60, minDelay: 1 };
const text = (bytes) => new TextDecoder().decode(bytes);
const failure = async (call) => {
  try {
    await call();
    return null;
  } catch (e) {
    return { name: e.name, status: e.$metadata.httpStatusCode, message: e.message,
             original: e.OriginalStatusCode ?? null };
  }
};

await sm.send(new CreateModelCommand({
  ModelName: "js-model", ExecutionRoleArn: "arn:aws:iam::111122223333:role/R",
  PrimaryContainer: {
    Image: "174872318107.dkr.ecr.us-west-2.amazonaws.com/kmeans:1",
    ModelDataUrl: process.env.MODEL_URL,
  },
}));
await sm.send(new CreateEndpointConfigCommand({
  EndpointConfigName: "js-config",
  ProductionVariants: [{ VariantName: "A", ModelName: "js-model", InitialInstanceCount: 1,
                         InstanceType: "ml.m5.large" }],
}));
await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: "js-config" }));
const ready = await waitUntilEndpointInService(wait, { EndpointName: name });
const described = await sm.send(new DescribeEndpointCommand({ EndpointName: name }));
const listed = await sm.send(new ListEndpointsCommand({ NameContains: "js-" }));
const csv = await rt.send(new InvokeEndpointCommand({
  EndpointName: name, ContentType: "text/csv", Body: process.env.ROWS,
}));
const json = await rt.send(new InvokeEndpointCommand({
  EndpointName: name, ContentType: "application/json", Accept: "application/jsonlines",
  Body: JSON.stringify({ instances: [{ features: JSON.parse(process.env.ROW) }] }),
}));
const badRow = await failure(() => rt.send(new InvokeEndpointCommand({
  EndpointName: name, ContentType: "text/csv", Body: "1,2,x" })));
const unknown = await failure(() => rt.send(new InvokeEndpointCommand({
  EndpointName: "js-none", ContentType: "text/csv", Body: "1" })));
await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({
  EndpointName: name,
  DesiredWeightsAndCapacities: [{ VariantName: "A", DesiredInstanceCount: 2 }],
}));
await waitUntilEndpointInService(wait, { EndpointName: name });
const grown = await sm.send(new DescribeEndpointCommand({ EndpointName: name }));
await sm.send(new DeleteEndpointCommand({ EndpointName: name }));
const gone = await waitUntilEndpointDeleted(wait, { EndpointName: name });

console.log(JSON.stringify({
  ready: ready.state,
  status: described.EndpointStatus,
  dates: described.CreationTime instanceof Date && described.LastModifiedTime instanceof Date,
  listed: listed.Endpoints.map((e) => e.EndpointName),
  csv: { type: csv.ContentType, variant: csv.InvokedProductionVariant, body: JSON.parse(text(csv.Body)) },
  jsonlines: { type: json.ContentType, body: text(json.Body) },
  badRow,
  unknown,
  grown: grown.ProductionVariants.map((v) => v.CurrentInstanceCount),
  gone: gone.state,
}));
