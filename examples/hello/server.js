// A tiny HTTP app: what ownstak deploys when you have nothing else yet.
// It listens on $PORT, as every app deployed with ownstak must.
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");

const message = fs.readFileSync(path.join(__dirname, "message.txt"), "utf8").trim();
const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || "127.0.0.1";

const server = http.createServer((req, res) => {
  const url = new URL(req.url, `http://${req.headers.host || "localhost"}`);
  if (url.pathname === "/api/info") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({
      message,
      function: process.env.AWS_LAMBDA_FUNCTION_NAME || null,
      version: process.env.AWS_LAMBDA_FUNCTION_VERSION || null,
      pid: process.pid,
      method: req.method,
      path: req.url,
      host: req.headers.host,
      requestId: req.headers["x-request-id"] || null,
    }));
    return;
  }
  if (url.pathname === "/api/echo") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      res.setHeader("content-type", req.headers["content-type"] || "application/octet-stream");
      res.setHeader("x-body-length", String(body.length));
      res.end(body);
    });
    return;
  }
  if (url.pathname === "/api/cookies") {
    res.setHeader("set-cookie", ["session=abc123; Path=/; HttpOnly", "theme=dark; Path=/; Max-Age=3600"]);
    res.setHeader("content-type", "text/plain");
    res.end("two cookies set\n");
    return;
  }
  if (url.pathname === "/api/slow") {
    const ms = Number(url.searchParams.get("ms") || 1000);
    setTimeout(() => res.end(`slept ${ms} ms\n`), ms);
    return;
  }
  if (url.pathname !== "/") {
    res.statusCode = 404;
    res.setHeader("content-type", "text/plain");
    res.end("not found\n");
    return;
  }
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.end(`<!doctype html>
<html><head><meta charset="utf-8"><title>hello from ownstak</title></head>
<body><h1>${message}</h1>
<p>Served by ${process.env.AWS_LAMBDA_FUNCTION_NAME || "node"} version ${process.env.AWS_LAMBDA_FUNCTION_VERSION || "-"}.</p>
</body></html>
`);
});

server.listen(port, host, () => console.log(`hello listening on http://${host}:${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
