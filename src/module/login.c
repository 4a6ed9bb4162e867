#include "login.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64url.h"
#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "http.h"
#include "idtoken.h"
#include "oidc.h"
#include "relay_proto.h"
#include "relayc.h"
#include "rules.h"
#include "usermap.h"

#define CONFIRM_TRIES 3
#define ANSWER_WAIT_S 5 /* after an answer, how long the result may take */
/*
 * A relay that fails a poll in a way that passes (busy, restarting, an
 * instance gone behind the proxy) is polled again after RETRY_PAUSE_MS
 * (or its Retry-After, if longer), until it has failed every poll for
 * RELAY_BLIP_MAX_MS: then it is down, and the sign-in ends as it would
 * have at the first failure.
 */
#define RETRY_PAUSE_MS 1000
#define RELAY_BLIP_MAX_MS 10000

/* The kernel's console devices (Documentation/admin-guide/devices.txt). */
#define TTY_MAJOR 4	 /* tty1..tty63, then ttyS0.. from minor 64 */
#define VT_MAX 63	 /* the last virtual console */
#define SERIAL_MINOR0 64 /* ttyS0 */
#define SERIAL_MAX 191	 /* ttyS191, minor 255 */
#define TTYAUX_MAJOR 5	 /* /dev/tty, /dev/console, /dev/ptmx */
#define CONSOLE_MINOR 1	 /* /dev/console */

#define PROMPT_CODE "After signing in, type the code shown on your phone: "
#define PROMPT_ENTER "After signing in on your phone, press Enter: "
#define PROMPT_AGAIN_CODE                                                      \
	"Not signed in yet. Finish signing in on your phone, then type the "   \
	"code shown there: "
#define PROMPT_AGAIN_ENTER                                                     \
	"Not signed in yet. Finish signing in on your phone, then press "      \
	"Enter: "
#define PROMPT_WRONG                                                           \
	"That code does not match. Type the code shown on your phone: "

/* Everything one sign-in holds; secrets are scrubbed in login_clear(). */
struct login {
	const struct ion_cfg *cfg;
	const struct ion_login_env *env;
	const struct ion_conv *conv;
	struct ion_http *http;
	struct ion_provider *provider;
	uint64_t deadline_ms;
	time_t started;
	bool confirm; /* ask for the confirmation code (see ion_login_run) */
	char secret[ION_TOKEN_CHARS + 1]; /* poll secret P, encoded */
	char state[ION_TOKEN_CHARS + 1];
	char nonce[ION_TOKEN_CHARS + 1];
	char verifier[ION_TOKEN_CHARS + 1];
	char challenge[ION_TOKEN_CHARS + 1];
	char *authorize_url;
	char *link;
	unsigned link_valid;
	struct ion_relay_result result;
	struct ion_tokens tokens;
	json_t *claims;
	struct ion_login_stats stats;
	char maperr[256]; /* the user map's reason, when it is the why */
	char rulewhy[ION_RULE_WHY_MAX + 64]; /* the failed access rule */
};

static unsigned
seconds_left(const struct login *l)
{
	uint64_t now = ion_now_ms();

	return now >= l->deadline_ms
	    ? 0
	    : (unsigned)((l->deadline_ms - now) / 1000);
}

static void
login_clear(struct login *l)
{
	ion_scrub(l->secret, sizeof(l->secret));
	ion_scrub(l->verifier, sizeof(l->verifier));
	ion_relay_result_clear(&l->result);
	ion_tokens_clear(&l->tokens);
	json_decref(l->claims);
	free(l->authorize_url);
	free(l->link);
	ion_provider_free(&l->provider);
	ion_http_free(&l->http);
}

/* Poll secret, state, nonce and PKCE verifier/challenge, from the CSPRNG. */
static int
make_secrets(struct login *l)
{
	unsigned char raw[ION_SECRET_LEN], digest[ION_SHA256_LEN];
	int r;

	if ((r = ion_random_bytes(raw, sizeof(raw))) != 0)
		goto out;
	ion_b64url_encode(raw, sizeof(raw), l->secret);
	if ((r = ion_state_from_secret(
		 l->secret, strlen(l->secret), l->state)) != 0 ||
	    (r = ion_nonce_from_state(l->state, l->nonce)) != 0)
		goto out;
	if ((r = ion_random_bytes(raw, sizeof(raw))) != 0)
		goto out;
	ion_b64url_encode(raw, sizeof(raw), l->verifier);
	/* RFC 7636 S256: the challenge hashes the verifier's ASCII form. */
	if ((r = ion_sha256(l->verifier, strlen(l->verifier), NULL, 0, NULL, 0,
		 digest)) != 0)
		goto out;
	ion_b64url_encode(digest, sizeof(digest), l->challenge);
out:
	ion_scrub(raw, sizeof(raw));
	return r;
}

/* One message to the person; failures to show it do not matter. */
static void
tell(const struct login *l, enum ion_msg_style style, const char *text)
{
	struct ion_msg m = { style, text };

	if (l->conv->silent)
		return;
	(void)l->conv->converse(l->conv->arg, &m, 1, NULL);
}

/* Scrubs and frees what was typed (it may be a confirmation code). */
static void
forget(char *answer)
{
	if (answer == NULL)
		return;
	ion_scrub(answer, strlen(answer));
	free(answer);
}

/*
 * Shows n messages, the last a prompt; *ret_answer is what was typed
 * (free it with forget()).  0 or ION_ERR_CONV.
 */
static int
ask(const struct login *l, const struct ion_msg *msgs, size_t n,
    char **ret_answer, const char **why)
{
	char *answer = NULL;

	if (l->conv->converse(l->conv->arg, msgs, n, &answer) != 0 ||
	    answer == NULL) {
		forget(answer);
		*why = "conversation failed or was cancelled";
		return ION_ERR_CONV;
	}
	*ret_answer = answer;
	return 0;
}

static void
sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
		(long)(ms % 1000) * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * One poll, wait_s at most.  0 with l->result set, ION_ERR_PENDING,
 * ION_ERR_RETRY, or a failure.
 */
static int
poll_once(struct login *l, unsigned wait_s, const char **why)
{
	unsigned left = seconds_left(l);
	int r;

	if (left == 0) {
		*why = "login_timeout reached";
		return ION_ERR_TIMEOUT;
	}
	if (wait_s > left)
		wait_s = left;
	if (wait_s > ION_RELAY_WAIT_MAX_S)
		wait_s = ION_RELAY_WAIT_MAX_S;
	ion_relay_result_clear(&l->result);
	r = ion_relay_poll(l->http, l->cfg->relay_url, l->cfg->relay_key,
	    l->secret, wait_s, &l->result, why);
	/* The relay forgot the sign-in: its TTL ran out (or it restarted). */
	return r == ION_ERR_NOT_FOUND ? ION_ERR_TIMEOUT : r;
}

/*
 * After a poll that failed for now: 0 once the pause before the next poll
 * is over.  At once, ION_ERR_TIMEOUT when the pause would outlast the
 * sign-in, and ION_ERR_UNAVAIL (*why left as the relay's last failure)
 * when the relay has failed every poll since failing_since (ms) for
 * RELAY_BLIP_MAX_MS: it is down, not restarting.
 */
static int
pause_before_retry(struct login *l, uint64_t failing_since, const char **why)
{
	uint64_t now = ion_now_ms(), pause = RETRY_PAUSE_MS;

	if (l->result.retry_after_s * 1000 > pause)
		pause = l->result.retry_after_s * 1000;
	if (now + pause >= l->deadline_ms) {
		*why = "login_timeout reached";
		return ION_ERR_TIMEOUT;
	}
	if (now - failing_since + pause > RELAY_BLIP_MAX_MS)
		return ION_ERR_UNAVAIL;
	l->stats.relay_retries++;
	sleep_ms(pause);
	return 0;
}

/*
 * Polls the relay until a result, wait_s at most, riding out a relay that
 * fails for a moment (pause_before_retry()).  0 with l->result set,
 * ION_ERR_PENDING, or a failure.
 */
static int
collect(struct login *l, unsigned wait_s, const char **why)
{
	uint64_t failing_since = 0;
	int r;

	while ((r = poll_once(l, wait_s, why)) == ION_ERR_RETRY) {
		/* A relay that says it is busy is up: only the deadline counts.
		 */
		if (failing_since == 0 || l->result.busy)
			failing_since = ion_now_ms();
		if ((r = pause_before_retry(l, failing_since, why)) != 0)
			return r;
	}
	return r;
}

/* Polls until a result or a failure, not faster than twice a second. */
static int
collect_until_done(struct login *l, const char **why)
{
	uint64_t asked;
	int r;

	for (;;) {
		asked = ion_now_ms();
		if ((r = collect(l, ION_RELAY_WAIT_MAX_S, why)) !=
		    ION_ERR_PENDING)
			return r;
		/* A relay that answers "pending" at once (stopping) must not
		 * make us spin. */
		if (ion_now_ms() - asked < 1000)
			sleep_ms(500);
	}
}

/* Checks a typed confirmation code against the one for state and code. */
static bool
code_matches(const struct login *l, const char *typed)
{
	char want[ION_CONFIRM_DIGITS + 1], got[ION_CONFIRM_DIGITS + 1];
	bool ok;

	if (!ion_prompt_parse_code(typed, got) ||
	    ion_confirm_code(l->state, l->result.code, want) != 0)
		return false;
	ok = ion_ct_equal(want, got, ION_CONFIRM_DIGITS);
	ion_scrub(want, sizeof(want));
	return ok;
}

/*
 * A typed confirmation code, once the relay has the code: 0 when it
 * matches; ION_ERR_PENDING when it does not and *wrong (the count of wrong
 * ones) leaves another try; ION_ERR_ABORTED after the last.
 */
static int
judge_code(
    const struct login *l, const char *typed, unsigned *wrong, const char **why)
{
	if (code_matches(l, typed))
		return 0;
	if (++*wrong < CONFIRM_TRIES)
		return ION_ERR_PENDING;
	*why = "confirmation code wrong 3 times";
	return ION_ERR_ABORTED;
}

/* The relay's result is the provider's error answer. */
static int
provider_refused(const char **why)
{
	*why = "the provider answered with an error";
	return ION_ERR_REFUSED;
}

/*
 * An answer at the prompt: 0 when the sign-in may go on; ION_ERR_PENDING
 * to ask again (no code yet, or a wrong one with tries left); a failure.
 */
static int
judge_answer(
    struct login *l, const char *answer, unsigned *wrong, const char **why)
{
	int r;

	if (seconds_left(l) == 0) {
		*why = "login_timeout reached";
		return ION_ERR_TIMEOUT;
	}
	/* The code may still be on its way when the answer comes. */
	if (l->result.code == NULL && l->result.error == NULL) {
		r = collect(l, answer[0] != '\0' ? ANSWER_WAIT_S : 0, why);
		if (r != 0 && r != ION_ERR_PENDING)
			return r;
	}
	if (l->result.error != NULL)
		return provider_refused(why);
	if (l->result.code == NULL)
		return ION_ERR_PENDING;
	return l->confirm ? judge_code(l, answer, wrong, why) : 0;
}

/*
 * prompt = enter: the QR code goes out with a prompt (sshd holds info
 * messages until one); each answer makes us collect the result, and with
 * confirm the answer must be the code the phone shows.
 */
static int
wait_with_prompt(
    struct login *l, struct ion_msg *msgs, size_t n, const char **why)
{
	struct ion_msg single = { ION_MSG_PROMPT, NULL };
	const struct ion_msg *show = msgs;
	size_t nshow = n;
	unsigned wrong = 0;
	char *answer;
	int r;

	for (;;) {
		if ((r = ask(l, show, nshow, &answer, why)) != 0)
			return r;
		r = judge_answer(l, answer, &wrong, why);
		forget(answer);
		if (r != ION_ERR_PENDING)
			return r;
		if (l->result.code != NULL)
			single.text = PROMPT_WRONG;
		else
			single.text =
			    l->confirm ? PROMPT_AGAIN_CODE : PROMPT_AGAIN_ENTER;
		show = &single;
		nshow = 1;
	}
}

/*
 * prompt = auto: the QR code is shown and the module waits for the relay
 * by itself (console, kiosk); with confirm, the code is asked afterwards.
 */
static int
wait_by_itself(
    struct login *l, struct ion_msg *msgs, size_t n, const char **why)
{
	struct ion_msg prompt = { ION_MSG_PROMPT, PROMPT_CODE };
	unsigned wrong = 0;
	char *answer;
	int r;

	/* Shown even with PAM_SILENT: without it there is no sign-in. */
	if (l->conv->converse(l->conv->arg, msgs, n, NULL) != 0) {
		*why = "conversation failed";
		return ION_ERR_CONV;
	}
	if ((r = collect_until_done(l, why)) != 0)
		return r;
	if (l->result.error != NULL)
		return provider_refused(why);
	if (!l->confirm)
		return 0;
	for (;;) {
		if ((r = ask(l, &prompt, 1, &answer, why)) != 0)
			return r;
		r = judge_code(l, answer, &wrong, why);
		forget(answer);
		if (r != ION_ERR_PENDING)
			return r;
		prompt.text = PROMPT_WRONG;
	}
}

static bool
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/*
 * s is a decimal number from lo to hi, without a sign, white space or
 * leading zeros (so each device has one spelling); *ret_v its value.
 */
static bool
number_in(const char *s, unsigned lo, unsigned hi, unsigned *ret_v)
{
	unsigned v = 0;

	if (*s == '\0' || (*s == '0' && s[1] != '\0'))
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > hi)
			return false;
	}
	if (v < lo)
		return false;
	*ret_v = v;
	return true;
}

/* s without the prefix, or NULL when s does not start with it. */
static const char *
skip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/*
 * The list is short on purpose: a device not on it costs a typed code,
 * one wrongly on it lets a QR code sent elsewhere sign someone in.  The
 * virtual consoles and /dev/console are the screen and keyboard of the
 * machine; a serial line on ttyS is its console cable (a modem or a
 * terminal server there is the administrator's to judge, see
 * pam_ion.conf(5)).  Pseudo-terminals are what ssh, telnet, su, sudo and
 * terminal emulators allocate, so they say nothing about where the person
 * is; USB serial adapters (ttyUSB, ttyACM) are as often modems as
 * consoles.  X displays are not on it at all: ":1" is as much the display
 * of an Xvnc or x11vnc login screen, which a viewer anywhere reaches
 * without PAM_RHOST, as of the monitor on the desk.
 */
bool
ion_login_tty_name(const char *tty, dev_t *ret_rdev)
{
	const char *dev, *rest;
	unsigned n;

	if (tty == NULL)
		return false;
	dev = (rest = skip_prefix(tty, "/dev/")) != NULL ? rest : tty;
	if (strcmp(dev, "console") == 0) {
		*ret_rdev = makedev(TTYAUX_MAJOR, CONSOLE_MINOR);
		return true;
	}
	if ((rest = skip_prefix(dev, "ttyS")) != NULL) {
		if (!number_in(rest, 0, SERIAL_MAX, &n))
			return false;
		*ret_rdev = makedev(TTY_MAJOR, SERIAL_MINOR0 + n);
		return true;
	}
	if ((rest = skip_prefix(dev, "tty")) != NULL) {
		if (!number_in(rest, 1, VT_MAX, &n))
			return false;
		*ret_rdev = makedev(TTY_MAJOR, n);
		return true;
	}
	return false;
}

/*
 * A name says what kind of device was meant, not what is there: inside
 * an LXC-style container /dev/tty1 and /dev/console are pseudo-terminals
 * of the host bind-mounted in place (lxc-console, a web console), and
 * whoever reaches them may be anywhere.  So the node itself must be the
 * kernel's console device.  lstat, not stat: the name check leaves only
 * "/dev/" and a fixed name, and a symbolic link there is followed nowhere.
 */
bool
ion_login_tty_device(const char *tty, dev_t rdev,
    int (*statf)(const char *path, struct stat *st))
{
	char path[32];
	struct stat st;
	const char *dev, *rest;
	int n;

	if (tty == NULL)
		return false;
	dev = (rest = skip_prefix(tty, "/dev/")) != NULL ? rest : tty;
	n = snprintf(path, sizeof(path), "/dev/%s", dev);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	memset(&st, 0, sizeof(st));
	if ((statf != NULL ? statf : lstat)(path, &st) != 0)
		return false;
	return S_ISCHR(st.st_mode) && major(st.st_rdev) == major(rdev) &&
	    minor(st.st_rdev) == minor(rdev);
}

/*
 * confirm = no is for a kiosk or a console greeter, where whoever sees the
 * QR code started the login.  With PAM_RHOST (sshd) or PAM_RUSER (su,
 * sudo) someone else may have, and could send the QR code to a victim:
 * without the code typed here, the victim's sign-in would let them in.
 * Both items are set by the application when it cares to, so their
 * absence proves nothing (a web console may set neither): the login must
 * also name a local terminal in PAM_TTY, and that terminal must be the
 * real device.
 */
enum ion_confirm
ion_login_confirm(const struct ion_cfg *cfg, const struct ion_login_env *env)
{
	dev_t rdev;

	if (cfg->confirm)
		return ION_CONFIRM_YES;
	if (nonempty(env->rhost))
		return ION_CONFIRM_REMOTE;
	if (nonempty(env->ruser))
		return ION_CONFIRM_RUSER;
	if (!nonempty(env->tty))
		return ION_CONFIRM_NO_TTY;
	if (!ion_login_tty_name(env->tty, &rdev))
		return ION_CONFIRM_TTY;
	if (!ion_login_tty_device(env->tty, rdev, env->tty_stat))
		return ION_CONFIRM_TTY_DEVICE;
	return ION_CONFIRM_NO;
}

/* Also for an access rule not met: the person learns no more. */
#define RULE_MESSAGE "Your iON account is not allowed on this machine."

static const char *
person_message(int r)
{
	switch (r) {
	case ION_ERR_UNAVAIL:
		return "iON sign-in is not available right now.";
	case ION_ERR_TIMEOUT:
		return "iON sign-in took too long. Start again.";
	case ION_ERR_REFUSED:
		return "iON sign-in was cancelled or refused.";
	case ION_ERR_ABORTED:
		return "The code did not match. iON sign-in stopped.";
	case ION_ERR_NO_USER:
		return RULE_MESSAGE;
	default:
		return "iON sign-in failed.";
	}
}

/* What a sign-in starts from: who asks, how long it may take. */
static void
login_init(struct login *l, const struct ion_cfg *cfg,
    const struct ion_login_env *env, const struct ion_conv *conv)
{
	memset(l, 0, sizeof(*l));
	l->cfg = cfg;
	l->env = env;
	l->conv = conv;
	l->started = time(NULL);
	l->stats.started = l->started;
	l->stats.confirm = ion_login_confirm(cfg, env);
	l->confirm = l->stats.confirm != ION_CONFIRM_NO;
	l->deadline_ms = ion_now_ms() + (uint64_t)cfg->login_timeout * 1000;
}

/*
 * The HTTP client, the secrets, the provider's endpoints and the
 * authorize URL for this sign-in.
 */
static int
prepare(struct login *l, const char **why)
{
	const struct ion_cfg *cfg = l->cfg;
	struct ion_http_opts hopts;
	int r;

	memset(&hopts, 0, sizeof(hopts));
	hopts.ca_file = cfg->ca_file;
	hopts.ca_path = cfg->ca_path;
	hopts.proxy = cfg->proxy;
	hopts.timeout_ms = cfg->http_timeout * 1000;
	hopts.deadline_ms = l->deadline_ms;
	if ((r = ion_http_new(&hopts, &l->http)) != 0) {
		*why = "cannot set up HTTP";
		return r;
	}
	if ((r = make_secrets(l)) != 0) {
		*why = "no random bytes";
		return r;
	}
	if ((r = ion_oidc_discover(l->http, cfg, &l->provider, why)) != 0)
		return r;
	/* With PAR, before the relay sees the URL: it cannot change it. */
	return ion_oidc_authorize(l->http, cfg, l->provider, l->state, l->nonce,
	    l->challenge, &l->authorize_url, &l->stats.pushed, why);
}

/* Hands the relay the authorize URL; l->link is what the person opens. */
static int
register_at_relay(struct login *l, const char **why)
{
	const struct ion_login_env *env = l->env;
	struct ion_relay_login reg;
	int r;

	memset(&reg, 0, sizeof(reg));
	reg.key = l->cfg->relay_key;
	reg.secret = l->secret;
	reg.state = l->state;
	reg.authorize_url = l->authorize_url;
	reg.host = env->host;
	reg.user = env->user != NULL ? env->user : "";
	reg.rhost = env->rhost != NULL ? env->rhost : "";
	reg.service = env->service;
	reg.confirm = l->confirm;
	r = ion_relay_register(
	    l->http, l->cfg->relay_url, &reg, &l->link, &l->link_valid, why);
	/*
	 * The relay refused what we sent, or this host's key: a config
	 * problem.  Anything else: a relay that does not work.
	 */
	if (r == ION_ERR_INVALID)
		return ION_ERR_CONFIG;
	if (r != 0 && r != ION_ERR_TIMEOUT && r != ION_ERR_CONFIG)
		return ION_ERR_UNAVAIL;
	/* The link is good for as long as both the relay and we wait. */
	if (r == 0 && l->link_valid > seconds_left(l))
		l->link_valid = seconds_left(l);
	return r;
}

/* Shows the link and waits for the relay's result (and the typed code). */
static int
show_and_wait(struct login *l, uint64_t t0_us, const char **why)
{
	struct ion_msg msgs[ION_CONV_MAX_MSGS];
	const char *prompt = NULL;
	char *text = NULL;
	size_t n = 0;
	int r;

	if (l->cfg->prompt == ION_PROMPT_ENTER)
		prompt = l->confirm ? PROMPT_CODE : PROMPT_ENTER;
	r = ion_prompt_link_msgs(
	    l->cfg, l->link, l->link_valid, prompt, msgs, &n, &text);
	if (r != 0) {
		*why = "cannot render the QR code";
		return r;
	}
	l->stats.time_to_qr_us = (unsigned long)(ion_now_us() - t0_us);
	r = l->cfg->prompt == ION_PROMPT_ENTER
	    ? wait_with_prompt(l, msgs, n, why)
	    : wait_by_itself(l, msgs, n, why);
	free(text);
	return r;
}

/*
 * The code for tokens, the id_token verified, and userinfo when the claims
 * do not name the account by themselves.
 */
static int
redeem(struct login *l, const char **why)
{
	int r;

	if ((r = ion_oidc_check_iss(l->provider, l->result.iss, why)) != 0 ||
	    (r = ion_oidc_exchange(l->http, l->cfg, l->provider, l->result.code,
		 l->verifier, &l->tokens, why)) != 0 ||
	    (r = ion_oidc_verify(l->http, l->cfg, l->provider,
		 l->tokens.id_token, l->nonce, l->started, &l->claims, why)) !=
		0)
		return r;
	ion_idtoken_subject(
	    l->claims, l->stats.subject, sizeof(l->stats.subject));
	if ((!ion_idtoken_needs_userinfo(l->claims, l->cfg->user_claim) &&
		!ion_rules_need_userinfo(l->cfg, l->claims)) ||
	    l->tokens.access_token == NULL ||
	    l->provider->userinfo_endpoint == NULL)
		return 0;
	return ion_oidc_userinfo(
	    l->http, l->provider, l->tokens.access_token, l->claims, why);
}

/*
 * The access rules (rules.h) on the verified claims, before the account:
 * a person the rules turn away learns nothing about the user map.
 */
static int
check_rules(struct login *l, const char **why)
{
	int r;

	if ((r = ion_rules_check(l->cfg, l->claims, time(NULL), l->started,
		 l->rulewhy, sizeof(l->rulewhy))) != 0)
		*why = l->rulewhy;
	return r;
}

/*
 * The local account the verified claims map to, which must be the one
 * asked for (or, with user_from_token and none asked for, any).
 */
static int
map_account(struct login *l, char **ret_user, const char **why)
{
	const struct ion_cfg *cfg = l->cfg;
	const char *asked = l->env->user;
	char *user = NULL;
	int r;

	r = ion_usermap_lookup(cfg->user_map_file, cfg->user_claim, l->claims,
	    &user, l->maperr, sizeof(l->maperr));
	if (r == ION_ERR_NO_USER)
		*why = "no local account for this identity";
	else if (r == ION_ERR_AUTH)
		*why = "email not verified";
	else if (r != 0)
		*why = l->maperr;
	else if (asked != NULL && strcmp(asked, user) != 0) {
		/* sshd refuses a login whose user a module changed. */
		r = ION_ERR_AUTH;
		*why = "the identity maps to another account";
	} else if (asked == NULL && !cfg->user_from_token) {
		r = ION_ERR_CONFIG;
		*why = "no user given and user_from_token = no";
	} else {
		*ret_user = user;
		user = NULL; /* transferred */
	}
	free(user);
	return r;
}

int
ion_login_run(const struct ion_cfg *cfg, const struct ion_login_env *env,
    const struct ion_conv *conv, char **ret_user, json_t **ret_claims,
    char *why, size_t whylen, struct ion_login_stats *stats)
{
	struct login l;
	const char *reason = "internal error";
	uint64_t t0_us = ion_now_us();
	int r;

	login_init(&l, cfg, env, conv);
	if ((r = prepare(&l, &reason)) != 0 ||
	    (r = register_at_relay(&l, &reason)) != 0 ||
	    (r = show_and_wait(&l, t0_us, &reason)) != 0 ||
	    (r = redeem(&l, &reason)) != 0 ||
	    (r = check_rules(&l, &reason)) != 0 ||
	    (r = map_account(&l, ret_user, &reason)) != 0)
		goto out;
	reason = "signed in";
out:
	if (ret_claims != NULL && l.claims != NULL)
		*ret_claims = json_incref(l.claims);
	if (r != 0 && r != ION_ERR_CONV)
		tell(&l, ION_MSG_ERROR,
		    reason == l.rulewhy ? RULE_MESSAGE : person_message(r));
	if (l.http != NULL)
		l.stats.http_requests = ion_http_request_count(l.http);
	if (stats != NULL)
		*stats = l.stats;
	snprintf(why, whylen, "%s", reason);
	login_clear(&l);
	return r;
}
