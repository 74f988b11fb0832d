let counter = 0;
console.log('esm init', process.pid);

export const handler = async (event) => {
  counter++;
  return { style: 'esm', counter, pid: process.pid, event };
};
