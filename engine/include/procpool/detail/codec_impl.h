// procpool — the codec's machinery: helpers of Codec<T> and the scopes in which large byte
// arrays travel as attachments. Included by <procpool/codec.h>; not an API of its own.
#pragma once

#include <procpool/errors.h>
#include <procpool/procpool_export.h>

#include <QtCore/QCborValue>
#include <QtCore/QDataStream>
#include <QtCore/QList>
#include <QtCore/QVariant>

#include <concepts>

namespace procpool {
namespace detail {
PROCPOOL_ENGINE_EXPORT QString cborTypeName(const QCborValue &value);
[[noreturn]] PROCPOOL_ENGINE_EXPORT void throwCodecMismatch(const char *expected,
                                                           const QCborValue &got);
//! Throws CodecError if operator>> stopped before the end of what operator<< wrote into \a in's
//! device: the two do not match.
PROCPOOL_ENGINE_EXPORT void requireReadToEnd(const QDataStream &in);
[[noreturn]] PROCPOOL_ENGINE_EXPORT void throwOutOfRange(const QCborValue &got, int bits,
                                                        bool isSigned);
PROCPOOL_ENGINE_EXPORT QCborValue encodeUnsigned(quint64 value);
PROCPOOL_ENGINE_EXPORT quint64 decodeUnsigned(const QCborValue &value, int bits);
PROCPOOL_ENGINE_EXPORT QCborValue encodeVariant(const QVariant &value);
PROCPOOL_ENGINE_EXPORT QVariant decodeVariant(const QCborValue &value);

//! Byte arrays from this size on cross the boundary beside the CBOR body, as attachments
//! (through shared memory where both sides have it), instead of being copied into it.
inline constexpr qsizetype attachmentThreshold = 64 * 1024;
//! Codec<QByteArray>: a byte string, or an attachment when it is large and one is collected.
PROCPOOL_ENGINE_EXPORT QCborValue encodeBytes(const QByteArray &bytes);
PROCPOOL_ENGINE_EXPORT QByteArray decodeBytes(const QCborValue &value);

//! While it lives, large byte arrays this thread encodes are collected into \a collect (when
//! not null) and attachment tags it decodes are resolved from \a source (when not null).
//! Scopes nest; the engine opens them around encoding a call and delivering a result.
class PROCPOOL_ENGINE_EXPORT AttachmentScope
{
public:
    AttachmentScope(QList<QByteArray> *collect, const QList<QByteArray> *source);
    ~AttachmentScope();
    AttachmentScope(const AttachmentScope &) = delete;
    AttachmentScope &operator=(const AttachmentScope &) = delete;

private:
    QList<QByteArray> *m_collect;
    const QList<QByteArray> *m_source;
};

//! Opened by a task around encoding its result: collects into the list the worker set up for
//! this call (and nothing while the task's own code runs).
class PROCPOOL_ENGINE_EXPORT ResultAttachmentScope
{
public:
    ResultAttachmentScope();
    ~ResultAttachmentScope();
    ResultAttachmentScope(const ResultAttachmentScope &) = delete;
    ResultAttachmentScope &operator=(const ResultAttachmentScope &) = delete;

private:
    QList<QByteArray> *m_collect;
};

template <typename T>
concept StreamableType = requires(QDataStream &s, T &t, const T &ct) {
    { s << ct } -> std::same_as<QDataStream &>;
    { s >> t } -> std::same_as<QDataStream &>;
} && std::default_initializable<T>;
} // namespace detail

} // namespace procpool
