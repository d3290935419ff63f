// Where a PIN would show if it leaked. Logs, APDU traces and browser storage are full of random
// hex (digests, signatures, request ids, tokens) and numbers (ports, durations) in which any
// four digits, or their eight ASCII hex digits, turn up by chance now and then; a search for the
// bare digits fails a test that way in a few runs of a hundred. A leak has a shape of its own:
// the VERIFY command carrying the PIN as its data, the PIN as a JSON field or string, or the
// PIN written beside the word "PIN". That is what is searched for.

/** The bytes of `hex`, each optionally followed by a space or a colon, as a pattern. */
const bytesPattern = (hex: string) => hex.match(/../g)!.join('[\\s:]?');

/** The shapes a leaked `pin` takes, each with a name for the test's message. */
function leakShapes(pin: string): Array<[string, RegExp]> {
  const digits = pin.replace(/\D/g, '');
  const ascii = Buffer.from(pin, 'ascii').toString('hex');
  return [
    // CLA 00, INS 20 (VERIFY), P1 00, P2 80 (the auth PIN), Lc, then the PIN's ASCII bytes.
    ['the VERIFY command with the PIN as its data', new RegExp(bytesPattern(`00200080${(pin.length).toString(16).padStart(2, '0')}${ascii}`), 'i')],
    ['the PIN as its ASCII bytes in a JSON string', new RegExp(`"${bytesPattern(ascii)}"`, 'i')],
    ['a JSON field named pin', /"pin"\s*:/i],
    ['the PIN as a JSON string', new RegExp(`"${digits}"`)],
    ['the PIN beside the word PIN', new RegExp(`\\bpin\\W{1,3}${digits}(?!\\d)`, 'i')],
  ];
}

/** The names of the leak shapes in which `text` holds any of `pins` (empty: no leak). */
export function pinLeaks(text: string, ...pins: string[]): string[] {
  return pins.flatMap((pin) => leakShapes(pin).filter(([, pattern]) => pattern.test(text)).map(([name]) => `${name} (${pin})`));
}
