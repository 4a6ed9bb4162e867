/*
 * pam-ion cache show|clear: the module's disk cache of provider documents
 * (cache.c).  Entries are named by a hash of their URL, so "show" names
 * the entries for the URLs the configuration leads to (read with
 * ion_cache_load(), as the module reads them) and counts the rest; "clear"
 * removes every entry, so the next sign-in fetches discovery and JWKS
 * afresh.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "errors.h"
#include "tool.h"

#define DISCOVERY_PATH "/.well-known/openid-configuration"
#define ENTRY_SUFFIX ".cache"
#define TMP_MARK ".tmp-"

static void
show_entry(const char *dir, const char *what, const char *url, time_t now,
    char **ret_body)
{
	char when[32], *body = NULL;
	time_t fetched = 0;
	size_t len = 0;
	struct tm tm;

	if (ion_cache_load(dir, url, now, &body, &len, &fetched) != 0) {
		printf("%s %s: not cached (or expired)\n", what, url);
		return;
	}
	gmtime_r(&fetched, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s %s: fetched %s, %zu bytes\n", what, url, when, len);
	if (ret_body != NULL)
		*ret_body = body;
	else
		free(body);
}

/* An entry, or a temporary file a crash left behind. */
static bool
is_cache_file(const char *name)
{
	size_t n = strlen(name), s = strlen(ENTRY_SUFFIX);

	return (n > s && strcmp(name + n - s, ENTRY_SUFFIX) == 0) ||
	    (name[0] == '.' && strstr(name, TMP_MARK) != NULL);
}

/*
 * Counts (or, with clear, removes) the cache's regular files in dir; -1
 * when the directory cannot be read (errno set).
 */
static int
walk(const char *dir, bool clear, unsigned *ret_n)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	unsigned n = 0;
	int fd, r = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!is_cache_file(e->d_name) ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (clear && unlinkat(fd, e->d_name, 0) == -1) {
			fprintf(stderr, "pam-ion: %s/%s: %s\n", dir, e->d_name,
			    strerror(errno));
			r = -1;
			continue;
		}
		n++;
	}
	closedir(d);
	*ret_n = n;
	return r;
}

static int
cache_show(const struct ion_cfg *cfg)
{
	char *disc = NULL, *body = NULL;
	const char *jwks = cfg->jwks_uri;
	time_t now = time(NULL);
	json_t *doc = NULL;
	unsigned n = 0;

	printf("cache %s\n", cfg->cache_dir);
	if (ion_cfg_needs_discovery(cfg)) {
		if (asprintf(&disc, "%s%s", cfg->issuer, DISCOVERY_PATH) == -1)
			return TOOL_FAIL;
		show_entry(cfg->cache_dir, "discovery", disc, now, &body);
		if (body != NULL &&
		    (doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL)) !=
			NULL &&
		    jwks == NULL)
			jwks =
			    json_string_value(json_object_get(doc, "jwks_uri"));
	}
	if (jwks != NULL)
		show_entry(cfg->cache_dir, "jwks", jwks, now, NULL);
	json_decref(doc);
	free(body);
	free(disc);
	if (walk(cfg->cache_dir, false, &n) == -1) {
		if (errno == ENOENT) {
			printf("entries 0 (no directory yet)\n");
			return TOOL_OK;
		}
		fprintf(stderr, "pam-ion: %s: %s\n", cfg->cache_dir,
		    strerror(errno));
		return TOOL_FAIL;
	}
	printf("entries %u\n", n);
	return TOOL_OK;
}

static int
cache_clear(const struct ion_cfg *cfg)
{
	unsigned n = 0;

	if (walk(cfg->cache_dir, true, &n) == -1) {
		if (errno == ENOENT) {
			printf("removed 0 entries\n");
			return TOOL_OK;
		}
		if (n == 0)
			fprintf(stderr, "pam-ion: %s: %s\n", cfg->cache_dir,
			    strerror(errno));
		return TOOL_FAIL;
	}
	printf("removed %u entries\n", n);
	return TOOL_OK;
}

int
tool_cache(const struct tool_opts *o)
{
	struct ion_cfg *cfg;
	int r;

	if (strcmp(o->args[0], "show") != 0 &&
	    strcmp(o->args[0], "clear") != 0) {
		fprintf(stderr,
		    "pam-ion: cache: unknown action '%s' (show or clear; "
		    "see pam-ion(8))\n",
		    o->args[0]);
		return TOOL_USAGE;
	}
	if ((cfg = tool_load_cfg(o)) == NULL)
		return TOOL_FAIL;
	r = strcmp(o->args[0], "show") == 0 ? cache_show(cfg)
					    : cache_clear(cfg);
	ion_cfg_free(&cfg);
	return r;
}
