#include "server.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "log.h"
#include "relay_proto.h"

/*
 * Per-connection memory for request and response headers: it caps a
 * request's header block (larger ones are refused by libmicrohttpd) and
 * bounds what each parked poll costs.
 */
#define CONN_MEMORY (12 * 1024)
#define LISTEN_BACKLOG 4096

static const char *const security_headers[][2] = {
	{ "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
	    "form-action 'none'; frame-ancestors 'none'" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Cache-Control", "no-store" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
};

#define MHD_LOG_PER_SECOND 10

struct relay_server {
	struct MHD_Daemon *daemon;
	struct relay_app *app;
	MHD_socket listen_fd; /* returned by quiesce, closed at stop */
	/* libmicrohttpd logs every refused connection: rate-limit it */
	atomic_ulong log_second, log_count, log_suppressed;
};

/* What one request collects across the handler's calls. */
struct exchange {
	char *body;
	size_t body_len;
	bool body_too_large;
	bool parked;
	bool answered; /* resumed and answered: the slot ends in completed() */
	unsigned ticket;
	char state[RELAY_STATE_LEN + 1];
	unsigned char client[ION_SHA256_LEN]; /* the parked poll's client */
	/* the answer carries a result: completed() reports how it went */
	bool delivering;
	char deliver_state[RELAY_STATE_LEN + 1];
	char deliver_link[ION_RELAY_LINK_ID_LEN + 1];
};

struct arg_list {
	struct relay_param args[RELAY_MAX_ARGS];
	size_t n;
	bool overflow;
};

static uint64_t
request_deadline(const struct relay_server *srv)
{
	/*
	 * A second past libmicrohttpd's idle timeout, so that it closes the
	 * idle connections and the sweep only those that trickle.
	 */
	return ion_now_ms() +
	    (uint64_t)srv->app->opts->connection_timeout * 1000 + 1000;
}

/* The connection's ticket in the deadline table, or -1. */
static long
conn_ticket(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || ci->socket_context == NULL)
		return -1;
	return (long)(intptr_t)ci->socket_context - 1;
}

static void
notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct relay_server *srv = cls;
	const union MHD_ConnectionInfo *ci;
	long t;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(
		    c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			return;
		t = relay_conns_track(
		    srv->app->conns, ci->connect_fd, request_deadline(srv));
		*socket_context = t >= 0 ? (void *)(intptr_t)(t + 1) : NULL;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED &&
	    *socket_context != NULL) {
		/* Before libmicrohttpd closes the socket: see conns.c. */
		relay_conns_untrack(
		    srv->app->conns, (long)(intptr_t)*socket_context - 1);
		*socket_context = NULL;
	}
}

void
relay_server_suspend(void *conn)
{
	MHD_suspend_connection(conn);
}

void
relay_server_resume(void *conn)
{
	MHD_resume_connection(conn);
}

static enum MHD_Result
collect_arg(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct arg_list *l = cls;

	(void)kind;
	if (l->n == RELAY_MAX_ARGS) {
		l->overflow = true;
		return MHD_NO;
	}
	l->args[l->n].name = key;
	l->args[l->n].value = value;
	l->n++;
	return MHD_YES;
}

static void
client_address(struct MHD_Connection *c, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	strncpy(out, "unknown", outlen);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    out, (socklen_t)outlen);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
		    (socklen_t)outlen);
}

static enum MHD_Result
send_response(struct MHD_Connection *c, struct relay_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char num[16];
	size_t i;

	r = MHD_create_response_from_buffer(
	    resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		relay_response_clear(resp);
		return MHD_NO;
	}
	resp->body = NULL; /* transferred */
	for (i = 0; i < sizeof(security_headers) / sizeof(security_headers[0]);
	     i++)
		MHD_add_response_header(
		    r, security_headers[i][0], security_headers[i][1]);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    resp->content_type ? resp->content_type : "text/plain");
	if (resp->allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
	if (resp->www_authenticate != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    resp->www_authenticate);
	if (resp->retry_after > 0) {
		snprintf(num, sizeof(num), "%u", resp->retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	ret = MHD_queue_response(c, resp->status, r);
	MHD_destroy_response(r);
	relay_response_clear(resp);
	return ret;
}

/* Sends resp, remembering a result in it until completed() is called. */
static enum MHD_Result
answer(
    struct MHD_Connection *c, struct exchange *ex, struct relay_response *resp)
{
	if (resp->deliver) {
		ex->delivering = true;
		memcpy(
		    ex->deliver_state, resp->state, sizeof(ex->deliver_state));
		memcpy(
		    ex->deliver_link, resp->link_id, sizeof(ex->deliver_link));
	}
	return send_response(c, resp);
}

/* Answers a poll the waiter table refused with r: stopping, or full. */
static void
not_parked(struct relay_app *app, const struct exchange *ex, int r,
    struct relay_response *resp)
{
	/* Stopping: the module simply polls again. */
	if (r != ION_ERR_FULL) {
		relay_route_collect(app, ex->state, ex->client,
		    RELAY_WAKE_SHUTDOWN, true, resp);
		return;
	}
	/*
	 * Every place is taken: a result (or a 404) that came meanwhile goes
	 * out as ever, otherwise "busy" at once, not a connection held.
	 */
	if (!relay_route_collect(
		app, ex->state, ex->client, RELAY_WAKE_NONE, false, resp))
		relay_route_busy(app, resp);
}

/* Parks a poll, or answers it at once when it need not or cannot wait. */
static enum MHD_Result
park(struct relay_server *srv, struct MHD_Connection *c, struct exchange *ex,
    struct relay_response *resp)
{
	struct relay_app *app = srv->app;
	const union MHD_ConnectionInfo *ci;
	uint64_t deadline = ion_now_ms() + (uint64_t)resp->wait_seconds * 1000;
	enum relay_wake why;
	int fd = -1, r;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		fd = ci->connect_fd;
	/*
	 * The store may want an earlier look: the login's TTL ends, or
	 * another relay's delivery of its result may have died.
	 */
	if (resp->due_ms != 0 && resp->due_ms < deadline)
		deadline = resp->due_ms;
	memcpy(ex->state, resp->state, sizeof(ex->state));
	memcpy(ex->client, resp->client, sizeof(ex->client));
	relay_response_clear(resp);
	if ((r = relay_waiters_park(
		 app->waiters, ex->state, c, fd, deadline, &ex->ticket)) != 0) {
		not_parked(app, ex, r, resp);
		return answer(c, ex, resp);
	}
	ex->parked = true;
	/*
	 * The callback may have come between the first look and parking
	 * (with a remote store, this is the first look: see route_result).
	 */
	if (!relay_route_collect(
		app, ex->state, ex->client, RELAY_WAKE_NONE, false, resp)) {
		if (resp->due_ms != 0)
			relay_waiters_advance(
			    app->waiters, ex->ticket, resp->due_ms);
		if (relay_waiters_suspend(app->waiters, ex->ticket))
			return MHD_YES;
	}
	why = relay_waiters_release(app->waiters, ex->ticket);
	ex->parked = false;
	if (resp->status == 0)
		relay_route_collect(
		    app, ex->state, ex->client, why, true, resp);
	return answer(c, ex, resp);
}

/* The first call for a request: its exchange, and a look at its size. */
static struct exchange *
new_exchange(struct MHD_Connection *c)
{
	struct exchange *ex;
	const char *cl;

	if ((ex = calloc(1, sizeof(*ex))) == NULL)
		return NULL;
	/* Refuse an announced oversized body before reading it. */
	cl = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > RELAY_BODY_MAX)
		ex->body_too_large = true;
	return ex;
}

/* A parked poll resumed: its wait ended one way or another. */
static enum MHD_Result
resumed(struct relay_server *srv, struct MHD_Connection *c, struct exchange *ex)
{
	enum relay_wake why = relay_waiters_why(srv->app->waiters, ex->ticket);
	struct relay_response resp;

	memset(&resp, 0, sizeof(resp));
	ex->answered = true; /* a departure is counted by the collect */
	/*
	 * The slot is held until the answer is out (completed() frees it):
	 * at shutdown the relay waits for the slots before it closes the
	 * connections, so an answer under way (a result, say) is not cut.
	 */
	relay_route_collect(srv->app, ex->state, ex->client, why, true, &resp);
	return answer(c, ex, &resp);
}

/*
 * Adds n bytes to the body; past RELAY_BODY_MAX the body is dropped and
 * only marked too large.  false when out of memory.
 */
static bool
take_upload(struct exchange *ex, const char *data, size_t n)
{
	char *grown;

	if (ex->body_too_large || n > RELAY_BODY_MAX - ex->body_len) {
		ex->body_too_large = true;
		free(ex->body);
		ex->body = NULL;
		ex->body_len = 0;
		return true;
	}
	if ((grown = realloc(ex->body, ex->body_len + n + 1)) == NULL)
		return false;
	ex->body = grown;
	memcpy(ex->body + ex->body_len, data, n);
	ex->body_len += n;
	ex->body[ex->body_len] = '\0';
	return true;
}

/* The request is in: hands it to the routes, and answers or parks it. */
static enum MHD_Result
dispatch(struct relay_server *srv, struct MHD_Connection *c,
    struct exchange *ex, const char *url, const char *method)
{
	struct relay_response resp;
	struct relay_request req;
	struct arg_list args;
	char client[INET6_ADDRSTRLEN];

	/* Answering (or parking) it has no deadline. */
	relay_conns_set_deadline(srv->app->conns, conn_ticket(c), 0);
	memset(&args, 0, sizeof(args));
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
	client_address(c, client, sizeof(client));
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.args = args.args;
	req.nargs = args.n;
	req.too_many_args = args.overflow;
	req.authorization = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	req.content_type = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	req.client_key = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, ION_RELAY_CLIENT_KEY_HEADER);
	req.body = ex->body ? ex->body : "";
	req.body_len = ex->body_len;
	req.body_too_large = ex->body_too_large;
	req.client = client;
	relay_route(srv->app, &req, &resp);
	if (resp.park)
		return park(srv, c, ex, &resp);
	return answer(c, ex, &resp);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size,
    void **con_cls)
{
	struct relay_server *srv = cls;
	struct exchange *ex = *con_cls;
	size_t n = *upload_data_size;

	(void)version;
	if (ex == NULL) {
		if ((ex = new_exchange(c)) == NULL)
			return MHD_NO;
		*con_cls = ex;
		if (!ex->body_too_large)
			return MHD_YES;
	}
	if (ex->parked)
		return resumed(srv, c, ex);
	if (n != 0) {
		*upload_data_size = 0;
		return take_upload(ex, upload_data, n) ? MHD_YES : MHD_NO;
	}
	return dispatch(srv, c, ex, url, method);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct relay_server *srv = cls;
	struct exchange *ex = *con_cls;

	/* The next request on this connection must arrive in time, too. */
	relay_conns_set_deadline(
	    srv->app->conns, conn_ticket(c), request_deadline(srv));
	if (ex == NULL)
		return;
	/*
	 * Closed while parked (client gone, or the server stopping).  A
	 * resumed connection whose client left is usually closed without
	 * another call of the handler, so count the departure here.
	 */
	if (ex->parked &&
	    relay_waiters_release(srv->app->waiters, ex->ticket) ==
		RELAY_WAKE_GONE &&
	    !ex->answered)
		atomic_fetch_add(&srv->app->metrics.polls_gone, 1);
	/* A result counts as collected only when its answer went out whole. */
	if (ex->delivering)
		relay_route_delivered(srv->app, ex->deliver_state,
		    ex->deliver_link,
		    why == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	free(ex->body);
	free(ex);
	*con_cls = NULL;
}

/* libmicrohttpd's own messages; its format strings are its own constants. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct relay_server *srv = cls;
	unsigned long now = (unsigned long)(ion_now_ms() / 1000);
	unsigned long second = atomic_load(&srv->log_second), dropped;
	char msg[512], *cut;
	size_t n;

	/* A flood of refused connections must not become a flood of lines. */
	if (second != now &&
	    atomic_compare_exchange_strong(&srv->log_second, &second, now)) {
		atomic_store(&srv->log_count, 0);
		if ((dropped = atomic_exchange(&srv->log_suppressed, 0)) > 0)
			relay_log(RELAY_LOG_WARN,
			    "http: %lu more messages suppressed", dropped);
	}
	if (atomic_fetch_add(&srv->log_count, 1) >= MHD_LOG_PER_SECOND) {
		atomic_fetch_add(&srv->log_suppressed, 1);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* Its error pages follow in "('...')": keep the log line short. */
	if ((cut = strstr(msg, " ('")) != NULL)
		strcpy(cut, ")");
	relay_log(RELAY_LOG_WARN, "http: %s", msg);
}
#pragma GCC diagnostic pop

int
relay_server_start(
    struct relay_app *app, int listen_fd, struct relay_server **ret)
{
	const struct relay_opts *o = app->opts;
	struct relay_server *srv;
	unsigned flags;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return ION_ERR_NOMEM;
	srv->app = app;
	srv->listen_fd = MHD_INVALID_SOCKET;
	/*
	 * poll(), not epoll: with epoll (edge-triggered in libmicrohttpd
	 * 0.9.75) a worker thread was seen to sleep for seconds on
	 * connections holding unread requests after suspend/resume cycles,
	 * until the connection timeout woke it.  poll() is level-triggered
	 * and parked connections are not in its set, so it stays cheap.
	 */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	/* clang-format off */
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
	    MHD_OPTION_LISTEN_SOCKET, listen_fd,
	    MHD_OPTION_THREAD_POOL_SIZE, o->threads,
	    MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG,
	    MHD_OPTION_STRICT_FOR_CLIENT, 1,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
	    MHD_OPTION_END);
	/* clang-format on */
	if (srv->daemon == NULL) {
		free(srv);
		return ION_ERR_SYSTEM;
	}
	*ret = srv;
	return 0;
}

void
relay_server_quiesce(struct relay_server *srv)
{
	/*
	 * The listening socket comes back to us, but the worker threads
	 * take it out of their epoll sets only later: close it after
	 * MHD_stop_daemon(), or libmicrohttpd aborts on EBADF.
	 */
	srv->listen_fd = MHD_quiesce_daemon(srv->daemon);
}

void
relay_server_stop(struct relay_server **psrv)
{
	if (psrv == NULL || *psrv == NULL)
		return;
	MHD_stop_daemon((*psrv)->daemon);
	if ((*psrv)->listen_fd != MHD_INVALID_SOCKET)
		close((*psrv)->listen_fd);
	free(*psrv);
	*psrv = NULL;
}
