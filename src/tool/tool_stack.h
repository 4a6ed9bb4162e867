/*
 * pam-ion check's judgement of a service's PAM auth stack.  The stack is
 * read as libpam 1.5.2 reads it (_pam_assemble_line, _pam_StrTok,
 * _pam_parse_control with its jump numbers wrapping as an int, include
 * and substack, Debian's @include in any case) and run as its
 * _pam_dispatch_aux runs it, every pam_ion.so line returning each code
 * pam_ion.so can return independently of the others, with every outcome
 * of the other lines: pam_deny.so always fails (auth_err), pam_permit.so
 * always succeeds, a module whose file is missing or not a regular file
 * returns module_unknown, a line libpam cannot use returns perm_denied,
 * and any other module may succeed, ignore or fail with any code its
 * control treats differently.  A success authenticates the person
 * unless the module is pam_permit.so or one known to authenticate no
 * one (pam_cap, pam_succeed_if, pam_env, pam_faildelay ...:
 * noauth_modules in tool_stack.c, listed in pam-ion(8)); any other module
 * (pam_unix, pam_sss, pam_exec, and pam_rootok, which vouches for a caller
 * who is root already) may.
 *
 * The findings (see pam-ion(8)):
 *   - FAIL when a pam_ion failure can end the stack in PAM_SUCCESS with no
 *     pam_ion line succeeding and no authenticating module succeeding
 *     after the first pam_ion failure, when a line before pam_ion can end
 *     the stack in success without any authenticating module succeeding,
 *     when the stack has no pam_ion.so line or its file is missing, and
 *     when a line cannot be judged (longer than libpam reads, a control
 *     longer than 255 characters, too many lines, or too many states of
 *     the runs: the finding says so) rather than guessed;
 *   - warn when a pam_ion failure needs an authenticating module's
 *     success after it (the password fallback), when a line before
 *     pam_ion can end the stack in success before pam_ion runs, when even
 *     a pam_ion success cannot end the stack in success, for a control
 *     libpam cannot parse, for "-auth" on the pam_ion line, and when the
 *     line's config= is not the file checked;
 *   - ok otherwise.
 */
#ifndef ION_TOOL_STACK_H
#define ION_TOOL_STACK_H

#include "tool.h"

/*
 * Judges the auth stack of service in pamd_dir (NULL: /etc/pam.d, then
 * /usr/lib/pam.d, as libpam looks), with relative module paths under
 * module_dir (NULL: libpam's directory for this architecture).  checked
 * is the configuration pam-ion check read, or NULL.  Prints nothing
 * itself; every finding goes to out.
 */
void tool_stack_check(const char *pamd_dir, const char *module_dir,
    const char *service, const char *checked, const struct tool_findings *out);

#endif
