// procpool headless mode — naming a task and its arguments on the command line or in a job.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QCborArray>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonValue>
#include <QtCore/QList>
#include <QtCore/QMetaType>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QVariant>

#include <optional>

namespace procpool::headless {

//! One declared parameter of a registered task.
struct Parameter
{
    QString name;                    //!< from the sample task's description, else "argN"
    QMetaType type;                  //!< from taskArgumentTypes()
    std::optional<QString> fallback; //!< the sample task's default, in command-line form
};

//! What headless mode knows of a registered task: its parameters and a one-line description.
struct TaskSignature
{
    QString name;
    QList<Parameter> parameters;
    QString description;

    //! "sleep(ms:int=200)"
    QString synopsis() const;
};

//! The signature of registered task \a name; nullopt when no task has that name.
std::optional<TaskSignature> findTask(const QString &name);
//! Every sample task, in menu order, then any other registered task.
QList<TaskSignature> allTasks();
//! The tasks of a catalogue another procpool program published (its inspection socket's
//! `catalogue`, or what it prints for PROCPOOL_CATALOGUE): name, description, argument types.
//! A task whose argument type this build cannot write gets no signature, and \a skipped says so.
QList<TaskSignature> catalogueTasks(const QCborArray &catalogue, QStringList *skipped = nullptr);
//! Task \a name of \a catalogue; nullopt and why (with the names it has) when there is none.
std::optional<TaskSignature> catalogueTask(const QCborArray &catalogue, const QString &name,
                                           QString *error);
//! The parameter's default converted to its type; nullopt when it has none.
std::optional<QVariant> defaultValue(const Parameter &parameter);
//! "int", "string", "bytes", ... for a parameter type, as --list-tasks shows it.
QString typeLabel(QMetaType type);

//! Arguments of a submission, converted to the task's declared types, or why they do not fit.
struct Arguments
{
    QVariantList values;
    QString error; //!< empty on success
};

//! `--submit TASK:ARG,...`: \a texts converted to the parameters' types; missing trailing
//! arguments take the sample task's defaults.
Arguments argumentsFromText(const TaskSignature &task, const QStringList &texts);
//! A job's "args" array, converted the same way (JSON types must match: a number for an
//! integer parameter, a string for a string one, ...). \a texts are the values as written,
//! from which integers are read exactly.
Arguments argumentsFromJson(const TaskSignature &task, const QJsonArray &values,
                            const QList<QByteArray> &texts);

//! "sleep(200)", for human-readable output.
QString callText(const QString &task, const QVariantList &arguments);

} // namespace procpool::headless
