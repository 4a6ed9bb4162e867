/*
 * pam_ion: sign in with an iON account.  The PAM entry points only: read
 * the configuration, find out who and where, run the sign-in (login.c),
 * map its result to a PAM code and log it once.
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

#include "config.h"
#include "crypto.h"
#include "errors.h"
#include "login.h"
#include "logsafe.h"
#include "prompt.h"

#define WHY_MAX 256
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

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct ion_login_stats stats;
	struct ion_login_env env;
	struct ion_conv conv;
	struct ion_cfg *cfg = NULL;
	const char *user = NULL, *rhost = NULL, *ruser = NULL, *tty = NULL;
	const char *service = NULL, *note;
	char err[ION_CFG_ERR_MAX], why[WHY_MAX], host[HOST_NAME_MAX + 1];
	char *mapped = NULL, quser[64], notebuf[NOTE_MAX];
	int r, pr;

	if ((r = ion_cfg_load(argc, argv, &cfg, err)) != 0) {
		pam_syslog(pamh, LOG_ERR, "configuration: %s", err);
		return PAM_SERVICE_ERR;
	}
	if (pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS)
		user = NULL;
	if ((user == NULL || *user == '\0') && !cfg->user_from_token) {
		/* Ask for it, as any module would; no user is no login. */
		pr = pam_get_user(pamh, &user, NULL);
		if (pr != PAM_SUCCESS || user == NULL || *user == '\0') {
			pam_syslog(pamh, LOG_NOTICE, "no user name given");
			ion_cfg_free(&cfg);
			return pr == PAM_SUCCESS ? PAM_USER_UNKNOWN : pr;
		}
	}
	if (user != NULL && *user == '\0')
		user = NULL;
	if (pam_get_item(pamh, PAM_RHOST, (const void **)&rhost) != PAM_SUCCESS)
		rhost = NULL;
	if (pam_get_item(pamh, PAM_RUSER, (const void **)&ruser) != PAM_SUCCESS)
		ruser = NULL;
	if (pam_get_item(pamh, PAM_TTY, (const void **)&tty) != PAM_SUCCESS)
		tty = NULL;
	if (pam_get_item(pamh, PAM_SERVICE, (const void **)&service) !=
		PAM_SUCCESS ||
	    service == NULL)
		service = "unknown";
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';

	memset(&env, 0, sizeof(env));
	env.host = host;
	env.user = user;
	env.rhost = rhost;
	env.ruser = ruser;
	env.tty = tty;
	env.service = service;
	memset(&conv, 0, sizeof(conv));
	conv.converse = converse;
	conv.arg = pamh;
	conv.silent = (flags & PAM_SILENT) != 0;
	memset(&stats, 0, sizeof(stats));

	r = ion_login_run(cfg, &env, &conv, &mapped, why, sizeof(why), &stats);
	pr = pam_code(r);
	if (pr == PAM_SUCCESS && user == NULL &&
	    pam_set_item(pamh, PAM_USER, mapped) != PAM_SUCCESS)
		pr = PAM_SYSTEM_ERR;
	note = confirm_note(stats.confirm, tty, notebuf, sizeof(notebuf));
	if (pr == PAM_SUCCESS)
		pam_syslog(pamh, LOG_INFO,
		    "signed in %s with iON (sub %s, service %s)%s", mapped,
		    stats.subject, service, note);
	else if (stats.subject[0] != '\0')
		pam_syslog(pamh, LOG_NOTICE,
		    "iON sign-in for %s failed: %s (sub %s; %s)%s",
		    user != NULL
			? ion_log_safe(user, SIZE_MAX, quser, sizeof(quser))
			: "(user from token)",
		    why, stats.subject, pam_strerror(pamh, pr), note);
	else
		pam_syslog(pamh, LOG_NOTICE,
		    "iON sign-in for %s failed: %s (%s)%s",
		    user != NULL
			? ion_log_safe(user, SIZE_MAX, quser, sizeof(quser))
			: "(user from token)",
		    why, pam_strerror(pamh, pr), note);
	if (cfg->debug)
		pam_syslog(pamh, LOG_DEBUG,
		    "%u HTTP requests, %lu us to the QR code, PAR %s",
		    stats.http_requests, stats.time_to_qr_us,
		    stats.pushed ? "yes" : "no");
	free(mapped);
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
