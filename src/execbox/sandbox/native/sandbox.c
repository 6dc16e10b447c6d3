/*
 * execbox-sandbox: builds one native sandbox, in place of bubblewrap.
 *
 * It takes exactly the part of bubblewrap's command line that execbox uses (bwrap.py
 * writes it) and does what bubblewrap does with it, in one small static program:
 * bubblewrap is dynamically linked, reads the whole mount table once per bind mount,
 * and its libraries read it again at load, which on the reference VM is a fifth of its
 * CPU.  It runs as the run's unprivileged host uid (execbox-launch dropped to it), so
 * the kernel gives it no power outside the user namespace it makes.
 *
 * Usage: execbox-sandbox [OPTIONS] -- COMMAND [ARGS...], OPTIONS being bubblewrap's:
 *   --unshare-user --unshare-pid --unshare-ipc --unshare-net --unshare-uts
 *   --unshare-cgroup-try --die-with-parent --new-session --as-pid-1 (required)
 *   --uid N --gid N --hostname NAME
 *   --dev-bind SRC DEST | --bind SRC DEST | --ro-bind SRC DEST
 *   [--perms MODE] [--size BYTES] --tmpfs DEST | --remount-ro DEST | --proc DEST
 *   --chdir DIR --clearenv --setenv NAME VALUE
 *   --seccomp FD --json-status-fd FD --block-fd FD
 * Anything else is refused.
 *
 * Theory of operation.  The process forks a child into fresh namespaces (user, PID,
 * mount, network, IPC, UTS and, where the kernel has it, cgroup) and stays outside as
 * its monitor: it writes the child's pid as bubblewrap's first JSON status document,
 * closes every descriptor and exits with the child's status.  The child, PID 1 of its
 * namespace and holding every capability of its own user namespace only:
 *
 * 1. maps the sandbox uid/gid to its host uid/gid (one id each, setgroups denied),
 *    sets the host name and brings the loopback interface up;
 * 2. makes every mount private and binds the prepared root (the first operation's
 *    source, --dev-bind ROOT /) onto itself: the new root, built in place;
 * 3. does the mount operations in order, sources at their host paths (resolved before
 *    anything is mounted), destinations under the new root, which must exist already
 *    (the prepared root has every mount point).  Binds are recursive but --ro-bind's,
 *    so nothing writable can hide below a read-only bind; every bind is then remounted
 *    nosuid (and nodev but --dev-bind's, read-only for --ro-bind), keeping the flags the
 *    kernel locks.  --proc covers /proc's sys, sysrq-trigger, irq and bus read-only
 *    where they are writable, as bubblewrap does;
 * 4. pivots into the new root and detaches the old one, so nothing of the host's mount
 *    table is left, then changes to --chdir (and sets PWD, as bubblewrap does).  (One
 *    pivot and one detach: bubblewrap stages the new root in a tmpfs of its own and
 *    detaches twice, and every detach waits for an expedited RCU grace period, which
 *    interrupts every CPU of the host.)
 * 5. drops every capability (bounding set too), starts a new session, waits for one
 *    byte on --block-fd (the host's go), sets no_new_privs, loads the seccomp filter
 *    last, and execs COMMAND (the init) with the environment given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The kernel's structures, declared here: musl's headers have no <linux/...>. */
#define CAPABILITY_VERSION_3 0x20080522
struct cap_header { unsigned version; int pid; };
struct cap_data { unsigned effective, permitted, inheritable; };
#define SECCOMP_MODE_FILTER 2
struct bpf_insn { unsigned short code; unsigned char jt, jf; unsigned k; };
struct bpf_prog { unsigned short len; struct bpf_insn *filter; };

#define MAX_OPS 256
#define MAX_ENV 256

enum kind { DEV_BIND, BIND, RO_BIND, TMPFS, REMOUNT_RO, PROC };

struct op {
    enum kind kind;
    char *source; /* resolved on the host, before the pivot */
    const char *dest;
    unsigned mode;
    unsigned long long size;
};

static struct op ops[MAX_OPS];
static int n_ops;
static char *env[MAX_ENV + 1];
static int n_env;
static int clear_env;
static int unshare_user, unshare_pid, unshare_ipc, unshare_net, unshare_uts, unshare_cgroup;
static int die_with_parent, new_session, as_pid_1;
static unsigned uid = 0, gid = 0;
static int have_ids;
static const char *hostname, *chdir_to;
static int seccomp_fd = -1, json_fd = -1, block_fd = -1;

static void die(const char *what, const char *arg) {
    fprintf(stderr, "execbox-sandbox: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
            strerror(errno));
    _exit(1);
}

static void usage(const char *why, const char *arg) {
    fprintf(stderr, "execbox-sandbox: %s%s%s\n", why, arg ? ": " : "", arg ? arg : "");
    _exit(1);
}

static int number(const char *text, unsigned long long *out) {
    char *end;
    errno = 0;
    *out = strtoull(text, &end, 0);
    return errno == 0 && *text && !*end;
}

static int fd_arg(const char *text) {
    unsigned long long value;
    if (!number(text, &value) || value > 65535) usage("not a descriptor", text);
    return (int)value;
}

static struct op *add(enum kind kind, const char *dest) {
    if (n_ops == MAX_OPS) usage("too many mount operations", NULL);
    if (dest[0] != '/') usage("a destination must be an absolute path", dest);
    struct op *op = &ops[n_ops++];
    op->kind = kind;
    op->dest = dest;
    op->mode = 0755;
    return op;
}

static char **parse(int argc, char **argv) {
    unsigned long long perms = 0755, size = 0, value;
    int have_perms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int left = argc - i - 1;
#define NEED(n) \
    if (left < (n)) usage("missing argument to", a)
        if (strcmp(a, "--") == 0) {
            if (i + 1 >= argc) usage("no command", NULL);
            return &argv[i + 1];
        } else if (strcmp(a, "--unshare-user") == 0) unshare_user = 1;
        else if (strcmp(a, "--unshare-pid") == 0) unshare_pid = 1;
        else if (strcmp(a, "--unshare-ipc") == 0) unshare_ipc = 1;
        else if (strcmp(a, "--unshare-net") == 0) unshare_net = 1;
        else if (strcmp(a, "--unshare-uts") == 0) unshare_uts = 1;
        else if (strcmp(a, "--unshare-cgroup-try") == 0) unshare_cgroup = 1;
        else if (strcmp(a, "--die-with-parent") == 0) die_with_parent = 1;
        else if (strcmp(a, "--new-session") == 0) new_session = 1;
        else if (strcmp(a, "--as-pid-1") == 0) as_pid_1 = 1;
        else if (strcmp(a, "--clearenv") == 0) clear_env = 1;
        else if (strcmp(a, "--uid") == 0 || strcmp(a, "--gid") == 0) {
            NEED(1);
            if (!number(argv[++i], &value) || value > 65535) usage("not an id", argv[i]);
            if (a[2] == 'u') uid = (unsigned)value;
            else gid = (unsigned)value;
            have_ids |= a[2] == 'u' ? 1 : 2;
        } else if (strcmp(a, "--hostname") == 0) {
            NEED(1);
            hostname = argv[++i];
        } else if (strcmp(a, "--chdir") == 0) {
            NEED(1);
            chdir_to = argv[++i];
        } else if (strcmp(a, "--setenv") == 0) {
            NEED(2);
            if (n_env == MAX_ENV) usage("too many variables", NULL);
            if (!argv[i + 1][0] || strchr(argv[i + 1], '=')) usage("bad variable", argv[i + 1]);
            size_t len = strlen(argv[i + 1]) + strlen(argv[i + 2]) + 2;
            char *pair = malloc(len);
            if (!pair) die("out of memory", NULL);
            snprintf(pair, len, "%s=%s", argv[i + 1], argv[i + 2]);
            env[n_env++] = pair;
            i += 2;
        } else if (strcmp(a, "--seccomp") == 0) {
            NEED(1);
            seccomp_fd = fd_arg(argv[++i]);
        } else if (strcmp(a, "--json-status-fd") == 0) {
            NEED(1);
            json_fd = fd_arg(argv[++i]);
        } else if (strcmp(a, "--block-fd") == 0) {
            NEED(1);
            block_fd = fd_arg(argv[++i]);
        } else if (strcmp(a, "--perms") == 0) {
            NEED(1);
            char *end;
            errno = 0;
            perms = strtoull(argv[++i], &end, 8);
            if (errno || !*argv[i] || *end || perms > 07777) usage("bad mode", argv[i]);
            have_perms = 1;
        } else if (strcmp(a, "--size") == 0) {
            NEED(1);
            if (!number(argv[++i], &size) || size == 0) usage("bad size", argv[i]);
        } else if (strcmp(a, "--dev-bind") == 0 || strcmp(a, "--bind") == 0 ||
                   strcmp(a, "--ro-bind") == 0) {
            NEED(2);
            enum kind kind = a[2] == 'd' ? DEV_BIND : a[2] == 'b' ? BIND : RO_BIND;
            char *source = realpath(argv[i + 1], NULL);
            if (!source) die("cannot resolve", argv[i + 1]);
            add(kind, argv[i + 2])->source = source;
            i += 2;
        } else if (strcmp(a, "--tmpfs") == 0) {
            NEED(1);
            struct op *op = add(TMPFS, argv[++i]);
            op->mode = (unsigned)perms;
            op->size = size;
            perms = 0755, size = 0, have_perms = 0;
            continue;
        } else if (strcmp(a, "--remount-ro") == 0) {
            NEED(1);
            add(REMOUNT_RO, argv[++i]);
        } else if (strcmp(a, "--proc") == 0) {
            NEED(1);
            add(PROC, argv[++i]);
        } else usage("unsupported option", a);
#undef NEED
        /* --perms and --size apply to the --tmpfs that follows them, and to nothing else. */
        if ((have_perms || size) && strcmp(a, "--perms") != 0 && strcmp(a, "--size") != 0)
            usage("--perms and --size must precede --tmpfs", a);
    }
    usage("no command (missing --)", NULL);
    return NULL;
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die("cannot open", path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die("cannot write", path);
    close(fd);
}

static void map_ids(unsigned host_uid, unsigned host_gid) {
    char line[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(line, sizeof line, "%u %u 1\n", uid, host_uid);
    write_file("/proc/self/uid_map", line);
    snprintf(line, sizeof line, "%u %u 1\n", gid, host_gid);
    write_file("/proc/self/gid_map", line);
}

static void loopback_up(void) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) die("cannot open a socket for", "lo");
    struct ifreq req;
    memset(&req, 0, sizeof req);
    strcpy(req.ifr_name, "lo");
    if (ioctl(sock, SIOCGIFFLAGS, &req) != 0) die("cannot read the flags of", "lo");
    req.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &req) != 0) die("cannot bring up", "lo");
    close(sock);
}

/* The flags a remount must keep: those the kernel locks on a mount copied into a user
 * namespace (changing them is EPERM), and read-only when asked. */
static unsigned long kept_flags(const char *path) {
    struct statvfs st;
    if (statvfs(path, &st) != 0) die("cannot stat", path);
    unsigned long flags = 0;
    if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
    if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

static void remount(const char *path, unsigned long add) {
    if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | kept_flags(path) | add, NULL) != 0)
        die("cannot remount", path);
}

static char *under(const char *base, const char *path) {
    size_t len = strlen(base) + strlen(path) + 1;
    char *joined = malloc(len);
    if (!joined) die("out of memory", NULL);
    snprintf(joined, len, "%s%s", base, strcmp(path, "/") == 0 ? "" : path);
    return joined;
}

static void cover_proc(const char *proc) {
    static const char *const dirs[] = {"sys", "sysrq-trigger", "irq", "bus"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", proc, dirs[i]);
        if (access(path, W_OK) != 0) {
            if (errno == EACCES || errno == ENOENT || errno == EROFS) continue;
            die("cannot access", path);
        }
        if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) die("cannot bind", path);
        remount(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
}

static const char *new_root; /* the prepared root: the first operation's source */

static void do_op(const struct op *op) {
    char *dest = under(new_root, op->dest);
    const char *source = op->source;
    char data[64];
    switch (op->kind) {
    case DEV_BIND:
    case BIND:
    case RO_BIND:
        if (mount(source, dest, NULL, MS_BIND | (op->kind == RO_BIND ? 0 : MS_REC), NULL) != 0)
            die("cannot bind", op->dest);
        remount(dest, MS_NOSUID | (op->kind == DEV_BIND ? 0 : MS_NODEV) |
                          (op->kind == RO_BIND ? MS_RDONLY : 0));
        break;
    case TMPFS:
        if (op->size)
            snprintf(data, sizeof data, "mode=0%o,size=%llu", op->mode, op->size);
        else
            snprintf(data, sizeof data, "mode=0%o", op->mode);
        if (mount("tmpfs", dest, "tmpfs", MS_NOSUID | MS_NODEV, data) != 0)
            die("cannot mount a tmpfs on", op->dest);
        break;
    case REMOUNT_RO:
        remount(dest, MS_RDONLY | MS_NOSUID | MS_NODEV);
        break;
    case PROC:
        if (mount("proc", dest, "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) != 0)
            die("cannot mount proc on", op->dest);
        cover_proc(dest);
        break;
    }
    free(dest);
}

static void build_root(void) {
    new_root = ops[0].source;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("cannot make private", "/");
    for (int i = 0; i < n_ops; i++) do_op(&ops[i]);
    if (chdir(new_root) != 0) die("cannot enter", "the new root");
    if (syscall(SYS_pivot_root, ".", ".") != 0) die("cannot pivot to", "the new root");
    if (umount2(".", MNT_DETACH) != 0) die("cannot detach", "the host's root");
    if (chdir(chdir_to ? chdir_to : "/") != 0) die("cannot enter", chdir_to ? chdir_to : "/");
}

static void drop_capabilities(void) {
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) die("cannot drop a capability", NULL);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct cap_header header = {CAPABILITY_VERSION_3, 0};
    struct cap_data data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) die("cannot drop the capabilities", NULL);
}

static void load_seccomp(void) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("cannot set", "no_new_privs");
    if (seccomp_fd < 0) return;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) die("out of memory", NULL);
    for (;;) {
        if (len == cap && !(buf = realloc(buf, cap *= 2))) die("out of memory", NULL);
        ssize_t n = read(seccomp_fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("cannot read the seccomp filter", NULL);
        if (n == 0) break;
        len += (size_t)n;
    }
    close(seccomp_fd);
    if (len == 0 || len % sizeof(struct bpf_insn) != 0 ||
        len / sizeof(struct bpf_insn) > 0xffff) {
        errno = EINVAL;
        die("bad seccomp filter", NULL);
    }
    struct bpf_prog prog = {(unsigned short)(len / sizeof(struct bpf_insn)),
                            (struct bpf_insn *)buf};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
        die("cannot load the seccomp filter", NULL);
}

static void child(char **command, unsigned host_uid, unsigned host_gid) {
    if (die_with_parent) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (json_fd >= 0) close(json_fd);
    map_ids(host_uid, host_gid);
    if (hostname && sethostname(hostname, strlen(hostname)) != 0) die("cannot set", "the host name");
    if (unshare_net) loopback_up();
    build_root();
    drop_capabilities();
    if (new_session && setsid() < 0) die("cannot start", "a new session");
    if (block_fd >= 0) {
        char byte;
        ssize_t n;
        do n = read(block_fd, &byte, 1);
        while (n < 0 && errno == EINTR);
        close(block_fd);
    }
    load_seccomp();
    if (clear_env) clearenv();
    if (chdir_to && setenv("PWD", chdir_to, 1) != 0) die("cannot set", "PWD");
    for (int i = 0; i < n_env; i++) putenv(env[i]);
    execv(command[0], command);
    die("cannot run", command[0]);
}

int main(int argc, char **argv) {
    char **command = parse(argc, argv);
    if (!(unshare_user && unshare_pid && unshare_ipc && unshare_net && unshare_uts && as_pid_1))
        usage("every namespace (--unshare-user, -pid, -ipc, -net, -uts) and --as-pid-1 "
              "are required", NULL);
    if (have_ids != 3) usage("--uid and --gid are required", NULL);
    if (n_ops == 0 || ops[0].kind != DEV_BIND || strcmp(ops[0].dest, "/") != 0)
        usage("the first operation must bind the root (--dev-bind ROOT /)", NULL);
    unsigned host_uid = getuid(), host_gid = getgid();
    if (host_uid == 0) usage("refusing to run as root (execbox-launch drops to the run's uid)", NULL);
    if (die_with_parent) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    unsigned long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
                          CLONE_NEWNET | CLONE_NEWUTS | SIGCHLD;
    long pid = -1;
    if (unshare_cgroup) pid = syscall(SYS_clone, flags | CLONE_NEWCGROUP, 0, 0, 0, 0);
    if (pid < 0) pid = syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (pid < 0) die("cannot make the namespaces", NULL);
    if (pid == 0) child(command, host_uid, host_gid);
    if (json_fd >= 0) {
        dprintf(json_fd, "{ \"child-pid\": %ld }\n", pid);
        close(json_fd);
    }
    /* Hold none of the sandbox's descriptors: its pipes end when it does. */
    if (syscall(SYS_close_range, 0, ~0U, 0) != 0)
        for (int fd = 0; fd < 65536; fd++) close(fd);
    int status;
    while (waitpid((pid_t)pid, &status, 0) < 0)
        if (errno != EINTR) return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
