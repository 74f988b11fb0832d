// Fixture handlers for clients_test.go (Node runtime client, CommonJS).
'use strict';

let count = 0;
console.log('index.js loaded');

exports.echo = async (event) => event;

exports.context = async (event, context) => ({
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  awsRequestId: context.awsRequestId,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  remainingMs: context.getRemainingTimeInMillis(),
  identity: context.identity,
  clientContext: context.clientContext,
  callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
  hasDone: typeof context.done === 'function',
  hasSucceed: typeof context.succeed === 'function',
  hasFail: typeof context.fail === 'function',
  traceId: process.env._X_AMZN_TRACE_ID,
  cwd: process.cwd(),
});

exports.fail = async (event) => {
  throw new TypeError(`bad thing: ${event.why}`);
};

exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { via: 'callback', event }), 5);
};

exports.callbackError = (event, context, callback) => {
  callback(new RangeError('callback failed'));
};

exports.syncThrow = () => {
  throw new Error('sync throw');
};

exports.syncNoCallback = () => 'ignored'; // a sync handler must use the callback: result is null

exports.succeed = (event, context) => {
  context.succeed({ via: 'succeed' });
};

exports.nested = { deep: { handler: async () => ({ nested: true }) } };

exports.counter = async () => {
  count += 1;
  return { count, pid: process.pid };
};

exports.big = async (event) => ({
  len: event.data.length,
  data: event.data.split('').reverse().join(''),
});

exports.logs = async () => {
  console.log('hello %s', 'world', { a: 1 });
  console.info('info line');
  console.warn('warn line');
  console.error('error line', new Error('logged error'));
  console.debug('debug line');
  return 'logged';
};

exports.waits = (event, context, callback) => {
  setTimeout(() => console.log('timer fired'), 150);
  callback(null, 'waited');
};

exports.noWait = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => console.log('timer fired'), 300);
  callback(null, 'did not wait');
};

exports.rejection = async () => {
  Promise.reject(new Error('nobody handles me'));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return 'too late';
};

exports.neverSettles = async () => new Promise(() => {});

exports.unmarshalable = async () => {
  const a = {};
  a.self = a;
  return a;
};

exports.nullEvent = async (event) => ({ eventIsNull: event === null });

exports.sized = async (event) => ({ data: 'x'.repeat(event.bytes), pid: process.pid });

exports.jsonLogs = async () => {
  console.log({ a: 1 });
  console.log('two %s', 'args', new RangeError('inside'));
  console.debug('debug line');
  console.warn('multi\nline');
  return 'logged';
};
