// Container health check of the fever image: exit 0 when the API answers its liveness endpoint.
// Plain JavaScript (no tsx) so that it starts in milliseconds. FEVER_HEALTH_URL overrides the URL.
const { FEVER_PORT, FEVER_HEALTH_URL } = process.env;
const url = FEVER_HEALTH_URL || `http://127.0.0.1:${FEVER_PORT || '8080'}/healthz`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  if (!res.ok) console.error(`healthcheck: ${url} answered HTTP ${res.status}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${url}: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}
