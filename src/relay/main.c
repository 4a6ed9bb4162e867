/*
 * pam-ion-relay: parses the command line, reads the client keys, opens the
 * listening socket, wires the store, the parked-poll table and the HTTP
 * server together, re-reads the keys on SIGHUP, and waits for SIGTERM or
 * SIGINT to shut down cleanly.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64url.h"
#include "clientkeys.h"
#include "crypto.h"
#include "errors.h"
#include "log.h"
#include "opts.h"
#include "relay_proto.h"
#include "rootfile.h"
#include "routes.h"
#include "server.h"
#include "store.h"
#include "waiters.h"

#define SHUTDOWN_GRACE_MS 3000

/*
 * The self-pipe the signal handler writes to.  A signal handler rather than
 * sigwait(): a runtime may start threads of its own before main() (the
 * sanitizers do), and a process-directed signal can land on any of them.
 */
static int signal_pipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	if (write(signal_pipe[1], &c, 1) < 0) {
		/* The pipe is full: a signal is already on its way. */
	}
	errno = saved;
}

/*
 * SIGHUP: re-reads the keys file.  A file that fails keeps the clients in
 * force (a typo must not lock every host out, nor let anyone in); a line
 * taken out revokes that host at once, polls already waiting included.
 */
static void
reload_client_keys(struct relay_app *app)
{
	struct relay_keyset *set = NULL;
	char err[512];
	size_t n;

	if (relay_keyset_load(app->opts->client_keys, &set, err, sizeof(err)) !=
	    0) {
		atomic_fetch_add(&app->metrics.client_key_reload_failures, 1);
		relay_log(RELAY_LOG_ERR,
		    "SIGHUP: %s; keeping the %zu clients in force", err,
		    relay_clients_count(app->clients));
		return;
	}
	n = relay_keyset_count(set);
	relay_clients_replace(app->clients, &set);
	atomic_fetch_add(&app->metrics.client_key_reloads, 1);
	relay_log(RELAY_LOG_INFO, "SIGHUP: %zu client%s from %s", n,
	    n == 1 ? "" : "s", app->opts->client_keys);
}

static int
wait_for_stop(struct relay_app *app)
{
	unsigned char c;

	for (;;) {
		ssize_t n = read(signal_pipe[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			return SIGTERM;
		if (c == SIGTERM || c == SIGINT)
			return c;
		reload_client_keys(app);
	}
}

/* --new-client-key NAME: the keys-file line, then the key itself. */
static int
new_client_key(const char *name)
{
	char line[RELAY_CLIENT_NAME_MAX + 2 * ION_SHA256_LEN + 2];
	char key[ION_B64URL_LEN(ION_RELAY_KEY_RANDOM_BYTES) + 1];
	int r, status = 1;

	if ((r = relay_clientkeys_new_key(
		 name, line, sizeof(line), key, sizeof(key))) != 0) {
		relay_log(
		    RELAY_LOG_ERR, "cannot make a key: %s", ion_strerror(r));
		return 1;
	}
	if (printf("%s\n%s\n", line, key) < 0 || fflush(stdout) != 0)
		relay_log(
		    RELAY_LOG_ERR, "cannot write the key: %s", strerror(errno));
	else
		status = 0;
	ion_scrub(key, sizeof(key));
	return status;
}

/*
 * --check-client-keys FILE: the rules and the message of the relay's start,
 * so a reload can be refused before the signal is sent.
 */
static int
check_client_keys(const char *path)
{
	struct relay_keyset *set = NULL;
	char err[512];
	size_t n;

	if (relay_keyset_load(path, &set, err, sizeof(err)) != 0) {
		relay_log(RELAY_LOG_ERR, "--client-keys %s", err);
		return 1;
	}
	n = relay_keyset_count(set);
	relay_keyset_free(&set);
	if (printf("%s: %zu client%s\n", path, n, n == 1 ? "" : "s") < 0 ||
	    fflush(stdout) != 0) {
		relay_log(RELAY_LOG_ERR, "cannot write to stdout: %s",
		    strerror(errno));
		return 1;
	}
	return 0;
}

/* Raises the soft open-file limit to the hard one; returns the limit. */
static unsigned long
raise_open_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1048576
					    : (unsigned long)rl.rlim_cur;
}

/* Opens the listening socket; on failure says why on stderr. */
static int
listen_on(const struct relay_opts *o, char *shown, size_t shownlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];
	int fd = -1, one = 1, r, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
	if ((r = getaddrinfo(o->listen_host, o->listen_port, &hints, &res)) !=
	    0) {
		/* A usage error: the same line and exit status as opts.c's. */
		relay_log(RELAY_LOG_ERR, "--listen: cannot resolve '%s': %s",
		    o->listen_host, gai_strerror(r));
		return -2;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 4096) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		relay_log(RELAY_LOG_ERR,
		    strchr(o->listen_host, ':') ? "cannot listen on [%s]:%s: %s"
						: "cannot listen on %s:%s: %s",
		    o->listen_host, o->listen_port, strerror(err));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), port,
		sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(shown, shownlen,
		    ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	else
		snprintf(
		    shown, shownlen, "%s:%s", o->listen_host, o->listen_port);
	return fd;
}

/* The handler for SIGTERM, SIGINT and SIGHUP: on_signal or SIG_DFL. */
static void
handle_signals(void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * Blocked before anything else: SIGHUP's default action ends the process,
 * and a reload sent while the relay starts (systemctl reload right after
 * start) must only re-read the file.  Blocked, it waits until run()
 * unblocks it, after the server's threads have started: they inherit this
 * mask, so the handler runs on the main thread.  Caught on a thread a
 * runtime started before main(), it lands in the pipe.
 */
static void
block_signals(sigset_t *sigs, sigset_t *oldsigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, sigs, oldsigs);
}

/* Sends the signals to the self-pipe; false when it cannot be made. */
static bool
catch_signals(void)
{
	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		relay_log(RELAY_LOG_ERR, "pipe: %s", strerror(errno));
		return false;
	}
	fcntl(signal_pipe[0], F_SETFL, 0); /* the reading end blocks */
	handle_signals(on_signal);
	signal(SIGPIPE, SIG_IGN);
	return true;
}

/*
 * Reads the command line into o.  Returns -1 when the relay is to run,
 * otherwise the exit status of what was done instead: --help, a usage
 * error or a one-shot command.
 */
static int
options(int argc, char **argv, const sigset_t *oldsigs, struct relay_opts *o)
{
	enum relay_opts_result how;
	char err[512];

	how = relay_opts_parse(
	    argc, argv, raise_open_files(), o, err, sizeof(err));
	if (how != RELAY_OPTS_RUN) {
		/*
		 * The one-shot commands read no pipe: give them the signals'
		 * usual meaning back, so ^C stops them.
		 */
		handle_signals(SIG_DFL);
		pthread_sigmask(SIG_SETMASK, oldsigs, NULL);
	}
	switch (how) {
	case RELAY_OPTS_EXIT:
		return 0;
	case RELAY_OPTS_USAGE:
		relay_log(RELAY_LOG_ERR, "%s", err);
		return 2;
	case RELAY_OPTS_NEW_KEY:
		return new_client_key(o->new_client_key);
	case RELAY_OPTS_CHECK_KEYS:
		return check_client_keys(o->check_client_keys);
	case RELAY_OPTS_RUN:
		break;
	}
	return -1;
}

/* Reads the keys file into app->clients; 0 or the exit status. */
static int
load_keys(struct relay_app *app)
{
	struct relay_keyset *keys = NULL;
	char err[512];
	int r;

	/* A keys file the relay cannot use is a mistake in its setup. */
	if (relay_keyset_load(
		app->opts->client_keys, &keys, err, sizeof(err)) != 0) {
		relay_log(RELAY_LOG_ERR, "--client-keys %s", err);
		return 2;
	}
	if ((r = relay_clients_new(&keys, &app->clients)) != 0) {
		relay_log(RELAY_LOG_ERR, "cannot hold the client keys: %s",
		    ion_strerror(r));
		relay_keyset_free(&keys);
		return 1;
	}
	return 0;
}

/* A Redis command's timeout: a slow server costs a 503, never a hang. */
#define STORE_TIMEOUT_MS 1000
#define PASSWORD_FILE_MAX 4096

/*
 * The password in --store-password-file: its first line, which must be
 * the only one.  0, or the exit status (the reason is logged).
 */
static int
read_store_password(const char *path, char **ret)
{
	char err[512], *text = NULL, *end;
	size_t len = 0, n, i;
	int r;

	r = ion_rootfile_read_owned(path, ION_ROOTFILE_NOT_OTHERS, geteuid(),
	    PASSWORD_FILE_MAX, &text, &len, err, sizeof(err));
	if (r != 0) {
		relay_log(RELAY_LOG_ERR, "--store-password-file %s",
		    r == ION_ERR_NOMEM ? "out of memory" : err);
		return r == ION_ERR_NOMEM ? 1 : 2;
	}
	/* A NUL would cut the password short without a word. */
	n = memchr(text, '\0', len) != NULL ? 0 : strcspn(text, "\r\n");
	end = text + n + strspn(text + n, "\r\n");
	r = 0;
	if (n == 0 || n > RELAY_STORE_PASSWORD_MAX)
		r = 2;
	for (i = 0; i < n && r == 0; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			r = 2;
	if (r == 0 && strspn(end, " \t\r\n") != strlen(end))
		r = 2;
	if (r != 0) {
		relay_log(RELAY_LOG_ERR,
		    "--store-password-file %s: expected the password alone "
		    "on its first line (1 to %d characters, no control "
		    "characters)",
		    path, RELAY_STORE_PASSWORD_MAX);
		ion_scrub(text, len);
		free(text);
		return 2;
	}
	text[n] = '\0';
	*ret = text;
	return 0;
}

/* Opens the --store; 0 or the exit status (the reason is logged). */
static int
open_store(struct relay_app *app)
{
	const struct relay_opts *o = app->opts;
	struct relay_store_config cfg;
	char *password = NULL;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	if (o->store_password_file != NULL &&
	    (r = read_store_password(o->store_password_file, &password)) != 0)
		return r;
	cfg.url = o->store_url;
	cfg.password = password;
	cfg.prefix = o->store_prefix;
	cfg.max_pending = o->max_pending;
	cfg.ttl_seconds = o->ttl;
	cfg.timeout_ms = STORE_TIMEOUT_MS;
	r = relay_store_open(&cfg, &app->store);
	if (password != NULL) {
		ion_scrub(password, strlen(password));
		free(password);
	}
	if (r != 0) {
		relay_log(RELAY_LOG_ERR, "cannot create the store: %s",
		    ion_strerror(r));
		return 1;
	}
	return 0;
}

/* The connection table and the poll table; false: logged. */
static bool
make_tables(struct relay_app *app)
{
	const struct relay_opts *o = app->opts;
	struct relay_waiters_ops ops;
	int r;

	if ((r = relay_conns_new(o->max_connections, &app->conns)) != 0) {
		relay_log(RELAY_LOG_ERR,
		    "cannot create the connection table: %s", ion_strerror(r));
		return false;
	}
	memset(&ops, 0, sizeof(ops));
	ops.suspend = relay_server_suspend;
	ops.resume = relay_server_resume;
	ops.tick = relay_route_tick;
	ops.tick_arg = app;
	if ((r = relay_waiters_new(o->max_parked, &ops, &app->waiters)) != 0) {
		relay_log(RELAY_LOG_ERR, "cannot create the poll table: %s",
		    ion_strerror(r));
		return false;
	}
	relay_route_watch_store(app);
	return true;
}

/* Starts the HTTP server on fd (taken over on success); false: logged. */
static bool
start_server(
    struct relay_app *app, int fd, const char *shown, struct relay_server **ret)
{
	const struct relay_opts *o = app->opts;
	size_t n;

	if (relay_server_start(app, fd, ret) != 0) {
		relay_log(
		    RELAY_LOG_ERR, "cannot start the HTTP server on %s", shown);
		return false;
	}
	n = relay_clients_count(app->clients);
	relay_log(RELAY_LOG_INFO,
	    "listening on %s, public URL %s, %zu authorize-URL prefix%s, "
	    "%zu client%s from %s, store %s%s%s, ttl %us, max %lu pending, "
	    "%u parked, %u connections (%u per address), %u threads",
	    shown, o->public_url, o->nprefixes, o->nprefixes == 1 ? "" : "es",
	    n, n == 1 ? "" : "s", o->client_keys,
	    o->store != NULL ? o->store : "memory",
	    o->store != NULL ? " prefix " : "",
	    o->store != NULL ? o->store_prefix : "", o->ttl, o->max_pending,
	    o->max_parked, o->max_connections, o->max_connections_per_ip,
	    o->threads);
	return true;
}

/* Serves until SIGTERM or SIGINT, then answers the parked polls. */
static void
run(struct relay_app *app, struct relay_server *srv, const sigset_t *sigs)
{
	int sig;

	/* Every thread of ours has started with them blocked: only here. */
	pthread_sigmask(SIG_UNBLOCK, sigs, NULL);
	sig = wait_for_stop(app);
	relay_log(RELAY_LOG_INFO, "%s: answering parked polls and stopping",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	relay_server_quiesce(srv);
	relay_waiters_shutdown(app->waiters, SHUTDOWN_GRACE_MS);
}

/* Frees what was made, in the reverse order; fd < 0 when none is left. */
static void
shut_down(struct relay_app *app, struct relay_server **srv, int fd)
{
	relay_server_stop(srv);
	/* Its thread wakes polls: stopped before the poll table goes. */
	relay_store_unwatch(app->store);
	relay_waiters_free(&app->waiters);
	relay_conns_free(&app->conns);
	relay_store_free(&app->store);
	relay_clients_free(&app->clients);
	if (fd >= 0)
		close(fd);
}

int
main(int argc, char **argv)
{
	struct relay_server *srv = NULL;
	struct relay_opts opts;
	struct relay_app app;
	char shown[NI_MAXHOST + NI_MAXSERV + 4];
	sigset_t sigs, oldsigs;
	int fd, status;

	block_signals(&sigs, &oldsigs);
	relay_log_init();
	if (!catch_signals())
		return 1;
	if ((status = options(argc, argv, &oldsigs, &opts)) >= 0)
		return status;
	memset(&app, 0, sizeof(app));
	app.opts = &opts;
	if ((status = load_keys(&app)) != 0)
		return status;
	if ((fd = listen_on(&opts, shown, sizeof(shown))) < 0) {
		relay_clients_free(&app.clients);
		return fd == -2 ? 2 : 1;
	}
	if ((status = open_store(&app)) != 0) {
		relay_clients_free(&app.clients);
		close(fd);
		return status;
	}
	status = 1;
	if (make_tables(&app) && start_server(&app, fd, shown, &srv)) {
		fd = -1; /* the server owns it now */
		run(&app, srv, &sigs);
		status = 0;
	}
	shut_down(&app, &srv, fd);
	if (status == 0)
		relay_log(RELAY_LOG_INFO, "stopped");
	return status;
}
