/** Starts a local stack, prints its process group ids as one JSON line, then waits to be killed. */
import { silentLogger } from '../../core/logger.ts';
import { loadStackConfig, startStack } from '../../stack/local-stack.ts';

const stack = await startStack(loadStackConfig({}), silentLogger());
process.stdout.write(`${JSON.stringify({ pids: stack.pids })}\n`);
setInterval(() => {}, 1 << 30);
