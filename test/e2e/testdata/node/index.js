'use strict';
console.log('node init', process.pid);
if (process.env.FAIL_INIT) {
  throw new Error('failing init on purpose');
}

let counter = 0;

exports.handler = async (event, context) => {
  counter++;
  const op = (event && event.op) || 'echo';
  console.log('handling', op, 'count', counter);
  const r = {
    op, pid: process.pid, env_id: context.logStreamName, counter,
    request_id: context.awsRequestId,
    function_arn: context.invokedFunctionArn,
    remaining_ms: context.getRemainingTimeInMillis(),
  };
  if (context.clientContext) r.client_context = context.clientContext.custom;
  switch (op) {
    case 'sleep': await new Promise((res) => setTimeout(res, event.ms)); break;
    case 'error': throw new TypeError('boom: ' + (event.text || ''));
    case 'exit': process.exit(event.n || 1); break;
    case 'env': r.env = { ...process.env }; break;
    case 'big': r.data = 'a'.repeat(event.bytes); break;
    case 'echo': r.event = event; break;
    case 'log': console.info('info via console'); console.warn('warning via console'); break;
    case 'hang': await new Promise(() => setInterval(() => {}, 1000)); break;
  }
  return r;
};

// A callback-style handler in the same module.
exports.callback = (event, context, callback) => {
  counter++;
  setTimeout(() => callback(null, { style: 'callback', counter, pid: process.pid }), 1);
};
