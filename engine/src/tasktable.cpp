#include "tasktable_p.h"

#include <QtCore/QCryptographicHash>
#include <QtCore/QHash>
#include <QtCore/QReadWriteLock>

#include <cstdio>

namespace procpool {
namespace detail {
namespace {

struct TaskTable
{
    QReadWriteLock lock;
    QHash<QString, std::shared_ptr<TaskEntry>> entries;
};

// Function-local static: Task objects at namespace scope register during static
// initialisation, in an order no one controls.
TaskTable &table()
{
    static TaskTable t;
    return t;
}

} // namespace

TaskBase::TaskBase(std::shared_ptr<TaskEntry> entry)
    : m_entry(std::move(entry))
{
    TaskTable &t = table();
    QWriteLocker locker(&t.lock);
    if (t.entries.contains(m_entry->name)) {
        const DuplicateTaskError error(m_entry->name);
        std::fprintf(stderr, "%s\n", error.what()); // loud even when this aborts start-up
        throw error;
    }
    t.entries.insert(m_entry->name, m_entry);
}

TaskBase::~TaskBase()
{
    TaskTable &t = table();
    QWriteLocker locker(&t.lock);
    const auto it = t.entries.constFind(m_entry->name);
    if (it != t.entries.cend() && it->get() == m_entry.get())
        t.entries.erase(it);
}

std::shared_ptr<const TaskEntry> findTask(const QString &name)
{
    TaskTable &t = table();
    QReadLocker locker(&t.lock);
    return t.entries.value(name);
}

QString catalogueFingerprint()
{
    QCryptographicHash hash(QCryptographicHash::Sha256);
    for (const QString &name : registeredTaskNames()) {
        const auto entry = findTask(name);
        if (!entry)
            continue;
        QByteArray line = name.toUtf8() + '(';
        for (const QMetaType &type : entry->argumentTypes)
            line += QByteArray(type.name()) + ',';
        line += ")->" + QByteArray(entry->resultType.isValid() ? entry->resultType.name() : "void") + '\n';
        hash.addData(line);
    }
    return QString::fromLatin1(hash.result().toHex().left(16));
}

void throwArity(const QString &name, qsizetype expected, qsizetype got)
{
    throw CodecError(QStringLiteral("task '%1' takes %2 argument(s), got %3")
                         .arg(name)
                         .arg(expected)
                         .arg(got));
}

QString argumentContext(const QString &name, qsizetype index, const QString &error)
{
    return QStringLiteral("argument %1 of task '%2': %3").arg(index + 1).arg(name, error);
}

} // namespace detail

QStringList registeredTaskNames()
{
    detail::TaskTable &t = detail::table();
    QReadLocker locker(&t.lock);
    QStringList names = t.entries.keys();
    names.sort();
    return names;
}

bool isTaskRegistered(const QString &name)
{
    return detail::findTask(name) != nullptr;
}

QList<QMetaType> taskArgumentTypes(const QString &name)
{
    const auto entry = detail::findTask(name);
    return entry ? entry->argumentTypes : QList<QMetaType>();
}

QMetaType taskResultType(const QString &name)
{
    const auto entry = detail::findTask(name);
    return entry ? entry->resultType : QMetaType();
}

QString taskDescription(const QString &name)
{
    const auto entry = detail::findTask(name);
    return entry ? entry->description : QString();
}

} // namespace procpool
