exports.handler = (event, context, callback) => {
  setTimeout(() => {
    throw new SyntaxError('thrown from a timer');
  }, 10);
};
