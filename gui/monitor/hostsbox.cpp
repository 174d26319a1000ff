#include "hostsbox.h"

#include <procpool/hosts.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPlainTextEdit>
#include <QtWidgets/QVBoxLayout>

#include <stdexcept>

namespace procpool::monitor {

namespace {

//! The lines of \a text that name a host, with their numbers (from 1): a '#' starts a comment.
QList<std::pair<int, QString>> entryLines(const QString &text)
{
    QList<std::pair<int, QString>> entries;
    const QStringList lines = text.split(u'\n');
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const QString entry = lines.at(i).section(u'#', 0, 0).trimmed();
        if (!entry.isEmpty())
            entries.append({int(i + 1), entry});
    }
    return entries;
}

//! The message of an exception of procpool/hosts.h, for a sentence of the dialog.
QString hostsMessage(const std::exception &e)
{
    return QString::fromUtf8(e.what()).remove(QStringLiteral("procpool: "));
}

} // namespace

HostsBox::HostsBox(QWidget *parent)
    : QGroupBox(QStringLiteral("&Hosts (one HOST[:SLOTS] a line; empty: this machine)"), parent)
    , m_text(new QPlainTextEdit(this))
    , m_launcher(new QLineEdit(this))
    , m_summary(new QLabel(this))
{
    m_text->setObjectName(QStringLiteral("hosts"));
    m_text->setPlaceholderText(QStringLiteral("node1:8\n4/node2\n:2    # two on this machine"));
    m_text->setToolTip(QStringLiteral(
        "Where the workers run, one host a line as in a hostfile: HOST, HOST:SLOTS or SLOTS/HOST "
        "(SLOTS workers there at once; 1 when left out), [IPV6-ADDRESS]:SLOTS, :SLOTS for this "
        "machine; '#' starts a "
        "comment. The pool has as many workers as the hosts have slots. Empty: every worker "
        "runs on this machine"));
    m_text->setTabChangesFocus(true);
    m_text->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_text->setFixedHeight(fontMetrics().lineSpacing() * 3 + 2 * m_text->frameWidth() + 8);
    m_launcher->setObjectName(QStringLiteral("launcher"));
    m_launcher->setPlaceholderText(QStringLiteral("ssh"));
    m_launcher->setToolTip(QStringLiteral(
        "How the pool reaches the hosts: ssh (the default; 'ssh -p 2222' adds options), slurm "
        "(a job step on that node), local, or a command that runs the worker's command line "
        "through a shell on the host ({host} in it becomes the host; 'sh -c' runs it here)"));
    m_summary->setWordWrap(true);

    auto *launcherForm = new QFormLayout;
    launcherForm->addRow(QStringLiteral("La&uncher:"), m_launcher);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_text);
    layout->addLayout(launcherForm);
    layout->addWidget(m_summary);

    connect(m_text, &QPlainTextEdit::textChanged, this, &HostsBox::summarize);
    connect(m_launcher, &QLineEdit::textChanged, this, &HostsBox::summarize);
    summarize();
}

std::optional<QList<WorkerHost>> HostsBox::hosts(QString *error) const
{
    Launcher launcher = Launcher::ssh();
    QList<WorkerHost> hosts;
    try {
        if (!m_launcher->text().trimmed().isEmpty())
            launcher = Launcher::parse(m_launcher->text());
    } catch (const std::invalid_argument &e) {
        if (error)
            *error = QStringLiteral("The launcher: %1.").arg(hostsMessage(e));
        return std::nullopt;
    }
    for (const auto &[line, entry] : entryLines(m_text->toPlainText())) {
        try {
            hosts.append(parseHost(entry, launcher));
        } catch (const std::invalid_argument &e) {
            if (error)
                *error = QStringLiteral("Hosts, line %1: %2.").arg(line).arg(hostsMessage(e));
            return std::nullopt;
        }
    }
    return hosts;
}

void HostsBox::setHosts(const QList<WorkerHost> &hosts)
{
    QStringList lines;
    QString launcher;
    for (const WorkerHost &h : hosts) {
        lines.append(h.isLocal() ? QStringLiteral(":%1").arg(h.workers)
                                 : QStringLiteral("%1:%2").arg(h.host).arg(h.workers));
        if (launcher.isEmpty() && !h.isLocal())
            launcher = h.launcher.describe();
    }
    m_loadedText = lines.join(u'\n');
    m_loadedLauncher = launcher;
    m_text->setPlainText(m_loadedText);
    m_launcher->setText(m_loadedLauncher);
}

bool HostsBox::hasChanged() const
{
    return m_text->toPlainText() != m_loadedText || m_launcher->text() != m_loadedLauncher;
}

bool HostsBox::isEmpty() const
{
    return entryLines(m_text->toPlainText()).isEmpty();
}

void HostsBox::summarize()
{
    const std::optional<QList<WorkerHost>> list = hosts();
    int slotTotal = 0;
    for (const WorkerHost &h : list.value_or(QList<WorkerHost>()))
        slotTotal += h.workers;
    if (isEmpty())
        m_summary->setText(QStringLiteral("The workers run on this machine, as many as Max workers says."));
    else if (list)
        m_summary->setText(QStringLiteral("%1 worker(s) at most: the slots of %2 host(s).")
                               .arg(slotTotal)
                               .arg(list->size()));
    else
        m_summary->clear(); // the dialog says what is wrong
    Q_EMIT changed();
}

QCborArray inspectionHosts(const QList<WorkerHost> &hosts)
{
    QCborArray out;
    for (const WorkerHost &h : hosts) {
        QCborMap entry{{QStringLiteral("workers"), h.workers}};
        switch (h.launcher.kind) {
        case Launcher::Kind::Local: entry.insert(QStringLiteral("launcher"), QStringLiteral("local")); break;
        case Launcher::Kind::Ssh: entry.insert(QStringLiteral("launcher"), QStringLiteral("ssh")); break;
        case Launcher::Kind::Slurm: entry.insert(QStringLiteral("launcher"), QStringLiteral("slurm")); break;
        case Launcher::Kind::Command: // refused by the socket, which says why
            entry.insert(QStringLiteral("launcher"), h.launcher.describe());
            break;
        }
        if (!h.isLocal()) {
            entry.insert(QStringLiteral("host"), h.host);
            if (h.launcher.kind != Launcher::Kind::Command && !h.launcher.arguments.isEmpty())
                entry.insert(QStringLiteral("options"), QCborArray::fromStringList(h.launcher.arguments));
        }
        out.append(entry);
    }
    return out;
}

} // namespace procpool::monitor
