// InvokeEndpointWithResponseStream through the AWS SDK for JavaScript v3,
// as a Node.js user reads a streamed answer: the PayloadPart events of the
// response body joined in order. Prints what it saw as JSON.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// ENDPOINT_NAME (in service), ROWS (CSV).
import {
  SageMakerRuntimeClient, InvokeEndpointWithResponseStreamCommand,
} from "@aws-sdk/client-sagemaker-runtime";
import { config } from "./client.mjs";

const rt = new SageMakerRuntimeClient(config);
const out = await rt.send(new InvokeEndpointWithResponseStreamCommand({
  EndpointName: process.env.ENDPOINT_NAME, ContentType: "text/csv",
  Accept: "application/jsonlines", CustomAttributes: "trace=js-1",
  Body: process.env.ROWS,
}));
const parts = [];
for await (const event of out.Body) {
  if (event.PayloadPart) parts.push(Buffer.from(event.PayloadPart.Bytes));
  else throw new Error(`unexpected event ${JSON.stringify(event)}`);
}
let bad;
try {
  const r = await rt.send(new InvokeEndpointWithResponseStreamCommand({
    EndpointName: process.env.ENDPOINT_NAME, ContentType: "text/csv", Body: "1,2,x",
  }));
  for await (const event of r.Body) void event;
} catch (e) {
  bad = { name: e.name, status: e.$metadata.httpStatusCode, message: e.message };
}
console.log(JSON.stringify({
  contentType: out.ContentType, variant: out.InvokedProductionVariant,
  parts: parts.length, body: Buffer.concat(parts).toString(), bad,
}));
