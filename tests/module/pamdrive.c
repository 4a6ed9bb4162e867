/*
 * pamdrive: one PAM transaction through the real libpam, driven over
 * stdin/stdout, so tests can play the person at the terminal.
 *
 *   pamdrive CONFDIR SERVICE [USER] [RHOST [RUSER [TTY]]]
 *
 * Loads the service's stack from CONFDIR (pam_start_confdir), sets
 * PAM_RHOST, PAM_RUSER and PAM_TTY when given and not empty (an empty USER
 * leaves PAM_USER unset: the module asks or takes it from the token), calls
 * pam_authenticate and prints, one line each:
 *   INFO <text>     ERROR <text>     PROMPT <text>
 * (newlines in a message become "\n", backslashes "\\").  After a PROMPT it
 * reads one line from stdin as the answer; end of input cancels the
 * conversation.  Then it prints "RESULT <code> <name>" and, when PAM_USER
 * is set, "USER <name>".
 *
 * The account phase, by the environment:
 *   PAMDRIVE_ACCT=1      after pam_authenticate (whatever it returned, as
 *                        a test wants to see what the account phase does
 *                        then), pam_acct_mgmt on the same handle
 *   PAMDRIVE_ACCT=only   pam_acct_mgmt alone: no pam_authenticate, no
 *                        RESULT line
 *   PAMDRIVE_SETUSER=U   before pam_acct_mgmt, PAM_USER becomes U (as an
 *                        application that changed its mind would)
 *   PAMDRIVE_ACCT_DELAY=S  before pam_acct_mgmt, sleep S seconds (0 to
 *                        120: a person waiting at a later prompt)
 * and prints "ACCT <code> <name>" and again "USER <name>".
 *
 * PAMDRIVE_PIN=PATH loads PATH (the module) first with RTLD_NODELETE, so
 * that libpam's dlclose() at pam_end() leaves it and its libraries mapped.
 * The sanitizer runs set it: clang 14's LeakSanitizer misreads the dynamic
 * TLS of a library unloaded before it scans, and its tracer crashes
 * ("Tracer caught signal 11", seen after a sign-in with 10,000 groups),
 * which would hide every leak of that run.
 *
 * Exits 0 when every call it made (pam_authenticate, pam_acct_mgmt)
 * returned PAM_SUCCESS, 1 otherwise, 2 on a usage or set-up error.
 */
#include <dlfcn.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"

/* "TAG text", the text escaped; flushed, as a test waits for it. */
static void
print_message(const char *tag, const char *s)
{
	fputs(tag, stdout);
	fputc(' ', stdout);
	stand_print_escaped(s);
	fflush(stdout);
}

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct pam_response *r;
	char line[4096];
	int i;

	(void)arg;
	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_TEXT_INFO:
			print_message("INFO", msg[i]->msg);
			break;
		case PAM_ERROR_MSG:
			print_message("ERROR", msg[i]->msg);
			break;
		case PAM_PROMPT_ECHO_ON:
		case PAM_PROMPT_ECHO_OFF:
			print_message("PROMPT", msg[i]->msg);
			if (fgets(line, sizeof(line), stdin) == NULL) {
				free(r);
				return PAM_CONV_ERR;
			}
			line[strcspn(line, "\n")] = '\0';
			r[i].resp = strdup(line);
			break;
		default:
			free(r);
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

/* "USER <name>" when PAM_USER is set. */
static void
print_user(pam_handle_t *pamh)
{
	const void *user = NULL;

	if (pam_get_item(pamh, PAM_USER, &user) == PAM_SUCCESS && user != NULL)
		printf("USER %s\n", (const char *)user);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct pam_conv c = { conv, NULL };
	pam_handle_t *pamh = NULL;
	const char *acct = getenv("PAMDRIVE_ACCT");
	const char *setuser = getenv("PAMDRIVE_SETUSER");
	const char *delay = getenv("PAMDRIVE_ACCT_DELAY");
	const char *pin = getenv("PAMDRIVE_PIN");
	unsigned delay_s = 0;
	int r, last = PAM_SUCCESS, failed = 0;
	int do_auth = 1, do_acct = 0;

	if (acct != NULL && strcmp(acct, "1") == 0)
		do_acct = 1;
	else if (acct != NULL && strcmp(acct, "only") == 0) {
		do_auth = 0;
		do_acct = 1;
	} else if (acct != NULL && *acct != '\0' && strcmp(acct, "0") != 0) {
		fprintf(stderr, "pamdrive: PAMDRIVE_ACCT must be 1 or only\n");
		return 2;
	}

	if (delay != NULL &&
	    (sscanf(delay, "%u", &delay_s) != 1 || delay_s > 120)) {
		fprintf(stderr, "pamdrive: PAMDRIVE_ACCT_DELAY: 0 to 120\n");
		return 2;
	}
	if (pin != NULL && dlopen(pin, RTLD_NOW | RTLD_NODELETE) == NULL) {
		fprintf(stderr, "pamdrive: PAMDRIVE_PIN: %s\n", dlerror());
		return 2;
	}
	if (argc < 3 || argc > 7) {
		fprintf(stderr,
		    "usage: pamdrive CONFDIR SERVICE [USER] "
		    "[RHOST [RUSER [TTY]]]\n");
		return 2;
	}
	r = pam_start_confdir(argv[2], argc > 3 && argv[3][0] ? argv[3] : NULL,
	    &c, argv[1], &pamh);
	if (r != PAM_SUCCESS) {
		printf("RESULT %d %s\n", r, pam_strerror(NULL, r));
		return 1;
	}
	if (argc > 4 && argv[4][0] != '\0' &&
	    pam_set_item(pamh, PAM_RHOST, argv[4]) != PAM_SUCCESS) {
		fprintf(stderr, "pamdrive: cannot set PAM_RHOST\n");
		pam_end(pamh, PAM_SYSTEM_ERR);
		return 2;
	}
	if (argc > 5 && argv[5][0] != '\0' &&
	    pam_set_item(pamh, PAM_RUSER, argv[5]) != PAM_SUCCESS) {
		fprintf(stderr, "pamdrive: cannot set PAM_RUSER\n");
		pam_end(pamh, PAM_SYSTEM_ERR);
		return 2;
	}
	if (argc > 6 && argv[6][0] != '\0' &&
	    pam_set_item(pamh, PAM_TTY, argv[6]) != PAM_SUCCESS) {
		fprintf(stderr, "pamdrive: cannot set PAM_TTY\n");
		pam_end(pamh, PAM_SYSTEM_ERR);
		return 2;
	}
	if (do_auth) {
		r = pam_authenticate(pamh, 0);
		printf("RESULT %d %s\n", r, pam_strerror(pamh, r));
		print_user(pamh);
		failed |= r != PAM_SUCCESS;
		last = r;
	}
	if (do_acct) {
		if (setuser != NULL &&
		    pam_set_item(pamh, PAM_USER, setuser) != PAM_SUCCESS) {
			fprintf(stderr, "pamdrive: cannot set PAM_USER\n");
			pam_end(pamh, PAM_SYSTEM_ERR);
			return 2;
		}
		if (delay_s > 0)
			sleep(delay_s);
		r = pam_acct_mgmt(pamh, 0);
		printf("ACCT %d %s\n", r, pam_strerror(pamh, r));
		print_user(pamh);
		failed |= r != PAM_SUCCESS;
		last = r;
	}
	pam_end(pamh, last);
	return failed ? 1 : 0;
}
