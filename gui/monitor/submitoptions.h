// procpool monitor — the priority and retries the submit dialogs offer, and how they reach a
// pool of this process (SubmitOptions) or of an attached one (an inspection `submit`).
#pragma once

#include <procpool/options.h>

class QCborMap;
class QFormLayout;
class QSpinBox;
class QWidget;

namespace procpool::monitor {

//! Most attempts a submission from the monitor may ask for.
constexpr int maxSubmitAttempts = 100;

//! The spin boxes of a submission's priority and attempts (object names "priority" and
//! "retries"), with what each means in its tooltip.
struct SubmitOptionFields
{
    explicit SubmitOptionFields(QWidget *parent);
    //! Adds a row for each to \a form.
    void addRows(QFormLayout *form) const;

    QSpinBox *priority;
    QSpinBox *retries; //!< attempts in all; 1: no retry
};

//! The options of a submission with \a taskType, \a priority and \a attempts in all.
SubmitOptions submitOptions(const QString &taskType, int priority, int attempts);
//! Adds \a priority and \a attempts to an inspection `submit` request, each when it is not the
//! default.
void addSubmitFields(QCborMap &request, int priority, int attempts);

} // namespace procpool::monitor
