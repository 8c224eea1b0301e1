// CloudWatch through the AWS SDK for JavaScript v3, which speaks AWS JSON
// 1.0 to it (query compatible): the endpoint metrics by GetMetricData and
// GetMetricStatistics, an alarm created, listed and deleted, and an error
// as the SDK names it. Prints what it saw as JSON.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// ENDPOINT_NAME (with invocations in the last few minutes).
import {
  CloudWatchClient, GetMetricDataCommand, GetMetricStatisticsCommand,
  PutMetricAlarmCommand, DescribeAlarmsCommand, DeleteAlarmsCommand,
} from "@aws-sdk/client-cloudwatch";
import { config } from "./client.mjs";

const cw = new CloudWatchClient(config);
const Dimensions = [{ Name: "EndpointName", Value: process.env.ENDPOINT_NAME },
                    { Name: "VariantName", Value: "AllTraffic" }];
const EndTime = new Date(Date.now() + 300e3);
const StartTime = new Date(Date.now() - 600e3);
const data = await cw.send(new GetMetricDataCommand({
  StartTime, EndTime, ScanBy: "TimestampAscending",
  MetricDataQueries: [{ Id: "calls", MetricStat: {
    Metric: { Namespace: "AWS/SageMaker", MetricName: "Invocations", Dimensions },
    Period: 900, Stat: "Sum" } }],
}));
const stats = await cw.send(new GetMetricStatisticsCommand({
  Namespace: "AWS/SageMaker", MetricName: "ModelLatency", Dimensions,
  StartTime, EndTime, Period: 900, Statistics: ["SampleCount", "Maximum"],
}));
await cw.send(new PutMetricAlarmCommand({
  AlarmName: "js-alarm", Namespace: "AWS/SageMaker", MetricName: "Invocations",
  Dimensions, Statistic: "Sum", Period: 60, EvaluationPeriods: 2, Threshold: 1e6,
  ComparisonOperator: "GreaterThanThreshold",
}));
const alarms = await cw.send(new DescribeAlarmsCommand({ AlarmNames: ["js-alarm"] }));
await cw.send(new DeleteAlarmsCommand({ AlarmNames: ["js-alarm"] }));
let missing;
try {
  await cw.send(new DeleteAlarmsCommand({ AlarmNames: ["js-alarm"] }));
} catch (e) {
  missing = { name: e.name, status: e.$metadata.httpStatusCode };
}
const [r] = data.MetricDataResults;
const [a] = alarms.MetricAlarms;
console.log(JSON.stringify({
  values: r.Values, timestampIsDate: r.Timestamps[0] instanceof Date,
  samples: stats.Datapoints.map((p) => p.SampleCount),
  latencyUnit: stats.Datapoints[0]?.Unit,
  alarm: { name: a.AlarmName, period: a.Period, state: a.StateValue,
           updatedIsDate: a.StateUpdatedTimestamp instanceof Date },
  missing,
}));
