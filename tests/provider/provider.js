#!/usr/bin/env node
// Stand-in for the iON OpenID provider, for pam_ion's tests: a real
// oidc-provider configured like iON's documented behaviour, on loopback,
// plus a small control API under /__test/.  See README.md.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

import {
  applyEndpointMisbehaviour, applyTokenMisbehaviour, validateEndpointMisbehaviour,
  validateMisbehaviour,
} from './misbehave.js';

// stdout carries exactly one line ("provider listening on ..."); everything
// else, oidc-provider's own notices included, goes to stderr.
const log = (...args) => {
  process.stderr.write(`provider: ${args.join(' ')}\n`);
};
console.log = (...a) => console.error(...a);
console.info = (...a) => console.error(...a);

// ---------------------------------------------------------------- options

const USAGE = `usage: node provider.js [--port N] [--issuer-host HOST] [options]

  --port N                 port on 127.0.0.1 (0: the kernel picks; default 0)
  --bind ADDR              address to listen on (default 127.0.0.1)
  --issuer-host HOST       host part of the issuer URL (default 127.0.0.1)
  --client ID:SECRET:URI   a client (confidential, client_secret_basic) with one
                           redirect_uri; repeatable
  --account SUB:EMAIL:VERIFIED:NAME
                           an account (VERIFIED is true or false; NAME may hold
                           colons); preferred_username = SUB; repeatable
  --config FILE            JSON {"clients": [...], "accounts": [...]}
  --state-file FILE        keep keys (and write issuer, port, pid) here
  --auto-consent           skip the consent page for every client
  --require-pkce           refuse authorization requests without PKCE
  --allow-client-secret-post
                           also accept client_secret in the token request body
  --cache-control VALUE    Cache-Control of discovery and JWKS
                           (default "public, max-age=300")
  --par off|on|required    pushed authorization requests (RFC 9126): off (the
                           default), on (offered at /oauth2/par), required
                           (plain authorization requests are refused)
  --tls-cert FILE, --tls-key FILE
                           serve HTTPS with this certificate chain and key
                           (PEM); the issuer is then https://HOST:PORT
  --help                   show this text
`;

const PAR_MODES = ['off', 'on', 'required'];

// Claims an account's extra claims may not set: the provider makes them
// (acr and amr come from the account's "acr" and "amr", auth_time from the
// sign-in).
const PROTOCOL_CLAIMS = new Set(['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'jti', 'nonce',
  'at_hash', 'c_hash', 's_hash', 'azp', 'sid', 'acr', 'amr', 'auth_time']);

// What an account has beyond SUB:EMAIL:VERIFIED:NAME, from --config or
// POST /__test/account: {claims, userinfo_only, acr, amr}.  Throws on a
// malformed spec.
function accountExtras(spec, source) {
  const claims = spec.claims ?? {};
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw new Error(`${source}: claims must be an object`);
  }
  for (const name of Object.keys(claims)) {
    if (PROTOCOL_CLAIMS.has(name) || name === '') {
      throw new Error(`${source}: the claim ${JSON.stringify(name)} cannot be set`);
    }
  }
  const userinfoOnly = spec.userinfo_only ?? [];
  if (!Array.isArray(userinfoOnly) || userinfoOnly.some((n) => typeof n !== 'string')) {
    throw new Error(`${source}: userinfo_only must be a list of claim names`);
  }
  if (spec.acr !== undefined && spec.acr !== null && typeof spec.acr !== 'string') {
    throw new Error(`${source}: acr must be a string`);
  }
  if (spec.amr !== undefined && spec.amr !== null
      && (!Array.isArray(spec.amr) || spec.amr.some((v) => typeof v !== 'string'))) {
    throw new Error(`${source}: amr must be a list of strings`);
  }
  return {
    claims: structuredClone(claims),
    userinfoOnly: [...userinfoOnly],
    acr: spec.acr ?? undefined,
    amr: spec.amr ?? undefined,
  };
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '0' },
      bind: { type: 'string', default: '127.0.0.1' },
      'issuer-host': { type: 'string', default: '127.0.0.1' },
      client: { type: 'string', multiple: true, default: [] },
      account: { type: 'string', multiple: true, default: [] },
      config: { type: 'string' },
      'state-file': { type: 'string' },
      'auto-consent': { type: 'boolean', default: false },
      'require-pkce': { type: 'boolean', default: false },
      'allow-client-secret-post': { type: 'boolean', default: false },
      'cache-control': { type: 'string', default: 'public, max-age=300' },
      par: { type: 'string', default: 'off' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
    throw new Error('--tls-cert and --tls-key go together');
  }
  if (!PAR_MODES.includes(values.par)) {
    throw new Error(`--par: expected ${PAR_MODES.join(', ')}, got ${values.par}`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port: expected 0..65535, got ${values.port}`);
  }

  const clients = [];
  const firstParty = new Set();
  const accounts = new Map();
  const extras = new Map();

  const addClient = (meta, source) => {
    const m = { ...meta };
    if (!m.client_id || !m.client_secret || !Array.isArray(m.redirect_uris) || !m.redirect_uris.length) {
      throw new Error(`${source}: a client needs client_id, client_secret and redirect_uris`);
    }
    if (m.first_party || values['auto-consent']) {
      firstParty.add(m.client_id);
    }
    delete m.first_party;
    clients.push({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      ...m,
    });
  };
  const addAccount = (a, source) => {
    if (!a.sub || typeof a.sub !== 'string') {
      throw new Error(`${source}: an account needs a sub`);
    }
    accounts.set(a.sub, {
      sub: a.sub,
      email: a.email,
      email_verified: a.email_verified,
      name: a.name,
      preferred_username: a.preferred_username ?? a.sub,
    });
    extras.set(a.sub, accountExtras(a, `${source}: account ${a.sub}`));
  };

  if (values.config) {
    const cfg = JSON.parse(fs.readFileSync(values.config, 'utf8'));
    (cfg.clients ?? []).forEach((c) => addClient(c, values.config));
    (cfg.accounts ?? []).forEach((a) => addAccount(a, values.config));
  }
  for (const spec of values.client) {
    const i = spec.indexOf(':');
    const j = spec.indexOf(':', i + 1);
    if (i < 1 || j < i + 2 || j === spec.length - 1) {
      throw new Error(`--client '${spec}': expected ID:SECRET:REDIRECT_URI`);
    }
    addClient({
      client_id: spec.slice(0, i),
      client_secret: spec.slice(i + 1, j),
      redirect_uris: [spec.slice(j + 1)],
    }, '--client');
  }
  for (const spec of values.account) {
    const parts = spec.split(':');
    if (parts.length < 4 || !['true', 'false'].includes(parts[2])) {
      throw new Error(`--account '${spec}': expected SUB:EMAIL:true|false:NAME`);
    }
    addAccount({
      sub: parts[0],
      email: parts[1],
      email_verified: parts[2] === 'true',
      name: parts.slice(3).join(':'),
    }, '--account');
  }
  if (!clients.length) {
    log('warning: no clients configured (--client or --config)');
  }
  if (!accounts.size) {
    log('warning: no accounts configured (--account or --config)');
  }
  return {
    port,
    bind: values.bind,
    issuerHost: values['issuer-host'],
    clients,
    firstParty,
    accounts,
    extras,
    initialExtras: new Map([...extras].map(([k, v]) => [k, structuredClone(v)])),
    stateFile: values['state-file'],
    requirePkce: values['require-pkce'],
    allowPost: values['allow-client-secret-post'],
    cacheControl: values['cache-control'],
    par: values.par,
    tlsCert: values['tls-cert'],
    tlsKey: values['tls-key'],
  };
}

// ---------------------------------------------------------------- keys

function thumbprint(jwk) {
  const members = jwk.kty === 'RSA'
    ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

// A key: { jwk (private, with kid and use), privateKey, publicKey }.
function keyFromJwk(jwk) {
  const privateKey = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  return { jwk, privateKey, publicKey: crypto.createPublicKey(privateKey) };
}

function newKey(type, bits = 2048) {
  const { privateKey } = type === 'RSA'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: bits })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  jwk.kid = thumbprint(jwk);
  jwk.use = 'sig';
  return keyFromJwk(jwk);
}

const PUBLIC_MEMBERS = ['kty', 'kid', 'use', 'alg', 'n', 'e', 'crv', 'x', 'y'];

// The keys the provider signs with, those retired by the last rotation
// (kept for misbehaviours) and unpublished ones (for "wrong_key").
const keyring = {
  signing: [],
  retired: [],
  published: [], // signing keys plus, after rotate-keys {"keep_old": true}, the old ones
  unpublished: [newKey('RSA'), newKey('EC')],
  weak: newKey('RSA', 1024), // published only by the JWKS misbehaviour add_weak_rsa
  current() { return this.signing; },
  previous() { return this.retired; },
  wrong() { return this.unpublished; },
  publicJwk(k) {
    return Object.fromEntries(PUBLIC_MEMBERS.filter((m) => k.jwk[m] !== undefined).map((m) => [m, k.jwk[m]]));
  },
};

// ---------------------------------------------------------------- storage

// oidc-provider adapter over one Map, so that /__test/reset can clear every
// session, interaction, grant and code, and a rebuilt provider (after a key
// rotation) keeps them.
let storage = new Map();
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);

function getEntry(key) {
  const e = storage.get(key);
  if (!e) {
    return undefined;
  }
  if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
    storage.delete(key);
    return undefined;
  }
  return e.value;
}

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    const key = this.key(id);
    storage.set(key, { value: payload, expiresAt });
    if (this.model === 'Session' && payload.uid) {
      storage.set(`sessionUid:${payload.uid}`, { value: id, expiresAt });
    }
    if (payload.userCode) {
      storage.set(`userCode:${payload.userCode}`, { value: id, expiresAt });
    }
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const gk = `grant:${payload.grantId}`;
      const members = getEntry(gk) ?? new Set();
      members.add(key);
      storage.set(gk, { value: members, expiresAt: undefined });
    }
  }

  async find(id) {
    const v = getEntry(this.key(id));
    return v === undefined ? undefined : structuredClone(v);
  }

  async findByUid(uid) {
    const id = getEntry(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = getEntry(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const v = getEntry(this.key(id));
    if (v) {
      v.consumed = Math.floor(Date.now() / 1000);
    }
  }

  async destroy(id) {
    storage.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const gk = `grant:${grantId}`;
    for (const key of getEntry(gk) ?? []) {
      storage.delete(key);
    }
    storage.delete(gk);
  }
}

setInterval(() => {
  for (const key of storage.keys()) {
    getEntry(key);
  }
}, 60000).unref();

// ---------------------------------------------------------------- test state

const STAT_NAMES = ['discovery', 'jwks', 'authorize', 'authorize_resume', 'token', 'userinfo',
  'par', 'interaction', 'other'];
const RECENT_MAX = 20;
let stats;
let misbehaviours; // FIFO; each entry is used by one token response
let applied;
// Per endpoint (discovery, jwks, userinfo): FIFO of { spec, left }.
let endpointMisbehaviours;
let endpointApplied;
let streams; // bytes sent by each "endless" response, once it ended
let recentToken;
let recentAuthorize;
let recentPar;
const hung = new Set(); // responses parked by the "hang" misbehaviours
const pushedRaw = new WeakMap(); // request -> its pushed parameters as sent

function resetTestState() {
  stats = Object.fromEntries(STAT_NAMES.map((n) => [n, 0]));
  misbehaviours = [];
  applied = [];
  endpointMisbehaviours = { discovery: [], jwks: [], userinfo: [] };
  endpointApplied = [];
  streams = [];
  recentToken = [];
  recentAuthorize = [];
  recentPar = [];
  for (const res of hung) {
    res.destroy();
  }
  hung.clear();
}
resetTestState();

const remember = (list, item) => {
  list.push(item);
  if (list.length > RECENT_MAX) {
    list.shift();
  }
};

// ---------------------------------------------------------------- pages

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:26em;margin:2em auto;padding:0 1em}
input,button{display:block;width:100%;margin:.4em 0;padding:.6em;font-size:1em;box-sizing:border-box}
.error{color:#b00020}</style></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>
`;
}

function loginPage(uid, client, error, loginHint) {
  return page('Sign in to iON (test stand-in)', `<p>${esc(client.clientName ?? client.clientId)} asks you to sign in.</p>
${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login">
<input type="text" name="login" placeholder="account" value="${esc(loginHint ?? '')}" autofocus>
<input type="password" name="password" placeholder="password (anything)">
<button type="submit">Sign in</button>
</form>
<form id="cancel-form" method="post" action="/interaction/${esc(uid)}/abort">
<button type="submit">Cancel</button>
</form>`);
}

function consentPage(uid, client, details, account) {
  const scopes = (details.missingOIDCScope ?? []).filter((s) => s !== 'openid');
  return page('Allow access?', `<p>Signed in as <b id="account">${esc(account)}</b>.</p>
<p><b>${esc(client.clientName ?? client.clientId)}</b> would like:</p>
<ul id="scopes">${scopes.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<form id="consent-form" method="post" action="/interaction/${esc(uid)}/confirm">
<button type="submit">Allow</button>
</form>
<form id="deny-form" method="post" action="/interaction/${esc(uid)}/abort">
<button type="submit">Deny</button>
</form>`);
}

async function readForm(ctx, limit = 65536) {
  const chunks = [];
  let n = 0;
  for await (const chunk of ctx.req) {
    n += chunk.length;
    if (n > limit) {
      ctx.throw(413, 'request body too large');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function findAccountByLogin(login) {
  const l = String(login ?? '').trim();
  if (opts.accounts.has(l)) {
    return opts.accounts.get(l);
  }
  for (const a of opts.accounts.values()) {
    if (a.email && a.email.toLowerCase() === l.toLowerCase()) {
      return a;
    }
  }
  return undefined;
}

async function grantConsent(provider, ctx, interaction) {
  const { prompt: { details }, params, session } = interaction;
  let grant;
  if (interaction.grantId) {
    grant = await provider.Grant.find(interaction.grantId);
  } else {
    grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  }
  if (details.missingOIDCScope) {
    grant.addOIDCScope(details.missingOIDCScope.join(' '));
  }
  if (details.missingOIDCClaims) {
    grant.addOIDCClaims(details.missingOIDCClaims);
  }
  if (details.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  const grantId = await grant.save();
  return finish(provider, ctx, { consent: { grantId } }, true);
}

async function finish(provider, ctx, result, merge) {
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
  ctx.status = 303;
  ctx.set('Location', to);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = '';
}

// GET /interaction/:uid, POST /interaction/:uid/{login,confirm,abort}
async function interactionRoute(provider, ctx, uid, action) {
  ctx.set('Cache-Control', 'no-store');
  let interaction;
  try {
    interaction = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Sign-in expired', `<p class="error" id="error">${esc(err.message)}</p>`);
    return;
  }
  if (interaction.uid !== uid) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Sign-in mismatch', '<p class="error" id="error">interaction does not match the cookie</p>');
    return;
  }
  const client = await provider.Client.find(interaction.params.client_id);
  const { prompt } = interaction;

  if (ctx.method === 'GET' && action === '') {
    if (prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = loginPage(uid, client, undefined, interaction.params.login_hint);
      return;
    }
    if (prompt.name === 'consent') {
      if (opts.firstParty.has(client.clientId)) {
        log(`consent auto-approved for first-party client ${client.clientId}`);
        await grantConsent(provider, ctx, interaction);
        return;
      }
      ctx.type = 'html';
      ctx.body = consentPage(uid, client, prompt.details, interaction.session?.accountId);
      return;
    }
    ctx.throw(501, `prompt ${prompt.name} not implemented`);
  }
  if (ctx.method !== 'POST') {
    ctx.throw(405, 'method not allowed');
  }
  const form = new URLSearchParams(await readForm(ctx));
  switch (action) {
    case '/login': {
      if (prompt.name !== 'login') {
        ctx.throw(400, 'not at the login step');
      }
      const account = findAccountByLogin(form.get('login'));
      if (!account) {
        log(`login refused: unknown account '${form.get('login') ?? ''}'`);
        ctx.status = 200;
        ctx.type = 'html';
        ctx.body = loginPage(uid, client, 'Unknown account.', form.get('login'));
        return;
      }
      // The account's acr and amr (--config or POST /__test/account) are
      // what this sign-in reports: the id_token's acr and amr, the
      // session's from now on.
      const ex = opts.extras.get(account.sub) ?? {};
      const login = { accountId: account.sub };
      if (ex.acr !== undefined) {
        login.acr = ex.acr;
      }
      if (ex.amr !== undefined) {
        login.amr = ex.amr;
      }
      log(`login ${account.sub}${login.acr !== undefined ? ` acr ${login.acr}` : ''}`);
      await finish(provider, ctx, { login }, false);
      return;
    }
    case '/confirm':
      if (prompt.name !== 'consent') {
        ctx.throw(400, 'not at the consent step');
      }
      await grantConsent(provider, ctx, interaction);
      return;
    case '/abort':
      await finish(provider, ctx, {
        error: 'access_denied',
        error_description: 'End-User aborted interaction',
      }, false);
      return;
    default:
      ctx.throw(404, 'not found');
  }
}

// ---------------------------------------------------------------- control API

// Control requests may be large (an account with 10,000 groups).
async function readJson(ctx) {
  const text = await readForm(ctx, 16 * 1024 * 1024);
  if (!text.trim()) {
    return {};
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    ctx.throw(400, `body is not JSON: ${err.message}`);
  }
  return undefined;
}

const isLoopback = (addr) => /^(127\.|::1$|::ffff:127\.)/.test(addr ?? '');

async function controlRoute(ctx) {
  ctx.set('Cache-Control', 'no-store');
  const reply = (status, obj) => {
    ctx.status = status;
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = `${JSON.stringify(obj, null, 1)}\n`;
  };
  if (!isLoopback(ctx.req.socket.remoteAddress)) {
    reply(403, { error: 'the control API answers loopback clients only' });
    return;
  }
  const route = `${ctx.method} ${ctx.path}`;
  switch (route) {
    case 'GET /__test/stats':
      reply(200, {
        ...stats,
        misbehaviours_pending: misbehaviours.length,
        misbehaviours_applied: applied,
        token_requests: recentToken,
        authorize_requests: recentAuthorize,
        par_mode: opts.par,
        par_requests: recentPar,
        kids: keyring.published.map((k) => k.jwk.kid),
        signing_kids: keyring.signing.map((k) => k.jwk.kid),
        signing_keys: keyring.signing.map((k) => ({ kid: k.jwk.kid, kty: k.jwk.kty })),
        weak_kid: keyring.weak.jwk.kid,
        endpoint_misbehaviours_pending: Object.values(endpointMisbehaviours)
          .reduce((n, q) => n + q.length, 0),
        endpoint_misbehaviours_applied: endpointApplied,
        streams,
        hung: hung.size,
      });
      return;
    case 'POST /__test/reset': {
      const body = await readJson(ctx);
      resetTestState();
      if (body.sessions !== false) {
        storage = new Map();
      }
      opts.extras = new Map([...opts.initialExtras].map(([k, v]) => [k, structuredClone(v)]));
      current = buildProvider();
      log('test state reset');
      reply(200, { ok: true });
      return;
    }
    case 'POST /__test/rotate-keys': {
      const body = await readJson(ctx);
      rotateKeys(Boolean(body.keep_old));
      reply(200, { ok: true, kids: keyring.published.map((k) => k.jwk.kid) });
      return;
    }
    case 'POST /__test/misbehave': {
      const body = await readJson(ctx);
      if (body && typeof body === 'object' && !Array.isArray(body) && 'endpoint' in body) {
        try {
          validateEndpointMisbehaviour(body);
        } catch (err) {
          reply(400, { error: err.message });
          return;
        }
        endpointMisbehaviours[body.endpoint].push({ spec: body, left: body.times ?? 1 });
        log(`${body.endpoint} misbehaviour queued: ${JSON.stringify(body).slice(0, 200)}`);
        reply(200, { ok: true, pending: endpointMisbehaviours[body.endpoint].length });
        return;
      }
      try {
        validateMisbehaviour(body, keyring);
      } catch (err) {
        reply(400, { error: err.message });
        return;
      }
      misbehaviours.push(body);
      log(`misbehaviour queued: ${JSON.stringify(body).slice(0, 200)}`);
      reply(200, { ok: true, pending: misbehaviours.length });
      return;
    }
    case 'POST /__test/par': {
      // {"par": "off" | "on" | "required"}: rebuilds the provider (keys,
      // clients, sessions and codes stay).
      const body = await readJson(ctx);
      if (!PAR_MODES.includes(body?.par)) {
        reply(400, { error: `par must be one of ${PAR_MODES.join(', ')}` });
        return;
      }
      opts.par = body.par;
      current = buildProvider();
      log(`pushed authorization requests: ${opts.par}`);
      reply(200, { ok: true, par: opts.par });
      return;
    }
    case 'POST /__test/account': {
      // {"sub", "claims", "userinfo_only", "acr", "amr"}: the account's
      // extras from now on (what is left out is cleared); the provider is
      // rebuilt so that new claim names are emitted.
      const body = await readJson(ctx);
      if (typeof body?.sub !== 'string' || !opts.accounts.has(body.sub)) {
        reply(404, { error: `no such account: ${JSON.stringify(body?.sub)}` });
        return;
      }
      let ex;
      try {
        ex = accountExtras(body, 'account');
      } catch (err) {
        reply(400, { error: err.message });
        return;
      }
      opts.extras.set(body.sub, ex);
      current = buildProvider();
      log(`account ${body.sub}: claims ${Object.keys(ex.claims).join(' ') || '(none)'}; `
        + `userinfo only ${ex.userinfoOnly.join(' ') || '(none)'}; acr ${ex.acr ?? '(none)'}`);
      reply(200, { ok: true, extra_claims: extraClaimNames() });
      return;
    }
    case 'POST /__test/age-sessions': {
      // {"seconds": N}: every session signed in N seconds earlier than it
      // was (auth_time, max_age), as a phone that signed in long ago.
      const body = await readJson(ctx);
      const seconds = body?.seconds;
      if (!Number.isInteger(seconds) || seconds < 0) {
        reply(400, { error: 'seconds must be an integer >= 0' });
        return;
      }
      let n = 0;
      for (const [key, e] of storage) {
        if (key.startsWith('Session:') && typeof e.value?.loginTs === 'number') {
          e.value.loginTs -= seconds;
          n += 1;
        }
      }
      log(`${n} sessions aged by ${seconds} s`);
      reply(200, { ok: true, sessions: n });
      return;
    }
    case 'POST /__test/misbehave/clear':
      misbehaviours = [];
      endpointMisbehaviours = { discovery: [], jwks: [], userinfo: [] };
      reply(200, { ok: true });
      return;
    case 'POST /__test/tls': {
      // {"cert": PEM, "key": PEM}: serve this certificate from now on.
      const body = await readJson(ctx);
      if (!server || !(server instanceof https.Server)) {
        reply(400, { error: 'not serving HTTPS (start with --tls-cert and --tls-key)' });
        return;
      }
      try {
        server.setSecureContext({ cert: body.cert, key: body.key });
        // Idle keep-alive connections would go on with the old
        // certificate: the next request must make a new handshake.
        server.closeIdleConnections();
      } catch (err) {
        reply(400, { error: `cannot use that certificate: ${err.message}` });
        return;
      }
      log('TLS certificate replaced');
      reply(200, { ok: true });
      return;
    }
    default:
      reply(404, { error: `no such control route: ${route}` });
  }
}

// ---------------------------------------------------------------- provider

let opts;
let issuer;
let current = null; // { provider, handler }
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

const ROUTES = {
  authorization: '/oauth2/authorize',
  token: '/oauth2/token',
  jwks: '/oauth2/jwks',
  userinfo: '/oauth2/userinfo',
  pushed_authorization_request: '/oauth2/par',
};

function statName(p) {
  if (p === '/.well-known/openid-configuration') return 'discovery';
  if (p === ROUTES.jwks) return 'jwks';
  if (p === ROUTES.authorization) return 'authorize';
  if (p.startsWith(`${ROUTES.authorization}/`)) return 'authorize_resume';
  if (p === ROUTES.token) return 'token';
  if (p === ROUTES.userinfo) return 'userinfo';
  if (p === ROUTES.pushed_authorization_request) return 'par';
  if (p.startsWith('/interaction/')) return 'interaction';
  return 'other';
}

// The token endpoint: record what the client sent (never the secrets) and,
// unless --allow-client-secret-post, insist on HTTP Basic as iON does.
async function tokenPrelude(ctx) {
  const raw = await readForm(ctx);
  const form = new URLSearchParams(raw);
  const authz = ctx.get('authorization');
  let auth = 'none';
  if (/^basic /i.test(authz)) {
    auth = 'client_secret_basic';
  } else if (form.has('client_secret')) {
    auth = 'client_secret_post';
  } else if (authz) {
    auth = 'other';
  }
  const record = {
    auth,
    grant_type: form.get('grant_type'),
    client_id_in_body: form.has('client_id'),
    client_secret_in_body: form.has('client_secret'),
    redirect_uri: form.get('redirect_uri'),
    has_code: form.has('code'),
    has_code_verifier: form.has('code_verifier'),
    content_type: ctx.get('content-type'),
  };
  remember(recentToken, record);
  if (form.has('client_secret') && !opts.allowPost) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Basic realm="token"');
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = JSON.stringify({
      error: 'invalid_client',
      error_description: 'client authentication must use HTTP Basic (client_secret_basic)',
    });
    record.status = 401;
    return false;
  }
  // oidc-provider reads an already consumed body from req.body.
  ctx.req.body = raw;
  return record;
}

function hang(ctx, afterHeaders) {
  ctx.respond = false;
  const { res } = ctx;
  hung.add(res);
  res.on('close', () => hung.delete(res));
  if (afterHeaders) {
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
    res.write('{"access_token":"');
  }
  log(`response hangs${afterHeaders ? ' after the headers' : ''}`);
}

// 200 with '{"padding":"xxx...' for as long as the client reads; records the
// bytes sent in stats.streams when the client goes (or on reset).
function stream(ctx) {
  ctx.respond = false;
  const { res } = ctx;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let sent = 0;
  let done = false;
  hung.add(res);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  const head = Buffer.from('{"padding":"');
  res.write(head);
  sent += head.length;
  // One chunk per turn of the event loop, so that 'close' is seen.
  const pump = () => {
    if (done || res.destroyed || res.socket?.destroyed) {
      return;
    }
    sent += chunk.length;
    if (res.write(chunk)) {
      setImmediate(pump);
    } else {
      res.once('drain', pump);
    }
  };
  res.on('close', () => {
    done = true;
    hung.delete(res);
    streams.push({ bytes: sent });
    log(`endless response ended by the client after ${sent} bytes`);
  });
  log('endless response starts');
  pump();
}

function clientSecret(clientId) {
  return opts.clients.find((c) => c.client_id === clientId)?.client_secret;
}

const BASE_CLAIMS = new Set(['sub', 'email', 'email_verified', 'name', 'preferred_username']);

function extraClaimNames() {
  const names = new Set();
  for (const ex of opts.extras.values()) {
    Object.keys(ex.claims).filter((n) => !BASE_CLAIMS.has(n)).forEach((n) => names.add(n));
    ex.userinfoOnly.filter((n) => !BASE_CLAIMS.has(n)).forEach((n) => names.add(n));
  }
  return [...names].sort();
}

// acr_values_supported: the accounts' acr values (oidc-provider leaves acr
// out of every id_token when it knows none).
const DEFAULT_ACR = 'urn:stand-in:acr:default';

function acrValues() {
  const values = new Set([DEFAULT_ACR]);
  for (const ex of opts.extras.values()) {
    if (ex.acr !== undefined) {
      values.add(ex.acr);
    }
  }
  return [...values];
}

// oidc-provider's prompts, and a step-up as a provider that honours
// acr_values does it: a session whose acr is not one of the requested
// acr_values signs in again (oidc-provider alone asks only for an
// essential acr of the claims parameter).  max_age and prompt=login are
// oidc-provider's own checks.
function interactionPolicyWithStepUp() {
  const { base, Check } = interactionPolicy;
  const policy = base();
  policy.get('login').checks.add(new Check('acr_values_step_up',
    'the session does not have a requested acr', (ctx) => {
      const { oidc } = ctx;
      const wanted = oidc.params.acr_values;
      if (!wanted || !oidc.session.accountId || oidc.result?.login) {
        return Check.NO_NEED_TO_PROMPT;
      }
      return wanted.split(' ').includes(oidc.session.acr)
        ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }));
  return policy;
}

function buildProvider() {
  const configuration = {
    adapter: MapAdapter,
    clients: opts.clients,
    jwks: { keys: keyring.published.map((k) => k.jwk) },
    findAccount(ctx, sub) {
      const a = opts.accounts.get(sub);
      if (!a) {
        return undefined;
      }
      return {
        accountId: sub,
        // The account's claims and its extra claims (these win); for the
        // id_token without those the account keeps for userinfo only.
        async claims(use) {
          const ex = opts.extras.get(sub) ?? { claims: {}, userinfoOnly: [] };
          const all = { ...a, ...ex.claims, sub };
          if (use === 'id_token') {
            for (const name of ex.userinfoOnly) {
              if (name !== 'sub') {
                delete all[name];
              }
            }
          }
          return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
        },
      };
    },
    // Every extra claim of any account is an openid claim: it is in the
    // id_token (conformIdTokenClaims: false) and at userinfo.  acr and amr
    // too, so that the id_token has the session's whether or not the
    // request asked for acr_values (oidc-provider alone emits acr only
    // then).
    claims: {
      openid: ['sub', 'acr', 'amr', ...extraClaimNames()],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    acrValues: acrValues(),
    scopes: ['openid', 'profile', 'email'],
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic'],
    conformIdTokenClaims: false,
    allowOmittingSingleRegisteredRedirectUri: false,
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256'],
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: false },
      claimsParameter: { enabled: false },
      introspection: { enabled: false },
      revocation: { enabled: false },
      // RFC 9126, per --par (or POST /__test/par).
      pushedAuthorizationRequests: {
        enabled: opts.par !== 'off',
        requirePushedAuthorizationRequests: opts.par === 'required',
      },
      dPoP: { enabled: false },
    },
    interactions: {
      policy: interactionPolicyWithStepUp(),
      url(ctx, interaction) {
        return `/interaction/${interaction.uid}`;
      },
    },
    cookies: { keys: cookieKeys },
    routes: ROUTES,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    async renderError(ctx, out, error) {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<p class="error" id="error">${esc(out.error)}: ${esc(out.error_description)}</p>`);
      if (error?.status >= 500) {
        log(`server error: ${error.stack ?? error}`);
      }
    },
  };
  // PKCE: S256 only; a code whose request carried a code_challenge needs
  // the code_verifier.  Requests without PKCE pass unless --require-pkce
  // (iON's page does not mention PKCE; oidc-provider 8 requires it always).
  configuration.pkce = { methods: ['S256'], required: () => opts.requirePkce };

  const provider = new Provider(issuer, configuration);

  provider.use(async (ctx, next) => {
    const t0 = Date.now();
    const name = ctx.path.startsWith('/__test/') ? null : statName(ctx.path);
    if (name) {
      stats[name] += 1;
    }
    try {
      if (name === null) {
        await controlRoute(ctx);
        return;
      }
      const im = /^\/interaction\/([A-Za-z0-9_-]+)(\/[a-z]+)?$/.exec(ctx.path);
      if (im) {
        await interactionRoute(provider, ctx, im[1], im[2] ?? '');
        return;
      }
      if (name === 'authorize') {
        remember(recentAuthorize, { ...ctx.query });
      }
      if (name === 'par' && ctx.method === 'POST') {
        // The pushed parameters as sent (oidc-provider turns max_age=0
        // into prompt=login before its event sees them).
        const raw = await readForm(ctx);
        pushedRaw.set(ctx.req, new URLSearchParams(raw));
        ctx.req.body = raw;
      }
      let record = null;
      if (name === 'token' && ctx.method === 'POST') {
        record = await tokenPrelude(ctx);
        if (record === false) {
          return;
        }
      }

      await next();

      if ((name === 'discovery' || name === 'jwks') && ctx.status === 200) {
        ctx.set('Cache-Control', opts.cacheControl);
      }
      const queue = endpointMisbehaviours[name];
      if (queue && queue.length && ctx.method === 'GET') {
        const entry = queue[0];
        entry.left -= 1;
        if (entry.left <= 0) {
          queue.shift();
        }
        endpointApplied.push(entry.spec);
        log(`${name} response misbehaves: ${JSON.stringify(entry.spec).slice(0, 200)}`);
        await applyEndpointMisbehaviour(ctx, entry.spec, keyring, { hang, stream, clientSecret });
      }
      if (record) {
        record.status = ctx.status;
        if (misbehaviours.length) {
          const spec = misbehaviours.shift();
          applied.push(spec);
          log(`token response misbehaves: ${JSON.stringify(spec).slice(0, 200)}`);
          await applyTokenMisbehaviour(ctx, spec, keyring, { hang, stream, clientSecret });
        }
      }
    } finally {
      if (ctx.respond !== false) {
        log(`${ctx.method} ${ctx.path} -> ${ctx.status} (${Date.now() - t0} ms)`);
      }
    }
  });

  // What a client pushed (never secrets: client authentication is Basic).
  provider.on('pushed_authorization_request.success', (ctx, client) => {
    const p = ctx.oidc.params ?? {};
    const raw = pushedRaw.get(ctx.req);
    const record = { client_id: client.clientId };
    for (const k of ['response_type', 'redirect_uri', 'scope', 'state', 'nonce',
      'code_challenge_method', 'prompt', 'max_age', 'acr_values']) {
      if (raw?.has(k)) {
        record[k] = raw.get(k);
      } else if (!raw && p[k] !== undefined) {
        record[k] = p[k];
      }
    }
    record.has_code_challenge = p.code_challenge !== undefined;
    record.auth = /^basic /i.test(ctx.get('authorization')) ? 'client_secret_basic' : 'other';
    remember(recentPar, record);
  });

  for (const ev of ['server_error', 'authorization.error', 'pushed_authorization_request.error', 'grant.error', 'userinfo.error',
    'jwks.error', 'discovery.error']) {
    provider.on(ev, (ctx, err) => {
      log(`${ev}: ${err?.error ?? ''} ${err?.error_description ?? err?.message ?? err}`);
    });
  }
  return { provider, handler: provider.callback() };
}

// ---------------------------------------------------------------- state file

function writeStateFile(port) {
  if (!opts.stateFile) {
    return;
  }
  const state = {
    issuer,
    port,
    pid: process.pid,
    keys: keyring.signing.map((k) => k.jwk),
    retired_keys: keyring.retired.map((k) => k.jwk),
    published_kids: keyring.published.map((k) => k.jwk.kid),
  };
  const tmp = `${opts.stateFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 1)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, opts.stateFile);
}

function loadKeys() {
  if (opts.stateFile && fs.existsSync(opts.stateFile)) {
    try {
      const state = JSON.parse(fs.readFileSync(opts.stateFile, 'utf8'));
      const signing = (state.keys ?? []).map(keyFromJwk);
      if (signing.some((k) => k.jwk.kty === 'RSA') && signing.some((k) => k.jwk.kty === 'EC')) {
        keyring.signing = signing;
        keyring.retired = (state.retired_keys ?? []).map(keyFromJwk);
        keyring.published = [...signing];
        log(`keys loaded from ${opts.stateFile}: ${signing.map((k) => k.jwk.kid).join(' ')}`);
        return;
      }
      log(`${opts.stateFile}: no usable keys; making new ones`);
    } catch (err) {
      log(`${opts.stateFile}: ${err.message}; making new keys`);
    }
  }
  keyring.signing = [newKey('RSA'), newKey('EC')];
  keyring.published = [...keyring.signing];
}

let listenPort;
let server = null;

function rotateKeys(keepOld) {
  const old = keyring.signing;
  keyring.signing = [newKey('RSA'), newKey('EC')];
  keyring.retired = old;
  keyring.published = keepOld ? [...keyring.signing, ...old] : [...keyring.signing];
  current = buildProvider();
  writeStateFile(listenPort);
  log(`keys rotated: signing ${keyring.signing.map((k) => k.jwk.kid).join(' ')}${keepOld ? ' (old keys still published)' : ''}`);
}

// ---------------------------------------------------------------- main

function main() {
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`provider: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  loadKeys();

  const onRequest = (req, res) => {
    if (!current) {
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('starting\n');
      return;
    }
    current.handler(req, res);
  };
  server = opts.tlsCert
    ? https.createServer({
      cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey),
    }, onRequest)
    : http.createServer(onRequest);
  server.on('clientError', (err, socket) => {
    if (socket.writable) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    }
  });
  server.on('error', (err) => {
    log(`cannot listen on ${opts.bind}:${opts.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(opts.port, opts.bind, () => {
    listenPort = server.address().port;
    issuer = `${opts.tlsCert ? 'https' : 'http'}://${opts.issuerHost}:${listenPort}`;
    try {
      current = buildProvider();
    } catch (err) {
      log(`configuration refused: ${err.message}`);
      process.exit(2);
    }
    writeStateFile(listenPort);
    log(`issuer ${issuer}; clients ${opts.clients.map((c) => c.client_id).join(', ') || '(none)'}; `
      + `accounts ${[...opts.accounts.keys()].join(', ') || '(none)'}; kids ${keyring.published.map((k) => k.jwk.kid).join(' ')}`);
    process.stdout.write(`provider listening on ${issuer}\n`);
  });

  const stop = (sig) => {
    log(`${sig}: stopping`);
    for (const res of hung) {
      res.destroy();
    }
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? err}`));
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${err?.stack ?? err}`));
}

main();
