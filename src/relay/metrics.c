#include "metrics.h"

#include <stddef.h>

#include "buf.h"
#include "relay_proto.h"

static const char *const reject_names[RELAY_REJECT_COUNT] = {
	[RELAY_REJECT_BAD_REQUEST] = "bad_request",
	[RELAY_REJECT_BAD_STATE] = "bad_state",
	[RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE] = "unsupported_media_type",
	[RELAY_REJECT_TOO_LARGE] = "too_large",
	[RELAY_REJECT_URL_NOT_ALLOWED] = "url_not_allowed",
	[RELAY_REJECT_STATE_MISMATCH] = "state_mismatch",
	[RELAY_REJECT_NONCE_MISMATCH] = "nonce_mismatch",
	[RELAY_REJECT_STATE_EXISTS] = "state_exists",
	[RELAY_REJECT_FULL] = "full",
	[RELAY_REJECT_UNKNOWN_LOGIN] = "unknown_login",
	[RELAY_REJECT_ALREADY_USED] = "already_used",
	[RELAY_REJECT_UNAUTHORIZED] = "unauthorized",
	[RELAY_REJECT_NOT_FOUND] = "not_found",
	[RELAY_REJECT_METHOD_NOT_ALLOWED] = "method_not_allowed",
	[RELAY_REJECT_CLIENT_KEY] = "client_key",
	[RELAY_REJECT_CODE_REUSED] = "code_reused",
	[RELAY_REJECT_REQUEST_URI_REUSED] = "request_uri_reused",
	[RELAY_REJECT_BUSY] = ION_RELAY_ERR_BUSY,
	[RELAY_REJECT_STORE_UNAVAILABLE] = "store_unavailable",
};

const char *
relay_reject_name(enum relay_reject reason)
{
	return (unsigned)reason < RELAY_REJECT_COUNT ? reject_names[reason]
						     : "unknown";
}

static void
series(struct ion_buf *b, const char *name, const char *type, const char *help,
    unsigned long value)
{
	ion_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %lu\n", name, help,
	    name, type, name, value);
}

/* One series: its name, help text and where its value is. */
struct series {
	const char *name;
	const char *help;
	size_t off; /* in struct relay_gauges (a size_t) or relay_metrics */
};

#define GAUGE(field) offsetof(struct relay_gauges, field)
#define COUNTER(field) offsetof(struct relay_metrics, field)

static const struct series gauges[] = {
	{ "pam_ion_relay_pending_logins",
	    "Logins registered and neither collected nor expired.",
	    GAUGE(pending) },
	{ "pam_ion_relay_parked_polls",
	    "Result polls waiting for their callback.", GAUGE(parked) },
	{ "pam_ion_relay_clients",
	    "Clients in the --client-keys file in force.", GAUGE(clients) },
	{ "pam_ion_relay_used_codes",
	    "Authorization codes remembered so none is accepted twice "
	    "(memory store only).",
	    GAUGE(used_codes) },
	{ "pam_ion_relay_store_up",
	    "1 when the store can serve, 0 while its server is unreachable.",
	    GAUGE(store_up) },
};

/* The store's own counters, read with the gauges. */
static const struct series store_counters[] = {
	{ "pam_ion_relay_store_errors_total",
	    "Commands to the store's server that failed, and connections to "
	    "it lost.",
	    GAUGE(store_errors) },
	{ "pam_ion_relay_store_reconnects_total",
	    "Times the relay connected to the store's server again after "
	    "losing it.",
	    GAUGE(store_reconnects) },
};

static const struct series counters[] = {
	{ "pam_ion_relay_registrations_total", "Logins registered.",
	    COUNTER(registrations) },
	{ "pam_ion_relay_callbacks_total", "Callbacks that stored a result.",
	    COUNTER(callbacks) },
	{ "pam_ion_relay_results_delivered_total",
	    "Results handed to the module.", COUNTER(results_delivered) },
	{ "pam_ion_relay_expirations_total",
	    "Logins forgotten when their time ran out.", COUNTER(expirations) },
	{ "pam_ion_relay_polls_timed_out_total",
	    "Parked polls answered 202 when their wait ran out.",
	    COUNTER(polls_timed_out) },
	{ "pam_ion_relay_polls_disconnected_total",
	    "Parked polls whose client went away.", COUNTER(polls_gone) },
	{ "pam_ion_relay_slow_requests_total",
	    "Connections closed because a request took longer than "
	    "--connection-timeout to arrive.",
	    COUNTER(slow_requests) },
	{ "pam_ion_relay_client_key_reloads_total",
	    "Times SIGHUP re-read the --client-keys file.",
	    COUNTER(client_key_reloads) },
	{ "pam_ion_relay_client_key_reload_failures_total",
	    "Times SIGHUP found the --client-keys file unusable and kept the "
	    "clients in force.",
	    COUNTER(client_key_reload_failures) },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static unsigned long
gauge_value(const struct relay_gauges *g, const struct series *s)
{
	return *(const size_t *)(const void *)((const char *)g + s->off);
}

static unsigned long
counter_value(const struct relay_metrics *m, const struct series *s)
{
	return atomic_load(
	    (const atomic_ulong *)(const void *)((const char *)m + s->off));
}

char *
relay_metrics_render(const struct relay_metrics *m,
    const struct relay_gauges *g, size_t *ret_len)
{
	struct ion_buf b;
	size_t i;

	ion_buf_init(&b, 64 * 1024);
	for (i = 0; i < COUNT(gauges); i++)
		if (gauge_value(g, &gauges[i]) != RELAY_GAUGE_NONE)
			series(&b, gauges[i].name, "gauge", gauges[i].help,
			    gauge_value(g, &gauges[i]));
	for (i = 0; i < COUNT(store_counters); i++)
		series(&b, store_counters[i].name, "counter",
		    store_counters[i].help, gauge_value(g, &store_counters[i]));
	for (i = 0; i < COUNT(counters); i++)
		series(&b, counters[i].name, "counter", counters[i].help,
		    counter_value(m, &counters[i]));
	ion_buf_puts(&b,
	    "# HELP pam_ion_relay_rejections_total Requests refused, by "
	    "reason.\n"
	    "# TYPE pam_ion_relay_rejections_total counter\n");
	for (i = 0; i < RELAY_REJECT_COUNT; i++)
		ion_buf_printf(&b,
		    "pam_ion_relay_rejections_total{reason=\"%s\"} %lu\n",
		    reject_names[i], atomic_load(&m->rejections[i]));
	return ion_buf_steal(&b, ret_len);
}
