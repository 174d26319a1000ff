// procpool — the task table's machinery: what Task<> registers and how it decodes arguments.
// Included by <procpool/task.h>; not an API of its own.
#pragma once

#include <procpool/codec.h>
#include <procpool/procpool_export.h>

#include <QtCore/QCborArray>
#include <QtCore/QMetaType>

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
    QString description; //!< optional, for tools attached to the process
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

} // namespace procpool
