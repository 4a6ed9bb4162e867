// Misbehaviours of the stand-in provider, for tests of the relying party.
//
// A test queues one misbehaviour with POST /__test/misbehave; the next token
// response is changed by applyTokenMisbehaviour() below.  Everything here is
// independent of oidc-provider: it works on the token response body the
// provider produced (a plain object) and re-signs the id_token with keys the
// caller hands in (a "keyring", see provider.js).
//
// Spec (all keys optional, applied in this order):
//   id_token: { ... }            rewrite the id_token (rewriteIdToken)
//   fields:   { name: value }    set top-level fields of the response (null deletes)
//   delay_ms: N                  wait N ms before answering
//   token:    "status" | "error" | "invalid_grant" | "not_json" |
//             "no_id_token" | "huge" | "endless" | "hang" |
//             "hang_after_headers" | "redirect" | "wrong_content_type"
//             (response-level action; extra keys per action, see TOKEN_ACTIONS)
//
// With "endpoint": "discovery" | "jwks" | "userinfo" the spec is for that
// endpoint's next answer(s) instead (validateEndpointMisbehaviour,
// applyEndpointMisbehaviour below):
//   json:     { name: value }    set top-level members of the JSON answer
//   jwks:     "no_kid" | "duplicate_kid" | "add_weak_rsa" | "no_keys" |
//             "private_members" (or a list of them)   reshape the key set
//   delay_ms: N                  wait N ms before answering
//   response: one of the TOKEN_ACTIONS names that make sense for a document
//             ("status", "not_json", "huge", "endless", "hang",
//             "hang_after_headers", "redirect")
//   times:    N                  used by the next N requests (default 1)
//
// To add a misbehaviour: add a case to TOKEN_ACTIONS (whole response) or an
// option to rewriteIdToken (token contents and signature), and a line to
// README.md.

import * as crypto from 'node:crypto';

export const b64u = (buf) => Buffer.from(buf).toString('base64url');
export const b64uJson = (obj) => b64u(JSON.stringify(obj));
const unb64uJson = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// ---------------------------------------------------------------- signing

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

// alg -> { kty, sign(data, key) } ; key is a KeyObject (or a Buffer for HS*).
function signer(alg) {
  const m = /^(RS|PS|ES|HS)(256|384|512)$/.exec(alg);
  if (!m) {
    throw new Error(`cannot sign with alg ${alg}`);
  }
  const [, fam, bits] = m;
  const hash = HASH[bits];
  switch (fam) {
    case 'RS':
      return { kty: 'RSA', sign: (data, key) => crypto.sign(hash, data, key) };
    case 'PS':
      return {
        kty: 'RSA',
        sign: (data, key) => crypto.sign(hash, data, {
          key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8,
        }),
      };
    case 'ES':
      return {
        kty: 'EC',
        sign: (data, key) => crypto.sign(hash, data, { key, dsaEncoding: 'ieee-p1363' }),
      };
    default:
      return { kty: 'oct', sign: (data, key) => crypto.createHmac(hash, key).update(data).digest() };
  }
}

// Compact JWS from a header and a payload object.  alg "none" gives an
// unsecured JWS ("h.p.").
export function signJws(header, payload, key) {
  const input = `${b64uJson(header)}.${b64uJson(payload)}`;
  if (header.alg === 'none') {
    return `${input}.`;
  }
  const sig = signer(header.alg).sign(Buffer.from(input), key);
  return `${input}.${b64u(sig)}`;
}

// "now", "now+60", "now-3600" -> epoch seconds; anything else unchanged.
function timeValue(v) {
  if (typeof v !== 'string') {
    return v;
  }
  const m = /^now([+-]\d+)?$/.exec(v);
  if (!m) {
    return v;
  }
  return Math.floor(Date.now() / 1000) + (m[1] ? Number(m[1]) : 0);
}

function applyObject(target, changes) {
  for (const [k, v] of Object.entries(changes ?? {})) {
    if (v === null) {
      delete target[k];
    } else {
      target[k] = timeValue(v);
    }
  }
  return target;
}

// ---------------------------------------------------------------- id_token

const SIGN_WITH = new Set([
  'current', // the published key of the alg's type (the default)
  'wrong_key', // an unpublished key of the alg's type; kid names the published one
  'old_key', // the key retired by the last rotation (kid: its own)
  'ec_key', // the published EC P-256 key (alg ES256 unless given)
  'hs256_with_rsa_public_key', // HMAC keyed with the published RSA key's SPKI PEM
  'hs256_with_rsa_public_key_jwk', // HMAC keyed with the published RSA key's JWK JSON
  'client_secret', // HMAC keyed with the client's secret (OIDC Core 10.1)
  'weak_rsa', // a 1024-bit RSA key (published only by the JWKS misbehaviour add_weak_rsa)
]);

export function validateIdTokenSpec(spec, keyring) {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new Error('id_token: expected an object');
  }
  const known = new Set(['claims', 'alg', 'kid', 'sign_with', 'header', 'tamper_payload', 'tamper_signature', 'drop_signature']);
  for (const k of Object.keys(spec)) {
    if (!known.has(k)) {
      throw new Error(`id_token: unknown key ${k}`);
    }
  }
  if (spec.sign_with !== undefined && !SIGN_WITH.has(spec.sign_with)) {
    throw new Error(`id_token.sign_with: one of ${[...SIGN_WITH].join(', ')}`);
  }
  if (spec.alg !== undefined && spec.alg !== 'none') {
    signer(spec.alg); // throws on an unknown alg
  }
  if (spec.sign_with === 'old_key' && !keyring.previous().length) {
    throw new Error('id_token.sign_with old_key: no key has been retired yet (POST /__test/rotate-keys first)');
  }
  for (const k of ['claims', 'header']) {
    if (spec[k] !== undefined && (typeof spec[k] !== 'object' || spec[k] === null || Array.isArray(spec[k]))) {
      throw new Error(`id_token.${k}: expected an object`);
    }
  }
}

// Pick key material, alg and default kid for a rewrite.
function chooseKey(spec, original, keyring, clientSecret) {
  const how = spec.sign_with ?? 'current';
  let alg = spec.alg;
  const byType = (kty, set) => set.find((k) => k.jwk.kty === kty);
  switch (how) {
    case 'hs256_with_rsa_public_key':
    case 'hs256_with_rsa_public_key_jwk': {
      alg ??= 'HS256';
      const rsa = byType('RSA', keyring.current());
      const secret = how === 'hs256_with_rsa_public_key'
        ? Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' }))
        : Buffer.from(JSON.stringify(keyring.publicJwk(rsa)));
      return { alg, key: secret, kid: rsa.jwk.kid };
    }
    case 'client_secret':
      alg ??= 'HS256';
      if (!clientSecret) {
        throw new Error('client has no secret');
      }
      return { alg, key: Buffer.from(clientSecret), kid: undefined };
    case 'weak_rsa':
      alg ??= 'RS256';
      return { alg, key: keyring.weak.privateKey, kid: keyring.weak.jwk.kid };
    case 'ec_key': {
      alg ??= 'ES256';
      const ec = byType('EC', keyring.current());
      return { alg, key: ec.privateKey, kid: ec.jwk.kid };
    }
    default: {
      alg ??= original.alg;
      if (alg === 'none') {
        return { alg, key: null, kid: undefined };
      }
      const { kty } = signer(alg);
      if (kty === 'oct') {
        return { alg, key: Buffer.from(clientSecret ?? ''), kid: undefined };
      }
      const published = byType(kty, keyring.current());
      if (how === 'wrong_key') {
        return { alg, key: byType(kty, keyring.wrong()).privateKey, kid: published.jwk.kid };
      }
      if (how === 'old_key') {
        const old = byType(kty, keyring.previous());
        if (!old) {
          throw new Error(`no retired ${kty} key`);
        }
        return { alg, key: old.privateKey, kid: old.jwk.kid };
      }
      return { alg, key: published.privateKey, kid: published.jwk.kid };
    }
  }
}

// Returns the rewritten compact id_token.
export function rewriteIdToken(idToken, spec, keyring, clientSecret) {
  const [h, p] = idToken.split('.');
  const origHeader = unb64uJson(h);
  const payload = applyObject(unb64uJson(p), spec.claims);

  const { alg, key, kid } = chooseKey(spec, origHeader, keyring, clientSecret);
  const header = { alg };
  if (origHeader.typ !== undefined) {
    header.typ = origHeader.typ;
  }
  if ('kid' in spec) {
    if (spec.kid !== null) {
      header.kid = spec.kid;
    }
  } else if (kid !== undefined) {
    header.kid = kid;
  }
  applyObject(header, spec.header);

  let jws = signJws(header, payload, key);
  let [hh, pp, ss] = jws.split('.');

  if (spec.tamper_payload) {
    // Change the payload after signing: the signature no longer matches.
    const changed = typeof spec.tamper_payload === 'object'
      ? applyObject({ ...payload }, spec.tamper_payload)
      : { ...payload, sub: `${payload.sub}-tampered`, email: 'mallory@attacker.invalid' };
    pp = b64uJson(changed);
  }
  if (spec.tamper_signature && ss) {
    const sig = Buffer.from(ss, 'base64url');
    sig[sig.length - 1] ^= 0x01;
    sig[0] ^= 0x80;
    ss = b64u(sig);
  }
  if (spec.drop_signature) {
    ss = '';
  }
  jws = `${hh}.${pp}.${ss}`;
  return jws;
}

// ---------------------------------------------------------------- response

function jsonBody(ctx, status, obj) {
  ctx.status = status;
  ctx.type = 'application/json; charset=utf-8';
  ctx.body = JSON.stringify(obj);
}

// Each action: validate(spec) throws on bad input; apply(ctx, spec, hooks).
export const TOKEN_ACTIONS = {
  status: {
    validate(s) {
      if (!Number.isInteger(s.status) || s.status < 200 || s.status > 599) {
        throw new Error('token status: "status" must be an HTTP status 200..599');
      }
    },
    apply(ctx, s) {
      ctx.status = s.status;
      ctx.type = s.content_type ?? 'text/html; charset=utf-8';
      ctx.body = s.body ?? `<html><body><h1>${s.status}</h1>stand-in provider misbehaving</body></html>`;
    },
  },
  error: {
    validate(s) {
      if (typeof s.error !== 'string') {
        throw new Error('token error: "error" (an OAuth error code) is required');
      }
    },
    apply(ctx, s) {
      jsonBody(ctx, s.status ?? 400, {
        error: s.error,
        error_description: s.error_description ?? 'misbehaviour requested by the test',
      });
    },
  },
  invalid_grant: {
    validate() {},
    apply(ctx) {
      jsonBody(ctx, 400, { error: 'invalid_grant', error_description: 'grant request is invalid' });
    },
  },
  not_json: {
    validate() {},
    apply(ctx) {
      ctx.status = 200;
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = '<html><body>Service temporarily unavailable</body></html>\n';
    },
  },
  wrong_content_type: {
    validate() {},
    apply(ctx) {
      // The JSON as it was, served as text/plain.
      const body = typeof ctx.body === 'string' ? ctx.body : JSON.stringify(ctx.body);
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = body;
    },
  },
  no_id_token: {
    validate() {},
    apply(ctx) {
      if (ctx.body && typeof ctx.body === 'object') {
        delete ctx.body.id_token;
      }
    },
  },
  huge: {
    validate(s) {
      if (!Number.isInteger(s.bytes) || s.bytes < 1 || s.bytes > 512 * 1024 * 1024) {
        throw new Error('token huge: "bytes" must be an integer 1..536870912');
      }
    },
    apply(ctx, s) {
      // Valid JSON (the real response plus a padding member) of at least
      // s.bytes bytes, so only a size cap can stop it.
      const base = JSON.stringify(typeof ctx.body === 'object' && ctx.body ? ctx.body : {});
      const head = `${base.slice(0, -1)}${base.length > 2 ? ',' : ''}"padding":"`;
      const tail = '"}';
      const pad = Math.max(0, s.bytes - head.length - tail.length);
      ctx.status = 200;
      ctx.type = 'application/json; charset=utf-8';
      ctx.body = Buffer.concat([Buffer.from(head), Buffer.alloc(pad, 'x'), Buffer.from(tail)]);
    },
  },
  endless: {
    validate() {},
    apply(ctx, s, hooks) {
      // 200 and the start of a JSON object whose string member never ends:
      // only a size cap (or a timeout) stops a client reading it.
      hooks.stream(ctx);
    },
  },
  hang: {
    validate() {},
    apply(ctx, s, hooks) {
      hooks.hang(ctx, false);
    },
  },
  hang_after_headers: {
    validate() {},
    apply(ctx, s, hooks) {
      hooks.hang(ctx, true);
    },
  },
  redirect: {
    validate(s) {
      if (typeof s.location !== 'string' || !s.location) {
        throw new Error('token redirect: "location" is required');
      }
      if (s.status !== undefined && ![301, 302, 303, 307, 308].includes(s.status)) {
        throw new Error('token redirect: "status" must be 301, 302, 303, 307 or 308');
      }
    },
    apply(ctx, s) {
      ctx.status = s.status ?? 302;
      ctx.set('Location', s.location);
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = `Redirecting to ${s.location}\n`;
    },
  },
};

const TOP_KEYS = new Set(['token', 'id_token', 'fields', 'delay_ms',
  // per-action parameters
  'status', 'body', 'content_type', 'error', 'error_description', 'bytes', 'location']);

// Throws an Error with a message for the test author when spec is unusable.
export function validateMisbehaviour(spec, keyring) {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new Error('expected a JSON object');
  }
  for (const k of Object.keys(spec)) {
    if (!TOP_KEYS.has(k)) {
      throw new Error(`unknown key ${k}`);
    }
  }
  if (spec.token === undefined && spec.id_token === undefined && spec.fields === undefined
      && spec.delay_ms === undefined) {
    throw new Error('nothing to do: give "token", "id_token", "fields" or "delay_ms"');
  }
  if (spec.token !== undefined) {
    const action = TOKEN_ACTIONS[spec.token];
    if (!action) {
      throw new Error(`token: one of ${Object.keys(TOKEN_ACTIONS).join(', ')}`);
    }
    action.validate(spec);
  }
  if (spec.id_token !== undefined) {
    validateIdTokenSpec(spec.id_token, keyring);
  }
  if (spec.fields !== undefined && (typeof spec.fields !== 'object' || spec.fields === null)) {
    throw new Error('fields: expected an object');
  }
  if (spec.delay_ms !== undefined && (!Number.isInteger(spec.delay_ms) || spec.delay_ms < 0 || spec.delay_ms > 600000)) {
    throw new Error('delay_ms: an integer 0..600000');
  }
}

// Post-process the token response in ctx (a Koa context whose body is the
// provider's answer).  hooks.hang(ctx, afterHeaders) parks the response;
// hooks.clientSecret(clientId) gives a client's secret.
export async function applyTokenMisbehaviour(ctx, spec, keyring, hooks) {
  const body = ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body) ? ctx.body : null;
  if (spec.id_token && body && typeof body.id_token === 'string') {
    const { aud } = unb64uJson(body.id_token.split('.')[1]);
    const clientId = Array.isArray(aud) ? aud[0] : aud;
    body.id_token = rewriteIdToken(body.id_token, spec.id_token, keyring, hooks.clientSecret(clientId));
  }
  if (spec.fields && body) {
    applyObject(body, spec.fields);
  }
  if (spec.delay_ms) {
    await sleep(spec.delay_ms);
  }
  if (spec.token) {
    ctx.set('Cache-Control', 'no-store');
    TOKEN_ACTIONS[spec.token].apply(ctx, spec, hooks);
  }
}

// ---------------------------------------------------------------- endpoints

export const ENDPOINTS = new Set(['discovery', 'jwks', 'userinfo']);
const ENDPOINT_RESPONSES = new Set(['status', 'not_json', 'huge', 'endless', 'hang',
  'hang_after_headers', 'redirect']);
const ENDPOINT_KEYS = new Set(['endpoint', 'response', 'json', 'jwks', 'delay_ms', 'times',
  // per-response parameters
  'status', 'body', 'content_type', 'bytes', 'location']);

// Reshaping the published key set; each gets the JWKS object (a copy) and
// the keyring.
export const JWKS_CHANGES = {
  // every key without its kid
  no_kid(set) {
    set.keys.forEach((k) => { delete k.kid; });
  },
  // an unpublished RSA key, published under the current RSA key's kid
  duplicate_kid(set, keyring) {
    const rsa = set.keys.find((k) => k.kty === 'RSA');
    const other = keyring.publicJwk(keyring.wrong().find((k) => k.jwk.kty === 'RSA'));
    set.keys.push({ ...other, kid: rsa.kid });
  },
  // the 1024-bit RSA key (sign_with: weak_rsa signs with it)
  add_weak_rsa(set, keyring) {
    set.keys.push(keyring.publicJwk(keyring.weak));
  },
  // no "keys" member at all
  no_keys(set) {
    delete set.keys;
  },
  // the signing keys published with their private members ("d" ...)
  private_members(set, keyring) {
    set.keys = keyring.current().map((k) => ({ ...k.jwk }));
  },
};

function jwksChanges(spec) {
  if (spec.jwks === undefined) {
    return [];
  }
  return Array.isArray(spec.jwks) ? spec.jwks : [spec.jwks];
}

export function validateEndpointMisbehaviour(spec) {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new Error('expected a JSON object');
  }
  for (const k of Object.keys(spec)) {
    if (!ENDPOINT_KEYS.has(k)) {
      throw new Error(`unknown key ${k} (for an endpoint misbehaviour)`);
    }
  }
  if (!ENDPOINTS.has(spec.endpoint)) {
    throw new Error(`endpoint: one of ${[...ENDPOINTS].join(', ')}`);
  }
  if (spec.response === undefined && spec.json === undefined && spec.jwks === undefined
      && spec.delay_ms === undefined) {
    throw new Error('nothing to do: give "response", "json", "jwks" or "delay_ms"');
  }
  if (spec.response !== undefined) {
    if (!ENDPOINT_RESPONSES.has(spec.response)) {
      throw new Error(`response: one of ${[...ENDPOINT_RESPONSES].join(', ')}`);
    }
    TOKEN_ACTIONS[spec.response].validate(spec);
  }
  if (spec.json !== undefined && (typeof spec.json !== 'object' || spec.json === null
      || Array.isArray(spec.json))) {
    throw new Error('json: expected an object');
  }
  if (spec.jwks !== undefined) {
    if (spec.endpoint !== 'jwks') {
      throw new Error('jwks: only for endpoint jwks');
    }
    for (const c of jwksChanges(spec)) {
      if (!Object.hasOwn(JWKS_CHANGES, c)) {
        throw new Error(`jwks: one of ${Object.keys(JWKS_CHANGES).join(', ')}`);
      }
    }
  }
  if (spec.delay_ms !== undefined && (!Number.isInteger(spec.delay_ms) || spec.delay_ms < 0 || spec.delay_ms > 600000)) {
    throw new Error('delay_ms: an integer 0..600000');
  }
  if (spec.times !== undefined && (!Number.isInteger(spec.times) || spec.times < 1 || spec.times > 1000)) {
    throw new Error('times: an integer 1..1000');
  }
}

// Post-process a discovery, JWKS or userinfo answer in ctx; hooks as for
// applyTokenMisbehaviour.
export async function applyEndpointMisbehaviour(ctx, spec, keyring, hooks) {
  let body = ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body) ? ctx.body : null;
  if (body && (spec.json || spec.jwks)) {
    // The provider may hand out a shared object (the JWKS): change a copy.
    body = structuredClone(body);
    for (const c of jwksChanges(spec)) {
      JWKS_CHANGES[c](body, keyring);
    }
    applyObject(body, spec.json);
    ctx.body = body;
  }
  if (spec.delay_ms) {
    await sleep(spec.delay_ms);
  }
  if (spec.response) {
    ctx.set('Cache-Control', 'no-store');
    TOKEN_ACTIONS[spec.response].apply(ctx, spec, hooks);
  }
}
