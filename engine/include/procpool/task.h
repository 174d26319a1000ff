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

namespace detail {

//! What the task table knows of one task.
struct PROCPOOL_ENGINE_EXPORT TaskEntry
{
    QString name;
    QList<QMetaType> argumentTypes;
    QMetaType resultType; //!< invalid for void
    //! Runs the task on encoded arguments and returns the encoded result (throws on failure).
    std::function<QCborValue(const QCborArray &)> invoke;
    //! Decodes an encoded result to a QVariant holding the declared result type.
    QVariant (*resultToVariant)(const QCborValue &) = nullptr;
    //! Validates a CBOR argument array against the declared types (throws CodecError).
    void (*checkArguments)(const QString &name, const QCborArray &) = nullptr;
};

//! Base of every Task<>: registers on construction, unregisters on destruction.
class PROCPOOL_ENGINE_EXPORT TaskBase
{
public:
    TaskBase(const TaskBase &) = delete;
    TaskBase &operator=(const TaskBase &) = delete;
    QString name() const { return m_entry->name; }

protected:
    explicit TaskBase(std::shared_ptr<TaskEntry> entry); // throws DuplicateTaskError
    ~TaskBase();

private:
    std::shared_ptr<TaskEntry> m_entry;
};

[[noreturn]] PROCPOOL_ENGINE_EXPORT void throwArity(const QString &name, qsizetype expected,
                                                   qsizetype got);
PROCPOOL_ENGINE_EXPORT QString argumentContext(const QString &name, qsizetype index,
                                               const QString &error);

template <typename... Args, std::size_t... I>
std::tuple<std::decay_t<Args>...> decodeArguments(const QString &name, const QCborArray &array,
                                                  std::index_sequence<I...>)
{
    if (array.size() != qsizetype(sizeof...(Args)))
        throwArity(name, qsizetype(sizeof...(Args)), array.size());
    [[maybe_unused]] auto one = [&](auto tag, qsizetype index) {
        using T = typename decltype(tag)::type;
        try {
            return Codec<T>::decode(array.at(index));
        } catch (const CodecError &e) {
            throw CodecError(argumentContext(name, index, e.message()));
        }
    };
    // Braced initialisation evaluates left to right.
    return std::tuple<std::decay_t<Args>...>{
        one(std::type_identity<std::decay_t<Args>>{}, qsizetype(I))...};
}

template <typename T>
QVariant resultToVariant(const QCborValue &value)
{
    if constexpr (std::is_void_v<T>)
        return QVariant();
    else if constexpr (std::is_same_v<T, QVariant>)
        return Codec<QVariant>::decode(value);
    else
        return QVariant::fromValue(Codec<T>::decode(value));
}

template <typename T>
QMetaType metaTypeOf()
{
    if constexpr (std::is_void_v<T>)
        return QMetaType();
    else
        return QMetaType::fromType<T>();
}

} // namespace detail

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
        : TaskBase(makeEntry(QString::fromUtf8(name), std::move(function)))
    {
    }

private:
    template <typename F>
    static std::shared_ptr<detail::TaskEntry> makeEntry(const QString &name, F function)
    {
        using ResultType = std::conditional_t<std::is_void_v<R>, void, std::decay_t<R>>;
        auto entry = std::make_shared<detail::TaskEntry>();
        entry->name = name;
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

} // namespace procpool
