// The web console in a real browser (Debian's Chromium, driven by
// playwright-core), as a user clicks through it; prints what it saw as JSON.
// Environment: KILN_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, PHASE:
//   deploy  sign in with a wrong secret, then the right one; find training
//           job JOB, deploy it as endpoint ENDPOINT, invoke it with ROW,
//           read the usage page, retrain JOB;
//   delete  delete ENDPOINT, sign out.
import { chromium } from "playwright-core";

const url = `${process.env.KILN_URL}/console/`;
const { JOB, ENDPOINT, ROW, PHASE } = process.env;
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

  async function signIn(secret) {
    await page.fill("input[name=access-key-id]", process.env.AWS_ACCESS_KEY_ID);
    await page.fill("input[name=secret-access-key]", secret);
    await page.click("#sign-in");
  }

  await page.goto(url);
  await page.waitForSelector("#sign-in");

  if (PHASE === "deploy") {
    await signIn("not-the-secret");
    await page.waitForSelector("#error:not([hidden])");
    seen.badSignIn = await page.textContent("#error");
    seen.navAfterBadSignIn = await page.isVisible("#nav");

    await page.reload();
    await page.waitForSelector("#sign-in");
    await signIn(process.env.AWS_SECRET_ACCESS_KEY);
    await page.waitForSelector(`a[href="#/training/${JOB}"]`);
    seen.who = await page.textContent("#who");
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
      rs.map((r) => [...r.cells].map((c) => c.title || c.firstChild?.title || c.innerText)));
    seen.costTotal = await page.textContent("#cost-total");

    await page.click('nav a[href="#/training"]');
    await page.click(`a[href="#/training/${JOB}"]`);
    await page.click("#retrain");
    await page.waitForURL((u) => !u.hash.endsWith(`/${JOB}`) && u.hash.startsWith("#/training/"));
    seen.retrained = decodeURIComponent(new URL(page.url()).hash.slice("#/training/".length));
  } else {
    await signIn(process.env.AWS_SECRET_ACCESS_KEY);
    await page.waitForSelector("#nav:not([hidden])");
    await page.goto(`${url}#/endpoints/${ENDPOINT}`);
    await page.waitForSelector("#delete");
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
