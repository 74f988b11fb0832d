import { basename } from 'node:path';

export async function handler(event) {
  return { typeModule: true, file: basename(new URL(import.meta.url).pathname), event };
}
