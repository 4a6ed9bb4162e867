/*
 * The in-memory store: two keyed hash tables over one set of logins, and a
 * list in registration order.  The TTL is the same for every login, so that
 * list is also expiry order and expiring is a walk from its head.  A third
 * table with a list of its own remembers the codes callbacks brought and
 * the request_uris of pushed requests registered, each hashed under a label
 * of its own so the two can never stand for each other.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64url.h"
#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "siphash.h"
#include "store.h"
#include "store_impl.h"

struct login {
	struct login *next_by_state;
	struct login *next_by_link;
	struct login *older, *newer;
	struct relay_result *result; /* NULL until the callback */
	uint64_t expires_ms;
	time_t created;
	char state[RELAY_STATE_LEN + 1];
	char link_id[ION_RELAY_LINK_ID_LEN + 1];
	bool confirm;
	bool delivering; /* a poll is sending the result out */
	unsigned char client[ION_SHA256_LEN]; /* who registered it */
	unsigned short off_user, off_rhost, off_service, off_name, off_url;
	/* host, user, rhost, service, client name, authorize_url */
	char strings[];
};

/*
 * SHA-256 of a code a callback brought, or of a registered request_uri,
 * remembered for the TTL.
 */
struct used_code {
	struct used_code *next_in_bucket;
	struct used_code *newer;
	uint64_t expires_ms;
	unsigned char hash[ION_SHA256_LEN];
};

struct memory_store {
	struct relay_store base; /* first: see store_impl.h */
	pthread_mutex_t lock;
	/* used codes: a table, and a list in expiry order */
	struct used_code **used;
	size_t used_nbuckets; /* a power of two */
	size_t used_count, used_max;
	struct used_code *used_oldest, *used_newest;
	struct login **by_state;
	struct login **by_link;
	size_t nbuckets; /* a power of two */
	size_t count;
	unsigned long max_pending;
	uint64_t ttl_ms;
	struct login *oldest, *newest;
	unsigned char key[16];
};

/* A used-code entry for value under label, not yet remembered. */
static int
used_new(
    const char *label, const void *value, size_t len, struct used_code **ret)
{
	struct used_code *u;
	int r;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return ION_ERR_NOMEM;
	if ((r = relay_store_used_hash(label, value, len, u->hash)) != 0) {
		free(u);
		return r;
	}
	*ret = u;
	return 0;
}

static bool used_find(
    struct memory_store *st, const unsigned char *hash, uint64_t now_ms);
static void used_add(
    struct memory_store *st, struct used_code *u, uint64_t now_ms);
static void used_expire(struct memory_store *st, uint64_t now_ms);

/*
 * Under the lock: whether u may be remembered now.  seen when its hash is
 * remembered already; ION_ERR_FULL when the memory is full, which refuses
 * rather than forget an entry early (fail closed).
 */
static int
used_check(struct memory_store *st, const struct used_code *u, int seen,
    uint64_t now_ms)
{
	used_expire(st, now_ms);
	if (used_find(st, u->hash, now_ms))
		return seen;
	if (st->used_count >= st->used_max)
		return ION_ERR_FULL;
	return 0;
}

/* The bucket of key in a table of n buckets (a power of two). */
static size_t
bucket_in(const struct memory_store *st, const void *key, size_t len, size_t n)
{
	return (size_t)relay_siphash(st->key, key, len) & (n - 1);
}

static size_t
bucket(const struct memory_store *st, const char *key, size_t len)
{
	return bucket_in(st, key, len, st->nbuckets);
}

static struct login **
find_state(struct memory_store *st, const char *state)
{
	struct login **pp = &st->by_state[bucket(st, state, RELAY_STATE_LEN)];

	for (; *pp != NULL; pp = &(*pp)->next_by_state)
		if (memcmp((*pp)->state, state, RELAY_STATE_LEN) == 0)
			return pp;
	return pp;
}

static struct login **
find_link(struct memory_store *st, const char *link_id)
{
	struct login **pp =
	    &st->by_link[bucket(st, link_id, ION_RELAY_LINK_ID_LEN)];

	for (; *pp != NULL; pp = &(*pp)->next_by_link)
		if (memcmp((*pp)->link_id, link_id, ION_RELAY_LINK_ID_LEN) == 0)
			return pp;
	return pp;
}

/* Doubles both tables; on allocation failure they simply stay as they are. */
static void
grow(struct memory_store *st)
{
	size_t n = st->nbuckets * 2, i;
	struct login **bs, **bl;

	bs = calloc(n, sizeof(*bs));
	bl = calloc(n, sizeof(*bl));
	if (bs == NULL || bl == NULL) {
		free(bs);
		free(bl);
		return;
	}
	for (i = 0; i < st->nbuckets; i++) {
		struct login *l, *next;

		for (l = st->by_state[i]; l != NULL; l = next) {
			size_t b = bucket_in(st, l->state, RELAY_STATE_LEN, n);

			next = l->next_by_state;
			l->next_by_state = bs[b];
			bs[b] = l;
		}
		for (l = st->by_link[i]; l != NULL; l = next) {
			size_t b =
			    bucket_in(st, l->link_id, ION_RELAY_LINK_ID_LEN, n);

			next = l->next_by_link;
			l->next_by_link = bl[b];
			bl[b] = l;
		}
	}
	free(st->by_state);
	free(st->by_link);
	st->by_state = bs;
	st->by_link = bl;
	st->nbuckets = n;
}

/* Unlinks l from both tables and the age list, and frees it. */
static void
remove_login(struct memory_store *st, struct login *l)
{
	struct login **pp;

	pp = find_state(st, l->state);
	if (*pp == l)
		*pp = l->next_by_state;
	pp = find_link(st, l->link_id);
	if (*pp == l)
		*pp = l->next_by_link;
	if (l->older != NULL)
		l->older->newer = l->newer;
	else
		st->oldest = l->newer;
	if (l->newer != NULL)
		l->newer->older = l->older;
	else
		st->newest = l->older;
	st->count--;
	relay_result_free(&l->result);
	free(l);
}

/*
 * A new login with spec's state and texts, not yet in any table.
 * ION_ERR_INVALID without a client, ION_ERR_RANGE for a bad state or texts
 * of 64 KiB or more, ION_ERR_NOMEM.
 */
static int
new_login(const struct relay_login_spec *spec, struct login **ret)
{
	size_t lh = strlen(spec->host) + 1, lu = strlen(spec->user) + 1;
	size_t lr = strlen(spec->rhost) + 1, ls = strlen(spec->service) + 1;
	size_t la = strlen(spec->authorize_url) + 1, lc;
	struct login *l;

	if (spec->client == NULL || spec->client_name == NULL)
		return ION_ERR_INVALID;
	lc = strlen(spec->client_name) + 1;
	/* The offsets are 16 bits: a login's texts stay under 64 KiB. */
	if (strlen(spec->state) != RELAY_STATE_LEN || la > 0xffff ||
	    lh + lu + lr + ls + lc > 0xffff - la)
		return ION_ERR_RANGE;
	if ((l = calloc(1, sizeof(*l) + lh + lu + lr + ls + lc + la)) == NULL)
		return ION_ERR_NOMEM;
	memcpy(l->state, spec->state, RELAY_STATE_LEN);
	l->confirm = spec->confirm;
	memcpy(l->client, spec->client, sizeof(l->client));
	l->created = time(NULL);
	l->off_user = (unsigned short)lh;
	l->off_rhost = (unsigned short)(lh + lu);
	l->off_service = (unsigned short)(lh + lu + lr);
	l->off_name = (unsigned short)(lh + lu + lr + ls);
	l->off_url = (unsigned short)(lh + lu + lr + ls + lc);
	memcpy(l->strings, spec->host, lh);
	memcpy(l->strings + l->off_user, spec->user, lu);
	memcpy(l->strings + l->off_rhost, spec->rhost, lr);
	memcpy(l->strings + l->off_service, spec->service, ls);
	memcpy(l->strings + l->off_name, spec->client_name, lc);
	memcpy(l->strings + l->off_url, spec->authorize_url, la);
	*ret = l;
	return 0;
}

/* Under the lock: gives l a random link id no other login has. */
static int
new_link_id(struct memory_store *st, struct login *l)
{
	unsigned char rnd[8];
	int tries;

	for (tries = 0; tries < 8; tries++) {
		if (ion_random_bytes(rnd, sizeof(rnd)) != 0)
			break;
		ion_b64url_encode(rnd, sizeof(rnd), l->link_id);
		if (*find_link(st, l->link_id) == NULL)
			return 0;
	}
	return ION_ERR_SYSTEM;
}

/*
 * Under the lock: puts l in slot and its link's table, and last in the
 * age list, which the one TTL keeps in expiry order.
 */
static void
insert_login(struct memory_store *st, struct login **slot, struct login *l,
    uint64_t now_ms)
{
	*slot = l;
	*find_link(st, l->link_id) = l;
	l->expires_ms = now_ms + st->ttl_ms;
	if ((l->older = st->newest) != NULL)
		l->older->newer = l;
	else
		st->oldest = l;
	st->newest = l;
	if (++st->count > st->nbuckets)
		grow(st);
}

static int
memory_add(struct relay_store *base, const struct relay_login_spec *spec,
    char ret_link_id[ION_RELAY_LINK_ID_LEN + 1])
{
	struct memory_store *st = (struct memory_store *)base;
	struct login *l = NULL, **slot;
	struct used_code *used = NULL;
	uint64_t now_ms;
	int r;

	if ((r = new_login(spec, &l)) != 0)
		return r;
	if (spec->request_uri != NULL &&
	    (r = used_new(RELAY_USED_REQUEST_URI, spec->request_uri,
		 spec->request_uri_len, &used)) != 0) {
		free(l);
		return r;
	}
	pthread_mutex_lock(&st->lock);
	now_ms = ion_now_ms();
	/*
	 * A state is taken until the timer removes its login, at most a
	 * second past its TTL; the same holds for the count against the cap.
	 */
	slot = find_state(st, l->state);
	if (*slot != NULL) {
		r = ION_ERR_EXISTS;
		goto out;
	}
	if (st->count >= st->max_pending) {
		r = ION_ERR_FULL;
		goto out;
	}
	/*
	 * One pushed request, one login.  Its request_uri is in the URL the
	 * landing page links to, so whoever saw that page could, with any
	 * client key, register it again under a state of their own: a
	 * landing page they wrote (another host, another account) in front
	 * of a sign-in whose code the provider still sends to the state in
	 * the pushed request.  A pushed request lives for less than a TTL,
	 * so remembering its request_uri for one refuses every second
	 * registration.  Checked and recorded under the lock, so two
	 * registrations cannot both pass.
	 */
	if (used != NULL &&
	    (r = used_check(st, used, ION_ERR_USED, now_ms)) != 0)
		goto out;
	if ((r = new_link_id(st, l)) != 0)
		goto out;
	insert_login(st, slot, l, now_ms);
	if (used != NULL) {
		used_add(st, used, now_ms);
		used = NULL; /* transferred */
	}
	memcpy(ret_link_id, l->link_id, ION_RELAY_LINK_ID_LEN + 1);
	l = NULL; /* transferred */
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	free(used);
	free(l);
	return r;
}

static struct relay_login_view *
make_view(const struct login *l)
{
	const char *host = l->strings, *user = l->strings + l->off_user;
	const char *rhost = l->strings + l->off_rhost;
	const char *service = l->strings + l->off_service;
	const char *name = l->strings + l->off_name;
	const char *url = l->strings + l->off_url;
	size_t total = l->off_url + strlen(url) + 1;
	struct relay_login_view *v;

	if ((v = malloc(sizeof(*v) + total)) == NULL)
		return NULL;
	memcpy(v->strings, l->strings, total);
	v->host = v->strings + (host - l->strings);
	v->user = v->strings + (user - l->strings);
	v->rhost = v->strings + (rhost - l->strings);
	v->service = v->strings + (service - l->strings);
	v->client_name = v->strings + (name - l->strings);
	v->authorize_url = v->strings + (url - l->strings);
	v->confirm = l->confirm;
	v->created = l->created;
	memcpy(v->link_id, l->link_id, sizeof(v->link_id));
	return v;
}

/* A login past its time is gone even before the timer gets to it. */
static struct login *
live(struct login *l)
{
	return (l != NULL && l->expires_ms > ion_now_ms()) ? l : NULL;
}

static int
memory_view_link(struct relay_store *base, const char *link_id,
    struct relay_login_view **ret_view)
{
	struct memory_store *st = (struct memory_store *)base;
	struct login *l;
	int r = ION_ERR_NOT_FOUND;

	if (strlen(link_id) != ION_RELAY_LINK_ID_LEN)
		return ION_ERR_NOT_FOUND;
	pthread_mutex_lock(&st->lock);
	if ((l = live(*find_link(st, link_id))) == NULL)
		goto out;
	if (l->result != NULL) {
		r = ION_ERR_USED;
		goto out;
	}
	if ((*ret_view = make_view(l)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

static size_t
used_bucket(const struct memory_store *st, const unsigned char *hash)
{
	return bucket_in(st, hash, ION_SHA256_LEN, st->used_nbuckets);
}

static bool
used_find(struct memory_store *st, const unsigned char *hash, uint64_t now_ms)
{
	struct used_code *u = st->used[used_bucket(st, hash)];

	for (; u != NULL; u = u->next_in_bucket)
		if (memcmp(u->hash, hash, ION_SHA256_LEN) == 0 &&
		    u->expires_ms > now_ms)
			return true;
	return false;
}

/* Doubles the used-code table; on allocation failure it stays as it is. */
static void
used_grow(struct memory_store *st)
{
	size_t n = st->used_nbuckets * 2, i;
	struct used_code **b, *u, *next;

	if ((b = calloc(n, sizeof(*b))) == NULL)
		return;
	for (i = 0; i < st->used_nbuckets; i++)
		for (u = st->used[i]; u != NULL; u = next) {
			size_t k = bucket_in(st, u->hash, ION_SHA256_LEN, n);

			next = u->next_in_bucket;
			u->next_in_bucket = b[k];
			b[k] = u;
		}
	free(st->used);
	st->used = b;
	st->used_nbuckets = n;
}

static void
used_add(struct memory_store *st, struct used_code *u, uint64_t now_ms)
{
	size_t b = used_bucket(st, u->hash);

	u->expires_ms = now_ms + st->ttl_ms;
	u->next_in_bucket = st->used[b];
	st->used[b] = u;
	u->newer = NULL;
	if (st->used_newest != NULL)
		st->used_newest->newer = u;
	else
		st->used_oldest = u;
	st->used_newest = u;
	if (++st->used_count > st->used_nbuckets)
		used_grow(st);
}

/* Forgets the used codes whose time is up. */
static void
used_expire(struct memory_store *st, uint64_t now_ms)
{
	struct used_code *u, **pp;

	while ((u = st->used_oldest) != NULL && u->expires_ms <= now_ms) {
		for (pp = &st->used[used_bucket(st, u->hash)]; *pp != u;
		     pp = &(*pp)->next_in_bucket)
			;
		*pp = u->next_in_bucket;
		st->used_oldest = u->newer;
		if (st->used_oldest == NULL)
			st->used_newest = NULL;
		st->used_count--;
		free(u);
	}
}

static int
memory_put_result(struct relay_store *base, const char *state,
    const struct relay_result *in, struct relay_login_view **ret_view)
{
	struct memory_store *st = (struct memory_store *)base;
	struct relay_result *res = NULL;
	struct relay_login_view *view = NULL;
	struct used_code *used = NULL;
	struct login *l;
	uint64_t now_ms;
	int r;

	if (strlen(state) != RELAY_STATE_LEN)
		return ION_ERR_NOT_FOUND;
	if ((res = relay_result_copy(in)) == NULL)
		return ION_ERR_NOMEM;
	if (in->code != NULL &&
	    (r = used_new(
		 RELAY_USED_CODE, in->code, strlen(in->code), &used)) != 0)
		goto out_unlocked;
	pthread_mutex_lock(&st->lock);
	now_ms = ion_now_ms();
	if ((l = live(*find_state(st, state))) == NULL) {
		r = ION_ERR_NOT_FOUND;
		goto out;
	}
	if (l->result != NULL) {
		r = ION_ERR_USED;
		goto out;
	}
	/*
	 * A code is accepted for one login only.  A client that registered
	 * a login of its own can send the person through the module's
	 * authorize URL with only the state changed, collect the code under
	 * its own state and bring it to the module's: PKCE and nonce would
	 * match.  The login it is brought to was registered at most a TTL
	 * before, and the code was issued after that, so remembering codes
	 * for a TTL catches every such transplant.  Checked and recorded
	 * under the lock, so two callbacks cannot both pass.
	 */
	if (used != NULL &&
	    (r = used_check(st, used, ION_ERR_DENIED, now_ms)) != 0)
		goto out;
	if ((view = make_view(l)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	if (used != NULL) {
		used_add(st, used, now_ms);
		used = NULL; /* transferred */
	}
	l->result = res;
	res = NULL; /* transferred */
	*ret_view = view;
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
out_unlocked:
	free(used);
	relay_result_free(&res);
	return r;
}

static int
memory_take(struct relay_store *base, const char *state,
    const unsigned char client[ION_SHA256_LEN],
    struct relay_result **ret_result, uint64_t *ret_due_ms)
{
	struct memory_store *st = (struct memory_store *)base;
	struct login *l;
	int r = ION_ERR_NOT_FOUND;

	(void)ret_due_ms; /* the timer wakes a poll when its login expires */
	if (strlen(state) != RELAY_STATE_LEN || client == NULL)
		return ION_ERR_NOT_FOUND;
	pthread_mutex_lock(&st->lock);
	if ((l = live(*find_state(st, state))) == NULL)
		goto out;
	/* Another client's login looks exactly like no login at all. */
	if (!ion_ct_equal(l->client, client, ION_SHA256_LEN))
		goto out;
	if (l->result == NULL || l->delivering) {
		r = ION_ERR_PENDING;
		goto out;
	}
	if ((*ret_result = relay_result_copy(l->result)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	memcpy((*ret_result)->link_id, l->link_id, sizeof(l->link_id));
	l->delivering = true;
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

static bool
memory_delivered(struct relay_store *base, const char *state, bool ok)
{
	struct memory_store *st = (struct memory_store *)base;
	struct login *l;
	bool again = false;

	if (strlen(state) != RELAY_STATE_LEN)
		return false;
	pthread_mutex_lock(&st->lock);
	l = *find_state(st, state);
	if (l != NULL && l->delivering) {
		if (ok)
			remove_login(st, l);
		else {
			l->delivering = false;
			again = true;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return again;
}

static bool
memory_exists(struct relay_store *base, const char *state)
{
	struct memory_store *st = (struct memory_store *)base;
	bool found;

	if (strlen(state) != RELAY_STATE_LEN)
		return false;
	pthread_mutex_lock(&st->lock);
	found = live(*find_state(st, state)) != NULL;
	pthread_mutex_unlock(&st->lock);
	return found;
}

static size_t
memory_expire(struct relay_store *base, uint64_t now_ms,
    void (*expired)(void *arg, const char *state), void *arg,
    uint64_t *ret_next_ms)
{
	struct memory_store *st = (struct memory_store *)base;
	char(*states)[RELAY_STATE_LEN + 1] = NULL;
	size_t n = 0, cap = 0, i;

	pthread_mutex_lock(&st->lock);
	while (st->oldest != NULL && st->oldest->expires_ms <= now_ms) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *p = realloc(states, ncap * sizeof(*states));

			/* Out of memory: expire without telling; waiters time
			 * out. */
			if (p != NULL) {
				states = p;
				cap = ncap;
			}
		}
		if (n < cap)
			memcpy(
			    states[n], st->oldest->state, RELAY_STATE_LEN + 1);
		remove_login(st, st->oldest);
		n++;
	}
	used_expire(st, now_ms);
	*ret_next_ms = st->oldest != NULL ? st->oldest->expires_ms : 0;
	pthread_mutex_unlock(&st->lock);
	for (i = 0; i < n && i < cap; i++)
		expired(arg, states[i]);
	free(states);
	return n;
}

/* Reads one of the store's counters under its lock. */
static size_t
read_counter(struct memory_store *st, const size_t *counter)
{
	size_t n;

	pthread_mutex_lock(&st->lock);
	n = *counter;
	pthread_mutex_unlock(&st->lock);
	return n;
}

static size_t
memory_used_codes(struct relay_store *base)
{
	struct memory_store *st = (struct memory_store *)base;
	return read_counter(st, &st->used_count);
}

static size_t
memory_count(struct relay_store *base)
{
	struct memory_store *st = (struct memory_store *)base;
	return read_counter(st, &st->count);
}

static void
memory_free(struct relay_store *base)
{
	struct memory_store *st = (struct memory_store *)base;

	while (st->oldest != NULL)
		remove_login(st, st->oldest);
	used_expire(st, UINT64_MAX);
	pthread_mutex_destroy(&st->lock);
	free(st->used);
	free(st->by_state);
	free(st->by_link);
	free(st);
}

static const struct relay_store_ops memory_ops = {
	.add = memory_add,
	.view_link = memory_view_link,
	.put_result = memory_put_result,
	.take = memory_take,
	.delivered = memory_delivered,
	.exists = memory_exists,
	.expire = memory_expire,
	.count = memory_count,
	.used_codes = memory_used_codes,
	.free = memory_free,
};

int
relay_store_new(
    unsigned long max_pending, unsigned ttl_seconds, struct relay_store **ret)
{
	struct memory_store *st;
	int r = ION_ERR_NOMEM;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return ION_ERR_NOMEM;
	st->nbuckets = 1024;
	st->by_state = calloc(st->nbuckets, sizeof(*st->by_state));
	st->by_link = calloc(st->nbuckets, sizeof(*st->by_link));
	st->used_nbuckets = 1024;
	st->used = calloc(st->used_nbuckets, sizeof(*st->used));
	if (st->by_state == NULL || st->by_link == NULL || st->used == NULL)
		goto out;
	if ((r = ion_random_bytes(st->key, sizeof(st->key))) != 0)
		goto out;
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		r = ION_ERR_SYSTEM;
		goto out;
	}
	st->max_pending = max_pending;
	st->used_max = max_pending * RELAY_USED_CODES_PER_LOGIN;
	st->ttl_ms = (uint64_t)ttl_seconds * 1000;
	st->base.ops = &memory_ops;
	*ret = &st->base;
	st = NULL; /* transferred */
	r = 0;
out:
	if (st != NULL) {
		free(st->by_state);
		free(st->by_link);
		free(st->used);
		free(st);
	}
	return r;
}
