/**
 * Toxiproxy, Shopify's TCP fault proxy, between clients and a server of the local stack: each proxy
 * listens on a loopback port and forwards to its upstream, and toxics added through the HTTP API make
 * that path slow, black-hole it or reset its connections until they are removed. Built from its Go
 * module into `.cache/go/bin/` on first use (stack/go-tools.ts), run under the same watchdog as the
 * stack's JVMs so it never outlives us.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectorError } from '../core/errors.ts';
import { freePort, retryPortClash } from './free-port.ts';
import { type GoTool, goTool } from './go-tools.ts';
import { type JvmProcess, startJvm } from './jvm-process.ts';
import { waitUntil } from './wait-until.ts';

export const TOXIPROXY: GoTool = {
  module: 'github.com/Shopify/toxiproxy/v2',
  package: 'cmd/server',
  version: 'v2.5.0',
  name: 'toxiproxy-server',
};

/** A toxic as Toxiproxy's API takes it (https://github.com/Shopify/toxiproxy#toxics). */
export interface Toxic {
  type: 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';
  /** upstream: client → server; downstream: server → client. */
  stream: 'upstream' | 'downstream';
  /** latency: `latency`, `jitter` (ms); bandwidth: `rate` (KB/s); timeout and reset_peer: `timeout` (ms). */
  attributes: Record<string, number>;
  /** The share of connections it applies to; 1 by default. */
  toxicity?: number;
}

type ApiCall = (method: string, path: string, body?: object) => Promise<void>;

export class ToxiproxyServer {
  readonly url: string;
  readonly #process: JvmProcess;

  private constructor(url: string, process: JvmProcess) {
    this.url = url;
    this.#process = process;
  }

  static start(options: { cacheDir?: string; readyTimeoutMs?: number } = {}): Promise<ToxiproxyServer> {
    return retryPortClash(true, () => ToxiproxyServer.#startOnce(options));
  }

  static async #startOnce(options: { cacheDir?: string; readyTimeoutMs?: number }): Promise<ToxiproxyServer> {
    const binary = await goTool(TOXIPROXY, options.cacheDir ? { cacheDir: options.cacheDir } : {});
    const port = await freePort();
    const home = await mkdtemp(join(tmpdir(), 'mailjet-connector-toxiproxy-'));
    // The watchdog knows nothing of Java: it runs any program and stops it when we are gone.
    const process = startJvm({
      name: 'toxiproxy',
      java: binary,
      args: ['-host', '127.0.0.1', '-port', String(port)],
      cwd: home,
      logFile: join(home, 'toxiproxy.log'),
      cleanupDir: home,
    });
    const server = new ToxiproxyServer(`http://127.0.0.1:${port}`, process);
    const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    try {
      await waitUntil({
        timeoutMs: readyTimeoutMs,
        process,
        probe: async () => (await fetch(`${server.url}/version`)).ok,
        notReady: (tail) =>
          new ConnectorError(
            'FAULT_PROXY_NOT_READY',
            `Toxiproxy on ${server.url} not ready after ${readyTimeoutMs} ms. Log tail:\n${tail}`,
          ),
      });
    } catch (err) {
      const tail = process.logTail();
      await process.stop(2000);
      // Go says "bind: address already in use", which waitUntil's Java wording does not catch: a port
      // taken between freePort and the bind is retried as a clash.
      if (/address already in use/i.test(tail)) {
        throw new ConnectorError('PORT_TAKEN', `Toxiproxy could not bind 127.0.0.1:${port}.`, { cause: err });
      }
      throw err;
    }
    return server;
  }

  /** A proxy listening on `listen` (host:port) that forwards to `upstream`, which need not listen yet. */
  async proxy(name: string, listen: string, upstream: string): Promise<ToxicProxy> {
    await this.#call('POST', '/proxies', { name, listen, upstream, enabled: true });
    return new ToxicProxy(name, listen, (method, path, body) => this.#call(method, path, body));
  }

  /** Every proxy enabled again and every toxic removed: the network healed. */
  async reset(): Promise<void> {
    await this.#call('POST', '/reset');
  }

  /** The process group id of Toxiproxy and its watchdog. */
  get pid(): number {
    return this.#process.pid;
  }

  async stop(): Promise<void> {
    await this.#process.stop(2000);
  }

  /** One call of the HTTP API; anything but 2xx throws with Toxiproxy's answer. */
  async #call(method: string, path: string, body?: object): Promise<void> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) {
      throw new Error(`Toxiproxy ${method} ${path} answered ${response.status}: ${await response.text()}`);
    }
    await response.arrayBuffer();
  }
}

export class ToxicProxy {
  readonly name: string;
  /** host:port clients connect to. */
  readonly listen: string;
  readonly #call: ApiCall;
  #toxics = 0;

  constructor(name: string, listen: string, call: ApiCall) {
    this.name = name;
    this.listen = listen;
    this.#call = call;
  }

  /** Adds a toxic, in force for new and open connections until removed; returns its name. */
  async addToxic(toxic: Toxic): Promise<string> {
    const name = `${toxic.type}-${toxic.stream}-${++this.#toxics}`;
    await this.#call('POST', `/proxies/${this.name}/toxics`, {
      name,
      type: toxic.type,
      stream: toxic.stream,
      toxicity: toxic.toxicity ?? 1,
      attributes: toxic.attributes,
    });
    return name;
  }

  async removeToxic(name: string): Promise<void> {
    await this.#call('DELETE', `/proxies/${this.name}/toxics/${name}`);
  }

  /** Disabled: the proxy closes every connection and stops listening (connections are refused). */
  async setEnabled(enabled: boolean): Promise<void> {
    await this.#call('POST', `/proxies/${this.name}`, { enabled });
  }
}
