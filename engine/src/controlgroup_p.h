// procpool — the control group of a pool (PoolOptions::cgroup): made at start(), holds every
// worker, removed when the pool is gone. cgroup v2 where its controllers are there; else the
// memory and cpu hierarchies of cgroup v1.
#pragma once

#include <procpool/options.h>

#include <QtCore/QString>
#include <QtCore/QStringList>

#include <memory>

namespace procpool::detail {

class ControlGroup
{
public:
    //! Makes the pool's group with \a limits; throws std::runtime_error saying why it cannot
    //! and what to do. \a label names the pool in messages.
    static std::unique_ptr<ControlGroup> create(const PoolOptions::ControlGroup &limits,
                                                const QString &label);
    //! Removes the group's directories; workers are gone by then (a group that still holds a
    //! process stays, and the next pool of any process sweeps it once its owner is dead).
    ~ControlGroup();
    ControlGroup(const ControlGroup &) = delete;
    ControlGroup &operator=(const ControlGroup &) = delete;

    //! Moves process \a pid into the group; false with \a error when the kernel refuses.
    bool add(qint64 pid, QString *error) const;
    //! Whether the kernel's OOM killer ended a process of the group that no earlier call
    //! accounted for: each kill is claimed once.
    bool claimOomKill();

    //! The group's directories: one with cgroup v2; the memory and the cpu one with v1.
    QStringList directories() const { return m_directories; }
    //! The directory of its memory limit ("" when it has none).
    QString memoryDirectory() const { return m_memoryDirectory; }
    qint64 memoryMax() const { return m_memoryMax; }
    bool isVersion2() const { return m_version2; }

private:
    ControlGroup() = default;
    qint64 readOomKills() const;

    bool m_version2 = false;
    QStringList m_directories;
    QString m_memoryDirectory;
    qint64 m_memoryMax = 0;
    qint64 m_oomKillsSeen = 0;
};

} // namespace procpool::detail
