/*
 * What the person at the terminal sees and answers, independent of PAM:
 * the module's glue (pam_ion.c) turns struct ion_conv into pam_conv calls,
 * the unit tests into scripts (test_login.c), and pam-ion login
 * (src/tool/tool_login.c) into terminal I/O.
 *
 * Plain text only (OpenSSH clients escape control characters in prompts),
 * and no message longer than ION_MSG_MAX bytes: some conversation functions
 * truncate at Linux-PAM's PAM_MAX_MSG_SIZE (512), so a QR code goes out as
 * several messages of whole lines.
 */
#ifndef ION_PROMPT_H
#define ION_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define ION_MSG_MAX 512
#define ION_CONV_MAX_MSGS 32

enum ion_msg_style { ION_MSG_INFO, ION_MSG_ERROR, ION_MSG_PROMPT };

struct ion_msg {
	enum ion_msg_style style;
	const char *text;
};

struct ion_conv {
	/*
	 * Shows n messages in one exchange; when the last one is a prompt,
	 * *ret_answer gets the (malloc'd) answer.  0 or ION_ERR_CONV.
	 */
	int (*converse)(
	    void *arg, const struct ion_msg *msgs, size_t n, char **ret_answer);
	void *arg;
	bool silent; /* PAM_SILENT: no info messages */
};

/*
 * Builds the messages that show the link: the QR code (per cfg->qr) cut
 * into messages of whole lines, the link as text, how long it stays valid,
 * and, with prompt, the prompt itself as the last message.  Strings are
 * owned by *ret_text (one allocation, free() it).
 */
int ion_prompt_link_msgs(const struct ion_cfg *cfg, const char *link,
    unsigned valid_seconds, const char *prompt, struct ion_msg *msgs, size_t *n,
    char **ret_text);

/*
 * Normalises a typed confirmation code: digits only (spaces and dashes
 * dropped), exactly 6.  False for anything else; out holds 7 bytes.
 */
bool ion_prompt_parse_code(const char *typed, char out[7]);

#endif
