// Written by `ownstak build`: serves the static site in ./site on $PORT.
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "site");
const types = {
  ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8", ".json": "application/json", ".txt": "text/plain; charset=utf-8",
  ".xml": "application/xml", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
  ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".ico": "image/x-icon", ".woff": "font/woff",
  ".woff2": "font/woff2", ".wasm": "application/wasm", ".pdf": "application/pdf", ".map": "application/json",
};

function file(p) {
  try { const s = fs.statSync(p); return s.isDirectory() ? file(path.join(p, "index.html")) : s.isFile() ? p : null; } catch { return null; }
}

function send(req, res, status, p) {
  const headers = { "content-type": types[path.extname(p).toLowerCase()] || "application/octet-stream", "content-length": fs.statSync(p).size };
  res.writeHead(status, headers);
  if (req.method === "HEAD") return res.end();
  fs.createReadStream(p).on("error", () => res.destroy()).pipe(res);
}

http.createServer((req, res) => {
  if (req.method !== "GET" && req.method !== "HEAD") { res.writeHead(405, { allow: "GET, HEAD" }); return res.end(); }
  let pathname;
  try { pathname = decodeURIComponent(new URL(req.url, "http://x").pathname); } catch { res.writeHead(400); return res.end(); }
  const target = path.join(root, path.normalize(pathname));
  const found = target.startsWith(root) ? file(target) || file(target + ".html") : null;
  if (found) return send(req, res, 200, found);
  const notFound = file(path.join(root, "404.html"));
  if (notFound) return send(req, res, 404, notFound);
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
  res.end("Not Found\n");
}).listen(Number(process.env.PORT || 8080), process.env.HOST || "127.0.0.1");
