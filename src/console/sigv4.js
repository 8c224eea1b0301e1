// sigv4.js - AWS Signature Version 4 for the console's requests, in the
// browser. SHA-256 and HMAC are written out here rather than taken from
// crypto.subtle, which browsers offer only on https:// and localhost pages:
// a console opened as http://<host>:9000 must sign too.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
  0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const utf8 = (s) => new TextEncoder().encode(s);

function bytes(x) {
  return typeof x === "string" ? utf8(x) : x;
}

// The SHA-256 of a string (as UTF-8) or a Uint8Array, as 32 bytes.
export function sha256(input) {
  const data = bytes(input);
  const n = data.length;
  const padded = new Uint8Array(((n + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[n] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(n / 0x20000000));
  view.setUint32(padded.length - 4, (n << 3) >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x, r) => (x >>> r) | (x << (32 - r));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) +
                  ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) +
                  ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) ov.setUint32(4 * i, h[i]);
  return out;
}

// HMAC-SHA256 (RFC 2104) of msg under key, as 32 bytes.
export function hmac(key, msg) {
  let k = bytes(key);
  if (k.length > 64) k = sha256(k);
  const ipad = new Uint8Array(64);
  const opad = new Uint8Array(64);
  for (let i = 0; i < 64; i++) {
    ipad[i] = (k[i] || 0) ^ 0x36;
    opad[i] = (k[i] || 0) ^ 0x5c;
  }
  const m = bytes(msg);
  const inner = new Uint8Array(64 + m.length);
  inner.set(ipad);
  inner.set(m, 64);
  const outer = new Uint8Array(64 + 32);
  outer.set(opad);
  outer.set(sha256(inner), 64);
  return sha256(outer);
}

export function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// RFC 3986 encoding, as SigV4 wants it for each path segment.
export function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

// SigV4's canonical URI for services other than S3: every segment encoded
// twice, the first time by the request's own encoding.
function canonicalPath(path) {
  return path.split("/").map(uriEncode).join("/");
}

// The query string of `query` ({name: value}) in SigV4's canonical form,
// which is also a correct one to send.
export function canonicalQuery(query) {
  return Object.entries(query || {}).map(([k, v]) => [uriEncode(k), uriEncode(String(v))])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join("&");
}

// The headers to send with a request of `method` to `path` (already
// URI-encoded) and `query` with `body` (string or Uint8Array), signed for
// `service` in `region` with `creds` {akid, secret}; `headers` are signed
// too. S3 signs the path as sent and the payload hash it is given in
// `payload` (such as "UNSIGNED-PAYLOAD", which it also sends); the other
// services sign the path encoded once more and the body's hash. `now` is
// a Date (for tests).
export function sign({ method, host, path, query, body, headers, service, region,
                       creds, payload, now }) {
  const t = (now || new Date()).toISOString().replace(/[-:]/g, "")
    .replace(/\.\d+/, "");
  const day = t.slice(0, 8);
  const s3 = service === "s3";
  const hash = payload || hex(sha256(body || ""));
  const extra = s3 ? { "x-amz-content-sha256": hash } : {};
  const all = { ...headers, ...extra, host, "x-amz-date": t };
  const names = Object.keys(all).map((k) => k.toLowerCase()).sort();
  const lower = {};
  for (const [k, v] of Object.entries(all)) {
    lower[k.toLowerCase()] = String(v).trim().replace(/\s+/g, " ");
  }
  const signed = names.join(";");
  const canonical = [
    method, s3 ? path : canonicalPath(path), canonicalQuery(query),
    names.map((k) => `${k}:${lower[k]}\n`).join(""), signed, hash,
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", t, scope, hex(sha256(canonical))]
    .join("\n");
  let key = hmac("AWS4" + creds.secret, day);
  key = hmac(key, region);
  key = hmac(key, service);
  key = hmac(key, "aws4_request");
  const signature = hex(hmac(key, toSign));
  const out = { ...headers, ...extra, "X-Amz-Date": t };
  out.Authorization = `AWS4-HMAC-SHA256 Credential=${creds.akid}/${scope}, ` +
    `SignedHeaders=${signed}, Signature=${signature}`;
  return out;
}

// A presigned S3 URL path+query for `method` on `path` (already
// URI-encoded), valid for `expires` seconds: SigV4 in the query, only the
// host signed, the payload unsigned, as boto3's generate_presigned_url.
export function presign({ method, host, path, region, creds, expires, now }) {
  const t = (now || new Date()).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  const day = t.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const query = {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": `${creds.akid}/${scope}`,
    "X-Amz-Date": t,
    "X-Amz-Expires": String(expires),
    "X-Amz-SignedHeaders": "host",
  };
  const canonical = [method, path, canonicalQuery(query), `host:${host}\n`, "host",
                     "UNSIGNED-PAYLOAD"].join("\n");
  const toSign = ["AWS4-HMAC-SHA256", t, scope, hex(sha256(canonical))].join("\n");
  let key = hmac("AWS4" + creds.secret, day);
  key = hmac(key, region);
  key = hmac(key, "s3");
  key = hmac(key, "aws4_request");
  return `${path}?${canonicalQuery(query)}&X-Amz-Signature=${hex(hmac(key, toSign))}`;
}
