/** One CSV line (no line break), quoting only the fields that need it (RFC 4180). */
export function csvLine(fields: readonly (string | number)[]): string {
  return fields
    .map((value) => {
      const text = String(value);
      return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
    })
    .join(',');
}
