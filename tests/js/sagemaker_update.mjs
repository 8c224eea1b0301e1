// Sends CreateEndpoint and UpdateEndpoint calls through the AWS SDK for
// JavaScript v3, whose SageMaker model has DeploymentConfig members (such
// as RollingUpdatePolicy) older botocore lacks; each call is followed by
// a DescribeEndpoint. Prints, for each call, the error it got or the
// endpoint's status and LastDeploymentConfig.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and
// CALLS: a JSON list of {"op": "create" | "update", ...the call's input}.
import {
  SageMakerClient, CreateEndpointCommand, UpdateEndpointCommand,
  DescribeEndpointCommand,
} from "@aws-sdk/client-sagemaker";
import { config } from "./client.mjs";

const sm = new SageMakerClient(config);
const results = [];
for (const { op, ...input } of JSON.parse(process.env.CALLS)) {
  const Command = op === "create" ? CreateEndpointCommand : UpdateEndpointCommand;
  try {
    await sm.send(new Command(input));
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: input.EndpointName }));
    results.push({ status: d.EndpointStatus, last: d.LastDeploymentConfig ?? null });
  } catch (e) {
    results.push({ error: e.name, message: e.message });
  }
}
console.log(JSON.stringify(results));
