/**
 * The demo's key rules as a real browser meets them (headless Chromium, real server on 127.0.0.1):
 * the page opened at http://localhost:<port> (a loopback origin, the browser's own Origin header)
 * goes live; on a server whose HOST is beyond loopback with neither PARLEY_DEMO_ORIGINS nor a
 * password, the page says in plain words why it cannot start and nothing else goes wrong.
 */
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, openDemo, snapshot, startDemoServer, type DemoServer } from './browser-harness.ts';

const servers: DemoServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

describe('the demo page and the key rules (headless Chromium)', () => {
  it('opened at http://localhost:<port>, the page gets a key and goes live', async () => {
    const s = await startDemoServer();
    servers.push(s);
    const { page, problems } = await openDemo({ ...s, baseUrl: s.baseUrl.replace('127.0.0.1', 'localhost') }, resolve(ROOT, 'fixtures/speech/hello.wav'));
    await page.click('#start');
    await expect.poll(async () => (await snapshot(page)).phase, { timeout: 15_000 }).toBe('live');
    await page.click('#start');
    await expect.poll(async () => (await snapshot(page)).phase).toBe('idle');
    expect(problems).toEqual([]);
  }, 60_000);

  it('HOST beyond loopback without PARLEY_DEMO_ORIGINS or a password: the page says why it cannot start', async () => {
    const s = await startDemoServer({ HOST: '0.0.0.0' });
    servers.push(s);
    const { page, problems } = await openDemo(s, resolve(ROOT, 'fixtures/speech/hello.wav'));
    await page.click('#start');
    await expect.poll(async () => (await snapshot(page)).stats.errors, { timeout: 15_000 }).toEqual([
      'This server does not hand out demo keys: it is reachable beyond this computer and has no demo password or allowed page address set.',
    ]);
    await expect.poll(async () => (await snapshot(page)).phase).toBe('idle');
    // the browser itself logs the refused request; nothing else may be logged
    expect(problems.filter((p) => !/status of 403/.test(p))).toEqual([]);
  }, 60_000);
});
