'use strict';
// A streaming function (awslambda.streamifyResponse) for the response
// streaming tests. Each chunk it writes carries the time it was written.
const { once } = require('node:events');

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// write respects the stream's backpressure.
async function write(stream, data) {
  if (!stream.write(data)) await once(stream, 'drain');
}

exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  // Through a function URL the parameters come in the query string.
  for (const [k, v] of Object.entries(event.queryStringParameters || {})) {
    event[k] = /^\d+$/.test(v) ? Number(v) : v;
  }
  const mode = event.mode || 'chunks';
  switch (mode) {
    case 'chunks': // n chunks, delay ms apart: "chunk <i> <ms since epoch>\n"
      responseStream.setContentType('text/plain');
      for (let i = 0; i < (event.n || 3); i++) {
        if (i > 0) await sleep(event.delay || 200);
        await write(responseStream, `chunk ${i} ${Date.now()}\n`);
      }
      responseStream.end();
      return;
    case 'error': // a chunk, then a failure
      await write(responseStream, 'partial\n');
      await sleep(50);
      throw new Error('boom midway');
    case 'big': // bytes of 'x', in pieces of 1 MiB
      for (let left = event.bytes; left > 0; left -= 1 << 20) {
        await write(responseStream, Buffer.alloc(Math.min(left, 1 << 20), 'x'));
      }
      responseStream.end();
      return;
    case 'hang': // a chunk, then past the timeout
      await write(responseStream, 'before the timeout\n');
      await sleep(60000);
      return;
    case 'http':
      responseStream = awslambda.HttpResponseStream.from(responseStream, {
        statusCode: 201, headers: { 'x-custom': 'yes' }, cookies: ['a=b'],
      });
      responseStream.write('hello ');
      responseStream.end('world');
      return;
    case 'callback-style': // ends the stream without returning a promise
      responseStream.write('no promise');
      setTimeout(() => responseStream.end(), 20);
      return;
  }
});

// plain is a callback-free handler that ends the stream without a promise.
exports.plain = awslambda.streamifyResponse((event, responseStream) => {
  responseStream.write('plain ');
  setTimeout(() => responseStream.end('done'), 20);
});
