module.exports.handler = (event, context, callback) => callback(null, { cjs: true });
