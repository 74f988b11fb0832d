let count = 0;
export const handler = async (event) => {
  count += 1;
  return { esm: true, count, event };
};
export default { viaDefault: async () => ({ viaDefault: true }) };
