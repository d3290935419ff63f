// 全国地方公共団体コード: five digits and a check digit. The check digit is the last digit of
// 11 minus (the digits weighted 6, 5, 4, 3, 2, summed, modulo 11) (総務省 地方公共団体コード).
const WEIGHTS = [6, 5, 4, 3, 2];

/** Whether `code` is six digits whose last is the check digit of the first five. */
export function isMunicipalityCode(code: string): boolean {
  if (!/^[0-9]{6}$/.test(code)) return false;
  const sum = WEIGHTS.reduce((total, weight, i) => total + weight * Number(code[i]), 0);
  return (11 - (sum % 11)) % 10 === Number(code[5]);
}
