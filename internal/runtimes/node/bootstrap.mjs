// Hearth runtime interface client for Node.js (18+).
//
// Launch, with cwd = $LAMBDA_TASK_ROOT and only the environment the server builds:
//
//     node --max-http-header-size=81920 $LAMBDA_RUNTIME_DIR/bootstrap.mjs
//
// --max-http-header-size=81920 is what Lambda's own /var/runtime/bootstrap passes (user
// code's node:http accepts the same header sizes as on Lambda); it costs nothing at
// start-up. Lambda's bootstrap also passes --expose-gc and --max-semi-space-size /
// --max-old-space-size sized from the function's memory; Hearth leaves them out on
// purpose: each of them adds ~13 ms to every cold start (measured on Node 20; they seem
// to invalidate Node's embedded code cache), and the server enforces the memory limit
// itself. A server that prefers V8 heap errors to out-of-memory kills can still add
// --max-old-space-size=$((M - M / 10)) (M = AWS_LAMBDA_FUNCTION_MEMORY_SIZE) at that
// price. NODE_OPTIONS from the user's variables applies as usual.
//
// The client talks to the Runtime API (2018-06-01) over one persistent HTTP/1.1
// connection on a raw net.Socket (node:http measured ~50% slower per invoke and ~4 ms
// slower at start-up on the same host). The
// socket is unref'd between requests, so "callbackWaitsForEmptyEventLoop" sees only the
// user's own handles, exactly as with the official client. Console output is written
// with fs.writeSync, so every line is in the pipe before the result is posted.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { format } from 'node:util';
import { pathToFileURL } from 'node:url';
import Module, { createRequire } from 'node:module';

// A pre-started runtime ("stem") waits here for its environment before anything else
// reads process.env or the working directory.
if (process.env._HEARTH_STEM_FD !== undefined) stem(process.env._HEARTH_STEM_FD);

// stem serves as a stem: Hearth starts node with the ordinary command line, the
// environment's start variables (those node or libuv read as they start, and PATH) plus
// _HEARTH_STEM_FD=fd, and the read end of a pipe on fd. The driver writes one JSON
// message {"cwd": "/var/task", "env": ["KEY=VALUE", ...]} and closes the pipe. The stem
// reads it to the end (nothing at all: released unused, exit 0), closes fd, replaces
// the whole of process.env with env, changes to cwd and computes the CommonJS search
// paths again (NODE_PATH, HOME), then goes on exactly as an ordinary start. No user
// code runs before. It blocks: there is nothing else to do meanwhile.
//
// First it runs, once, what every start runs next (formatting for the console, a
// socket, address and path handling, a stat, the CommonJS compiler) on values of its
// own, so that V8 has compiled that code of Node's before the message: ~4-5 ms less
// CPU after it (measured on Node 20).
// None of it reads the environment or leaves state behind.
function stem(fdVar) {
  format('%s %d %j %o', 'a', 1, { a: [1] }, { b: new Error('x') });
  new net.Socket().destroy();
  net.isIP('127.0.0.1');
  fs.statSync(new URL(import.meta.url), { throwIfNoEntry: false });
  pathToFileURL(path.resolve('/x', 'y.js')).href; // absolute: no cwd read
  new Module('')._compile('module.exports = 1;', '/nonexistent/warm.js');
  const fd = Number(fdVar);
  const text = fs.readFileSync(fd, 'utf8');
  fs.closeSync(fd);
  if (text === '') process.exit(0);
  const msg = JSON.parse(text);
  for (const k of Object.keys(process.env)) delete process.env[k];
  for (const kv of msg.env) {
    const i = kv.indexOf('=');
    if (i > 0) process.env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  process.chdir(msg.cwd);
  Module._initPaths();
}

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------
// Errors (names as in the official client: Runtime.*)

function runtimeError(name) {
  const cls = class extends Error {};
  Object.defineProperty(cls, 'name', { value: name });
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}
const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const UnmarshalError = runtimeError('UnmarshalError');
const MarshalError = runtimeError('MarshalError');
const NodeJsExit = runtimeError('NodeJsExit');
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

// FatalError means the Runtime API failed us; the process exits with status 1.
class FatalError extends Error {}

function isError(obj) {
  return (
    obj &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string'
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

// The document posted to /error and /init/error.
function toRapidResponse(error) {
  try {
    if ((error instanceof Error && typeof error.stack === 'string') || isError(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: error.stack.split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value) {
  if (value instanceof Error) {
    const ret = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: value.code },
      value,
    );
    if (typeof value.stack === 'string') ret.stack = value.stack.split('\n');
    return ret;
  }
  return value;
}

// The text the official client logs after "Invoke Error" / "Uncaught Exception".
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ---------------------------------------------------------------------------------------
// Console: "<ISO time>\t<request id>\t<LEVEL>\t<message>" on stdout, written synchronously.

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function writeSync(fd, text) {
  let buf = null;
  let off = 0;
  for (;;) {
    try {
      if (buf === null) {
        const n = fs.writeSync(fd, text);
        const total = Buffer.byteLength(text);
        if (n >= total) return;
        buf = Buffer.from(text);
        off = n;
      } else {
        off += fs.writeSync(fd, buf, off, buf.length - off);
        if (off >= buf.length) return;
      }
    } catch (e) {
      // libuv makes fd 1 non-blocking once process.stdout is used; wait for the reader.
      if (e && e.code === 'EAGAIN') {
        Atomics.wait(sleepCell, 0, 0, 1);
        continue;
      }
      return; // EPIPE and friends: nobody is listening; never crash the runtime over logs
    }
  }
}

// With AWS_LAMBDA_LOG_FORMAT=JSON (LoggingConfig.LogFormat) each console call writes one
// JSON record {"timestamp","level","requestId","message",...}, as the official client does.
const LOG_JSON = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';

// Errors inside a JSON record: type, message, stack lines and own enumerable fields.
function jsonErrorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function formatJsonMessage(requestId, timestamp, level, ...params) {
  const result = { timestamp, level: level.name, requestId };
  if (params.length === 1) {
    // A single argument is kept as it is (an object stays an object).
    result.message = params[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_) {
      result.message = format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = format(...params);
  for (const param of params) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? 'UnknownError';
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function patchConsole() {
  const levels = {
    TRACE: { name: 'TRACE', priority: 1 },
    DEBUG: { name: 'DEBUG', priority: 2 },
    INFO: { name: 'INFO', priority: 3 },
    WARN: { name: 'WARN', priority: 4 },
    ERROR: { name: 'ERROR', priority: 5 },
    FATAL: { name: 'FATAL', priority: 6 },
  };
  const minimum = levels[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || levels.TRACE;
  const nop = () => {};
  // A message's newlines become CR, so that one console call is one log event.
  const text = (level) => (message, ...params) => {
    const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level.name}\t${format(message, ...params)}`;
    writeSync(1, line.replace(/\n/g, '\r') + '\n');
  };
  const json = (level) => (...params) => {
    const line = formatJsonMessage(globalThis[REQUEST_ID], new Date().toISOString(), level, ...params);
    writeSync(1, line.replace(/\n/g, '\r') + '\n');
  };
  const logger = (level) => (level.priority < minimum.priority ? nop : LOG_JSON ? json(level) : text(level));
  console.trace = logger(levels.TRACE);
  console.debug = logger(levels.DEBUG);
  console.info = logger(levels.INFO);
  console.log = console.info;
  console.warn = logger(levels.WARN);
  console.error = logger(levels.ERROR);
  console.fatal = logger(levels.FATAL);
}

// logError logs an error of the runtime's own (invoke error, uncaught exception):
// "<prefix> \t<JSON>" in text, the error object itself in JSON.
function logError(prefix, err) {
  if (LOG_JSON) console.error(intoError(err));
  else console.error(prefix, toFormatted(intoError(err)));
}

function fatal(err) {
  writeSync(2, `hearth-node: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------
// Runtime API client: a minimal HTTP/1.1 client on one kept-alive socket.

class StaleConnection extends Error {}

// STREAMED as a request body: the caller writes the chunked body itself (openStream).
const STREAMED = Symbol('streamed');

class RuntimeClient {
  constructor(address) {
    address = address || '';
    const i = address.lastIndexOf(':');
    const port = Number(address.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port)) {
      throw new FatalError(`AWS_LAMBDA_RUNTIME_API must be host:port, got ${JSON.stringify(address)}`);
    }
    let host = address.slice(0, i);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    this.host = host;
    this.port = port;
    this.hostHeader = `\r\nHost: ${address}\r\nUser-Agent: hearth-node/${process.versions.node}`;
    this.sock = null;
    this.used = false; // the current socket has completed at least one exchange
    this.pending = null;
    this.tail = Promise.resolve();
  }

  // request serialises calls and retries once on a fresh connection when the server
  // closed the idle one.
  request(method, urlPath, headers, body) {
    const run = async () => {
      for (let attempt = 0; ; attempt++) {
        const reused = this.sock !== null && this.used;
        try {
          return await this.exchange(method, urlPath, headers, body);
        } catch (e) {
          if (e instanceof StaleConnection && reused && attempt === 0) continue;
          if (e instanceof FatalError) throw e;
          throw new FatalError(`${method} ${urlPath}: ${e && e.message ? e.message : e}`);
        }
      }
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => {});
    return p;
  }

  connect() {
    const sock = net.connect({ host: this.host, port: this.port });
    sock.setNoDelay(true);
    sock.on('data', (chunk) => this.onData(sock, chunk));
    sock.on('end', () => this.onClose(sock, null));
    sock.on('close', () => this.onClose(sock, null));
    sock.on('error', (err) => this.onClose(sock, err));
    this.sock = sock;
    this.used = false;
    return sock;
  }

  exchange(method, urlPath, headers, body) {
    return new Promise((resolve, reject) => {
      const sock = this.sock || this.connect();
      let head = `${method} ${urlPath} HTTP/1.1${this.hostHeader}${headers}`;
      if (body === STREAMED) {
        head += '\r\nTransfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body';
      } else if (body !== undefined) {
        head += `\r\nContent-Length: ${typeof body === 'string' ? Buffer.byteLength(body) : body.length}`;
      }
      head += '\r\n\r\n';
      this.pending = {
        sock,
        resolve,
        reject,
        method,
        got: false,
        phase: 0, // 0 head, 1 content-length body, 2 chunked body, 3 body until close
        buf: null,
        status: 0,
        headers: null,
        keep: true,
        parts: [],
        have: 0,
        need: 0,
        cstate: 0, // chunked: 0 size line, 1 data, 2 CRLF after data, 3 trailers
        line: null,
      };
      sock.ref();
      sock.cork();
      sock.write(head, 'latin1');
      if (body !== undefined && body !== STREAMED && body.length > 0) sock.write(body);
      sock.uncork();
    });
  }

  finish(sock, st, body) {
    this.pending = null;
    if (st.keep) {
      this.used = true;
      sock.unref();
    } else {
      this.drop(sock);
    }
    st.resolve({ status: st.status, headers: st.headers, body });
  }

  drop(sock) {
    if (this.sock === sock) this.sock = null;
    sock.destroy();
  }

  onClose(sock, err) {
    if (this.sock === sock) this.sock = null;
    const st = this.pending;
    if (!st || st.sock !== sock) return;
    this.pending = null;
    sock.destroy();
    if (st.phase === 3) {
      st.resolve({ status: st.status, headers: st.headers, body: Buffer.concat(st.parts) });
    } else if (!st.got && (!err || err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
      st.reject(new StaleConnection('connection closed by the server'));
    } else {
      st.reject(err || new Error('connection closed mid-response'));
    }
  }

  onData(sock, chunk) {
    const st = this.pending;
    if (!st || st.sock !== sock) {
      this.drop(sock); // unsolicited bytes: the connection is unusable
      return;
    }
    st.got = true;
    try {
      this.feed(sock, st, chunk);
    } catch (e) {
      this.pending = null;
      this.drop(sock);
      st.reject(e);
    }
  }

  feed(sock, st, data) {
    while (data !== null && data.length > 0) {
      if (st.phase === 0) {
        const buf = st.buf ? Buffer.concat([st.buf, data]) : data;
        const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
        if (end < 0) {
          st.buf = buf;
          return;
        }
        st.buf = null;
        data = buf.subarray(end + 4);
        const lines = buf.toString('latin1', 0, end).split('\r\n');
        const statusLine = lines[0].split(' ');
        const status = Number(statusLine[1]);
        if (!statusLine[0].startsWith('HTTP/') || !Number.isInteger(status)) {
          throw new FatalError(`malformed status line from the Runtime API: ${JSON.stringify(lines[0])}`);
        }
        const headers = {};
        for (let i = 1; i < lines.length; i++) {
          const c = lines[i].indexOf(':');
          if (c > 0) headers[lines[i].slice(0, c).trim().toLowerCase()] = lines[i].slice(c + 1).trim();
        }
        if (status >= 100 && status < 200 && status !== 101) continue; // interim response
        st.status = status;
        st.headers = headers;
        const conn = (headers.connection || '').toLowerCase();
        st.keep = conn === 'close' ? false : conn === 'keep-alive' || statusLine[0] !== 'HTTP/1.0';
        if (st.method === 'HEAD' || status === 204 || status === 304) {
          this.finish(sock, st, Buffer.alloc(0));
          return;
        }
        if ((headers['transfer-encoding'] || '').toLowerCase().includes('chunked')) {
          st.phase = 2;
        } else if (headers['content-length'] !== undefined) {
          st.need = Number(headers['content-length']);
          st.phase = 1;
          if (st.need === 0) {
            this.finish(sock, st, Buffer.alloc(0));
            return;
          }
        } else {
          st.phase = 3;
          st.keep = false;
        }
        continue;
      }
      if (st.phase === 1) {
        st.parts.push(data);
        st.have += data.length;
        if (st.have >= st.need) {
          const body = st.parts.length === 1 ? data : Buffer.concat(st.parts, st.have);
          this.finish(sock, st, body.length > st.need ? body.subarray(0, st.need) : body);
        }
        return;
      }
      if (st.phase === 3) {
        st.parts.push(data);
        return;
      }
      // chunked
      if (st.cstate === 1) {
        const take = Math.min(st.need, data.length);
        st.parts.push(data.subarray(0, take));
        st.have += take;
        st.need -= take;
        data = data.subarray(take);
        if (st.need === 0) st.cstate = 2;
        continue;
      }
      const nl = data.indexOf(10);
      if (nl < 0) {
        st.line = st.line ? Buffer.concat([st.line, data]) : data;
        return;
      }
      let line = (st.line ? Buffer.concat([st.line, data.subarray(0, nl)]) : data.subarray(0, nl)).toString('latin1');
      st.line = null;
      data = data.subarray(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (st.cstate === 0) {
        const size = parseInt(line.split(';')[0].trim(), 16);
        if (!Number.isInteger(size) || size < 0) {
          throw new FatalError(`malformed chunk size from the Runtime API: ${JSON.stringify(line)}`);
        }
        if (size === 0) {
          st.cstate = 3;
        } else {
          st.need = size;
          st.cstate = 1;
        }
      } else if (st.cstate === 2) {
        if (line !== '') throw new FatalError('malformed chunk terminator from the Runtime API');
        st.cstate = 0;
      } else if (line === '') {
        this.finish(sock, st, Buffer.concat(st.parts, st.have));
        return;
      }
    }
  }

  // Runtime API verbs ------------------------------------------------------------------

  async next() {
    const res = await this.request('GET', '/2018-06-01/runtime/invocation/next', '', undefined);
    if (res.status !== 200) {
      throw new FatalError(
        `GET /runtime/invocation/next: status ${res.status}: ${res.body.toString('utf8', 0, 512)}`,
      );
    }
    return res;
  }

  async post(urlPath, body, extraHeaders = '') {
    const res = await this.request(
      'POST',
      urlPath,
      `\r\nContent-Type: application/json${extraHeaders}`,
      body,
    );
    // 413: the body was over the Runtime API's limit. The API has already failed
    // the invocation (Function.ResponseSizeTooLarge), so carry on with the next
    // one; any other refusal means the API and this runtime disagree: exit.
    if ((res.status < 200 || res.status > 299) && res.status !== 413) {
      throw new FatalError(`POST ${urlPath}: status ${res.status}: ${res.body.toString('utf8', 0, 512)}`);
    }
  }

  // openStream starts a streaming POST /response (Lambda-Runtime-Function-Response-Mode:
  // streaming, chunked, error trailers declared). It returns the socket to write the
  // chunks to and a promise of the Runtime API's answer, which may come before the body
  // ends (413 past the streamed-response limit). No other request is in flight during
  // an invocation, so the exchange does not queue behind one.
  openStream(id, contentType) {
    const ct = String(contentType).replace(/[^\x20-\x7e]/g, ' ');
    const done = this.exchange(
      'POST',
      `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/response`,
      `\r\nContent-Type: ${ct}\r\nLambda-Runtime-Function-Response-Mode: streaming`,
      STREAMED,
    );
    this.tail = done.catch(() => {});
    return { sock: this.pending.sock, done };
  }

  postResponse(id, bodyString) {
    return this.post(`/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/response`, bodyString);
  }

  postError(id, error) {
    return this.post(
      `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/error`,
      JSON.stringify(toRapidResponse(error)),
    );
  }

  postInitError(error) {
    const doc = toRapidResponse(error);
    const type = String(doc.errorType).replace(/[^\x20-\x7e]/g, ' ');
    return this.post(
      '/2018-06-01/runtime/init/error',
      JSON.stringify(doc),
      `\r\nLambda-Runtime-Function-Error-Type: ${type}`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Response streaming: awslambda.streamifyResponse(handler) and
// awslambda.HttpResponseStream.from(stream, metadata), as in Lambda's Node runtime. The
// handler gets (event, responseStream, context); what it writes goes to the Runtime API
// as chunks of one POST /response, paced by the socket (a slow consumer applies
// backpressure through TCP, and the Writable's highWaterMark bounds what is queued here).

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';

let WritableClass = null; // node:stream, loaded by the first streaming function only

function responseStreamClass() {
  if (WritableClass !== null) return WritableClass;
  const { Writable } = require('node:stream');
  WritableClass = class ResponseStream extends Writable {
    constructor(client, id, highWaterMark) {
      super(highWaterMark ? { highWaterMark } : {});
      this._client = client;
      this._id = id;
      this._contentType = 'application/octet-stream';
      this._conn = null; // {sock, done} once the POST has begun
      this._answered = false; // the Runtime API answered (the body is no longer read)
      this._onBeforeFirstWrite = null;
      this._trailers = '';
    }

    setContentType(contentType) {
      if (this._conn !== null) throw new Error('Content type cannot be set after the first write.');
      this._contentType = contentType;
    }

    _begin() {
      if (this._conn !== null) return;
      this._conn = this._client.openStream(this._id, this._contentType);
      this._conn.done.then(
        () => (this._answered = true),
        () => (this._answered = true),
      );
      const before = this._onBeforeFirstWrite;
      this._onBeforeFirstWrite = null;
      if (before) before((chunk) => this._chunk(Buffer.from(chunk), null));
    }

    _chunk(buf, cb) {
      if (this._answered || buf.length === 0) {
        if (cb) cb();
        return;
      }
      const sock = this._conn.sock;
      sock.write(`${buf.length.toString(16)}\r\n`, 'latin1');
      sock.write(buf);
      // The callback runs once the socket has handed the bytes to the kernel: the
      // Writable queues no more than its highWaterMark meanwhile.
      if (cb) sock.write('\r\n', 'latin1', () => cb());
      else sock.write('\r\n', 'latin1');
    }

    _write(chunk, encoding, cb) {
      this._begin();
      this._chunk(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding), cb);
    }

    _final(cb) {
      this._begin();
      if (!this._answered) this._conn.sock.write(`0\r\n${this._trailers}\r\n`, 'latin1');
      this._conn.done.then(
        (res) => {
          if ((res.status < 200 || res.status > 299) && res.status !== 413) {
            cb(new FatalError(`POST /response (streaming): status ${res.status}: ${res.body.toString('utf8', 0, 512)}`));
          } else cb();
        },
        (err) => cb(err instanceof FatalError ? err : new FatalError(String(err && err.message ? err.message : err))),
      );
    }

    // fail ends the stream with the error trailers, which turn the invocation into a
    // failure after whatever was written.
    fail(err) {
      const doc = toRapidResponse(err);
      const type = String(doc.errorType).replace(/[^\x20-\x7e]/g, ' ');
      const body = Buffer.from(JSON.stringify(doc)).toString('base64');
      this._trailers =
        `Lambda-Runtime-Function-Error-Type: ${type}\r\nLambda-Runtime-Function-Error-Body: ${body}\r\n`;
      return this.finished();
    }

    // finished ends the stream (if the handler did not) and resolves once the Runtime
    // API has answered.
    finished() {
      return new Promise((resolve, reject) => {
        const settle = (err) => (err ? reject(err) : resolve());
        if (this.writableFinished) return resolve();
        if (this.destroyed) return reject(this.errored || new FatalError('response stream destroyed'));
        this.once('finish', () => resolve());
        this.once('error', settle);
        if (!this.writableEnded) this.end();
      });
    }
  };
  return WritableClass;
}

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION);
    const metadata = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadata);
      write(new Uint8Array(8)); // the delimiter: 8 NUL bytes
    };
    return underlyingStream;
  }
}

globalThis.awslambda = {
  streamifyResponse(handler, options) {
    handler[HANDLER_STREAMING] = STREAM_RESPONSE;
    if (options && Number.isInteger(options.highWaterMark)) {
      handler[HANDLER_HIGHWATERMARK] = options.highWaterMark;
    }
    return handler;
  },
  HttpResponseStream,
};

// ---------------------------------------------------------------------------------------
// Handler loading: "path/to/file.export[.nested]", relative to LAMBDA_TASK_ROOT.

function isFile(p) {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  return st !== undefined && st.isFile();
}

// Whether the nearest package.json says "type": "module" (stopping at node_modules).
function packageTypeIsModule(dir) {
  for (;;) {
    if (path.basename(dir) === 'node_modules') return false;
    const pj = path.join(dir, 'package.json');
    if (isFile(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

// CommonJS files are loaded with require(), which is measurably cheaper at
// start-up than import() (no ESM translation of CJS); ES modules with import().
function loadFile(file) {
  const esm =
    file.endsWith('.mjs') ||
    (file.endsWith('.js') && packageTypeIsModule(path.dirname(file)));
  return esm ? import(pathToFileURL(file).href) : require(file);
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  let file = null;
  try {
    for (const ext of ['', '.js', '.mjs', '.cjs']) {
      if (isFile(base + ext)) {
        file = base + ext;
        return await loadFile(file);
      }
    }
    const resolved = require.resolve(moduleName, {
      paths: [appRoot, path.join(appRoot, moduleRoot)],
    });
    return require(resolved);
  } catch (err) {
    if (err instanceof SyntaxError) {
      const wrapped = new UserCodeSyntaxError(String(err));
      // CommonJS syntax errors carry "file:line" and the offending line in their stack;
      // ES module ones do not, so name at least the file.
      wrapped.stack =
        file !== null && typeof err.stack === 'string' && !err.stack.includes(file)
          ? `${file}\n\n${err.stack}`
          : err.stack;
      throw wrapped;
    }
    if (err && (err.code === 'MODULE_NOT_FOUND' || err.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new ImportModuleError(String(err));
    }
    throw err;
  }
}

function findIn(name, obj) {
  return name
    .split('.')
    .reduce(
      (nested, key) =>
        nested && (typeof nested === 'object' || typeof nested === 'function') ? nested[key] : undefined,
      obj,
    );
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  const mod = await loadModule(appRoot, moduleRoot, moduleName);
  let handler = findIn(handlerPath, mod);
  if (!handler && mod && typeof mod === 'object' && 'default' in mod) {
    handler = findIn(handlerPath, mod.default);
  }
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

// ---------------------------------------------------------------------------------------
// Invocation loop (mirrors the official Runtime / CallbackContext / InvokeContext).

const noop = () => {};
let beforeExitListener = noop;

// onUserError handles an uncaught exception (exit status 129) or unhandled rejection
// (128) from user code. It changes with the phase: during init it reports an init
// error, during an invocation an invocation error, and while idle there is nothing
// to report to (a GET /next may be in flight), so the runtime just exits.
let onUserError = (_error, code) => process.exit(code);
let initFailed = false;

const env = process.env;
const environmentalData = {
  functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
  functionName: env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
  logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
};

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

class Runtime {
  constructor(client, handler) {
    this.client = client;
    this.handler = handler;
    this.isAsync = handler.constructor && handler.constructor.name === 'AsyncFunction';
    this.streaming = handler[HANDLER_STREAMING] === STREAM_RESPONSE;
    this.scheduleNext = () => this.scheduleIteration();
  }

  scheduleIteration() {
    setImmediate(() => {
      this.handleOnce().catch((err) => {
        if (err instanceof FatalError) fatal(err);
        console.log(`Unexpected Top Level Error: ${err}`);
        onUserError(err, 129);
      });
    });
  }

  // Posts and then continues with the next invocation; Runtime API failures are fatal.
  post(promise, then) {
    promise.then(then, fatal);
  }

  // invocation.done turns true once the result or error of the invocation is being posted.
  buildCallbackContext(id, invocation) {
    const client = this.client;
    const scheduleNext = this.scheduleNext;
    const postError = (err, next) => {
      invocation.done = true;
      logError('Invoke Error', err);
      this.post(client.postError(id, err), next);
    };
    const complete = (result, next) => {
      if (invocation.done) {
        console.error(
          'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
        );
        return;
      }
      invocation.done = true;
      let body;
      try {
        body = JSON.stringify(result === undefined ? null : result);
        if (body === undefined) body = 'null'; // a function or symbol at the top level
      } catch (err) {
        const e = new MarshalError('Unable to stringify response body', { cause: err });
        postError(e, next);
        return;
      }
      this.post(client.postResponse(id, body), next);
    };
    let waitForEmptyEventLoop = true;
    const callback = (err, result) => {
      beforeExitListener = noop;
      if (err !== undefined && err !== null) {
        postError(err, scheduleNext);
      } else if (!waitForEmptyEventLoop) {
        complete(result, scheduleNext);
      } else {
        beforeExitListener = () => setImmediate(() => complete(result, scheduleNext));
      }
    };
    const done = (err, result) => {
      beforeExitListener = noop;
      if (err !== undefined && err !== null) postError(err, scheduleNext);
      else complete(result, scheduleNext);
    };
    let finished = false;
    const once = (fn) =>
      function () {
        if (!finished) {
          finished = true;
          fn.apply(null, arguments);
        }
      };
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
      succeed: once((result) => done(null, result)),
      fail: once((err) => (err === undefined || err === null ? done('handled') : done(err, null))),
      done: once(done),
    };
    return [once(callback), context];
  }

  async handleOnce() {
    if (initFailed) return; // e.g. an unhandled rejection from module code; exiting
    onUserError = (_error, code) => process.exit(code);
    const { headers, body } = await this.client.next();
    const id = headers['lambda-runtime-aws-request-id'];
    if (!id) throw new FatalError('GET /runtime/invocation/next: missing Lambda-Runtime-Aws-Request-Id');
    globalThis[REQUEST_ID] = id;

    const invocation = { done: false };
    const [callback, context] = this.buildCallbackContext(id, invocation);
    onUserError = (error, code) => {
      if (invocation.done) process.exit(code);
      invocation.done = true;
      this.client.postError(id, error).then(() => process.exit(code), fatal);
    };
    beforeExitListener = () => {
      beforeExitListener = noop;
      invocation.done = true;
      if (this.isAsync) {
        const err = new NodeJsExit(
          'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
        );
        logError('Invoke Error', err);
        this.post(this.client.postError(id, err), this.scheduleNext);
      } else {
        this.post(this.client.postResponse(id, 'null'), this.scheduleNext);
      }
    };

    try {
      const trace = headers['lambda-runtime-trace-id'];
      if (trace) env._X_AMZN_TRACE_ID = trace;
      else delete env._X_AMZN_TRACE_ID;

      let event = null;
      if (body.length > 0) {
        try {
          event = JSON.parse(body.toString('utf8'));
        } catch (err) {
          throw new UnmarshalError(`Unable to unmarshal input: ${err.message}`, { cause: err });
        }
      }
      const deadline = Number(headers['lambda-runtime-deadline-ms']);
      Object.assign(context, environmentalData, {
        clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
        identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
        invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
        awsRequestId: id,
        getRemainingTimeInMillis: () => deadline - Date.now(),
      });

      if (this.streaming) {
        this.invokeStreaming(id, event, context, invocation);
        return;
      }
      const result = this.handler(event, context, callback);
      if (isPromise(result)) {
        result.then(context.succeed, context.fail).catch(context.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  // invokeStreaming runs a streamifyResponse handler: (event, responseStream, context).
  // The invocation ends when the handler's promise settles (the stream is ended for it
  // if it did not end it) or, for a handler returning no promise, when it ends the
  // stream. A failure, thrown or rejected, ends the stream with the error trailers.
  invokeStreaming(id, event, context, invocation) {
    const Stream = responseStreamClass();
    const stream = new Stream(this.client, id, this.handler[HANDLER_HIGHWATERMARK]);
    const fail = (err) => {
      if (invocation.done) return;
      invocation.done = true;
      beforeExitListener = noop;
      logError('Invoke Error', err);
      stream.fail(err).then(this.scheduleNext, fatal);
    };
    const succeed = () => {
      if (invocation.done) return;
      invocation.done = true;
      beforeExitListener = noop;
      stream.finished().then(this.scheduleNext, fatal);
    };
    onUserError = (error, code) => {
      if (invocation.done) process.exit(code);
      invocation.done = true;
      logError('Invoke Error', error);
      stream.fail(error).then(() => process.exit(code), fatal);
    };
    beforeExitListener = () =>
      fail(
        new NodeJsExit(
          'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
        ),
      );
    stream.on('error', (err) => {
      if (err instanceof FatalError) fatal(err);
      fail(err);
    });
    let result;
    try {
      result = this.handler(event, stream, context);
    } catch (err) {
      fail(err);
      return;
    }
    if (isPromise(result)) {
      result.then(succeed, fail);
    } else {
      stream.once('finish', succeed);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Start-up

async function main() {
  patchConsole();
  let client;
  try {
    client = new RuntimeClient(env.AWS_LAMBDA_RUNTIME_API);
  } catch (err) {
    fatal(err);
  }

  onUserError = (error, code) => {
    if (initFailed) process.exit(code);
    initFailed = true;
    client.postInitError(error).then(() => process.exit(code), fatal);
  };
  process.on('uncaughtException', (error) => {
    if (error instanceof FatalError) fatal(error);
    logError('Uncaught Exception', error);
    onUserError(error, 129);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    onUserError(error, 128);
  });
  process.on('beforeExit', () => beforeExitListener());

  let handler;
  try {
    handler = await loadHandler(env.LAMBDA_TASK_ROOT || process.cwd(), env._HANDLER || '');
  } catch (error) {
    logError('Uncaught Exception', error);
    onUserError(error, 129);
    return;
  }
  new Runtime(client, handler).scheduleIteration();
}

main();
