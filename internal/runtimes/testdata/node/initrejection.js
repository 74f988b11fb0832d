Promise.reject(new Error('rejected during init'));
exports.handler = async () => 1;
