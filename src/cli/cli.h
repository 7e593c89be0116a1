/* The subcommands of the longtail binary. Each takes the arguments after its name and returns
 * the process exit status: 0 success, 1 failure (message printed), 2 usage error. */
#ifndef LONGTAIL_CLI_H
#define LONGTAIL_CLI_H

int lt_cmd_info(int argc, char **argv);
int lt_cmd_synth(int argc, char **argv);

/* Print "longtail <cmd>: <message>" with the last error's detail; returns 1. */
int lt_cli_fail(const char *cmd, int code);

#endif
