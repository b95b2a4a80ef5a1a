/**
 * PARLEY_SIP_TLS_CERT / _KEY / _PORT and PARLEY_SRTP (server/config/sip.ts): read and checked at start, a bad
 * one stops the start naming the setting (exit 2 from server/main.ts, as other configuration errors).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { makeTestCert } from '../../component/helpers.ts';
import type { TestCert } from '../../component/helpers.ts';
import { settingOf } from '../../support/config.ts';
import { spawnMain } from '../../support/parley-process.ts';


describe('SIP TLS and SRTP settings', () => {
  let a: TestCert;
  let b: TestCert;
  let dir: string;
  beforeAll(() => {
    a = makeTestCert();
    b = makeTestCert();
    dir = mkdtempSync(join(tmpdir(), 'parley-sip-tls-cfg-'));
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate\n');
  });
  afterAll(() => {
    a.cleanup();
    b.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the certificate, key, port (default 5061) and the SRTP mode', () => {
    const c = loadConfig({ PARLEY_SIP_TLS_CERT: a.certPath, PARLEY_SIP_TLS_KEY: a.keyPath, PARLEY_SRTP: 'required' }).sip;
    expect(c.tls).toEqual({ certFile: a.certPath, keyFile: a.keyPath, port: 5061 });
    expect(c.srtp).toBe('required');
    expect(loadConfig({ PARLEY_SIP_TLS_CERT: a.certPath, PARLEY_SIP_TLS_KEY: a.keyPath, PARLEY_SIP_TLS_PORT: '15061' }).sip.tls?.port).toBe(15061);
    expect(loadConfig({}).sip).toMatchObject({ tls: null, srtp: 'off' });
  });

  it('a bad setting is named: one file without the other, unreadable, not PEM, a key of another certificate, a bad mode or port', () => {
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_CERT: a.certPath }))).toBe('PARLEY_SIP_TLS_KEY');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_KEY: a.keyPath }))).toBe('PARLEY_SIP_TLS_CERT');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_CERT: join(dir, 'missing.pem'), PARLEY_SIP_TLS_KEY: a.keyPath }))).toBe('PARLEY_SIP_TLS_CERT');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_CERT: a.certPath, PARLEY_SIP_TLS_KEY: dir }))).toBe('PARLEY_SIP_TLS_KEY'); // a directory: EISDIR
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_CERT: join(dir, 'junk.pem'), PARLEY_SIP_TLS_KEY: a.keyPath }))).toBe('PARLEY_SIP_TLS_CERT');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_CERT: a.certPath, PARLEY_SIP_TLS_KEY: join(dir, 'junk.pem') }))).toBe('PARLEY_SIP_TLS_KEY');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_CERT: a.certPath, PARLEY_SIP_TLS_KEY: b.keyPath }))).toBe('PARLEY_SIP_TLS_KEY');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_PORT: '5061' }))).toBe('PARLEY_SIP_TLS_PORT');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TLS_CERT: a.certPath, PARLEY_SIP_TLS_KEY: a.keyPath, PARLEY_SIP_TLS_PORT: '70000' }))).toBe('PARLEY_SIP_TLS_PORT');
    expect(settingOf(() => loadConfig({ PARLEY_SRTP: 'maybe' }))).toBe('PARLEY_SRTP');
  });

  it('server/main.ts refuses to start on an unreadable certificate: exit 2, the message names the setting', async () => {
    const main = spawnMain({ HOST: '127.0.0.1', PORT: '0', PARLEY_DATA_DIR: dir, PARLEY_SIP_TLS_CERT: join(dir, 'missing.pem'), PARLEY_SIP_TLS_KEY: a.keyPath });
    const { code } = await main.exited;
    const out = { code, out: main.out() };
    expect(out.code, out.out).toBe(2);
    expect(out.out).toMatch(/bad configuration: PARLEY_SIP_TLS_CERT/);
  }, 30_000);
});
