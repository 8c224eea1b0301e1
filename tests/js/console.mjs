// The web console in a real browser (Debian's Chromium, driven by
// playwright-core), as a user clicks through it; prints what it saw as JSON.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, PHASE:
//   train   sign in with a wrong secret, then the right one; create bucket
//           BUCKET, upload file DATA under train/, fetch its presigned
//           link; create training job JOB on it with HYPERPARAMETERS and
//           wait until it completes;
//   deploy  deploy JOB as endpoint ENDPOINT, invoke it with ROW, read the
//           usage page, retrain JOB;
//   delete  read ENDPOINT's metrics until its Invocations reach INVOKED,
//           delete it, sign out;
//   quality read the per-feature metrics on ENDPOINT's page;
//   registry register JOB's model in model group GROUP, approve it and
//           deploy it as endpoint ENDPOINT;
//   script  deploy script-mode job JOB as endpoint ENDPOINT and invoke it
//           with ROW (CSV), answered as JSON.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.KILN_URL;
const url = `${base}/console/`;
const { JOB, ENDPOINT, ROW, PHASE, BUCKET, DATA, GROUP } = process.env;
const seen = { pageErrors: [], consoleErrors: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(60000);
  page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && seen.consoleErrors.push(m.text()));
  seen.failed = [];
  page.on("response", async (r) => {
    if (r.status() >= 400) {
      const type = await r.json().then((x) => x.__type, () => undefined);
      seen.failed.push([r.status(), r.request().headers()["x-amz-target"] || r.url(), type]
        .filter((x) => x !== undefined).join(" "));
    }
  });

  async function signIn(secret) {
    await page.fill("input[name=access-key-id]", process.env.AWS_ACCESS_KEY_ID);
    await page.fill("input[name=secret-access-key]", secret);
    await page.click("#sign-in");
  }

  await page.goto(url);
  await page.waitForSelector("#sign-in");
  if (PHASE === "train") {
    await signIn("not-the-secret");
    await page.waitForSelector("#error:not([hidden])");
    seen.badSignIn = await page.textContent("#error");
    seen.navAfterBadSignIn = await page.isVisible("#nav");
    await page.reload();
    await page.waitForSelector("#sign-in");
  }
  await signIn(process.env.AWS_SECRET_ACCESS_KEY);
  await page.waitForSelector("#nav:not([hidden])");
  seen.who = await page.textContent("#who");

  if (PHASE === "train") {
    await page.click('nav a[href="#/s3"]');
    await page.fill("input[name=bucket]", BUCKET);
    await page.click("#create-bucket");
    await page.waitForSelector("#upload");
    await page.setInputFiles("input[name=files]", DATA);
    await page.fill("input[name=prefix]", "train/");
    await page.click("#upload");
    await page.waitForFunction(() =>
      document.getElementById("upload-note").textContent.startsWith("Uploaded"));
    await page.click('a:text-is("train/")');
    const name = basename(DATA);
    const link = page.locator(`a:text-is("${name}")`);
    await link.waitFor();
    seen.listing = await page.textContent("main table");
    // The presigned link works without the console: plain HTTP.
    const href = await link.getAttribute("href");
    const got = Buffer.from(await (await fetch(base + href)).arrayBuffer());
    seen.downloadMatches = got.equals(await readFile(DATA));

    await page.click('nav a[href="#/training"]');
    await page.click("#new-job");
    await page.fill("input[name=job-name]", JOB);
    await page.fill("input[name=train]", `s3://${BUCKET}/train/`);
    await page.selectOption("select[name=content-type]", "text/csv");
    await page.fill("textarea[name=hyperparameters]", process.env.HYPERPARAMETERS);
    await page.fill("input[name=output]", `s3://${BUCKET}/output`);
    await page.click("#create-job");
    await page.waitForURL(`**#/training/${JOB}`);
    await page.waitForSelector("#deploy", { timeout: 120000 });
    seen.listed = await page.textContent("main dl");
  } else if (PHASE === "deploy") {
    await page.waitForSelector(`a[href="#/training/${JOB}"]`);
    seen.listed = await page.textContent(`tr:has(a[href="#/training/${JOB}"])`);
    await page.click(`a[href="#/training/${JOB}"]`);
    await page.waitForSelector("#deploy");
    seen.details = await page.textContent("main dl");
    seen.tables = await page.$$eval("main table", (ts) => ts.map((t) => t.innerText));
    await page.waitForFunction(() => document.getElementById("log").textContent.length > 0);
    seen.log = await page.textContent("#log");

    await page.fill("input[name=endpoint]", ENDPOINT);
    await page.selectOption("select[name=instance-type]", "ml.c5.xlarge");
    await page.click("#deploy");
    await page.waitForURL(`**#/endpoints/${ENDPOINT}`);
    await page.waitForSelector("#invoke", { timeout: 90000 });
    seen.endpoint = await page.textContent("main dl");
    await page.fill("textarea[name=body]", ROW);
    await page.selectOption("select[name=accept]", "application/jsonlines");
    await page.click("#invoke");
    await page.waitForSelector("#answer:not([hidden])");
    seen.answer = await page.textContent("#answer");
    seen.answerNote = await page.textContent("#answer-note");

    await page.click('nav a[href="#/cost"]');
    await page.waitForSelector("#cost-total");
    seen.cost = await page.$$eval("main tbody tr", (rs) =>
      rs.map((r) => [...r.cells].map((c) => c.firstChild?.title || c.innerText)));
    seen.costTotal = await page.textContent("#cost-total");

    await page.click('nav a[href="#/training"]');
    await page.click(`a[href="#/training/${JOB}"]`);
    await page.click("#retrain");
    await page.waitForURL((u) => !u.hash.endsWith(`/${JOB}`) && u.hash.startsWith("#/training/"));
    seen.retrained = decodeURIComponent(new URL(page.url()).hash.slice("#/training/".length));
  } else if (PHASE === "script") {
    await page.click(`a[href="#/training/${JOB}"]`);
    await page.waitForSelector("#deploy");
    await page.fill("input[name=endpoint]", ENDPOINT);
    await page.click("#deploy");
    await page.waitForURL(`**#/endpoints/${ENDPOINT}`);
    await page.waitForSelector("#invoke", { timeout: 90000 });
    await page.fill("textarea[name=body]", ROW);
    await page.selectOption("select[name=accept]", "application/json");
    await page.click("#invoke");
    await page.waitForSelector("#answer:not([hidden])");
    seen.answer = await page.textContent("#answer");
  } else if (PHASE === "registry") {
    await page.goto(`${url}#/training/${JOB}`);
    await page.waitForSelector("#register");
    await page.fill("input[name=model-group]", GROUP);
    await page.click("#register");
    await page.waitForURL(`**#/models/${GROUP}`);
    await page.waitForSelector("#approve-1");
    seen.pending = await page.textContent("#versions tbody");
    await page.click("#approve-1");
    await page.waitForSelector("#deploy-version");
    seen.approved = await page.textContent("#versions tbody");
    await page.fill("input[name=endpoint]", ENDPOINT);
    await page.click("#deploy-version");
    await page.waitForURL(`**#/endpoints/${ENDPOINT}`);
    await page.waitForSelector("#invoke", { timeout: 90000 });
    seen.endpoint = await page.textContent("main dl");
    await page.click('nav a[href="#/models"]');
    await page.waitForSelector(`a[href="#/models/${GROUP}"]`);
    seen.groups = await page.textContent("main table");
  } else if (PHASE === "quality") {
    await page.goto(`${url}#/endpoints/${ENDPOINT}`);
    await page.waitForSelector("#feature-metrics tbody tr td:nth-child(5)");
    seen.features = await page.$$eval("#feature-metrics tbody tr", (rs) =>
      rs.map((r) => [...r.cells].map((c) => c.innerText)));
  } else {
    await page.goto(`${url}#/endpoints/${ENDPOINT}`);
    await page.waitForSelector("#delete");
    // The invocations so far reach CloudWatch's metrics within seconds.
    await page.waitForFunction((n) => {
      const cell = document.querySelector("#metrics tbody tr td:nth-child(2)");
      return cell && cell.textContent === n;
    }, process.env.INVOKED, { timeout: 30000 });
    seen.metrics = await page.$$eval("#metrics tbody tr", (rs) =>
      rs.map((r) => [...r.cells].map((c) => c.innerText)));
    seen.bars = await page.$$eval("#invocations-chart title", (ts) =>
      ts.map((t) => t.textContent));
    seen.capture = await page.textContent("main dl");
    seen.quality = await page.textContent("#data-quality");
    await page.click("#delete");
    seen.armed = await page.textContent("#delete");
    await page.click("#delete");
    await page.waitForSelector("#gone", { timeout: 60000 });
    seen.gone = await page.textContent("#gone");
    await page.click("#signout");
    await page.waitForSelector("#sign-in");
    seen.signedOut = await page.evaluate(() => sessionStorage.length);
  }
} catch (e) {
  // What the page showed when a step failed, for the test's message.
  const [page] = browser.contexts()[0]?.pages() || [];
  const shown = page ? await page.evaluate(() => document.body.innerText).catch(() => "") : "";
  console.error(`${e.message}\n--- page ---\n${shown}\n--- seen ---\n${JSON.stringify(seen)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
