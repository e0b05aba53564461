/* pack.h: the parts of it-pack (one file per subcommand family). */
#ifndef IT_TOOLS_PACK_H
#define IT_TOOLS_PACK_H

#include <stdint.h>

#include "infotok/records.h"

/* Subcommands: argc/argv start at the subcommand's name. Return an exit status. */
int pack_create(int argc, char **argv, int merge);
int pack_verify(int argc, char **argv);
int pack_list(int argc, char **argv);
int pack_dump(int argc, char **argv);
int pack_elbo_stat(int argc, char **argv);
int pack_export(int argc, char **argv);
int pack_import(int argc, char **argv);

/* Kept tokens of a window, in raster order, into out (room for NT); returns the count. */
uint32_t pack_kept_tokens(const it_window_rec *r, uint16_t *out);

#endif
