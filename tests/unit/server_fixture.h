/*
 * tests/unit/http_server.py as a fixture: started with posix_spawn on a
 * port the kernel picks, programmed through its /_script/PATH answers
 * (test_relayc.c, test_oidc.c).  Include after cmocka.h.
 */
#ifndef ION_TEST_SERVER_FIXTURE_H
#define ION_TEST_SERVER_FIXTURE_H

#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

#ifndef PYTHON3
#define PYTHON3 "python3"
#endif
#ifndef HTTP_SERVER_PY
#error "HTTP_SERVER_PY must name tests/unit/http_server.py"
#endif

extern char **environ;

struct fixture_server {
	pid_t pid;
	unsigned port;
	char base[64]; /* http://127.0.0.1:PORT */
};

static int
fixture_start(struct fixture_server *s)
{
	posix_spawn_file_actions_t fa;
	char python[] = PYTHON3, script[] = HTTP_SERVER_PY;
	char *argv[] = { python, script, NULL };
	char line[32];
	int fds[2];
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (pipe(fds) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	if (posix_spawnp(&s->pid, PYTHON3, &fa, NULL, argv, environ) != 0)
		s->pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (s->pid < 0 || f == NULL || fgets(line, sizeof(line), f) == NULL ||
	    (s->port = (unsigned)strtoul(line, NULL, 10)) == 0) {
		if (s->pid > 0) {
			kill(s->pid, SIGTERM);
			waitpid(s->pid, NULL, 0);
		}
		s->pid = -1;
	}
	if (f != NULL)
		fclose(f);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", s->port);
	return s->pid > 0 ? 0 : -1;
}

static void
fixture_stop(struct fixture_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = -1;
}

static struct ion_http *
fixture_http(void)
{
	struct ion_http_opts o;
	struct ion_http *h = NULL;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = 5000;
	assert_int_equal(ion_http_new(&o, &h), 0);
	return h;
}

/* POSTs j (its reference taken) to the server's control path what + path. */
static void
fixture_control(const struct fixture_server *s, const char *what,
    const char *path, json_t *j)
{
	struct ion_http *h = fixture_http();
	struct ion_http_resp resp;
	char url[256], *text;

	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(text);
	snprintf(url, sizeof(url), "%s%s%s", s->base, what, path);
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(ion_http_post(h, url, "application/json", text,
			     strlen(text), NULL, NULL, 1 << 16, &resp),
	    0);
	assert_int_equal(resp.status, 200);
	ion_http_resp_clear(&resp);
	free(text);
	json_decref(j);
	ion_http_free(&h);
}

/*
 * Makes the server answer path with status and body ("{base}" in body is
 * the server's base URL); with require_key, anything without that
 * PAM-Ion-Client-Key gets a 401.
 */
static void
fixture_script(const struct fixture_server *s, const char *path, long status,
    const char *body, const char *require_key)
{
	json_t *j;

	j = json_pack("{s:i, s:s}", "status", (json_int_t)status, "body", body);
	if (j != NULL && require_key != NULL)
		json_object_set_new(j, "require",
		    json_pack("{s:s}", "PAM-Ion-Client-Key", require_key));
	fixture_control(s, "/_script", path, j);
}

/*
 * Makes the next `times` requests to the scripted path fail before its
 * answer: with status (and retry_after as Retry-After, unless NULL), or,
 * for status 0, with the connection closed unanswered.
 */
__attribute__((unused)) /* not every test needs failures */
static void
fixture_fail(const struct fixture_server *s, const char *path, unsigned times,
    long status, const char *retry_after, const char *body)
{
	json_t *j;

	j = json_pack("{s:i, s:i}", "times", (json_int_t)times, "status",
	    (json_int_t)status);
	if (j != NULL && retry_after != NULL)
		json_object_set_new(j, "retry_after", json_string(retry_after));
	if (j != NULL && body != NULL)
		json_object_set_new(j, "body", json_string(body));
	fixture_control(s, "/_fail", path, j);
}

/* The last request to a scripted path (new reference), or JSON null. */
static json_t *
fixture_last(const struct fixture_server *s, const char *path)
{
	struct ion_http *h = fixture_http();
	struct ion_http_resp resp;
	char url[256];
	json_t *j;

	snprintf(url, sizeof(url), "%s/_last%s", s->base, path);
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(ion_http_get(h, url, NULL, 0, 1 << 20, &resp), 0);
	j = json_loadb(resp.body, resp.len, 0, NULL);
	assert_non_null(j);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
	return j;
}

/* A header of the last request to path, copied, or NULL. */
static char *
fixture_last_header(
    const struct fixture_server *s, const char *path, const char *lower_name)
{
	json_t *j = fixture_last(s, path);
	const char *v = json_string_value(
	    json_object_get(json_object_get(j, "headers"), lower_name));
	char *copy = v != NULL ? strdup(v) : NULL;

	json_decref(j);
	return copy;
}

#endif
