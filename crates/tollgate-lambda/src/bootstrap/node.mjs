// Tollgate's bootstrap for Node.js Lambda functions.
//
// Speaks the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) as AWS's Node.js
// runtime does: loads the handler named by _HANDLER ("file.export", a path
// allowed) from LAMBDA_TASK_ROOT as a CommonJS or ES module (.js, .mjs,
// .cjs), then loops on /invocation/next. Async handlers (a returned promise)
// and callback handlers (event, context, callback) both work. Errors are
// reported in AWS's shape: errorType, errorMessage, trace. Built-ins only.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const PREFIX = "/2018-06-01/runtime";
const [HOST, PORT] = [API.slice(0, API.lastIndexOf(":")), Number(API.slice(API.lastIndexOf(":") + 1))];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: PORT, path: PREFIX + urlPath, method, headers, agent },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorBody(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: e.name || "Error",
    errorMessage: e.message ?? String(err),
    trace: String(e.stack || "").split("\n"),
  };
}

// Marks the end of an invocation's output on both streams, so the host
// writes END only after every line the handler printed.
function flushMarks(id) {
  const mark = `\x1eTOLLGATE-END ${id}\n`;
  return Promise.all([process.stdout, process.stderr].map(
    (stream) => new Promise((resolve) => stream.write(mark, () => resolve())),
  ));
}

async function postError(urlPath, error, type) {
  await request("POST", urlPath, JSON.stringify(error), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": type,
  });
}

async function loadHandler() {
  const spec = process.env._HANDLER || "";
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) {
    const e = new Error(`Bad handler ${spec}: expected file.export`);
    e.name = "Runtime.MalformedHandlerName";
    throw e;
  }
  const modulePath = spec.slice(0, dot);
  const exportName = spec.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const base = path.resolve(root, modulePath);
  const file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    const e = new Error(`Cannot find module '${modulePath}'`);
    e.name = "Runtime.ImportModuleError";
    throw e;
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    const e = new Error(`${err && err.message}`);
    e.name = err instanceof SyntaxError ? "Runtime.UserCodeSyntaxError" : "Runtime.ImportModuleError";
    e.stack = err && err.stack;
    throw e;
  }
  const handler = mod[exportName] ?? (mod.default && mod.default[exportName]);
  if (typeof handler !== "function") {
    const e = new Error(`${modulePath}.${exportName} is undefined or not exported`);
    e.name = "Runtime.HandlerNotFound";
    throw e;
  }
  return handler;
}

function context(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"] || "",
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"] || "",
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || "",
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || "$LATEST",
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || "128",
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME || "",
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME || "",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

// Runs the handler: a promise it returns, or the callback it calls, settles it.
function run(handler, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    ctx.succeed = (result) => done(null, result);
    ctx.fail = (err) => done(err ?? new Error("handled"));
    ctx.done = done;
    try {
      const returned = handler(event, ctx, done);
      if (returned && typeof returned.then === "function") {
        returned.then((r) => done(null, r), (e) => done(e ?? new Error("rejected")));
      } else if (handler.length < 3) {
        done(null, returned);
      }
    } catch (err) {
      done(err);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    const error = errorBody(err);
    console.error(`${error.errorType}: ${error.errorMessage}`);
    await postError("/init/error", error, error.errorType);
    process.exit(1);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"] || "";
    const trace = next.headers["lambda-runtime-trace-id"];
    if (trace) process.env._X_AMZN_TRACE_ID = trace;
    else delete process.env._X_AMZN_TRACE_ID;
    let result;
    try {
      const event = next.body.length ? JSON.parse(next.body.toString("utf8")) : null;
      result = await run(handler, event, context(next.headers));
    } catch (err) {
      const error = errorBody(err);
      console.error(`ERROR\t${error.errorType}: ${error.errorMessage}`);
      await flushMarks(id);
      await postError(`/invocation/${id}/error`, error, "Unhandled");
      continue;
    }
    const payload = JSON.stringify(result === undefined ? null : result);
    await flushMarks(id);
    await request("POST", `/invocation/${id}/response`, payload, { "Content-Type": "application/json" });
  }
}

process.on("unhandledRejection", (err) => {
  console.error("Unhandled rejection", err);
});

main().catch((err) => {
  console.error("bootstrap failed", err);
  process.exit(1);
});
