import 'hearth-no-such-esm-dependency';
export const handler = async () => 1;
