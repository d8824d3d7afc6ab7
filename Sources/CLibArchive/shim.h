#ifndef FAB_CLIBARCHIVE_SHIM_H
#define FAB_CLIBARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#endif
