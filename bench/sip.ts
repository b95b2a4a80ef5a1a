/**
 * SIP media benchmark: N simultaneous calls through the real SIP door and session bridge.
 *
 * This process runs Parley (buildApp + the SIP bridge) with an in-process null engine that echoes every
 * `input_audio_buffer.append` back as `response.output_audio.delta`, in audio/pcmu: μ-law passes straight
 * through both ways. A second process (this file with `--load`) is the RTP generator: it sets up N calls
 * over SIP/UDP on loopback, sends 50 packets/s per call from one deadline timer (calls spread over ten 2 ms
 * phases of the 20 ms period, as independent callers would be) and records what comes back.
 * Every payload carries its send time (epoch µs in its first 8 bytes), so the null engine measures the
 * server-added latency per frame (RTP send → append delivered to the engine).
 *
 * Figures, each against a baseline measured in this same process: a bare UDP echo socket fed by the same
 * generator (its CPU per call-second and its round trip).
 *  - late frames: outbound packets arriving > 20 ms (one frame) after their RTP-timestamp slot; inbound
 *    appends > 20 ms after their send;
 *  - server-added latency per frame, p50/p99 (RTP send → engine), vs the bare echo's one-way (RTT/2);
 *  - CPU µs per call-second (this process only) and the calls per core it implies.
 *
 * Run: npx tsx bench/sip.ts [maxCalls=400] [seconds=8]
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { percentileSorted, ratio } from './lib/index.ts';

const SELF = fileURLToPath(import.meta.url);
const nowUs = (): number => (performance.timeOrigin + performance.now()) * 1000;

// ------------------------------------------------------------------------------- generator (child)

async function load(target: 'sip' | 'echo', port: number, calls: number, seconds: number): Promise<void> {
  const { MiniUac } = await import('../test/fakes/sip-uac.ts');
  const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  const lateness: number[] = [];
  const rtts: number[] = [];
  let received = 0;
  // outbound timing per call: arrival offset vs the RTP timestamp grid (anchor = earliest offset)
  const offsets: number[][] = [];
  let sockets: Array<{ send(b: Buffer): void }>;
  const uacs: InstanceType<typeof MiniUac>[] = [];
  if (target === 'sip') {
    for (let i = 0; i < calls; i++) {
      const u = new MiniUac(port);
      u.keepPayloads = false;
      await u.bind();
      const idx = i;
      offsets.push([]);
      let ts0 = -1;
      u.onRtp = (p) => {
        received++;
        if (ts0 < 0) ts0 = p.ts;
        (offsets[idx] as number[]).push(p.arrivalMs - ((p.ts - ts0) >>> 0) / 8);
      };
      await u.call();
      uacs.push(u);
    }
    sockets = uacs.map((u) => ({ send: (b: Buffer) => u.sendRtp(b, 0) }));
  } else {
    const socks: dgram.Socket[] = [];
    for (let i = 0; i < calls; i++) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      s.on('message', (m) => {
        received++;
        rtts.push(nowUs() - m.readDoubleBE(12));
      });
      socks.push(s);
    }
    let seq = 0;
    sockets = socks.map((s) => ({
      send: (payload: Buffer) => {
        const b = Buffer.alloc(12 + payload.length);
        b[0] = 0x80;
        b.writeUInt16BE(seq++ & 0xffff, 2);
        b.set(payload, 12);
        s.send(b, port, '127.0.0.1');
      },
    }));
  }
  out({ event: 'ready' });
  await new Promise((r) => setTimeout(r, 500)); // let the first outbound packets settle
  for (const o of offsets) o.length = 0;
  out({ event: 'start' });
  const frames = seconds * 50;
  const payload = Buffer.alloc(160, 0xff);
  const t0 = performance.now();
  let genLate = 0;
  // real callers are not phase-aligned: call i sends in slot i % 10 of each 20 ms period (2 ms slots)
  const SLOTS = 10;
  for (let k = 0; k < frames * SLOTS; k++) {
    const wait = t0 + k * (20 / SLOTS) - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else if (wait < -20) genLate++;
    for (let i = k % SLOTS; i < sockets.length; i += SLOTS) {
      payload.writeDoubleBE(nowUs(), 0);
      (sockets[i] as { send(b: Buffer): void }).send(payload);
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  out({ event: 'end' });
  for (const o of offsets) {
    if (o.length === 0) continue;
    const anchor = Math.min(...o);
    for (const x of o) lateness.push(x - anchor);
  }
  lateness.sort((a, b) => a - b);
  rtts.sort((a, b) => a - b);
  const lateFrames = lateness.filter((x) => x > 20).length;
  out({
    event: 'result',
    sent: frames * calls,
    received,
    generatorLateTicks: genLate,
    outLatePct: lateness.length ? (100 * lateFrames) / lateness.length : 0,
    outLatenessP99Ms: lateness.length ? percentileSorted(lateness, 99) : 0,
    rttP50Us: rtts.length ? percentileSorted(rtts, 50) : 0,
    rttP99Us: rtts.length ? percentileSorted(rtts, 99) : 0,
  });
  for (const u of uacs) await u.bye().catch(() => undefined);
  for (const u of uacs) u.close();
  process.exit(0);
}

// ------------------------------------------------------------------------------- server (parent)

interface RunResult {
  calls: number;
  cpuUsPerCallS: number;
  inP50Us: number;
  inP99Us: number;
  inLatePct: number;
  outLatePct: number;
  outLatenessP99Ms: number;
  lossPct: number;
  rttP50Us: number;
  rttP99Us: number;
  generatorLateTicks: number;
}

function runGenerator(target: 'sip' | 'echo', port: number, calls: number, seconds: number, onStart: () => void, onEnd: () => void): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--load', target, String(port), String(calls), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    let result: Record<string, number> | undefined;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { event?: string } & Record<string, number>;
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (msg.event === 'start') onStart();
        else if (msg.event === 'end') onEnd();
        else if (msg.event === 'result') result = msg;
      }
    });
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`generator exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const maxCalls = Number(process.argv[2] ?? 400);
  const seconds = Number(process.argv[3] ?? 8);
  const { loadConfig } = await import('../server/config.ts');
  const { buildApp } = await import('../server/app.ts');
  const { startSipBridge } = await import('../server/sip-bridge.ts');
  const pino = (await import('pino')).default;
  const { AudioChunk } = await import('../server/protocol/index.ts');
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: 'pk_bench_key_0123456789abcdef', PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none', LOG_LEVEL: 'silent', PARLEY_MAX_SESSIONS: '5000' });
  const app = await buildApp(config, { logger: pino({ level: 'silent' }) });
  await app.listen({ host: '127.0.0.1', port: 0 });

  // the null engine: echoes each append as an output delta (same base64), records inbound latency
  let inLat: number[] = [];
  let measuring = false;
  app.parley.engines.register('cascade', () => ({
    name: 'cascade',
    open: async (opts) => {
      let n = 0;
      const emit = (ev: Record<string, unknown>): void => opts.callbacks.onEvent({ event_id: `evt_${++n}`, ...ev } as never);
      queueMicrotask(() => {
        emit({ type: 'session.created', session: opts.session });
        emit({ type: 'conversation.created', conversation: { id: 'conv_1' } });
      });
      const item = `item_${Math.random().toString(36).slice(2)}`;
      // one delta event per call, refilled with each frame (the append's chunk is valid during send())
      const delta = { type: 'response.output_audio.delta' as const, event_id: 'evt_x', response_id: 'resp_1', item_id: item, output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(new Uint8Array(0)) };
      return {
        send: (ev) => {
          if (ev.type !== 'input_audio_buffer.append') return;
          if (measuring) {
            const b = ev.audio.bytes();
            const sentUs = Buffer.from(b.buffer, b.byteOffset, 8).readDoubleBE(0);
            inLat.push(nowUs() - sentUs);
          }
          delta.delta = ev.audio;
          opts.callbacks.onEvent(delta);
        },
        close: () => undefined,
      };
    },
  }));
  const bridge = await startSipBridge(app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: { min: 41000, max: 45999 }, maxCalls: 5000, rtpTimeoutS: 0 }, engine: 'cascade', g711Passthrough: true });

  // baseline: a bare UDP echo socket in this process
  const echo = dgram.createSocket('udp4');
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));

  const measure = async (target: 'sip' | 'echo', calls: number): Promise<RunResult> => {
    inLat = [];
    let cpu0 = process.cpuUsage();
    let t0 = 0;
    let cpu = 0;
    let wallS = 0;
    const r = await runGenerator(
      target,
      target === 'sip' ? bridge.server.port : (echo.address().port as number),
      calls,
      seconds,
      () => {
        measuring = true;
        cpu0 = process.cpuUsage();
        t0 = performance.now();
      },
      () => {
        measuring = false;
        const d = process.cpuUsage(cpu0);
        cpu = d.user + d.system;
        wallS = (performance.now() - t0) / 1000;
      },
    );
    inLat.sort((a, b) => a - b);
    const sent = r['sent'] ?? 0;
    return {
      calls,
      cpuUsPerCallS: cpu / (calls * wallS),
      inP50Us: inLat.length ? percentileSorted(inLat, 50) : 0,
      inP99Us: inLat.length ? percentileSorted(inLat, 99) : 0,
      inLatePct: inLat.length ? (100 * inLat.filter((x) => x > 20_000).length) / inLat.length : 0,
      outLatePct: r['outLatePct'] ?? 0,
      outLatenessP99Ms: r['outLatenessP99Ms'] ?? 0,
      lossPct: sent ? Math.max(0, (100 * (sent - (target === 'sip' ? inLat.length : (r['received'] ?? 0)))) / sent) : 0,
      rttP50Us: r['rttP50Us'] ?? 0,
      rttP99Us: r['rttP99Us'] ?? 0,
      generatorLateTicks: r['generatorLateTicks'] ?? 0,
    };
  };

  process.stdout.write(`SIP media benchmark: ${seconds} s per run, 50 packets/s each way per call, μ-law passthrough, null echo engine\n`);
  process.stdout.write('baseline per row: a bare UDP echo socket in this process fed by the same generator with as many streams\n\n');
  process.stdout.write('calls | CPU µs/call-s (× echo) | calls/core | in latency p50 / p99 | added vs echo one-way p50 / p99 | late in / out | out lateness p99 | loss\n');
  const counts = [25, 50, 100, 200, 400, 800].filter((c) => c <= maxCalls);
  let best = 0;
  for (const n of counts) {
    const base = await measure('echo', n);
    const r = await measure('sip', n);
    const perCore = 1e6 / r.cpuUsPerCallS;
    const ok = r.inLatePct < 1 && r.outLatePct < 1 && r.lossPct < 1;
    if (ok) best = n;
    const addP50 = r.inP50Us - base.rttP50Us / 2;
    const addP99 = r.inP99Us - base.rttP99Us / 2;
    process.stdout.write(
      `${String(n).padStart(5)} | ${r.cpuUsPerCallS.toFixed(1).padStart(7)} (${ratio(r.cpuUsPerCallS, base.cpuUsPerCallS)}) | ${Math.round(perCore).toString().padStart(5)} | ` +
        `${(r.inP50Us / 1000).toFixed(3)} / ${(r.inP99Us / 1000).toFixed(3)} ms (echo one-way ${(base.rttP50Us / 2000).toFixed(3)} / ${(base.rttP99Us / 2000).toFixed(3)}) | ` +
        `${(addP50 / 1000).toFixed(3)} / ${(addP99 / 1000).toFixed(3)} ms | ` +
        `${r.inLatePct.toFixed(2)} % / ${r.outLatePct.toFixed(2)} % | ${r.outLatenessP99Ms.toFixed(2)} ms | ${r.lossPct.toFixed(2)} %${r.generatorLateTicks ? ` (generator late ticks: ${r.generatorLateTicks})` : ''}${ok ? '' : '  <- over 1 %'}\n`,
    );
  }
  process.stdout.write(`\nmost simultaneous calls with < 1 % late frames here (2 shared cores, generator on the same machine): ${best}\n`);
  await bridge.close();
  echo.close();
  await app.close();
  process.exit(0);
}

if (process.argv[2] === '--load') {
  void load(process.argv[3] as 'sip' | 'echo', Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
} else {
  void main();
}
