// `npm run reader-agent -- tap --purpose P`: a PIN-less tap from the command line, through the
// running agent's local API, exactly as the console makes it.
import { callAgent, cardCommandOptionsHelp, prepareCardCommand } from './card-command.ts';
import { PURPOSE_NAME } from './local-api.ts';

export const TAP_HELP = `Usage: npm run reader-agent -- tap --purpose PURPOSE [options]

A PIN-less tap of the My Number card on this PC's reader, for a purpose the MyKey server takes a
tap for (a lookup at a service's counter or gate): the running reader agent reads the card's
user-authentication certificate, asks no PIN and has nothing signed, and sends the certificate
to the server as this enrolled device. Prints the server's answer as JSON. A purpose that wants
the PIN is refused by the server (card_tap_not_allowed): use login for it.
The agent must be running (npm run reader-agent) and enrolled (see enroll --help).

Options:
  --purpose P        what the tap is for, as the server names it (required)
${cardCommandOptionsHelp()}

Exit status: 0 the server took the tap, 1 refused or failed (why, in Japanese and English, on
stderr), 2 wrong usage.`;

export function tapCommand(args: string[]): Promise<number> | number {
  const prepared = prepareCardCommand(args, {
    help: TAP_HELP,
    purposeProblem: (purpose) => (PURPOSE_NAME.test(purpose) ? undefined : `--purpose must be a purpose's name (lower-case letters, digits and _), got "${purpose}"`),
    failed: () => ['カードのタッチを受け付けられませんでした', 'The card tap was not taken'],
  });
  if (typeof prepared === 'number') return prepared;
  return callAgent(prepared.port, prepared.token, '/v1/card-taps', prepared.fields, prepared.failed);
}
