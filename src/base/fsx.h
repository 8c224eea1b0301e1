/*
 * fsx.h - file-system helpers the subsystems share. Any thread (but two
 * threads must not remove the same tree at once).
 */
#ifndef KILN_FSX_H
#define KILN_FSX_H

#include "base/kiln.h"

/* Removes a directory tree (files, links, subdirectories); never follows
 * symbolic links. Missing paths are not an error. */
void fsx_remove_tree(const char *dir);

#endif
