const rule = '─'.repeat(72);

/**
 * What `start` prints on stdout once everything is up: its lines as one block, set apart from the log
 * lines around it by a blank line, a heading and a closing rule, and written in one call so no log line
 * lands inside it. Each line stays as given (tests find "Webhook URL:" at the start of a line).
 */
export function startBanner(lines: string[]): string {
  return [
    '',
    `── mailjet-connector is running ${rule}`.slice(0, rule.length),
    ...lines,
    rule,
    'Press Ctrl-C to stop.',
    '',
    '',
  ].join('\n');
}
