/**
 * Outbound dialling decisions (sip/uac.ts): where a destination goes with and
 * without a trunk, and how a final status reads.
 */
import { describe, expect, it } from 'vitest';
import { resolveTarget, statusOfFinal } from '../../../sip/uac.ts';
import { SipError } from '../../../sip/index.ts';

describe('resolveTarget', () => {
  const trunk = { uri: 'sip:trunk.example.com:5080', user: 'u', password: 'p' };
  it('dials a sip: URI as it is without a trunk, through the trunk (Route) when its host is another', () => {
    expect(resolveTarget('sip:bob@pbx.example.com', null)).toEqual({ requestUri: 'sip:bob@pbx.example.com', route: null });
    expect(resolveTarget('sip:bob@pbx.example.com', trunk)).toEqual({ requestUri: 'sip:bob@pbx.example.com', route: '<sip:trunk.example.com:5080;lr>' });
    expect(resolveTarget('sip:bob@trunk.example.com:5080', trunk).route).toBeNull();
  });
  it('sends a number (or tel:) to the trunk host, separators removed, + kept', () => {
    expect(resolveTarget('+1 (555) 010-0199', trunk).requestUri).toBe('sip:+15550100199@trunk.example.com:5080');
    expect(resolveTarget('tel:+442071234567', { ...trunk, uri: 'sip:10.0.0.1;transport=tcp' }).requestUri).toBe('sip:+442071234567@10.0.0.1;transport=tcp');
    expect(() => resolveTarget('5550100', null)).toThrow(SipError);
  });
});

describe('statusOfFinal', () => {
  it('maps final responses to outbound statuses', () => {
    expect(statusOfFinal(200, false)).toBe('answered');
    expect(statusOfFinal(486, false)).toBe('busy');
    expect(statusOfFinal(600, false)).toBe('busy');
    expect(statusOfFinal(487, true)).toBe('no_answer');
    expect(statusOfFinal(487, false)).toBe('failed');
    expect(statusOfFinal(480, false)).toBe('no_answer');
    expect(statusOfFinal(408, false)).toBe('no_answer');
    expect(statusOfFinal(404, false)).toBe('failed');
    expect(statusOfFinal(503, false)).toBe('failed');
  });
});
