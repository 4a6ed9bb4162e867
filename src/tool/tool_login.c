/*
 * pam-ion login [USER]: a real sign-in from the shell through the module's
 * own ion_login_run(), with the terminal as the conversation: the same
 * screens, the same relay, provider and checks as at a login.  It prints
 * the verified claims, which access rules (rules.h) they meet, and the
 * account they map to, and starts no session.
 */
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "errors.h"
#include "login.h"
#include "prompt.h"
#include "rules.h"
#include "tool.h"

#define SERVICE "pam-ion"
#define WHY_MAX 256

/* struct ion_conv on the terminal: info on stdout, errors on stderr. */
static int
converse(void *arg, const struct ion_msg *msgs, size_t n, char **ret_answer)
{
	char *line = NULL;
	size_t cap = 0, i;
	ssize_t len;

	(void)arg;
	for (i = 0; i < n; i++) {
		if (msgs[i].style == ION_MSG_ERROR)
			fprintf(stderr, "%s\n", msgs[i].text);
		else if (msgs[i].style == ION_MSG_PROMPT)
			printf("%s", msgs[i].text);
		else
			printf("%s\n", msgs[i].text);
	}
	fflush(stdout);
	if (ret_answer == NULL)
		return 0;
	if (n == 0 || msgs[n - 1].style != ION_MSG_PROMPT ||
	    (len = getline(&line, &cap, stdin)) == -1) {
		free(line);
		return ION_ERR_CONV;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	*ret_answer = line;
	return 0;
}

/* The claims, and each access rule the configuration uses, met or not. */
static void
show_claims(const struct ion_cfg *cfg, const json_t *claims, time_t started)
{
	struct ion_rule_result res[ION_RULES_MAX];
	size_t i, n;
	char *dump;

	if ((dump = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS)) != NULL)
		printf("claims %s\n", dump);
	free(dump);
	n = ion_rules_eval(cfg, claims, time(NULL), started, res);
	if (n == 0)
		printf("rules none configured\n");
	for (i = 0; i < n; i++)
		printf("rule %s %s: %s\n", res[i].rule,
		    res[i].met ? "met" : "NOT met", res[i].why);
}

int
tool_login(const struct tool_opts *o)
{
	char host[HOST_NAME_MAX + 1], why[WHY_MAX], *mapped = NULL;
	struct ion_login_stats stats;
	struct ion_login_env env;
	struct ion_conv conv;
	struct ion_cfg *cfg;
	json_t *claims = NULL;
	int r;

	if ((cfg = tool_load_cfg(o)) == NULL)
		return TOOL_FAIL;
	memset(&env, 0, sizeof(env));
	memset(&conv, 0, sizeof(conv));
	memset(&stats, 0, sizeof(stats));
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	env.host = host;
	env.user = o->nargs > 0 ? o->args[0] : NULL;
	/* Without USER: show whichever account the map gives. */
	if (env.user == NULL)
		cfg->user_from_token = true;
	env.tty = ttyname(STDIN_FILENO);
	env.service = SERVICE;
	conv.converse = converse;
	r = ion_login_run(
	    cfg, &env, &conv, &mapped, &claims, why, sizeof(why), &stats);
	if (claims != NULL)
		show_claims(cfg, claims, stats.started);
	json_decref(claims);
	if (r == 0) {
		printf("account %s%s\n", mapped,
		    getpwnam(mapped) == NULL ? " (no such local account)" : "");
		free(mapped);
	} else
		fprintf(stderr, "pam-ion: sign-in failed: %s (%s)\n", why,
		    ion_strerror(r));
	ion_cfg_free(&cfg);
	return r == 0 ? TOOL_OK : TOOL_FAIL;
}
