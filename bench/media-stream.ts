/**
 * Media-stream door benchmark: the Twilio door (server/media-streams/) against the SIP door's μ-law passthrough,
 * N simultaneous calls each, in one process, rounds interleaved.
 *
 * This process runs Parley (buildApp with TWILIO_AUTH_TOKEN, plus the SIP bridge) with the in-process null engine
 * of bench/sip.ts: every `input_audio_buffer.append` comes straight back as `response.output_audio.delta`, in
 * audio/pcmu. Both doors pass μ-law straight through; what differs is the wire: RTP over UDP (SIP) against
 * base64 JSON over a WebSocket (media streams: a `media` message in per frame; a `media` and a `mark` out).
 * The load comes from a child process:
 *  - SIP: bench/sip.ts's own generator (`bench/sip.ts --load sip …`, the same calls, pacing and phases);
 *  - media streams: this file with `--load`: N carrier clients (the signed `POST /twilio/voice`, the signed
 *    handshake, `start` with the TwiML's token), 50 `media` frames/s per call from one deadline timer in ten 2 ms
 *    phases, every `mark` echoed at once.
 * Every payload carries its send time (epoch µs, its first 8 bytes), so the null engine measures the latency each
 * door adds per frame (send → append delivered to the engine).
 *
 * Figures (this process only): CPU µs per call-second of media (50 frames in and 50 out) and per frame pair, and
 * the inbound latency p50/p99; as the ratio media-stream / SIP paired within a round. Each round runs both doors
 * back to back, their order alternating; every figure is the median [min–max] over the rounds. A round where a
 * generator could not keep pace (> --max-late % of its ticks more than 20 ms late: the machine saturated by
 * something else) is not counted and is run again (up to 3 × rounds attempts). A warm-up pair runs first.
 *
 * Run: npx tsx bench/media-stream.ts [--calls 30] [--rounds 5] [--seconds 5] [--warmup 2] [--max-late 2]
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { percentileSorted } from './lib/index.ts';
import { echoEngine } from './lib/null-engine.ts';
import { fmtRounds, runLoadChild } from './lib/rounds.ts';

const SELF = fileURLToPath(import.meta.url);
const SIP_BENCH = fileURLToPath(new URL('./sip.ts', import.meta.url));
const AUTH_TOKEN = 'bench0123456789abcdef0123456789ab';
const nowUs = (): number => (performance.timeOrigin + performance.now()) * 1000;

// ------------------------------------------------------------------------------- generator (child)

async function load(port: number, calls: number, seconds: number): Promise<void> {
  const { default: WebSocket } = await import('ws');
  const { twilioSignature } = await import('../server/media-streams/index.ts');
  const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  const base = `http://127.0.0.1:${port}`;
  const rtts: number[] = [];
  let received = 0;
  let marks = 0;
  let measuring = false;
  const sockets: Array<{ ws: InstanceType<typeof WebSocket>; sid: string }> = [];
  for (let i = 0; i < calls; i++) {
    const form = { CallSid: `CAbench${i}`, From: `+1555000${i}`, To: '+15550100' };
    const res = await fetch(`${base}/twilio/voice`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(AUTH_TOKEN, `${base}/twilio/voice`, form) },
      body: new URLSearchParams(form).toString(),
    });
    const xml = await res.text();
    const url = /<Stream url="([^"]+)"/.exec(xml)?.[1] ?? '';
    const params: Record<string, string> = {};
    for (const m of xml.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)) params[m[1]!] = m[2]!;
    const ws = new WebSocket(url, { headers: { 'x-twilio-signature': twilioSignature(AUTH_TOKEN, url, {}) }, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const sid = `MZbench${i}`;
    ws.on('message', (data: Buffer) => {
      // media → its send time back; mark → echoed at once (a carrier echoes it when the audio before it has played)
      const s = data.toString('latin1');
      if (s.startsWith('{"event":"media"')) {
        received++;
        const k = s.indexOf('"payload":"') + 11;
        const head = Buffer.from(s.slice(k, k + 12), 'base64');
        if (measuring) rtts.push(nowUs() - head.readDoubleBE(0));
      } else if (s.startsWith('{"event":"mark"')) {
        marks++;
        const name = /"name":"([^"]+)"/.exec(s)?.[1] ?? '';
        ws.send(`{"event":"mark","sequenceNumber":"0","streamSid":"${sid}","mark":{"name":"${name}"}}`);
      }
    });
    ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
    ws.send(JSON.stringify({ event: 'start', sequenceNumber: '1', start: { accountSid: 'AC0', streamSid: sid, callSid: form.CallSid, tracks: ['inbound'], customParameters: params, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } }, streamSid: sid }));
    sockets.push({ ws, sid });
  }
  out({ event: 'ready' });
  await new Promise((r) => setTimeout(r, 500)); // the sessions open
  measuring = true;
  received = 0;
  marks = 0;
  out({ event: 'start' });
  const frames = seconds * 50;
  const payload = Buffer.alloc(160, 0xff);
  const t0 = performance.now();
  let genLate = 0;
  const SLOTS = 10;
  let seq = 1;
  let chunk = 0;
  for (let k = 0; k < frames * SLOTS; k++) {
    const wait = t0 + k * (20 / SLOTS) - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else if (wait < -20) genLate++;
    if (k % SLOTS === 0) chunk++;
    for (let i = k % SLOTS; i < sockets.length; i += SLOTS) {
      payload.writeDoubleBE(nowUs(), 0);
      const s = sockets[i]!;
      // Twilio's field order
      s.ws.send(`{"event":"media","sequenceNumber":"${++seq}","media":{"track":"inbound","chunk":"${chunk}","timestamp":"${chunk * 20}","payload":"${payload.toString('base64')}"},"streamSid":"${s.sid}"}`);
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  measuring = false;
  out({ event: 'end' });
  rtts.sort((a, b) => a - b);
  out({
    event: 'result',
    sent: frames * calls,
    received,
    marks,
    generatorLateTicks: genLate,
    generatorTicks: frames * SLOTS,
    rttP50Us: rtts.length ? percentileSorted(rtts, 50) : 0,
    rttP99Us: rtts.length ? percentileSorted(rtts, 99) : 0,
  });
  for (const s of sockets) {
    s.ws.send(JSON.stringify({ event: 'stop', sequenceNumber: String(++seq), streamSid: s.sid, stop: { accountSid: 'AC0', callSid: 'CA' } }));
    s.ws.close();
  }
  setTimeout(() => process.exit(0), 300);
}

// ------------------------------------------------------------------------------- server (parent)

type Door = 'sip' | 'media';

interface RunResult {
  cpuUsPerCallS: number;
  inP50Us: number;
  inP99Us: number;
  lossPct: number;
  generatorLatePct: number;
  rttP50Us: number;
}

function runGenerator(door: Door, port: number, calls: number, seconds: number, onStart: () => void, onEnd: () => void): Promise<Record<string, number>> {
  const argv = door === 'sip' ? [SIP_BENCH, '--load', 'sip', String(port), String(calls), String(seconds), '0'] : [SELF, '--load', String(port), String(calls), String(seconds)];
  return runLoadChild(argv, onStart, onEnd, `${door} generator`);
}

interface Args {
  calls: number;
  rounds: number;
  seconds: number;
  warmupS: number;
  maxLatePct: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { calls: 30, rounds: 5, seconds: 5, warmupS: 2, maxLatePct: 2 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const value = Number(eq > 0 ? arg.slice(eq + 1) : argv[++i]);
    if (name === 'calls') a.calls = value;
    else if (name === 'rounds') a.rounds = value;
    else if (name === 'seconds') a.seconds = value;
    else if (name === 'warmup') a.warmupS = value;
    else if (name === 'max-late') a.maxLatePct = value;
    else throw new Error(`unknown option ${arg} (want --calls N, --rounds N, --seconds S, --warmup S, --max-late PCT)`);
  }
  if (![a.calls, a.rounds, a.seconds].every((x) => Number.isFinite(x) && x > 0)) throw new Error('usage: npx tsx bench/media-stream.ts [--calls 30] [--rounds 5] [--seconds 5] [--warmup 2] [--max-late 2]');
  return a;
}

const fmt = fmtRounds;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { loadConfig } = await import('../server/config.ts');
  const { buildApp } = await import('../server/app.ts');
  const { startSipBridge } = await import('../server/sip-bridge.ts');
  const { AudioChunk } = await import('../server/protocol/index.ts');
  const pino = (await import('pino')).default;
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    PARLEY_API_KEYS: 'pk_bench_key_0123456789abcdef',
    PARLEY_DEMO: 'off',
    PARLEY_FALLBACK_ENGINE: 'none',
    PARLEY_ENGINE: 'cascade', // the null engine below is registered under this name: both doors open on it
    LOG_LEVEL: 'silent',
    PARLEY_MAX_SESSIONS: '5000',
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
  });
  const app = await buildApp(config, { logger: pino({ level: 'silent' }), store: null });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const httpPort = (app.server.address() as { port: number }).port;

  // the null engine (as bench/sip.ts's ulaw path): each append back as an output delta; inbound latency recorded
  let inLat: number[] = [];
  let measuring = false;
  app.parley.engines.register(
    'cascade',
    echoEngine(AudioChunk, (audio) => {
      const b = audio.bytes();
      if (measuring) inLat.push(nowUs() - Buffer.from(b.buffer, b.byteOffset, 8).readDoubleBE(0));
    }),
  );
  const bridge = await startSipBridge(app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: { min: 46000, max: 49999 }, maxCalls: 5000, rtpTimeoutS: 0 }, engine: 'cascade', g711Passthrough: true });

  const run = async (door: Door, calls: number, seconds: number): Promise<RunResult> => {
    inLat = [];
    let cpu0 = process.cpuUsage();
    let cpu = 0;
    const r = await runGenerator(
      door,
      door === 'sip' ? bridge.server.port : httpPort,
      calls,
      seconds,
      () => {
        measuring = true;
        cpu0 = process.cpuUsage();
      },
      () => {
        measuring = false;
        const d = process.cpuUsage(cpu0);
        cpu = d.user + d.system;
      },
    );
    inLat.sort((x, y) => x - y);
    const carried = inLat.length / 50;
    const sent = r['sent'] ?? 0;
    return {
      cpuUsPerCallS: carried > 0 ? cpu / carried : Number.NaN,
      inP50Us: inLat.length ? percentileSorted(inLat, 50) : Number.NaN,
      inP99Us: inLat.length ? percentileSorted(inLat, 99) : Number.NaN,
      lossPct: sent ? Math.max(0, (100 * (sent - inLat.length)) / sent) : 0,
      generatorLatePct: r['generatorTicks'] ? (100 * (r['generatorLateTicks'] ?? 0)) / r['generatorTicks'] : 0,
      rttP50Us: r['rttP50Us'] ?? 0,
    };
  };

  const load0 = loadavg()[0] ?? 0;
  process.stdout.write(
    `media-stream door vs SIP door: ${args.calls} calls each, ${args.rounds} rounds, ${args.seconds} s per run, 50 frames/s each way per call, μ-law passthrough, null echo engine\n` +
      'each round runs both doors back to back (SIP first in even rounds); ratios pair the two runs of a round; medians [min–max] over the rounds\n',
  );
  if (args.warmupS > 0) {
    await run('media', args.calls, args.warmupS);
    await run('sip', args.calls, args.warmupS);
  }
  const kept: Array<{ sip: RunResult; media: RunResult }> = [];
  const dropped: number[] = [];
  for (let attempt = 0; kept.length < args.rounds && attempt < args.rounds * 3; attempt++) {
    let sip: RunResult;
    let media: RunResult;
    if (attempt % 2 === 0) {
      sip = await run('sip', args.calls, args.seconds);
      media = await run('media', args.calls, args.seconds);
    } else {
      media = await run('media', args.calls, args.seconds);
      sip = await run('sip', args.calls, args.seconds);
    }
    const ok = sip.generatorLatePct <= args.maxLatePct && media.generatorLatePct <= args.maxLatePct;
    if (ok) kept.push({ sip, media });
    else dropped.push(media.cpuUsPerCallS / sip.cpuUsPerCallS);
    process.stderr.write(
      `attempt ${attempt + 1}: media/SIP CPU ${(media.cpuUsPerCallS / sip.cpuUsPerCallS).toFixed(2)}× (media ${media.cpuUsPerCallS.toFixed(0)} µs/call-s, SIP ${sip.cpuUsPerCallS.toFixed(0)}; ` +
        `late ticks ${media.generatorLatePct.toFixed(1)} % / ${sip.generatorLatePct.toFixed(1)} %)${ok ? '' : ' — not counted'}\n`,
    );
  }
  const rs = kept.length > 0 ? kept : [];
  if (rs.length === 0) {
    process.stdout.write('no round counted: the generators never kept pace (the machine is saturated); rerun with --max-late 100 to see the saturated figures\n');
  } else {
    const col = (f: (x: { sip: RunResult; media: RunResult }) => number): number[] => rs.map(f);
    const ratio = col((x) => x.media.cpuUsPerCallS / x.sip.cpuUsPerCallS);
    const load1 = loadavg()[0] ?? 0;
    process.stdout.write(
      `${rs.length} rounds counted${dropped.length ? `, ${dropped.length} not (a generator > ${args.maxLatePct} % late ticks; their ratios ${dropped.map((x) => x.toFixed(2)).join(' ')})` : ''}; load average ${load0.toFixed(2)} → ${load1.toFixed(2)} (2 cores)\n` +
        `  CPU µs per call-second      media stream ${fmt(col((x) => x.media.cpuUsPerCallS), 1)}   SIP ${fmt(col((x) => x.sip.cpuUsPerCallS), 1)}\n` +
        `  CPU µs per frame (in + out) media stream ${fmt(col((x) => x.media.cpuUsPerCallS / 50), 2)}   SIP ${fmt(col((x) => x.sip.cpuUsPerCallS / 50), 2)}\n` +
        `  media stream / SIP (CPU)    ${fmt(ratio, 2, '×')}   rounds: ${ratio.map((x) => x.toFixed(2)).join(' ')}\n` +
        `  calls per core (CPU)        media stream ${fmt(col((x) => 1e6 / x.media.cpuUsPerCallS), 0)}   SIP ${fmt(col((x) => 1e6 / x.sip.cpuUsPerCallS), 0)}\n` +
        `  in latency p50              media stream ${fmt(col((x) => x.media.inP50Us / 1000), 3)} ms   SIP ${fmt(col((x) => x.sip.inP50Us / 1000), 3)} ms   added ${fmt(col((x) => (x.media.inP50Us - x.sip.inP50Us) / 1000), 3)} ms\n` +
        `  in latency p99              media stream ${fmt(col((x) => x.media.inP99Us / 1000), 3)} ms   SIP ${fmt(col((x) => x.sip.inP99Us / 1000), 3)} ms   added ${fmt(col((x) => (x.media.inP99Us - x.sip.inP99Us) / 1000), 3)} ms\n` +
        `  media stream round trip p50 ${fmt(col((x) => x.media.rttP50Us / 1000), 3)} ms (frame sent → its echo back at the carrier)\n` +
        `  loss                        media stream ${fmt(col((x) => x.media.lossPct), 2, ' %')}   SIP ${fmt(col((x) => x.sip.lossPct), 2, ' %')}\n`,
    );
  }
  await bridge.close();
  await app.close();
  process.exit(0);
}

if (process.argv[2] === '--load') {
  void load(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else {
  void main();
}
