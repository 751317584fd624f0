/**
 * How far V8 lets the old generation grow past what its last full collection kept. V8 derives that
 * factor from the heap limit, which it derives from the machine's memory: on any host with 16 GB or
 * more it allows up to 4 ×. The services keep little alive, but everything a batch or a webhook holds
 * across an await (a Segment round trip, a Kafka ack) is promoted and dies old, so the heap swells to
 * 4 × the live size before each collection, and the process's RSS with it.
 *
 * 2 × (100 %) is the middle between memory and CPU (npm run bench:connector, bench:ingress): it cuts
 * the peak RSS well down for little CPU per event; a smaller factor saves a little more memory but
 * costs the ingress clearly more CPU, and capping the heap instead (`--max-old-space-size`) makes V8
 * collect all the time.
 *
 * NODE_OPTIONS cannot carry this V8 flag, so the entry points set it at run time; V8 reads it at every
 * collection. `node --heap-growing-percent=N …` on the command line wins over this default.
 */
import { setFlagsFromString } from 'node:v8';

export const defaultHeapGrowingPercent = 100;

export function limitHeapGrowth(
  options: { execArgv?: readonly string[]; setFlags?: (flags: string) => void } = {},
): void {
  const { execArgv = process.execArgv, setFlags = setFlagsFromString } = options;
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return;
  setFlags(`--heap-growing-percent=${defaultHeapGrowingPercent}`);
}
