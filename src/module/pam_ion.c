/*
 * pam_ion: sign in with an iON account.  The PAM entry points only: read
 * the configuration, find out who and where, run the sign-in (login.c),
 * map its result to a PAM code and log it once; in the account phase,
 * judge the account line's access rules (rules.h) again on the claims the
 * sign-in kept on the handle.
 */
#include <limits.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "errors.h"
#include "idtoken.h"
#include "login.h"
#include "logsafe.h"
#include "prompt.h"
#include "rules.h"

#define WHY_MAX 256
/*
 * The pam_set_data() name of what a successful sign-in keeps for the
 * account phase.  Modules share one namespace of names on a handle.
 */
#define KEPT_NAME "pam_ion_signed_in"
#define NOTE_MAX 160
#define NOT_HONOURED " (confirm = no not honoured: "

static int
msg_style(enum ion_msg_style s)
{
	switch (s) {
	case ION_MSG_ERROR:
		return PAM_ERROR_MSG;
	case ION_MSG_PROMPT:
		return PAM_PROMPT_ECHO_ON;
	case ION_MSG_INFO:
		break;
	}
	return PAM_TEXT_INFO;
}

/* struct ion_conv on top of the application's pam_conv. */
static int
converse(void *arg, const struct ion_msg *msgs, size_t n, char **ret_answer)
{
	const struct pam_message *pmp[ION_CONV_MAX_MSGS];
	struct pam_message pm[ION_CONV_MAX_MSGS];
	struct pam_response *resp = NULL;
	const struct pam_conv *conv = NULL;
	pam_handle_t *pamh = arg;
	size_t i;
	int r = ION_ERR_CONV;

	if (n == 0 || n > ION_CONV_MAX_MSGS ||
	    pam_get_item(pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS ||
	    conv == NULL || conv->conv == NULL)
		return ION_ERR_CONV;
	for (i = 0; i < n; i++) {
		pm[i].msg_style = msg_style(msgs[i].style);
		pm[i].msg = msgs[i].text;
		pmp[i] = &pm[i];
	}
	if (conv->conv((int)n, pmp, &resp, conv->appdata_ptr) != PAM_SUCCESS)
		goto out;
	if (ret_answer != NULL) {
		if (msgs[n - 1].style != ION_MSG_PROMPT || resp == NULL ||
		    resp[n - 1].resp == NULL)
			goto out;
		*ret_answer = resp[n - 1].resp;
		resp[n - 1].resp = NULL; /* transferred */
	}
	r = 0;
out:
	if (resp != NULL) {
		for (i = 0; i < n; i++)
			if (resp[i].resp != NULL) {
				ion_scrub(resp[i].resp, strlen(resp[i].resp));
				free(resp[i].resp);
			}
		free(resp);
	}
	return r;
}

/*
 * What the outcome line says when confirm = no was overruled, and why
 * (ion_login_confirm()); "" otherwise.  No parentheses inside the note.
 */
static const char *
confirm_note(enum ion_confirm c, const char *tty, char *out, size_t outlen)
{
	char qtty[40];

	switch (c) {
	case ION_CONFIRM_REMOTE:
		return NOT_HONOURED "remote, PAM_RHOST set)";
	case ION_CONFIRM_RUSER:
		return NOT_HONOURED "PAM_RUSER set)";
	case ION_CONFIRM_NO_TTY:
		return NOT_HONOURED "not a local terminal, no PAM_TTY)";
	case ION_CONFIRM_TTY:
		snprintf(out, outlen,
		    NOT_HONOURED "not a local terminal, PAM_TTY '%s')",
		    ion_log_safe(tty, SIZE_MAX, qtty, sizeof(qtty)));
		return out;
	case ION_CONFIRM_TTY_DEVICE:
		snprintf(out, outlen,
		    NOT_HONOURED "not a local terminal, PAM_TTY '%s' is not "
				 "the console device)",
		    ion_log_safe(tty, SIZE_MAX, qtty, sizeof(qtty)));
		return out;
	case ION_CONFIRM_YES:
	case ION_CONFIRM_NO:
		break;
	}
	return "";
}

static int
pam_code(int r)
{
	switch (r) {
	case 0:
		return PAM_SUCCESS;
	case ION_ERR_UNAVAIL:
	case ION_ERR_TIMEOUT:
	case ION_ERR_RETRY: /* login.c gives up as UNAVAIL; never seen here */
		return PAM_AUTHINFO_UNAVAIL;
	case ION_ERR_NO_USER:
		return PAM_USER_UNKNOWN;
	case ION_ERR_CONFIG:
		return PAM_SERVICE_ERR;
	case ION_ERR_CONV:
		return PAM_CONV_ERR;
	case ION_ERR_NOMEM:
		return PAM_BUF_ERR;
	case ION_ERR_SYSTEM:
	case ION_ERR_CRYPTO:
		return PAM_SYSTEM_ERR;
	default:
		/* AUTH, REFUSED, ABORTED and anything unforeseen: denied. */
		return PAM_AUTH_ERR;
	}
}

/* What PAM says about this session; env's strings point into PAM and host. */
struct session {
	struct ion_login_env env;
	char host[HOST_NAME_MAX + 1];
};

/* A string item of PAM's, or NULL when it has none. */
static const char *
item(pam_handle_t *pamh, int type)
{
	const void *v = NULL;

	return pam_get_item(pamh, type, &v) == PAM_SUCCESS ? v : NULL;
}

/*
 * Fills s from PAM_USER (asked for when the application gave none, unless
 * the user comes from the token), PAM_RHOST, PAM_RUSER, PAM_TTY,
 * PAM_SERVICE and this machine's name.  PAM_SUCCESS, or the code to return.
 */
static int
session_env(pam_handle_t *pamh, const struct ion_cfg *cfg, struct session *s)
{
	const char *user = item(pamh, PAM_USER);
	int pr;

	memset(s, 0, sizeof(*s));
	if ((user == NULL || *user == '\0') && !cfg->user_from_token) {
		/* Ask for it, as any module would; no user is no login. */
		pr = pam_get_user(pamh, &user, NULL);
		if (pr != PAM_SUCCESS || user == NULL || *user == '\0') {
			pam_syslog(pamh, LOG_NOTICE, "no user name given");
			return pr == PAM_SUCCESS ? PAM_USER_UNKNOWN : pr;
		}
	}
	s->env.user = user != NULL && *user != '\0' ? user : NULL;
	s->env.rhost = item(pamh, PAM_RHOST);
	s->env.ruser = item(pamh, PAM_RUSER);
	s->env.tty = item(pamh, PAM_TTY);
	if ((s->env.service = item(pamh, PAM_SERVICE)) == NULL)
		s->env.service = "unknown";
	if (gethostname(s->host, sizeof(s->host)) != 0)
		strcpy(s->host, "localhost");
	s->host[sizeof(s->host) - 1] = '\0';
	s->env.host = s->host;
	return PAM_SUCCESS;
}

/* The one line that says how the sign-in went (and one more with debug). */
static void
log_outcome(pam_handle_t *pamh, const struct ion_cfg *cfg,
    const struct ion_login_env *env, int pr, const char *mapped,
    const char *why, const struct ion_login_stats *stats)
{
	char quser[64], notebuf[NOTE_MAX], sub[sizeof(stats->subject) + 8];
	const char *note, *who = "(user from token)";

	note = confirm_note(stats->confirm, env->tty, notebuf, sizeof(notebuf));
	if (pr == PAM_SUCCESS)
		pam_syslog(pamh, LOG_INFO,
		    "signed in %s with iON (sub %s, service %s)%s", mapped,
		    stats->subject, env->service, note);
	else {
		if (env->user != NULL)
			who = ion_log_safe(
			    env->user, SIZE_MAX, quser, sizeof(quser));
		sub[0] = '\0';
		if (stats->subject[0] != '\0')
			snprintf(sub, sizeof(sub), "sub %s; ", stats->subject);
		pam_syslog(pamh, LOG_NOTICE,
		    "iON sign-in for %s failed: %s (%s%s)%s", who, why, sub,
		    pam_strerror(pamh, pr), note);
	}
	if (cfg->debug)
		pam_syslog(pamh, LOG_DEBUG,
		    "%u HTTP requests, %lu us to the QR code, PAR %s, "
		    "%u relay polls retried",
		    stats->http_requests, stats->time_to_qr_us,
		    stats->pushed ? "yes" : "no", stats->relay_retries);
}

/* What a successful sign-in leaves on the handle for pam_sm_acct_mgmt. */
struct kept {
	char *user;	    /* the account it signed in */
	json_t *claims;	    /* its verified claims */
	time_t started;	    /* when the sign-in started (rules.h) */
	uint64_t signed_ms; /* when it succeeded, ion_boot_ms() */
};

static void
kept_free(pam_handle_t *pamh, void *data, int status)
{
	struct kept *k = data;

	(void)pamh;
	(void)status;
	if (k == NULL)
		return;
	json_decref(k->claims);
	free(k->user);
	free(k);
}

/*
 * Keeps user and claims on the handle (claims' reference is taken over
 * on success); PAM_SUCCESS or the code to return.
 */
static int
keep(pam_handle_t *pamh, const char *user, json_t **claims, time_t started)
{
	struct kept *k;

	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->user = strdup(user)) == NULL) {
		free(k);
		return PAM_BUF_ERR;
	}
	k->claims = *claims;
	*claims = NULL;
	k->started = started;
	k->signed_ms = ion_boot_ms();
	if (pam_set_data(pamh, KEPT_NAME, k, kept_free) != PAM_SUCCESS) {
		kept_free(pamh, k, 0);
		return PAM_SYSTEM_ERR;
	}
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct ion_login_stats stats;
	struct session s;
	struct ion_conv conv;
	struct ion_cfg *cfg = NULL;
	char err[ION_CFG_ERR_MAX], why[WHY_MAX], *mapped = NULL;
	json_t *claims = NULL;
	int r, pr;

	/*
	 * Whatever an earlier pam_authenticate() on this handle kept goes:
	 * the account phase must judge only this sign-in.
	 */
	if (pam_set_data(pamh, KEPT_NAME, NULL, NULL) != PAM_SUCCESS)
		return PAM_SYSTEM_ERR;
	if (ion_cfg_load(argc, argv, &cfg, err) != 0) {
		pam_syslog(pamh, LOG_ERR, "configuration: %s", err);
		return PAM_SERVICE_ERR;
	}
	if ((pr = session_env(pamh, cfg, &s)) != PAM_SUCCESS) {
		ion_cfg_free(&cfg);
		return pr;
	}
	memset(&conv, 0, sizeof(conv));
	conv.converse = converse;
	conv.arg = pamh;
	conv.silent = (flags & PAM_SILENT) != 0;
	memset(&stats, 0, sizeof(stats));
	r = ion_login_run(
	    cfg, &s.env, &conv, &mapped, &claims, why, sizeof(why), &stats);
	pr = pam_code(r);
	/* With user_from_token, the account the token maps to is the user. */
	if (pr == PAM_SUCCESS && s.env.user == NULL &&
	    pam_set_item(pamh, PAM_USER, mapped) != PAM_SUCCESS)
		pr = PAM_SYSTEM_ERR;
	if (pr == PAM_SUCCESS &&
	    (pr = keep(pamh, mapped, &claims, stats.started)) != PAM_SUCCESS)
		snprintf(why, sizeof(why), "cannot keep the claims: %s",
		    pam_strerror(pamh, pr));
	log_outcome(pamh, cfg, &s.env, pr, mapped, why, &stats);
	json_decref(claims);
	free(mapped);
	ion_cfg_free(&cfg);
	return pr;
}

/*
 * The account phase.  PAM_IGNORE unless pam_ion signed this handle in
 * (its data is there only after a successful pam_sm_authenticate), so
 * other modules' logins are theirs to judge.  A sign-in older than this
 * line's login_timeout (on CLOCK_BOOTTIME, suspends included) is not
 * judged: a long-lived handle (a screen locker) may since have been
 * authenticated by another module alone, and a person could wait at a
 * later prompt on purpose.  Then PAM_IGNORE for a line without rules of
 * its own, PAM_PERM_DENIED for one with rules (they cannot be judged on
 * it, and must never be skipped).  Otherwise the user must still be the
 * one signed in, and this line's access rules (its own arguments and
 * config) must hold on the kept claims: PAM_PERM_DENIED when not,
 * PAM_SERVICE_ERR for a bad configuration.
 */
PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const struct kept *k = NULL;
	struct ion_cfg *cfg = NULL;
	const char *user, *denied = NULL;
	char err[ION_CFG_ERR_MAX], why[WHY_MAX], quser[64], sub[128];
	int pr = PAM_PERM_DENIED;

	(void)flags;
	if (pam_get_data(pamh, KEPT_NAME, (const void **)&k) != PAM_SUCCESS ||
	    k == NULL)
		return PAM_IGNORE;
	if (ion_cfg_load(argc, argv, &cfg, err) != 0) {
		pam_syslog(pamh, LOG_ERR, "configuration: %s", err);
		return PAM_SERVICE_ERR;
	}
	ion_idtoken_subject(k->claims, sub, sizeof(sub));
	user = item(pamh, PAM_USER);
	if (ion_boot_ms() - k->signed_ms >
	    (uint64_t)cfg->login_timeout * 1000) {
		/*
		 * Another module may have authenticated the handle since;
		 * or the person waited on purpose at a later prompt.  A line
		 * with rules of its own cannot judge them on an old
		 * sign-in, and never lets it by.
		 */
		if (ion_rules_any(cfg))
			denied = "the sign-in is older than login_timeout";
		else {
			if (cfg->debug)
				pam_syslog(pamh, LOG_DEBUG,
				    "account check: the iON sign-in (sub %s) "
				    "is older than login_timeout; not judged",
				    sub);
			pr = PAM_IGNORE;
		}
	} else if (user == NULL || strcmp(user, k->user) != 0)
		denied = "the user changed since the sign-in";
	else if (ion_rules_check(cfg, k->claims, time(NULL), k->started, why,
		     sizeof(why)) != 0)
		denied = why;
	else
		pr = PAM_SUCCESS;
	if (denied != NULL)
		pam_syslog(pamh, LOG_NOTICE,
		    "iON account check for %s failed: %s (sub %s; %s)",
		    ion_log_safe(user, SIZE_MAX, quser, sizeof(quser)), denied,
		    sub, pam_strerror(pamh, pr));
	ion_cfg_free(&cfg);
	return pr;
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}
