#ifndef FAB_CLIBARCHIVE_SHIM_H
#define FAB_CLIBARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <stddef.h>

/* libarchive is opened on first use (dlopen), not linked: with libxml2, a second ICU and five
   compression libraries behind it, loading it at start took about 3 ms of CPU from every fab run,
   and most runs (a listing, a task that reads no package) never open an archive. FabArchive calls
   libarchive only through the table below (LibArchive.swift). */

/* The libarchive functions FabArchive uses; add a function here before calling it. */
#define FAB_LIBARCHIVE_FUNCTIONS(X) \
    X(archive_entry_filetype) \
    X(archive_entry_free) \
    X(archive_entry_gid) \
    X(archive_entry_gname) \
    X(archive_entry_hardlink) \
    X(archive_entry_mtime) \
    X(archive_entry_new) \
    X(archive_entry_pathname) \
    X(archive_entry_perm) \
    X(archive_entry_set_filetype) \
    X(archive_entry_set_gid) \
    X(archive_entry_set_gname_utf8) \
    X(archive_entry_set_mtime) \
    X(archive_entry_set_pathname_utf8) \
    X(archive_entry_set_perm) \
    X(archive_entry_set_size) \
    X(archive_entry_set_symlink_utf8) \
    X(archive_entry_set_uid) \
    X(archive_entry_set_uname_utf8) \
    X(archive_entry_size) \
    X(archive_entry_symlink) \
    X(archive_entry_uid) \
    X(archive_entry_uname) \
    X(archive_errno) \
    X(archive_error_string) \
    X(archive_read_data) \
    X(archive_read_data_block) \
    X(archive_read_data_skip) \
    X(archive_read_free) \
    X(archive_read_new) \
    X(archive_read_next_header) \
    X(archive_read_open) \
    X(archive_read_open_fd) \
    X(archive_read_support_filter_all) \
    X(archive_read_support_filter_none) \
    X(archive_read_support_format_ar) \
    X(archive_read_support_format_tar) \
    X(archive_write_add_filter_gzip) \
    X(archive_write_add_filter_none) \
    X(archive_write_close) \
    X(archive_write_data) \
    X(archive_write_finish_entry) \
    X(archive_write_free) \
    X(archive_write_header) \
    X(archive_write_new) \
    X(archive_write_open2) \
    X(archive_write_set_filter_option) \
    X(archive_write_set_format) \

/* The table: each field has the type of the libarchive function of its name. */
struct fab_libarchive {
#define FAB_LIBARCHIVE_FIELD(name) __typeof__(name) * _Nonnull name;
    FAB_LIBARCHIVE_FUNCTIONS(FAB_LIBARCHIVE_FIELD)
#undef FAB_LIBARCHIVE_FIELD
};

/* Opens libarchive.so.13 and fills the table once; returns it, or NULL with *error set to what
   failed (dlerror's text). Not thread-safe: its one caller (LibArchive.swift) runs it once. */
static inline const struct fab_libarchive *fab_libarchive_open(const char *_Nullable *_Nonnull error) {
    static struct fab_libarchive table;
    void *handle = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        *error = dlerror();
        return NULL;
    }
#define FAB_LIBARCHIVE_BIND(name) \
    if ((*(void **)&table.name = dlsym(handle, #name)) == NULL) { *error = dlerror(); return NULL; }
    FAB_LIBARCHIVE_FUNCTIONS(FAB_LIBARCHIVE_BIND)
#undef FAB_LIBARCHIVE_BIND
    *error = NULL;
    return &table;
}
#endif
