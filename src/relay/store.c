/*
 * The store's functions, dispatched to the store in use, and what both
 * stores share.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "crypto.h"
#include "errors.h"
#include "store_impl.h"

bool
relay_state_ok(const char *s)
{
	return s != NULL && strlen(s) == RELAY_STATE_LEN &&
	    ion_b64url_is_alphabet(s, RELAY_STATE_LEN);
}

int
relay_store_open(const struct relay_store_config *cfg, struct relay_store **ret)
{
	if (cfg->url.kind == RELAY_STORE_MEMORY)
		return relay_store_new(cfg->max_pending, cfg->ttl_seconds, ret);
	return relay_store_redis_new(cfg, ret);
}

int
relay_store_add(struct relay_store *st, const struct relay_login_spec *spec,
    char ret_link_id[ION_RELAY_LINK_ID_LEN + 1])
{
	return st->ops->add(st, spec, ret_link_id);
}

int
relay_store_view_link(struct relay_store *st, const char *link_id,
    struct relay_login_view **ret_view)
{
	return st->ops->view_link(st, link_id, ret_view);
}

int
relay_store_put_result(struct relay_store *st, const char *state,
    const struct relay_result *in, struct relay_login_view **ret_view)
{
	return st->ops->put_result(st, state, in, ret_view);
}

int
relay_store_take(struct relay_store *st, const char *state,
    const unsigned char client[ION_SHA256_LEN],
    struct relay_result **ret_result, uint64_t *ret_due_ms)
{
	uint64_t due = 0;
	int r;

	r = st->ops->take(st, state, client, ret_result, &due);
	if (ret_due_ms != NULL)
		*ret_due_ms = r == ION_ERR_PENDING ? due : 0;
	return r;
}

int
relay_store_take_result(struct relay_store *st, const char *state,
    const unsigned char client[ION_SHA256_LEN],
    struct relay_result **ret_result)
{
	return relay_store_take(st, state, client, ret_result, NULL);
}

bool
relay_store_delivered(struct relay_store *st, const char *state, bool ok)
{
	return st->ops->delivered(st, state, ok);
}

bool
relay_store_exists(struct relay_store *st, const char *state)
{
	return st->ops->exists(st, state);
}

size_t
relay_store_expire(struct relay_store *st, uint64_t now_ms,
    void (*expired)(void *arg, const char *state), void *arg,
    uint64_t *ret_next_ms)
{
	return st->ops->expire(st, now_ms, expired, arg, ret_next_ms);
}

size_t
relay_store_count(struct relay_store *st)
{
	return st->ops->count(st);
}

size_t
relay_store_used_codes(struct relay_store *st)
{
	return st->ops->used_codes(st);
}

bool
relay_store_remote(struct relay_store *st)
{
	return st->remote;
}

bool
relay_store_health(struct relay_store *st, char *why, size_t whylen)
{
	if (st->ops->health == NULL)
		return true;
	return st->ops->health(st, why, whylen);
}

void
relay_store_stats(struct relay_store *st, struct relay_store_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (st->ops->stats != NULL)
		st->ops->stats(st, ret);
}

void
relay_store_watch(struct relay_store *st, const struct relay_store_events *ev)
{
	if (st->ops->watch != NULL)
		st->ops->watch(st, ev);
}

void
relay_store_unwatch(struct relay_store *st)
{
	if (st != NULL && st->ops->unwatch != NULL)
		st->ops->unwatch(st);
}

void
relay_store_free(struct relay_store **pst)
{
	if (pst == NULL || *pst == NULL)
		return;
	relay_store_unwatch(*pst);
	(*pst)->ops->free(*pst);
	*pst = NULL;
}

int
relay_store_used_hash(const char *label, const void *value, size_t len,
    unsigned char out[ION_SHA256_LEN])
{
	return ion_sha256(label, strlen(label) + 1, value, len, NULL, 0, out);
}

struct relay_result *
relay_result_copy(const struct relay_result *in)
{
	const char *parts[4] = { in->code, in->error, in->error_description,
		in->iss };
	const char **dst[4];
	size_t lens[4], total = 0, i, off = 0;
	struct relay_result *res;

	for (i = 0; i < 4; i++) {
		lens[i] = parts[i] ? strlen(parts[i]) + 1 : 0;
		total += lens[i];
	}
	if ((res = calloc(1, sizeof(*res) + total)) == NULL)
		return NULL;
	dst[0] = &res->code;
	dst[1] = &res->error;
	dst[2] = &res->error_description;
	dst[3] = &res->iss;
	for (i = 0; i < 4; i++) {
		if (parts[i] == NULL)
			continue;
		memcpy(res->strings + off, parts[i], lens[i]);
		*dst[i] = res->strings + off;
		off += lens[i];
	}
	res->size = sizeof(*res) + total;
	return res;
}

void
relay_result_free(struct relay_result **pres)
{
	if (pres == NULL || *pres == NULL)
		return;
	/* The code is a credential until it is exchanged. */
	ion_scrub(*pres, (*pres)->size);
	free(*pres);
	*pres = NULL;
}
