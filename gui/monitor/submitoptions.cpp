#include "submitoptions.h"

#include <QtCore/QCborMap>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QSpinBox>

namespace procpool::monitor {

SubmitOptionFields::SubmitOptionFields(QWidget *parent)
    : priority(new QSpinBox(parent))
    , retries(new QSpinBox(parent))
{
    priority->setObjectName(QStringLiteral("priority"));
    priority->setRange(-1000000, 1000000);
    priority->setToolTip(QStringLiteral("Queued tasks of a higher priority go to workers first; "
                                        "within one priority, in submission order"));
    retries->setObjectName(QStringLiteral("retries"));
    retries->setRange(1, maxSubmitAttempts);
    retries->setSpecialValueText(QStringLiteral("1 (no retry)"));
    retries->setToolTip(QStringLiteral("Attempts in all: a task that fails (its worker crashed, "
                                       "it timed out or threw) runs again, after a growing "
                                       "delay, until one succeeds or these are used up"));
}

void SubmitOptionFields::addRows(QFormLayout *form) const
{
    form->addRow(QStringLiteral("&Priority:"), priority);
    form->addRow(QStringLiteral("&Attempts:"), retries);
}

SubmitOptions submitOptions(const QString &taskType, int priority, int attempts)
{
    SubmitOptions options;
    options.taskType = taskType;
    options.priority = priority;
    if (attempts > 1)
        options.retry = RetryPolicy::attempts(attempts);
    return options;
}

void addSubmitFields(QCborMap &request, int priority, int attempts)
{
    if (priority != 0)
        request.insert(QStringLiteral("priority"), priority);
    if (attempts > 1)
        request.insert(QStringLiteral("retries"), attempts);
}

} // namespace procpool::monitor
