/**
 * Helpers of the tests that run SIPp (test/fakes/sip-harness.ts runSipp) against Parley's SIP server: a
 * run's check, the messages SIPp received, a SIPp called party (UAS) for outbound calls, and a SIP server
 * whose every outgoing message is timed (the transport's dropOutgoing hook, which drops nothing) — the session
 * timer tests read refresh and BYE times on it.
 */
import { DEFAULT_SIP_CONFIG, startSipServer } from '../../sip/index.ts';
import type { SipCall, SipConfig, SipServer } from '../../sip/index.ts';
import { freePort, rtpRange, runSipp, testLog, type SippResult } from '../fakes/sip-harness.ts';

/** Throws with SIPp's errors, stderr and message trace unless it exited 0 (its scenario passed). */
export function sippOk(r: SippResult): void {
  if (r.code !== 0) throw new Error(`sipp exited ${r.code}\n${r.errors.slice(-3000)}\n${r.stderr.slice(-1000)}\n--- messages\n${r.messages.slice(-6000)}`);
}

/** The messages Parley sent that SIPp logged (-trace_msg), whole. */
export function sippReceived(messages: string): string[] {
  return messages
    .split(/^-{10,}.*$/m)
    .map((b) => b.replace(/^\s*(?:UDP|TCP) message received \[\d+\] bytes :\s*/, ''))
    .filter((b) => /^SIP\/2\.0 |^[A-Z]+ sip:/.test(b.trimStart()))
    .map((b) => b.trimStart());
}

/** Start a SIPp UAS on a free port; resolves with its port and the run's result promise. */
export async function sippUas(scenario: string, timeoutS = 20): Promise<{ port: number; done: Promise<SippResult> }> {
  const port = await freePort(20000, 10000);
  const done = runSipp({ scenario, serverPort: 0, uasPort: port, timeoutS });
  await new Promise((r) => setTimeout(r, 300)); // SIPp binds its socket
  return { port, done };
}

export interface SentMessage {
  /** the message's first line */
  line: string;
  /** performance.now() when it was sent */
  at: number;
}

const timedServers: SipServer[] = [];

/**
 * A SIP server on UDP (ephemeral port, the harness's RTP range) with `config` over the defaults; `sent` is
 * every SIP message it sends, timed. Stop it with stopTimedSipServers() (afterEach).
 */
export async function startTimedSipServer(config: Partial<SipConfig>, onCall: (call: SipCall) => void): Promise<{ server: SipServer; sent: SentMessage[] }> {
  const sent: SentMessage[] = [];
  const server = await startSipServer(
    { ...DEFAULT_SIP_CONFIG, port: 0, rtpPorts: rtpRange(), transports: ['udp'], ...config },
    {
      log: testLog,
      dropOutgoing: (line) => {
        sent.push({ line, at: performance.now() });
        return false;
      },
      onCall,
    },
  );
  timedServers.push(server);
  return { server, sent };
}

export async function stopTimedSipServers(): Promise<void> {
  await Promise.all(timedServers.splice(0).map((s) => s.stop()));
}
