import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openRuntime, type ServingRuntime } from '@fever/core';
import type { Config } from '@fever/schema';
import { createAdaptorServer } from '@hono/node-server';
import { createApp, type FeverApp } from './app.ts';
import type { AppOptions } from './context.ts';
import { allowedHostNames } from './hosts.ts';

export interface RunningServer {
  app: FeverApp;
  server: Server;
  /** `http://host:port` as bound (the real port when 0 was asked for). */
  url: string;
  port: number;
  /**
   * Stops accepting connections, lets requests in flight finish (up to `graceMs`, then cuts
   * the rest), and resolves when the server is closed. The runtime stays open: its owner closes it.
   */
  close(graceMs?: number): Promise<void>;
}

/** Puts the app for `runtime` on host:port. */
export async function startServer(
  runtime: ServingRuntime,
  listen: { host: string; port: number },
  options: AppOptions = {},
): Promise<RunningServer> {
  const app = createApp(runtime, {
    allowedHosts: allowedHostNames(listen.host, runtime.config.allowedHosts),
    ...options,
  });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  // Slow or idle clients must not hold sockets for ever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  let closing: Promise<void> | undefined;
  return {
    app,
    server,
    url: `http://${host}:${port}`,
    port,
    close(graceMs = 10_000) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/**
 * `fever serve`: opens the runtime the config names, serves until SIGTERM or SIGINT, then drains
 * requests in flight and closes the runtime (flushing the embedded stores) before exiting.
 */
export async function serve(config: Config, options: AppOptions = {}): Promise<RunningServer> {
  const runtime = await openRuntime(config);
  let running: RunningServer;
  try {
    running = await startServer(
      runtime,
      { host: config.host, port: config.port },
      { warm: true, ...options },
    );
  } catch (err) {
    await runtime.close();
    throw err;
  }
  runtime.logger.info(
    { url: running.url, auth: Boolean(options.apiToken ?? config.apiToken) },
    `fever API listening on ${running.url}`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    runtime.logger.info({ signal }, 'shutting down: draining requests');
    await running.close();
    // Index runs started through the API stop at a clean point; the same request resumes them.
    await running.app.context.services.runs
      .stop()
      .catch((err: unknown) => runtime.logger.error({ err }, 'stopping indexing failed'));
    await runtime.close();
    runtime.logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  return running;
}
