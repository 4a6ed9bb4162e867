/*
 * The auth stack as libpam 1.5.2 reads and runs it (tool_stack.h).  The
 * reader follows libpam's own parser step by step, quirks included, since
 * the point is to see the stack the way libpam will; where libpam's
 * reading would depend on something we do not model (a line longer than
 * its 1024-byte buffer, which it splits or refuses), the stack is not
 * judged at all.  The runner walks every path of _pam_dispatch_aux's
 * state machine (impression, status, the state saved on entering each
 * substack) once, remembering visited states.
 */
#include "tool_stack.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <security/pam_appl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define PAMD_DEFAULT "/etc/pam.d"
#define PAMD_DIST "/usr/lib/pam.d" /* libpam's PAM_CONFIG_DIST_D */
#define MODULE_NAME "pam_ion.so"
#define CONFIG_ARG "config="
#define LIBPAM_BUF 1024	 /* _pam_parse_conf_file's line buffer */
#define CONTROL_MAX 256	 /* our control text, NUL included */
#define MAX_HANDLERS 256 /* auth lines after includes */
#define MAX_LEVEL 8	 /* substack levels we follow (libpam: 16) */
#define MAX_DEPTH 8	 /* nested include files */
#define SEEN_BITS 18	 /* 2^18 states remembered, half used at most */
#define WHAT_MAX (3 * PATH_MAX)

/* libpam's actions (pam_private.h): jumps are positive. */
#define ACT_IGNORE 0
#define ACT_OK (-1)
#define ACT_DONE (-2)
#define ACT_BAD (-3)
#define ACT_DIE (-4)
#define ACT_RESET (-5)
#define ACT_UNDEF (-6)

/* libpam's impressions and our two status classes. */
#define IMP_UNDEF 0
#define IMP_POS 1
#define IMP_NEG 2
#define ST_FAIL 0
#define ST_SUCCESS 1

#define NONE 511 /* no line, in a 9-bit field */

/*
 * The return codes by number, then "default", spelt and ordered as in
 * libpam's pam_tokens.h: _pam_parse_control takes the first name that
 * is a prefix of the text, case-sensitively.
 */
static const char *const code_names[_PAM_RETURN_VALUES + 1] = { "success",
	"open_err", "symbol_err", "service_err", "system_err", "buf_err",
	"perm_denied", "auth_err", "cred_insufficient", "authinfo_unavail",
	"user_unknown", "maxtries", "new_authtok_reqd", "acct_expired",
	"session_err", "cred_unavail", "cred_expired", "cred_err",
	"no_module_data", "conv_err", "authtok_err", "authtok_recover_err",
	"authtok_lock_busy", "authtok_disable_aging", "try_again", "ignore",
	"abort", "authtok_expired", "module_unknown", "bad_item", "conv_again",
	"incomplete", "default" };

/* Index is -action. */
static const char *const action_names[] = { "ignore", "ok", "done", "bad",
	"die", "reset" };
#define NACTIONS ((int)(sizeof(action_names) / sizeof(action_names[0])))

/* What pam_ion.so returns from pam_sm_authenticate, success first. */
static const int ion_codes[] = { PAM_SUCCESS, PAM_AUTH_ERR,
	PAM_AUTHINFO_UNAVAIL, PAM_USER_UNKNOWN, PAM_SERVICE_ERR, PAM_CONV_ERR,
	PAM_BUF_ERR, PAM_SYSTEM_ERR, PAM_PERM_DENIED };
#define NION_CODES (sizeof(ion_codes) / sizeof(ion_codes[0]))

enum kind { H_MODULE, H_MUST_FAIL, H_SUBSTACK };
/*
 * R_NOAUTH: modules whose success authenticates no one (they check or
 * set something about the session, or let anyone in), R_OTHER the rest,
 * which may authenticate the person (pam_unix, pam_sss, pam_exec ...).
 */
enum role { R_OTHER, R_ION, R_DENY, R_PERMIT, R_NOAUTH, R_MISSING };

/*
 * Modules that may succeed, ignore or fail like any other, but whose
 * success says nothing about who the person is.  pam_rootok.so is not
 * among them: it vouches for a caller who is root already (su, the
 * stock stack), which is the fallback warning's to name, not a hole.
 */
static const char *const noauth_modules[] = { "pam_cap.so", "pam_debug.so",
	"pam_localuser.so", "pam_succeed_if.so", "pam_env.so",
	"pam_faildelay.so", "pam_group.so", "pam_faillock.so", "pam_nologin.so",
	"pam_securetty.so", "pam_shells.so", "pam_listfile.so",
	"pam_keyinit.so", "pam_umask.so", "pam_echo.so", "pam_warn.so",
	"pam_systemd.so", "pam_motd.so", "pam_mail.so", "pam_limits.so",
	"pam_access.so", "pam_time.so", "pam_loginuid.so" };
#define NNOAUTH (sizeof(noauth_modules) / sizeof(noauth_modules[0]))

struct handler {
	char file[PATH_MAX];
	unsigned lineno;
	char control[CONTROL_MAX + 2]; /* as written, brackets put back */
	char module[PATH_MAX];	       /* as written */
	char path[PATH_MAX];	       /* where libpam loads it from */
	char config[PATH_MAX];	       /* its config= argument, or "" */
	const char *parse_error;       /* libpam's complaint, or NULL */
	int actions[_PAM_RETURN_VALUES];
	int level;
	enum kind kind;
	enum role role;
	bool missing;	    /* libpam cannot load it: module_unknown */
	const char *absent; /* why not, when missing */
	bool silent;	    /* "-auth" */
};

struct stack {
	struct handler h[MAX_HANDLERS];
	size_t n;
	const char *dir, *module_dir;
	bool dist;	    /* also look in PAMD_DIST */
	char why[WHAT_MAX]; /* why it cannot be judged, or cannot be read */
};

/*
 * What the runs found (see terminal()), by the pam_ion line that failed
 * first on the path: the codes of that failure (bit per code) that end
 * the stack in success with no authenticating module succeeding after
 * it (free), or only after one (fallback, the first such line).
 */
struct verdict {
	uint32_t free_leak[MAX_HANDLERS];
	uint32_t fallback_leak[MAX_HANDLERS];
	unsigned fallback[MAX_HANDLERS];
	unsigned char before[MAX_HANDLERS]; /* 1 warn, 2 FAIL */
	bool ion_succeeds;
};

/*
 * One point of a run: _pam_dispatch_aux's state and what the path did.
 * Each pam_ion line returns any of its codes, independently.  Until a
 * pam_ion line runs, who is the first line that skipped one; after the
 * first pam_ion failure, the first authenticating module to succeed.
 */
struct path {
	unsigned pos, imp, st, prev;
	unsigned saved[MAX_LEVEL]; /* imp | st << 2 at entry; [0] unused */
	bool any;		   /* an authenticating module succeeded */
	bool ion_ok;		   /* a pam_ion line succeeded */
	unsigned who;		   /* the culprit, then the fallback */
	unsigned failed;	   /* the first pam_ion line that failed */
	unsigned code;		   /* and its code */
};

struct seen {
	uint64_t *slot, *todo;
	size_t used, ntodo;
};

static int stack_error(struct stack *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets why; returns -2, "cannot judge". */
static int
stack_error(struct stack *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return -2;
}

/*
 * libpam's _pam_StrTok over " \n\t": the next word, or a "[...]" taken
 * whole without its brackets ("\]" inside kept as "]"); NULL at the end.
 */
static char *
pam_tok(char **next, bool *bracketed)
{
	char *from = *next, *end, *to;

	if (bracketed != NULL)
		*bracketed = false;
	if (from == NULL)
		return NULL;
	from += strspn(from, " \n\t");
	if (*from == '[') {
		if (bracketed != NULL)
			*bracketed = true;
		for (to = end = ++from; *end != '\0' && *end != ']';
		     ++to, ++end) {
			if (*end == '\\' && end[1] == ']')
				++end;
			if (to != end)
				*to = *end;
		}
		if (to != end)
			*to = '\0';
	} else if (*from != '\0')
		end = from + strcspn(from, " \n\t");
	else {
		*next = NULL;
		return NULL;
	}
	if (*end != '\0')
		*end++ = '\0';
	*next = *end != '\0' ? end : NULL;
	return from;
}

static void
set_default(int *actions, int act)
{
	int i;

	for (i = 0; i < _PAM_RETURN_VALUES; i++)
		if (actions[i] == ACT_UNDEF)
			actions[i] = act;
}

static const char *
skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/*
 * One action at *p (ignore ... reset, or a jump), as libpam reads it.
 * libpam adds a jump's digits into an int unchecked; Debian's build
 * wraps it modulo 2^32, so any number reads as some int: 4294967297 as
 * a jump of 1, 4294967295 as ok (-1), 4294967290 as "undefined" (-6,
 * which a later default= fills), 2147483648 as a negative number no
 * action has (a bad jump), 4294967296 as 0 (an error).
 */
static const char *
parse_action(const char **pp, int *ret_act)
{
	const char *p = *pp;
	unsigned n = 0;
	int a;

	for (a = 0; a < NACTIONS; a++)
		if (strncmp(action_names[a], p, strlen(action_names[a])) == 0) {
			*pp = p + strlen(action_names[a]);
			*ret_act = -a;
			return NULL;
		}
	if (!isdigit((unsigned char)*p))
		return "expecting jump number";
	do
		n = n * 10 + (unsigned)(*p - '0');
	while (*++p != '\0' && isdigit((unsigned char)*p));
	if (n == 0)
		return "expecting non-zero";
	*pp = p;
	*ret_act = n <= INT_MAX ? (int)n : -(int)(UINT_MAX - n) - 1;
	return NULL;
}

/*
 * libpam's _pam_parse_control: "code=action ..." with spaces allowed
 * around '='; a code's last value wins, "default" fills only the codes
 * still unset.  On an error every code becomes bad (libpam logs it and
 * uses the line so); returns the error, or NULL.
 */
static const char *
parse_control(int *actions, const char *tok)
{
	const char *err = NULL;
	int code, act, i;

	while (*(tok = skip_space(tok)) != '\0') {
		for (code = 0; code <= _PAM_RETURN_VALUES; code++)
			if (strncmp(code_names[code], tok,
				strlen(code_names[code])) == 0)
				break;
		if (code > _PAM_RETURN_VALUES ||
		    *(tok += strlen(code_names[code])) == '\0') {
			err = "expecting return value";
			break;
		}
		tok = skip_space(tok);
		if (*tok++ != '=') {
			err = "expecting '='";
			break;
		}
		if (*(tok = skip_space(tok)) == '\0') {
			err = "expecting action";
			break;
		}
		if ((err = parse_action(&tok, &act)) != NULL)
			break;
		if (code != _PAM_RETURN_VALUES)
			actions[code] = act;
		else
			set_default(actions, act);
	}
	if (err != NULL)
		for (i = 0; i < _PAM_RETURN_VALUES; i++)
			actions[i] = ACT_BAD;
	return err;
}

/* The actions of a keyword control; false if tok is none. */
static bool
keyword_control(int *actions, const char *tok)
{
	int success, rest;

	if (strcasecmp(tok, "required") == 0)
		success = ACT_OK, rest = ACT_BAD;
	else if (strcasecmp(tok, "requisite") == 0)
		success = ACT_OK, rest = ACT_DIE;
	else if (strcasecmp(tok, "optional") == 0)
		success = ACT_OK, rest = ACT_IGNORE;
	else if (strcasecmp(tok, "sufficient") == 0)
		success = ACT_DONE, rest = ACT_IGNORE;
	else
		return false;
	actions[PAM_SUCCESS] = success;
	actions[PAM_NEW_AUTHTOK_REQD] = success;
	if (rest != ACT_IGNORE)
		actions[PAM_IGNORE] = ACT_IGNORE;
	set_default(actions, rest);
	return true;
}

static const char *
basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* Where libpam loads mod from, and what running it can return. */
static void
set_role(const struct stack *s, struct handler *h)
{
	const char *base = basename_of(h->module);
	struct stat st;
	size_t i;
	int n;

	if (h->module[0] == '/')
		n = snprintf(h->path, sizeof(h->path), "%s", h->module);
	else
		n = snprintf(h->path, sizeof(h->path), "%s/%s", s->module_dir,
		    h->module);
	/*
	 * A path too long to name a file names none, and dlopen loads
	 * nothing from a directory: module_unknown.
	 */
	if (n < 0 || (size_t)n >= sizeof(h->path) || stat(h->path, &st) == -1)
		h->absent = "does not exist";
	else if (!S_ISREG(st.st_mode))
		h->absent = "is not a regular file";
	h->missing = h->absent != NULL;
	if (strcmp(base, MODULE_NAME) == 0)
		h->role = R_ION;
	else if (h->missing)
		h->role = R_MISSING;
	else if (strcmp(base, "pam_deny.so") == 0)
		h->role = R_DENY;
	else if (strcmp(base, "pam_permit.so") == 0)
		h->role = R_PERMIT;
	else
		h->role = R_OTHER;
	for (i = 0; i < NNOAUTH && h->role == R_OTHER; i++)
		if (strcmp(base, noauth_modules[i]) == 0)
			h->role = R_NOAUTH;
}

static int
add_handler(struct stack *s, const struct handler *h)
{
	if (s->n == MAX_HANDLERS)
		return stack_error(s, "%s:%u: more than %d auth lines", h->file,
		    h->lineno, MAX_HANDLERS);
	s->h[s->n++] = *h;
	return 0;
}

static int read_file(struct stack *s, const char *name, int level, int depth);

/*
 * include or substack of name: its auth lines in place, a substack's one
 * level down behind a marker line that jumps count as one line.  A file
 * libpam cannot load becomes a line that fails with every code bad, as
 * in libpam.
 */
static int
include(struct stack *s, struct handler *h, const char *name, bool substack,
    int depth)
{
	int r;

	if (substack) {
		if (h->level + 1 >= MAX_LEVEL)
			return stack_error(s,
			    "%s:%u: substacks nest deeper than %d", h->file,
			    h->lineno, MAX_LEVEL - 1);
		h->kind = H_SUBSTACK;
		if ((r = add_handler(s, h)) != 0)
			return r;
	}
	r = name == NULL ? -1 : read_file(s, name, h->level + substack, depth);
	if (r != -1)
		return r;
	h->kind = H_MUST_FAIL;
	set_default(h->actions, ACT_BAD);
	snprintf(h->module, sizeof(h->module), "%s", name != NULL ? name : "");
	return add_handler(s, h);
}

/*
 * Debian's @include: a file it cannot open makes libpam refuse the whole
 * service (pam_start fails with PAM_ABORT), not one line.  Returns -3.
 */
static int
at_include(
    struct stack *s, const struct handler *h, const char *name, int depth)
{
	char why[sizeof(s->why)];
	int r;

	if (name != NULL && (r = read_file(s, name, h->level, depth)) != -1)
		return r;
	snprintf(why, sizeof(why), "%s", name != NULL ? s->why : "no file");
	/* Cut short, the message still names the file and the reason. */
	if (snprintf(s->why, sizeof(s->why),
		"@include at %s:%u: %s: libpam refuses the whole service",
		h->file, h->lineno, why) < 0)
		s->why[0] = '\0';
	return -3;
}

/* The control token: keyword, include, substack, or [...] parsed. */
static int
control(struct stack *s, struct handler *h, char *tok, bool br, char **next,
    int depth)
{
	if (strlen(tok) >= CONTROL_MAX)
		return stack_error(s,
		    "%s:%u: a control longer than %d characters", h->file,
		    h->lineno, CONTROL_MAX - 1);
	snprintf(h->control, sizeof(h->control), br ? "[%s]" : "%s", tok);
	if (strcasecmp(tok, "include") == 0 || strcasecmp(tok, "substack") == 0)
		return include(s, h, pam_tok(next, NULL),
		    strcasecmp(tok, "substack") == 0, depth);
	if (!keyword_control(h->actions, tok)) {
		h->parse_error = parse_control(h->actions, tok);
		set_default(h->actions, ACT_BAD);
	}
	return 1; /* a module line follows */
}

/* One line as _pam_parse_conf_file reads it (buf is changed). */
static int
parse_line(struct stack *s, char *buf, struct handler *h, int depth)
{
	char *next = buf, *type, *tok, *arg;
	bool br;
	int i, r;

	if ((type = pam_tok(&next, NULL)) == NULL)
		return 0;
	if (strcasecmp(type, "@include") == 0) /* Debian's libpam */
		return at_include(s, h, pam_tok(&next, NULL), depth);
	h->silent = type[0] == '-';
	type += h->silent;
	/* An unknown type is an auth line that fails (most sensitive). */
	if (strcasecmp(type, "account") == 0 ||
	    strcasecmp(type, "session") == 0 ||
	    strcasecmp(type, "password") == 0)
		return 0;
	h->kind = strcasecmp(type, "auth") == 0 ? H_MODULE : H_MUST_FAIL;
	for (i = 0; i < _PAM_RETURN_VALUES; i++)
		h->actions[i] = ACT_UNDEF;
	if ((tok = pam_tok(&next, &br)) == NULL) {
		set_default(h->actions, ACT_BAD);
		h->kind = H_MUST_FAIL;
	} else if ((r = control(s, h, tok, br, &next, depth)) <= 0)
		return r;
	if ((tok = pam_tok(&next, NULL)) == NULL)
		h->kind = H_MUST_FAIL;
	else if (strlen(tok) >= sizeof(h->module))
		return stack_error(
		    s, "%s:%u: a module path too long", h->file, h->lineno);
	else
		snprintf(h->module, sizeof(h->module), "%s", tok);
	while ((arg = pam_tok(&next, NULL)) != NULL)
		if (strncmp(arg, CONFIG_ARG, strlen(CONFIG_ARG)) == 0)
			snprintf(h->config, sizeof(h->config), "%s",
			    arg + strlen(CONFIG_ARG));
	if (h->kind == H_MODULE)
		set_role(s, h);
	return add_handler(s, h);
}

/*
 * The next logical line of f as libpam's _pam_assemble_line builds it in
 * its 1024-byte buffer: blank and comment-only lines skipped (also
 * between continued ones), '#' ends the line, a trailing backslash
 * (before white space) joins the next line.  libpam splits a line longer
 * than its buffer into two and refuses a longer continued one: we judge
 * neither.  Returns 1, 0 at the end, or -2.
 */
static int
assemble(struct stack *s, FILE *f, const char *path, unsigned *ln,
    unsigned *first, char buf[LIBPAM_BUF])
{
	char *phys = NULL, *os, *t;
	size_t cap = 0, off = 0;
	bool used = false;
	ssize_t n;
	int r;

	for (;;) {
		if ((n = getline(&phys, &cap, f)) == -1) {
			r = used ? stack_error(s,
				       "%s:%u: the file ends in a continued "
				       "line",
				       path, *ln)
				 : 0;
			break;
		}
		++*ln;
		if ((size_t)n > LIBPAM_BUF - 1 - off ||
		    memchr(phys, '\0', (size_t)n) != NULL) {
			r = stack_error(s,
			    "%s:%u: longer than the %d characters libpam "
			    "reads as one line",
			    path, *ln, LIBPAM_BUF - 1);
			break;
		}
		memcpy(buf + off, phys, (size_t)n + 1);
		os = buf + off + strspn(buf + off, " \n\t");
		if (*os == '\0' || *os == '#')
			continue;
		if (!used)
			*first = *ln;
		used = true;
		if ((t = strchr(os, '#')) != NULL) {
			*t = '\0';
			r = 1;
			break;
		}
		t = os + strlen(os);
		while (t > os && (*--t == ' ' || *t == '\t' || *t == '\n'))
			;
		if (*t != '\\') {
			r = 1;
			break;
		}
		*t++ = ' ';
		*t = '\0';
		off = (size_t)(t - buf);
	}
	free(phys);
	return r;
}

/*
 * The auth lines of name at level.  Returns 0, -1 when the file cannot
 * be opened (why set), -2 when it cannot be judged, -3 when libpam would
 * refuse the service.
 */
static int
read_file(struct stack *s, const char *name, int level, int depth)
{
	char path[PATH_MAX], buf[LIBPAM_BUF];
	struct handler *h = NULL;
	unsigned ln = 0;
	FILE *f = NULL;
	int r;

	if (depth > MAX_DEPTH)
		return stack_error(
		    s, "%s: includes nest deeper than %d", name, MAX_DEPTH);
	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	if ((f = fopen(path, "re")) == NULL && s->dist && name[0] != '/') {
		snprintf(path, sizeof(path), "%s/%s", PAMD_DIST, name);
		f = fopen(path, "re");
	}
	if (f == NULL) {
		snprintf(
		    s->why, sizeof(s->why), "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((h = malloc(sizeof(*h))) == NULL) {
		r = stack_error(s, "out of memory");
		goto out;
	}
	for (;;) {
		memset(h, 0, sizeof(*h));
		snprintf(h->file, sizeof(h->file), "%s", path);
		h->level = level;
		if ((r = assemble(s, f, path, &ln, &h->lineno, buf)) <= 0)
			break;
		if ((r = parse_line(s, buf, h, depth + 1)) < 0)
			break;
	}
out:
	free(h);
	fclose(f);
	return r;
}

/* --- the runs ------------------------------------------------------ */

static uint64_t
pack(const struct path *p)
{
	uint64_t k = p->pos | p->imp << 9 | p->st << 11 | p->prev << 12;
	int l;

	for (l = 1; l < MAX_LEVEL; l++)
		k |= (uint64_t)p->saved[l] << (15 + 3 * (l - 1));
	return k | (uint64_t)p->any << 36 | (uint64_t)p->ion_ok << 37 |
	    (uint64_t)p->who << 38 | (uint64_t)p->failed << 47 |
	    (uint64_t)p->code << 56 | (uint64_t)1 << 63;
}

static void
unpack(uint64_t k, struct path *p)
{
	int l;

	p->pos = k & 511;
	p->imp = (k >> 9) & 3;
	p->st = (k >> 11) & 1;
	p->prev = (k >> 12) & 7;
	p->saved[0] = IMP_UNDEF | ST_FAIL << 2;
	for (l = 1; l < MAX_LEVEL; l++)
		p->saved[l] = (k >> (15 + 3 * (l - 1))) & 7;
	p->any = (k >> 36) & 1;
	p->ion_ok = (k >> 37) & 1;
	p->who = (k >> 38) & 511;
	p->failed = (k >> 47) & 511;
	p->code = (k >> 56) & 31;
}

/* Queues p unless seen; -1 when there are too many states to judge. */
static int
visit(struct seen *v, const struct path *p)
{
	const size_t mask = ((size_t)1 << SEEN_BITS) - 1;
	uint64_t k = pack(p);
	size_t i = (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 40) & mask;

	while (v->slot[i] != 0) {
		if (v->slot[i] == k)
			return 0;
		i = (i + 1) & mask;
	}
	if (v->used >= mask / 2)
		return -1;
	v->slot[i] = k;
	v->used++;
	v->todo[v->ntodo++] = k;
	return 0;
}

/* Whether a code among out[from..n) has action a on h. */
static bool
acted(const struct handler *h, const int *out, size_t from, size_t n, int a)
{
	for (; from < n; from++)
		if (h->actions[out[from]] == a)
			return true;
	return false;
}

/* The codes line h can return; n of them. */
static size_t
outcomes(const struct handler *h, int *out)
{
	size_t n = 0;
	int c;

	if (h->kind == H_MUST_FAIL)
		out[n++] = PAM_PERM_DENIED; /* libpam's PAM_MUST_FAIL_CODE */
	else if (h->role == R_ION && h->missing)
		out[n++] = PAM_MODULE_UNKNOWN;
	else if (h->role == R_ION)
		for (; n < NION_CODES; n++)
			out[n] = ion_codes[n];
	else if (h->role == R_MISSING)
		out[n++] = PAM_MODULE_UNKNOWN;
	else if (h->role == R_DENY)
		out[n++] = PAM_AUTH_ERR;
	else if (h->role == R_PERMIT)
		out[n++] = PAM_SUCCESS;
	else {
		/*
		 * Failures that act alike are one outcome: only success and
		 * ignore set the status apart.  PAM_INCOMPLETE suspends the
		 * stack and resumes it at the same line.
		 */
		out[n++] = PAM_SUCCESS;
		out[n++] = PAM_IGNORE;
		for (c = 1; c < PAM_INCOMPLETE; c++)
			if (c != PAM_IGNORE &&
			    !acted(h, out, 2, n, h->actions[c]))
				out[n++] = c;
	}
	return n;
}

/* The line after the last one at h's level or deeper from i on. */
static size_t
level_end(const struct stack *s, size_t i)
{
	int lvl = s->h[i].level;

	while (i + 1 < s->n && s->h[i + 1].level >= lvl)
		i++;
	return i + 1;
}

/* The line after a jump of n from i, or NONE for a jump past the end. */
static size_t
jump(const struct stack *s, size_t i, int n)
{
	int lvl = s->h[i].level;

	while (i + 1 < s->n && s->h[i + 1].level >= lvl && n > 0) {
		do
			i++;
		while (i + 1 < s->n && s->h[i + 1].level > lvl);
		n--;
	}
	return n > 0 ? NONE : i + 1;
}

/* _pam_dispatch_aux's step for line p->pos returning r. */
static void
step(const struct stack *s, struct path *p, int r)
{
	size_t i = p->pos, next = i + 1, j;
	const struct handler *h = &s->h[i];
	bool ran = p->ion_ok || p->failed != NONE;
	int a = h->actions[r];

	if (h->role == R_OTHER && r == PAM_SUCCESS) {
		p->any = true;
		if (p->failed != NONE && p->who == NONE)
			p->who = (unsigned)i;
	}
	if (a == ACT_RESET) {
		p->imp = p->saved[h->level] & 3;
		p->st = p->saved[h->level] >> 2;
	} else if (a == ACT_OK || a == ACT_DONE) {
		if (p->imp == IMP_UNDEF ||
		    (p->imp == IMP_POS && p->st == ST_SUCCESS)) {
			p->imp = IMP_POS;
			p->st = r == PAM_SUCCESS ? ST_SUCCESS : ST_FAIL;
		}
		if (p->imp == IMP_POS && a == ACT_DONE)
			next = level_end(s, i);
	} else if (a == ACT_BAD || a == ACT_DIE) {
		if (p->imp != IMP_NEG) {
			p->imp = IMP_NEG;
			p->st = ST_FAIL;
		}
		if (a == ACT_DIE)
			next = level_end(s, i);
	} else if (a > 0 && (j = jump(s, i, a)) != NONE)
		next = j;
	else if (a != ACT_IGNORE) {
		/*
		 * "bad jump in stack": a jump past the end goes on past
		 * its level, a negative number no action has (wrapped) on
		 * at the next line; both fail.
		 */
		p->imp = IMP_NEG;
		p->st = ST_FAIL;
		if (a > 0)
			next = level_end(s, i);
	}
	for (j = i + 1; j < next && !ran && p->who == NONE; j++)
		if (s->h[j].role == R_ION && s->h[j].kind == H_MODULE)
			p->who = (unsigned)i;
	if (h->role == R_ION && h->kind == H_MODULE && !p->ion_ok) {
		/* Only what follows the first failure counts from here. */
		if (!ran)
			p->who = NONE, p->any = false;
		if (r == PAM_SUCCESS) {
			p->ion_ok = true;
			p->who = p->failed = NONE;
			p->code = 0;
		} else if (p->failed == NONE) {
			p->failed = (unsigned)i;
			p->code = (unsigned)r;
		}
	}
	p->pos = (unsigned)next;
	p->prev = (unsigned)h->level;
}

/* A path at the end of the stack: what its outcome says. */
static void
terminal(const struct path *p, struct verdict *v)
{
	unsigned char level;

	if (p->st != ST_SUCCESS || p->imp != IMP_POS)
		return;
	if (p->ion_ok)
		v->ion_succeeds = true;
	else if (p->failed == NONE) {
		level = p->any ? 1 : 2;
		if (p->who != NONE && v->before[p->who] < level)
			v->before[p->who] = level;
	} else if (p->who == NONE)
		v->free_leak[p->failed] |= (uint32_t)1 << p->code;
	else {
		v->fallback_leak[p->failed] |= (uint32_t)1 << p->code;
		if (p->who < v->fallback[p->failed])
			v->fallback[p->failed] = p->who;
	}
}

/* Every path of the stack; -1: too many. */
static int
run(const struct stack *s, struct seen *v, struct verdict *out)
{
	const size_t cap = (size_t)1 << SEEN_BITS;
	struct path p, q;
	int rets[_PAM_RETURN_VALUES];
	size_t i, n;

	memset(v->slot, 0, cap * sizeof(*v->slot));
	v->used = v->ntodo = 0;
	memset(&p, 0, sizeof(p));
	p.saved[0] = IMP_UNDEF | ST_FAIL << 2;
	p.who = p.failed = NONE;
	if (visit(v, &p) != 0)
		return -1;
	while (v->ntodo > 0) {
		unpack(v->todo[--v->ntodo], &p);
		if (p.pos >= s->n) {
			terminal(&p, out);
			continue;
		}
		if ((int)p.prev < s->h[p.pos].level)
			p.saved[s->h[p.pos].level] = p.imp | p.st << 2;
		if (s->h[p.pos].kind == H_SUBSTACK) {
			q = p;
			q.prev = (unsigned)s->h[p.pos].level;
			q.pos++;
			if (visit(v, &q) != 0)
				return -1;
			continue;
		}
		n = outcomes(&s->h[p.pos], rets);
		for (i = 0; i < n; i++) {
			q = p;
			step(s, &q, rets[i]);
			if (visit(v, &q) != 0)
				return -1;
		}
	}
	return 0;
}

/*
 * All runs: every pam_ion line returning each of its codes (a missing
 * one module_unknown).  -1 when there are too many states.
 */
static int
judge(const struct stack *s, struct verdict *out)
{
	const size_t cap = (size_t)1 << SEEN_BITS;
	struct seen v = { NULL, NULL, 0, 0 };
	size_t i;
	int r = -1;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < MAX_HANDLERS; i++)
		out->fallback[i] = NONE;
	if ((v.slot = calloc(cap, sizeof(*v.slot))) == NULL ||
	    (v.todo = calloc(cap, sizeof(*v.todo))) == NULL)
		goto out;
	if (run(s, &v, out) != 0)
		goto out;
	r = 0;
out:
	free(v.todo);
	free(v.slot);
	return r;
}

/* --- the findings -------------------------------------------------- */

struct out {
	const struct tool_findings *to;
	const char *service;
};

static void say(const struct out *o, const char *level, const char *fix,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
say(const struct out *o, const char *level, const char *fix, const char *fmt,
    ...)
{
	char what[WHAT_MAX + 256];
	int n = snprintf(what, sizeof(what), "pam stack %s: ", o->service);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what + n, sizeof(what) - (size_t)n, fmt, ap);
	va_end(ap);
	o->to->emit(o->to->ctx, level, fix, what);
}

/* The codes set in leak, space-separated, in ion_codes' order. */
static void
code_list(uint32_t leak, char *out, size_t outlen)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < NION_CODES + 1; i++) {
		int c = i < NION_CODES ? ion_codes[i] : PAM_MODULE_UNKNOWN;
		int n;

		if ((leak & (uint32_t)1 << c) == 0 || used >= outlen)
			continue;
		n = snprintf(out + used, outlen - used, "%s%s",
		    used > 0 ? " " : "", code_names[c]);
		if (n > 0)
			used += (size_t)n;
	}
}

/* Lines before pam_ion that can end the stack in success without it. */
static void
say_before(const struct out *o, const struct stack *s, const struct verdict *v)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct handler *h = &s->h[i];

		if (v->before[i] == 2)
			say(o, "FAIL",
			    "make every way to the end of the stack go through "
			    "pam_ion.so (pam_ion(8))",
			    "%s (%s:%u, control %s) can end the stack in "
			    "success before pam_ion runs, with no module "
			    "succeeding that authenticates anyone",
			    h->module, h->file, h->lineno, h->control);
		else if (v->before[i] == 1)
			say(o, "warn",
			    "move pam_ion.so above it, or make it requisite",
			    "%s (%s:%u, control %s) can end the stack in "
			    "success before pam_ion runs",
			    h->module, h->file, h->lineno, h->control);
	}
}

/*
 * What follows a pam_ion failure, by the pam_ion line that failed first:
 * nothing, a fallback, or a hole.
 */
static void
say_failure(const struct out *o, const struct stack *s,
    const struct handler *ion, const struct verdict *v)
{
	char codes[256];
	const struct handler *h, *fb;
	bool hole = false, fallback = false;
	size_t i;

	for (i = 0; i < s->n; i++) {
		h = &s->h[i];
		code_list(v->free_leak[i], codes, sizeof(codes));
		if (codes[0] == '\0')
			continue;
		hole = true;
		say(o, "FAIL",
		    "make a pam_ion failure fail the stack: \"auth "
		    "required " MODULE_NAME
		    "\", or a success jump over \"auth requisite "
		    "pam_deny.so\" onto \"auth required pam_permit.so\" "
		    "(pam_ion(8))",
		    "%s (%s:%u, control %s) lets a pam_ion failure (%s) end "
		    "the stack in success with no other module authenticating "
		    "the person after it",
		    h->module, h->file, h->lineno, h->control, codes);
	}
	for (i = 0; i < s->n && !hole; i++) {
		h = &s->h[i];
		code_list(v->fallback_leak[i], codes, sizeof(codes));
		if (codes[0] == '\0')
			continue;
		fallback = true;
		fb = &s->h[v->fallback[i]];
		if (strcmp(codes, "authinfo_unavail") == 0)
			say(o, "warn",
			    "fine for a fallback, as strong as that module; "
			    "for iON only use authinfo_unavail=die "
			    "(pam_ion(8))",
			    "control %s falls back to %s (%s:%u) when iON or "
			    "the relay cannot be reached, or the sign-in times "
			    "out: anyone who waits out login_timeout gets it",
			    h->control, fb->module, fb->file, fb->lineno);
		else
			say(o, "warn",
			    "use required or requisite, or a success jump over "
			    "\"auth requisite pam_deny.so\"",
			    "control %s lets a pam_ion failure (%s) through to "
			    "%s (%s:%u)",
			    h->control, codes, fb->module, fb->file,
			    fb->lineno);
	}
	if (!hole && !fallback)
		say(o, "ok", NULL,
		    "control %s: a pam_ion failure fails the stack",
		    ion->control);
}

/* The line itself: its module file, "-auth", controls libpam refuses. */
static void
say_lines(const struct out *o, const struct stack *s, const struct handler *ion,
    const char *checked)
{
	const char *reads =
	    ion->config[0] != '\0' ? ion->config : ION_CFG_DEFAULT_PATH;
	size_t i;

	if (checked != NULL && strcmp(reads, checked) != 0)
		say(o, "warn", "run pam-ion check --config with that file",
		    "pam_ion.so reads %s, not the checked %s", reads, checked);
	if (ion->missing)
		say(o, "FAIL",
		    "install libpam-ion, or give the module's path "
		    "(pam_ion(8))",
		    "%s (%s:%u) %s: the line returns module_unknown", ion->path,
		    ion->file, ion->lineno, ion->absent);
	if (ion->silent)
		say(o, "warn", "write \"auth\", not \"-auth\"",
		    "\"-auth\" only keeps libpam from logging a missing "
		    "pam_ion.so: the line still runs, and then returns "
		    "module_unknown");
	for (i = 0; i < s->n; i++)
		if (s->h[i].parse_error != NULL)
			say(o, "warn",
			    "write code=action pairs libpam knows, code names "
			    "in lower case (pam.conf(5))",
			    "control %s (%s:%u) does not parse (%s): libpam "
			    "takes every code as bad",
			    s->h[i].control, s->h[i].file, s->h[i].lineno,
			    s->h[i].parse_error);
}

void
tool_stack_check(const char *pamd_dir, const char *module_dir,
    const char *service, const char *checked, const struct tool_findings *to)
{
	struct stack *s = calloc(1, sizeof(*s));
	struct out o = { to, service };
	const struct handler *ion = NULL;
	struct verdict v;
	size_t i;
	int r;

	if (s == NULL)
		return;
	s->dir = pamd_dir != NULL ? pamd_dir : PAMD_DEFAULT;
	s->dist = pamd_dir == NULL;
	s->module_dir = module_dir != NULL ? module_dir : PAM_ION_LIBPAM_DIR;
	if ((r = read_file(s, service, 0, 0)) == -1) {
		say(&o, "FAIL", "give the service's name with --service", "%s",
		    s->why);
		goto out;
	}
	if (r == -3) {
		say(&o, "FAIL", "create the file, or remove the @include", "%s",
		    s->why);
		goto out;
	}
	if (r == -2) {
		say(&o, "FAIL",
		    "write the stack so that libpam reads it plainly (lines "
		    "under 1024 characters, controls under 256)",
		    "cannot judge %s", s->why);
		goto out;
	}
	for (i = 0; i < s->n && ion == NULL; i++)
		if (s->h[i].role == R_ION && s->h[i].kind == H_MODULE)
			ion = &s->h[i];
	if (ion == NULL) {
		say(&o, "FAIL",
		    "add \"auth required " MODULE_NAME "\" (pam_ion(8))",
		    "no " MODULE_NAME " auth line");
		goto out;
	}
	say(&o, "ok", NULL, "%s at %s:%u", ion->module, ion->file, ion->lineno);
	say_lines(&o, s, ion, checked);
	if (judge(s, &v) != 0) {
		say(&o, "FAIL", "simplify the stack",
		    "cannot judge: more states of the stack than %d",
		    1 << (SEEN_BITS - 1));
		goto out;
	}
	say_before(&o, s, &v);
	say_failure(&o, s, ion, &v);
	if (!v.ion_succeeds && !ion->missing)
		say(&o, "warn",
		    "let a pam_ion success end the stack in success: "
		    "\"auth required " MODULE_NAME "\" with nothing after it "
		    "that must fail",
		    "control %s: even a pam_ion success ends the stack in "
		    "failure: it denies every sign-in",
		    ion->control);
out:
	free(s);
}
