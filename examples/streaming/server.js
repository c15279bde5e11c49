// A streaming demo app: responses that arrive in pieces.
//   /slow            "first", then "second" two seconds later
//   /big?bytes=N     N bytes of a fixed pseudo-random pattern, with backpressure
//   /crash           part of a body, then the process dies (the client sees an abort)
// It listens on $PORT, as every app deployed with ownstak must.
const http = require("node:http");
const byteAt = (i) => (Math.imul(i, 0x9E3779B1) >>> 13) & 255;
http.createServer((req, res) => {
  const url = new URL(req.url, "http://app");
  if (url.pathname === "/slow") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first\n");
    setTimeout(() => res.end("second\n"), 2000);
  } else if (url.pathname === "/big") {
    const total = Number(url.searchParams.get("bytes"));
    res.writeHead(200, { "content-type": "application/octet-stream" });
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(65536, total - sent);
        const buf = Buffer.allocUnsafe(n);
        for (let i = 0; i < n; i++) buf[i] = byteAt(sent + i);
        sent += n;
        if (!res.write(buf)) return res.once("drain", pump);
      }
      res.end();
    };
    pump();
  } else if (url.pathname === "/crash") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("x".repeat(100000));
    setTimeout(() => process.exit(7), 100);
  } else {
    res.end("ok\n");
  }
}).listen(Number(process.env.PORT), process.env.HOST);
