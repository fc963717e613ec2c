// Money is an integer count of minor units everywhere (CONTRACT.md): no floats, neither when
// showing an amount nor when reading one from a field.

export const MIN_AMOUNT = 1;
export const MAX_AMOUNT = 1_000_000_000;

/** 1234567 -> "12,345.67" */
export function formatMoney(minor: number): string {
  const sign = minor < 0 ? "-" : "";
  const digits = String(Math.abs(Math.trunc(minor))).padStart(3, "0");
  const major = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${major}.${digits.slice(-2)}`;
}

/** "25", "25.5", "25.50", "25,50" or "1,250.00" -> minor units; null when it is not an amount. */
export function parseMoney(text: string): number | null {
  const cleaned = text.trim().replace(/,(?=\d{3}(\D|$))/g, "");
  const match = /^(\d{1,8})(?:[.,](\d{1,2}))?$/.exec(cleaned);
  if (!match) return null;
  const minor = Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  return minor >= MIN_AMOUNT && minor <= MAX_AMOUNT ? minor : null;
}

export const AMOUNT_HINT = `an amount from ${formatMoney(MIN_AMOUNT)} to ${formatMoney(MAX_AMOUNT)}, such as 25 or 25.50`;
