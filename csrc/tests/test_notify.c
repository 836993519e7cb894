/*
 * test_notify.c — ar_sd_notify speaks systemd's notification protocol: one
 * datagram to $NOTIFY_SOCKET, path or abstract ('@') address.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "arianna.h"
#include "check.h"

/* Bind a datagram socket at `name` ('@' = abstract) and return it. */
static int listen_at(const char *name) {
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(a.sun_path, name, len);
    if (name[0] == '@') a.sun_path[0] = '\0';
    if (bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) != 0) {
        perror("bind");
        exit(2);
    }
    return fd;
}

static void expect_message(int fd, const char *want) {
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(n == (ssize_t)strlen(want) && strcmp(buf, want) == 0, "received '%s', wanted '%s'", buf, want);
}

int main(void) {
    unsetenv("NOTIFY_SOCKET");
    CHECK(ar_sd_notify("READY=1") == 0, "no NOTIFY_SOCKET: nothing sent, no error");

    char path[128];
    snprintf(path, sizeof path, "/tmp/arianna-notify-%d.sock", (int)getpid());
    unlink(path);
    int fd = listen_at(path);
    setenv("NOTIFY_SOCKET", path, 1);
    CHECK(ar_sd_notify("READY=1") == 1, "sent to a path socket");
    expect_message(fd, "READY=1");
    CHECK(ar_sd_notify("WATCHDOG=1\nSTATUS=serving") == 1, "multi-line state");
    expect_message(fd, "WATCHDOG=1\nSTATUS=serving");
    CHECK(ar_sd_notify("") == AR_E_ARG && ar_sd_notify(NULL) == AR_E_ARG, "empty state refused");
    close(fd);
    unlink(path);

    char abstract[64];
    snprintf(abstract, sizeof abstract, "@arianna-notify-%d", (int)getpid());
    fd = listen_at(abstract);
    setenv("NOTIFY_SOCKET", abstract, 1);
    CHECK(ar_sd_notify("WATCHDOG=1") == 1, "sent to an abstract socket");
    expect_message(fd, "WATCHDOG=1");
    close(fd);

    setenv("NOTIFY_SOCKET", "/nonexistent/arianna.sock", 1);
    CHECK(ar_sd_notify("READY=1") == AR_E_IO && strlen(ar_last_error()) > 0, "a dead socket is an I/O error");
    return check_summary("notify");
}
