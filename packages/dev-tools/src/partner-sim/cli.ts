// `npm run partner-sim -- [options]`: play a partner against a running platform (docs/partner-api.md#the-partner-simulator).
// Sends signed conversions at a rate, with duplicates and bad requests, receives the webhooks,
// reconciles its record against GET, prints one JSON report; exit 0 when everything agrees.
import { parseArgs } from 'node:util';
import { partnerKey } from '@mykey/contracts/partner-signature.ts';
import { PartnerClient, PartnerSimulator, WebhookReceiver, type Behaviour } from './index.ts';

const USAGE = `Usage: npm run partner-sim -- --partner SLUG --municipality CODE --mykey-ids ID,ID,... [options]
  The API secret is read from MYKEY_PARTNER_SECRET (as issued by \`npm run mykey -- partner-secret SLUG\`).
  --backend URL          the platform (default http://127.0.0.1:3000)
  --count N              conversions to send (default 100)
  --rate R               requests started per second (default: as fast as --concurrency allows)
  --concurrency C        requests in flight (default 16)
  --duplicates F         share of conversions sent twice, some at the same moment (default 0.1)
  --bad N                deliberately bad requests mixed in, each must get a 4xx (default 7)
  --points-rate U:P      the partner's rate, to check basePoints (e.g. 100:80)
  --webhook-port P       where the webhook receiver listens (default 47200); register
                         http://127.0.0.1:P/mykey/webhooks with --webhook-url
  --webhook-fail B:N     misbehave on webhooks: B is 500, timeout or close; N calls (an integer)
                         or a fraction of calls (0.3)
  --wait S               seconds to wait for every outcome's webhook (default 60)
  --tx-prefix P          prefix of the partnerTxIds (default sim-<time>)`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function number(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) fail(`--${name} must be a number, got "${value}"`);
  return parsed;
}

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'http://127.0.0.1:3000' },
    partner: { type: 'string' }, municipality: { type: 'string' }, 'mykey-ids': { type: 'string' },
    count: { type: 'string' }, rate: { type: 'string' }, concurrency: { type: 'string' }, duplicates: { type: 'string' }, bad: { type: 'string' },
    'points-rate': { type: 'string' }, 'webhook-port': { type: 'string' }, 'webhook-fail': { type: 'string' }, wait: { type: 'string' },
    'tx-prefix': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const secret = process.env.MYKEY_PARTNER_SECRET;
if (!values.partner || !values.municipality || !values['mykey-ids']) fail('--partner, --municipality and --mykey-ids are required');
if (!secret) fail('MYKEY_PARTNER_SECRET is not set');
const rate = values['points-rate']?.match(/^(\d+):(\d+)$/);
if (values['points-rate'] && !rate) fail('--points-rate must be UNITS:POINTS, e.g. 100:80');
const misbehaviour = values['webhook-fail']?.match(/^(500|timeout|close):([0-9.]+)$/);
if (values['webhook-fail'] && !misbehaviour) fail('--webhook-fail must be 500|timeout|close:N or :FRACTION');

const identity = { partner: values.partner, key: partnerKey(secret) };
const receiver = new WebhookReceiver(identity);
const webhookUrl = await receiver.start(number(values['webhook-port'], 'webhook-port', 47200));
console.error(`partner-sim: receiving webhooks at ${webhookUrl} (register it: npm run mykey -- partner-secret ${values.partner} --webhook-url ${webhookUrl})`);
if (misbehaviour) {
  const behaviour = ({ 500: 'error', timeout: 'timeout', close: 'close' } as const)[misbehaviour[1] as '500' | 'timeout' | 'close'] satisfies Exclude<Behaviour, 'ok'>;
  const amount = Number(misbehaviour[2]);
  receiver.misbehave(behaviour, Number.isInteger(amount) ? { calls: amount } : { fraction: amount });
}
const sim = new PartnerSimulator(new PartnerClient({ ...identity, baseUrl: values.backend.replace(/\/$/, '') }), receiver);
try {
  const traffic = await sim.run({
    count: number(values.count, 'count', 100), mykeyIds: values['mykey-ids'].split(',').map((id) => id.trim()).filter(Boolean),
    municipality: values.municipality, ratePerSecond: values.rate === undefined ? undefined : number(values.rate, 'rate', 0),
    concurrency: number(values.concurrency, 'concurrency', 16), duplicateFraction: number(values.duplicates, 'duplicates', 0.1),
    bad: number(values.bad, 'bad', 7), txPrefix: values['tx-prefix'] ?? `sim-${Date.now()}`,
  });
  console.error(`partner-sim: ${traffic.accepted} of ${traffic.conversions} conversions acknowledged in ${traffic.ms} ms; waiting for their webhooks`);
  const acknowledged = [...sim.sent.values()].filter((s) => s.conversionId !== undefined).map((s) => s.body.partnerTxId);
  const webhooksComplete = await receiver.waitForOutcomes(acknowledged, number(values.wait, 'wait', 60) * 1000).then(() => true, (error: Error) => {
    console.error(`partner-sim: ${error.message}`);
    return false;
  });
  const reconciled = await sim.reconcile(rate ? { rate: { units: Number(rate[1]), points: Number(rate[2]) } } : {});
  const ok = webhooksComplete && traffic.unacknowledged.length === 0 && traffic.inconsistent.length === 0 && traffic.bad.notRefused.length === 0
    && reconciled.pending.length === 0 && reconciled.mismatches.length === 0 && reconciled.storedRefusals.length === 0 && receiver.disagreements.length === 0;
  console.log(JSON.stringify({
    ok, traffic, webhooks: receiver.counts, disagreements: receiver.disagreements.slice(0, 10),
    reconciliation: { ...reconciled, pending: reconciled.pending.length, missingWebhooks: reconciled.missingWebhooks.length, mismatches: reconciled.mismatches.slice(0, 10) },
  }));
  process.exitCode = ok ? 0 : 1;
} finally {
  await receiver.stop();
}
