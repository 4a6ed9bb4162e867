/*
 * pam-ion: check a sign-in setup, look up the user map, manage the cache.
 * This file parses the command line and runs the subcommand; the work is
 * the module's own code (config.c, usermap.c, cache.c, oidc.c, relayc.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define PROG "pam-ion"

struct command {
	const char *name;
	int (*run)(const struct tool_opts *);
	unsigned opts; /* OPT_* this command accepts */
	int min_args;  /* operands */
	int max_args;  /* -1: any number */
};

#define OPT_CONFIG 1u
#define OPT_SERVICE 2u
#define OPT_PAMD 4u
#define OPT_SSHD 8u
#define OPT_MAPCHECK 16u
#define OPT_MATCH 32u
#define OPT_MODDIR 64u
/*
 * What --match may hold: sshd -C's key=value list, and nothing sshd could
 * read as more (no space, quote or option syntax of its own).
 */
#define MATCH_CHARS                                                            \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"       \
	"_.,=:@-"

static const struct command commands[] = {
	{ "check", tool_check,
	    OPT_CONFIG | OPT_SERVICE | OPT_PAMD | OPT_SSHD | OPT_MATCH |
		OPT_MODDIR,
	    0, 0 },
	{ "login", tool_login, OPT_CONFIG, 0, 1 },
	{ "map", tool_map, OPT_CONFIG | OPT_MAPCHECK, 0, -1 },
	{ "cache", tool_cache, OPT_CONFIG, 1, 1 },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROG " check [--config FILE] [--service NAME] "
	    "[--pam-dir DIR] [--module-dir DIR]\n"
	    "                     [--sshd-config FILE] "
	    "[--match user=NAME,host=HOST,addr=ADDR]\n"
	    "       " PROG " login [--config FILE] [USER]\n"
	    "       " PROG " map [--config FILE] VALUE...\n"
	    "       " PROG " map [--config FILE] --check\n"
	    "       " PROG " cache [--config FILE] show|clear\n");
}

/* One line on stderr and exit status 2: the contract for bad arguments. */
static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see pam-ion(8))\n");
	return TOOL_USAGE;
}

struct option_row {
	const char *name;
	unsigned bit;
	const char **dest; /* NULL: a flag */
};

/* Fills o from argv[1..argc); returns 0 or TOOL_USAGE after one line. */
static int
parse(const struct command *c, int argc, char **argv, struct tool_opts *o)
{
	const struct option_row rows[] = {
		{ "--config", OPT_CONFIG, &o->config },
		{ "--service", OPT_SERVICE, &o->service },
		{ "--pam-dir", OPT_PAMD, &o->pamd_dir },
		{ "--sshd-config", OPT_SSHD, &o->sshd_config },
		{ "--match", OPT_MATCH, &o->match },
		{ "--module-dir", OPT_MODDIR, &o->module_dir },
		{ "--check", OPT_MAPCHECK, NULL },
	};
	bool operands_only = false;
	size_t k;
	int i;

	o->args = calloc((size_t)argc + 1, sizeof(char *));
	if (o->args == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return TOOL_FAIL;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *value = NULL, *eq;
		size_t nlen;

		if (operands_only || a[0] != '-' || strcmp(a, "-") == 0) {
			o->args[o->nargs++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			operands_only = true;
			continue;
		}
		eq = strchr(a, '=');
		nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
		for (k = 0; k < sizeof(rows) / sizeof(rows[0]); k++)
			if (strlen(rows[k].name) == nlen &&
			    strncmp(rows[k].name, a, nlen) == 0)
				break;
		if (k == sizeof(rows) / sizeof(rows[0]) ||
		    (c->opts & rows[k].bit) == 0) {
			return bad(
			    "%s: unknown option '%.*s'", c->name, (int)nlen, a);
		}
		if (rows[k].dest == NULL) {
			if (eq != NULL)
				return bad("%s takes no value", rows[k].name);
			if (o->map_check)
				return bad("%s given twice", rows[k].name);
			o->map_check = true;
			continue;
		}
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		if (value == NULL || *value == '\0')
			return bad("%s needs a value", rows[k].name);
		if (*rows[k].dest != NULL)
			return bad("%s given twice", rows[k].name);
		*rows[k].dest = value;
	}
	if (o->match != NULL && o->match[strspn(o->match, MATCH_CHARS)] != '\0')
		return bad("--match: only letters, digits and _.,=:@- "
			   "(sshd -C's user=NAME,host=HOST,addr=ADDR)");
	if (o->map_check && o->nargs > 0)
		return bad("%s: --check takes no VALUE", c->name);
	if (!o->map_check && o->nargs < c->min_args && c->max_args != 0)
		return bad(strcmp(c->name, "map") == 0
			? "%s: give a VALUE to look up, or --check"
			: "%s: missing operand",
		    c->name);
	if (c->max_args >= 0 && o->nargs > c->max_args)
		return bad("%s: unexpected argument '%s'", c->name,
		    o->args[c->max_args]);
	if (strcmp(c->name, "map") == 0 && !o->map_check && o->nargs == 0)
		return bad("%s: give a VALUE to look up, or --check", c->name);
	return 0;
}

int
main(int argc, char **argv)
{
	struct tool_opts o;
	const struct command *c = NULL;
	size_t k;
	int r;

	memset(&o, 0, sizeof(o));
	if (argc < 2)
		return bad(
		    "missing command (one of: check, login, map, cache)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return TOOL_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf(PROG " " PAM_ION_VERSION "\n");
		return TOOL_OK;
	}
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[1], commands[k].name) == 0)
			c = &commands[k];
	if (c == NULL)
		return bad(
		    "unknown command '%s' (one of: check, login, map, cache)",
		    argv[1]);
	if ((r = parse(c, argc - 1, argv + 1, &o)) == 0)
		r = c->run(&o);
	free(o.args);
	return r;
}

struct ion_cfg *
tool_load_cfg(const struct tool_opts *o)
{
	char err[ION_CFG_ERR_MAX];
	struct ion_cfg *cfg = tool_load_cfg_quiet(o, err);

	if (cfg == NULL)
		fprintf(stderr, PROG ": %s\n", err);
	return cfg;
}

struct ion_cfg *
tool_load_cfg_quiet(const struct tool_opts *o, char err[ION_CFG_ERR_MAX])
{
	char *arg = NULL;
	const char *argv[1];
	struct ion_cfg *cfg = NULL;
	int argc = 0;

	if (o->config != NULL) {
		/* The module wants an absolute path; a relative one is ours. */
		char *cwd = o->config[0] == '/' ? NULL : getcwd(NULL, 0);
		int n = o->config[0] == '/'
		    ? asprintf(&arg, "config=%s", o->config)
		    : cwd == NULL
		    ? -1
		    : asprintf(&arg, "config=%s/%s", cwd, o->config);

		free(cwd);
		if (n == -1) {
			snprintf(err, ION_CFG_ERR_MAX, "out of memory");
			return NULL;
		}
		argv[argc++] = arg;
	}
	err[0] = '\0';
	if (ion_cfg_load(argc, argv, &cfg, err) != 0)
		cfg = NULL;
	free(arg);
	return cfg;
}
