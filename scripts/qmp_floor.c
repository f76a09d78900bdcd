/*
 * qmp_floor: the least a QMP peer can do, as a yardstick for the benchmarks.
 *
 * It listens on a unix socket, sends a QMP greeting to each client and then
 * answers every newline-terminated request at once with a fixed query-status
 * reply, echoing the request's "id" verbatim when it has one.  It parses
 * nothing else and checks nothing: it is not a QMP server, only the cost of a
 * separate process reading a request and writing a reply on this machine,
 * measured by the same client as QEMU and vmd.  Whatever a real server adds
 * on top of this figure is its own; what this figure costs is the machine's
 * (system calls, wake-ups, scheduling).
 *
 * Usage: qmp_floor SOCKET_PATH     (serves one client at a time until killed)
 *
 * The benchmark client sends one request per line, "id" as the last member,
 * which is all this program understands.
 */

#define _GNU_SOURCE /* memmem, memrchr */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char GREETING[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n";
static const char REPLY_HEAD[] = "{\"return\": {\"running\": false, \"singlestep\": false, \"status\": \"prelaunch\"}";
static const char ID_KEY[] = "\"id\":";

enum { IN_SIZE = 1 << 16, OUT_SIZE = 1 << 20, MAX_LINE = 4096 };

static char in[IN_SIZE + MAX_LINE];
static char out[OUT_SIZE];

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Append the reply to one request line to out[*used]; flush first if full. */
static int reply(int fd, const char *line, size_t len, size_t *used)
{
    const char *id = memmem(line, len, ID_KEY, sizeof ID_KEY - 1);
    size_t id_len = 0;
    if (id) {
        id += sizeof ID_KEY - 1;
        const char *end = memrchr(id, '}', len - (size_t)(id - line));
        id_len = end ? (size_t)(end - id) : 0;
    }
    size_t need = sizeof REPLY_HEAD + id_len + 16;
    if (*used + need > sizeof out) {
        if (write_all(fd, out, *used))
            return -1;
        *used = 0;
    }
    char *p = out + *used;
    memcpy(p, REPLY_HEAD, sizeof REPLY_HEAD - 1);
    p += sizeof REPLY_HEAD - 1;
    if (id_len) {
        memcpy(p, ", \"id\":", 7);
        memcpy(p + 7, id, id_len);
        p += 7 + id_len;
    }
    memcpy(p, "}\r\n", 3);
    *used = (size_t)(p + 3 - out);
    return 0;
}

static void serve(int fd)
{
    size_t kept = 0; /* bytes of an unfinished line at the start of in[] */
    if (write_all(fd, GREETING, sizeof GREETING - 1))
        return;
    for (;;) {
        ssize_t n = read(fd, in + kept, IN_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        size_t have = kept + (size_t)n, start = 0, used = 0;
        for (;;) {
            char *nl = memchr(in + start, '\n', have - start);
            if (!nl)
                break;
            if (reply(fd, in + start, (size_t)(nl - (in + start)), &used))
                return;
            start = (size_t)(nl - in) + 1;
        }
        if (used && write_all(fd, out, used))
            return;
        kept = have - start;
        if (kept > MAX_LINE)
            return; /* not a client of ours */
        memmove(in, in + start, kept);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "%s: socket path too long\n", argv[0]);
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    signal(SIGPIPE, SIG_IGN);
    int lsock = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(argv[1]);
    if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof addr) || listen(lsock, 4)) {
        perror(argv[1]);
        return 1;
    }
    for (;;) {
        int fd = accept(lsock, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            perror("accept");
            return 1;
        }
        serve(fd);
        close(fd);
    }
}
