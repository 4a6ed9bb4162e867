/*
 * pam-ion map: which account a claim value maps to, and a lint of the map
 * file, both through usermap.c's ion_usermap_lookup(), the function the
 * module calls, so the answer is the module's answer.
 */
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "tool.h"
#include "usermap.h"

#define SUB_PREFIX "sub:"
#define ERR_MAX 512

/*
 * The claims a token would carry for VALUE: "sub:X" is the identifier X,
 * anything else the configured user_claim, with email_verified true (the
 * map cannot tell; the module refuses an unverified email before it looks).
 */
static json_t *
claims_for(const struct ion_cfg *cfg, const char *value)
{
	json_t *claims = json_object();

	if (claims == NULL)
		return NULL;
	if (json_object_set_new(claims, "email_verified", json_true()) != 0)
		goto fail;
	if (strncmp(value, SUB_PREFIX, strlen(SUB_PREFIX)) == 0) {
		if (json_object_set_new(claims, "sub",
			json_string(value + strlen(SUB_PREFIX))) != 0)
			goto fail;
	} else if (json_object_set_new(
		       claims, cfg->user_claim, json_string(value)) != 0)
		goto fail;
	return claims;
fail:
	json_decref(claims);
	return NULL;
}

static int
map_check(const struct ion_cfg *cfg)
{
	char err[ERR_MAX], *user = NULL;
	json_t *claims = json_pack("{s:b}", "email_verified", 1);
	int r;

	if (claims == NULL)
		return TOOL_FAIL;
	/*
	 * Nothing matches claims without a value: what is left is the
	 * file's verdict (the whole file is read and checked every time).
	 */
	r = ion_usermap_lookup(cfg->user_map_file, cfg->user_claim, claims,
	    &user, err, sizeof(err));
	json_decref(claims);
	free(user);
	if (r == 0 || r == ION_ERR_NO_USER) {
		printf("ok: %s\n", cfg->user_map_file);
		return TOOL_OK;
	}
	printf("FAIL: %s\n", err[0] != '\0' ? err : ion_strerror(r));
	return TOOL_FAIL;
}

static int
map_values(const struct ion_cfg *cfg, char **values, int n)
{
	char err[ERR_MAX];
	int i, status = TOOL_OK;

	for (i = 0; i < n; i++) {
		json_t *claims = claims_for(cfg, values[i]);
		char *user = NULL;
		int r;

		if (claims == NULL || strlen(values[i]) == 0) {
			json_decref(claims);
			fprintf(stderr, "pam-ion: %s: not a claim value\n",
			    values[i]);
			return TOOL_FAIL;
		}
		r = ion_usermap_lookup(cfg->user_map_file, cfg->user_claim,
		    claims, &user, err, sizeof(err));
		json_decref(claims);
		if (r == 0) {
			if (getpwnam(user) != NULL)
				printf("%s %s\n", values[i], user);
			else {
				printf("%s %s (no such local account)\n",
				    values[i], user);
				status = TOOL_FAIL;
			}
			free(user);
		} else if (r == ION_ERR_NO_USER) {
			printf("%s -\n", values[i]);
			status = TOOL_FAIL;
		} else {
			fprintf(stderr, "pam-ion: %s\n",
			    err[0] != '\0' ? err : ion_strerror(r));
			return TOOL_FAIL;
		}
	}
	return status;
}

int
tool_map(const struct tool_opts *o)
{
	struct ion_cfg *cfg;
	int r;

	if ((cfg = tool_load_cfg(o)) == NULL)
		return TOOL_FAIL;
	r = o->map_check ? map_check(cfg) : map_values(cfg, o->args, o->nargs);
	ion_cfg_free(&cfg);
	return r;
}
