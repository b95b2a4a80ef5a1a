/**
 * baresip calls Parley over SIP over TLS with SRTP (its `srtp` module, `mediaenc=srtp-mand`: RTP/SAVP with
 * an AES_CM_128_HMAC_SHA1_80 crypto line), on the offline local engine, with a self-signed certificate made
 * by openssl in a temp dir (PARLEY_SIP_TLS_CERT/KEY, PARLEY_SRTP=required).
 *
 * Between the two sits a relay the test owns, on 127.0.0.2 (Parley binds 127.0.0.1 and advertises 127.0.0.2 as
 * its public address, so baresip's TLS connection and its RTP/RTCP go through the relay, and Parley latches its
 * RTP onto the relay): the relay records the TLS bytes and every RTP payload each way. The call works (the local
 * engine hears the caller, PocketSphinx finds the agent's reply in what baresip heard), the signalling bytes hold
 * no SIP text (no INVITE, no crypto key), and the media are not μ-law: the same relay on a plain RTP call over TLS
 * (PARLEY_SRTP=off, baresip without mediaenc) sees μ-law silence (0xFF payloads) and speech-like levels, the
 * SRTP call sees payload bytes spread evenly over 0-255 and no silence packet.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavFile, writeWavFile } from '../../audio/index.ts';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { startSipBridge } from '../../server/sip-bridge.ts';
import type { SipBridge } from '../../server/sip-bridge.ts';
import { makeTestCert, startParley } from '../component/helpers.ts';
import type { Parley, TestCert } from '../component/helpers.ts';
import { killAll, startBaresip, waitFor } from '../fakes/sip-harness.ts';
import { to16k, words } from '../support/hear.ts';

const SPEECH = new URL('../../fixtures/speech/', import.meta.url).pathname;
const RELAY_HOST = '127.0.0.2';

/** 8 kHz mono WAV: 1 s silence, book-table, 40 s silence (the reply plays meanwhile; the local engine's first turn is slow on a loaded machine). */
function makeCallerWav(dir: string): string {
  const a = readWavFile(join(SPEECH, 'book-table.wav'), { sampleRateHz: 8000 }).samples;
  const sil = (s: number): number => Math.round(s * 8000);
  const out = new Int16Array(sil(1) + a.length + sil(40));
  out.set(a, sil(1));
  const path = join(dir, 'caller.wav');
  writeWavFile(path, out, 8000);
  return path;
}


/** G.711 μ-law → linear (ITU-T G.711). */
function ulawToLinear(u: number): number {
  const x = ~u & 0xff;
  const t = (((x & 0x0f) << 3) + 0x84) << ((x & 0x70) >> 4);
  return x & 0x80 ? 0x84 - t : t - 0x84;
}

/** What the relay saw of one stream's payloads (RTP header and, for SRTP, the 10-byte tag left out). */
interface MediaCapture {
  packets: number;
  /** payloads that are all one byte value (μ-law silence is all 0xFF, or 0x7F) */
  constantPayloads: number;
  histogram: Uint32Array;
  bytes: number;
  /** mean |sample| of the payloads read as μ-law */
  meanAbs: number;
  sumAbs: number;
}

const newCapture = (): MediaCapture => ({ packets: 0, constantPayloads: 0, histogram: new Uint32Array(256), bytes: 0, meanAbs: 0, sumAbs: 0 });

function capture(c: MediaCapture, pkt: Buffer, tagBytes: number): void {
  if (pkt.length < 12 || pkt[0]! >> 6 !== 2 || (pkt[1]! >= 200 && pkt[1]! <= 207)) return; // not RTP (RTCP)
  if ((pkt[1]! & 0x7f) !== 0) return; // PCMU only (not telephone-event)
  const payload = pkt.subarray(12 + 4 * (pkt[0]! & 0x0f), pkt.length - tagBytes);
  if (payload.length < 80) return;
  c.packets++;
  if (payload.every((b) => b === payload[0])) c.constantPayloads++;
  for (const b of payload) {
    c.histogram[b]!++;
    c.sumAbs += Math.abs(ulawToLinear(b));
  }
  c.bytes += payload.length;
  c.meanAbs = c.sumAbs / c.bytes;
}

/** Chi-square of the byte histogram against uniform (255 degrees of freedom: ≈255 ± 23 for random bytes). */
function chiSquare(c: MediaCapture): number {
  const e = c.bytes / 256;
  let x = 0;
  for (const n of c.histogram) x += ((n - e) * (n - e)) / e;
  return x;
}

interface Relay {
  toParley: MediaCapture; // baresip → Parley
  toCaller: MediaCapture; // Parley → baresip
  signalling: Buffer[];
  close(): Promise<void>;
}

/**
 * A TCP relay RELAY_HOST:tlsPort → 127.0.0.1:tlsPort (the TLS bytes pass untouched), and a UDP relay on each port of
 * Parley's RTP range: from baresip → Parley's same port on 127.0.0.1, from Parley → back to where baresip sent from.
 */
async function startRelay(tlsPort: number, rtp: { min: number; max: number }, tagBytes: number): Promise<Relay> {
  const r: Relay = { toParley: newCapture(), toCaller: newCapture(), signalling: [], close: async () => undefined };
  const conns = new Set<net.Socket>();
  const tcp = net.createServer((client) => {
    const up = net.connect(tlsPort, '127.0.0.1');
    conns.add(client).add(up);
    client.on('data', (d: Buffer) => {
      r.signalling.push(Buffer.from(d));
      up.write(d);
    });
    up.on('data', (d: Buffer) => {
      r.signalling.push(Buffer.from(d));
      client.write(d);
    });
    const done = (): void => {
      client.destroy();
      up.destroy();
    };
    client.on('close', done).on('error', done);
    up.on('close', done).on('error', done);
  });
  await new Promise<void>((res, rej) => tcp.once('error', rej).listen(tlsPort, RELAY_HOST, () => res()));
  const socks: dgram.Socket[] = [];
  for (let port = rtp.min; port <= rtp.max; port++) {
    const s = dgram.createSocket('udp4');
    let caller: { address: string; port: number } | undefined;
    s.on('message', (pkt, rinfo) => {
      if (rinfo.address === '127.0.0.1' && rinfo.port === port) {
        capture(r.toCaller, pkt, tagBytes);
        if (caller) s.send(pkt, caller.port, caller.address);
      } else {
        caller = { address: rinfo.address, port: rinfo.port };
        capture(r.toParley, pkt, tagBytes);
        s.send(pkt, port, '127.0.0.1');
      }
    });
    s.on('error', () => undefined);
    await new Promise<void>((res, rej) => s.once('error', rej).bind(port, RELAY_HOST, () => res()));
    socks.push(s);
  }
  r.close = async () => {
    for (const c of conns) c.destroy();
    await new Promise<void>((res) => tcp.close(() => res()));
    await Promise.all(socks.map((s) => new Promise<void>((res) => s.close(() => res()))));
  };
  return r;
}

/** A small RTP range (4 pairs) free on 127.0.0.1 and RELAY_HOST. */
function smallRtpRange(): { min: number; max: number } {
  const min = 47000 + 8 * Math.floor(Math.random() * 300);
  return { min, max: min + 7 };
}

describe('baresip calls Parley over SIP/TLS with SRTP (local engine)', () => {
  let cert: TestCert;
  const stt = new PocketSphinxStt();
  let wav: string;
  const running: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    cert = makeTestCert();
    wav = makeCallerWav(mkdtempSync(join(tmpdir(), 'parley-sip-tls-')));
    await stt.warm();
  }, 60_000);
  afterAll(async () => {
    for (const r of running.splice(0).reverse()) await r.close().catch(() => undefined);
    await stt.close();
    killAll();
    cert?.cleanup();
  });

  async function start(srtp: 'off' | 'required'): Promise<{ parley: Parley; bridge: SipBridge; relay: Relay; replies: string[]; rtp: { min: number; max: number } }> {
    const replies: string[] = [];
    const rtp = smallRtpRange();
    const parley = await startParley({
      env: {
        PARLEY_ENGINE: 'local',
        PARLEY_SIP_TLS_CERT: cert.certPath,
        PARLEY_SIP_TLS_KEY: cert.keyPath,
        PARLEY_SIP_TLS_PORT: '0',
        PARLEY_SRTP: srtp,
        LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent',
      },
    });
    running.push(parley);
    const bridge = await startSipBridge(parley.app, {
      sip: { host: '127.0.0.1', port: 0, rtpPorts: rtp, publicAddress: RELAY_HOST },
      observe: (_call, ev) => {
        if (ev.type === 'response.output_audio_transcript.done') replies.push(String(ev['transcript']));
      },
    });
    running.push(bridge);
    expect(bridge.server.tlsPort).toBeGreaterThan(0);
    const relay = await startRelay(bridge.server.tlsPort, rtp, srtp === 'off' ? 0 : 10);
    running.push(relay);
    return { parley, bridge, relay, replies, rtp };
  }

  const baresipTls = (srtp: boolean): { extraConfig: string[]; accountParams: string } => ({
    extraConfig: ['module\t\t\tsrtp.so', `sip_cafile\t\t${cert.certPath}`],
    accountParams: srtp ? ';mediaenc=srtp-mand' : '',
  });

  it(
    'SRTP over TLS: the call works both ways, the signalling is not SIP text and the media are not μ-law',
    async () => {
      const { bridge, relay, replies } = await start('required');
      const uri = `sip:1000@${RELAY_HOST}:${bridge.server.tlsPort};transport=tls`;
      const bs = await startBaresip({ inputWav: wav, uri, codecs: 'pcmu', ...baresipTls(true) });
      try {
        await bs.waitEvent('CALL_ESTABLISHED', 15_000);
        await waitFor(() => bridge.server.calls().length > 0, 5000, 'call on the server');
        const call = bridge.server.calls()[0]!;
        expect(call.transport).toBe('tls');
        expect(call.stats().srtp).toBe(true);
        // the agent answers "You said: …" once the local engine has heard the caller
        // the local engine loads its models on the first session (15 s seen at load 15 on 2 cores, more with other test files running)
        await waitFor(() => replies.length > 0, 75_000, 'the agent reply');
        await new Promise((r) => setTimeout(r, 6000)); // the reply plays out to baresip
        const st = call.stats();
        expect(st.rtp.packetsIn).toBeGreaterThan(300);
        expect(st.rtp.srtpAuthFailed).toBe(0);
        expect(st.playedMs).toBeGreaterThan(1000);
        expect(st.rtp.rtcpIn, 'SRTCP from baresip (libsrtp) decrypted and authenticated').toBeGreaterThan(0);
        bs.command('hangup');
        await bs.waitEvent('CALL_CLOSED', 10_000);
      } finally {
        await bs.quit();
      }
      // libsrtp in baresip authenticated and decrypted our packets: no authentication failure ever; a few packets
      // at the start of the call refused as replayed/too old (EALREADY, "Operation already in progress") have been
      // seen in some runs, as the path moves from direct to the relay (docs/notes/sip.md "TLS and SRTP")
      const failures = bs.log().match(/srtp: failed to decrypt[^\n]*/g) ?? [];
      expect(failures.filter((f) => !/Operation already in progress/.test(f)), failures.join('\n')).toEqual([]);
      expect(failures.length, failures.join('\n')).toBeLessThanOrEqual(5);
      // the local engine heard the caller…
      const said = replies.join(' ');
      expect(said).toMatch(/^You said: /);
      expect(words(said).filter((w) => ['table', 'two', 'people', 'tomorrow', 'evening'].includes(w)).length, said).toBeGreaterThanOrEqual(2);
      // …and baresip heard the agent (its decoded recording, PocketSphinx)
      const dec = bs.decodedWav();
      expect(dec, 'baresip recorded what it heard').toBeTruthy();
      const s = stt.open();
      s.push(to16k(readWavFile(dec as string, { sampleRateHz: 8000 }).samples));
      const heardText = (await s.finish()).text;
      const expected = new Set(words(said));
      const found = new Set(words(heardText).filter((w) => expected.has(w)));
      expect(found.size, `agent said "${said}", caller heard "${heardText}"`).toBeGreaterThanOrEqual(2);
      // the signalling on the wire: TLS records, no SIP text, no key
      const wire = Buffer.concat(relay.signalling);
      expect(wire.length).toBeGreaterThan(1000);
      expect(wire[0], 'a TLS handshake record').toBe(0x16);
      expect(wire.includes('SIP/2.0')).toBe(false);
      expect(wire.includes('a=crypto')).toBe(false);
      // the media on the wire: both ways, no μ-law silence, bytes spread evenly (ciphertext)
      for (const [dir, c] of [['baresip → Parley', relay.toParley], ['Parley → baresip', relay.toCaller]] as const) {
        expect(c.packets, dir).toBeGreaterThan(100);
        expect(c.constantPayloads, dir).toBe(0);
        expect(chiSquare(c), `${dir}: byte histogram vs uniform`).toBeLessThan(400);
        expect(c.meanAbs, `${dir}: read as μ-law, the level of noise`).toBeGreaterThan(5000);
      }
    },
    150_000,
  );

  it(
    'PARLEY_SRTP decides: off refuses baresip\'s RTP/SAVP offer with 488, required refuses its plain offer with 488',
    async () => {
      for (const [mode, srtpOffer] of [
        ['off', true],
        ['required', false],
      ] as const) {
        const { bridge } = await start(mode);
        const uri = `sip:1000@${RELAY_HOST}:${bridge.server.tlsPort};transport=tls`;
        const bs = await startBaresip({ inputWav: wav, uri, codecs: 'pcmu', ...baresipTls(srtpOffer) });
        try {
          const closed = await bs.waitEvent('CALL_CLOSED', 15_000);
          expect(closed.param ?? '', `PARLEY_SRTP=${mode}`).toMatch(/488/);
          expect(bs.events.some((e) => e.type === 'CALL_ESTABLISHED')).toBe(false);
          expect(bridge.server.metrics().callsRejected).toBe(1);
        } finally {
          await bs.quit();
        }
      }
    },
    60_000,
  );

  it(
    'control: the same relay on a plain RTP call over TLS sees μ-law (silence payloads, speech levels); our BYE over TLS',
    async () => {
      const { bridge, relay } = await start('off');
      const uri = `sip:1000@${RELAY_HOST}:${bridge.server.tlsPort};transport=tls`;
      const bs = await startBaresip({ inputWav: wav, uri, codecs: 'pcmu', ...baresipTls(false) });
      try {
        await bs.waitEvent('CALL_ESTABLISHED', 15_000);
        await waitFor(() => bridge.server.calls().length > 0, 5000, 'call on the server');
        const call = bridge.server.calls()[0]!;
        expect(call.transport).toBe('tls');
        expect(call.stats().srtp).toBe(false);
        await waitFor(() => relay.toParley.packets > 150 && relay.toCaller.packets > 150, 15_000, 'media through the relay');
        // Parley hangs up: its BYE (Via SIP/2.0/TLS, our TLS port) goes over the caller's TLS connection
        const ended = new Promise((r) => call.once('ended', r));
        await call.hangup();
        await bs.waitEvent('CALL_CLOSED', 10_000);
        expect(await ended).toMatchObject({ reason: 'local-hangup' });
      } finally {
        await bs.quit();
      }
      for (const [dir, c] of [['baresip → Parley', relay.toParley], ['Parley → baresip', relay.toCaller]] as const) {
        expect(c.constantPayloads, `${dir}: μ-law silence packets`).toBeGreaterThan(10);
        expect(chiSquare(c), dir).toBeGreaterThan(2000);
        expect(c.meanAbs, dir).toBeLessThan(3000);
      }
    },
    60_000,
  );
});
