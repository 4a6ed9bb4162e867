/*
 * module_bench_drive: PAM transactions through the real libpam, one after
 * the other in this one process, timed and CPU-accounted for
 * module_bench.py (see README.md, "pam_ion module benchmark").
 *
 *   module_bench_drive CONFDIR SERVICE [USER] [RHOST [TTY]]
 *
 * RHOST and TTY become PAM_RHOST and PAM_TTY when given and not empty.
 *
 * It prints "READY <pid>" and then reads one command per line on stdin:
 * "login" runs one transaction (pam_start_confdir, pam_authenticate,
 * pam_end), "quit" or the end of input stops it.  Lines on stdout:
 *
 *   MSG <t_ns> INFO|ERROR|PROMPT <text>   every conversation message, as
 *       it arrives (newline as \n, backslash as \\); after a PROMPT one line
 *       of stdin is the answer
 *   LOG <priority> <text>                 the transaction's pam_syslog()
 *       lines, printed after pam_end (see below)
 *   RESULT code=<pam code> key=value ...  after each transaction:
 *       t_start, t_auth, t_msg, t_auth_end, t_end  CLOCK_MONOTONIC (ns)
 *           before pam_start, before pam_authenticate, at the first
 *           conversation message (0 when none), after pam_authenticate,
 *           after pam_end;
 *       c_start, c_auth, c_msg, c_auth_end, c_end  this process's CPU time
 *           (CLOCK_PROCESS_CPUTIME_ID, ns, every thread) at the same points;
 *       ru_user_us, ru_sys_us  getrusage(RUSAGE_SELF) user and system time
 *           used between t_start and t_end
 *   EXIT cpu_ns=<n> ru_user_us=<n> ru_sys_us=<n> maxrss_kb=<n>
 *       the whole process, at the end (exec and dynamic loading included)
 *
 * The CPU between t_start and t_end includes the conversation's own work
 * (formatting and writing the MSG lines), which is a few microseconds.
 *
 * Logging: libpam's pam_syslog() calls syslog() (__syslog_chk when libpam is
 * built with _FORTIFY_SOURCE).  This program defines those functions, so the
 * dynamic linker binds libpam's calls to them: the lines are kept in memory
 * during the transaction and printed after it, instead of going to /dev/log.
 * That is how the benchmark reads the module's debug line ("N HTTP requests,
 * N us to the QR code").  Only the destination changes; libpam formats the
 * message as it always does.
 */
#include <sys/resource.h>

#include <security/pam_appl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"

#define LOG_LINES 32
#define LOG_LINE_MAX 1024

static struct {
	int prio;
	char text[LOG_LINE_MAX];
} logs[LOG_LINES];
static unsigned nlogs, logs_dropped;

/* Per transaction: when the first conversation message arrived. */
static long long t_msg, c_msg;

static long long
ns_of(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long
tv_us(const struct timeval *tv)
{
	return (long long)tv->tv_sec * 1000000LL + tv->tv_usec;
}

/* ------------------------------------------------------------- syslog */

/* glibc's names; declared here, not through <syslog.h> (fortify inlines). */
void syslog(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vsyslog(int prio, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void __syslog_chk(int prio, int flag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void __vsyslog_chk(int prio, int flag, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

void
vsyslog(int prio, const char *fmt, va_list ap)
{
	if (nlogs == LOG_LINES) {
		logs_dropped++;
		return;
	}
	logs[nlogs].prio = prio & 7;
	vsnprintf(logs[nlogs].text, LOG_LINE_MAX, fmt, ap);
	nlogs++;
}

void
syslog(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}

void
__vsyslog_chk(int prio, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	vsyslog(prio, fmt, ap);
}

void
__syslog_chk(int prio, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------- conversation */

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct pam_response *r;
	char line[4096];
	long long now = ns_of(CLOCK_MONOTONIC);
	int i;

	(void)arg;
	if (t_msg == 0) {
		t_msg = now;
		c_msg = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	}
	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		const char *tag;

		switch (msg[i]->msg_style) {
		case PAM_TEXT_INFO:
			tag = "INFO";
			break;
		case PAM_ERROR_MSG:
			tag = "ERROR";
			break;
		case PAM_PROMPT_ECHO_ON:
		case PAM_PROMPT_ECHO_OFF:
			tag = "PROMPT";
			break;
		default:
			free(r);
			return PAM_CONV_ERR;
		}
		printf("MSG %lld %s ", now, tag);
		stand_print_escaped(msg[i]->msg);
		if (strcmp(tag, "PROMPT") != 0)
			continue;
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL) {
			for (i--; i >= 0; i--)
				free(r[i].resp);
			free(r);
			return PAM_CONV_ERR;
		}
		line[strcspn(line, "\n")] = '\0';
		r[i].resp = strdup(line);
	}
	fflush(stdout);
	*resp = r;
	return PAM_SUCCESS;
}

/* ------------------------------------------------------- transactions */

static int
one_login(const char *confdir, const char *service, const char *user,
    const char *rhost, const char *tty)
{
	struct pam_conv c = { conv, NULL };
	struct rusage ru0, ru1;
	pam_handle_t *pamh = NULL;
	long long t_start, t_auth = 0, t_auth_end = 0, t_end;
	long long c_start, c_auth = 0, c_auth_end = 0, c_end;
	unsigned i;
	int r;

	nlogs = logs_dropped = 0;
	t_msg = c_msg = 0;
	getrusage(RUSAGE_SELF, &ru0);
	c_start = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	t_start = ns_of(CLOCK_MONOTONIC);
	r = pam_start_confdir(service, user, &c, confdir, &pamh);
	if (r == PAM_SUCCESS) {
		if (rhost != NULL)
			pam_set_item(pamh, PAM_RHOST, rhost);
		if (tty != NULL)
			pam_set_item(pamh, PAM_TTY, tty);
		c_auth = ns_of(CLOCK_PROCESS_CPUTIME_ID);
		t_auth = ns_of(CLOCK_MONOTONIC);
		r = pam_authenticate(pamh, 0);
		t_auth_end = ns_of(CLOCK_MONOTONIC);
		c_auth_end = ns_of(CLOCK_PROCESS_CPUTIME_ID);
		pam_end(pamh, r);
	}
	t_end = ns_of(CLOCK_MONOTONIC);
	c_end = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	getrusage(RUSAGE_SELF, &ru1);

	for (i = 0; i < nlogs; i++) {
		printf("LOG %d ", logs[i].prio);
		stand_print_escaped(logs[i].text);
	}
	if (logs_dropped > 0)
		printf("LOG 3 module_bench_drive: %u log lines dropped\n",
		    logs_dropped);
	printf("RESULT code=%d t_start=%lld t_auth=%lld t_msg=%lld "
	       "t_auth_end=%lld t_end=%lld c_start=%lld c_auth=%lld "
	       "c_msg=%lld c_auth_end=%lld c_end=%lld ru_user_us=%lld "
	       "ru_sys_us=%lld\n",
	    r, t_start, t_auth, t_msg, t_auth_end, t_end, c_start, c_auth,
	    c_msg, c_auth_end, c_end,
	    tv_us(&ru1.ru_utime) - tv_us(&ru0.ru_utime),
	    tv_us(&ru1.ru_stime) - tv_us(&ru0.ru_stime));
	fflush(stdout);
	return r;
}

int
main(int argc, char **argv)
{
	char cmd[64];
	const char *user, *rhost, *tty;
	struct rusage ru;

	if (argc < 3 || argc > 6) {
		fprintf(stderr,
		    "usage: module_bench_drive CONFDIR SERVICE "
		    "[USER] [RHOST [TTY]]\n");
		return 2;
	}
	user = argc > 3 && argv[3][0] != '\0' ? argv[3] : NULL;
	rhost = argc > 4 && argv[4][0] != '\0' ? argv[4] : NULL;
	tty = argc > 5 && argv[5][0] != '\0' ? argv[5] : NULL;
	printf("READY %ld\n", (long)getpid());
	fflush(stdout);
	while (fgets(cmd, sizeof(cmd), stdin) != NULL) {
		cmd[strcspn(cmd, "\n")] = '\0';
		if (strcmp(cmd, "login") == 0)
			(void)one_login(argv[1], argv[2], user, rhost, tty);
		else if (strcmp(cmd, "quit") == 0)
			break;
		else {
			printf("ERROR unknown command\n");
			fflush(stdout);
		}
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("EXIT cpu_ns=%lld ru_user_us=%lld ru_sys_us=%lld "
	       "maxrss_kb=%ld\n",
	    ns_of(CLOCK_PROCESS_CPUTIME_ID), tv_us(&ru.ru_utime),
	    tv_us(&ru.ru_stime), ru.ru_maxrss);
	return 0;
}
