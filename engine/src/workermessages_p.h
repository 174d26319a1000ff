// procpool — what a pool reads in a worker's messages: the Hello, and a call's Progress and
// Error. (A Result's body is the task's encoded value, decoded by the task's result sink.)
//
// A worker is never trusted (docs/architecture.md, "Trust model"): each reader takes any bytes
// and either yields a value in range or says why not. fuzz/fuzz_messages.cpp holds them to it.
#pragma once

#include <procpool/errors.h>
#include <procpool/procpool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QString>

#include <memory>

namespace procpool::detail {

struct HelloMessage
{
    qint64 protocol = -1; //!< -1: not given
    bool sharedMemory = false; //!< it mapped the rings it was given
    bool cancel = false;       //!< it understands Cancel frames
    QString host;              //!< its host name, printable and at most 255 characters
    qint64 pid = 0;            //!< its pid there
    QString catalogue;         //!< catalogueFingerprint() there; empty from an older build
};
//! A Hello body: a map with at least "protocol". False, and why, for anything else.
PROCPOOL_ENGINE_EXPORT bool parseHello(const QByteArray &body, HelloMessage *hello,
                                       QString *error);

struct ProgressMessage
{
    int value = 0;
    int maximum = 0;
    QString text;
};
//! A Progress body: [value, maximum, text]; numbers out of int's range are clamped, missing or
//! ill-typed fields read as 0 or empty. False, and why, when the body is not CBOR.
PROCPOOL_ENGINE_EXPORT bool parseProgress(const QByteArray &body, ProgressMessage *progress,
                                          QString *error);

struct ErrorMessage
{
    QString kind; //!< "exception", "unknown-task", "codec", "protocol"
    QString type; //!< the exception's type in the worker
    QString message;

    //! What the task's record says: the message, after the type for an exception.
    QString recordText() const;
    //! The failure the future of task \a taskName gets.
    std::unique_ptr<TaskFailure> failure(const QString &taskName) const;
};
//! An Error body: a map of kind, type and message (missing ones read as empty). False, and
//! why, when the body is not CBOR.
PROCPOOL_ENGINE_EXPORT bool parseError(const QByteArray &body, ErrorMessage *message,
                                       QString *error);

} // namespace procpool::detail
