throw new RangeError('init failed on purpose');
