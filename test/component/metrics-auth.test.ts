/**
 * `/metrics` auth (PARLEY_METRICS_AUTH, PARLEY_METRICS_TOKEN), over real HTTP on 127.0.0.1: open by
 * default on a loopback HOST (as Prometheus users expect), a bearer token by default beyond loopback.
 * The config's HOST decides the default; the test servers themselves always listen on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { startParley, TEST_KEY, type Parley } from './helpers.ts';

const METRICS_TOKEN = 'mt_scrape_token_0123456789abcdef';

async function scrape(p: Parley, token?: string): Promise<{ status: number; body: string; wwwAuth: string | null }> {
  const res = await fetch(`${p.httpUrl}/metrics`, token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: await res.text(), wwwAuth: res.headers.get('www-authenticate') };
}

describe('/metrics auth', () => {
  let parley: Parley | null = null;
  afterEach(async () => {
    await parley?.close();
    parley = null;
  });

  it('is open by default when HOST is loopback', async () => {
    parley = await startParley();
    const r = await scrape(parley);
    expect(r.status).toBe(200);
    expect(r.body).toContain('parley_sessions_active');
  });

  it('needs a bearer token by default when HOST is beyond loopback: a server key or PARLEY_METRICS_TOKEN', async () => {
    parley = await startParley({ env: { HOST: '0.0.0.0', PARLEY_METRICS_TOKEN: METRICS_TOKEN } });
    const none = await scrape(parley);
    expect(none.status).toBe(401);
    expect(none.wwwAuth).toMatch(/^Bearer /);
    expect(none.body).not.toContain('parley_sessions_active');
    expect((await scrape(parley, 'pk_wrong_key_that_is_long_enough')).status).toBe(401);
    expect((await scrape(parley, TEST_KEY)).status).toBe(200);
    const withToken = await scrape(parley, METRICS_TOKEN);
    expect(withToken.status).toBe(200);
    expect(withToken.body).toContain('parley_sessions_active');
    // an ephemeral key is a client's, not a scraper's
    const { value: ek } = parley.app.parley.clientSecrets.mint({ ttlS: 60 });
    expect((await scrape(parley, ek)).status).toBe(401);
    // /healthz and /readyz stay open for load balancers
    expect((await fetch(`${parley.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${parley.httpUrl}/readyz`)).status).toBe(200);
  });

  it('PARLEY_METRICS_AUTH=bearer on loopback, and =none beyond loopback, as set', async () => {
    parley = await startParley({ env: { PARLEY_METRICS_AUTH: 'bearer' } });
    expect((await scrape(parley)).status).toBe(401);
    expect((await scrape(parley, TEST_KEY)).status).toBe(200);
    await parley.close();
    parley = await startParley({ env: { HOST: '0.0.0.0', PARLEY_METRICS_AUTH: 'none' } });
    expect((await scrape(parley)).status).toBe(200);
  });

  it('config: auto resolves by HOST, bad values and short tokens are named', () => {
    const base = { PARLEY_API_KEYS: TEST_KEY };
    expect(loadConfig({ ...base }).metrics).toEqual({ auth: 'none', token: null });
    expect(loadConfig({ ...base, HOST: 'localhost' }).metrics.auth).toBe('none');
    expect(loadConfig({ ...base, HOST: '::1' }).metrics.auth).toBe('none');
    expect(loadConfig({ ...base, HOST: '0.0.0.0' }).metrics.auth).toBe('bearer');
    expect(loadConfig({ ...base, HOST: '::' }).metrics.auth).toBe('bearer');
    expect(loadConfig({ ...base, HOST: '192.0.2.10' }).metrics.auth).toBe('bearer');
    expect(() => loadConfig({ ...base, PARLEY_METRICS_AUTH: 'basic' })).toThrow(/PARLEY_METRICS_AUTH/);
    expect(() => loadConfig({ ...base, PARLEY_METRICS_TOKEN: 'short' })).toThrow(/PARLEY_METRICS_TOKEN/);
  });
});
