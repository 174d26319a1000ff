// procpool — tasks: C++ callables that can run in another process.
//
// Python pickles a function by its qualified name and the child imports it again. procpool
// does the same with a name you choose: declare the task once, at namespace scope, in code
// linked into both the submitting program and its workers:
//
//     const procpool::Task<int(int, int)> add{"add", [](int a, int b) { return a + b; }};
//
// Construction registers the name and a type-erased invoker in a process-wide task table.
// A worker receives the name and the encoded arguments, looks the name up and runs it.
#pragma once

#include <procpool/codec.h>
#include <procpool/detail/task_impl.h>
#include <procpool/procpool_export.h>

#include <QtCore/QCborArray>
#include <QtCore/QMetaType>
#include <QtCore/QStringList>

#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace procpool {


template <typename Signature>
class Task;

//! A named task with the C++ signature R(Args...). Non-copyable; declare it at namespace scope.
//! Duplicate names throw DuplicateTaskError at construction (which, at namespace scope, stops
//! the program at start-up with that message).
template <typename R, typename... Args>
class Task<R(Args...)> : public detail::TaskBase
{
public:
    using Result = R;
    using Arguments = std::tuple<std::decay_t<Args>...>;

    template <typename F>
        requires std::is_invocable_r_v<R, F &, Args...>
    Task(const char *name, F function)
        : TaskBase(makeEntry(QString::fromUtf8(name), QString(), std::move(function)))
    {
    }

    //! A task with a one-line \a description, which tools attached to the process show next to
    //! its name and types (taskDescription(), docs/inspection.md).
    template <typename F>
        requires std::is_invocable_r_v<R, F &, Args...>
    Task(const char *name, const char *description, F function)
        : TaskBase(makeEntry(QString::fromUtf8(name), QString::fromUtf8(description), std::move(function)))
    {
    }

private:
    template <typename F>
    static std::shared_ptr<detail::TaskEntry> makeEntry(const QString &name, const QString &description,
                                                        F function)
    {
        using ResultType = std::conditional_t<std::is_void_v<R>, void, std::decay_t<R>>;
        auto entry = std::make_shared<detail::TaskEntry>();
        entry->name = name;
        entry->description = description;
        entry->argumentTypes = {detail::metaTypeOf<std::decay_t<Args>>()...};
        entry->resultType = detail::metaTypeOf<ResultType>();
        entry->resultToVariant = &detail::resultToVariant<ResultType>;
        entry->checkArguments = [](const QString &taskName, const QCborArray &array) {
            detail::decodeArguments<Args...>(taskName, array, std::index_sequence_for<Args...>{});
        };
        entry->invoke = [name, function = std::move(function)](const QCborArray &array) mutable {
            auto arguments = detail::decodeArguments<Args...>(name, array,
                                                              std::index_sequence_for<Args...>{});
            if constexpr (std::is_void_v<R>) {
                std::apply(function, std::move(arguments));
                return QCborValue();
            } else {
                const ResultType result = std::apply(function, std::move(arguments));
                const detail::ResultAttachmentScope attachments;
                return Codec<ResultType>::encode(result);
            }
        };
        return entry;
    }
};

//! The names of every task registered in this process, sorted.
PROCPOOL_ENGINE_EXPORT QStringList registeredTaskNames();
//! True when a task of this name is registered in this process.
PROCPOOL_ENGINE_EXPORT bool isTaskRegistered(const QString &name);
//! The declared argument types of a registered task (empty list for an unknown name).
PROCPOOL_ENGINE_EXPORT QList<QMetaType> taskArgumentTypes(const QString &name);
//! The result type of a registered task: invalid for a task that returns nothing, or for an
//! unknown name.
PROCPOOL_ENGINE_EXPORT QMetaType taskResultType(const QString &name);

//! The description registered task \a name was given; empty when it has none or there is no
//! such task.
PROCPOOL_ENGINE_EXPORT QString taskDescription(const QString &name);

} // namespace procpool
