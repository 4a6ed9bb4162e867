#include "metrics.h"

#include "buf.h"

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

char *
relay_metrics_render(const struct relay_metrics *m,
    const struct relay_gauges *g, size_t *ret_len)
{
	struct ion_buf b;
	int i;

	ion_buf_init(&b, 64 * 1024);
	series(&b, "pam_ion_relay_pending_logins", "gauge",
	    "Logins registered and neither collected nor expired.", g->pending);
	series(&b, "pam_ion_relay_parked_polls", "gauge",
	    "Result polls waiting for their callback.", g->parked);
	series(&b, "pam_ion_relay_clients", "gauge",
	    "Clients in the --client-keys file in force.", g->clients);
	series(&b, "pam_ion_relay_used_codes", "gauge",
	    "Authorization codes remembered so none is accepted twice.",
	    g->used_codes);
	series(&b, "pam_ion_relay_registrations_total", "counter",
	    "Logins registered.", atomic_load(&m->registrations));
	series(&b, "pam_ion_relay_callbacks_total", "counter",
	    "Callbacks that stored a result.", atomic_load(&m->callbacks));
	series(&b, "pam_ion_relay_results_delivered_total", "counter",
	    "Results handed to the module.",
	    atomic_load(&m->results_delivered));
	series(&b, "pam_ion_relay_expirations_total", "counter",
	    "Logins forgotten when their time ran out.",
	    atomic_load(&m->expirations));
	series(&b, "pam_ion_relay_polls_timed_out_total", "counter",
	    "Parked polls answered 202 when their wait ran out.",
	    atomic_load(&m->polls_timed_out));
	series(&b, "pam_ion_relay_polls_disconnected_total", "counter",
	    "Parked polls whose client went away.",
	    atomic_load(&m->polls_gone));
	series(&b, "pam_ion_relay_slow_requests_total", "counter",
	    "Connections closed because a request took longer than "
	    "--connection-timeout to arrive.",
	    atomic_load(&m->slow_requests));
	series(&b, "pam_ion_relay_client_key_reloads_total", "counter",
	    "Times SIGHUP re-read the --client-keys file.",
	    atomic_load(&m->client_key_reloads));
	series(&b, "pam_ion_relay_client_key_reload_failures_total", "counter",
	    "Times SIGHUP found the --client-keys file unusable and kept the "
	    "clients in force.",
	    atomic_load(&m->client_key_reload_failures));
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
