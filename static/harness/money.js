// Money as people read it, the same as the server's `dollars` filter and the CLI (harness_cli/money.py):
// cents from one cent up, a tenth of a cent below it, never "$0.000000"; nothing billed says "offline estimate".
export function dollars(value, estimated = false) {
  const amount = Number(value || 0);
  if (!Number.isFinite(amount)) return "—";
  if (amount === 0) return estimated ? "$0 (offline estimate)" : "$0";
  if (amount < 0.001) return "<$0.001";
  const mills = Math.round(amount * 1000) / 1000;
  if (mills < 0.01) return `$${mills.toFixed(3)}`;
  return `$${amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
