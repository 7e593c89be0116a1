/* Settings: INI files ([section] then key = value; '#' or ';' starts a comment) overridden by
 * command-line arguments of the form --section.key=value. Every value remembers where it came
 * from, so errors say "configs/demo.ini:12: train.lr: expected a number, got 'fast'". */
#ifndef LONGTAIL_CONFIG_H
#define LONGTAIL_CONFIG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_config lt_config;

int lt_config_new(lt_config **out);
void lt_config_free(lt_config *c);
/* Parse an INI file into c (later values replace earlier ones). */
int lt_config_load(lt_config *c, const char *path);
/* Parse INI text; `origin` names it in messages. */
int lt_config_parse(lt_config *c, const char *text, const char *origin);
/* Set "section.key" = value; origin is shown in messages ("command line"). */
int lt_config_set(lt_config *c, const char *dotted_key, const char *value, const char *origin);
/* Take every "--section.key=value" argument out of argv (compacting it); returns the new argc
 * or a negative error for a malformed one ("--train.lr" without '='). */
int lt_config_apply_args(lt_config *c, int argc, char **argv);

/* Look-ups. A missing key gives the default; a present but malformed value is an error
 * (LT_ECONFIG) naming its origin. */
const char *lt_config_str(const lt_config *c, const char *key, const char *def);
int lt_config_int(const lt_config *c, const char *key, int64_t def, int64_t *out);
int lt_config_float(const lt_config *c, const char *key, double def, double *out);
int lt_config_bool(const lt_config *c, const char *key, int def, int *out);
int lt_config_has(const lt_config *c, const char *key);

/* Iterate: returns 0 and fills key/value/origin for entry i, or LT_ENOENT past the end. */
int lt_config_entry(const lt_config *c, int i, const char **key, const char **value,
                    const char **origin);

#ifdef __cplusplus
}
#endif
#endif
