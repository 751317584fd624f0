/**
 * How far V8 lets the old generation grow past what its last full collection kept. V8 derives that
 * factor from the heap limit, which it derives from the machine's memory: on any host with 16 GB or
 * more it allows up to 4 ×. The services keep 30–50 MB alive, and everything a batch or a webhook
 * holds across an await (a Segment round trip, a Kafka ack) is promoted and dies old, so the heap
 * swelled to 4 × that before each collection: 265–310 MB of RSS per process under load.
 *
 * 2 × (100 %) is the measured middle (npm run bench:connector, bench:ingress): the connector's peak
 * RSS 270 → 195 MB with CPU per event within the run-to-run noise (42–46 µs); the ingress pays 20–21
 * µs of CPU per event of 100-event bodies against 17. 1.5 × held the connector at 177–187 MB but took
 * the ingress to 27 µs; capping the heap instead (`--max-old-space-size=96` or `128`) made V8 collect
 * all the time: 30–40 % more CPU per event.
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
