#!/usr/bin/env node
/**
 * A tiny static server for the built page (packages/web/dist/www), on localhost only.
 * `node serve.js [--port N]` (default 5173; 0 picks a free port). Prints the URL.
 * Also usable from code: `startServer(port)` resolves to { server, url }.
 */
const http = require('node:http');
const path = require('node:path');
const fs = require('node:fs');

const ROOT = path.join(__dirname, 'dist', 'www');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.css': 'text/css',
};

function handler(req, res) {
  const url = new URL(req.url, 'http://localhost');
  let rel = decodeURIComponent(url.pathname);
  if (rel.endsWith('/')) rel += 'index.html';
  const file = path.join(ROOT, path.normalize(rel));
  if (!file.startsWith(ROOT + path.sep)) {
    res.writeHead(403).end('forbidden');
    return;
  }
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${rel}`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(data);
  });
}

function startServer(port = 5173) {
  if (!fs.existsSync(path.join(ROOT, 'index.html'))) {
    throw new Error(`${ROOT}/index.html is missing: build the page first (npm run web builds and serves it).`);
  }
  return new Promise((resolve, reject) => {
    const server = http.createServer(handler);
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, url: `http://localhost:${server.address().port}/` }));
  });
}

module.exports = { startServer };

if (require.main === module) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 5173;
  startServer(port).then(
    ({ url }) => console.log(`SCRL in the browser: open ${url}  (Ctrl-C stops)`),
    (err) => {
      console.error(err.code === 'EADDRINUSE' ? `port ${port} is in use: pass --port N (0 for any free port)` : err.message);
      process.exit(1);
    },
  );
}
