import test from 'ava';
import { zenginText } from '../src/zengin.ts';

test('kana, letters and digits are written half-width and upper-case, small kana large and ー as -', (t) => {
  t.deepEqual(zenginText('ヤマダ　タロウ', 30), { ok: true, value: 'ﾔﾏﾀﾞ ﾀﾛｳ' });
  t.deepEqual(zenginText('かぶしきがいしゃ　みらいベーカリー', 30), { ok: true, value: 'ｶﾌﾞｼｷｶﾞｲｼﾔ ﾐﾗｲﾍﾞ-ｶﾘ-' });
  t.deepEqual(zenginText('ｶ)ﾐﾗｲ', 30), { ok: true, value: 'ｶ)ﾐﾗｲ' });
  t.deepEqual(zenginText('ｍｉｒａｉ　Bakery １', 30), { ok: true, value: 'MIRAI BAKERY 1' });
});

test('a name that cannot be written says which characters cannot; an empty or long one says so', (t) => {
  t.deepEqual(zenginText('山田 タロウ', 30), { ok: false, reason: 'invalid_characters', invalid: ['山', '田'] });
  t.deepEqual(zenginText('ﾀﾛｳ!', 30), { ok: false, reason: 'invalid_characters', invalid: ['!'] });
  t.deepEqual(zenginText('　', 30), { ok: false, reason: 'empty', invalid: [] });
  t.deepEqual(zenginText('ｱ'.repeat(16), 15), { ok: false, reason: 'too_long', invalid: [] });
  t.true(zenginText('ｱ'.repeat(15), 15).ok);
});
