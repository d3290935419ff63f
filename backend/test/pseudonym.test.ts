import test from 'ava';
import { pseudonymOf } from '../src/mykey/pseudonym.ts';
import { mykeySecret } from '../src/config.ts';

const secret = mykeySecret({ NODE_ENV: 'test' });

test('a pseudonym is stable for one audience and differs between audiences and secrets', (t) => {
  const library = { kind: 'service', id: 1 } as const;
  const one = pseudonymOf(secret, 'GBWF2TXH', library);
  t.regex(one, /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/);
  t.is(pseudonymOf(secret, 'GBWF2TXH', library), one);
  const others = [
    pseudonymOf(secret, 'GBWF2TXH', { kind: 'service', id: 2 }),
    pseudonymOf(secret, 'GBWF2TXH', { kind: 'merchant', id: 1 }),
    pseudonymOf(secret, 'GBWF2TXJ', library),
    pseudonymOf(Buffer.alloc(32, 7), 'GBWF2TXH', library),
  ];
  t.is(new Set([one, ...others]).size, 5);
});

test('no part of the MyKey ID shows through', (t) => {
  const seen = new Set(Array.from({ length: 2000 }, (_, i) => pseudonymOf(secret, 'GBWF2TXH', { kind: 'merchant', id: i + 1 })));
  t.is(seen.size, 2000);
  t.false([...seen].some((p) => p.replaceAll('-', '').includes('GBWF2TXH')));
});
