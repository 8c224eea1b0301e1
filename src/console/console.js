// console.js - the kiln console: training jobs, one-click deploy and
// retrain, endpoints with a test form, batch transform, tuning, and what
// each job and endpoint used and cost.
//
// It calls kiln's public APIs only (SageMaker, the SageMaker runtime, STS,
// CloudWatch Logs, Cost Explorer), each request signed here with the key
// the user signed in with. The key stays in this tab's sessionStorage.
// Data from the server is put on the page as text, never as markup.
import { canonicalQuery, presign, sign, uriEncode } from "./sigv4.js";

const main = document.getElementById("main");
const errorBox = document.getElementById("error");
const KEY = "kiln.console.creds";
const INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge",
                        "ml.c5.2xlarge", "ml.t2.medium"];

// h("td", {class: "num"}, "12"): an element with attributes (on* are
// listeners) and children (strings become text; null and false are left
// out; arrays are spread).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

function showError(e) {
  errorBox.hidden = !e;
  errorBox.textContent = e ? (e.code ? `${e.code}: ${e.message}` : String(e.message || e)) : "";
}

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function creds() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

async function signedFetch(path, { method = "POST", query, service, body, headers, payload,
                                   c }) {
  c = c || creds();
  const signedHeaders = sign({
    method, host: location.host, path, query, body, headers, service, payload,
    region: c.region, creds: c,
  });
  const qs = canonicalQuery(query);
  return fetch(qs ? `${path}?${qs}` : path, { method, headers: signedHeaders, body });
}

// One call to an AWS JSON 1.1 service; its parsed answer, or an ApiError
// with the service's error code and message.
async function call(service, target, input, c, version = "1.1") {
  const body = JSON.stringify(input || {});
  const res = await signedFetch("/", {
    service, body, c,
    headers: { "Content-Type": `application/x-amz-json-${version}`, "X-Amz-Target": target },
  });
  const text = await res.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!res.ok) {
    const code = (data.__type || res.headers.get("x-amzn-ErrorType") || `HTTP ${res.status}`)
      .split("#").pop().split(":")[0];
    throw new ApiError(code, data.message || data.Message || text, res.status);
  }
  return data;
}

const sm = (op, input) => call("sagemaker", `SageMaker.${op}`, input);
const logs = (op, input) => call("logs", `Logs_20140328.${op}`, input);
const ce = (op, input) => call("ce", `AWSInsightsIndexService.${op}`, input);
const cw = (op, input) =>
  call("monitoring", `GraniteServiceVersion20100801.${op}`, input, undefined, "1.0");

// STS GetCallerIdentity (the Query protocol, XML answer): who the key is.
async function whoami(c) {
  const res = await signedFetch("/", {
    service: "sts", c, body: "Action=GetCallerIdentity&Version=2011-06-15",
    headers: { "Content-Type": "application/x-www-form-urlencoded; charset=utf-8" },
  });
  const xml = new DOMParser().parseFromString(await res.text(), "application/xml");
  const text = (tag) => xml.getElementsByTagName(tag)[0]?.textContent || "";
  if (!res.ok) throw new ApiError(text("Code") || `HTTP ${res.status}`, text("Message"), res.status);
  return { account: text("Account"), arn: text("Arn") };
}

// InvokeEndpoint: the answer's status, body, variant and time taken.
async function invoke(endpoint, contentType, accept, body) {
  const t0 = performance.now();
  const res = await signedFetch(`/endpoints/${encodeURIComponent(endpoint)}/invocations`, {
    service: "sagemaker", body, headers: { "Content-Type": contentType, Accept: accept },
  });
  const text = await res.text();
  return {
    ok: res.ok, status: res.status, text, ms: performance.now() - t0,
    variant: res.headers.get("x-Amzn-Invoked-Production-Variant"),
    error: res.headers.get("x-amzn-ErrorType"),
  };
}

// Every page of a List* operation: the items under `key`.
async function listAll(fn, op, input, key, max = 1000) {
  const items = [];
  let token;
  do {
    const page = await fn(op, { ...input, ...(token ? { NextToken: token } : {}) });
    items.push(...(page[key] || []));
    token = page.NextToken;
  } while (token && items.length < max);
  return items;
}

const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "");

function duration(from, to) {
  if (!from) return "";
  const s = Math.max(0, Math.round((to || Date.now() / 1000) - from));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const status = (s) => h("span", { class: `status ${s}` }, s);

function table(head, rows, numeric = []) {
  return h("table", {},
    h("thead", {}, h("tr", {}, head.map((c, i) =>
      h("th", { class: numeric.includes(i) ? "num" : null }, c)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, r.map((c, i) =>
      h("td", { class: numeric.includes(i) ? "num" : null }, c))))
      : h("tr", {}, h("td", { colspan: head.length, class: "muted" }, "None yet."))));
}

function facts(pairs) {
  return h("dl", {}, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// Views. Each route renders into main; `live()` tells a view whether it is
// still the one on screen, so its refresh loop can end.
let generation = 0;

function live(g) {
  return g === generation;
}

// Calls render() now and again every `ms` while the view is on screen
// and again() says so.
async function refresh(g, ms, render, again = () => true) {
  while (live(g)) {
    try {
      await render();
    } catch (e) {
      if (live(g)) showError(e);
    }
    if (!again()) return;
    await new Promise((r) => setTimeout(r, ms));
  }
}

function page(title, ...kids) {
  main.replaceChildren(h("h1", {}, title), ...kids);
}

const BUSY = new Set(["InProgress", "Stopping", "Creating", "Updating",
                      "Deleting", "SystemUpdating", "RollingBack"]);

async function trainingList(g) {
  const body = h("div");
  page("Training jobs",
    h("div", { class: "actions" }, h("a", { href: "#/training-new", id: "new-job" },
      "New training job")), body);
  await refresh(g, 3000, async () => {
    const jobs = await listAll(sm, "ListTrainingJobs",
      { SortBy: "CreationTime", SortOrder: "Descending", MaxResults: 100 },
      "TrainingJobSummaries", 500);
    if (!live(g)) return;
    body.replaceChildren(table(["Name", "Status", "Created", "Duration"], jobs.map((j) => [
      h("a", { href: `#/training/${encodeURIComponent(j.TrainingJobName)}` }, j.TrainingJobName),
      status(j.TrainingJobStatus), when(j.CreationTime),
      duration(j.CreationTime, j.TrainingEndTime),
    ])));
  });
}

// A name for a retrained copy of job `name`: its name without an earlier
// timestamp, then the time now, within SageMaker's 63 characters.
function retrainName(name) {
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `${name.replace(/-\d{14}$/, "").slice(0, 48)}-${stamp}`;
}

// CreateTrainingJob with everything job `j` (a DescribeTrainingJob answer)
// was created with, and its tags.
async function retrain(j) {
  const copy = {};
  for (const k of ["RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
                   "StoppingCondition", "HyperParameters", "VpcConfig", "CheckpointConfig",
                   "Environment", "EnableNetworkIsolation", "RetryStrategy"]) {
    if (j[k] !== undefined) copy[k] = j[k];
  }
  const a = j.AlgorithmSpecification;
  copy.AlgorithmSpecification = { TrainingImage: a.TrainingImage,
                                  TrainingInputMode: a.TrainingInputMode };
  if (a.MetricDefinitions?.length) copy.AlgorithmSpecification.MetricDefinitions = a.MetricDefinitions;
  const tags = await sm("ListTags", { ResourceArn: j.TrainingJobArn });
  if (tags.Tags?.length) copy.Tags = tags.Tags;
  copy.TrainingJobName = retrainName(j.TrainingJobName);
  await sm("CreateTrainingJob", copy);
  return copy.TrainingJobName;
}

// The container that serves job `j`'s model: its training image and model
// artifacts and, for a script-mode job (sagemaker_program), the entry point
// and its code, as the SDK's estimator.deploy() names them.
function servingContainer(j) {
  const c = { Image: j.AlgorithmSpecification.TrainingImage,
              ModelDataUrl: j.ModelArtifacts.S3ModelArtifacts };
  const hp = j.HyperParameters || {};
  const decoded = (v) => { try { return JSON.parse(v); } catch { return v; } };
  if (hp.sagemaker_program) {
    c.Environment = { SAGEMAKER_PROGRAM: String(decoded(hp.sagemaker_program)) };
    if (hp.sagemaker_submit_directory) {
      c.Environment.SAGEMAKER_SUBMIT_DIRECTORY = String(decoded(hp.sagemaker_submit_directory));
    }
  }
  return c;
}

// Model, endpoint config and endpoint, all named `name`, serving job
// `j`'s model artifacts with its training image.
async function deploy(j, name, instanceType, count) {
  await sm("CreateModel", {
    ModelName: name, ExecutionRoleArn: j.RoleArn,
    PrimaryContainer: servingContainer(j),
  });
  await sm("CreateEndpointConfig", {
    EndpointConfigName: name,
    ProductionVariants: [{ VariantName: "AllTraffic", ModelName: name,
                           InstanceType: instanceType, InitialInstanceCount: count,
                           InitialVariantWeight: 1 }],
  });
  await sm("CreateEndpoint", { EndpointName: name, EndpointConfigName: name });
}

function deployForm(j) {
  const name = h("input", { name: "endpoint", value: j.TrainingJobName.slice(0, 63),
                            required: true, pattern: "[a-zA-Z0-9](-*[a-zA-Z0-9])*",
                            size: 32 });
  const type = h("select", { name: "instance-type" }, INSTANCE_TYPES.map((t) => h("option", {}, t)));
  const count = h("input", { name: "instance-count", type: "number", min: 1, max: 16,
                             value: 1, size: 3 });
  const button = h("button", { class: "primary", type: "submit", id: "deploy" }, "Deploy");
  return h("form", {
    class: "inline",
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try {
        await deploy(j, name.value, type.value, Number(count.value));
        showError(null);
        location.hash = `#/endpoints/${encodeURIComponent(name.value)}`;
      } catch (e) {
        showError(e);
        button.disabled = false;
      }
    },
  }, h("label", {}, "Endpoint name", name), h("label", {}, "Instance type", type),
  h("label", {}, "Instances", count), button);
}

// Registers job `j`'s model as the next version in model package group
// `group` (made if it is new), pending approval; returns the group.
async function register(j, group) {
  const found = await sm("ListModelPackageGroups", { NameContains: group, MaxResults: 100 });
  if (!(found.ModelPackageGroupSummaryList || []).some((x) =>
    x.ModelPackageGroupName.toLowerCase() === group.toLowerCase())) {
    await sm("CreateModelPackageGroup", { ModelPackageGroupName: group });
  }
  await sm("CreateModelPackage", {
    ModelPackageGroupName: group,
    ModelPackageDescription: `From training job ${j.TrainingJobName}`,
    ModelApprovalStatus: "PendingManualApproval",
    InferenceSpecification: {
      Containers: [servingContainer(j)],
      SupportedContentTypes: ["text/csv", "application/json", "application/jsonlines",
                              "application/x-recordio-protobuf"],
      SupportedResponseMIMETypes: ["application/json", "application/jsonlines",
                                   "application/x-recordio-protobuf", "text/csv"],
    },
  });
  return group;
}

function registerForm(j) {
  const group = h("input", { name: "model-group", required: true, size: 32,
                             pattern: "[a-zA-Z0-9](-*[a-zA-Z0-9])*" });
  const button = h("button", { type: "submit", id: "register" }, "Register");
  return h("form", {
    class: "inline",
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try {
        await register(j, group.value);
        showError(null);
        location.hash = `#/models/${encodeURIComponent(group.value)}`;
      } catch (e) {
        showError(e);
        button.disabled = false;
      }
    },
  }, h("label", {}, "Model group", group), button);
}

async function trainingJob(g, name) {
  const top = h("div");
  const actions = h("div");
  const logBox = h("pre", { id: "log" });
  page(name, top, actions, h("h2", {}, "Log"), logBox);
  let job;
  let shownActions = "";
  await refresh(g, 2000, async () => {
    job = await sm("DescribeTrainingJob", { TrainingJobName: name });
    if (!live(g)) return;
    const r = job.ResourceConfig || {};
    const metrics = job.FinalMetricDataList || [];
    const hp = Object.entries(job.HyperParameters || {});
    top.replaceChildren(
      facts([
        ["Status", h("span", {}, status(job.TrainingJobStatus), " ",
                     h("span", { class: "muted" }, job.SecondaryStatus || ""))],
        ["Failure reason", job.FailureReason],
        ["Algorithm", job.AlgorithmSpecification?.TrainingImage],
        ["Instances", r.InstanceGroups
          ? r.InstanceGroups.map((g) => `${g.InstanceGroupName}: ${g.InstanceCount} x ${g.InstanceType}`).join(", ")
          : `${r.InstanceCount} x ${r.InstanceType}`],
        ["Created", when(job.CreationTime)],
        ["Ran", duration(job.TrainingStartTime, job.TrainingEndTime)],
        ["Billable seconds", job.BillableTimeInSeconds],
        ["Model artifacts", job.ModelArtifacts?.S3ModelArtifacts],
        ["ARN", job.TrainingJobArn],
      ]),
      h("h2", {}, "Hyperparameters"),
      table(["Name", "Value"], hp.map(([k, v]) => [k, v])),
      h("h2", {}, "Final metrics"),
      table(["Metric", "Value"], metrics.map((m) => [m.MetricName, String(m.Value)]), [1]),
    );
    // The buttons are drawn again only when what they offer changes, so a
    // half-filled deploy form survives the refresh.
    const offer = job.TrainingJobStatus;
    if (offer !== shownActions) {
      shownActions = offer;
      const retrainButton = h("button", {
        type: "button", id: "retrain",
        onclick: async () => {
          retrainButton.disabled = true;
          try {
            const next = await retrain(job);
            showError(null);
            location.hash = `#/training/${encodeURIComponent(next)}`;
          } catch (e) {
            showError(e);
            retrainButton.disabled = false;
          }
        },
      }, "Retrain with the same settings");
      actions.replaceChildren(
        ...(job.TrainingJobStatus === "Completed"
          ? [h("h2", {}, "Deploy"), deployForm(job),
             h("h2", {}, "Register in the model registry"), registerForm(job)]
          : []),
        h("div", { class: "actions" }, retrainButton));
    }
    const events = await logs("FilterLogEvents", {
      logGroupName: "/aws/sagemaker/TrainingJobs", logStreamNamePrefix: name, limit: 1000,
    }).then((x) => x.events || [], () => []);
    if (live(g)) logBox.textContent = events.slice(-200).map((e) => e.message).join("\n");
  }, () => BUSY.has(job?.TrainingJobStatus));
}

// One S3 request; its parsed XML answer, or an ApiError with S3's code.
async function s3(method, path, { query, body, headers } = {}) {
  const res = await signedFetch(path, {
    method, query, body, headers, service: "s3", payload: "UNSIGNED-PAYLOAD",
  });
  const text = await res.text();
  const xml = text ? new DOMParser().parseFromString(text, "application/xml") : null;
  if (!res.ok) {
    const get = (tag) => xml?.getElementsByTagName(tag)[0]?.textContent;
    throw new ApiError(get("Code") || `HTTP ${res.status}`, get("Message") || text, res.status);
  }
  return xml;
}

// "/bucket/a%20b/c": a bucket and key as an S3 path, each segment encoded.
const s3path = (bucket, key) => `/${bucket}/${key.split("/").map(uriEncode).join("/")}`;

// The console's own address of a bucket's "folder".
const folder = (bucket, prefix) => `#/s3/${bucket}/${encodeURIComponent(prefix)}`;

const xmlText = (el, tag) => el.getElementsByTagName(tag)[0]?.textContent || "";

function bytesText(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i ? `${v.toFixed(1)} ${units[i]}` : `${v} B`;
}

async function bucketList(g) {
  const body = h("div");
  const name = h("input", { name: "bucket", required: true, placeholder: "my-bucket" });
  const button = h("button", { type: "submit", id: "create-bucket" }, "Create bucket");
  page("Buckets", h("form", {
    class: "inline",
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await s3("PUT", `/${name.value.trim()}`);
        showError(null);
        location.hash = folder(name.value.trim(), "");
      } catch (e) {
        showError(e);
      }
    },
  }, h("label", {}, "New bucket", name), button), body);
  const xml = await s3("GET", "/");
  if (!live(g)) return;
  const buckets = [...xml.getElementsByTagName("Bucket")];
  body.replaceChildren(table(["Bucket", "Created"], buckets.map((b) => [
    h("a", { href: folder(xmlText(b, "Name"), "") }, xmlText(b, "Name")),
    new Date(xmlText(b, "CreationDate")).toLocaleString(),
  ])));
}

// A bucket's "folder": its sub-prefixes and objects (the first 1,000), an
// upload form that puts files under it, and a presigned link to each
// object.
async function bucketView(g, bucket, prefix) {
  const c = creds();
  const files = h("input", { type: "file", name: "files", multiple: true, required: true });
  const dest = h("input", { name: "prefix", value: prefix, size: 32, placeholder: "train/" });
  const progress = h("p", { id: "upload-note", class: "muted" });
  const button = h("button", { class: "primary", type: "submit", id: "upload" }, "Upload");
  const body = h("div");
  const up = prefix.replace(/[^/]*\/$/, "");
  page(`s3://${bucket}/${prefix}`, h("form", {
    class: "inline",
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try {
        const under = dest.value.trim();
        for (const f of files.files) {
          progress.textContent = `Uploading ${f.name} (${bytesText(f.size)})...`;
          await s3("PUT", s3path(bucket, under + f.name), {
            body: f, headers: { "Content-Type": f.type || "application/octet-stream" },
          });
        }
        progress.textContent = `Uploaded ${files.files.length} file(s).`;
        showError(null);
        files.value = "";
        await draw();
      } catch (e) {
        showError(e);
      }
      button.disabled = false;
    },
  }, h("label", {}, "Files", files), h("label", {}, "Under the prefix", dest), button),
  progress, body);
  async function draw() {
    const xml = await s3("GET", `/${bucket}`, {
      query: { "list-type": "2", prefix, delimiter: "/", "max-keys": "1000" },
    });
    if (!live(g)) return;
    const rows = [];
    if (prefix) rows.push([h("a", { href: folder(bucket, up) }, ".."), "", ""]);
    for (const p of xml.getElementsByTagName("CommonPrefixes")) {
      const sub = xmlText(p, "Prefix");
      rows.push([h("a", { href: folder(bucket, sub) }, sub.slice(prefix.length)), "", ""]);
    }
    for (const o of xml.getElementsByTagName("Contents")) {
      const key = xmlText(o, "Key");
      const href = presign({ method: "GET", host: location.host, path: s3path(bucket, key),
                             region: c.region, creds: c, expires: 3600 });
      rows.push([h("a", { href, download: key.split("/").pop() }, key.slice(prefix.length)),
                 bytesText(xmlText(o, "Size")),
                 new Date(xmlText(o, "LastModified")).toLocaleString()]);
    }
    const more = xmlText(xml, "IsTruncated") === "true"
      ? h("p", { class: "muted" }, "Only the first 1,000 are shown.") : null;
    body.replaceChildren(table(["Name", "Size", "Last modified"], rows, [1]), more);
  }
  await draw();
}

const KMEANS_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1";

// "k=10\nfeature_dim=784": HyperParameters, one name=value a line.
function parseHyperParameters(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const eq = t.indexOf("=");
    if (eq <= 0) throw new Error(`Hyperparameter line "${t}" is not name=value.`);
    out[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return out;
}

function channel(name, uri, contentType) {
  return { ChannelName: name, ContentType: contentType,
           DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: uri,
                                         S3DataDistributionType: "FullyReplicated" } } };
}

// A CreateTrainingJob form: k-means (the built-in image) by default, or
// any image; train and optional test channels.
async function newTrainingJob() {
  const c = creds();
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const field = (label, attrs) => {
    const input = h("input", { size: 48, ...attrs });
    return [input, h("label", {}, label, input)];
  };
  const [name, nameL] = field("Job name", { name: "job-name", value: `kmeans-${stamp}`,
                                            required: true });
  const [image, imageL] = field("Algorithm image", { name: "image", value: KMEANS_IMAGE,
                                                     required: true, size: 60 });
  const [train, trainL] = field("Training data (S3 URI)", { name: "train",
                                                            placeholder: "s3://bucket/train/",
                                                            required: true });
  const [test, testL] = field("Test data (S3 URI, optional)", { name: "test",
                                                               placeholder: "s3://bucket/test/" });
  const ctype = h("select", { name: "content-type" },
    h("option", { value: "application/x-recordio-protobuf" }, "RecordIO-protobuf"),
    h("option", { value: "text/csv" }, "CSV"));
  const hp = h("textarea", { name: "hyperparameters" },
    "k=10\nfeature_dim=784\nmini_batch_size=500");
  const [out, outL] = field("Output path (S3 URI)", { name: "output", required: true,
                                                      placeholder: "s3://bucket/output" });
  const type = h("select", { name: "instance-type" }, INSTANCE_TYPES.map((t) => h("option", {}, t)));
  const [count, countL] = field("Instances", { name: "instance-count", type: "number", min: 1,
                                               max: 16, value: 1, size: 3 });
  const [role, roleL] = field("Role", { name: "role", size: 60,
                                        value: `arn:aws:iam::${c.account}:role/SageMakerRole` });
  const button = h("button", { class: "primary", type: "submit", id: "create-job" }, "Create");
  page("New training job", h("form", {
    class: "login wide",
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try {
        const channels = [channel("train", train.value.trim(), ctype.value)];
        if (test.value.trim()) channels.push(channel("test", test.value.trim(), ctype.value));
        await sm("CreateTrainingJob", {
          TrainingJobName: name.value.trim(), RoleArn: role.value.trim(),
          AlgorithmSpecification: { TrainingImage: image.value.trim(), TrainingInputMode: "File" },
          InputDataConfig: channels, HyperParameters: parseHyperParameters(hp.value),
          OutputDataConfig: { S3OutputPath: out.value.trim() },
          ResourceConfig: { InstanceType: type.value, InstanceCount: Number(count.value),
                            VolumeSizeInGB: 10 },
          StoppingCondition: { MaxRuntimeInSeconds: 3600 },
        });
        showError(null);
        location.hash = `#/training/${encodeURIComponent(name.value.trim())}`;
      } catch (e) {
        showError(e);
        button.disabled = false;
      }
    },
  }, nameL, imageL, trainL, testL, h("label", {}, "Content type", ctype),
  h("label", {}, "Hyperparameters (name=value, one a line)", hp), outL,
  h("label", {}, "Instance type", type), countL, roleL, button));
}

async function endpointList(g) {
  const body = h("div");
  page("Endpoints", body);
  await refresh(g, 3000, async () => {
    const eps = await listAll(sm, "ListEndpoints",
      { SortBy: "CreationTime", SortOrder: "Descending", MaxResults: 100 },
      "Endpoints", 500);
    if (!live(g)) return;
    body.replaceChildren(table(["Name", "Status", "Created", "Last modified"], eps.map((e) => [
      h("a", { href: `#/endpoints/${encodeURIComponent(e.EndpointName)}` }, e.EndpointName),
      status(e.EndpointStatus), when(e.CreationTime), when(e.LastModifiedTime),
    ])));
  });
}

function testForm(name) {
  const ctype = h("select", { name: "content-type" },
    ["text/csv", "application/json", "application/jsonlines"].map((t) => h("option", {}, t)));
  const accept = h("select", { name: "accept" },
    ["application/json", "application/jsonlines", "text/csv"].map((t) => h("option", {}, t)));
  const body = h("textarea", { name: "body", placeholder: "1.5,2.0,0.3" });
  const out = h("pre", { id: "answer", hidden: true });
  const note = h("p", { id: "answer-note", class: "muted" });
  const button = h("button", { class: "primary", type: "submit", id: "invoke" }, "Invoke");
  return h("form", {
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try {
        const r = await invoke(name, ctype.value, accept.value, body.value);
        note.textContent = r.ok
          ? `${r.status} from variant ${r.variant} in ${r.ms.toFixed(1)} ms`
          : `${r.status} ${r.error || ""}`;
        out.textContent = r.text;
        out.hidden = false;
        showError(null);
      } catch (e) {
        showError(e);
      }
      button.disabled = false;
    },
  }, body, h("div", { class: "inline" }, h("label", {}, "Content type", ctype),
    h("label", {}, "Accept", accept), button), note, out);
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...kids);
  return el;
}

// Bars of `values` (one a minute, oldest first), each titled.
function barChart(values, titles) {
  const w = 12;
  const height = 60;
  const top = Math.max(1, ...values);
  return svg("svg", { id: "invocations-chart", width: values.length * w, height,
                      viewBox: `0 0 ${values.length * w} ${height}`, role: "img" },
    ...values.map((v, i) => {
      const bh = Math.round((v / top) * (height - 2));
      return svg("rect", { x: i * w, y: height - bh, width: w - 1, height: bh, class: "bar" },
        svg("title", {}, titles[i]));
    }));
}

const MONITORED = [["Invocations", "Sum"], ["Invocation4XXErrors", "Sum"],
                   ["Invocation5XXErrors", "Sum"], ["ModelLatency", "Average"],
                   ["OverheadLatency", "Average"]];

// The last hour of an endpoint's AWS/SageMaker metrics, by minute and
// variant, from CloudWatch's GetMetricData: a chart of invocations and a
// table per variant.
async function endpointMetrics(name, variants) {
  const end = (Math.floor(Date.now() / 60000) + 1) * 60;
  const start = end - 3600;
  const queries = [];
  variants.forEach((v, vi) => MONITORED.forEach(([metric, stat], mi) => queries.push({
    Id: `m${vi}_${mi}`, ReturnData: true,
    MetricStat: { Period: 60, Stat: stat, Metric: {
      Namespace: "AWS/SageMaker", MetricName: metric,
      Dimensions: [{ Name: "EndpointName", Value: name }, { Name: "VariantName", Value: v }],
    } },
  })));
  // An endpoint still being created has no variants to ask about yet.
  const r = queries.length ? await cw("GetMetricData", { MetricDataQueries: queries,
                                                         StartTime: start, EndTime: end })
    : {};
  const series = new Map((r.MetricDataResults || []).map((x) => [x.Id, x]));
  const byMinute = new Array(60).fill(0);
  const rows = variants.map((v, vi) => {
    const get = (mi) => series.get(`m${vi}_${mi}`) || { Timestamps: [], Values: [] };
    const inv = get(0);
    const counts = new Map(inv.Timestamps.map((t, i) => [t, inv.Values[i]]));
    inv.Timestamps.forEach((t, i) => {
      const slot = Math.floor((t - start) / 60);
      if (slot >= 0 && slot < 60) byMinute[slot] += inv.Values[i];
    });
    const sum = (mi) => get(mi).Values.reduce((a, b) => a + b, 0);
    // Minute averages weighted by that minute's invocations.
    const mean = (mi) => {
      const s = get(mi);
      let n = 0;
      let total = 0;
      s.Timestamps.forEach((t, i) => {
        const w = counts.get(t) || 0;
        n += w;
        total += w * s.Values[i];
      });
      return n ? `${(total / n).toFixed(0)} µs` : "";
    };
    return [v, String(sum(0)), String(sum(1)), String(sum(2)), mean(3), mean(4)];
  });
  const titles = byMinute.map((n, i) =>
    `${new Date((start + 60 * i) * 1000).toLocaleTimeString()}: ${n} invocations`);
  return h("div", { id: "metrics" },
    barChart(byMinute, titles),
    table(["Variant", "Invocations", "4XX errors", "5XX errors", "Model latency",
           "Overhead latency"], rows, [1, 2, 3, 4, 5]));
}

const DATA_NS = "aws/sagemaker/Endpoints/data-metrics";
const FEATURE_METRICS = [["data", "Average"], ["non_null", "Average"],
                         ["baseline_drift", "Maximum"]];

// The per-feature metrics the endpoint's checks published to CloudWatch
// (Model Monitor's data metrics) over the last day: for each schedule and
// feature, the latest mean, share of values present and drift distance.
async function featureMetrics(name) {
  const listed = await listAll(cw, "ListMetrics", {
    Namespace: DATA_NS, Dimensions: [{ Name: "Endpoint", Value: name }],
  }, "Metrics", 500);
  const found = [];
  for (const m of listed) {
    const k = FEATURE_METRICS.findIndex(([kind]) => m.MetricName.startsWith(`feature_${kind}_`));
    const schedule = (m.Dimensions || []).find((d) => d.Name === "MonitoringSchedule")?.Value;
    if (k >= 0 && schedule !== undefined) {
      found.push({ m, k, schedule,
                   feature: m.MetricName.slice(`feature_${FEATURE_METRICS[k][0]}_`.length) });
    }
  }
  const latest = new Map();
  if (found.length) {
    const end = (Math.floor(Date.now() / 60000) + 1) * 60;
    const r = await cw("GetMetricData", {
      StartTime: end - 86400, EndTime: end, ScanBy: "TimestampDescending",
      MetricDataQueries: found.map((f, i) => ({
        Id: `f${i}`, ReturnData: true,
        MetricStat: { Period: 3600, Stat: FEATURE_METRICS[f.k][1], Metric: {
          Namespace: DATA_NS, MetricName: f.m.MetricName, Dimensions: f.m.Dimensions } },
      })),
    });
    for (const x of r.MetricDataResults || []) {
      if (x.Values?.length) latest.set(x.Id, x.Values[0]);
    }
  }
  const rows = new Map();
  found.forEach((f, i) => {
    const key = `${f.schedule}\n${f.feature}`;
    if (!rows.has(key)) rows.set(key, [f.schedule, f.feature, "", "", ""]);
    const v = latest.get(`f${i}`);
    if (v === undefined) return;
    rows.get(key)[2 + f.k] = f.k === 1 ? `${(100 * v).toFixed(1)}%` : v.toFixed(4);
  });
  return h("div", { id: "feature-metrics" },
    table(["Schedule", "Feature", "Mean", "Present", "Drift"],
      [...rows.values()].sort((a, b) => (a[0] + a[1]).localeCompare(b[0] + b[1])), [2, 3, 4]));
}

// The endpoint's monitoring schedules and their latest executions
// (Model Monitor's data quality).
async function dataQuality(name) {
  const schedules = await listAll(sm, "ListMonitoringSchedules", { EndpointName: name },
    "MonitoringScheduleSummaries", 100);
  const runs = await sm("ListMonitoringExecutions", {
    EndpointName: name, SortBy: "ScheduledTime", SortOrder: "Descending", MaxResults: 10,
  });
  return [
    table(["Schedule", "Status"], schedules.map((x) => [
      x.MonitoringScheduleName, status(x.MonitoringScheduleStatus)])),
    h("h2", {}, "Latest checks"),
    table(["Scheduled", "Schedule", "Result", "Failure"],
      (runs.MonitoringExecutionSummaries || []).map((x) => [
        when(x.ScheduledTime), x.MonitoringScheduleName, status(x.MonitoringExecutionStatus),
        x.FailureReason || ""])),
    h("h2", {}, "Features, latest check"),
    await featureMetrics(name),
  ];
}

async function endpointView(g, name) {
  const top = h("div");
  const rest = h("div");
  const monitor = h("div");
  const quality = h("div", { id: "data-quality" });
  page(name, top, rest, h("h2", {}, "Invocations, last hour"), monitor,
    h("h2", {}, "Data quality"), quality);
  let ep;
  let gone = false;
  let drawn = "";
  await refresh(g, 2000, async () => {
    try {
      ep = await sm("DescribeEndpoint", { EndpointName: name });
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== "ValidationException") throw e;
      gone = true;
      top.replaceChildren(h("p", { id: "gone" }, e.message));
      rest.replaceChildren();
      monitor.replaceChildren();
      return;
    }
    if (!live(g)) return;
    const variants = ep.ProductionVariants || [];
    top.replaceChildren(
      facts([
        ["Status", status(ep.EndpointStatus)],
        ["Failure reason", ep.FailureReason],
        ["Endpoint config", ep.EndpointConfigName],
        ["Data capture", ep.DataCaptureConfig?.EnableCapture
          ? `${ep.DataCaptureConfig.CaptureStatus}, ${ep.DataCaptureConfig.CurrentSamplingPercentage}%`
            + ` of requests to ${ep.DataCaptureConfig.DestinationS3Uri}`
          : "off"],
        ["Created", when(ep.CreationTime)],
        ["Last modified", when(ep.LastModifiedTime)],
        ["ARN", ep.EndpointArn],
      ]),
      h("h2", {}, "Variants"),
      table(["Variant", "Instances", "Weight"], variants.map((v) => [
        v.VariantName, `${v.CurrentInstanceCount ?? ""} of ${v.DesiredInstanceCount ?? ""}`,
        String(v.CurrentWeight ?? ""),
      ]), [1, 2]),
    );
    const metrics = await endpointMetrics(name, variants.map((v) => v.VariantName));
    const checks = await dataQuality(name);
    if (!live(g)) return;
    monitor.replaceChildren(metrics);
    quality.replaceChildren(...checks);
    if (ep.EndpointStatus !== drawn) {
      drawn = ep.EndpointStatus;
      const del = h("button", { type: "button", class: "danger", id: "delete" }, "Delete endpoint");
      del.addEventListener("click", async () => {
        if (del.dataset.armed !== "yes") {
          del.dataset.armed = "yes";
          del.textContent = "Really delete? Click again";
          return;
        }
        del.disabled = true;
        try {
          await sm("DeleteEndpoint", { EndpointName: name });
          showError(null);
        } catch (e) {
          showError(e);
        }
      });
      rest.replaceChildren(
        ...(ep.EndpointStatus === "InService" ? [h("h2", {}, "Test"), testForm(name)] : []),
        h("div", { class: "actions" }, ep.EndpointStatus === "Deleting" ? [] : del));
    }
  }, () => !gone);
}

// The model registry: groups, then a group's versions, each approved or
// rejected with a click, an approved one deployed as an endpoint.
async function modelGroups(g) {
  const body = h("div");
  page("Models", body);
  await refresh(g, 3000, async () => {
    const groups = await listAll(sm, "ListModelPackageGroups",
      { SortBy: "CreationTime", SortOrder: "Descending", MaxResults: 100 },
      "ModelPackageGroupSummaryList", 500);
    if (!live(g)) return;
    body.replaceChildren(table(["Group", "Description", "Created"], groups.map((x) => [
      h("a", { href: `#/models/${encodeURIComponent(x.ModelPackageGroupName)}` },
        x.ModelPackageGroupName),
      x.ModelPackageGroupDescription || "", when(x.CreationTime),
    ])));
  });
}

function approvalButton(p, to, label, again) {
  const button = h("button", {
    type: "button", id: `${label.toLowerCase()}-${p.ModelPackageVersion}`,
    onclick: async () => {
      button.disabled = true;
      try {
        await sm("UpdateModelPackage", { ModelPackageArn: p.ModelPackageArn,
                                         ModelApprovalStatus: to });
        showError(null);
        await again();
      } catch (e) {
        showError(e);
        button.disabled = false;
      }
    },
  }, label);
  return button;
}

function deployVersionForm(approved) {
  const version = h("select", { name: "version" }, approved.map((p) =>
    h("option", { value: p.ModelPackageArn }, `Version ${p.ModelPackageVersion}`)));
  const name = h("input", { name: "endpoint", required: true, size: 32,
                            pattern: "[a-zA-Z0-9](-*[a-zA-Z0-9])*" });
  const type = h("select", { name: "instance-type" }, INSTANCE_TYPES.map((t) => h("option", {}, t)));
  const count = h("input", { name: "instance-count", type: "number", min: 1, max: 16,
                             value: 1, size: 3 });
  const button = h("button", { class: "primary", type: "submit", id: "deploy-version" },
                   "Deploy");
  return h("form", {
    class: "inline",
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try {
        await sm("CreateModel", { ModelName: name.value,
                                  PrimaryContainer: { ModelPackageName: version.value } });
        await sm("CreateEndpointConfig", {
          EndpointConfigName: name.value,
          ProductionVariants: [{ VariantName: "AllTraffic", ModelName: name.value,
                                 InstanceType: type.value,
                                 InitialInstanceCount: Number(count.value),
                                 InitialVariantWeight: 1 }],
        });
        await sm("CreateEndpoint", { EndpointName: name.value,
                                     EndpointConfigName: name.value });
        showError(null);
        location.hash = `#/endpoints/${encodeURIComponent(name.value)}`;
      } catch (e) {
        showError(e);
        button.disabled = false;
      }
    },
  }, h("label", {}, "Version", version), h("label", {}, "Endpoint name", name),
  h("label", {}, "Instance type", type), h("label", {}, "Instances", count), button);
}

async function modelGroup(g, group) {
  const body = h("div", { id: "versions" });
  const actions = h("div");
  page(group, body, h("h2", {}, "Deploy an approved version"), actions);
  let shownApproved = null;
  const draw = async () => {
    const versions = await listAll(sm, "ListModelPackages",
      { ModelPackageGroupName: group, SortBy: "CreationTime", SortOrder: "Descending",
        MaxResults: 100 }, "ModelPackageSummaryList", 500);
    if (!live(g)) return;
    body.replaceChildren(table(["Version", "Approval", "Created", "Description", ""],
      versions.map((p) => [
        String(p.ModelPackageVersion), status(p.ModelApprovalStatus), when(p.CreationTime),
        p.ModelPackageDescription || "",
        h("span", {}, ...(p.ModelApprovalStatus === "Approved" ? []
          : [approvalButton(p, "Approved", "Approve", draw)]),
          ...(p.ModelApprovalStatus === "Rejected" ? []
            : [" ", approvalButton(p, "Rejected", "Reject", draw)])),
      ]), [0]));
    // The form is drawn again only when the approved versions change, so a
    // half-filled one survives the refresh.
    const approved = versions.filter((p) => p.ModelApprovalStatus === "Approved");
    const key = approved.map((p) => p.ModelPackageArn).join(" ");
    if (key !== shownApproved) {
      shownApproved = key;
      actions.replaceChildren(approved.length ? deployVersionForm(approved)
        : h("p", { class: "muted" }, "No version is approved yet."));
    }
  };
  await refresh(g, 3000, draw);
}

async function simpleList(g, title, op, key, nameKey, statusKey) {
  const body = h("div");
  page(title, body);
  await refresh(g, 3000, async () => {
    const items = await listAll(sm, op,
      { SortBy: "CreationTime", SortOrder: "Descending", MaxResults: 100 }, key, 500);
    if (!live(g)) return;
    body.replaceChildren(table(["Name", "Status", "Created", "Duration"], items.map((x) => [
      x[nameKey], status(x[statusKey]), when(x.CreationTime),
      duration(x.CreationTime,
               x.TransformEndTime || x.HyperParameterTuningEndTime || x.ProcessingEndTime),
    ])));
  });
}

const day = (d) => d.toISOString().slice(0, 10);

// The last 14 days of instance-hours and cost per job and endpoint, from
// Cost Explorer's GetCostAndUsageWithResources.
async function costView(g) {
  const body = h("div");
  page("Usage and cost", h("p", { class: "muted" },
    "Instance-hours of training jobs, transform jobs and endpoints over the last 14 days, "
    + "metered by the minute, priced with the server's --price-list."), body);
  await refresh(g, 10000, async () => {
    const end = new Date(Date.now() + 86400000);
    const start = new Date(end.getTime() - 14 * 86400000);
    const rows = new Map();
    let token;
    do {
      const r = await ce("GetCostAndUsageWithResources", {
        TimePeriod: { Start: day(start), End: day(end) }, Granularity: "DAILY",
        Metrics: ["UnblendedCost", "UsageQuantity"],
        Filter: { Dimensions: { Key: "SERVICE", Values: ["Amazon SageMaker"] } },
        GroupBy: [{ Type: "DIMENSION", Key: "RESOURCE_ID" },
                  { Type: "DIMENSION", Key: "USAGE_TYPE" }],
        ...(token ? { NextPageToken: token } : {}),
      });
      for (const period of r.ResultsByTime || []) {
        for (const grp of period.Groups || []) {
          const k = grp.Keys.join("\n");
          const row = rows.get(k) || { keys: grp.Keys, hours: 0, cost: 0 };
          row.hours += Number(grp.Metrics.UsageQuantity.Amount);
          row.cost += Number(grp.Metrics.UnblendedCost.Amount);
          rows.set(k, row);
        }
      }
      token = r.NextPageToken;
    } while (token);
    if (!live(g)) return;
    const list = [...rows.values()].sort((a, b) => b.cost - a.cost || b.hours - a.hours);
    const total = list.reduce((s, r) => s + r.cost, 0);
    body.replaceChildren(
      table(["Resource", "Usage type", "Instance-hours", "Cost (USD)"], list.map((r) => {
        const [arn, usage] = r.keys;
        return [h("span", { title: arn }, arn.split(":").pop()), usage,
                r.hours.toFixed(6), r.cost.toFixed(6)];
      }), [2, 3]),
      h("p", { id: "cost-total" }, `Total: ${total.toFixed(6)} USD`),
      total === 0 && list.length
        ? h("p", { class: "muted" }, "Costs read 0: this server has no price list "
          + "(kiln server --price-list prices.json).") : null,
    );
  });
}

function signIn() {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  const akid = h("input", { name: "access-key-id", required: true, autocomplete: "username" });
  const secret = h("input", { name: "secret-access-key", type: "password", required: true,
                              autocomplete: "current-password" });
  const region = h("input", { name: "region", value: "us-east-1", required: true });
  const button = h("button", { class: "primary", type: "submit", id: "sign-in" }, "Sign in");
  page("Sign in", h("form", {
    class: "login",
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      const c = { akid: akid.value.trim(), secret: secret.value, region: region.value.trim() };
      try {
        const who = await whoami(c);
        sessionStorage.setItem(KEY, JSON.stringify({ ...c, ...who }));
        showError(null);
        if (!location.hash || location.hash === "#/signin") location.hash = "#/training";
        else route();
      } catch (e) {
        showError(e);
        button.disabled = false;
      }
    },
  }, h("p", { class: "muted" }, "Sign in with an access key that kiln knows "
    + "(kiln admin keys add). Every request this page makes is signed with it."),
  h("label", {}, "Access key ID", akid), h("label", {}, "Secret access key", secret),
  h("label", {}, "Region", region), button));
}

const routes = [
  [/^#\/training$/, trainingList],
  [/^#\/training-new$/, newTrainingJob],
  [/^#\/training\/([^/]+)$/, trainingJob],
  [/^#\/endpoints$/, endpointList],
  [/^#\/endpoints\/([^/]+)$/, endpointView],
  [/^#\/models$/, modelGroups],
  [/^#\/models\/([^/]+)$/, modelGroup],
  [/^#\/transform$/, (g) => simpleList(g, "Batch transform jobs", "ListTransformJobs",
    "TransformJobSummaries", "TransformJobName", "TransformJobStatus")],
  [/^#\/tuning$/, (g) => simpleList(g, "Hyperparameter tuning jobs",
    "ListHyperParameterTuningJobs", "HyperParameterTuningJobSummaries",
    "HyperParameterTuningJobName", "HyperParameterTuningJobStatus")],
  [/^#\/processing$/, (g) => simpleList(g, "Processing jobs", "ListProcessingJobs",
    "ProcessingJobSummaries", "ProcessingJobName", "ProcessingJobStatus")],
  [/^#\/cost$/, costView],
  [/^#\/s3$/, bucketList],
  [/^#\/s3\/([^/]+)\/(.*)$/, bucketView],
];

function route() {
  const g = ++generation;
  showError(null);
  const c = creds();
  if (!c) {
    signIn();
    return;
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  document.getElementById("who").textContent = `account ${c.account}`;
  const hash = location.hash || "#/training";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("here", hash.startsWith(a.getAttribute("href")));
  }
  for (const [re, view] of routes) {
    const m = hash.match(re);
    if (m) {
      view(g, ...m.slice(1).map(decodeURIComponent)).catch((e) => live(g) && showError(e));
      return;
    }
  }
  location.hash = "#/training";
}

document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  route();
});
window.addEventListener("hashchange", route);
route();
