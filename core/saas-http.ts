/**
 * What the project's clients of SaaS HTTP APIs (Segment, Mailjet) share: how long to wait before
 * retrying, and how much of an answer to quote in a log line or a dead letter.
 */

/**
 * Full jitter (AWS): uniform in [0, cap), the cap doubling per failure from `initialDelayMs` up to
 * `maxDelayMs`; spreads out the retries of partitions that failed together.
 */
export function fullJitterDelay(
  failures: number,
  delays: { initialDelayMs: number; maxDelayMs: number },
  random: () => number = Math.random,
): number {
  // The exponent is bounded only so the power stays finite; the cap takes over long before.
  const cap = Math.min(delays.maxDelayMs, delays.initialDelayMs * 2 ** Math.min(failures, 40));
  return Math.floor(random() * cap);
}

/** An answer body as it may be quoted: trimmed, cut at `maxChars`, and never empty. */
export function answerExcerpt(body: string, maxChars: number): string {
  const text = body.trim() || '(empty answer)';
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}
