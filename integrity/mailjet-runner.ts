/**
 * The local Mailjet server in a process of its own, for the integrity lane's destination runs: the
 * worker talks to it over the loopback as it would to Mailjet, and the lane reads the list back over
 * `/_local`. Prints one JSON line `{"url":"http://127.0.0.1:…"}` when it listens; stops on SIGTERM or SIGINT.
 *
 *   node integrity/mailjet-runner.ts <apiKey> <apiSecret>
 */
import { startLocalMailjet } from '../local-saas/mailjet/server.ts';

const [apiKey, apiSecret] = process.argv.slice(2);
if (!apiKey || !apiSecret) {
  process.stderr.write('Usage: integrity/mailjet-runner.ts <apiKey> <apiSecret>\n');
  process.exit(2);
}
const mailjet = await startLocalMailjet({ credentials: [{ apiKey, apiSecret }] });
process.stdout.write(`${JSON.stringify({ url: mailjet.url })}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    mailjet.stop().finally(() => process.exit(0));
  });
}
