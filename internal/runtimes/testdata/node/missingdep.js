require('hearth-no-such-dependency');
exports.handler = async () => 1;
