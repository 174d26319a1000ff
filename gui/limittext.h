// procpool — limits as a user writes them, read alike by headless mode and the monitor: CPU
// lists ("0,2-3", PoolOptions::resourceLimits.cpuAffinity) and worker environment entries
// ("NAME=VALUE" with {slot}, PoolOptions::workerEnvironment). Header only: the executable and
// the monitor module it loads each compile it.
#pragma once

#include <procpool/options.h>

#include <QtCore/QList>
#include <QtCore/QRegularExpression>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <algorithm>
#include <functional>
#include <optional>
#include <utility>

#include <sched.h>

namespace procpool::limittext {

//! Highest CPU number a list may name (the engine's cpu_set_t holds CPU_SETSIZE CPUs).
constexpr int maxCpu = CPU_SETSIZE - 1;

//! The CPUs of a list of numbers and ranges such as "0,2-3", sorted, each once; nullopt and
//! why (\a error, completed by the caller with what was written) when it is not such a list.
inline std::optional<QList<int>> parseCpuList(const QString &text, QString *error)
{
    static const QRegularExpression item(QStringLiteral("^\\s*(\\d{1,9})\\s*(?:-\\s*(\\d{1,9})\\s*)?$"));
    QList<int> cpus;
    const QStringList parts = text.split(u',');
    for (const QString &part : parts) {
        const QRegularExpressionMatch m = item.match(part);
        if (!m.hasMatch()) {
            *error = QStringLiteral("a list of CPU numbers and ranges such as 0,2-3");
            return std::nullopt;
        }
        const int first = m.captured(1).toInt();
        const int last = m.captured(2).isEmpty() ? first : m.captured(2).toInt();
        if (last < first) {
            *error = QStringLiteral("a range from a lower CPU to a higher one (%1-%2, not %2-%1)")
                         .arg(last)
                         .arg(first);
            return std::nullopt;
        }
        if (last > maxCpu) {
            *error = QStringLiteral("CPU numbers from 0 to %1").arg(maxCpu);
            return std::nullopt;
        }
        for (int cpu = first; cpu <= last; ++cpu)
            cpus.append(cpu);
    }
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
}

//! \a cpus as a list with ranges: {0, 2, 3} is "0,2-3".
inline QString cpuListText(QList<int> cpus)
{
    std::sort(cpus.begin(), cpus.end());
    QStringList parts;
    for (qsizetype i = 0; i < cpus.size();) {
        qsizetype j = i;
        while (j + 1 < cpus.size() && cpus.at(j + 1) <= cpus.at(j) + 1)
            ++j;
        parts.append(cpus.at(j) > cpus.at(i) ? QStringLiteral("%1-%2").arg(cpus.at(i)).arg(cpus.at(j))
                                             : QString::number(cpus.at(i)));
        i = j + 1;
    }
    return parts.join(u',');
}

//! In the value of a worker environment entry, this text stands for the worker's slot.
inline QString slotPlaceholder()
{
    return QStringLiteral("{slot}");
}

//! One variable of PoolOptions::workerEnvironment, as written: its value may hold {slot}.
struct EnvironmentEntry
{
    QString name;
    QString value;
    QString text() const { return name + u'=' + value; }
    bool operator==(const EnvironmentEntry &) const = default;
};

//! "NAME=VALUE": a portable variable name (letters, digits and _, not first a digit) and any
//! value; nullopt and what it must look like in \a error otherwise.
inline std::optional<EnvironmentEntry> parseEnvironmentEntry(const QString &text, QString *error)
{
    static const QRegularExpression name(QStringLiteral("^[A-Za-z_][A-Za-z0-9_]*$"));
    const qsizetype equals = text.indexOf(u'=');
    if (equals < 0 || !name.match(text.left(equals)).hasMatch() || text.contains(QChar(u'\0'))) {
        *error = QStringLiteral("NAME=VALUE, NAME of letters, digits and _ (not first a digit), "
                                "e.g. CUDA_VISIBLE_DEVICES=%1")
                     .arg(slotPlaceholder());
        return std::nullopt;
    }
    return EnvironmentEntry{text.left(equals), text.mid(equals + 1)};
}

//! The first name given twice in \a entries, or an empty string.
inline QString repeatedName(const QList<EnvironmentEntry> &entries)
{
    QStringList seen;
    for (const EnvironmentEntry &e : entries) {
        if (seen.contains(e.name))
            return e.name;
        seen.append(e.name);
    }
    return {};
}

//! PoolOptions::workerEnvironment for \a entries: each value with {slot} replaced by the
//! worker's slot. Empty (no function) when there are none.
inline std::function<QList<std::pair<QString, QString>>(int slot)>
workerEnvironment(const QList<EnvironmentEntry> &entries)
{
    if (entries.isEmpty())
        return {};
    return [entries](int slot) {
        QList<std::pair<QString, QString>> variables;
        for (const EnvironmentEntry &e : entries) {
            QString value = e.value;
            variables.append({e.name, value.replace(slotPlaceholder(), QString::number(slot))});
        }
        return variables;
    };
}

} // namespace procpool::limittext
