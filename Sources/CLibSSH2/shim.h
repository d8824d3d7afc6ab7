#ifndef FAB_CLIBSSH2_SHIM_H
#define FAB_CLIBSSH2_SHIM_H
#include <stdlib.h>
#include <string.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <errno.h>
#include <time.h>

/* libssh2 exposes many calls as function-like macros, which Swift cannot import.
   These inline wrappers give them names Swift can call. */

static inline LIBSSH2_SESSION *fab_libssh2_session_init(void *abstract) {
    return libssh2_session_init_ex(NULL, NULL, NULL, abstract);
}
static inline int fab_libssh2_session_disconnect(LIBSSH2_SESSION *s, const char *why) {
    return libssh2_session_disconnect_ex(s, SSH_DISCONNECT_BY_APPLICATION, why, "");
}
static inline LIBSSH2_CHANNEL *fab_libssh2_channel_open_session(LIBSSH2_SESSION *s) {
    return libssh2_channel_open_ex(s, "session", sizeof("session") - 1,
                                   LIBSSH2_CHANNEL_WINDOW_DEFAULT, LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
}
static inline LIBSSH2_CHANNEL *fab_libssh2_channel_direct_tcpip(LIBSSH2_SESSION *s, const char *host, int port) {
    return libssh2_channel_direct_tcpip_ex(s, host, port, "127.0.0.1", 22);
}
static inline int fab_libssh2_channel_exec(LIBSSH2_CHANNEL *c, const char *command, unsigned int length) {
    return libssh2_channel_process_startup(c, "exec", sizeof("exec") - 1, command, length);
}
static inline int fab_libssh2_channel_subsystem(LIBSSH2_CHANNEL *c, const char *name) {
    return libssh2_channel_process_startup(c, "subsystem", sizeof("subsystem") - 1, name, (unsigned int)strlen(name));
}
static inline int fab_libssh2_channel_request_pty(LIBSSH2_CHANNEL *c, const char *term, unsigned int termLength, int width, int height) {
    return libssh2_channel_request_pty_ex(c, term, termLength, NULL, 0, width, height, 0, 0);
}
static inline ssize_t fab_libssh2_channel_read(LIBSSH2_CHANNEL *c, int stream, char *buf, size_t len) {
    return libssh2_channel_read_ex(c, stream, buf, len);
}
static inline ssize_t fab_libssh2_channel_write(LIBSSH2_CHANNEL *c, const char *buf, size_t len) {
    return libssh2_channel_write_ex(c, 0, buf, len);
}
static inline int fab_libssh2_channel_setenv(LIBSSH2_CHANNEL *c, const char *name, unsigned int nameLength, const char *value, unsigned int valueLength) {
    return libssh2_channel_setenv_ex(c, name, nameLength, value, valueLength);
}
static inline int fab_libssh2_channel_send_eof(LIBSSH2_CHANNEL *c) { return libssh2_channel_send_eof(c); }
static inline LIBSSH2_SFTP_HANDLE *fab_libssh2_sftp_open(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength, unsigned long flags, long mode, int type) {
    return libssh2_sftp_open_ex(sftp, path, pathLength, flags, mode, type);
}
static inline int fab_libssh2_sftp_stat(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength, int statType, LIBSSH2_SFTP_ATTRIBUTES *attrs) {
    return libssh2_sftp_stat_ex(sftp, path, pathLength, statType, attrs);
}
static inline int fab_libssh2_sftp_setstat(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength, LIBSSH2_SFTP_ATTRIBUTES *attrs) {
    return libssh2_sftp_stat_ex(sftp, path, pathLength, LIBSSH2_SFTP_SETSTAT, attrs);
}
static inline int fab_libssh2_sftp_rename(LIBSSH2_SFTP *sftp, const char *from, unsigned int fromLength, const char *to, unsigned int toLength, long flags) {
    return libssh2_sftp_rename_ex(sftp, from, fromLength, to, toLength, flags);
}
static inline int fab_libssh2_sftp_unlink(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength) {
    return libssh2_sftp_unlink_ex(sftp, path, pathLength);
}
static inline int fab_libssh2_sftp_mkdir(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength, long mode) {
    return libssh2_sftp_mkdir_ex(sftp, path, pathLength, mode);
}
static inline int fab_libssh2_sftp_rmdir(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength) {
    return libssh2_sftp_rmdir_ex(sftp, path, pathLength);
}
static inline LIBSSH2_SFTP_HANDLE *fab_libssh2_sftp_opendir(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength) {
    return libssh2_sftp_open_ex(sftp, path, pathLength, 0, 0, LIBSSH2_SFTP_OPENDIR);
}
static inline int fab_libssh2_sftp_close(LIBSSH2_SFTP_HANDLE *h) { return libssh2_sftp_close_handle(h); }
static inline int fab_libssh2_sftp_readdir(LIBSSH2_SFTP_HANDLE *h, char *buf, size_t len, LIBSSH2_SFTP_ATTRIBUTES *attrs) {
    return libssh2_sftp_readdir_ex(h, buf, len, NULL, 0, attrs);
}
static inline int fab_libssh2_sftp_realpath(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength, char *target, unsigned int targetLength) {
    return libssh2_sftp_symlink_ex(sftp, path, pathLength, target, targetLength, LIBSSH2_SFTP_REALPATH);
}
static inline int fab_libssh2_sftp_readlink(LIBSSH2_SFTP *sftp, const char *path, unsigned int pathLength, char *target, unsigned int targetLength) {
    return libssh2_sftp_symlink_ex(sftp, path, pathLength, target, targetLength, LIBSSH2_SFTP_READLINK);
}

/* Per-session context, passed to libssh2 as the session's abstract pointer:
   the keyboard-interactive answer and the time of the last bytes read from the peer
   (for ServerAlive-style dead-peer detection). */
typedef struct fab_session_context {
    const char *kbdintAnswer;
    unsigned int kbdintAnswerLength;
    int kbdintPromptsSeen;
    double lastReceive;
} fab_session_context;

static inline double fab_monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void fab_kbdint_callback(const char *name, int name_len, const char *instruction, int instruction_len,
                                       int num_prompts, const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts,
                                       LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses, void **abstract) {
    (void)name; (void)name_len; (void)instruction; (void)instruction_len; (void)prompts;
    fab_session_context *ctx = (fab_session_context *)*abstract;
    for (int i = 0; i < num_prompts; i++) {
        if (ctx && ctx->kbdintAnswer) {
            char *copy = (char *)malloc(ctx->kbdintAnswerLength + 1);
            memcpy(copy, ctx->kbdintAnswer, ctx->kbdintAnswerLength);
            responses[i].text = copy;
            responses[i].length = ctx->kbdintAnswerLength;
        } else {
            responses[i].text = NULL;
            responses[i].length = 0;
        }
    }
    if (ctx) ctx->kbdintPromptsSeen += num_prompts;
}
static inline int fab_libssh2_userauth_kbdint(LIBSSH2_SESSION *s, const char *user, unsigned int userLength) {
    return libssh2_userauth_keyboard_interactive_ex(s, user, userLength, fab_kbdint_callback);
}

/* A recv callback that records when the peer last sent anything. */
static inline ssize_t fab_recv_callback(libssh2_socket_t socket, void *buffer, size_t length, int flags, void **abstract) {
    ssize_t n = recv(socket, buffer, length, flags);
    if (n < 0) {
        int err = errno;
        return err == EINTR ? -EAGAIN : -err;
    }
    fab_session_context *ctx = (fab_session_context *)*abstract;
    if (n > 0 && ctx) ctx->lastReceive = fab_monotonic_seconds();
    return n;
}
static inline void fab_install_recv_callback(LIBSSH2_SESSION *s) {
    libssh2_session_callback_set(s, LIBSSH2_CALLBACK_RECV, (void *)fab_recv_callback);
}
static inline int fab_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
#endif
