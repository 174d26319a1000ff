// procpool — the control group of a pool: found, made, filled and removed through the cgroup
// file system, as root or in a delegated cgroup.
#include "controlgroup_p.h"

#include <QtCore/QDir>
#include <QtCore/QFile>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace procpool::detail {

namespace {

constexpr qint64 cpuPeriodUs = 100000;

QString errorText(int error) { return QString::fromLocal8Bit(std::strerror(error)); }

QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

//! Writes \a text to the cgroup file \a path in one write(2), as the kernel wants it.
bool writeFile(const QString &path, const QByteArray &text, int *error)
{
    const int fd = ::open(QFile::encodeName(path).constData(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        *error = errno;
        return false;
    }
    const bool ok = ::write(fd, text.constData(), size_t(text.size())) == text.size();
    *error = ok ? 0 : errno;
    ::close(fd);
    return ok;
}

//! A mounted cgroup hierarchy and where this process is in it.
struct Hierarchy
{
    QString mountPoint; //!< empty: not mounted
    QString root;       //!< the cgroup mounted there ("/" outside of cgroup namespaces)
    QString ownPath;    //!< this process's cgroup, as /proc/self/cgroup says it

    bool exists() const { return !mountPoint.isEmpty(); }

    //! The directory of cgroup \a path, or \a path itself when it already is one; empty when
    //! that is not a directory of this hierarchy (a path that climbs out of it with "..").
    QString directoryOf(const QString &path) const
    {
        QString relative = QDir::cleanPath(path);
        if (relative == mountPoint || relative.startsWith(mountPoint + u'/'))
            relative = relative.mid(mountPoint.size());
        else if (root != QLatin1String("/") && (relative == root || relative.startsWith(root + u'/')))
            relative = relative.mid(root.size());
        const QString directory = QDir::cleanPath(mountPoint + u'/' + relative);
        return directory == mountPoint || directory.startsWith(mountPoint + u'/') ? directory
                                                                                  : QString();
    }
};

//! The v2 hierarchy (\a controller empty) or the v1 hierarchy of \a controller.
Hierarchy findHierarchy(const QString &controller)
{
    Hierarchy h;
    const QList<QByteArray> mounts = readAll(QStringLiteral("/proc/self/mountinfo")).split('\n');
    for (const QByteArray &line : mounts) {
        const QList<QByteArray> fields = line.split(' ');
        const qsizetype dash = fields.indexOf("-");
        if (dash < 5 || dash + 1 >= fields.size())
            continue;
        const QByteArray &type = fields[dash + 1];
        const bool match = controller.isEmpty()
                               ? type == "cgroup2"
                               : type == "cgroup" && dash + 3 < fields.size()
                                     && fields[dash + 3].split(',').contains(controller.toLatin1());
        if (match) {
            h.root = QString::fromLocal8Bit(fields[3]);
            h.mountPoint = QString::fromLocal8Bit(fields[4]);
            break;
        }
    }
    const QList<QByteArray> lines = readAll(QStringLiteral("/proc/self/cgroup")).split('\n');
    for (const QByteArray &line : lines) {
        const QList<QByteArray> parts = line.split(':');
        if (parts.size() < 3)
            continue;
        const bool match = controller.isEmpty()
                               ? parts[0] == "0" && parts[1].isEmpty()
                               : parts[1].split(',').contains(controller.toLatin1());
        if (match)
            h.ownPath = QString::fromLocal8Bit(parts.mid(2).join(':'));
    }
    return h;
}

QStringList wordsOf(const QString &path)
{
    return QString::fromLatin1(readAll(path).trimmed()).split(u' ', Qt::SkipEmptyParts);
}

//! Removes the groups that pools of processes no longer alive left in \a parent.
void sweepAbandoned(const QString &parent)
{
    const QStringList names = QDir(parent).entryList({QStringLiteral("procpool-*-*")},
                                                     QDir::Dirs | QDir::NoDotAndDotDot);
    for (const QString &name : names) {
        const qint64 owner = name.section(u'-', 1, 1).toLongLong();
        if (owner > 0 && owner != ::getpid() && ::kill(pid_t(owner), 0) != 0 && errno == ESRCH)
            ::rmdir(QFile::encodeName(parent + u'/' + name).constData()); // busy: it stays
    }
}

[[noreturn]] void fail(const QString &label, const QString &message)
{
    throw std::runtime_error(
        QStringLiteral("procpool: PoolOptions::cgroup of %1: %2").arg(label, message).toStdString());
}

QString groupName()
{
    static std::atomic<int> counter{0};
    return QStringLiteral("procpool-%1-%2").arg(::getpid()).arg(++counter);
}

//! Makes directory \a name in \a parent, saying what to do when the kernel refuses.
QString makeGroup(const QString &parent, const QString &name, const QString &label)
{
    if (parent.isEmpty() || !QFileInfo(parent).isDir())
        fail(label, QStringLiteral("the parent cgroup %1 does not exist; name an existing "
                                   "cgroup in PoolOptions::cgroup.parent")
                        .arg(parent.isEmpty() ? QStringLiteral("(a path outside the cgroup tree)")
                                              : parent));
    sweepAbandoned(parent);
    const QString directory = parent + u'/' + name;
    if (::mkdir(QFile::encodeName(directory).constData(), 0755) != 0) {
        const int error = errno;
        fail(label, QStringLiteral("cannot make the pool's cgroup %1: %2. This process may "
                                   "only make cgroups where it was given one: run it as root, "
                                   "or in a delegated scope (systemd-run --user --scope -p "
                                   "Delegate=yes APP), or name a delegated cgroup in "
                                   "PoolOptions::cgroup.parent")
                        .arg(directory, errorText(error)));
    }
    return directory;
}

QByteArray cpuQuota(double cpus)
{
    return QByteArray::number(std::max<qint64>(1000, std::llround(cpus * cpuPeriodUs)));
}

} // namespace

std::unique_ptr<ControlGroup> ControlGroup::create(const PoolOptions::ControlGroup &limits,
                                                   const QString &label)
{
    std::unique_ptr<ControlGroup> group(new ControlGroup);
    group->m_memoryMax = limits.memoryMax;
    QStringList wanted;
    if (limits.memoryMax > 0)
        wanted.append(QStringLiteral("memory"));
    if (limits.cpuMax > 0)
        wanted.append(QStringLiteral("cpu"));
    // Any failure below removes what was made so far (the destructor of group).
    auto setUp = [&](const QString &directory, const char *file, const QByteArray &value,
                     bool optional = false) {
        int error = 0;
        if (writeFile(directory + u'/' + QLatin1String(file), value, &error)
            || (optional && error == ENOENT))
            return;
        fail(label, QStringLiteral("cannot write %1 to %2/%3: %4")
                        .arg(QString::fromLatin1(value), directory, QLatin1String(file),
                             errorText(error)));
    };

    const Hierarchy v2 = findHierarchy(QString());
    if (v2.exists()) {
        const QString parent = v2.directoryOf(limits.parent.isEmpty() ? v2.ownPath : limits.parent);
        if (!QFileInfo(parent).isDir() && !findHierarchy(wanted.constFirst()).exists())
            makeGroup(parent, QString(), label); // no v1 to fall back on: says what is wrong
        const QStringList available = wordsOf(parent + QStringLiteral("/cgroup.controllers"));
        bool complete = true;
        for (const QString &controller : wanted)
            complete = complete && available.contains(controller);
        if (complete) {
            group->m_version2 = true;
            const QStringList enabled = wordsOf(parent + QStringLiteral("/cgroup.subtree_control"));
            QByteArray enable;
            for (const QString &controller : wanted) {
                if (!enabled.contains(controller))
                    enable += (enable.isEmpty() ? "+" : " +") + controller.toLatin1();
            }
            int error = 0;
            if (!enable.isEmpty()
                && !writeFile(parent + QStringLiteral("/cgroup.subtree_control"), enable, &error))
                fail(label, QStringLiteral("cannot give the %1 controllers to the children of "
                                           "%2: %3. A cgroup v2 group that holds processes (this "
                                           "application's own does) cannot; make a delegated "
                                           "cgroup beside it, move nothing into it, and name it "
                                           "in PoolOptions::cgroup.parent")
                                .arg(wanted.join(QLatin1String(" and ")), parent, errorText(error)));
            const QString directory = makeGroup(parent, groupName(), label);
            group->m_directories.append(directory);
            if (limits.memoryMax > 0) {
                group->m_memoryDirectory = directory;
                setUp(directory, "memory.max", QByteArray::number(limits.memoryMax));
                // Swap included: past the limit a worker is ended, not swapped out slowly.
                setUp(directory, "memory.swap.max", "0", true);
            }
            if (limits.cpuMax > 0)
                setUp(directory, "cpu.max", cpuQuota(limits.cpuMax) + ' ' + QByteArray::number(cpuPeriodUs));
            group->m_oomKillsSeen = group->readOomKills();
            return group;
        }
    }

    // cgroup v1: each controller has a hierarchy of its own.
    for (const QString &controller : wanted) {
        const Hierarchy v1 = findHierarchy(controller);
        if (!v1.exists()) {
            fail(label, QStringLiteral("this system has no cgroup hierarchy with the %1 "
                                       "controller%2; leave PoolOptions::cgroup unset (the "
                                       "per-worker hardMemoryLimit and resourceLimits need no "
                                       "cgroup)")
                            .arg(controller,
                                 v2.exists()
                                     ? QStringLiteral(" (cgroup v2 at %1 offers: %2)")
                                           .arg(v2.mountPoint,
                                                wordsOf(v2.directoryOf(v2.ownPath)
                                                        + QStringLiteral("/cgroup.controllers"))
                                                    .join(u' '))
                                     : QString()));
        }
        const QString parent = v1.directoryOf(limits.parent.isEmpty() ? v1.ownPath : limits.parent);
        const QString directory = makeGroup(parent, groupName(), label);
        group->m_directories.append(directory);
        if (controller == QLatin1String("memory")) {
            group->m_memoryDirectory = directory;
            const QByteArray bytes = QByteArray::number(limits.memoryMax);
            setUp(directory, "memory.limit_in_bytes", bytes);
            setUp(directory, "memory.memsw.limit_in_bytes", bytes, true); // swap included
        } else {
            setUp(directory, "cpu.cfs_period_us", QByteArray::number(cpuPeriodUs));
            setUp(directory, "cpu.cfs_quota_us", cpuQuota(limits.cpuMax));
        }
    }
    group->m_oomKillsSeen = group->readOomKills();
    return group;
}

ControlGroup::~ControlGroup()
{
    for (auto it = m_directories.crbegin(); it != m_directories.crend(); ++it)
        ::rmdir(QFile::encodeName(*it).constData());
}

bool ControlGroup::add(qint64 pid, QString *error) const
{
    for (const QString &directory : m_directories) {
        int code = 0;
        if (!writeFile(directory + QStringLiteral("/cgroup.procs"), QByteArray::number(pid), &code)) {
            *error = QStringLiteral("cannot move worker pid %1 into the pool's cgroup %2: %3")
                         .arg(pid)
                         .arg(directory, errorText(code));
            return false;
        }
    }
    return true;
}

qint64 ControlGroup::readOomKills() const
{
    if (m_memoryDirectory.isEmpty())
        return 0;
    const QString file = m_memoryDirectory
                         + (m_version2 ? QStringLiteral("/memory.events")
                                       : QStringLiteral("/memory.oom_control"));
    const QList<QByteArray> lines = readAll(file).split('\n');
    for (const QByteArray &line : lines) {
        if (line.startsWith("oom_kill "))
            return line.mid(9).trimmed().toLongLong();
    }
    return 0;
}

bool ControlGroup::claimOomKill()
{
    const qint64 kills = readOomKills();
    if (kills <= m_oomKillsSeen)
        return false;
    ++m_oomKillsSeen;
    return true;
}

} // namespace procpool::detail
