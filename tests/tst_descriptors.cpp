// Descriptors: a worker holds its standard descriptors and procpool's own, and nothing the
// application had open, whichever way it was started; the processes its tasks start inherit
// none of those either.
//
// Before any pool starts, this process opens a file and a pipe without close-on-exec, as an
// older library (or the shell that launched the application) would. Every worker, and every
// fork server, starts after that. The last case runs the same checks once more with
// close_range() refused by a seccomp filter, as on kernels before 5.9, so that the other way of
// the set-up code runs where it matters: in QProcess's child and in the fork server's.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include "descriptors_p.h"

#include <procpool/procpool.h>

#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <fcntl.h>
#include <iterator>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace procpool;
using namespace faultsupport;

namespace {

//! One descriptor of a process: its number, what /proc says it is, and (for our own process)
//! whether it is close-on-exec.
struct Descriptor
{
    int fd = -1;
    QString target;
    bool closeOnExec = false;
};

//! What the symbolic link \a path says, as it says it (QFile::symLinkTarget() would make
//! "pipe:[123]" a path); empty when it cannot be read.
QString linkTarget(const QString &path)
{
    char buffer[4096];
    const ssize_t n = ::readlink(QFile::encodeName(path).constData(), buffer, sizeof buffer);
    return n > 0 ? QFile::decodeName(QByteArray(buffer, qsizetype(n))) : QString();
}

//! "FD TARGET" per descriptor, with " cloexec" appended to those that are: what the task
//! reports of its worker.
QStringList describeOwnDescriptors()
{
    QStringList out;
    const QDir fds(QStringLiteral("/proc/self/fd"));
    for (const QString &entry : fds.entryList(QDir::NoDotAndDotDot | QDir::System | QDir::Files)) {
        const QString target = linkTarget(fds.filePath(entry));
        if (target.isEmpty())
            continue; // the listing's own descriptor, closed by now
        const int flags = ::fcntl(entry.toInt(), F_GETFD);
        out.append(QStringLiteral("%1 %2%3").arg(entry, target,
                                                 (flags >= 0 && (flags & FD_CLOEXEC))
                                                     ? QStringLiteral(" cloexec")
                                                     : QString()));
    }
    return out;
}

QList<Descriptor> parseDescriptors(const QStringList &lines)
{
    QList<Descriptor> out;
    for (QString line : lines) {
        Descriptor d;
        d.closeOnExec = line.endsWith(QLatin1String(" cloexec"));
        if (d.closeOnExec)
            line.chop(8);
        const qsizetype space = line.indexOf(u' ');
        d.fd = line.left(space).toInt();
        d.target = line.mid(space + 1);
        out.append(d);
    }
    std::sort(out.begin(), out.end(),
              [](const Descriptor &a, const Descriptor &b) { return a.fd < b.fd; });
    return out;
}

const Task<QStringList()> workerDescriptors{"descriptors.worker", [] {
    return describeOwnDescriptors();
}};

// The descriptors of a shell the task starts, as `ls -l` in that shell lists them ("N -> TARGET"
// per line; the shell runs ls as a child, so its own descriptors are what is listed).
const Task<QStringList()> childDescriptors{"descriptors.child", [] {
    QProcess shell;
    shell.setProcessChannelMode(QProcess::SeparateChannels);
    shell.start(QStringLiteral("/bin/sh"),
                {QStringLiteral("-c"), QStringLiteral("ls -l /proc/$$/fd; exit 0")});
    if (!shell.waitForFinished(hangGuardMs) || shell.exitCode() != 0)
        throw std::runtime_error("the shell failed: " + shell.readAllStandardError().toStdString());
    QStringList out;
    for (const QByteArray &line : shell.readAllStandardOutput().split('\n')) {
        const qsizetype arrow = line.indexOf(" -> ");
        if (arrow < 0)
            continue;
        const QByteArray fd = line.left(arrow).split(' ').constLast();
        out.append(QString::fromLocal8Bit(fd + ' ' + line.mid(arrow + 4)));
    }
    return out;
}};

QList<int> numbersOf(const QList<Descriptor> &descriptors)
{
    QList<int> numbers;
    for (const Descriptor &d : descriptors)
        numbers.append(d.fd);
    return numbers;
}

QString describe(const QList<Descriptor> &descriptors)
{
    QStringList parts;
    for (const Descriptor &d : descriptors)
        parts.append(QStringLiteral("%1 -> %2%3")
                         .arg(d.fd)
                         .arg(d.target,
                              d.closeOnExec ? QStringLiteral(" (cloexec)") : QString()));
    return parts.join(QStringLiteral("; "));
}

// ---- in a forked child of the test, with raw system calls only ---------------------------

struct FileId
{
    dev_t dev;
    ino_t ino;
};

bool sameFile(int fd, FileId id)
{
    struct stat st;
    return ::fstat(fd, &st) == 0 && st.st_dev == id.dev && st.st_ino == id.ino;
}

FileId idOf(int fd)
{
    struct stat st{};
    ::fstat(fd, &st);
    return FileId{st.st_dev, st.st_ino};
}

bool isOpen(int fd)
{
    return ::fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

bool inherits(int fd)
{
    const int flags = ::fcntl(fd, F_GETFD);
    return flags >= 0 && !(flags & FD_CLOEXEC);
}

// Exit codes of the children below: 0 when every check held, otherwise the failed check's
// number.

//! keepOnly(): five pipes' ends given in scrambled low places (each wanted in another one's
//! place, one of them close-on-exec) and more descriptors that are to go.
int keepOnlyChild(bool closeRange)
{
    FileId ids[5];
    int moved[5];
    for (int i = 0; i < 5; ++i) {
        int p[2];
        if (::pipe(p) != 0)
            return 1;
        moved[i] = ::fcntl(p[0], F_DUPFD, 50); // out of the way of the places below
        ids[i] = idOf(p[0]);
        if (moved[i] < 0)
            return 2;
    }
    const int extra = ::fcntl(moved[0], F_DUPFD, 40); // far up, without close-on-exec
    // keep[i] is to become i: the one on 3 must go to 0, the one on 0 to 1, and so on.
    int keep[] = {3, 0, 1, 4, 2};
    for (int i = 0; i < 5; ++i)
        if (::dup2(moved[i], keep[i]) < 0)
            return 3;
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    const int low = ::dup(extra); // another one that is to go, somewhere low
    if (extra < 0 || low < 0)
        return 4;
    const bool ok = closeRange ? detail::keepOnly(keep, 5)
                               : detail::keepOnlyWithoutCloseRange(keep, 5);
    if (!ok)
        return 5;
    for (int i = 0; i < 5; ++i) {
        if (keep[i] != i)
            return 6;
        if (!sameFile(i, ids[i]))
            return 7;
        if (!inherits(i))
            return 8;
    }
    for (int fd = 5; fd < 1024; ++fd)
        if (isOpen(fd))
            return 9;
    return 0;
}

//! inheritOnly(): everything from 3 on becomes close-on-exec but the descriptors kept, which
//! lose the flag; 0, 1 and 2 stay as they were.
int inheritOnlyChild(bool closeRange)
{
    int p[2];
    if (::pipe(p) != 0)
        return 1;
    const int high = ::fcntl(p[0], F_DUPFD, 60);
    const int kept = ::fcntl(p[1], F_DUPFD_CLOEXEC, 70);
    if (high < 0 || kept < 0)
        return 2;
    const bool stdinInherited = inherits(STDIN_FILENO);
    const int keep[] = {kept, -1};
    const bool ok = closeRange ? detail::inheritOnly(keep, 2)
                               : detail::inheritOnlyWithoutCloseRange(keep, 2);
    if (!ok)
        return 3;
    if (inherits(p[0]) || inherits(p[1]) || inherits(high))
        return 4;
    if (!inherits(kept))
        return 5;
    if (inherits(STDIN_FILENO) != stdinInherited)
        return 6;
    if (!isOpen(p[0]) || !isOpen(high))
        return 7; // marked, not closed: the exec closes them
    return 0;
}

//! Makes close_range() fail with ENOSYS in every thread of this process and in what it starts
//! (a seccomp filter: inherited, and never lifted). False where the filter is not written for
//! the architecture.
bool withoutCloseRange()
{
#if defined(__x86_64__)
    constexpr quint32 arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    constexpr quint32 arch = AUDIT_ARCH_AARCH64;
#else
    constexpr quint32 arch = 0;
#endif
    if (arch == 0)
        return false;
    static const bool installed = [] {
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        const sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
        return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
               && ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
                            &program) == 0;
    }();
    return installed;
}

int runInChild(int (*check)(bool), bool closeRange)
{
    const pid_t pid = ::fork();
    if (pid == 0)
        ::_exit(check(closeRange));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

} // namespace

class TestDescriptors : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_file = -1;
    int m_pipe[2] = {-1, -1};
    QString m_fileTarget;
    QString m_pipeTarget;

    //! What a worker or a child holds of this process's own descriptors, described; empty
    //! when nothing.
    QString applicationDescriptorsIn(const QList<Descriptor> &descriptors) const
    {
        QList<Descriptor> found;
        for (const Descriptor &d : descriptors)
            if (d.target == m_fileTarget || d.target == m_pipeTarget)
                found.append(d);
        return describe(found);
    }

    static void addStartMethods()
    {
        QTest::addColumn<StartMethod>("method");
        QTest::newRow("fork server") << StartMethod::ForkServer;
        QTest::newRow("exec") << StartMethod::Exec;
    }

    //! \a round names the fork server: each round gets one of its own, started then.
    ProcessPoolManager *startPool(StartMethod method, const QString &round)
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.startContext.method = method;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("PROCPOOL_TEST_DESCRIPTORS"), round);
        options.startContext.environment = env;
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("descriptors"));
        m->start(options);
        return m;
    }

    //! A worker holds none of this process's descriptors, and only its own ones beyond 0-2.
    void checkWorker(StartMethod method, const QString &round)
    {
        ProcessPoolManager *m = startPool(method, round);
        const qint64 worker = m->submitTask(tasks::pid).result();
        // The start method really was the one asked for: a forked worker is its server's child.
        QCOMPARE(parentPid(worker) == qint64(::getpid()), method == StartMethod::Exec);

        const QList<Descriptor> held = parseDescriptors(m->submitTask(workerDescriptors).result());
        const QString all = describe(held);
        const QString leaked = applicationDescriptorsIn(held);
        QVERIFY2(leaked.isEmpty(), qPrintable(QStringLiteral("the worker holds %1").arg(leaked)));
        // 0, 1 and 2 as procpool set them up, and beyond them only descriptors the worker
        // opened itself (its protocol pipes and rings, Qt's event dispatcher), all
        // close-on-exec: an inherited one would not be.
        QVERIFY2(numbersOf(held).mid(0, 3) == (QList<int>{0, 1, 2}), qPrintable(all));
        QCOMPARE(held.at(0).target, QStringLiteral("/dev/null"));
        int pipes = 0, rings = 0;
        for (const Descriptor &d : held) {
            if (d.fd <= 2)
                continue;
            QVERIFY2(d.closeOnExec, qPrintable(QStringLiteral("descriptor %1 is inherited: %2")
                                                   .arg(d.fd)
                                                   .arg(all)));
            const bool known = d.target.startsWith(QLatin1String("pipe:["))
                               || d.target.startsWith(QLatin1String("/memfd:procpool-ring"))
                               || d.target.startsWith(QLatin1String("anon_inode:"));
            QVERIFY2(known, qPrintable(QStringLiteral("descriptor %1: %2").arg(d.fd).arg(all)));
            pipes += d.target.startsWith(QLatin1String("pipe:[")) ? 1 : 0;
            rings += d.target.startsWith(QLatin1String("/memfd:procpool-ring")) ? 1 : 0;
        }
        QVERIFY2(pipes == 2, qPrintable(all)); // the protocol's input and output
        QVERIFY2(rings == 2, qPrintable(all)); // shared memory, one ring each way
        QVERIFY(removeProcessManager(QStringLiteral("descriptors")));
    }

    //! What a task starts holds 0-2 only.
    void checkChildOfTask(StartMethod method, const QString &round)
    {
        ProcessPoolManager *m = startPool(method, round);
        const QList<Descriptor> held = parseDescriptors(m->submitTask(childDescriptors).result());
        const QString all = describe(held);
        const QString leaked = applicationDescriptorsIn(held);
        QVERIFY2(leaked.isEmpty(),
                 qPrintable(QStringLiteral("the task's child holds %1").arg(leaked)));
        // Neither the application's nor procpool's: the three QProcess gave it, no more.
        QVERIFY2(numbersOf(held) == (QList<int>{0, 1, 2}), qPrintable(all));
        QVERIFY(removeProcessManager(QStringLiteral("descriptors")));
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        const QByteArray path = QFile::encodeName(m_dir.filePath(QStringLiteral("held-open")));
        QVERIFY(touchFile(QString::fromLocal8Bit(path)));
        // Without O_CLOEXEC on purpose: what the workers must not get.
        m_file = ::open(path.constData(), O_RDONLY);
        QVERIFY(m_file >= 0);
        QVERIFY(::pipe(m_pipe) == 0);
        m_fileTarget = linkTarget(QStringLiteral("/proc/self/fd/%1").arg(m_file));
        m_pipeTarget = linkTarget(QStringLiteral("/proc/self/fd/%1").arg(m_pipe[0]));
        QVERIFY(m_fileTarget.endsWith(QLatin1String("held-open")));
        QVERIFY(m_pipeTarget.startsWith(QLatin1String("pipe:[")));
    }

    void cleanupTestCase()
    {
        for (const int fd : {m_file, m_pipe[0], m_pipe[1]})
            if (fd >= 0)
                ::close(fd);
    }

    void cleanup()
    {
        removeProcessManager(QStringLiteral("descriptors"));
    }

    void workerHoldsOnlyItsOwnDescriptors_data() { addStartMethods(); }

    void workerHoldsOnlyItsOwnDescriptors()
    {
        QFETCH(StartMethod, method);
        checkWorker(method, QStringLiteral("plain"));
    }

    void childOfATaskInheritsNothing_data() { addStartMethods(); }

    void childOfATaskInheritsNothing()
    {
        QFETCH(StartMethod, method);
        checkChildOfTask(method, QStringLiteral("plain"));
    }

    // The set-up code with and without close_range(), which kernels before 5.9 lack (and
    // CLOSE_RANGE_CLOEXEC before 5.11), each in a forked child of this process.
    void setUpKeepsExactlyTheGivenDescriptors_data()
    {
        QTest::addColumn<bool>("closeRange");
        QTest::newRow("close_range") << true;
        QTest::newRow("listing /proc/self/fd") << false;
    }

    void setUpKeepsExactlyTheGivenDescriptors()
    {
        QFETCH(bool, closeRange);
        QCOMPARE(runInChild(keepOnlyChild, closeRange), 0);
        QCOMPARE(runInChild(inheritOnlyChild, closeRange), 0);
    }

    // Last, as it cannot be undone: from here on close_range() fails with ENOSYS in this
    // process and in every process it starts, as on a kernel before 5.9, so new workers and a
    // new fork server are set up by listing /proc/self/fd, between fork and exec included.
    void realWorkersWithoutCloseRange_data() { addStartMethods(); }

    void realWorkersWithoutCloseRange()
    {
        QFETCH(StartMethod, method);
        if (!withoutCloseRange())
            QSKIP("no seccomp filter for this architecture");
        errno = 0;
        QCOMPARE(::syscall(SYS_close_range, 1000u, 1000u, 0u), -1L);
        QCOMPARE(errno, ENOSYS);
        checkWorker(method, QStringLiteral("without close_range"));
        if (QTest::currentTestFailed())
            return;
        checkChildOfTask(method, QStringLiteral("without close_range, again"));
    }
};

PROCPOOL_TEST_MAIN(TestDescriptors)
#include "tst_descriptors.moc"
