/*
 * execbox-docker-init: process 1 of every Docker sandbox container.
 *
 * Theory of operation.  Docker reports a signal death as exit code 128+N and
 * removes the container's cgroup when it exits, so neither the raw wait status
 * nor the peak memory can be had from outside afterwards.  This init, compiled
 * statically on the host and bind-mounted read-only, is started by Docker as
 * root with only CAP_SETUID and CAP_SETGID, and before anything else (before
 * the program exists) it opens the cgroup files it will read and becomes the
 * run's lent host uid UID: real, effective and saved uid UID, real and
 * effective gid GID, saved gid 65534 (which clears every capability for good;
 * no_new_privileges keeps them gone).  It is then not dumpable, so the program,
 * though it has the same uid, can neither ptrace it nor open its /proc files
 * (its descriptors, memory); and since its saved gid is not the program's, the
 * program cannot prlimit() it either.  Signals sent from inside the container
 * are ignored (SIGKILL and SIGSTOP never reach a PID namespace's init, and
 * SIGTERM counts only from outside, where the sender's pid reads as 0).
 *
 * It then waits for the host's go, one byte ahead of the program's stdin (the
 * host sets the container's cgroup up once it has started: on cgroup v1, the
 * socket-buffer accounting, which must be on before the program makes a
 * socket).  It forks; the child sets its saved gid to GID too and execs the program with
 * the container's stdin and two pipes of its own as stdout and stderr.  The
 * init alone holds the container's stdout: it forwards what the program writes
 * there in frames, and sends its report as the last frame, so nothing the
 * program controls (a full /box, a planted file, its own output) can forge,
 * block or lose the report.  A frame is one type byte, a big-endian 32-bit
 * length and that many bytes:
 *
 *   1 = program stdout, 2 = program stderr, 3 = the report (one line):
 *
 *   KIND NUMBER WALL_NS CPU_NS PEAK_BYTES OOM_KILLS TIMED_OUT STOPPED [WHAT]
 *
 * KIND is "exit" (NUMBER the exit code), "signal" (NUMBER the signal),
 * "exec-error" (NUMBER the errno of a failed exec) or "sandbox-error": the init
 * itself failed (NUMBER the errno; WHAT names what failed), which the host
 * reports as its own failure, never as the program's status.
 *
 * The init reaps every process of the container's PID namespace, enforces the
 * wall-clock limit (from the fork, so Docker's own start-up is not billed to
 * the program), and on SIGTERM from the host (e.g. the output passed its cap)
 * kills everything.  When the program is gone it kills what is left (daemons),
 * forwards what is still in the pipes, reads the container's cgroup (peak
 * memory, CPU time, OOM kills) while it still exists, and reports.
 *
 * Usage: execbox-docker-init WALL_MS UID GID PROGRAM [ARGS...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_STDOUT 1
#define FRAME_STDERR 2
#define FRAME_REPORT 3
#define CHUNK 65536
#define INIT_SAVED_GID 65534 /* not the program's gid: prlimit() needs all three to match */

static volatile sig_atomic_t got_child, got_stop;

static void on_signal(int sig, siginfo_t *info, void *context) {
    (void)context;
    if (sig == SIGCHLD) {
        got_child = 1;
    } else if (info->si_pid == 0) {
        got_stop = 1; /* sent from outside the container's PID namespace: the host */
    }
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void write_all(int fd, const char *data, size_t size) {
    while (size > 0) {
        ssize_t done = write(fd, data, size);
        if (done < 0) {
            if (errno == EINTR) continue;
            return; /* the host is gone: nobody is left to tell */
        }
        data += done;
        size -= (size_t)done;
    }
}

static char frame[5 + CHUNK];
static char chunk[CHUNK];

static void send_frame(int type, const char *data, size_t size) {
    frame[0] = (char)type;
    frame[1] = (char)(size >> 24);
    frame[2] = (char)(size >> 16);
    frame[3] = (char)(size >> 8);
    frame[4] = (char)size;
    memcpy(frame + 5, data, size);
    write_all(STDOUT_FILENO, frame, size + 5);
}

/* Forward one read of the pipe *FD as a TYPE frame; closes it (sets -1) at end of file. */
static void forward(int *fd, int type) {
    ssize_t got = read(*fd, chunk, sizeof chunk);
    if (got > 0) {
        send_frame(type, chunk, (size_t)got);
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(*fd);
        *fd = -1;
    }
}

/* Everything still in the pipe *FD (its writers are all dead), then close it. */
static void drain(int *fd, int type) {
    while (*fd >= 0) {
        ssize_t got = read(*fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            close(*fd);
            *fd = -1;
            return;
        }
        send_frame(type, chunk, (size_t)got);
    }
}

static void report(const char *line) {
    send_frame(FRAME_REPORT, line, strlen(line));
}

/* The init could not do its job: one report saying what, instead of a status. */
static int sandbox_error(int err, const char *what) {
    char line[256];
    snprintf(line, sizeof line, "sandbox-error %d 0 0 0 0 0 0 %s\n", err, what);
    report(line);
    fprintf(stderr, "execbox-docker-init: %s: %s\n", what, strerror(err));
    return 126;
}

/* The first number in the open file FD after KEY (KEY "" = the first number); -1 if absent. */
static long long read_number(int fd, const char *key) {
    char buf[4096];
    if (fd < 0) return -1;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *at = buf;
    if (*key) {
        at = strstr(buf, key);
        if (!at) return -1;
        at += strlen(key);
    }
    while (*at == ' ') at++;
    if (*at < '0' || *at > '9') return -1;
    return strtoll(at, NULL, 10);
}

static int open_stat(const char *path) {
    return open(path, O_RDONLY | O_CLOEXEC);
}

struct stats {
    int cpu_v1, cpu_v2, peak_v1, peak_v2, oom_v1, oom_v2, tcp_peak_v1;
};

static long long cpu_ns(const struct stats *s) {
    long long cpu = read_number(s->cpu_v1, "");
    if (cpu >= 0) return cpu;
    long long usec = read_number(s->cpu_v2, "usage_usec");
    return usec < 0 ? -1 : usec * 1000;
}

static void kill_all_and_reap(pid_t child, int *status, int *child_done) {
    kill(-1, SIGKILL);
    for (;;) {
        int st;
        pid_t done = waitpid(-1, &st, __WALL);
        if (done == child && !*child_done) {
            *status = st;
            *child_done = 1;
        }
        if (done < 0 && errno == ECHILD) return;
    }
}

/* What the child tells the init when it cannot run the program. */
struct child_failure {
    int sandbox; /* 1: the privilege drop failed (the sandbox's fault); 0: the exec did */
    int err;
};

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: execbox-docker-init WALL_MS UID GID PROGRAM [ARGS...]\n");
        return 126;
    }
    long long wall_ns = strtoll(argv[1], NULL, 10) * 1000000LL;
    uid_t uid = (uid_t)strtoul(argv[2], NULL, 10);
    gid_t gid = (gid_t)strtoul(argv[3], NULL, 10);
    if (uid == 0 || gid == 0 || gid == INIT_SAVED_GID)
        return sandbox_error(EPERM, "refusing-to-run-as-root");
    unsetenv("HOSTNAME"); /* Docker adds it; the program's environment is ours alone */

    /* Opened while root, before the program exists: nothing it does can deny them later. */
    struct stats stats = {
        open_stat("/sys/fs/cgroup/cpuacct/cpuacct.usage"),
        open_stat("/sys/fs/cgroup/cpu.stat"),
        open_stat("/sys/fs/cgroup/memory/memory.max_usage_in_bytes"),
        open_stat("/sys/fs/cgroup/memory.peak"),
        open_stat("/sys/fs/cgroup/memory/memory.oom_control"),
        open_stat("/sys/fs/cgroup/memory.events"),
        open_stat("/sys/fs/cgroup/memory/memory.kmem.tcp.max_usage_in_bytes"),
    };
    if (setgroups(0, NULL) != 0) return sandbox_error(errno, "dropping-groups");
    if (setresgid(gid, gid, INIT_SAVED_GID) != 0) return sandbox_error(errno, "setting-gid");
    if (setresuid(uid, uid, uid) != 0) return sandbox_error(errno, "setting-uid");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return sandbox_error(errno, "not-dumpable");

    /* The host's go (one byte ahead of the program's stdin): the container's cgroup is
     * ready (socket buffers charged, on cgroup v1), so the program may start. */
    char go;
    ssize_t got_go;
    do {
        got_go = read(STDIN_FILENO, &go, 1);
    } while (got_go < 0 && errno == EINTR);
    if (got_go != 1) return sandbox_error(got_go < 0 ? errno : EPIPE, "waiting-for-the-host");

    sigset_t wanted, old;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGINT);
    sigprocmask(SIG_BLOCK, &wanted, &old);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_signal;
    action.sa_flags = SA_SIGINFO | SA_NOCLDSTOP;
    sigemptyset(&action.sa_mask);
    sigaction(SIGCHLD, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    int failure[2], out[2], err[2];
    if (pipe2(failure, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0)
        return sandbox_error(errno, "making-pipes");

    /* The cgroup already holds the CPU time of the runtime's own set-up: not the program's. */
    long long cpu_before = cpu_ns(&stats);
    long long start = now_ns();
    pid_t child = fork();
    if (child < 0) return sandbox_error(errno, "forking");
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        struct child_failure failed = {0, 0};
        if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0 ||
            setresgid(gid, gid, gid) != 0) {
            failed.sandbox = 1;
            failed.err = errno;
        } else {
            execvp(argv[4], &argv[4]);
            failed.err = errno;
            fprintf(stderr, "execbox: cannot run %s: %s\n", argv[4], strerror(failed.err));
        }
        (void)!write(failure[1], &failed, sizeof failed);
        _exit(127);
    }
    close(failure[1]);
    close(out[1]);
    close(err[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);

    int status = 0, child_done = 0, timed_out = 0, stopped = 0;
    int out_fd = out[0], err_fd = err[0];
    while (!child_done) {
        long long left = start + wall_ns - now_ns();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
        struct timespec wait = {left / 1000000000LL, left % 1000000000LL};
        /* Signals are delivered only here, atomically with the wait: none is missed. */
        int ready = ppoll(fds, 2, &wait, &old);
        if (got_stop) {
            stopped = 1;
            break;
        }
        if (got_child) {
            got_child = 0;
            for (;;) {
                int st;
                pid_t done = waitpid(-1, &st, WNOHANG | __WALL);
                if (done <= 0) break;
                if (done == child) {
                    status = st;
                    child_done = 1;
                }
            }
        }
        if (ready > 0) {
            if (fds[0].revents) forward(&out_fd, FRAME_STDOUT);
            if (fds[1].revents) forward(&err_fd, FRAME_STDERR);
        }
    }
    long long wall = now_ns() - start;
    kill_all_and_reap(child, &status, &child_done);
    /* Every writer is dead: what is left in the pipes is the program's last words. */
    drain(&out_fd, FRAME_STDOUT);
    drain(&err_fd, FRAME_STDERR);

    struct child_failure failed = {0, 0};
    ssize_t got = read(failure[0], &failed, sizeof failed);
    if (got == (ssize_t)sizeof failed && failed.sandbox)
        return sandbox_error(failed.err, "dropping-privileges");

    long long cpu = cpu_ns(&stats);
    if (cpu >= cpu_before) cpu -= cpu_before;
    if (cpu < 0) {
        struct rusage ru;
        getrusage(RUSAGE_CHILDREN, &ru);
        cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
              (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
    }
    long long peak = read_number(stats.peak_v1, "");
    /* cgroup v1 charges socket buffers to a counter of their own: they are memory too. */
    long long tcp_peak = read_number(stats.tcp_peak_v1, "");
    if (peak >= 0 && tcp_peak > 0) peak += tcp_peak;
    if (peak < 0) peak = read_number(stats.peak_v2, "");
    if (peak < 0) {
        struct rusage ru;
        getrusage(RUSAGE_CHILDREN, &ru);
        peak = ru.ru_maxrss * 1024LL;
    }
    long long oom = read_number(stats.oom_v1, "oom_kill ");
    if (oom < 0) oom = read_number(stats.oom_v2, "oom_kill ");
    if (oom < 0) oom = 0;

    const char *kind = "exit";
    int number = 0;
    if (got == (ssize_t)sizeof failed) {
        kind = "exec-error";
        number = failed.err;
    } else if (WIFSIGNALED(status)) {
        kind = "signal";
        number = WTERMSIG(status);
    } else {
        number = WEXITSTATUS(status);
    }
    char line[256];
    snprintf(line, sizeof line, "%s %d %lld %lld %lld %lld %d %d\n", kind, number, wall, cpu,
             peak, oom, timed_out, stopped);
    report(line);
    return 0;
}
