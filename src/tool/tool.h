/*
 * pam-ion, the administrator's tool: a thin front on the module's own core
 * (ion_core), so it reads the configuration, the user map and the cache
 * exactly as pam_ion.so does.  Each subcommand is one function taking its
 * parsed options and returning the process's exit status.
 */
#ifndef ION_TOOL_H
#define ION_TOOL_H

#include <stdbool.h>

#include "config.h"

/* Exit statuses (pam-ion(8), EXIT STATUS). */
#define TOOL_OK 0
#define TOOL_FAIL 1
#define TOOL_USAGE 2

struct tool_opts {
	const char *config;	 /* --config FILE, or NULL: the default */
	const char *service;	 /* --service NAME (check) */
	const char *pamd_dir;	 /* --pam-dir DIR (check) */
	const char *sshd_config; /* --sshd-config FILE (check) */
	const char *match;	 /* --match SPEC (check): sshd -T -C SPEC */
	const char *module_dir;	 /* --module-dir DIR (check) */
	bool map_check;		 /* map --check */
	char **args;		 /* the operands */
	int nargs;
};

/* Where findings go: emit(ctx, "ok"|"warn"|"FAIL", fix or NULL, what). */
struct tool_findings {
	void (*emit)(
	    void *ctx, const char *level, const char *fix, const char *what);
	void *ctx;
};

/*
 * Loads the configuration as the module does with no arguments but
 * config=FILE.  On failure prints "pam-ion: MESSAGE" on stderr and returns
 * NULL.
 */
struct ion_cfg *tool_load_cfg(const struct tool_opts *o);
/* The same, leaving the message in err instead. */
struct ion_cfg *tool_load_cfg_quiet(
    const struct tool_opts *o, char err[ION_CFG_ERR_MAX]);

int tool_map(const struct tool_opts *o);
int tool_cache(const struct tool_opts *o);
int tool_check(const struct tool_opts *o);
int tool_login(const struct tool_opts *o);

#endif
