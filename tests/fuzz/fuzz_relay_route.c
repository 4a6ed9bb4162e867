/*
 * relay_route() on fuzzed requests, several per input against one real
 * store (fresh for each input) and a real waiter table whose suspend and
 * resume are stubs, as in tests/unit/test_routes.c.  A small model of the
 * logins follows along and checks the relay's promises: /v1 answers only
 * known client keys, a login is registered once, its first callback wins,
 * a code is accepted for one login only, a pushed request's request_uri
 * is registered for one login only, its result goes out once,
 * unchanged and only to the client that registered it, and the store
 * holds exactly the logins the model does.
 *
 * Input: requests separated by a line "%%".  Each is
 *
 *	METHOD TARGET
 *	Header: value
 *	...
 *	(empty line)
 *	body
 *
 * TARGET is a path with an optional query, both percent-decoded as
 * libmicrohttpd does.  Headers read: Authorization, Content-Type,
 * PAM-Ion-Client-Key (@K0@ when absent), and four that set what the server
 * would: X-No-Client-Key (no such header), X-Too-Many-Args (more query
 * parameters than it keeps), X-Too-Large (a body over the cap) and
 * X-Undelivered (the answer did not go out whole).  A request "TICK"
 * runs the periodic tick as if every login's time were up; "RELOAD" is
 * SIGHUP, which takes client 0 out of the keys file or puts it back.
 *
 * @P0@ .. @P3@ stand for four poll secrets, @S0@ .. @S3@ for their states
 * and @N0@ .. @N3@ for the nonces of those states; @K0@, @K1@ for the keys
 * of the two clients; @L@ for the link id of the latest registration.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64url.h"
#include "clientkeys.h"
#include "crypto.h"
#include "errors.h"
#include "fuzz.h"
#include "routes.h"

#define PUBLIC "https://relay.example"
#define PREFIX "https://auth.example/oauth2"
#define PREFIX2 "http://127.0.0.1:9000/auth/"
#define MAX_PENDING 4
#define TTL 300
#define MAX_REQUESTS 16
#define NLOGINS 4
#define MODEL_MAX 16
#define CODE_MAX 1024
#define NTOKENS (3 * NLOGINS + 2)
#define USED_MAX MAX_REQUESTS

static const char *const keys[2] = {
	"fuzz-client-key-zero-0123456789abcdef",
	"fuzz-client-key-one-0123456789abcdefg",
};

static struct relay_opts opts;
static struct relay_waiters *waiters;
static char secrets[NLOGINS][ION_TOKEN_CHARS + 1];
static char states[NLOGINS][ION_TOKEN_CHARS + 1];
static char nonces[NLOGINS][ION_TOKEN_CHARS + 1];
static const char *tokens[NTOKENS];
static const char *values[NTOKENS];
static char key_lines[2][128]; /* "NAME SHA256HEX\n" of each key */

/* What the model knows of one state. */
struct login {
	char state[RELAY_STATE_LEN + 1];
	bool registered;
	bool has_result;
	bool is_error;
	int client;		  /* which key registered it */
	char value[CODE_MAX + 1]; /* the code, or the error */
};

struct run {
	struct relay_app app;
	struct login model[MODEL_MAX];
	char link_id[ION_RELAY_LINK_ID_LEN + 1];
	bool revoked0; /* client 0 is out of the keys file */
	char used[USED_MAX][CODE_MAX + 1]; /* codes accepted */
	size_t nused;
	/* decoded request_uris of PAR logins registered */
	char uris[MAX_REQUESTS][ION_URL_MAX + 1];
	size_t nuris;
};

static void
stub_conn(void *conn)
{
	(void)conn;
}

static uint64_t
stub_tick(void *arg, uint64_t now_ms)
{
	(void)arg;
	(void)now_ms;
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct relay_waiters_ops ops = {
		.suspend = stub_conn,
		.resume = stub_conn,
		.tick = stub_tick,
	};
	static char names[3 * NLOGINS][8];
	unsigned char raw[ION_SECRET_LEN], h[ION_SHA256_LEN];
	size_t i, n, o;

	(void)argc;
	(void)argv;
	strcpy(opts.public_url, PUBLIC);
	opts.prefixes[0] = PREFIX;
	opts.prefixes[1] = PREFIX2;
	if (ion_url_parse(PREFIX, &opts.prefix_urls[0]) != 0 ||
	    ion_url_parse(PREFIX2, &opts.prefix_urls[1]) != 0)
		fuzz_fail("bad prefixes");
	opts.nprefixes = 2;
	opts.ttl = TTL;
	opts.max_pending = MAX_PENDING;
	if (relay_waiters_new(8, &ops, &waiters) != 0)
		fuzz_fail("relay_waiters_new");
	for (n = 0; n < NLOGINS; n++) {
		for (i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)(n * 31 + i);
		ion_b64url_encode(raw, sizeof(raw), secrets[n]);
		if (ion_state_from_secret(
			secrets[n], strlen(secrets[n]), states[n]) != 0 ||
		    ion_nonce_from_state(states[n], nonces[n]) != 0)
			fuzz_fail("cannot derive state %zu", n);
		snprintf(names[3 * n], sizeof(names[0]), "@P%zu@", n);
		snprintf(names[3 * n + 1], sizeof(names[0]), "@S%zu@", n);
		snprintf(names[3 * n + 2], sizeof(names[0]), "@N%zu@", n);
		tokens[3 * n] = names[3 * n];
		tokens[3 * n + 1] = names[3 * n + 1];
		tokens[3 * n + 2] = names[3 * n + 2];
		values[3 * n] = secrets[n];
		values[3 * n + 1] = states[n];
		values[3 * n + 2] = nonces[n];
	}
	tokens[3 * NLOGINS] = "@K0@";
	tokens[3 * NLOGINS + 1] = "@K1@";
	for (n = 0; n < 2; n++) {
		values[3 * NLOGINS + n] = keys[n];
		if (ion_sha256(keys[n], strlen(keys[n]), NULL, 0, NULL, 0, h) !=
		    0)
			fuzz_fail("sha256");
		o = (size_t)snprintf(
		    key_lines[n], sizeof(key_lines[n]), "client-%zu ", n);
		for (i = 0; i < sizeof(h); i++)
			o += (size_t)snprintf(key_lines[n] + o,
			    sizeof(key_lines[n]) - o, "%02x", h[i]);
		snprintf(key_lines[n] + o, sizeof(key_lines[n]) - o, "\n");
	}
	return 0;
}

/* The keys file with both clients, or with client 1 only. */
static struct relay_keyset *
keyset(bool without0)
{
	struct relay_keyset *ks = NULL;
	char text[256], err[256];

	snprintf(text, sizeof(text), "# fuzz\n%s%s",
	    without0 ? "" : key_lines[0], key_lines[1]);
	if (relay_keyset_parse(
		"clients", text, strlen(text), &ks, err, sizeof(err)) != 0)
		fuzz_fail("keyset: %s", err);
	return ks;
}

/* Which client a key is, -1 for none (or one taken out). */
static int
client_of(const struct run *run, const char *key)
{
	if (key != NULL && strcmp(key, keys[0]) == 0 && !run->revoked0)
		return 0;
	if (key != NULL && strcmp(key, keys[1]) == 0)
		return 1;
	return -1;
}

static bool
code_used(const struct run *run, const char *code)
{
	size_t i;

	for (i = 0; i < run->nused; i++)
		if (strcmp(run->used[i], code) == 0)
			return true;
	return false;
}

static bool json_member(
    const char *body, size_t len, const char *name, char *out, size_t outlen);

/*
 * The decoded request_uri of the authorize URL in a registration body,
 * when it has one.
 */
static bool
request_uri_of(const struct relay_request *req, char *out, size_t outlen)
{
	char url[ION_URL_MAX + 1];
	struct ion_url u;
	size_t len;

	return json_member(req->body, req->body_len, "authorize_url", url,
		   sizeof(url)) &&
	    ion_url_parse(url, &u) == 0 &&
	    ion_url_param_get(&u, "request_uri", out, outlen, &len) == 0 &&
	    strlen(out) == len;
}

static int hexval(char c);

/* Decodes s[0..len) into out (room for len); '+' stays; returns its length. */
static size_t
decode_part(const char *s, size_t len, unsigned char *out)
{
	size_t i, o = 0;
	int a, b;

	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && (a = hexval(s[i + 1])) >= 0 &&
		    (b = hexval(s[i + 2])) >= 0) {
			out[o++] = (unsigned char)(a << 4 | b);
			i += 2;
		} else
			out[o++] = (unsigned char)s[i];
	}
	return o;
}

static bool
control_free(const unsigned char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f ||
		    (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 &&
			s[i + 1] <= 0x9f))
			return false;
	return true;
}

/*
 * The rule for an authorize URL that is not pushed, checked on its own
 * parse of the query: only the parameters pam_ion sends, each at most
 * once, spelt exactly so, and no decoded control character anywhere.
 */
static bool
only_module_params(const char *url)
{
	static const char *const names[] = { "response_type", "client_id",
		"redirect_uri", "scope", "state", "nonce", "code_challenge",
		"code_challenge_method" };
	unsigned char name[ION_URL_MAX], value[ION_URL_MAX];
	unsigned seen[sizeof(names) / sizeof(names[0])];
	const char *p = strchr(url, '?'), *end, *amp, *eq;
	size_t nlen, vlen, i;

	memset(seen, 0, sizeof(seen));
	if (p == NULL)
		return true;
	for (p++, end = p + strlen(p); p <= end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
			eq = amp;
		nlen = decode_part(p, (size_t)(eq - p), name);
		vlen = eq < amp
		    ? decode_part(eq + 1, (size_t)(amp - eq - 1), value)
		    : 0;
		if (!control_free(name, nlen) || !control_free(value, vlen))
			return false;
		if (nlen == 0 && vlen == 0)
			continue;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i]) == nlen &&
			    memcmp(names[i], name, nlen) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]) || seen[i]++ > 0)
			return false;
	}
	return true;
}

static bool
uri_registered(const struct run *run, const char *uri)
{
	size_t i;

	for (i = 0; i < run->nuris; i++)
		if (strcmp(run->uris[i], uri) == 0)
			return true;
	return false;
}

static struct login *
model_find(struct run *run, const char *state, bool add)
{
	struct login *free_slot = NULL;
	size_t i;

	if (state == NULL || strlen(state) != RELAY_STATE_LEN)
		return NULL;
	for (i = 0; i < MODEL_MAX; i++) {
		if (strcmp(run->model[i].state, state) == 0)
			return &run->model[i];
		if (free_slot == NULL && !run->model[i].registered)
			free_slot = &run->model[i];
	}
	if (!add || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	strcpy(free_slot->state, state);
	return free_slot;
}

static size_t
model_count(const struct run *run)
{
	size_t i, n = 0;

	for (i = 0; i < MODEL_MAX; i++)
		n += run->model[i].registered;
	return n;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* Percent-decodes s in place ('+' as space when plus). */
static void
unescape(char *s, bool plus)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) << 4 | hexval(s[2]));
			s += 2;
		} else
			*o++ = plus && *s == '+' ? ' ' : *s;
	}
	*o = '\0';
}

/* The line starting at *p (up to end), NUL-terminated, without "\r". */
static char *
next_line(char **p, char *end)
{
	char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line));

	if (nl == NULL) {
		*p = end;
		nl = end;
	} else {
		*nl = '\0';
		*p = nl + 1;
	}
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	return line;
}

static const char *
arg(const struct relay_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nargs; i++)
		if (strcmp(req->args[i].name, name) == 0)
			return req->args[i].value;
	return NULL;
}

/* Every '<' in the page opens one of the tags pages.c writes. */
static void
check_html(const char *page)
{
	static const char *const tags[] = { "!DOCTYPE", "a", "b", "body", "dd",
		"dl", "dt", "h1", "head", "html", "main", "meta", "p", "style",
		"title" };
	const char *p, *name;
	size_t i, n;

	for (p = strchr(page, '<'); p != NULL; p = strchr(p + 1, '<')) {
		name = p + 1 + (p[1] == '/');
		for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
			n = strlen(tags[i]);
			if (strncmp(name, tags[i], n) == 0 &&
			    (name[n] == ' ' || name[n] == '>'))
				break;
		}
		if (i == sizeof(tags) / sizeof(tags[0]))
			fuzz_fail("unescaped '<' in a page: %.40s", p);
	}
}

static void
check_response(const struct relay_response *resp)
{
	json_t *j;

	FUZZ_CHECK(resp->status >= 200 && resp->status <= 599);
	FUZZ_CHECK(resp->body != NULL && resp->content_type != NULL);
	FUZZ_CHECK(strlen(resp->body) == resp->body_len);
	if (resp->status == 405)
		FUZZ_CHECK(resp->allow != NULL);
	if (resp->www_authenticate != NULL)
		FUZZ_CHECK(resp->status == 401);
	if (strncmp(resp->content_type, "application/json", 16) == 0) {
		j = json_loadb(resp->body, resp->body_len, 0, NULL);
		FUZZ_CHECK(json_is_object(j));
		json_decref(j);
	} else if (strncmp(resp->content_type, "text/html", 9) == 0)
		check_html(resp->body);
}

/* The string member name of the JSON body, copied into out, or false. */
static bool
json_member(
    const char *body, size_t len, const char *name, char *out, size_t outlen)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const json_t *v = json_object_get(j, name);
	bool ok = json_is_string(v) && json_string_length(v) < outlen &&
	    strlen(json_string_value(v)) == json_string_length(v);

	if (ok)
		strcpy(out, json_string_value(v));
	json_decref(j);
	return ok;
}

/* Checks an answer against the model and updates it. */
static void
follow(struct run *run, const struct relay_request *req,
    const struct relay_response *resp, bool delivered)
{
	char state[RELAY_STATE_LEN + 1], value[CODE_MAX + 1], link[128];
	char uri[ION_URL_MAX + 1], url[ION_URL_MAX + 1], error[64];
	const char *s, *auth = req->authorization, *slash;
	struct login *m;
	bool post = strcmp(req->method, "POST") == 0;
	bool get = strcmp(req->method, "GET") == 0;
	int client = client_of(run, req->client_key);

	/* No known key, no /v1: whatever else the request holds. */
	if (strcmp(req->path, "/v1/logins") == 0 ||
	    strcmp(req->path, "/v1/logins/result") == 0) {
		FUZZ_CHECK((client < 0) ==
		    (resp->status == 401 && resp->www_authenticate == NULL));
		if (client < 0)
			return;
	}
	if (post && strcmp(req->path, "/v1/logins") == 0) {
		if (resp->status != 201 && resp->status != 409)
			return;
		FUZZ_CHECK(json_member(
		    req->body, req->body_len, "state", state, sizeof(state)));
		m = model_find(run, state, resp->status == 201);
		FUZZ_CHECK(resp->status == 201 ||
		    json_member(resp->body, resp->body_len, "error", error,
			sizeof(error)));
		/* One pushed request, one login, whoever asks again. */
		if (resp->status == 409 &&
		    strcmp(error, "request_uri_reused") == 0) {
			FUZZ_CHECK(request_uri_of(req, uri, sizeof(uri)) &&
			    uri_registered(run, uri));
			return;
		}
		if (resp->status == 409) {
			FUZZ_CHECK(strcmp(error, "state_exists") == 0);
			FUZZ_CHECK(m != NULL && m->registered);
			return;
		}
		if (request_uri_of(req, uri, sizeof(uri))) {
			FUZZ_CHECK(!uri_registered(run, uri));
			FUZZ_CHECK(run->nuris < MAX_REQUESTS);
			strcpy(run->uris[run->nuris++], uri);
		} else {
			FUZZ_CHECK(json_member(req->body, req->body_len,
			    "authorize_url", url, sizeof(url)));
			FUZZ_CHECK(only_module_params(url));
		}
		/* A new login: the store must have had room for it. */
		FUZZ_CHECK(m != NULL && !m->registered);
		m->registered = true;
		m->has_result = false;
		m->client = client;
		FUZZ_CHECK(json_member(
		    resp->body, resp->body_len, "link", link, sizeof(link)));
		FUZZ_CHECK(
		    strncmp(link, PUBLIC "/l/", strlen(PUBLIC) + 3) == 0);
		slash = strrchr(link, '/');
		FUZZ_CHECK(strlen(slash + 1) == ION_RELAY_LINK_ID_LEN);
		strcpy(run->link_id, slash + 1);
	} else if (get && strcmp(req->path, "/callback") == 0) {
		s = arg(req, "state");
		m = model_find(run, s, false);
		if (resp->status == 404)
			FUZZ_CHECK(m == NULL || !m->registered);
		else if (resp->status == 409)
			/* Its result is in, or the code went to another. */
			FUZZ_CHECK(m != NULL && m->registered &&
			    (m->has_result ||
				(arg(req, "code") != NULL &&
				    code_used(run, arg(req, "code")))));
		else if (resp->status == 200) {
			/* The first result wins; a code wins once. */
			FUZZ_CHECK(
			    m != NULL && m->registered && !m->has_result);
			m->has_result = true;
			m->is_error = arg(req, "code") == NULL;
			s = arg(req, m->is_error ? "error" : "code");
			FUZZ_CHECK(s != NULL && strlen(s) <= CODE_MAX);
			strcpy(m->value, s);
			if (!m->is_error) {
				FUZZ_CHECK(!code_used(run, s));
				FUZZ_CHECK(run->nused < USED_MAX);
				strcpy(run->used[run->nused++], s);
			}
		}
	} else if (get && strcmp(req->path, "/v1/logins/result") == 0) {
		if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
		    ion_state_from_secret(auth + 7, strlen(auth + 7), state) !=
			0)
			return;
		m = model_find(run, state, false);
		/* Another client's login is no login at all. */
		if (m != NULL && m->registered && m->client != client)
			m = NULL;
		if (resp->status == 404)
			FUZZ_CHECK(m == NULL || !m->registered);
		else if (resp->status == 202)
			FUZZ_CHECK(
			    m != NULL && m->registered && !m->has_result);
		else if (resp->status == 200) {
			/* Only what the callback brought, only once. */
			FUZZ_CHECK(m != NULL && m->registered && m->has_result);
			FUZZ_CHECK(resp->deliver);
			FUZZ_CHECK(json_member(resp->body, resp->body_len,
			    m->is_error ? "error" : "code", value,
			    sizeof(value)));
			FUZZ_CHECK(strcmp(value, m->value) == 0);
			if (delivered)
				m->registered = false;
		}
	}
}

/* Answers one request block, as server.c would. */
static void
one_request(struct run *run, char *buf, size_t len)
{
	static const char *const ltok[] = { "@L@" };
	struct relay_param params[RELAY_MAX_ARGS];
	struct relay_request req;
	struct relay_response resp;
	const char *lval[] = { run->link_id[0] ? run->link_id : "AAAAAAAAAAA" };
	char *text, *p, *end, *line, *target, *q, *amp, *eq, *colon, *v;
	char root[] = "/";
	size_t tlen;
	bool undelivered = false;

	text = fuzz_expand((const uint8_t *)buf, len, ltok, lval, 1, &tlen);
	p = text;
	end = text + tlen;
	memset(&req, 0, sizeof(req));
	req.client = "192.0.2.99";
	req.client_key = keys[0];
	req.args = params;
	line = next_line(&p, end);
	if (strcmp(line, "TICK") == 0) {
		relay_route_tick(&run->app, ion_now_ms() + (TTL + 1) * 1000);
		fuzz_log("TICK");
		memset(run->model, 0, sizeof(run->model));
		run->nused = 0; /* remembered for the TTL only */
		run->nuris = 0;
		FUZZ_CHECK(relay_store_count(run->app.store) == 0);
		FUZZ_CHECK(relay_store_used_codes(run->app.store) == 0);
		free(text);
		return;
	}
	if (strcmp(line, "RELOAD") == 0) {
		struct relay_keyset *ks;

		run->revoked0 = !run->revoked0;
		ks = keyset(run->revoked0);
		relay_clients_replace(run->app.clients, &ks);
		fuzz_log(
		    "RELOAD: client 0 %s", run->revoked0 ? "revoked" : "back");
		free(text);
		return;
	}
	req.method = line;
	if ((target = strchr(line, ' ')) != NULL)
		*target++ = '\0';
	else
		target = root;
	if ((q = strchr(target, '?')) != NULL)
		*q++ = '\0';
	unescape(target, false);
	req.path = target;
	for (; q != NULL; q = amp) {
		if ((amp = strchr(q, '&')) != NULL)
			*amp++ = '\0';
		if (*q == '\0')
			continue;
		if (req.nargs == RELAY_MAX_ARGS) {
			req.too_many_args = true;
			break;
		}
		if ((eq = strchr(q, '=')) != NULL) {
			*eq++ = '\0';
			unescape(eq, true);
		}
		unescape(q, true);
		params[req.nargs].name = q;
		params[req.nargs].value = eq;
		req.nargs++;
	}
	while (p < end && *(line = next_line(&p, end)) != '\0') {
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(line, "Authorization") == 0)
			req.authorization = v;
		else if (strcasecmp(line, "Content-Type") == 0)
			req.content_type = v;
		else if (strcasecmp(line, "PAM-Ion-Client-Key") == 0)
			req.client_key = v;
		else if (strcasecmp(line, "X-No-Client-Key") == 0)
			req.client_key = NULL;
		else if (strcasecmp(line, "X-Too-Many-Args") == 0)
			req.too_many_args = true;
		else if (strcasecmp(line, "X-Too-Large") == 0)
			req.body_too_large = true;
		else if (strcasecmp(line, "X-Undelivered") == 0)
			undelivered = true;
	}
	req.body = p;
	req.body_len = (size_t)(end - p);
	if (req.body_too_large || req.body_len > RELAY_BODY_MAX) {
		req.body_too_large = true;
		req.body = "";
		req.body_len = 0;
	}

	relay_route(&run->app, &req, &resp);
	if (resp.park) {
		/* The server parks the poll; say its wait ran out. */
		FUZZ_CHECK(resp.body == NULL && resp.wait_seconds > 0 &&
		    resp.wait_seconds <= ION_RELAY_WAIT_MAX_S);
		FUZZ_CHECK(relay_route_collect(&run->app, resp.state,
		    resp.client, RELAY_WAKE_TIMEOUT, true, &resp));
	}
	fuzz_log("%s %s -> %u%s", req.method, req.path, resp.status,
	    resp.deliver ? (undelivered ? " (undelivered)" : " (delivered)")
			 : "");
	check_response(&resp);
	follow(run, &req, &resp, !undelivered);
	if (resp.deliver)
		relay_route_delivered(
		    &run->app, resp.state, resp.link_id, !undelivered);
	FUZZ_CHECK(relay_store_count(run->app.store) == model_count(run));
	relay_response_clear(&resp);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_keyset *ks;
	struct run *run;
	char *text, *p, *end, *sep;
	size_t len, n;

	run = fuzz_malloc(sizeof(*run));
	memset(run, 0, sizeof(*run));
	run->app.opts = &opts;
	run->app.waiters = waiters;
	if (relay_store_new(MAX_PENDING, TTL, &run->app.store) != 0)
		fuzz_fail("relay_store_new");
	ks = keyset(false);
	if (relay_clients_new(&ks, &run->app.clients) != 0)
		fuzz_fail("relay_clients_new");
	text = fuzz_expand(data, size, tokens, values, NTOKENS, &len);
	p = text;
	end = text + len;
	for (n = 0; p < end && n < MAX_REQUESTS; n++) {
		sep = memmem(p, (size_t)(end - p), "\n%%\n", 4);
		one_request(run, p,
		    sep != NULL ? (size_t)(sep - p) : (size_t)(end - p));
		p = sep != NULL ? sep + 4 : end;
	}
	relay_store_free(&run->app.store);
	relay_clients_free(&run->app.clients);
	free(text);
	free(run);
	return 0;
}
