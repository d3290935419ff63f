// Limits the backend enforces and the console checks before sending, each written once.

/**
 * The most points one conversion, grant, payment or refund moves: ten million points (yen).
 * The payment_intents table's CHECK constraint (migration 20261122063000) holds the same figure.
 */
export const MAX_POINTS = 10_000_000;

/** The longest reason staff give for an action on a resident (a suspension, a grant, a relink). */
export const STAFF_REASON_MAX = 200;

/** The longest name of a reader device. */
export const DEVICE_NAME_MAX = 100;
