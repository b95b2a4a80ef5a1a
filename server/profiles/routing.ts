/**
 * Routes pick a profile for a call: the first route whose every condition matches wins; when none does,
 * the profile named `default` (if there is one). A route's conditions compare the call's facts: the door,
 * the dialled number, the caller, the trunk (the source address). A fact the door does not know (a WS
 * session has no dialled number) never matches a condition on it.
 */
import type { Matcher, ProfilesSettings, RouteConfig } from '../config/profiles.ts';
import { DEFAULT_PROFILE } from '../config/profiles.ts';
import type { Leg } from '../session/index.ts';

/** What a route looks at. */
export interface RouteFacts {
  door: Leg;
  /** The dialled number (SIP Request-URI user). */
  dialled?: string | undefined;
  /** The caller: the user part of the SIP From URI. */
  caller?: string | undefined;
  /** The source address the call came from. */
  trunk?: string | undefined;
}

export function matches(m: Matcher, value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  switch (m.kind) {
    case 'exact':
      return value === m.value;
    case 'prefix':
      return value.startsWith(m.value);
    case 'regex':
      m.re.lastIndex = 0;
      return m.re.test(value);
    case 'cidr':
      return m.filter.allows(value);
  }
}

export function routeMatches(r: RouteConfig, f: RouteFacts): boolean {
  if (r.door !== null && r.door !== f.door) return false;
  if (r.dialled !== null && !matches(r.dialled, f.dialled)) return false;
  if (r.caller !== null && !matches(r.caller, f.caller)) return false;
  if (r.trunk !== null && !matches(r.trunk, f.trunk)) return false;
  return true;
}

/** The profile for these facts: the first matching route's, else `default` when defined, else null (server defaults). */
export function pickProfile(settings: Pick<ProfilesSettings, 'profiles' | 'routes'>, f: RouteFacts): string | null {
  for (const r of settings.routes) if (routeMatches(r, f)) return r.profile;
  return Object.hasOwn(settings.profiles, DEFAULT_PROFILE) ? DEFAULT_PROFILE : null;
}

/** The user part of a SIP/tel URI (`"Alice" <sip:+1555@host>;tag=x` → `+1555`), else the text as it is. */
export function uriUserPart(uri: string | undefined): string | undefined {
  if (uri === undefined) return undefined;
  const m = /(?:sips?:([^@;>?\s]+)@|tel:([^;>?\s]+))/i.exec(uri);
  const user = m ? (m[1] ?? m[2]) : undefined;
  if (user === undefined) return uri;
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}
